// Package endpointtest is the conformance suite every endpoint.Endpoint must
// pass: it drives the endpoint through its interface and checks the result in
// the storage behind it, like fstest.TestFS or restic's backend test suite.
// Run checks a directory on this machine; RunBacking checks any storage
// through a Backing (an S3 root's bucket), skipping, with the reason, the
// cases its Caps say it cannot represent.
//
// Caveats: the suite needs fresh, empty storage per call of the factory; on
// a directory it changes permissions, creates FIFOs and symlinks pointing
// outside that directory.
package endpointtest

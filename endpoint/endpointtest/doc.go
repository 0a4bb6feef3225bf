// Package endpointtest is the conformance suite every endpoint.Endpoint must
// pass: it drives the endpoint through its interface and checks the result on
// the disk behind it, like fstest.TestFS or restic's backend test suite.
//
// Caveats: the suite needs the directory behind the endpoint on this machine
// and a fresh, empty one per call of the factory; it changes permissions,
// creates FIFOs and symlinks pointing outside that directory.
package endpointtest

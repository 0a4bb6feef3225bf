// Package server is `ferry serve`: an SSH server (public-key auth only) that
// serves each authorized key's folder through localfs to ferry clients,
// one request per SSH channel of type control.ChannelType, and runs the UDP
// data sessions those clients ask for on one shared UDP port.
//
// Authentication follows sshd: with Users, the SSH user names the account
// and the key must be one of its keys (in single-root mode the user name
// is not checked). Of authorized_keys options, from= and expiry-time= are
// honoured and those that only take rights away accepted; a key with any
// other option is refused, since ferry cannot give it the limits it asks
// for.
//
// Caveats: a client may name a sub-folder of its root in Hello; it is
// checked to be a real directory (no symlink on the way) just before and
// just after the endpoint is opened, which narrows but cannot close the race
// with another session of the same user swapping a directory for a
// symlink. Give users who must not reach each other's files different roots
// that do not overlap. Rate caps (per user, and TotalRate) are shared: the
// SSH streams draw on common token buckets, and the UDP data sessions
// running under a cap split it evenly, split again as sessions start and
// end (so a session with little left holds its share until it ends).
package server

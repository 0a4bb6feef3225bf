// Package control is the wire format of ferry's control protocol: the
// messages a client and `ferry serve` exchange on SSH channels of type
// ChannelType, each one a length-prefixed frame with one codec
// (Append/Parse).
//
// Caveats: Parse validates framing only; paths inside messages are
// untrusted and must still be checked with tree.ValidPath by the receiver.
package control

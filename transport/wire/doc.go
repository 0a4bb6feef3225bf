// Package wire encodes and decodes the packets of ferry's UDP data protocol:
// a fixed plaintext header (version, type, flags, session id, packet number)
// followed by one typed body. Each body type has Append and a Parse function;
// encryption (package seal) wraps these bytes and never lives in here.
//
// Layout of every datagram once sealed:
//
//	header (HeaderLen bytes, authenticated as AAD) | body (encrypted) | GCM tag
//
// Packet types: DATA (file contents), FILE (announce a file), ACCEPT (the
// receiver's answer, possibly listing chunks it already holds), FEEDBACK
// (acknowledged packet-number ranges, receive rate, one-way delay), PROBE
// (end-of-file probe asking for a file's result), RESULT and ABORT (per-file
// outcome), DONE and FIN (session end), PING (liveness and address
// discovery).
//
// Caveats: Parse functions return slices (Data.Payload) that alias the input
// buffer; copy them before reusing the buffer. A DATA payload runs to the end
// of the body: ParseData must be given exactly the body. A FILE packet carries
// the whole path, so paths near tree.MaxPathLen produce datagrams larger than a
// typical MTU and rely on IP fragmentation (the data session lifts
// don't-fragment for them).
package wire

// Package data moves file contents over ferry's encrypted UDP data path: a
// Sender and a Receiver run one session over a net.PacketConn, many files
// in flight at once, paced by transport/cc and sealed by transport/seal.
//
// Protocol (packets in transport/wire). The sender announces files (FILE);
// the receiver opens a writer through its OpenFunc and answers (ACCEPT),
// listing the chunks a resumable partial already holds, hashed from disk;
// the sender checks those against its source and sends only the rest. DATA
// packets carry file id and offset; every packet of a direction has a new
// number, retransmissions included. About every 10 ms the receiver reports
// (FEEDBACK) the packet-number ranges it got, its receive rate, one-way
// delay samples and the rate it asks for; the sender's ackHandler
// (ackhandler.go: sent-packet history, RTT, loss by packet and time
// thresholds as QUIC does, the probe timeout) turns those ranges into
// acknowledged and lost packets, the sender queues lost bytes again, and
// feeds cc.Controller, whose rate drives a cc.Pacer. In the tail (every
// byte sent once) lost bytes are queued twice, and a probe timeout also
// sends the newest DATA in flight again, so that the last round trips of
// a lossy session are not spent finding single packets lost one round at
// a time. A file whose bytes are all acknowledged but has no result yet
// is probed (PROBE), at most two PTOs apart, since its RESULT is sent
// once. The
// receiver commits a file once it has every byte (a resumed one only after
// the probe), and reports the outcome (RESULT); a hash mismatch gets one
// retry from scratch under a new file id. When every file has a result the
// sender says DONE and the receiver answers FIN.
//
// Resume: writers implementing Resumable get a checkpoint (written byte
// ranges, plus the file's size and hash) saved every CheckpointInterval and
// when a session ends early. Chunk hashes are not stored in it: they are
// recomputed from the partial when the next session starts, so a write
// lost in a crash cannot be vouched for by a stale hash.
//
// Split files (parts.go): a big file can go over several sessions at once,
// each carrying one byte range (SendFile.Part, announced in FILE with
// FilePart; SplitFile cuts the ranges at resume-chunk boundaries). A
// session treats the bytes outside its range as already there: it sends,
// waits for and checkpoints only its range. On the receiving side Parts
// gives every part one writer per file: the parts' checkpoints merge into
// the file's one checkpoint, a part whose range is in commits nothing but
// that, and the last part commits the file, whose whole hash is checked
// before the rename. A part resumes only the chunks the merged checkpoint
// names inside its range; a split file is never seeded from an older
// version, and a hash mismatch is final for the session (the next attempt
// resends what does not verify).
//
// Datagram size (pmtu.go): DATA fills the path's MTU. Listen sets the
// don't-fragment bit (IP_PMTUDISC_DO), so the kernel refuses a datagram
// too big for the route (EMSGSIZE; EINVAL for a segmented send) instead of
// fragmenting it. A session starts at SafePacketSize (1,232 bytes: every
// IPv6 path takes it, nearly every IPv4 one) and sends one PING padded to
// the full size of a 1,500-byte MTU (1,472 bytes over IPv4, 1,452 over
// IPv6); once the receiver acknowledges that packet number, DATA moves up
// to it. The probe is declared lost like any packet (later numbers
// acknowledged) or after three PTOs, and is not counted as congestion. A
// path that silently drops big datagrams (no ICMP: a black hole) loses
// three probes in a row and the session stays at 1,232: smaller packets,
// never a stall, and nothing but probes is ever sent above the proven size.
// When the kernel refuses a datagram mid-session (a route with a smaller
// MTU, or an ICMP "fragmentation needed" that lowered the path's), the
// session asks the route's MTU (IP_MTU on a throwaway connected socket),
// lowers its size to it (to 1,232 when the kernel does not say), and sends
// the refused DATA again in the smaller size: it never left, so it is not
// loss. This is simpler than searching sizes by probe (RFC 8899): two
// sizes, and the kernel's word for anything in between. The receiver
// takes any size (64 KiB buffers) and keeps its own packets small, so
// nothing needs agreeing. Other packets the kernel refuses (a FILE naming
// a path of kilobytes) are sent again with fragmentation allowed for that
// one send (WriteToFragmenting, or a FragmentingWriter conn). Config.
// PacketSize fixes the size instead; where the kernel does not report the
// path (not Linux) it stays at DefaultPacketSize.
//
// System calls: on Linux a *net.UDPConn is written with sendmmsg, runs of
// equal-sized packets going as one segmented send (UDP GSO) where the kernel
// takes it, and read with recvmmsg, runs of datagrams from the peer coming
// in one buffer (UDP GRO, turned off again when the session ends) that the
// reader splits by the segment size the kernel reports, unless
// Config.NoGRO; a conn that is a DatagramReader (the
// server's shared-socket demultiplexer) hands over bursts without a copy.
//
// Liveness: no packet at all from the peer within NoUDPTimeout gives
// ErrNoUDP (fall back to TCP); silence for IdleTimeout later gives ErrIdle.
//
// Caveats: one session per conn at a time; Run uses the conn's read
// deadline to stop its reader and clears it on return, and does not close
// the conn. Key and Session must be fresh for every session: a reused pair
// lets stale packets of an earlier session in. SendFile.Open is called on
// an opener goroutine (in order, a few files ahead); OpenFunc, the
// receiver's writes, checkpoints, Commit and the resume hashing run on
// helper goroutines, so the loop (and with it feedback and the delay
// samples the rate controller works from) does not wait on the disk;
// ReadAt of source data and Progress still run on the sender's loop. Up to
// MaxOpenFiles files (1024 by default) are in flight at once, a descriptor
// each on both sides.
package data

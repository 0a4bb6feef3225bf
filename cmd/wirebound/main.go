// Command wirebound prints the best goodput any ferry run can reach moving
// a folder over a link, computed from ferry's own packet format: the
// header, DATA fields and seal overhead of package wire and seal (the
// same constants the sender sizes its packets with), and each file's FILE
// packet as package wire encodes it. make bench-wan prints it as the
// bound column.
//
//	wirebound -dir SRC -mbit 100 -rtt 100ms [-datagram 1472] [-rtts 9] [-loss 0.10]
//
// The time counted is the link's serialisation of every IP byte (20 of
// IPv4 and 8 of UDP per datagram, as wanem counts them) plus rtts round
// trips no run avoids (7 for TCP and SSH authentication, 1 for the Hello
// and the listing, 1 for the last byte out and the answer back). No ramp,
// loss recovery or disk time is counted, so no run reaches it.
//
// -loss is the link's random loss. The emulator (wanem) drops packets
// before its bottleneck, so lost datagrams take none of the link's rate;
// but ferry paces its datagrams (UDP payload) at target_rate, which make
// bench-wan sets to the link's rate, so what reaches the bottleneck is at
// most that rate × (1 − loss), in IP bytes rate × (1 − loss) ×
// (datagram + 28) / datagram, and the link is the limit only below it. At
// 10 % loss that is 91.7 of 100 Mbit/s of datagrams that arrive; at 1 and
// 2 % the link's own rate still is.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
)

// ipUDP is what IPv4 and UDP add to each datagram.
const ipUDP = 20 + 8

func main() {
	dir := flag.String("dir", "", "the folder to move")
	mbit := flag.Float64("mbit", 100, "the link's rate in Mbit/s")
	rtt := flag.Duration("rtt", 100*time.Millisecond, "the link's round trip")
	datagram := flag.Int("datagram", 1472, "UDP payload per datagram (1472 on a 1,500-byte MTU)")
	rtts := flag.Int("rtts", 9, "round trips no run avoids")
	loss := flag.Float64("loss", 0, "the link's random loss (0.10 = 10 %), taken from a sender paced at the link's rate")
	flag.Parse()
	if *dir == "" || *mbit <= 0 || *loss < 0 || *loss >= 1 {
		fmt.Fprintln(os.Stderr, "usage: wirebound -dir SRC -mbit N -rtt D [-datagram 1472] [-rtts 9]")
		os.Exit(2)
	}
	onWire, fileBytes, err := count(*dir, *datagram)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wirebound:", err)
		os.Exit(1)
	}
	t := float64(*rtts)*rtt.Seconds() + float64(onWire)*8/(arriving(*mbit, *loss, *datagram)*1e6)
	fmt.Printf("%.1f\n", float64(fileBytes)*8/t/1e6)
}

// arriving is the rate in Mbit/s of IP bytes that cross the bottleneck
// of a link of mbit and random loss, from a sender that paces its
// datagrams' UDP payload at mbit (target_rate set to the link's rate):
// the link's rate, unless loss leaves the sender short of it.
func arriving(mbit, loss float64, datagram int) float64 {
	return min(mbit, mbit*(1-loss)*float64(datagram+ipUDP)/float64(datagram))
}

// count returns the IP bytes ferry puts on the link to move the files
// below dir in datagrams of the given UDP payload, and the files' bytes.
func count(dir string, datagram int) (onWire, fileBytes int64, err error) {
	payload := datagram - wire.HeaderLen - wire.DataOverhead - seal.Overhead
	var id uint32
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		id++
		size := fi.Size()
		fileBytes += size
		announce := wire.File{ID: id, Size: size, Hash: ^uint64(0), Mode: uint32(fi.Mode().Perm()), Mtime: fi.ModTime().UnixNano(), Path: filepath.ToSlash(rel)}
		onWire += int64(ipUDP + wire.HeaderLen + len(announce.Append(nil)) + seal.Overhead)
		full, rest := size/int64(payload), size%int64(payload)
		onWire += full * int64(datagram+ipUDP)
		if rest > 0 {
			onWire += rest + int64(datagram-payload+ipUDP)
		}
		return nil
	})
	return onWire, fileBytes, err
}

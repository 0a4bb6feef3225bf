// Command wirebound prints the best goodput any ferry run can reach moving
// a folder over a link, computed from ferry's own packet format: the
// header, DATA fields and seal overhead of package wire and seal (the
// same constants the sender sizes its packets with), and each file's FILE
// packet as package wire encodes it. make bench-wan prints it as the
// bound column.
//
//	wirebound -dir SRC -mbit 100 -rtt 100ms [-datagram 1472] [-rtts 9]
//
// The time counted is the link's serialisation of every IP byte (20 of
// IPv4 and 8 of UDP per datagram, as wanem counts them) plus rtts round
// trips no run avoids (7 for TCP and SSH authentication, 1 for the Hello
// and the listing, 1 for the last byte out and the answer back). No ramp,
// loss recovery or disk time is counted, so no run reaches it.
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
	flag.Parse()
	if *dir == "" || *mbit <= 0 {
		fmt.Fprintln(os.Stderr, "usage: wirebound -dir SRC -mbit N -rtt D [-datagram 1472] [-rtts 9]")
		os.Exit(2)
	}
	onWire, fileBytes, err := count(*dir, *datagram)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wirebound:", err)
		os.Exit(1)
	}
	t := float64(*rtts)*rtt.Seconds() + float64(onWire)*8/(*mbit*1e6)
	fmt.Printf("%.1f\n", float64(fileBytes)*8/t/1e6)
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

package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-sync/ferry/transport/cc"
)

// vethLink joins this process's network namespace to a new one over a
// veth pair whose MTU is mtu, and returns the two ends' addresses and the
// host side's device name. It needs root and iproute2; the namespace (and
// with it the pair) goes when the test ends.
func vethLink(t *testing.T, mtu int) (host, peer, dev, ns string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	id := os.Getpid() % 100000
	ns, dev = fmt.Sprintf("ferry-pmtu-%d", id), fmt.Sprintf("fpm%da", id)
	other := fmt.Sprintf("fpm%db", id)
	// 10.231.x.y/30, from the pid, so parallel runs do not share a subnet.
	host = fmt.Sprintf("10.231.%d.%d", id/64%256, id%64*4+1)
	peer = fmt.Sprintf("10.231.%d.%d", id/64%256, id%64*4+2)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	_ = exec.Command("ip", "netns", "del", ns).Run()
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip("link", "add", dev, "type", "veth", "peer", "name", other, "netns", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dev).Run() })
	ip("addr", "add", host+"/30", "dev", dev)
	ip("link", "set", dev, "mtu", fmt.Sprint(mtu), "up")
	ip("-n", ns, "addr", "add", peer+"/30", "dev", other)
	ip("-n", ns, "link", "set", other, "mtu", fmt.Sprint(mtu), "up")
	ip("-n", ns, "link", "set", "lo", "up")
	return host, peer, dev, ns
}

// listenIn opens a data socket inside network namespace ns. The thread
// that enters the namespace is never handed back: its goroutine ends
// locked to it, so the runtime retires it.
func listenIn(t *testing.T, ns, addr string) *net.UDPConn {
	t.Helper()
	type result struct {
		c   *net.UDPConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := Listen("udp4", addr, nil)
		ch <- result{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("unable to listen in %s: %v", ns, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c
}

// TestSessionOverALinkWithASmallerMTU runs a session over a real veth
// link of MTU 1,400: the full-size probe is refused by the kernel
// (EMSGSIZE), the session settles at 1,372 bytes (1,400 less IP and UDP),
// and when the link's MTU drops to 1,300 mid-transfer, the segmented sends
// the kernel refuses go again at 1,272.
func TestSessionOverALinkWithASmallerMTU(t *testing.T) {
	host, peer, dev, ns := vethLink(t, 1400)
	r := rand.New(rand.NewPCG(testSeed(t), 15))
	src, order := randomFiles(r, []int{24 << 20, 100000, 1})
	sc, err := Listen("udp4", net.JoinHostPort(host, "0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	rc := listenIn(t, ns, net.JoinHostPort(peer, "0"))
	cfg := testConfig(r)
	cfg.Log = nil
	// A fixed rate: the veth is fast, the machine is shared.
	cfg.Rate = cc.Config{Policy: cc.Fixed, TargetRate: 300e6}
	var acked atomic.Int64
	var lowered atomic.Bool
	var sizeBefore int
	var snd *Sender
	cfg.Progress = func(path string, delta int64, reused bool) {
		// Once a quarter of the big file is across, the link shrinks
		// (called on the sender's loop, so the next sends see it).
		if acked.Add(delta) > 6<<20 && !lowered.Swap(true) {
			sizeBefore = snd.Stats().PacketSize
			if out, err := exec.Command("ip", "link", "set", dev, "mtu", "1300").CombinedOutput(); err != nil {
				t.Errorf("ip link set mtu: %v: %s", err, out)
			}
		}
	}
	scfg, rcfg := cfg, cfg
	scfg.Peer = rc.LocalAddr()
	snd, err = NewSender(sc, scfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg.Progress = nil
	st := newStore()
	rcv, err := NewReceiver(rc, rcfg, st.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out sessionOut
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.results, out.recvErr = rcv.Run(ctx)
	}()
	out.sendErrs, out.sendErr = snd.Run(ctx, sendFiles(src, order))
	<-done
	out.snd, out.rcv = snd.Stats(), rcv.Stats()
	checkDelivered(t, out, src, order, st)
	t.Logf("size %d before the MTU drop, %d after; %d datagrams, %d send errors, retransmit share %.3f",
		sizeBefore, out.snd.PacketSize, out.snd.PacketsSent, out.snd.SendErrors, out.snd.RetransmitShare())
	if !lowered.Load() {
		t.Fatal("the transfer ended before the MTU was lowered")
	}
	if sizeBefore != 1400-28 {
		t.Errorf("size on the 1,400-byte link: %d, want %d", sizeBefore, 1400-28)
	}
	if out.snd.PacketSize != 1300-28 {
		t.Errorf("size after the drop to 1,300: %d, want %d", out.snd.PacketSize, 1300-28)
	}
}

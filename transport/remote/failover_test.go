package remote_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
)

// cluster is n servers on loopback over one root, trusting one client
// key, each with a host key of its own.
func cluster(t *testing.T, n int) []*env {
	t.Helper()
	first := newEnv(t, nil)
	out := []*env{first}
	for range n - 1 {
		out = append(out, newEnv(t, func(c *server.Config) {
			c.Root, c.AuthorizedKeys = first.root, first.cfg.AuthorizedKeys
		}))
	}
	return out
}

func hostPort(t *testing.T, addr string) config.HostPort {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return config.HostPort{Host: h, Port: n}
}

// dialCluster dials the servers of cs with the client of cs[0], starting
// at server start (Rand picks it).
func dialCluster(t *testing.T, cs []*env, start int, edit func(*remote.Options)) (*remote.Endpoint, error) {
	t.Helper()
	o := cs[0].options()
	o.Hosts = nil
	for _, e := range cs {
		o.Hosts = append(o.Hosts, hostPort(t, e.addr))
	}
	o.Rand = func() float64 { return (float64(start) + 0.5) / float64(len(cs)) }
	o.KeepAlive = -1
	if edit != nil {
		edit(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return remote.Dial(ctx, o)
}

// callUntil makes calls on ep until one succeeds or fails with an error
// that is not a lost connection (calls on a connection whose server just
// went may fail before the endpoint knows it is gone), at most 10.
func callUntil(t *testing.T, ep *remote.Endpoint) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for range 10 {
		if _, err = ep.FreeSpace(ctx); err == nil || !errors.Is(err, remote.ErrDisconnected) {
			return err
		}
	}
	return err
}

// TestSeveralServersStartAtTheOnePickedAndGoOnToTheNext: the endpoint
// starts at the server Rand picks, passes over one that is down, and after
// losing its connection goes on to the next server, not back to the one
// it was on.
func TestSeveralServersStartAtTheOnePickedAndGoOnToTheNext(t *testing.T) {
	cs := cluster(t, 3)
	cs[1].stop()
	ep, err := dialCluster(t, cs, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if got := ep.Server(); got != cs[2].addr {
		t.Fatalf("connected to %q, want the third server %s (the second, picked first, is down)", got, cs[2].addr)
	}
	cs[1].start()
	cs[2].stop()
	if err := callUntil(t, ep); err != nil {
		t.Fatalf("call after the third server went: %v", err)
	}
	if got := ep.Server(); got != cs[0].addr {
		t.Fatalf("after losing the third server the endpoint is on %q, want the first %s (the one after it)", got, cs[0].addr)
	}
}

// TestAllServersDownNamesEveryServer: a dial that reaches none of the
// servers says so, naming each server tried and why, in the order tried,
// and is retried like a lost connection.
func TestAllServersDownNamesEveryServer(t *testing.T) {
	cs := cluster(t, 3)
	for _, e := range cs {
		e.stop()
	}
	_, err := dialCluster(t, cs, 2, nil)
	var ue *remote.UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, remote.ErrDisconnected) {
		t.Fatalf("dial with every server down: %v, want an UnreachableError wrapping ErrDisconnected", err)
	}
	msg := err.Error()
	at := -1
	for i, k := range []int{2, 0, 1} {
		j := strings.Index(msg, strconv.Itoa(i+1)+") unable to connect to ferry server "+cs[k].addr)
		if j < 0 || j < at {
			t.Fatalf("error does not name server %s as tried %d:\n%s", cs[k].addr, i+1, msg)
		}
		at = j
	}
	if !strings.Contains(msg, "any of the 3 ferry servers") {
		t.Fatalf("error does not say none of the 3 answered: %s", msg)
	}
}

// TestChangedHostKeyOfTheSecondServerIsRefused: every server is pinned
// under its own name; when the endpoint, connected to the first, loses it
// and goes on to the second, whose key changed, it refuses it (and says
// so) instead of passing over it to another server.
func TestChangedHostKeyOfTheSecondServerIsRefused(t *testing.T) {
	cs := cluster(t, 3)
	for i := range cs { // each pinned once, by a dial that starts there
		ep, err := dialCluster(t, cs, i, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ep.Server() != cs[i].addr {
			t.Fatalf("dial starting at server %d connected to %s", i, ep.Server())
		}
		ep.Close()
	}
	known, err := os.ReadFile(cs[0].known)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cs {
		line := "[127.0.0.1]:" + strconv.Itoa(hostPort(t, e.addr).Port) + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(e.srv.HostKey())))
		if !strings.Contains(string(known), line) {
			t.Fatalf("known_hosts lacks %q:\n%s", line, known)
		}
	}

	ep, err := dialCluster(t, cs, 0, func(o *remote.Options) { o.AcceptNewHostKey = false })
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	cs[1].stop()
	if err := os.Remove(filepath.Join(cs[1].dir, "host_key")); err != nil {
		t.Fatal(err)
	}
	cs[1].start()
	cs[0].stop()
	err = callUntil(t, ep)
	if !errors.Is(err, remote.ErrHostKeyChanged) {
		t.Fatalf("failing over to a server whose key changed: %v, want ErrHostKeyChanged", err)
	}
	if !strings.Contains(err.Error(), "[127.0.0.1]:"+strconv.Itoa(hostPort(t, cs[1].addr).Port)) {
		t.Fatalf("the refusal does not name the second server %s: %v", cs[1].addr, err)
	}
	if got := ep.Server(); got != "" {
		t.Fatalf("connected to %s after the refusal", got)
	}
	after, _ := os.ReadFile(cs[0].known)
	if string(after) != string(known) {
		t.Fatalf("known_hosts changed:\n%s", after)
	}
}

// TestHostNameWithSeveralAddressesIsOneServerPerAddress: a name that
// resolves to several addresses is tried address by address, and its
// key is pinned under the name.
func TestHostNameWithSeveralAddressesIsOneServerPerAddress(t *testing.T) {
	cs := cluster(t, 2)
	// Both ports must match for one name: the second server listens on
	// another loopback address at the first one's port.
	port := hostPort(t, cs[0].addr).Port
	cs[1].stop()
	cs[1].addr = net.JoinHostPort("127.0.0.2", strconv.Itoa(port))
	ln, err := net.Listen("tcp", cs[1].addr)
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	ln.Close()
	// One host key for the name: the second server uses the first's.
	b, err := os.ReadFile(filepath.Join(cs[0].dir, "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cs[1].dir, "host_key"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	cs[1].start()
	cs[0].stop()
	o := cs[0].options()
	o.Host, o.Port = "cluster.test", port
	o.LookupHost = func(_ context.Context, host string) ([]string, error) {
		if host != "cluster.test" {
			return nil, errors.New("unknown host " + host)
		}
		return []string{"127.0.0.1", "127.0.0.2"}, nil
	}
	o.Rand = func() float64 { return 0 }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep, err := remote.Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	want := "cluster.test:" + strconv.Itoa(port) + " (127.0.0.2:" + strconv.Itoa(port) + ")"
	if got := ep.Server(); got != want {
		t.Fatalf("connected to %q, want %q", got, want)
	}
	known, _ := os.ReadFile(cs[0].known)
	if !strings.HasPrefix(string(known), "[cluster.test]:"+strconv.Itoa(port)+" ") {
		t.Fatalf("the key is not pinned under the name:\n%s", known)
	}
}

// TestHostNameOfOneDualStackServerIsDialedAsBefore: a name with one IPv4
// and one IPv6 address is one server, dialed by name (the dialer races
// the two families), not split into two.
func TestHostNameOfOneDualStackServerIsDialedAsBefore(t *testing.T) {
	e := newEnv(t, nil)
	port := hostPort(t, e.addr).Port
	o := e.options()
	o.Host, o.Port = "localhost", port
	var asked int
	o.LookupHost = func(context.Context, string) ([]string, error) {
		asked++
		return []string{"::1", "127.0.0.1"}, nil
	}
	o.Rand = func() float64 { return 0 }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep, err := remote.Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if want := "localhost:" + strconv.Itoa(port); ep.Server() != want || asked != 1 {
		t.Fatalf("connected to %q after %d lookups, want %q (the name, as dialed before)", ep.Server(), asked, want)
	}
}

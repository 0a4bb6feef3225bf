package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrTokenRequired is returned by ListenTCP for a non-loopback address
// without a token.
var ErrTokenRequired = errors.New("a token is required to serve the control API beyond loopback")

// MinTokenLen is the shortest token ListenTCP accepts.
const MinTokenLen = 16

// NewToken returns a random 32-character hex token.
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("unable to make a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ListenUnix listens on the socket at path, readable and writable by the
// owner only (mode 0600), and accepts only peers running as this process's
// uid. A stale socket left by a dead ferry is removed; a live one is an
// error, and so is any other kind of file at path. Closing the listener
// removes the socket.
func ListenUnix(path string, log *slog.Logger) (net.Listener, error) {
	return listenUnix(path, uint32(os.Getuid()), log)
}

func listenUnix(path string, uid uint32, log *slog.Logger) (net.Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("unable to create directory for control socket %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("unable to listen on %s: a file that is not a socket is in the way; move it aside", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("unable to listen on %s: another ferry is serving it; stop that one first", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unable to remove stale control socket %s: %w", path, err)
		}
	}
	// The socket is made in a private directory and renamed into place, so
	// it is never reachable with the umask's looser mode, and no
	// process-wide umask change is needed.
	tmp, err := os.MkdirTemp(dir, ".fs")
	if err != nil {
		return nil, fmt.Errorf("unable to create control socket %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(tmp, "s"), Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("unable to create control socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false)
	if err := os.Chmod(filepath.Join(tmp, "s"), 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("unable to restrict control socket %s to its owner: %w", path, err)
	}
	if err := os.Rename(filepath.Join(tmp, "s"), path); err != nil {
		l.Close()
		return nil, fmt.Errorf("unable to move control socket into place at %s: %w", path, err)
	}
	return &unixListener{UnixListener: l, path: path, uid: uid, log: log}, nil
}

// unixListener drops connections from other users before HTTP sees them.
type unixListener struct {
	*net.UnixListener
	path string
	uid  uint32
	log  *slog.Logger
}

func (l *unixListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && uid == l.uid {
			return c, nil
		}
		l.log.Warn("refused control connection from another user", "socket", l.path, "peer_uid", uid, "err", err)
		c.Close()
	}
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// ListenTCP listens on addr (host:port). Without a token, addr must be a
// loopback address ("127.0.0.1:8384", "[::1]:0", "localhost:8384");
// anything else returns ErrTokenRequired. A token must be at least
// MinTokenLen characters.
func ListenTCP(addr, token string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("unable to listen on %q: %w (write it as HOST:PORT, e.g. 127.0.0.1:8384)", addr, err)
	}
	if token != "" && len(token) < MinTokenLen {
		return nil, fmt.Errorf("unable to listen on %s: the token is shorter than %d characters", addr, MinTokenLen)
	}
	if token == "" && !loopbackHost(host) {
		return nil, fmt.Errorf("unable to listen on %s: %w; pass a token or use 127.0.0.1", addr, ErrTokenRequired)
	}
	network := "tcp"
	if strings.EqualFold(host, "localhost") {
		// Never let a hosts file send "localhost" somewhere else.
		network, addr = "tcp4", net.JoinHostPort("127.0.0.1", port)
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("unable to listen on %s: %w", addr, err)
	}
	if tcp, ok := l.Addr().(*net.TCPAddr); token == "" && (!ok || !tcp.IP.IsLoopback()) {
		l.Close()
		return nil, fmt.Errorf("unable to listen on %s: %w", addr, ErrTokenRequired)
	}
	return l, nil
}

// Serve serves h on l until ctx is done, then shuts down, giving requests in
// flight up to five seconds. Requests see ctx, so event streams end with it.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// A browser's preconnected socket that never sent a request
			// counts as busy for 5 s; after the grace period, cut what is
			// left rather than fail the shutdown.
			err = srv.Close()
		}
		done <- err
	}()
	err := srv.Serve(l)
	if !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("unable to serve the control API on %s: %w", l.Addr(), err)
	}
	return <-done
}

// Package demokit holds what ferry's demos (`ferry demo`, `make
// demo-cluster` and `make bench-cluster`) need to run a server and agents
// on loopback: a fresh SSH key pair and a port free for TCP and UDP.
package demokit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// WriteKeys makes a new ed25519 key pair: the private key, in OpenSSH
// form with comment, goes to identity and the public key to authKeys as an
// authorized_keys line, both 0600.
func WriteKeys(identity, authKeys, comment string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return err
	}
	if err := os.WriteFile(identity, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(sp), 0o600)
}

// FreePort finds a port free for both TCP and UDP on 127.0.0.1 (a ferry
// server listens on both).
func FreePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("unable to find a free port on 127.0.0.1")
}

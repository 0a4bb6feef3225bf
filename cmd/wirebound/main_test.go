package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCountFollowsThePacketFormat: a file of two full DATA packets and
// one byte costs two full datagrams, one datagram of a byte, and its FILE
// packet; an aOnly file only its FILE packet. With 1,472-byte datagrams a
// DATA packet carries 1,431 bytes (41 of ferry's header, DATA fields and
// GCM tag), as the README's bound says.
func TestCountFollowsThePacketFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 2*1431+1), 0o644); err != nil {
		t.Fatal(err)
	}
	aOnly, _, err := count(dir, 1472)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	both, files, err := count(dir, 1472)
	if err != nil {
		t.Fatal(err)
	}
	fileB := both - aOnly
	if fileB < 28+41 || fileB > 28+41+40 {
		t.Fatalf("an aOnly file's FILE packet costs %d bytes on the link", fileB)
	}
	// a's FILE packet is b's and one byte: its size takes two bytes as a
	// varint, b's one.
	if want := 2*(1472+28) + (1 + 41 + 28) + fileB + 1; aOnly != int64(want) {
		t.Fatalf("a costs %d bytes on the link, want %d", aOnly, want)
	}
	if files != 2*1431+1 {
		t.Fatalf("file bytes %d", files)
	}
}

// TestArrivingIsCutByLoss: at 10 % loss a sender paced at the link's
// rate (UDP payload) leaves the bottleneck short: 91.7 of 100 Mbit/s of
// IP bytes arrive; at 1 % the link's rate is still the limit.
func TestArrivingIsCutByLoss(t *testing.T) {
	for _, c := range []struct {
		loss, want float64
	}{{0, 100}, {0.01, 100}, {0.02, 99.86}, {0.10, 91.71}} {
		got := arriving(100, c.loss, 1472)
		if got < c.want-0.01 || got > c.want+0.01 {
			t.Errorf("loss %.2f: %.2f Mbit/s arrive, want %.2f", c.loss, got, c.want)
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A profile is a gzip-compressed protobuf; its magic is enough to tell a
// written profile from an empty or truncated file.
var gzipMagic = []byte{0x1f, 0x8b}

func TestProfilesWrittenOnStop(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		envCPUProfile: filepath.Join(dir, "cpu.pprof"),
		envMemProfile: filepath.Join(dir, "mem.pprof"),
	}
	var stderr bytes.Buffer
	p := startProfiles(func(k string) string { return env[k] }, &stderr)
	sink := 0
	for i := range 1 << 20 {
		sink += i * i
	}
	_ = sink
	p.stop()
	p.stop() // a second stop is harmless
	for _, path := range env {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("profile not written: %v", err)
		}
		if !bytes.HasPrefix(b, gzipMagic) {
			t.Errorf("%s is not a profile: % x", path, b[:min(len(b), 8)])
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("unexpected complaint: %s", stderr.String())
	}
}

func TestProfileUnwritablePathIsReportedNotFatal(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "no-such-dir", "cpu.pprof")
	var stderr bytes.Buffer
	p := startProfiles(func(k string) string {
		if k == envCPUProfile {
			return bad
		}
		return ""
	}, &stderr)
	p.stop()
	if !strings.Contains(stderr.String(), envCPUProfile) {
		t.Errorf("stderr does not name the variable: %q", stderr.String())
	}
	if _, err := os.Stat(bad); err == nil {
		t.Errorf("profile appeared at an unwritable path")
	}
}

func TestNoProfileWithoutEnvironment(t *testing.T) {
	var stderr bytes.Buffer
	p := startProfiles(func(string) string { return "" }, &stderr)
	if p.cpu != nil || p.memPath != "" {
		t.Fatalf("profiling started without being asked: %+v", p)
	}
	p.stop()
}

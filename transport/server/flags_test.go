package server

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFlagsSingleRoot(t *testing.T) {
	dir := t.TempDir()
	cfg, listen, err := Flags{Root: "/srv/data", AuthorizedKeys: "/etc/keys", StateDir: dir, UDPPort: UDPSameAsListen, Listen: "127.0.0.1:4000"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1:4000" || cfg.UDPPort != 4000 || cfg.HostKeyPath != filepath.Join(dir, "host_key") || cfg.Root != "/srv/data" {
		t.Fatalf("got %+v listen %s", cfg, listen)
	}
	cfg, _, err = Flags{Root: "/srv/data", AuthorizedKeys: "/etc/keys", StateDir: dir, UDPPort: 0}.Config()
	if err != nil || cfg.UDPPort != 0 {
		t.Fatalf("UDP off: %+v %v", cfg, err)
	}
	if _, _, err := (Flags{Root: "/srv/data", StateDir: dir}).Config(); err == nil {
		t.Fatal("root without authorized keys accepted")
	}
}

func TestFlagsServerConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.yaml")
	yaml := "listen: 127.0.0.1:5000\nstate_dir: " + dir + "\ntotal_rate: 100Mbps\nusers:\n  - name: alice\n    root: " + dir + "/alice\n    authorized_keys: " + dir + "/alice.keys\n    rate: 20Mbps\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, listen, err := Flags{ConfigFile: file, UDPPort: UDPSameAsListen}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1:5000" || len(cfg.Users) != 1 || cfg.Users[0].Name != "alice" || cfg.Users[0].Rate != 20_000_000 || cfg.TotalRate != 100_000_000 {
		t.Fatalf("got %+v listen %s", cfg, listen)
	}
	if _, _, err := (Flags{ConfigFile: file, Root: "/x", AuthorizedKeys: "/y"}).Config(); err == nil {
		t.Fatal("--root with --config accepted")
	}
}

package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
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

// TestFlagsOverrideTheFileOnlyWhereGiven: values the file derives (the
// UDP port from listen, the host key from state_dir) follow a flag that
// overrides what they derive from, unless the file or a flag sets them.
func TestFlagsOverrideTheFileOnlyWhereGiven(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.yaml")
	users := "users:\n  - name: alice\n    root: " + dir + "/alice\n    authorized_keys: " + dir + "/alice.keys\n"
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(file, []byte("listen: 127.0.0.1:5000\nstate_dir: "+dir+"/file-state\n"+extra+users), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, listen, err := Flags{ConfigFile: file, UDPPort: UDPSameAsListen}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1:5000" || cfg.UDPPort != 5000 || cfg.HostKeyPath != dir+"/file-state/host_key" || cfg.StateDir != dir+"/file-state" {
		t.Fatalf("no flags: %+v listen %s", cfg, listen)
	}
	cfg, listen, err = Flags{ConfigFile: file, UDPPort: UDPSameAsListen, Listen: "127.0.0.1:6000", StateDir: dir + "/flag-state"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if listen != "127.0.0.1:6000" || cfg.UDPPort != 6000 || cfg.HostKeyPath != dir+"/flag-state/host_key" || cfg.StateDir != dir+"/flag-state" {
		t.Fatalf("--listen and --state-dir: %+v listen %s", cfg, listen)
	}
	cfg, _, err = Flags{ConfigFile: file, UDPPort: 0, Listen: "127.0.0.1:6000", HostKey: "/etc/hk"}.Config()
	if err != nil || cfg.UDPPort != 0 || cfg.HostKeyPath != "/etc/hk" {
		t.Fatalf("--udp-port 0 and --host-key: %+v %v", cfg, err)
	}
	write("udp_port: 7000\nhost_key: /etc/file-hk\n")
	cfg, _, err = Flags{ConfigFile: file, UDPPort: UDPSameAsListen, Listen: "127.0.0.1:6000", StateDir: dir + "/flag-state"}.Config()
	if err != nil || cfg.UDPPort != 7000 || cfg.HostKeyPath != "/etc/file-hk" {
		t.Fatalf("the file's own udp_port and host_key: %+v %v", cfg, err)
	}
}

// TestFlagsS3RootCredentials: an s3:// root's settings reach the user's
// S3Root, with the keys from the environment; without keys the error
// names server.yaml and the field to fix.
func TestFlagsS3RootCredentials(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.yaml")
	yaml := "state_dir: " + dir + "\ns3: {endpoint: '127.0.0.1:8333', secure: false}\nusers:\n  - name: alice\n    root: s3://bucket/users/alice\n    authorized_keys: " + dir + "/alice.keys\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "secret"}
	cfg, _, err := Flags{ConfigFile: file, UDPPort: UDPSameAsListen, Getenv: func(k string) string { return env[k] }}.Config()
	if err != nil {
		t.Fatal(err)
	}
	want := S3Root{Endpoint: "127.0.0.1:8333", Secure: false, Region: "us-east-1", PathStyle: true, Bucket: "bucket", Prefix: "users/alice", AccessKey: "AKIA", SecretKey: "secret"}
	if got := cfg.Users[0].S3; got == nil || *got != want {
		t.Fatalf("S3 root %+v, want %+v", got, want)
	}
	_, _, err = Flags{ConfigFile: file, UDPPort: UDPSameAsListen, Getenv: func(string) string { return "" }}.Config()
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != file || ce.Field != "users[0].s3.credentials_file" || !strings.Contains(ce.Msg, "AWS_ACCESS_KEY_ID") {
		t.Fatalf("without keys: %v, want a config error on users[0].s3.credentials_file", err)
	}
}

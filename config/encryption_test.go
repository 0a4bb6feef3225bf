package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func encryptedJob(block string) string {
	return "jobs:\n  - name: docs\n    local: /home/me/docs\n    remote: ferry://alice@nas.example.org/srv/docs\n    encryption:\n" + block
}

func TestEncryptionBlock(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "docs.pass")
	if err := os.WriteFile(pass, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("jobs.yaml", []byte(encryptedJob("      passphrase_file: "+pass+"\n")))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Jobs[0].Encryption
	if !e.Enabled || e.Names != NamesEncrypted || e.PassphraseFile != pass {
		t.Fatalf("encryption = %+v", e)
	}
	p, err := e.Passphrase()
	if err != nil || string(p) != "correct horse" {
		t.Fatalf("passphrase = %q, %v", p, err)
	}
	t.Setenv("FERRY_TEST_PASS", "from env")
	c, err = Parse("jobs.yaml", []byte(encryptedJob("      passphrase_env: FERRY_TEST_PASS\n      names: plain\n")))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Jobs[0].Encryption; e.Names != NamesPlain {
		t.Fatalf("names = %q", e.Names)
	}
	c, err = Parse("jobs.yaml", []byte("jobs:\n  - name: docs\n    local: /home/me/docs\n    remote: /mnt/nas/docs\n"))
	if err != nil || c.Jobs[0].Encryption.Enabled {
		t.Fatalf("a job without the block is encrypted: %+v, %v", c.Jobs[0].Encryption, err)
	}
}

func TestEncryptionBlockMistakes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pass")
	empty := filepath.Join(dir, "empty.pass")
	open := filepath.Join(dir, "open.pass")
	for _, f := range []struct {
		path, data string
		mode       os.FileMode
	}{{good, "secret", 0o600}, {empty, "\n", 0o600}, {open, "secret", 0o644}} {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FERRY_TEST_EMPTY", "")
	cases := []struct {
		block, field, msg string
	}{
		{"      names: encrypted\n", "jobs[0].encryption", "needs passphrase_file or passphrase_env"},
		{"      passphrase_file: " + good + "\n      passphrase_env: X\n", "jobs[0].encryption.passphrase_file", "not both"},
		{"      passphrase_file: " + filepath.Join(dir, "nope") + "\n", "jobs[0].encryption.passphrase_file", "does not exist"},
		{"      passphrase_file: " + empty + "\n", "jobs[0].encryption.passphrase_file", "is empty"},
		{"      passphrase_file: " + open + "\n", "jobs[0].encryption.passphrase_file", "can be read by other users"},
		{"      passphrase_env: FERRY_TEST_EMPTY\n", "jobs[0].encryption.passphrase_env", "is empty or not set"},
		{"      passphrase_file: " + good + "\n      names: hidden\n", "jobs[0].encryption.names", `"hidden" is not one of encrypted, plain`},
		{"      passphrase_file: " + good + "\n      colour: red\n", "jobs[0].encryption.colour", "unknown key"},
	}
	for _, c := range cases {
		_, err := Parse("jobs.yaml", []byte(encryptedJob(c.block)))
		if err == nil {
			t.Errorf("%q: no error", c.block)
			continue
		}
		if !strings.Contains(err.Error(), "jobs.yaml:") || !strings.Contains(err.Error(), c.field+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %q, want file, field %s and %q", c.block, err, c.field, c.msg)
		}
	}
}

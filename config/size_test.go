package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]Size{
		"0": 0, "1048576": 1 << 20, "1MiB": 1 << 20, "1 GiB": 1 << 30, "1.5KiB": 1536,
		"64KiB": 64 << 10, "2TiB": 2 << 40, "1GB": 1e9, "500MB": 500e6, "10KB": 10e3, "7B": 7,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1MiB", "1XB", "1e9", "NaN", "Inf", "1 Gbps", "ten"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for _, s := range []Size{0, 7, 1 << 20, 1 << 30, 1536} {
		back, err := ParseSize(s.String())
		if err != nil || back != s {
			t.Errorf("%d -> %q -> %d, %v", s, s.String(), back, err)
		}
	}
}

func TestSessionsKeys(t *testing.T) {
	t.Setenv("HOME", testHome)
	job := "jobs:\n  - name: docs\n    local: /a\n    remote: /b\n"
	c, err := Parse("t.yaml", []byte(job))
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobs[0]; j.Sessions != 1 || j.MultiSessionThreshold != 1<<30 {
		t.Errorf("defaults: sessions %d, threshold %d; want 1 and 1 GiB", j.Sessions, j.MultiSessionThreshold)
	}
	c, err = Parse("t.yaml", []byte(job+"    sessions: 4\n    multi_session_threshold: 1MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jobs[0]; j.Sessions != 4 || j.MultiSessionThreshold != 1<<20 {
		t.Errorf("sessions %d, threshold %d; want 4 and 1 MiB", j.Sessions, j.MultiSessionThreshold)
	}
	c, err = Parse("t.yaml", []byte(job+"    sessions: 16\n    multi_session_threshold: 0\n"))
	if err != nil || c.Jobs[0].Sessions != 16 || c.Jobs[0].MultiSessionThreshold != 0 {
		t.Errorf("sessions 16, threshold 0: %v", err)
	}
	for _, bad := range []struct{ yaml, field, says string }{
		{"    sessions: 17\n", "jobs[0].sessions", `job "docs" asks for 17 data sessions; it must be between 1 and 16`},
		{"    sessions: 0\n", "jobs[0].sessions", "between 1 and 16"},
		{"    sessions: four\n", "jobs[0].sessions", "not a whole number"},
		{"    multi_session_threshold: 1Gbps\n", "jobs[0].multi_session_threshold", "not a size"},
		{"    multi_session_threshold: -5\n", "jobs[0].multi_session_threshold", "size"},
	} {
		_, err := Parse("t.yaml", []byte(job+bad.yaml))
		var ce *Error
		if err == nil || !errors.As(err, &ce) {
			t.Errorf("%q: got %v, want a config error", bad.yaml, err)
			continue
		}
		errs := configErrors(t, err)
		if errs[0].Field != bad.field || errs[0].Line != 5 || !strings.Contains(err.Error(), bad.says) || !strings.Contains(err.Error(), "jobs[0]") {
			t.Errorf("%q: got %v (field %q line %d), want field %s saying %q", bad.yaml, err, errs[0].Field, errs[0].Line, bad.field, bad.says)
		}
	}
}

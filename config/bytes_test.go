package config

import (
	"strings"
	"testing"
)

// TestRefusedCharactersNameLineAndField: a NUL byte (or any character YAML
// refuses) used to give "invalid YAML: control characters are not allowed"
// with no line (issue 11.10). Each must name the file, the line, the column
// and the field written on that line.
func TestRefusedCharactersNameLineAndField(t *testing.T) {
	job := "jobs:\n  - name: docs\n    local: /home/me/docs\n    remote: /mnt/docs\n"
	cases := []struct {
		name, data string
		want       []string // each error's text, in order
	}{
		{"NUL in a value", strings.Replace(job, "/home/me/docs", "/home/me\x00/docs", 1),
			[]string{"f.yaml:3: jobs[0].local: a NUL byte at column 20"}},
		{"NUL in a name", strings.Replace(job, "docs\n", "do\x00cs\n", 1),
			[]string{"f.yaml:2: jobs[0].name: a NUL byte at column 13"}},
		{"NUL in a comment", job + "# note\x00\n",
			[]string{"f.yaml:5: a NUL byte at column 7"}},
		{"NUL on the first line", "\x00" + job,
			[]string{"f.yaml:1: a NUL byte at column 1"}},
		{"escape character", strings.Replace(job, "/mnt/docs", "/mnt/\x1bdocs", 1),
			[]string{"f.yaml:4: jobs[0].remote: the control character U+001B at column 18"}},
		{"not UTF-8", strings.Replace(job, "/mnt/docs", "/mnt/d\xffocs", 1),
			[]string{"f.yaml:4: jobs[0].remote: a byte that is not UTF-8 (0xff) at column 19"}},
		{"two on two lines", strings.Replace(strings.Replace(job, "/mnt/docs", "/mnt/\x00docs", 1), "name: docs", "name: \x00docs", 1),
			[]string{"f.yaml:2: jobs[0].name: a NUL byte at column 11", "f.yaml:4: jobs[0].remote: a NUL byte at column 18"}},
		{"quoted \\0 escape", strings.Replace(job, "/home/me/docs", `"/home/me\0/docs"`, 1),
			[]string{"f.yaml:3: jobs[0].local: contains a NUL character (at character 9 of the value)"}},
		{"first-line syntax error", `"\x` + "\n" + job,
			[]string{"f.yaml:1: invalid YAML: did not find expected hexdecimal number"}},
	}
	for _, c := range cases {
		_, err := Parse("f.yaml", []byte(c.data))
		got := configErrors(t, err)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d errors %v, want %d", c.name, len(got), err, len(c.want))
			continue
		}
		for i, e := range got {
			if !strings.HasPrefix(e.Error(), c.want[i]) {
				t.Errorf("%s: error %d is %q, want it to start %q", c.name, i, e.Error(), c.want[i])
			}
		}
	}
}

func TestServerConfigRefusedCharacter(t *testing.T) {
	_, err := ParseServer("s.yaml", []byte("listen: 127.0.0.1:4000\x00\n"))
	got := configErrors(t, err)
	if len(got) != 1 || !strings.HasPrefix(got[0].Error(), "s.yaml:1: listen: a NUL byte at column 23") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParseErrorsHaveLines: whatever the bytes, Parse never panics, and
// every problem it reports inside a non-empty file carries its line.
func FuzzParseErrorsHaveLines(f *testing.F) {
	for _, s := range []string{
		"jobs:\n  - name: a\n    local: /a\n    remote: /b\n",
		"jobs:\n  - name: a\x00\n", "\"\\x", "jobs: [", "a: b: c\n", "\xff\xfe",
		"jobs:\n  - name: a\n    local: \"/a\\0\"\n    remote: /b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("f.yaml", data)
		for _, e := range configErrors(t, err) {
			if e.File != "f.yaml" {
				t.Fatalf("%q: error %q does not name the file", data, e)
			}
			if e.Line == 0 && !strings.HasSuffix(e.Msg, "more problems not shown") {
				t.Fatalf("%q: error %q has no line", data, e)
			}
		}
	})
}

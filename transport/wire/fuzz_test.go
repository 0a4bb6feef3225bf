package wire

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzCodec checks that a decoder never panics on arbitrary input, never
// claims more bytes than it was given, and that whatever it accepts
// re-encodes to something that decodes to the same value.
func fuzzCodec[T any](f *testing.F, seeds [][]byte, parse func([]byte) (T, int, error), enc func(T, []byte) []byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := parse(b)
		if err != nil {
			return
		}
		if n < 0 || n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, m, err := parse(enc(v, nil))
		if err != nil {
			t.Fatalf("re-encoded value does not parse: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(v)) {
			t.Fatalf("re-encode changed the value:\n%#v\n%#v", again, v)
		}
		_ = m
	})
}

// normalize makes nil and empty slices compare equal.
func normalize(v any) any {
	switch x := v.(type) {
	case Data:
		if len(x.Payload) == 0 {
			x.Payload = nil
		}
		return x
	}
	return v
}

func seedsOf(name string) [][]byte {
	var out [][]byte
	for _, c := range codecs() {
		if c.name == name || (len(c.name) > len(name) && c.name[:len(name)+1] == name+"-") {
			out = append(out, c.enc(c.value, nil))
		}
	}
	return out
}

func FuzzParseHeader(f *testing.F) {
	fuzzCodec(f, seedsOf("header"), ParseHeader, Header.Append)
}

func FuzzParseData(f *testing.F) {
	fuzzCodec(f, seedsOf("data"), ParseData, Data.Append)
}

func FuzzParseFile(f *testing.F) {
	fuzzCodec(f, seedsOf("file"), ParseFile, File.Append)
}

func FuzzParseAccept(f *testing.F) {
	fuzzCodec(f, seedsOf("accept"), ParseAccept, Accept.Append)
}

func FuzzParseFeedback(f *testing.F) {
	fuzzCodec(f, seedsOf("feedback"), ParseFeedback, Feedback.Append)
}

func FuzzParseStatus(f *testing.F) {
	fuzzCodec(f, seedsOf("status"), ParseStatus, Status.Append)
}

func FuzzParseProbe(f *testing.F) {
	fuzzCodec(f, seedsOf("probe"), ParseProbe, Probe.Append)
}

func FuzzParseDone(f *testing.F) {
	fuzzCodec(f, seedsOf("done"), ParseDone, Done.Append)
}

var writeSeeds = flag.Bool("seeds", false, "rewrite testdata/fuzz seed corpora from the codec samples")

// TestFuzzSeeds keeps testdata/fuzz in step with the samples in codecs():
// with -seeds it rewrites them, otherwise it checks every sample is there.
func TestFuzzSeeds(t *testing.T) {
	targets := map[string]string{
		"header": "FuzzParseHeader", "data": "FuzzParseData", "file": "FuzzParseFile", "accept": "FuzzParseAccept",
		"feedback": "FuzzParseFeedback", "status": "FuzzParseStatus", "probe": "FuzzParseProbe", "done": "FuzzParseDone",
	}
	for name, target := range targets {
		for i, s := range seedsOf(name) {
			path := filepath.Join("testdata", "fuzz", target, fmt.Sprintf("sample-%d", i))
			want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if *writeSeeds {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != want {
				t.Errorf("%s is missing or stale; run go test -run TestFuzzSeeds -seeds", path)
			}
		}
	}
}

package seal

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/transport/wire"
)

// FuzzOpen feeds arbitrary datagrams to a receiver: it must never panic,
// every call must be counted exactly once, and nothing but a genuine packet
// may open.
func FuzzOpen(f *testing.F) {
	for _, s := range openSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, rcv := pair(t)
		orig := append([]byte(nil), b...)
		_, _, err := rcv.Open(b)
		st := rcv.Stats()
		if st.Opened+st.Dropped() != 1 {
			t.Fatalf("one call counted %d times: %+v", st.Opened+st.Dropped(), st)
		}
		if err == nil {
			// Only bytes sealed with testKey can open; the fuzzer cannot
			// produce those except by mutating a seed back into itself.
			if len(orig) < wire.HeaderLen+Overhead {
				t.Fatalf("opened a %d-byte packet", len(orig))
			}
		}
	})
}

// openSeeds are genuine packets under testKey plus a bare version byte; the
// same bytes live in testdata/fuzz/FuzzOpen.
func openSeeds(t testing.TB) [][]byte {
	snd, _ := pair(t)
	out := [][]byte{{wire.Version}}
	for _, body := range [][]byte{nil, []byte("data"), make([]byte, 300)} {
		_, p := sealed(t, snd, wire.TypeData, body)
		out = append(out, p)
	}
	return out
}

var writeSeeds = flag.Bool("seeds", false, "rewrite testdata/fuzz/FuzzOpen")

func TestFuzzSeeds(t *testing.T) {
	for i, s := range openSeeds(t) {
		path := filepath.Join("testdata", "fuzz", "FuzzOpen", fmt.Sprintf("sample-%d", i))
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
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s is missing or stale; run go test -run TestFuzzSeeds -seeds", path)
		}
	}
}

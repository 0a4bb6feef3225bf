package localfs

import (
	"context"
	"os"
	"testing"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/foldfs"
)

func TestFoldingOnFoldingFilesystems(t *testing.T) {
	for _, c := range []struct {
		name string
		opts foldfs.Options
		want endpoint.Folding
	}{
		{"plain", foldfs.Options{}, endpoint.Folding{}},
		{"case", foldfs.Options{FoldCase: true}, endpoint.Folding{Case: true}},
		{"normalisation", foldfs.Options{Normalize: true}, endpoint.Folding{Normalization: true}},
		{"both", foldfs.Options{FoldCase: true, Normalize: true}, endpoint.Folding{Case: true, Normalization: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := foldfs.MountT(t, c.opts)
			f := newFS(t, m.Dir, Options{})
			defer f.Close()
			got, err := f.Folding(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("Folding = %+v, want %+v", got, c.want)
			}
			ents, err := os.ReadDir(m.Backing)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 0 {
				t.Fatalf("the probe left %s behind", ents[0].Name())
			}
		})
	}
}

package snapshot

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ferry-sync/ferry/tree"
)

// TestAncestorReaderReadsInBatches: the reader returns every record in
// tree.Compare order across several batches (each its own transaction), a
// write between two batches does not wait on it, and an empty ancestor
// reads as empty.
func TestAncestorReaderReadsInBatches(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "a.db"), nil)
	if _, ok, err := db.AncestorReader().Next(); ok || err != nil {
		t.Fatalf("empty ancestor: ok %v, err %v", ok, err)
	}
	var in []tree.Entry
	n := 2*ancestorBatch + 7
	for i := range n / 10 {
		d := fmt.Sprintf("d%03d", i)
		in = append(in, dir(d))
		for j := range 9 {
			in = append(in, file(fmt.Sprintf("%s/f%d", d, j), int64(j), uint64(i*10+j+1)))
		}
	}
	// "d000-x" sorts after everything below d000 in tree order, not
	// between its entries as it would by bytes.
	in = append(in[:10], append([]tree.Entry{file("d000-x", 1, 99)}, in[10:]...)...)
	record(t, db, in...)
	r := db.AncestorReader()
	var got []tree.Entry
	for {
		e, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, e)
		if len(got) == ancestorBatch+1 {
			// A write while the reader is between batches.
			record(t, db, file("zz-later", 1, 1))
		}
	}
	if len(got) != len(in)+1 || !reflect.DeepEqual(got[:len(in)], in) || got[len(in)].Path != "zz-later" {
		t.Fatalf("read %d entries, recorded %d (+1 later); first difference shown by: %v", len(got), len(in), firstDiff(got, in))
	}
}

func firstDiff(a, b []tree.Entry) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return fmt.Sprintf("at %d: %+v vs %+v", i, a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}

// TestAncestorOf looks paths up one by one: recorded, unknown and invalid.
func TestAncestorOf(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "a.db"), nil)
	record(t, db, dir("d"), file("d/f", 10, 0xabc))
	got, err := db.AncestorOf([]string{"d/f", "d/none", "../x", "d"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tree.Entry{
		"d/f": file("d/f", 10, 0xabc), "d": dir("d"),
		"d/none": {Path: "d/none"}, "../x": {Path: "../x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

package endpoint

import (
	"fmt"
	"testing"
)

// TestKindsRoundTrip: every kind's sentinel, even wrapped, maps back to
// that kind, and nothing else maps to any kind.
func TestKindsRoundTrip(t *testing.T) {
	for _, k := range kinds {
		if got := KindOf(fmt.Errorf("context: %w", k.kind.Err())); got != k.kind {
			t.Errorf("KindOf(wrapped %v) = %d, want %d", k.err, got, k.kind)
		}
	}
	if KindOf(fmt.Errorf("something else")) != KindOther || KindOf(nil) != KindOther || KindOther.Err() != nil || Kind(200).Err() != nil {
		t.Error("an error of no kind, or an unknown kind, was given one")
	}
}

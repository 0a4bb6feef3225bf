package server

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/ferry-sync/ferry/transport/wire"
)

// TestRegisterDrawsAgainOnAClash: session ids are four bytes, so two live
// sessions can draw the same one; the second must get another id, never
// share (and so steal) the first one's packets.
func TestRegisterDrawsAgainOnAClash(t *testing.T) {
	m := &udpMux{log: slog.New(slog.DiscardHandler), sessions: map[wire.SessionID]*sessionConn{}}
	draws := [][]byte{{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}, {2, 2, 2, 2}}
	random := func(b []byte) (int, error) {
		if len(draws) == 0 {
			return 0, errors.New("out of draws")
		}
		n := copy(b, draws[0])
		draws = draws[1:]
		return n, nil
	}
	first, err := m.register(random)
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.register(random)
	if err != nil {
		t.Fatal(err)
	}
	if first.id == second.id || second.id != (wire.SessionID{2, 2, 2, 2}) {
		t.Fatalf("ids %x and %x: the clash was not drawn again", first.id, second.id)
	}
	if m.sessions[first.id] != first || m.sessions[second.id] != second {
		t.Fatalf("registry does not route each id to its own session")
	}
	// Nothing but clashes: a clear error, not a shared id.
	same := func(b []byte) (int, error) { return copy(b, []byte{1, 1, 1, 1}), nil }
	if _, err := m.register(same); err == nil {
		t.Fatalf("register with only clashing ids succeeded")
	}
	if len(m.sessions) != 2 {
		t.Fatalf("%d sessions registered, want 2", len(m.sessions))
	}
}

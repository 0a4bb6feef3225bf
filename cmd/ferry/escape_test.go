package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/syncer"
)

// hiddenName reads "invoiceexe.txt" on a terminal that obeys the
// right-to-left override, and hides two zero-width characters.
const hiddenName = "invoice\u202etxt.exe\u200b\u2066"

func checkEscaped(t *testing.T, what, out string) {
	t.Helper()
	if strings.ContainsAny(out, "\u202e\u200b\u2066") {
		t.Errorf("%s prints a raw format character: %q", what, out)
	}
	if !strings.Contains(out, `invoice\u202etxt.exe\u200b\u2066`) {
		t.Errorf("%s does not show the name escaped: %q", what, out)
	}
}

// TestTerminalEscapesFormatCharacters: bidi controls and zero-width
// characters in names reached the terminal raw, so a name could read as
// another. Every place the CLI shows a name escapes them.
func TestTerminalEscapesFormatCharacters(t *testing.T) {
	ctx := context.Background()
	t.Run("conflicts", func(t *testing.T) {
		cfg, local, remote := jobFixture(t, "    direction: two-way\n    conflicts: manual\n")
		write(t, filepath.Join(local, hiddenName), "mine")
		write(t, filepath.Join(remote, hiddenName), "theirs")
		if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		_, out, _ := runCLI(t, ctx, "conflicts", "--config", cfg, "j")
		checkEscaped(t, "ferry conflicts", out)
	})
	t.Run("progress", func(t *testing.T) {
		var out syncBuffer
		p := newProgressPrinter(&out, false)
		p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: hiddenName, FileDone: true, FilesDone: 1, FilesTotal: 1})
		checkEscaped(t, "the progress line", out.String())
	})
	t.Run("errors", func(t *testing.T) {
		var b bytes.Buffer
		if code := report(&b, "sync", errors.New("unable to open "+hiddenName+": permission denied")); code != exitError {
			t.Fatalf("exit %d", code)
		}
		checkEscaped(t, "an error", b.String())
	})
}

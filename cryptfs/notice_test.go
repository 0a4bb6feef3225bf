package cryptfs

import (
	"context"
	"testing"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/tree"
)

// TestPlainNoticeTranslatesStates: a watch's notice of cipher paths and
// states becomes plaintext: names decrypted (the key header and names
// that do not decrypt left out), a path gone as absent, a file written here with its plaintext
// size, a link with its target, and a file whose ciphertext is not the
// one written here with a Problem, so it is taken for a change.
func TestPlainNoticeTranslatesStates(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, c := newFS(t, root, "pw", Options{})
	if err := f.Mkdir(ctx, "d", 0o755); err != nil {
		t.Fatal(err)
	}
	meta := put(t, f, "d/a.txt", "hello, world")
	if err := f.Symlink(ctx, "l", "d/a.txt", tree.Entry{Path: "l"}); err != nil {
		t.Fatal(err)
	}
	k, err := f.unlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cipherOf := func(p string) tree.Entry {
		cp, err := k.EncryptPath(p)
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.Stat(ctx, cp)
		if err != nil {
			t.Fatal(err)
		}
		e.Hash, e.Ino = 0, 0
		return e
	}
	file, link, dir := cipherOf("d/a.txt"), cipherOf("l"), cipherOf("d")
	edited := file
	edited.Size++
	gone, err := k.EncryptPath("gone.txt")
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{crypt.HeaderName, dir.Path, file.Path, link.Path, "not-a-cipher-name", gone}
	states := []tree.Entry{{}, dir, file, link, {}, {}}
	gotPaths, got := f.PlainNotice(ctx, paths, states)
	want := []tree.Entry{
		{Path: "d", Kind: tree.Dir, Mode: dir.Mode, Mtime: dir.Mtime},
		{Path: "d/a.txt", Kind: tree.File, Size: meta.Size, Mode: meta.Mode, Mtime: meta.Mtime},
		{Path: "l", Kind: tree.Symlink, Target: "d/a.txt", Mode: link.Mode, Mtime: link.Mtime},
		{Path: "gone.txt"},
	}
	if len(gotPaths) != len(want) || len(got) != len(want) {
		t.Fatalf("PlainNotice gave %q %+v, want %+v", gotPaths, got, want)
	}
	for i := range want {
		if gotPaths[i] != want[i].Path || got[i] != want[i] {
			t.Errorf("entry %d: %q %+v, want %+v", i, gotPaths[i], got[i], want[i])
		}
	}
	if _, got := f.PlainNotice(ctx, []string{edited.Path}, []tree.Entry{edited}); len(got) != 1 || got[0].Problem == "" {
		t.Errorf("a ciphertext of another size: %+v, want a Problem", got)
	}
	if ps, st := f.PlainNotice(ctx, []string{file.Path}, nil); len(ps) != 1 || ps[0] != "d/a.txt" || st != nil {
		t.Errorf("a notice without states: %q %+v, want the path and no states", ps, st)
	}
}

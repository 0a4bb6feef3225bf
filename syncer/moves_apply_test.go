package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// racingRenamer edits the source of the first rename on its side just
// before renaming it, as a user could between the scan and the apply.
type racingRenamer struct {
	endpoint.Endpoint
	root    string
	renames int
}

func (r *racingRenamer) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	r.renames++
	if err := os.WriteFile(filepath.Join(r.root, filepath.FromSlash(from)), []byte("edited during the pass"), 0o644); err != nil {
		return err
	}
	return r.Endpoint.Rename(ctx, from, to, expect)
}

// TestRenameOfChangedSourceSendsTheFile: when the file a rename would move
// changed since the scan (P4), the rename is refused and the new name is
// sent instead; the edited file stays, and the next pass keeps it.
func TestRenameOfChangedSourceSendsTheFile(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "a.txt", "original content")
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "a.txt"), filepath.Join(e.root("local"), "b.txt")); err != nil {
		t.Fatal(err)
	}
	rr := &racingRenamer{root: e.root("remote")}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		rr.Endpoint = r
		return l, rr
	}
	rec := e.mustPass()
	if rr.renames != 1 {
		t.Fatalf("%d renames tried, want 1", rr.renames)
	}
	if rec.Renamed != 0 || rec.Created != 1 || rec.Bytes != int64(len("original content")) {
		t.Errorf("pass %s: want the file sent, not renamed", summary(rec))
	}
	if got, _ := e.read("remote", "b.txt"); got != "original content" {
		t.Errorf("remote b.txt = %q", got)
	}
	if got, _ := e.read("remote", "a.txt"); got != "edited during the pass" {
		t.Errorf("remote a.txt = %q: the edit made during the pass was lost", got)
	}
	e.wrap = nil
	e.mustPass()
	if got, _ := e.read("local", "a.txt"); got != "edited during the pass" {
		t.Errorf("local a.txt = %q: the next pass should bring the edit back", got)
	}
}

// TestMovingABigFolderDoesNotTripMaxDelete: a move is not a deletion, so
// renaming a folder of 100 files (the whole job) passes the default
// max_delete of 50% and is one rename on the other side.
func TestMovingABigFolderDoesNotTripMaxDelete(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.job.MaxDelete = config.Limit{} // the default, 50%
	for i := range 100 {
		e.write("local", filepath.Join("photos", fmt.Sprintf("%03d.jpg", i)), fmt.Sprintf("picture %d", i))
	}
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "photos"), filepath.Join(e.root("local"), "photos-2025")); err != nil {
		t.Fatal(err)
	}
	rec, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatalf("pass: %v (%s)", err, summary(rec))
	}
	if rec.Renamed != 1 || rec.Deleted != 0 || rec.Bytes != 0 || rec.InSync != 990 {
		t.Errorf("pass %s: want one rename, nothing deleted or sent", summary(rec))
	}
	if got, _ := e.read("remote", "photos-2025/099.jpg"); got != "picture 99" {
		t.Errorf("remote photos-2025/099.jpg = %q", got)
	}
	if _, ok := e.read("remote", "photos/000.jpg"); ok {
		t.Errorf("remote photos/000.jpg still there")
	}
	if rec := e.mustPass(); rec.Created+rec.Updated+rec.Deleted+rec.Renamed != 0 {
		t.Errorf("the move was not recorded: next pass %s", summary(rec))
	}
}

// squatter creates the destination of the first rename just before it, as
// another program could between the scan and the apply.
type squatter struct {
	endpoint.Endpoint
	root string
	done bool
}

func (s *squatter) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	if !s.done {
		s.done = true
		if err := os.Mkdir(filepath.Join(s.root, filepath.FromSlash(to)), 0o755); err != nil {
			return err
		}
	}
	return s.Endpoint.Rename(ctx, from, to, expect)
}

// TestRefusedDirectoryMoveLosesNothing: a directory move whose destination
// got taken is refused (ErrExists); the old directory stays whole, and the
// next pass moves its files into the taken directory one by one.
func TestRefusedDirectoryMoveLosesNothing(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "d/a.txt", "alpha")
	e.write("local", "d/b.txt", "beta")
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "d"), filepath.Join(e.root("local"), "n")); err != nil {
		t.Fatal(err)
	}
	sq := &squatter{root: e.root("remote")}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		sq.Endpoint = r
		return l, sq
	}
	rec := e.mustPass()
	if rec.Renamed != 0 || rec.Skipped != 1 {
		t.Errorf("pass %s: want the refused move skipped", summary(rec))
	}
	for _, p := range []string{"d/a.txt", "d/b.txt"} {
		if _, ok := e.read("remote", p); !ok {
			t.Errorf("remote %s gone after a refused move", p)
		}
	}
	e.wrap = nil
	rec = e.mustPass()
	if rec.Renamed != 2 || rec.Bytes != 0 {
		t.Errorf("next pass %s: want the two files renamed into the taken directory", summary(rec))
	}
	if got, _ := e.read("remote", "n/b.txt"); got != "beta" {
		t.Errorf("remote n/b.txt = %q", got)
	}
	if _, ok := e.read("remote", "d/a.txt"); ok {
		t.Errorf("remote d/a.txt still there")
	}
}

// metaRefuser fails every SetMeta.
type metaRefuser struct{ endpoint.Endpoint }

func (metaRefuser) SetMeta(ctx context.Context, p string, mode fs.FileMode, mtime int64) error {
	return errors.New("operation not permitted")
}

// TestRenameWhoseMetadataFailsIsKept: a rename that happened is recorded
// even when its new mtime cannot be set, with the mtime the file kept, so
// the next pass sets it instead of sending the file or losing the rename.
func TestRenameWhoseMetadataFailsIsKept(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "a.txt", "some content")
	e.mustPass()
	from, to := filepath.Join(e.root("local"), "a.txt"), filepath.Join(e.root("local"), "b.txt")
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	later := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(to, later, later); err != nil {
		t.Fatal(err)
	}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) { return l, metaRefuser{r} }
	if rec := e.mustPass(); rec.Renamed != 1 || rec.Bytes != 0 {
		t.Errorf("pass %s: want the rename made", summary(rec))
	}
	e.wrap = nil
	if rec := e.mustPass(); rec.Updated != 1 || rec.Bytes != 0 || rec.Created != 0 {
		t.Errorf("next pass %s: want only the mtime set", summary(rec))
	}
	fi, err := os.Stat(filepath.Join(e.root("remote"), "b.txt"))
	if err != nil || !fi.ModTime().Equal(later) {
		t.Fatalf("remote b.txt: %v, mtime %v, want %v", err, fi.ModTime(), later)
	}
}

// racingDeleter deletes one file below the source of the first rename on
// its side just before renaming it, as a user could between the scan and
// the apply.
type racingDeleter struct {
	endpoint.Endpoint
	root, victim string
	done         bool
}

func (r *racingDeleter) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	if !r.done {
		r.done = true
		if err := os.Remove(filepath.Join(r.root, filepath.FromSlash(r.victim))); err != nil {
			return err
		}
	}
	return r.Endpoint.Rename(ctx, from, to, expect)
}

// TestDirectoryMoveDoesNotRecordWhatItDidNotMove: a file deleted on the
// receiving side under the old name while the pass runs is not moved by the
// directory rename; the pass must not record it as synced under the new
// name, or the next pass takes it for deleted there and deletes the file
// the other side just moved.
func TestDirectoryMoveDoesNotRecordWhatItDidNotMove(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "d/a.txt", "alpha")
	e.write("local", "d/b.txt", "beta")
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "d"), filepath.Join(e.root("local"), "n")); err != nil {
		t.Fatal(err)
	}
	rd := &racingDeleter{root: e.root("remote"), victim: "d/a.txt"}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		rd.Endpoint = r
		return l, rd
	}
	if rec := e.mustPass(); rec.Renamed != 1 {
		t.Errorf("pass %s: want the directory renamed", summary(rec))
	}
	e.wrap = nil
	rec, err := e.pass(context.Background(), false)
	if err != nil {
		t.Fatalf("next pass: %v (%s)", err, summary(rec))
	}
	if got, ok := e.read("local", "n/a.txt"); !ok || got != "alpha" {
		t.Errorf("local n/a.txt = %q, %v after %s: the file the local side moved was deleted", got, ok, summary(rec))
	}
	if got, ok := e.read("remote", "n/a.txt"); !ok || got != "alpha" {
		t.Errorf("remote n/a.txt = %q, %v after %s", got, ok, summary(rec))
	}
	if got, _ := e.read("remote", "n/b.txt"); got != "beta" {
		t.Errorf("remote n/b.txt = %q", got)
	}
}

// TestFileReplacedByFolderHoldingItSyncs: a file x moved into a new folder
// named x (x/inner, same content) cannot be a rename of x on the other
// side, since the folder x must be made where the file still is. Taken for
// one, the folder was refused and the rename blocked behind it, pass after
// pass.
func TestFileReplacedByFolderHoldingItSyncs(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "x", "the content of x")
	e.mustPass()
	l := e.root("local")
	if err := os.Rename(filepath.Join(l, "x"), filepath.Join(l, "tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(l, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(l, "tmp"), filepath.Join(l, "x", "inner")); err != nil {
		t.Fatal(err)
	}
	rec := e.mustPass()
	if rec.Skipped != 0 {
		t.Errorf("pass %s: want nothing skipped", summary(rec))
	}
	if got, _ := e.read("remote", "x/inner"); got != "the content of x" {
		t.Errorf("remote x/inner = %q after %s", got, summary(rec))
	}
}

// colliding stands for a side whose files collide in size and xxhash with
// files of other content: its strong digests never match the other side's.
type colliding struct{ endpoint.Endpoint }

func (colliding) Digests(_ context.Context, files []tree.Entry) ([]chunk.Digest, error) {
	out := make([]chunk.Digest, len(files))
	for i := range out {
		out[i][0] = 0xee
	}
	return out, nil
}

// TestRenameAndCopyNeedStrongDigests: a rename or a local copy matched by
// size and xxhash goes ahead only when the strong digests agree; when they
// differ (an xxhash collision), the file is sent instead and the receiver
// ends with the sender's bytes.
func TestRenameAndCopyNeedStrongDigests(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	e.write("local", "a.txt", "same size and hash")
	e.write("local", "keep.txt", "kept and copied")
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "a.txt"), filepath.Join(e.root("local"), "b.txt")); err != nil {
		t.Fatal(err)
	}
	e.write("local", "copy.txt", "kept and copied")
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) { return l, colliding{r} }
	rec := e.mustPass()
	if rec.Renamed != 0 || rec.Copied != 0 || rec.Created != 2 {
		t.Fatalf("pass %s: want both files sent, neither renamed nor copied", summary(rec))
	}
	for p, want := range map[string]string{"b.txt": "same size and hash", "copy.txt": "kept and copied"} {
		if got, _ := e.read("remote", p); got != want {
			t.Errorf("remote %s = %q, want %q", p, got, want)
		}
	}
	// Without the collision the same plan reuses what the side holds.
	e.wrap = nil
	if err := os.Rename(filepath.Join(e.root("local"), "b.txt"), filepath.Join(e.root("local"), "c.txt")); err != nil {
		t.Fatal(err)
	}
	if rec := e.mustPass(); rec.Renamed != 1 || rec.Bytes != 0 {
		t.Fatalf("pass %s: want a rename and nothing sent", summary(rec))
	}
}

// pathBound is a side whose files are bound to their paths
// (endpoint.Caps): any rename or copy asked of it is counted.
type pathBound struct {
	endpoint.Endpoint
	renames, copies int
}

func (p *pathBound) Caps() endpoint.Caps { return endpoint.Caps{PathBound: true} }

func (p *pathBound) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	p.renames++
	return p.Endpoint.Rename(ctx, from, to, expect)
}

func (p *pathBound) CopyFile(ctx context.Context, from string, fromExpect, meta, expect tree.Entry) error {
	p.copies++
	return p.Endpoint.CopyFile(ctx, from, fromExpect, meta, expect)
}

// TestPathBoundSideRenamesNothing: on a path-bound side (an encrypted
// remote), a renamed file, a moved folder and a copy are sent under their
// new paths and the old ones removed after, with no rename or copy asked
// of it, and the next pass has nothing to do.
func TestPathBoundSideRenamesNothing(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "a.txt", "content of a")
	for i := range 3 {
		e.write("local", filepath.Join("photos", fmt.Sprintf("%d.jpg", i)), fmt.Sprintf("picture %d", i))
	}
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "a.txt"), filepath.Join(e.root("local"), "b.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.root("local"), "photos"), filepath.Join(e.root("local"), "pictures")); err != nil {
		t.Fatal(err)
	}
	e.write("local", "copy.txt", "picture 1")
	pb := &pathBound{}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		pb.Endpoint = r
		return l, pb
	}
	e.mustPass()
	if pb.renames != 0 || pb.copies != 0 {
		t.Fatalf("%d renames and %d copies asked of a path-bound side", pb.renames, pb.copies)
	}
	for p, want := range map[string]string{"b.txt": "content of a", "pictures/1.jpg": "picture 1", "copy.txt": "picture 1"} {
		if got, _ := e.read("remote", p); got != want {
			t.Errorf("remote %s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"a.txt", "photos"} {
		if _, err := os.Lstat(filepath.Join(e.root("remote"), p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("remote %s is still there: %v", p, err)
		}
	}
	if rec := e.mustPass(); rec.Created+rec.Updated+rec.Deleted+rec.Renamed != 0 {
		t.Errorf("the next pass still has work: %s", summary(rec))
	}
}

// failingUpload is a path-bound side on which creating one path fails, as
// an upload that breaks off would.
type failingUpload struct {
	pathBound
	fail string
}

var errUploadFailed = errors.New("upload failed")

func (f *failingUpload) CreateFile(ctx context.Context, meta, expect tree.Entry) (endpoint.FileWriter, error) {
	if meta.Path == f.fail {
		return nil, fmt.Errorf("unable to create %q: %w", meta.Path, errUploadFailed)
	}
	return f.pathBound.CreateFile(ctx, meta, expect)
}

// TestPathBoundRenameKeepsOldPathWhenUploadFails: a rename on a path-bound
// side is a transfer of the new path and a removal of the old one. When the
// transfer fails, the old path stays (the side never holds neither), the
// ancestor still holds the old path and not the new one, and the next pass
// finishes the rename without bringing the old path back.
func TestPathBoundRenameKeepsOldPathWhenUploadFails(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.TwoWay
	e.write("local", "dir/a.txt", "content of a")
	e.mustPass()
	if err := os.Rename(filepath.Join(e.root("local"), "dir"), filepath.Join(e.root("local"), "moved")); err != nil {
		t.Fatal(err)
	}
	fu := &failingUpload{fail: "moved/a.txt"}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		fu.Endpoint = r
		return l, fu
	}
	if _, err := e.pass(context.Background(), false); err == nil {
		t.Fatal("the pass succeeded though an upload failed")
	}
	if got, ok := e.read("remote", "dir/a.txt"); !ok || got != "content of a" {
		t.Fatalf("remote dir/a.txt = %q, %v after a failed upload of its new path: want it kept", got, ok)
	}
	anc, err := e.db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, a := range anc {
		held[a.Path] = true
	}
	if !held["dir/a.txt"] || held["moved/a.txt"] {
		t.Fatalf("ancestor holds dir/a.txt %v, moved/a.txt %v: want the rename not recorded", held["dir/a.txt"], held["moved/a.txt"])
	}

	fu.fail = ""
	e.mustPass()
	for side, want := range map[string][]string{
		"local":  {"moved/", `moved/a.txt 0644 "content of a"`},
		"remote": {"moved/", `moved/a.txt 0644 "content of a"`},
	} {
		if got := dump(t, e.root(side)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s after the next pass: %q, want %q", side, got, want)
		}
	}
}

package endpoint

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
)

// Errors an Endpoint returns for conditions the engine acts on. Endpoints wrap
// them with the path and what to do next; callers check with errors.Is.
// A missing path is reported with fs.ErrNotExist.
var (
	// ErrChanged: the path on disk no longer matches what the caller expected
	// (the re-stat before an overwrite, delete or rename failed). The engine
	// skips the path this pass; the next pass rescans it.
	ErrChanged = errors.New("modification detected")
	// ErrExists: the destination of a rename or create is already taken.
	ErrExists = errors.New("destination exists")
	// ErrNotEmpty: a directory to remove still has entries.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrHashMismatch: received content did not hash to the expected value.
	ErrHashMismatch = errors.New("content hash mismatch")
	// ErrNoSpace: a file would not fit in the free space; nothing was written.
	ErrNoSpace = errors.New("not enough free space")
)

// ScanOptions say what a scan leaves out. They cross the wire to a remote
// endpoint, so they are data, not functions.
type ScanOptions struct {
	// Exclude holds gitignore-style patterns: "*.tmp" matches a base name at
	// any depth, "build/" matches directories only, a pattern containing a
	// slash is anchored at the root. See tree.Matcher.
	Exclude []string
	// PartialSuffix names in-flight files to skip (tree.IsTemp).
	PartialSuffix string
	// KeepStale asks a scan that would remove stale partial files it finds
	// to leave them (a dry run changes nothing).
	KeepStale bool
	// Within, when not nil, is a hint that the caller needs only part of
	// the tree (a scoped pass): slash-separated relative paths, each
	// standing for its whole subtree, with the directories above each as
	// context (see tree.NewScope for how they are cleaned; "" or "."
	// means the whole tree). An endpoint that honours it lists each
	// context directory's own entry and each path's subtree, in
	// tree.Compare order; one that ignores it lists everything. Callers
	// filter the listing to the scope themselves, so ignoring it is
	// always correct, only slower.
	Within []string
	// HashLater asks the scan not to read files to hash them: a file
	// whose hash the endpoint does not already know is listed with its
	// lstat (size, mtime, mode, inode) and Hash 0. The engine asks it on
	// a first sync, where a file only one side holds is compared with
	// nothing and its hash is computed as it is copied (HashingReader);
	// it hashes whatever else it must compare by scanning those paths
	// again without it. An endpoint may ignore it and hash as usual: a
	// listed Hash, when not 0, is always the file's.
	HashLater bool
}

// Space is the free and total space of the filesystem holding a root.
type Space struct {
	Free, Total uint64
}

// Folding says which spellings of a name a root's filesystem takes for the
// same entry. The zero value is a filesystem that tells every byte string
// apart (ext4, XFS). Reconcile uses it to refuse to write two names that
// would land on one file.
type Folding struct {
	// Case: names that differ only by case are one entry (macOS, Windows,
	// FAT, casefold ext4).
	Case bool
	// Normalization: canonically equivalent Unicode names, such as the NFC
	// and NFD spellings of "café", are one entry (macOS).
	Normalization bool
}

// Key is the form under which the filesystem takes two names (or paths)
// for the same entry: equal keys, one entry.
func (f Folding) Key(name string) string {
	if f.Normalization {
		name = norm.NFC.String(name)
	}
	if f.Case {
		name = strings.ToLower(name)
	}
	return name
}

// Folds reports whether the filesystem merges any spellings at all.
func (f Folding) Folds() bool { return f.Case || f.Normalization }

// FileReader reads one file's content at offsets.
type FileReader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// HashingReader is a FileReader that hashes what it reads, for a file
// its endpoint listed unhashed (ScanOptions.HashLater). Once the file has
// been read whole, in order from its first byte, Sum checks that the file
// is still what expect says (size, mtime, mode, inode) and did not change
// while it was read (its ctime), and returns the xxhash of the bytes read:
// ErrChanged when the file changed, and then no hash, as the bytes read
// may be torn. The endpoint keeps the hash for its next scan, as if that
// scan had read the file.
type HashingReader interface {
	FileReader
	Sum(expect tree.Entry) (uint64, error)
}

// FileWriter receives one file's content. Content goes to
// NAME+partial_suffix beside the final name; nothing is visible under the
// final name until Commit. A small file (localfs: up to 64 KiB) may
// instead be received whole under a temporary name that nothing resumes:
// Abort then keeps nothing, and the next attempt starts from its first
// byte, which costs less than making it resumable.
type FileWriter interface {
	io.WriterAt
	// Commit fsyncs the partial file, checks its xxhash against the
	// expected entry's Hash (ErrHashMismatch, partial kept for a retry),
	// re-stats the destination against the expected prior state
	// (ErrChanged), renames into place, applies mode and mtime, and fsyncs
	// the directory.
	Commit() error
	// Abort stops writing and leaves the partial file for a later resume
	// (a file received whole: removes its temporary file).
	Abort() error
}

// Endpoint is one side of a job: a folder on this machine (localfs), or a
// folder behind `ferry serve` (transport). Every path is relative, validated
// with tree.ValidPath, and confined to the endpoint's root; a symlink is never
// followed when writing. Both implementations pass endpointtest.Run.
type Endpoint interface {
	// Scan calls visit for every entry below the root in tree.Compare order,
	// with Hash filled for files (reusing a cache for unchanged ones).
	// A path that cannot be read is visited with Problem set, never
	// omitted. Scan does not descend into symlinks.
	Scan(ctx context.Context, opts ScanOptions, visit func(tree.Entry) error) error
	// Stat lstats one path without hashing (Hash is 0). A missing path
	// gives an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, path string) (tree.Entry, error)
	// Mkdir creates a directory whose parent exists. An existing directory
	// is not an error.
	Mkdir(ctx context.Context, path string, mode fs.FileMode) error
	// Symlink creates a link to target at path, replacing expect (pass an
	// entry with Kind Absent for a new link). ErrChanged if the path does not
	// match expect.
	Symlink(ctx context.Context, path, target string, expect tree.Entry) error
	// Remove deletes a file, symlink or empty directory after checking it
	// against expect with tree.Entry.SameStat (ErrChanged). A non-empty
	// directory gives ErrNotEmpty.
	Remove(ctx context.Context, path string, expect tree.Entry) error
	// Rename moves from to to, after checking from against expect. It never
	// overwrites: ErrExists if to is taken.
	Rename(ctx context.Context, from, to string, expect tree.Entry) error
	// SetMeta sets permission bits and mtime (ns) without following links.
	SetMeta(ctx context.Context, path string, mode fs.FileMode, mtime int64) error
	// OpenFile opens a regular file for reading.
	OpenFile(ctx context.Context, path string) (FileReader, error)
	// CreateFile starts writing meta.Path (its Size, Mode, Mtime and Hash
	// are what Commit applies and checks). expect is the destination's
	// current state (Kind Absent for a new file), re-checked at Commit.
	// A file that would not fit gives ErrNoSpace before anything is written.
	CreateFile(ctx context.Context, meta tree.Entry, expect tree.Entry) (FileWriter, error)
	// CopyFile makes meta.Path (Kind File; Size, Mode, Mtime and Hash as
	// for CreateFile) a copy of from, a file under the same root, without
	// the content crossing any link: a reflink where the filesystem has
	// them, else an in-kernel copy. from is checked against fromExpect
	// first (ErrChanged); the copy goes through a partial file whose hash
	// is checked against meta.Hash (ErrHashMismatch) and whose destination
	// is re-checked against expect at commit (ErrChanged), as CreateFile.
	CopyFile(ctx context.Context, from string, fromExpect, meta, expect tree.Entry) error
	// Chunks returns the chunk list (package delta/chunk) of the file at
	// path, which must still be what expect says: same size, and same
	// xxhash when expect.Hash is set (ErrChanged otherwise). A file under
	// chunk.MinFileSize has an empty list (Total set, no chunks). A
	// receiver builds the new version of a file from the chunks its
	// current version shares with this list, so only the rest is sent.
	Chunks(ctx context.Context, path string, expect tree.Entry) (chunk.List, error)
	// Digests returns a strong digest of each file's content, in order:
	// equal digests mean equal content, against a hostile peer too. A file
	// under chunk.MinFileSize is digested as the SHA-256 of its bytes, a
	// bigger one as chunk.ListDigest of its chunk list (whose chunks are
	// named by SHA-256), so a file with a stored list is not read. A file
	// that is no longer as its entry says (size, xxhash) gets the zero
	// Digest.
	Digests(ctx context.Context, files []tree.Entry) ([]chunk.Digest, error)
	// FreeSpace reports space on the root's filesystem.
	FreeSpace(ctx context.Context) (Space, error)
	// Folding reports whether the root's filesystem folds case and
	// Unicode normalisation. It learns this once, by creating a ferry
	// temporary file (tree.IsTemp) under one spelling, looking it up under
	// another and removing it, and answers from memory after that.
	Folding(ctx context.Context) (Folding, error)
	// Caps says how the engine must treat the endpoint's files; it is
	// known without I/O and does not change.
	Caps() Caps
	Close() error
}

// Caps are what an endpoint's storage asks of the engine beyond the
// methods every endpoint has. The zero value is a folder that takes
// every operation.
type Caps struct {
	// PathBound: files are bound to their paths (an encrypted remote: a
	// file's content is authenticated with its path). The engine neither
	// renames nor copies files on such an endpoint: it sends the file
	// under its new name, which the receiver may build from the chunks of
	// the old one, and removes the old one after.
	PathBound bool
}

// Transfer is one file to move between endpoints.
type Transfer struct {
	// Source is the file as the scan saw it on the sending side; its Hash
	// is checked by the receiver before the rename.
	Source tree.Entry
	// Expect is the destination's current state (Kind Absent if new).
	Expect tree.Entry
}

// Progress is told how many more bytes of a path are in place. reused
// says they did not cross the link: the receiver already held them (the
// chunks a block delta took from the current version, or a resumed
// partial) and only had them verified.
type Progress func(path string, delta int64, reused bool)

// Batch is the one optional capability of an endpoint: moving many files
// in one session (the remote endpoint, over a UDP data session or its SSH
// stream). The engine uses it in place of file-by-file copies: Upload when
// the destination has it, else Download when the source has it. Each
// returns one error (or nil) per item, in order. An Upload that hashes as
// it sends (the remote endpoint) takes a Source scanned unhashed (Hash 0,
// ScanOptions.HashLater) from a src whose reader is a HashingReader, and
// writes into items[i].Source.Hash the hash it sent the file with, which
// the receiver verified, for each item that succeeded; an Upload that
// does not leaves it 0, and the engine then counts the item failed.
//
// Prepare negotiates the session for a batch ahead (download: this endpoint
// sends), so the setup overlaps the pass's other work; Upload or Download
// use what was prepared if it still fits. It must not block; release frees
// whatever went unused.
type Batch interface {
	Upload(ctx context.Context, items []Transfer, src Endpoint, progress Progress) []error
	Download(ctx context.Context, items []Transfer, dst Endpoint, progress Progress) []error
	Prepare(ctx context.Context, items []Transfer, download bool) (release func())
}

// Resumable is implemented by FileWriters that continue a partial file
// left by an earlier attempt: ExistingSize is how many bytes of it they
// hold when opened.
type Resumable interface {
	ExistingSize() int64
}

// Checkpointer is a Resumable writer that keeps a checkpoint beside its
// partial file saying what its bytes are (a content key, or the ranges
// written), so that a later attempt knows whether to trust them. localfs's
// writer is one.
type Checkpointer interface {
	Resumable
	SaveCheckpoint(data []byte) error
	LoadCheckpoint() ([]byte, error)
}

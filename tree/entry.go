package tree

import (
	"io/fs"
	"strings"
)

// Kind is what a path is. Absent is the zero value so that a missing entry
// needs no special case.
type Kind uint8

const (
	Absent Kind = iota
	File
	Dir
	Symlink
)

func (k Kind) String() string {
	switch k {
	case Absent:
		return "absent"
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return "unknown"
}

// Entry is the state of one path on one side, or the state both sides last
// agreed on (the ancestor).
type Entry struct {
	// Path is slash-separated and relative to the root, never empty.
	Path string
	Kind Kind
	// Mode holds the permission bits only (fs.ModePerm). Beside Kind, the
	// two fill one word: an entry is held per path, often by the million.
	Mode fs.FileMode
	// Size in bytes, files only.
	Size int64
	// Mtime is the modification time in nanoseconds since the Unix epoch.
	Mtime int64
	// Hash is the xxhash64 of a file's content. Zero means "not hashed".
	Hash uint64
	// Target is a symlink's target, verbatim.
	Target string
	// Ino is the inode number on the side that was scanned; 0 when unknown.
	// It is side-local and never part of content comparison.
	Ino uint64
	// Problem, when not empty, says why this path could not be read
	// (permission denied, I/O error, changed while hashing). Such an entry's
	// other fields are unreliable: reconcile must neither delete nor
	// overwrite it, nor anything below it.
	Problem string
}

// Exists reports whether the entry describes something on disk.
func (e Entry) Exists() bool { return e.Kind != Absent }

// SameContent reports whether a and b hold the same content: same kind, and
// for files the same size and hash, for symlinks the same target. Mtime and
// mode are metadata, compared by SameMeta.
func (a Entry) SameContent(b Entry) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case File:
		return a.Size == b.Size && a.Hash == b.Hash
	case Symlink:
		return a.Target == b.Target
	}
	return true
}

// SameMeta reports whether mode bits agree (and, for files, mtime).
func (a Entry) SameMeta(b Entry) bool {
	if a.Mode.Perm() != b.Mode.Perm() {
		return false
	}
	if a.Kind == File && a.Mtime != b.Mtime {
		return false
	}
	return true
}

// SameStat reports whether two lstat results of the same path describe an
// unchanged file: kind, size, mtime, mode and (when both are known) inode.
// It is the check made before every overwrite, delete or rename.
func (a Entry) SameStat(b Entry) bool {
	if a.Kind != b.Kind || a.Size != b.Size || a.Mode.Perm() != b.Mode.Perm() {
		return false
	}
	if a.Kind != Dir && a.Mtime != b.Mtime {
		return false
	}
	if a.Kind == Symlink && a.Target != b.Target {
		return false
	}
	if a.Ino != 0 && b.Ino != 0 && a.Ino != b.Ino {
		return false
	}
	return true
}

// Base returns the last element of a path.
func Base(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Parent returns the parent of a path, or "" for a top-level path.
func Parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// IsBelow reports whether p lies strictly inside dir.
func IsBelow(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

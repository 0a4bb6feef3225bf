package localfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// syncfs serves rounds only on the local disk filesystems: elsewhere (FUSE,
// network and pseudo filesystems) it may return without syncing what an
// fsync of each file would have, so rounds fsync each file there.
func TestSyncfsOnlyOnKnownFilesystems(t *testing.T) {
	for _, c := range []struct {
		path string
		want bool
	}{{"/proc", false}, {"/sys", false}} {
		d, err := os.Open(c.path)
		if err != nil {
			t.Skipf("%s: %v", c.path, err)
		}
		if got := syncfsKnown(d); got != c.want {
			t.Errorf("%s: syncfs trusted %v, want %v", c.path, got, c.want)
		}
		d.Close()
	}
	root := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, root, Options{})
	defer f.Close()
	if st.Type == unix.EXT4_SUPER_MAGIC && f.dirs.files.syncfs == nil {
		t.Errorf("a folder on ext4 does not use syncfs")
	}
	if st.Type == unix.TMPFS_MAGIC && f.dirs.files.syncfs != nil {
		t.Errorf("a folder on tmpfs uses syncfs")
	}
}

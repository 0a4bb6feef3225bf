//go:build darwin

package localfs

import (
	"fmt"
	"os"

	"github.com/ferry-sync/ferry/endpoint"
	"golang.org/x/sys/unix"
)

func statfs(d *os.File) (endpoint.Space, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return endpoint.Space{}, fmt.Errorf("statfs: %w", err)
	}
	return endpoint.Space{
		Free:  st.Bavail * uint64(st.Bsize),
		Total: st.Blocks * uint64(st.Bsize),
	}, nil
}

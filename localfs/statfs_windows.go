//go:build windows

package localfs

import (
	"fmt"
	"os"

	"github.com/ferry-sync/ferry/endpoint"
	"golang.org/x/sys/windows"
)

// statfs asks for the space of the volume holding d by its path: Windows
// has no call for it by handle.
func statfs(d *os.File) (endpoint.Space, error) {
	name, err := windows.UTF16PtrFromString(d.Name())
	if err != nil {
		return endpoint.Space{}, fmt.Errorf("GetDiskFreeSpaceEx: %w", err)
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(name, &avail, &total, &free); err != nil {
		return endpoint.Space{}, fmt.Errorf("GetDiskFreeSpaceEx %s: %w", d.Name(), err)
	}
	return endpoint.Space{Free: avail, Total: total}, nil
}

//go:build !linux && !darwin && !windows

package localfs

import (
	"errors"
	"os"

	"github.com/ferry-sync/ferry/endpoint"
)

func statfs(d *os.File) (endpoint.Space, error) {
	return endpoint.Space{}, errors.ErrUnsupported
}

package offline

import (
	"io/fs"
	"time"
)

// fakeInfo gives writeFile a mode and the current time for a file that has
// no source (the key header).
type fakeInfo struct{ perm fs.FileMode }

var _ fs.FileInfo = fakeInfo{}

func (f fakeInfo) Name() string       { return "" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.perm }
func (f fakeInfo) ModTime() time.Time { return time.Now() }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

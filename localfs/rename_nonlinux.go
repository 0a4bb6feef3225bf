//go:build !linux

package localfs

// checkedRename is renameNoReplace where there is no rename by descriptor
// that refuses an existing destination (see checkedRenameInFolder).
func checkedRename(from dir, fromName string, to dir, toName string) error {
	return checkedRenameInFolder(from, fromName, to, toName)
}

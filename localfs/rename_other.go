//go:build !linux && !darwin

package localfs

// renameNoReplace checks, then renames (see checkedRenameInFolder): Windows
// has no rename that refuses an existing destination by descriptor.
func renameNoReplace(from dir, fromName string, to dir, toName string) error {
	return checkedRenameInFolder(from, fromName, to, toName)
}

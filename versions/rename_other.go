//go:build unix && !linux

package versions

import "os"

func renameNoReplace(from *os.File, fromName string, to *os.File, toName string) error {
	return checkedRename(from, fromName, to, toName)
}

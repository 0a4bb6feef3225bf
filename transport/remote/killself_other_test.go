//go:build !unix

package remote_test

import "os"

// killSelf ends this process at once (TerminateProcess on Windows), as a
// crash would. The crash tests' check that the process died of SIGKILL
// is Unix-only; elsewhere they fail there rather than pass vacuously.
func killSelf() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Kill()
	}
}

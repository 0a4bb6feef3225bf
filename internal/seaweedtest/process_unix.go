//go:build unix

package seaweedtest

import (
	"os/exec"
	"syscall"
)

// setGroup starts cmd in a process group of its own, so that killing the
// group kills anything weed started too.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

//go:build !unix

package seaweedtest

import "os/exec"

func setGroup(cmd *exec.Cmd) {}

func killGroup(cmd *exec.Cmd) {
	cmd.Process.Kill()
}

package seaweedtest

import (
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// killTimeout bounds the wait for a killed weed to exit.
const killTimeout = 30 * time.Second

// process is a started weed and everything it started (its process group
// where the platform has one).
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // how it exited; read after exited is closed

	mu    sync.Mutex
	after []func()
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
		p.mu.Lock()
		after := p.after
		p.mu.Unlock()
		for _, f := range after {
			f()
		}
	}()
	return p, nil
}

// onExit runs f once the process has exited (and been waited for).
func (p *process) onExit(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.exited:
		go f()
	default:
		p.after = append(p.after, f)
	}
}

// kill kills the process group and waits, at most killTimeout, for the
// process to exit.
func (p *process) kill() error {
	killGroup(p.cmd)
	select {
	case <-p.exited:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("weed (pid %d) did not exit within %v of SIGKILL", p.cmd.Process.Pid, killTimeout)
	}
}

// Command ferry keeps a local folder and a remote folder in step: as a
// one-shot `ferry sync`, as a service with `ferry run`, and serves remote
// folders with `ferry serve`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/syncer"
)

// Exit codes, as documented in the README.
const (
	exitOK     = 0
	exitError  = 1
	exitConfig = 2
	exitHalted = 3
)

// command is one subcommand. Each is built by its own constructor so that
// flags live in the FlagSet, never in package variables; cli.go turns the
// list into a cobra command tree.
type command struct {
	name    string
	summary string
	usage   string
	flags   *pflag.FlagSet
	run     func(ctx context.Context, env *env, args []string) error
	// jobArg: the first argument is a JOB, which shell completion offers
	// from the jobs file.
	jobArg bool
}

// env is what every command may touch: its output streams and the clock
// that bandwidth schedules follow. Tests swap them.
type env struct {
	stdout, stderr io.Writer
	isTTY          bool
	clock          agent.Clock // nil: the wall clock
}

func commands() []*command {
	return []*command{
		newSyncCommand(),
		newRunCommand(),
		newServeCommand(),
		newStatusCommand(),
		newMonitorCommand(),
		newConflictsCommand(),
		newResolveCommand(),
		newResetSyncCommand(),
		newVersionsCommand(),
		newRestoreCommand(),
		newEncryptCommand(),
		newDecryptCommand(),
		newControlCommand("stop", "stop a job's syncing until `ferry resume`"),
		newControlCommand("resume", "resume a stopped job"),
		newControlCommand("sync-now", "start a pass of a job now"),
		newInstallServiceCommand(),
		newDemoCommand(),
		newVersionCommand(),
	}
}

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, isTTY: isTerminal(os.Stdout)}
	prof := startProfiles(os.Getenv, os.Stderr)
	code := run(ctx, e, os.Args[1:])
	prof.stop()
	os.Exit(code)
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func report(w io.Writer, name string, err error) int {
	if err == nil {
		return exitOK
	}
	// Errors name paths: shown escaped, as everywhere else.
	w = render.CleanWriter{W: w}
	var cfgErr *config.Error
	var uErr usageError
	switch {
	case errors.As(err, &uErr):
		fmt.Fprintf(w, "ferry %s: %v\n", name, err)
		return exitConfig
	case errors.As(err, &cfgErr):
		fmt.Fprintf(w, "ferry %s: invalid configuration:\n%v\n", name, err)
		return exitConfig
	case errors.Is(err, syncer.ErrHalted):
		var h *syncer.HaltError
		if errors.As(err, &h) {
			fmt.Fprintf(w, "ferry %s: %s", name, render.HaltNote(h.Job, h.Reason(), h.Fix()))
		} else {
			fmt.Fprintf(w, "ferry %s: %v\n", name, err)
		}
		return exitHalted
	case errors.Is(err, context.Canceled):
		return exitOK
	}
	fmt.Fprintf(w, "ferry %s: %v\n", name, err)
	return exitError
}

func isTerminal(f *os.File) bool {
	// Asked of the terminal driver: a character device such as /dev/null
	// is not a terminal.
	return term.IsTerminal(int(f.Fd()))
}

package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/pflag"
)

func newVersionCommand() *command {
	fs := pflag.NewFlagSet("version", pflag.ContinueOnError)
	return &command{
		name:    "version",
		summary: "print the version and VCS commit (also `ferry --version`, `ferry -v`)",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			printVersion(e.stdout)
			return nil
		},
	}
}

func printVersion(w io.Writer) { fmt.Fprintln(w, versionLine()) }

func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	return formatVersion(bi, ok)
}

// formatVersion renders "ferry VERSION (commit REV, GO)" from buildVersion.
func formatVersion(bi *debug.BuildInfo, ok bool) string {
	v, commit, goVersion := buildVersion(bi, ok)
	return fmt.Sprintf("ferry %s (commit %s, %s)", v, commit, goVersion)
}

// buildVersion is what `ferry --version` and ferry_build_info say: the
// module version, "devel" when the build has none, and the VCS commit the
// binary was built from, "+dirty" when the tree had changes.
func buildVersion(bi *debug.BuildInfo, ok bool) (v, commit, goVersion string) {
	v, commit, goVersion = "devel", "unknown", "unknown"
	if ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		goVersion = bi.GoVersion
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if dirty && commit != "unknown" {
			commit += "+dirty"
		}
	}
	return v, commit, goVersion
}

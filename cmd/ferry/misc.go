package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/ferry-sync/ferry/service/unit"
)

func newInstallServiceCommand() *command {
	fs := flag.NewFlagSet("install-service", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file the service runs (absolute path recommended)")
	dir := fs.String("dir", "", "where to write ferry.service (default ~/.config/systemd/user)")
	return &command{
		name:    "install-service",
		summary: "write a systemd user unit that runs `ferry run --config FILE`",
		usage:   "--config FILE [--dir DIR]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if *cfgPath == "" {
				return usageError{"--config is required"}
			}
			if _, _, err := loadJob(*cfgPath, ""); err != nil {
				return err
			}
			cfg, err := filepath.Abs(*cfgPath)
			if err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("unable to find the ferry binary: %w", err)
			}
			d := *dir
			if d == "" {
				if d, err = unit.DefaultDir(); err != nil {
					return err
				}
			}
			path, err := unit.Install(d, bin, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s\nenable it with:\n  systemctl --user daemon-reload\n  systemctl --user enable --now ferry\n", path)
			return nil
		},
	}
}

func newVersionCommand() *command {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	return &command{
		name:    "version",
		summary: "print the version",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			v := "devel"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintln(e.stdout, "ferry", v)
			return nil
		},
	}
}

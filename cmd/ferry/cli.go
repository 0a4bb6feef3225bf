package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// run parses args with cobra, runs the command they name and maps its
// error to an exit code (report). Flags may come before or after the
// positional arguments; a long flag written with one dash (-config F), as
// ferry's own flag parsing took it before, still works (normaliseFlags).
func run(ctx context.Context, e *env, args []string) int {
	root := newRootCommand(ctx, e)
	if len(args) == 0 {
		printUsage(e.stdout, root)
		return exitConfig
	}
	switch args[0] {
	case "help", "-help":
		if len(args) == 1 {
			printUsage(e.stdout, root)
			return exitOK
		}
		args = []string{args[1], "--help"}
	}
	switch {
	case strings.HasPrefix(args[0], cobra.ShellCompRequestCmd):
		// The shell asks for completions of a partial line; its last word
		// is what is being typed, left as it is.
		if len(args) > 2 {
			if sub := findCommand(root, args[1]); sub != nil {
				last := len(args) - 1
				args = append(append(args[:2:2], normaliseFlags(sub.Flags(), args[2:last])...), args[last])
			}
		}
	case strings.HasPrefix(args[0], "-"):
		root.InitDefaultHelpFlag()
		args = normaliseFlags(root.Flags(), args)
	default:
		sub := findCommand(root, args[0])
		if sub == nil {
			unknownCommand(e.stderr, root, args[0])
			return exitConfig
		}
		sub.InitDefaultHelpFlag()
		args = append([]string{args[0]}, normaliseFlags(sub.Flags(), args[1:])...)
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd == nil || cmd == root {
		if err != nil {
			fmt.Fprintf(e.stderr, "ferry: %v\n", err)
			return exitConfig
		}
		return exitOK
	}
	return report(e.stderr, cmd.Name(), err)
}

// newRootCommand builds the command tree: one cobra command for each of
// commands(), plus completion and the hidden man page writer.
func newRootCommand(ctx context.Context, e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "keep a local folder and a remote folder in step",
		Long: "ferry keeps a local folder and a remote folder in step: one pass with `ferry sync`, " +
			"continuously with `ferry run`, and `ferry serve` on the server.\n\n" +
			"Flags may come before or after the arguments. Long flags may also be written with one dash " +
			"(-config FILE), as in older scripts.\n\n" +
			"Exit codes: 0 done, 1 an error (for `ferry status`: a job shown is halted or its last pass failed), " +
			"2 a usage or configuration mistake, 3 a pass halted.",
		Args:                       cobra.NoArgs,
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
		DisableAutoGenTag:          true,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	version := root.Flags().BoolP("version", "v", false, "print the version and VCS commit")
	root.RunE = func(*cobra.Command, []string) error {
		if *version {
			printVersion(e.stdout)
			return nil
		}
		printUsage(e.stdout, root)
		return usageError{"give a COMMAND"}
	}
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		if c == root {
			printUsage(e.stdout, root)
			return
		}
		printCommandHelp(e.stderr, c)
	})
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Sprintf("%v (see `%s -h`)", err, c.CommandPath())}
	})
	for _, c := range commands() {
		cc := &cobra.Command{
			Use:   strings.TrimSpace(c.name + " " + c.usage),
			Short: c.summary,
			Args:  cobra.ArbitraryArgs,
			RunE: func(_ *cobra.Command, args []string) error {
				return c.run(ctx, e, args)
			},
		}
		cc.Flags().AddFlagSet(c.flags)
		if c.jobArg {
			cc.ValidArgsFunction = completeJobs
		}
		root.AddCommand(cc)
	}
	root.AddCommand(newCompletionCommand(e, root), newManCommand(root))
	return root
}

// normaliseFlags rewrites -name and -name=value to --name and
// --name=value where name is a long flag of fs, so that scripts written
// for Go's flag package keep working under pflag, which would read -name
// as the shorthands -n -a -m -e. A real shorthand (-h, -v) is left alone,
// and so is the value of a flag given as the next argument, and
// everything after "--".
func normaliseFlags(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			if name, _, _ := strings.Cut(a[1:], "="); len(name) > 1 && fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
		if !strings.HasPrefix(a, "--") || strings.Contains(a, "=") || i+1 == len(args) {
			continue
		}
		if f := fs.Lookup(a[2:]); f != nil && f.NoOptDefVal == "" {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// completeJobs offers the job names of the jobs file the command line
// names (or the default one) for a command's first argument.
func completeJobs(c *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	path, _ := c.Flags().GetString("config")
	cfg, _, err := loadJob(path, "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, j := range cfg.Jobs {
		if strings.HasPrefix(j.Name, prefix) {
			names = append(names, j.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func findCommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

func unknownCommand(w io.Writer, root *cobra.Command, name string) {
	fmt.Fprintf(w, "ferry: unknown command %q; run `ferry help` for the list\n", name)
	if s := root.SuggestionsFor(name); len(s) > 0 {
		fmt.Fprintf(w, "did you mean: %s\n", strings.Join(s, ", "))
	}
}

func printUsage(w io.Writer, root *cobra.Command) {
	fmt.Fprintln(w, "ferry keeps a local folder and a remote folder in step.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: ferry COMMAND [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			fmt.Fprintf(w, "  %-16s %s\n", c.Name(), c.Short)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `ferry COMMAND -h` for a command's flags; flags may come before or after its arguments.")
	fmt.Fprintln(w, "`ferry --version` prints the version.")
}

// printCommandHelp is `ferry COMMAND -h`: the usage line, what the command
// does and its flags.
func printCommandHelp(w io.Writer, c *cobra.Command) {
	fmt.Fprintf(w, "usage: ferry %s\n\n%s\n\n", c.Use, c.Short)
	if c.Long != "" {
		fmt.Fprintf(w, "%s\n\n", c.Long)
	}
	fmt.Fprint(w, c.LocalFlags().FlagUsages())
}

var completionShells = []string{"bash", "zsh", "fish", "powershell"}

func newCompletionCommand(e *env, root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "print the shell completion script for commands, flags and their values",
		Long: "Load it in the current shell with `source <(ferry completion bash)` (zsh: the same with zsh), " +
			"or for every session write it out once, e.g.\n" +
			"  ferry completion bash > ~/.local/share/bash-completion/completions/ferry\n" +
			"  ferry completion zsh > \"${fpath[1]}/_ferry\"\n" +
			"  ferry completion fish > ~/.config/fish/completions/ferry.fish",
		ValidArgs: completionShells,
		Args:      cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{"give one shell: " + strings.Join(completionShells, ", ")}
			}
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(e.stdout, true)
			case "zsh":
				return root.GenZshCompletion(e.stdout)
			case "fish":
				return root.GenFishCompletion(e.stdout, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(e.stdout)
			}
			return usageError{fmt.Sprintf("unknown shell %q; give one of %s", args[0], strings.Join(completionShells, ", "))}
		},
	}
}

// newManCommand is what `make man` runs: hidden, since users read the
// pages it writes rather than run it.
func newManCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "write a man page for ferry and each of its commands into DIR",
		Hidden: true,
		Args:   cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{"give the DIR to write the man pages into"}
			}
			return writeManPages(root, args[0])
		},
	}
}

func writeManPages(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("unable to create the man page directory: %w", err)
	}
	hdr := &doc.GenManHeader{Section: "1", Source: versionLine(), Manual: "ferry manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		return fmt.Errorf("unable to write the man pages: %w", err)
	}
	return nil
}

// Command qlsqlite is the command-line tool of the qlsqlite driver.
//
// Usage:
//
//	qlsqlite <command> [flags]
//
// Run "qlsqlite help" for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand of the tool.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// commands lists every subcommand; each lives in a file of its own.
func commands() []command {
	return []command{
		demoCommand(),
		{"advise", "suggest indexes verified with SQLite's planner; --apply creates them", runAdvise},
		{name: "migrate", summary: "apply, roll back and inspect schema migrations", run: cmdMigrate},
		archiveCmd(), purgeCmd(), backupCmd(), verifyCmd(), restoreCmd(), rekeyCmd(),
		healthCommand(),
		serveCommand(),
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "qlsqlite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout)
			if errors.Is(err, flag.ErrHelp) { // -h: the flag set printed the flags
				return nil
			}
			return notADatabaseHint(err)
		}
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: qlsqlite <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

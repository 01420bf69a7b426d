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
	err := run(ctx, os.Args[1:], os.Stdout)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "qlsqlite:", err)
	stop()
	if errors.As(err, new(usageError)) {
		os.Exit(2) // the command line is wrong
	}
	os.Exit(1)
}

// run runs the command line args (without the program's name), printing
// on stdout; an error is for the caller to print. A [usageError] means the
// command line was wrong.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		usage(os.Stderr)
		return usageErrorf("no command given")
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout)
			if errors.Is(err, flag.ErrHelp) { // -h: the usage is printed
				return nil
			}
			return notADatabaseHint(err)
		}
	}
	usage(os.Stderr)
	return usageErrorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: qlsqlite <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "qlsqlite <command> -h lists the flags of a command. Exit status: 0 done, 1 failed, 2 wrong command line.")
}

// Command qlpg is the command-line tool of qlsqlite's PostgreSQL driver,
// "qlpg": the PostgreSQL side of the qlsqlite command, which hands it
// PostgreSQL URLs ("qlsqlite demo --db postgres://...") since the qlsqlite
// command itself links no PostgreSQL driver.
//
// Usage:
//
//	qlpg demo --db postgres://user@host:5432/db [flags]
//
// Install it with:
//
//	go install github.com/quantumleap/qlsqlite/pg/cmd/qlpg@latest
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "qlpg:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "usage: qlpg demo --db postgres://user@host:5432/db [flags]")
		fmt.Fprintln(stdout, "\ncommands:\n  demo       load the trading schema with synthetic data into PostgreSQL, run the mixed workload, advise indexes (hypopg), run it again")
		return nil
	}
	switch args[0] {
	case "demo":
		err := runDemo(ctx, args[1:], stdout)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return fmt.Errorf("unknown command %q (qlpg knows: demo)", args[0])
}

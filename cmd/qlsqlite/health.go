package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/quantumleap/qlsqlite"
)

func healthCommand() command {
	return command{
		name:    "health",
		summary: "check a database file: size, WAL, free pages (cheap); --integrity checks every table; fails when the database does",
		run:     runHealth,
	}
}

func runHealth(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	path := fs.String("db", "", "database file to check (required; opened read-only)")
	integrity := fs.Bool("integrity", false, "also check the integrity of every table and index (reads the whole database)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long (--integrity reads the whole database)")
	var key keySource
	key.register(fs, "", "the database's")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := key.load()
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if *path == "" || fs.NArg() > 0 {
		return errors.New("health: usage: qlsqlite health --db FILE [--integrity] [--key-env VAR | --key-file FILE] [--timeout 10m]")
	}
	if _, err := os.Stat(*path); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	// Read-only, and without qlsqlite's production defaults, which would
	// switch the file to WAL: a health check changes nothing. The busy
	// timeout lets it wait for a writer of a database in rollback mode.
	db, err := sql.Open(qlsqlite.DriverName, fileURI(*path, withDSNQuery("mode=ro&_pragma=busy_timeout(5000)", p)))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *integrity {
		if _, err := qlsqlite.CheckIntegrity(ctx, db); err != nil {
			return fmt.Errorf("health: %w", err)
		}
	}
	report, err := qlsqlite.Health(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", *path)
	printHealth(stdout, report)
	if report.Status == qlsqlite.HealthFailing {
		return fmt.Errorf("health: %s is failing: %s", *path, strings.Join(report.Problems, "; "))
	}
	return nil
}

// printHealth writes a health report for a person.
func printHealth(w io.Writer, r qlsqlite.HealthReport) {
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s %s\n", name+":", fmt.Sprintf(format, args...))
	}
	row("status", "%s", r.Status)
	switch ir := r.Integrity; {
	case ir == nil:
		row("integrity", "not checked (--integrity checks every table)")
	case ir.OK():
		row("integrity", "ok: %d tables checked in %v", ir.Tables, ir.Took.Round(time.Millisecond))
	case ir.Err != "":
		row("integrity", "did not complete after %d tables: %s", ir.Tables, ir.Err)
	default:
		row("integrity", "%d problems in %d tables checked", len(ir.Problems), ir.Tables)
	}
	st := r.Storage
	if st.InMemory {
		row("database", "in memory, %s (%d pages of %d bytes)", fmtBytes(st.SizeBytes), st.Pages, st.PageSize)
	} else {
		row("database", "%s (%d pages of %d bytes), %d free pages (%.1f%%)",
			fmtBytes(st.SizeBytes), st.Pages, st.PageSize, st.FreelistPages, 100*st.FreeRatio())
		row("WAL", "%s", fmtBytes(st.WALBytes))
	}
	p := r.Pool
	limit := "no limit"
	if p.MaxOpenConnections > 0 {
		limit = fmt.Sprintf("limit %d (%.0f%% in use)", p.MaxOpenConnections, 100*p.Utilization)
	}
	row("pool", "%d open: %d in use, %d idle, %s; %d waits (%v)", p.OpenConnections, p.InUse, p.Idle, limit, p.WaitCount, p.WaitDuration.Round(time.Millisecond))
	breaker := r.Breaker
	if breaker == "" {
		breaker = "none"
	}
	row("breaker", "%s", breaker)
	switch {
	case !r.Monitored:
		row("alerts", "not monitored")
	case len(r.Alerts) == 0:
		row("alerts", "none firing")
	default:
		for i, a := range r.Alerts {
			label := "alerts:"
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "  %-12s %s: %s\n", label, a.Name, a.Message)
		}
	}
	row("checked in", "%v", r.Took.Round(time.Microsecond))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem:     %s\n", p)
	}
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

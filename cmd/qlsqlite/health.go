package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	fs := newFlagSet("health", "health --db FILE [--integrity] [--key-env VAR | --key-file FILE] [--timeout 10m]",
		"Checks a database file, read-only: size, WAL, free pages, pool and breaker (cheap), and with --integrity",
		"every table and index (reads the whole database). Exits 1 when the database is failing.")
	path := fs.String("db", "", "database file to check (required; opened read-only)")
	integrity := fs.Bool("integrity", false, "also check the integrity of every table and index (reads the whole database)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long (--integrity reads the whole database; 0: no limit)")
	var key keySource
	key.register(fs, "", "the database's")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		return usageErrorf("health: --db FILE is required and takes no other arguments (qlsqlite health -h lists the flags)")
	}
	if *timeout < 0 {
		return usageErrorf("health: --timeout %v: want a duration of 0 (no limit) or more", *timeout)
	}
	p, err := key.load()
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	// Read-only, and without qlsqlite's production defaults, which would
	// switch the file to WAL: a health check changes nothing. The busy
	// timeout lets it wait for a writer of a database in rollback mode.
	db, err := openDB(*path, readOnly, p)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer db.Close()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	if *integrity {
		if _, err := qlsqlite.CheckIntegrity(ctx, db); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("health: %w", err)
		}
	}
	report, err := qlsqlite.Health(ctx, db)
	if err == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = ctx.Err() // the report's problems are the deadline's, not the database's
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("health: %s: the check did not finish within --timeout %v (raise it, or 0 for no limit): %w", *path, *timeout, err)
	}
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

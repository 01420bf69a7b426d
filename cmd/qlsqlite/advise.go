package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/advise"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// runAdvise is the advise subcommand: index advice verified with SQLite's
// planner, an audit of the existing indexes and statistics, and with --apply
// the creation of the advised indexes.
func runAdvise(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("advise", "advise --db FILE [--query SQL]... [--apply]",
		"Suggests indexes that SQLite's planner picks for the statements, with each statement's plan before and after,",
		"rewrites of the statements (verified with EXPLAIN QUERY PLAN and on the live data, or hints that say what must hold),",
		"and reports redundant indexes and missing or stale statistics. The database is opened read-only unless --apply.")
	dbPath := fs.String("db", "", "SQLite database `file` to advise on (required; opened read-only unless --apply)")
	var queries stringList
	fs.Var(&queries, "query", "a statement to advise on (repeatable); default: the trading platform's typical statements, when the database has its tables")
	apply := fs.Bool("apply", false, "create the advised indexes, then ANALYZE their tables")
	var key keySource
	key.register(fs, "", "the database's")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *dbPath == "" || fs.NArg() > 0 {
		return usageErrorf("advise: --db FILE is required and takes no other arguments (qlsqlite advise -h lists the flags)")
	}
	if slices.ContainsFunc(queries, func(q string) bool { return strings.TrimSpace(q) == "" }) {
		return usageErrorf("advise: a --query is empty")
	}
	p, err := key.load()
	if err != nil {
		return fmt.Errorf("advise: %w", err)
	}
	mode := readOnly
	if *apply {
		mode = readWrite
	}
	db, err := openDB(*dbPath, mode, p)
	if err != nil {
		return err
	}
	defer db.Close()

	if len(queries) == 0 {
		if queries, err = adviseTradingStatements(ctx, db, *dbPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "advising on the trading platform's %d typical statements\n\n", len(queries))
	}

	all, err := qlsqlite.Advise(ctx, db, queries...)
	if err := adviseReportErrors(err, stdout); err != nil {
		return err
	}
	// Advice without an index carries a rewrite: the rewrites are printed
	// below, with the hints.
	advice := slices.DeleteFunc(all, func(a qlsqlite.IndexAdvice) bool { return a.CreateSQL == "" })
	adviseReportIndexes(advice, stdout)

	if err := adviseRewrites(ctx, db, queries, stdout); err != nil {
		return err
	}

	if err := adviseReportAudit(ctx, db, mode, stdout); err != nil {
		return err
	}

	if !*apply || len(advice) == 0 {
		return nil
	}
	return adviseApply(ctx, db, *dbPath, advice, stdout)
}

// adviseTradingStatements returns the trading platform's typical
// statements, or an error if the database at dbPath does not hold its
// tables.
func adviseTradingStatements(ctx context.Context, db *sql.DB, dbPath string) ([]string, error) {
	ok, err := adviseHasTrading(ctx, db)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("advise: %s does not hold the trading schema: pass the statements to advise on with --query SQL (repeatable)", dbPath)
	}
	var queries []string
	for _, s := range trading.Statements() {
		queries = append(queries, s.SQL)
	}
	return queries, nil
}

// adviseReportIndexes prints each advised index with the plans of the
// statements it helps, before and after.
func adviseReportIndexes(advice []qlsqlite.IndexAdvice, stdout io.Writer) {
	if len(advice) == 0 {
		fmt.Fprintln(stdout, "no index to suggest: existing indexes serve these statements, or no index makes the planner do better")
	}
	for i, a := range advice {
		fmt.Fprintf(stdout, "%d. %s;\n", i+1, a.CreateSQL)
		for _, p := range a.Plans {
			fmt.Fprintf(stdout, "   helps: %s\n", p.Query)
			fmt.Fprintf(stdout, "     before:\n%s\n", adviseIndent(p.Before, "       "))
			fmt.Fprintf(stdout, "     after:\n%s\n", adviseIndent(p.After, "       "))
		}
		fmt.Fprintln(stdout)
	}
}

// adviseReportAudit prints the redundant indexes and the missing or stale
// statistics.
func adviseReportAudit(ctx context.Context, db *sql.DB, mode openMode, stdout io.Writer) error {
	audit, err := qlsqlite.AuditIndexes(ctx, db, qlsqlite.AuditInput{})
	if err != nil {
		return err
	}
	for _, r := range audit.Redundant {
		fmt.Fprintf(stdout, "redundant: index %s on %s is a prefix of %s; fix: %s;\n", r.Index, r.Table, r.CoveredBy, r.DropSQL)
	}
	for _, s := range audit.Statistics {
		what := "table " + s.Table
		if s.Index != "" {
			what = "index " + s.Index + " on " + s.Table
		}
		state := "missing"
		if s.Stale {
			state = "stale"
		}
		fmt.Fprintf(stdout, "statistics %s for %s; fix: %s;\n", state, what, s.Fix)
	}
	if mode == readOnly {
		fmt.Fprintln(stdout, "(stale statistics are not checked on a database opened read-only: PRAGMA optimize refreshes them)")
	}
	return nil
}

// adviseApply creates the advised indexes and prints the plans of the
// statements they help, as they are now.
func adviseApply(ctx context.Context, db *sql.DB, dbPath string, advice []qlsqlite.IndexAdvice, stdout io.Writer) error {
	if err := qlsqlite.ApplyAdvice(ctx, db, advice...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\napplied %d index(es) and analysed their tables; plans in %s now:\n", len(advice), dbPath)
	seen := map[string]bool{}
	for _, a := range advice {
		for _, q := range a.Queries {
			if seen[q] {
				continue
			}
			seen[q] = true
			p, err := advise.Explain(ctx, db, q)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "   %s\n%s\n", q, adviseIndent(p.String(), "     "))
		}
	}
	return nil
}

// adviseRewrites prints the rewrites proposed for each statement that
// prepares: verified ones, then hints, each with its plans and note.
func adviseRewrites(ctx context.Context, db *sql.DB, queries []string, stdout io.Writer) error {
	n := 0
	for _, q := range queries {
		rs, err := qlsqlite.Rewrite(ctx, db, q)
		var qe *qlsqlite.AdviceQueryError
		if errors.As(err, &qe) {
			continue // reported with the index advice
		}
		if err != nil {
			return err
		}
		slices.SortStableFunc(rs, func(a, b qlsqlite.QueryRewrite) int {
			switch {
			case a.Verified == b.Verified:
				return 0
			case a.Verified:
				return -1
			}
			return 1
		})
		for _, r := range rs {
			if n == 0 {
				fmt.Fprintln(stdout, "rewrites (verified: equivalent by construction, cheaper in EXPLAIN QUERY PLAN, and the same rows on the live data; hints are not):")
			}
			n++
			state := "hint"
			if r.Verified {
				state = "verified"
			}
			fmt.Fprintf(stdout, "R%d. %s (%s)\n", n, r.Rule, state)
			fmt.Fprintf(stdout, "   statement: %s\n", r.Original)
			fmt.Fprintf(stdout, "   rewrite:   %s\n", adviseIndent(r.SQL, "              ")[len("              "):])
			fmt.Fprintf(stdout, "     before:\n%s\n", adviseIndent(strings.Join(r.Before, "\n"), "       "))
			fmt.Fprintf(stdout, "     after:\n%s\n", adviseIndent(strings.Join(r.After, "\n"), "       "))
			fmt.Fprintf(stdout, "   why: %s\n\n", r.Note)
		}
	}
	if n == 0 {
		fmt.Fprintln(stdout, "no rewrite to propose: no rule finds a cheaper equivalent of these statements")
		fmt.Fprintln(stdout)
	}
	return nil
}

func adviseHasTrading(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('trades', 'portfolio', 'orders', 'signals')`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("advise: read the schema: %w", err)
	}
	return n == 4, nil
}

// adviseReportErrors prints the statements that could not be analysed and
// returns any other error.
func adviseReportErrors(err error, stdout io.Writer) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var qe *qlsqlite.AdviceQueryError
		if !errors.As(e, &qe) {
			return err
		}
		fmt.Fprintf(stdout, "not analysed: %s\n   %v\n\n", qe.Query, qe.Err)
	}
	return nil
}

func adviseIndent(s, prefix string) string {
	if s == "" {
		return prefix + "(no table read)"
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

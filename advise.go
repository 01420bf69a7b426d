package qlsqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// IndexAdvice is one index that [Advise] suggests, with the proof: the
// statements it helps and their plans before and after.
//
// Every suggestion was verified, not guessed: in an in-memory shadow of the
// schema that carries the database's statistics, SQLite's planner picked the
// index for each statement in Queries, and with it a full SCAN of the table
// became a SEARCH, or a temporary b-tree (for ORDER BY, GROUP BY or DISTINCT)
// disappeared.
type IndexAdvice struct {
	// Table is the table to index.
	Table string
	// Name is the index's name, unique among the schema's objects when the
	// advice was made.
	Name string
	// Columns are the indexed columns, in index order. CreateSQL adds the
	// collation and direction where they differ from the column's defaults.
	Columns []string
	// CreateSQL is a runnable CREATE INDEX IF NOT EXISTS statement.
	CreateSQL string
	// Queries are the statements the index helps, as given.
	Queries []string
	// Plans holds, for each of Queries in the same order, the statement's
	// EXPLAIN QUERY PLAN before and after.
	Plans []AdvicePlan
	// Total is the sum of the total times of Queries, when the advice was
	// made from a workload ([AdviseWorkload]); zero otherwise.
	Total time.Duration
	// Rewrites are the verified rewrites (see [QueryRewrite.Verified]) of
	// statements in Queries: a change to the statement that lets the
	// existing indexes serve it.
	//
	// An advice that holds only rewrites suggests no index: Table, Name,
	// Columns and CreateSQL are empty, Queries holds the one statement, and
	// Plans its plan before and after the first rewrite. [ApplyAdvice]
	// skips it, since a rewrite changes the program, not the database.
	Rewrites []QueryRewrite
}

// AdvicePlan is a statement's query plan without and with the advised
// indexes, each rendered as the sqlite3 shell prints EXPLAIN QUERY PLAN
// (one row per line, "|--" and "`--" marking the tree).
//
// Both plans come from the shadow schema, so that they differ only by the
// advised indexes: Before has the existing indexes, After adds every index of
// the advice returned with it.
type AdvicePlan struct {
	Query  string
	Before string
	After  string
}

// AdviceQueryError reports a statement given to [Advise], [AdviseWorkload] or
// [AuditIndexes] that does not prepare against the database (a syntax error,
// an unknown table or column, several statements in one string). The other
// statements are analysed all the same; use [errors.As] to find which failed.
type AdviceQueryError = advise.QueryError

// WorkloadQuery is a statement with the time it cost, the input of
// [AdviseWorkload].
type WorkloadQuery struct {
	// Query is the statement: runnable SQL, where parameters (?, ?NNN,
	// :name) stand for values. A fingerprint with ? placeholders will do.
	Query string
	// Calls is how many times it ran.
	Calls int64
	// Total is the time all those runs took.
	Total time.Duration
}

// WorkloadReporter is implemented by a database connection (the value
// [database/sql.Conn.Raw] hands out) or a driver ([database/sql.DB.Driver])
// that keeps per-statement statistics. [Advise] called without queries asks
// it for the workload.
type WorkloadReporter interface {
	// Workload returns the statements run so far with their costs, in any
	// order.
	Workload() []WorkloadQuery
}

// MaxWorkloadQueries is how many of a workload's statements [AdviseWorkload]
// advises on: those with the largest total time.
const MaxWorkloadQueries = 20

// ErrNoWorkload is returned by [Advise] called without queries on a database
// whose driver keeps no statistics to take the workload from.
var ErrNoWorkload = errors.New("qlsqlite: no queries to advise on and no workload statistics: pass the statements, or open the database with the qlsqlite driver and run the workload first")

// Advise suggests indexes for queries on db, verified with SQLite's planner
// (see [IndexAdvice]), and the verified rewrites of the statements (see
// [Rewrite]): a statement an index helps carries its rewrites in that
// advice's Rewrites, and a statement that only a rewrite helps gets an advice
// of its own with no index. It never changes db: it reads the schema,
// statistics and samples of rows, and prepares the queries; it runs a
// statement (read-only, in a transaction it rolls back, within
// [RewriteOptions]' default budget) only to compare it with a rewrite that a
// rule proposes. [ApplyAdvice] creates the indexes.
//
// Queries may hold parameters (?, ?NNN, :name); they are analysed without
// values. Nothing is suggested where an existing index already serves (its
// leading columns are the statement's equality columns, in any order, then
// its range or ORDER BY columns). When one suggested index is a prefix of
// another, only the longer one is kept, provided it helps the same
// statements.
//
// Without queries, Advise asks the database's [WorkloadReporter] for the
// workload and advises on its costliest statements, as [AdviseWorkload]
// does; it returns [ErrNoWorkload] when there is none.
//
// A query that does not prepare does not stop the others: Advise returns the
// advice for the rest together with an error joining one [*AdviceQueryError]
// per failed query. Any other error returns no advice.
//
// When ctx has no deadline, the analysis is bounded at 10 minutes instead of
// the 30-second default qlsqlite gives one statement: it plans every
// statement several times and reads samples of every table involved.
func Advise(ctx context.Context, db *sql.DB, queries ...string) ([]IndexAdvice, error) {
	if len(queries) == 0 {
		w, err := adviseWorkloadOf(ctx, db)
		if err != nil {
			return nil, err
		}
		return AdviseWorkload(ctx, db, w)
	}
	if a := adviserOf(db); a != nil {
		w := make([]WorkloadQuery, len(queries))
		for i, q := range queries {
			w[i] = WorkloadQuery{Query: q}
		}
		return a.AdviseIndexes(ctx, db, w)
	}
	qs := make([]advise.Query, len(queries))
	for i, q := range queries {
		qs[i] = advise.Query{SQL: q}
	}
	return adviseRun(ctx, db, qs)
}

// AdviseWorkload suggests indexes, as [Advise] does, for the
// [MaxWorkloadQueries] statements of workload with the largest total time.
// Suggestions are ordered by the total time of the statements they help,
// largest first, and carry it in [IndexAdvice.Total].
func AdviseWorkload(ctx context.Context, db *sql.DB, workload []WorkloadQuery) ([]IndexAdvice, error) {
	if len(workload) == 0 {
		return nil, ErrNoWorkload
	}
	w := slices.Clone(workload)
	slices.SortStableFunc(w, func(a, b WorkloadQuery) int { return cmp.Compare(b.Total, a.Total) })
	w = w[:min(len(w), MaxWorkloadQueries)]
	if a := adviserOf(db); a != nil {
		return a.AdviseIndexes(ctx, db, w)
	}
	qs := make([]advise.Query, len(w))
	for i, q := range w {
		qs[i] = advise.Query{SQL: q.Query, Total: q.Total}
	}
	return adviseRun(ctx, db, qs)
}

func adviseRun(ctx context.Context, db *sql.DB, qs []advise.Query) ([]IndexAdvice, error) {
	rep, err := advise.Analyze(ctx, db, qs, advise.Options{})
	var out []IndexAdvice
	for _, a := range rep.Advice {
		ia := IndexAdvice{Table: a.Table, Name: a.Name, Columns: a.Columns, CreateSQL: a.CreateSQL, Total: a.Total}
		for _, q := range a.Queries {
			ia.Queries = append(ia.Queries, q.SQL)
			ia.Plans = append(ia.Plans, AdvicePlan{Query: q.SQL, Before: q.Before.String(), After: q.After.String()})
		}
		out = append(out, ia)
	}
	if len(rep.Queries) == 0 { // the analysis failed as a whole
		return out, err
	}
	out, rerr := adviseRewrites(ctx, db, rep.Queries, out)
	if rerr != nil {
		return nil, rerr
	}
	return out, err
}

// adviseRewrites adds the verified rewrites of the statements that prepare
// to the advice: to the advice of an index that helps the statement, or to
// an advice of its own.
func adviseRewrites(ctx context.Context, db *sql.DB, qs []advise.QueryResult, out []IndexAdvice) ([]IndexAdvice, error) {
	var alone []IndexAdvice
	for _, q := range qs {
		if q.Err != nil {
			continue // reported by the index analysis
		}
		rs, err := Rewrite(ctx, db, q.SQL)
		if err != nil {
			return nil, err
		}
		rs = slices.DeleteFunc(rs, func(r QueryRewrite) bool { return !r.Verified })
		if len(rs) == 0 {
			continue
		}
		helped := false
		for i := range out {
			if slices.Contains(out[i].Queries, q.SQL) {
				out[i].Rewrites = append(out[i].Rewrites, rs...)
				helped = true
			}
		}
		if !helped {
			alone = append(alone, IndexAdvice{Queries: []string{q.SQL}, Total: q.Total, Rewrites: rs,
				Plans: []AdvicePlan{{Query: q.SQL, Before: strings.Join(rs[0].Before, "\n"), After: strings.Join(rs[0].After, "\n")}}})
		}
	}
	slices.SortStableFunc(alone, func(a, b IndexAdvice) int { return cmp.Compare(b.Total, a.Total) })
	return append(out, alone...), nil
}

// adviserOf returns the [IndexAdviser] of a database opened on a [Backend]
// that advises indexes itself, or nil.
func adviserOf(db *sql.DB) IndexAdviser {
	d, err := stateOf(db)
	if err != nil || d.backend == nil {
		return nil
	}
	a, _ := d.backend.(IndexAdviser)
	return a
}

// adviseWorkloadOf asks the connection, then the driver, for its workload.
func adviseWorkloadOf(ctx context.Context, db *sql.DB) ([]WorkloadQuery, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: advise: %w", err)
	}
	defer conn.Close()
	var w []WorkloadQuery
	found := false
	err = conn.Raw(func(dc any) error {
		if r, ok := dc.(WorkloadReporter); ok {
			w, found = r.Workload(), true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("qlsqlite: advise: %w", err)
	}
	if r, ok := db.Driver().(WorkloadReporter); ok && !found {
		w, found = r.Workload(), true
	}
	if !found || len(w) == 0 {
		return nil, ErrNoWorkload
	}
	return w, nil
}

// ApplyAdvice creates the advised indexes in db, then refreshes the
// statistics of their tables so the planner knows them: it runs each
// CreateSQL, and then ANALYZE on each table indexed, with PRAGMA
// analysis_limit=1000 so that ANALYZE reads a bounded number of rows per
// index whatever the table's size. This is the only function of the advisor
// that writes to db.
//
// An advice that holds only rewrites (no CreateSQL) is skipped. Each index
// is created in a statement of its own: when one fails, those
// before it stay and the error names the failing statement; CREATE INDEX IF
// NOT EXISTS makes running ApplyAdvice again safe. An index of the same name
// that exists with other columns is an error (re-run [Advise] for a fresh
// name). An advice whose CreateSQL is not a CREATE INDEX is refused.
//
// Building an index reads its whole table. When ctx has no deadline,
// ApplyAdvice bounds the work at one hour, instead of the 30-second default
// qlsqlite gives one statement.
func ApplyAdvice(ctx context.Context, db *sql.DB, advice ...IndexAdvice) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Hour)
		defer cancel()
	}
	if a := adviserOf(db); a != nil {
		return a.ApplyIndexes(ctx, db, advice)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("qlsqlite: apply advice: %w", err)
	}
	defer conn.Close()
	var tables []string
	for _, a := range advice {
		if a.CreateSQL == "" && len(a.Rewrites) > 0 {
			continue // a rewrite of the program's statement: nothing to apply here
		}
		if err := adviseCheck(ctx, conn, a); err != nil {
			return err
		}
		if err := adviseCreate(ctx, conn, a.CreateSQL); err != nil {
			return err
		}
		if !slices.Contains(tables, a.Table) {
			tables = append(tables, a.Table)
		}
	}
	if len(tables) == 0 {
		return nil
	}
	var limit int64
	if err := conn.QueryRowContext(ctx, `PRAGMA analysis_limit`).Scan(&limit); err != nil {
		return fmt.Errorf("qlsqlite: apply advice: read analysis_limit: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA analysis_limit = 1000`); err != nil {
		return fmt.Errorf("qlsqlite: apply advice: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA analysis_limit = %d`, limit))
	for _, t := range tables {
		if _, err := conn.ExecContext(ctx, "ANALYZE "+adviseQuote(t)); err != nil {
			return fmt.Errorf("qlsqlite: apply advice: indexes created; ANALYZE %q failed (run it later): %w", t, err)
		}
	}
	return nil
}

// adviseCheck refuses an advice that is not a CREATE INDEX, or whose index
// name is taken by an index with other columns.
func adviseCheck(ctx context.Context, conn *sql.Conn, a IndexAdvice) error {
	head := strings.ToUpper(strings.Join(strings.Fields(a.CreateSQL), " "))
	if a.Name == "" || a.Table == "" || len(a.Columns) == 0 || !strings.HasPrefix(head, "CREATE INDEX IF NOT EXISTS ") {
		return fmt.Errorf("qlsqlite: apply advice: %q is not an advice from Advise (want Name, Table, Columns and a CREATE INDEX IF NOT EXISTS)", a.CreateSQL)
	}
	rows, err := conn.QueryContext(ctx, `SELECT coalesce(name, '') FROM pragma_index_info(?) ORDER BY seqno`, a.Name)
	if err != nil {
		return fmt.Errorf("qlsqlite: apply advice: read index %q: %w", a.Name, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return fmt.Errorf("qlsqlite: apply advice: read index %q: %w", a.Name, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("qlsqlite: apply advice: read index %q: %w", a.Name, err)
	}
	if len(cols) > 0 && !slices.EqualFunc(cols, a.Columns, strings.EqualFold) {
		return fmt.Errorf("qlsqlite: apply advice: an index named %q exists on (%s), not (%s): drop it or run Advise again",
			a.Name, strings.Join(cols, ", "), strings.Join(a.Columns, ", "))
	}
	return nil
}

// adviseCreate runs one CREATE INDEX statement and nothing else: it is
// prepared as a single statement, which fails if anything follows it.
func adviseCreate(ctx context.Context, conn *sql.Conn, create string) error {
	stmt, err := conn.PrepareContext(ctx, create)
	if err != nil {
		return fmt.Errorf("qlsqlite: apply advice: %q must be exactly one CREATE INDEX statement: %w", create, err)
	}
	defer stmt.Close()
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("qlsqlite: apply advice: %s: %w", create, err)
	}
	return nil
}

func adviseQuote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// AuditInput is what [AuditIndexes] judges index use by.
type AuditInput struct {
	// Plans are captured EXPLAIN QUERY PLAN outputs, one per statement, as
	// text with one plan row per line (any rendering that keeps SQLite's
	// detail text, such as "SEARCH t USING INDEX i (a=?)").
	Plans []string
	// Queries are statements to explain against the database; their plans
	// count as captured ones.
	Queries []string
}

// IndexAudit is the outcome of [AuditIndexes].
type IndexAudit struct {
	// Unused lists indexes made by CREATE INDEX that no plan reads. It is
	// empty when no plans were given. Indexes behind UNIQUE or PRIMARY KEY
	// constraints, and unique indexes, are never listed: they enforce a
	// constraint. A plan does not show an index read only to check a foreign
	// key or by a trigger: review before dropping.
	Unused []IndexIssue
	// Redundant lists indexes that another index of the same table serves:
	// their columns are a prefix of the other's, in the same collations and
	// directions (or all reversed). Unique and partial indexes are never
	// listed.
	Redundant []IndexIssue
	// Statistics lists tables and indexes whose statistics are missing (ANALYZE
	// never ran on them) or stale (SQLite's PRAGMA optimize would analyse them
	// again).
	Statistics []StatisticsIssue
	// PlansSeen is how many plans the audit read.
	PlansSeen int
}

// IndexIssue is an existing index that costs writes and space for nothing.
type IndexIssue struct {
	Table string
	Index string
	// CoveredBy is, for a redundant index, the index that serves in its place.
	CoveredBy string
	// DropSQL is the fix: DROP INDEX IF EXISTS ...
	DropSQL string
}

// StatisticsIssue is a table, or one index of it, whose statistics mislead
// the planner, with the statement that fixes it.
type StatisticsIssue struct {
	Table string
	// Index is set when the problem is one index's, "" when it is the table's.
	Index string
	// Stale is false when the statistics are missing (ANALYZE never ran on
	// them), true when the table changed so much since that SQLite's PRAGMA
	// optimize would analyse it again.
	Stale bool
	// Fix is the statement to run, for example ANALYZE "trades". Running
	// PRAGMA optimize regularly, as the qlsqlite driver does, keeps
	// statistics fresh.
	Fix string
}

// AuditIndexes audits the indexes of db's main database against the plans
// of in (when in is empty and db was opened with qlsqlite, against the plans
// qlsqlite captured for the statements run so far, see [CapturedPlans]): the
// indexes no plan reads, those another index makes redundant, and
// the tables whose statistics are missing or stale, each with the statement
// that fixes it. It never changes db. On a read-only connection (mode=ro)
// stale statistics are not reported, missing ones are: SQLite's PRAGMA
// optimize, which says which tables it would analyse again, needs to start
// a write transaction even when it only reports.
//
// A query of in that does not prepare is reported in an error joining one
// [*AdviceQueryError] per failed query, returned with the audit of the rest.
func AuditIndexes(ctx context.Context, db *sql.DB, in AuditInput) (IndexAudit, error) {
	if len(in.Plans) == 0 && len(in.Queries) == 0 {
		if plans, err := CapturedPlans(ctx, db); err == nil {
			for _, p := range plans {
				in.Plans = append(in.Plans, p.String())
			}
		}
	}
	a, err := advise.AuditIndexes(ctx, db, in.Plans, in.Queries, advise.Options{})
	out := IndexAudit{PlansSeen: a.PlansSeen}
	for _, i := range a.Unused {
		out.Unused = append(out.Unused, IndexIssue(i))
	}
	for _, i := range a.Redundant {
		out.Redundant = append(out.Redundant, IndexIssue(i))
	}
	for _, s := range a.Stats {
		out.Statistics = append(out.Statistics, StatisticsIssue{
			Table: s.Table, Index: s.Index, Stale: s.Problem == advise.StatsStale, Fix: s.Fix,
		})
	}
	return out, err
}

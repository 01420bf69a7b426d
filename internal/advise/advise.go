// Package advise is the engine behind qlsqlite's index advice: it suggests
// indexes that SQLite's own planner has been seen to pick, and audits the
// indexes a database already has.
//
// # How advice is verified
//
// The approach is that of SQLite's expert extension (ext/expert/sqlite3expert.c):
//
//  1. Every statement is prepared against the user's database; one that does
//     not prepare is reported as a [*QueryError] and the others go on.
//  2. In a scratch in-memory connection, every table of the schema is mirrored
//     as a virtual table whose xBestIndex records, for each scan the planner
//     considers, the columns it could constrain with = (IN lists arrive as =),
//     with a range (<, <=, >, >=), the ORDER BY it wants and the columns it
//     reads. Parameters (?, ?NNN, :name, @name, $name) need no values.
//  3. From each scan come candidates: the equality columns (the most selective
//     first); the equality columns then one range column; the equality columns
//     then the ORDER BY columns; and a covering variant of each that appends
//     the other columns read, when it stays within [Options.CoveringColumns]
//     and is not the whole table. A candidate that an existing index already
//     serves (its equality columns in any order, then the rest in order) is
//     dropped.
//  4. A second in-memory connection, the shadow, holds the schema without
//     rows, and a sqlite_stat1 copied from the user's database (with its
//     sqlite_stat4), or estimated from row counts and samples of the rows
//     where ANALYZE never ran. The candidates are created there, all at once,
//     each with estimated statistics.
//  5. EXPLAIN QUERY PLAN runs in the shadow without and with the candidates.
//     A statement gains when, compared with its plan without candidates, it
//     has fewer full scans (a SCAN became a SEARCH; a SEARCH through an
//     automatic index counts as a scan) or fewer temporary b-trees (ORDER BY,
//     GROUP BY, DISTINCT). A candidate is kept when the plan of a statement
//     that gains reads it.
//  6. Kept candidates are merged: one that another one serves (a prefix of
//     it) is dropped. The merged set is verified again, alone in the shadow:
//     where a plan reads several of its indexes, each is dropped in turn and
//     keeps the credit only if the plan gets worse without it (or reads
//     another advised index in its place). An index no statement gains from
//     is dropped, a statement that lost its gain in the merge gets its own
//     index back, and this repeats until the set is stable.
//
// Nothing is written to the user's database: it is only read (schema,
// statistics, row counts, samples) and statements are prepared, never run.
package advise

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// Options tune an analysis. The zero value is ready to use.
type Options struct {
	// SampleRows is how many rows of a table are read to estimate how many
	// distinct values its columns hold (default 10000). Tables with no more
	// rows are read whole; larger ones in evenly spaced runs of rowids.
	SampleRows int
	// CountLimit is how many rows of a table never analysed are counted
	// exactly (default 100000); past it the row count is estimated from the
	// span of rowids.
	CountLimit int
	// CoveringColumns is the widest covering variant considered (default 4
	// columns); a negative value disables covering variants.
	CoveringColumns int
	// Timeout bounds the analysis when ctx has no deadline (default 10
	// minutes). qlsqlite gives a statement without a deadline a 30-second
	// one; an analysis of a large schema reads and plans much more than one
	// statement, so it sets its own, far longer, bound instead.
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.SampleRows <= 0 {
		o.SampleRows = 10000
	}
	if o.CountLimit <= 0 {
		o.CountLimit = 100000
	}
	if o.CoveringColumns == 0 {
		o.CoveringColumns = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	return o
}

// withDeadline returns ctx bounded by timeout when it has no deadline.
func withDeadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

// A Query is a statement to advise on.
type Query struct {
	// SQL is one statement. Parameters are allowed and need no values.
	SQL string
	// Total is the time the statement took in total, from statistics, or
	// zero. It orders the advice: an index that helps costlier statements
	// comes first.
	Total time.Duration
}

// A QueryError reports a statement that could not be analysed because it does
// not prepare against the user's database.
type QueryError struct {
	Query string // the statement as given
	Err   error  // SQLite's error, or what is wrong with the text
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("advise: query %q cannot be prepared: %v (fix it or leave it out; the other queries were analysed)", e.Query, e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// A PlanChange is a statement an index helps, with its plans without and with
// the advised indexes.
type PlanChange struct {
	SQL    string
	Before Plan // in the shadow, existing indexes only
	After  Plan // in the shadow, with every advised index
}

// An Advice is one index to create.
type Advice struct {
	Table     string
	Name      string   // the index name, unique in the schema
	Columns   []string // column names in index order
	CreateSQL string   // CREATE INDEX IF NOT EXISTS ...
	Queries   []PlanChange
	Total     time.Duration // sum of Query.Total of the statements it helps
}

// A QueryResult is the outcome for one statement.
type QueryResult struct {
	SQL    string
	Total  time.Duration
	Err    error  // set when the statement does not prepare (a *QueryError)
	Note   string // why the statement could not be analysed fully, or ""
	Before Plan   // in the shadow, existing indexes only
	After  Plan   // in the shadow, with every advised index
}

// A Report is the outcome of an analysis.
type Report struct {
	Advice  []Advice      // ordered by Total, then table and name
	Queries []QueryResult // in the order given
	Notes   []string      // schema objects the shadow could not copy, if any
}

// Analyze advises indexes for queries on db. It reads db and never changes it.
//
// When some queries do not prepare, Analyze returns the report for all of
// them together with an error joining one [*QueryError] per failed query;
// other errors end the analysis and return an empty report.
func Analyze(ctx context.Context, db *sql.DB, queries []Query, opts Options) (Report, error) {
	opts = opts.withDefaults()
	ctx, cancel := withDeadline(ctx, opts.Timeout)
	defer cancel()
	var rep Report
	var failed []error
	err := withRaw(ctx, db, func(c *sqlite3.Conn) (err error) {
		rep, failed, err = analyze(ctx, c, queries, opts)
		return err
	})
	if err != nil {
		return Report{}, err
	}
	return rep, errors.Join(failed...)
}

// withRaw runs fn on the SQLite connection of one connection of db, with
// ctx interrupting it.
func withRaw(ctx context.Context, db *sql.DB, fn func(*sqlite3.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("advise: get a connection: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		d, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("advise: %T is not a github.com/ncruces/go-sqlite3 connection: open the database with the qlsqlite or sqlite3 driver", dc)
		}
		c := d.Raw()
		old := c.SetInterrupt(ctx)
		defer c.SetInterrupt(old)
		return fn(c)
	})
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// checkPrepare prepares query against the user's database, and requires it
// to be exactly one statement.
func checkPrepare(c *sqlite3.Conn, query string) error {
	stmt, tail, err := c.Prepare(query)
	if err != nil {
		return err
	}
	if stmt == nil {
		return errors.New("no statement in the text")
	}
	stmt.Close()
	if rest, _, err := c.Prepare(tail); err != nil || rest != nil {
		if rest != nil {
			rest.Close()
		}
		return fmt.Errorf("more than one statement: pass %q separately", strings.TrimSpace(tail))
	}
	return nil
}

// The state of one analysis.
type analysis struct {
	sch     *schema
	opts    Options
	queries []QueryResult
	ok      []bool   // the query prepares and plans in the shadow
	scans   [][]scan // per query
	before  []Plan   // per query, in the shadow without candidates
	cands   []*candidate
}

func analyze(ctx context.Context, c *sqlite3.Conn, queries []Query, opts Options) (Report, []error, error) {
	sch, err := loadSchema(c)
	if err != nil {
		return Report{}, nil, err
	}
	a := &analysis{sch: sch, opts: opts,
		queries: make([]QueryResult, len(queries)),
		ok:      make([]bool, len(queries)),
		scans:   make([][]scan, len(queries)),
		before:  make([]Plan, len(queries)),
	}
	var failed []error

	w, err := newWhatIf(sch)
	if err != nil {
		return Report{}, nil, err
	}
	defer w.close()
	w.conn.SetInterrupt(ctx)
	for i, q := range queries {
		r := &a.queries[i]
		r.SQL, r.Total = q.SQL, q.Total
		if err := checkPrepare(c, q.SQL); err != nil {
			if ctx.Err() != nil {
				return Report{}, nil, err
			}
			r.Err = &QueryError{Query: q.SQL, Err: err}
			failed = append(failed, r.Err)
			continue
		}
		a.ok[i] = true
		scans, err := w.record(q.SQL)
		if err != nil {
			if ctx.Err() != nil {
				return Report{}, nil, err
			}
			r.Note = whatIfNote(err)
		}
		a.scans[i] = scans
	}

	sh, err := newShadow(ctx, c, sch, opts)
	if err != nil {
		return Report{}, nil, err
	}
	defer sh.close()
	for i := range a.queries {
		if !a.ok[i] {
			continue
		}
		p, err := explain(sh.conn, a.queries[i].SQL)
		if err != nil {
			if ctx.Err() != nil {
				return Report{}, nil, err
			}
			a.ok[i] = false
			a.queries[i].Note = fmt.Sprintf("not analysed for new indexes: the shadow schema cannot plan it (%v)", err)
			continue
		}
		a.before[i] = p
		a.queries[i].Before = p
	}

	if err := a.candidates(sh); err != nil {
		return Report{}, nil, err
	}
	advice, err := a.verify(sh)
	if err != nil {
		return Report{}, nil, err
	}
	return Report{Advice: advice, Queries: a.queries, Notes: sh.notes}, failed, nil
}

// whatIfNote explains why a statement that prepares against the user's
// database does not prepare against the what-if tables.
func whatIfNote(err error) string {
	if strings.Contains(err.Error(), "UPSERT") {
		return "not analysed for new indexes: an UPSERT, whose ON CONFLICT target is a unique index already " +
			"and which virtual tables cannot prepare; a SELECT inside it is not analysed"
	}
	return fmt.Sprintf("not analysed for new indexes: the what-if schema cannot prepare it (%v)", err)
}

// candidates generates, names and creates every candidate of every scan.
func (a *analysis) candidates(sh *shadow) error {
	byKey := map[string]*candidate{}
	taken := map[string]bool{}
	for name := range a.sch.names {
		taken[name] = true
	}
	for i, scans := range a.scans {
		if !a.ok[i] {
			continue
		}
		for _, s := range scans {
			smp, err := sh.sample(s.table)
			if err != nil {
				return err
			}
			served := map[string]bool{}
			for _, c := range generate(s, smp, a.opts.CoveringColumns) {
				if served[c.base] || servedByExisting(c) {
					served[c.key] = true
					continue
				}
				if byKey[c.key] != nil {
					continue
				}
				c.name(taken)
				byKey[c.key] = c
				a.cands = append(a.cands, c)
				if err := sh.create(c); err != nil {
					return err
				}
			}
		}
	}
	return sh.reload()
}

// planAll plans every statement in the shadow as it is now.
func (a *analysis) planAll(sh *shadow) ([]Plan, error) {
	plans := make([]Plan, len(a.queries))
	for i := range a.queries {
		if !a.ok[i] {
			continue
		}
		p, err := explain(sh.conn, a.queries[i].SQL)
		if err != nil {
			return nil, fmt.Errorf("advise: plan %q in the shadow: %w", a.queries[i].SQL, err)
		}
		plans[i] = p
	}
	return plans, nil
}

// reads returns the candidates of set that plan p reads.
func reads(p Plan, set []*candidate) []*candidate {
	var out []*candidate
	for _, name := range p.Indexes() {
		for _, c := range set {
			if c.index.name == name {
				out = append(out, c)
			}
		}
	}
	return out
}

// gains returns, per candidate key, the statements the candidates of set
// (all in the shadow, where plans were made) improve. A statement improves
// when its plan has fewer full scans, or fewer temporary b-trees, than its
// plan without candidates; the gain goes to the candidates its plan reads.
//
// With marginal set, a plan that reads several candidates is planned again
// without each of them in turn, and the gain goes to that one only if the
// plan then gets worse, or reads another candidate in its place: an index
// the planner reads but does not need is not credited.
func (a *analysis) gains(sh *shadow, set []*candidate, plans []Plan, marginal bool) (map[string][]int, error) {
	gain := map[string][]int{}
	retry := map[*candidate][]int{}
	for i, p := range plans {
		if !a.ok[i] || !better(p, a.before[i]) {
			continue
		}
		used := reads(p, set)
		for _, c := range used {
			if marginal && len(used) > 1 {
				retry[c] = append(retry[c], i)
			} else {
				gain[c.key] = append(gain[c.key], i)
			}
		}
	}
	if len(retry) == 0 {
		return gain, nil
	}
	for _, c := range set { // in set order, for determinism
		qs := retry[c]
		if len(qs) == 0 {
			continue
		}
		others := slices.DeleteFunc(slices.Clone(set), func(x *candidate) bool { return x == c })
		if err := sh.keep(others); err != nil {
			return nil, err
		}
		for _, i := range qs {
			p, err := explain(sh.conn, a.queries[i].SQL)
			if err != nil {
				return nil, fmt.Errorf("advise: plan %q in the shadow: %w", a.queries[i].SQL, err)
			}
			swapped := slices.ContainsFunc(reads(p, others), func(x *candidate) bool {
				return !slices.Contains(reads(plans[i], set), x)
			})
			if better(plans[i], p) || swapped {
				gain[c.key] = append(gain[c.key], i)
			}
		}
	}
	for k := range gain {
		slices.Sort(gain[k])
	}
	return gain, sh.keep(set)
}

// maxRestores bounds the rounds in which a statement that lost its gain to a
// merge gets its own index back; later rounds only drop indexes, so the loop
// ends.
const maxRestores = 3

// verify keeps the candidates the planner picks to a statement's gain,
// merges them, and verifies the merged set until it is stable: an index no
// statement gains from is dropped, and for a few rounds a statement that lost
// its gain gets back the candidates that gave it.
func (a *analysis) verify(sh *shadow) ([]Advice, error) {
	plans, err := a.planAll(sh)
	if err != nil {
		return nil, err
	}
	gain, err := a.gains(sh, a.cands, plans, false)
	if err != nil {
		return nil, err
	}
	var kept []*candidate
	firstGain := map[int][]*candidate{} // statement -> the candidates it gained from among all of them
	for _, c := range a.cands {
		for _, q := range gain[c.key] {
			firstGain[q] = append(firstGain[q], c)
		}
		if len(gain[c.key]) > 0 {
			kept = append(kept, c)
		}
	}
	set := merge(kept)

	for round := 0; ; round++ {
		if err := sh.keep(set); err != nil {
			return nil, err
		}
		if plans, err = a.planAll(sh); err != nil {
			return nil, err
		}
		if gain, err = a.gains(sh, set, plans, true); err != nil {
			return nil, err
		}
		var next []*candidate
		for _, c := range set {
			if len(gain[c.key]) > 0 {
				next = append(next, c)
			}
		}
		if round < maxRestores {
			helped := map[int]bool{}
			for _, qs := range gain {
				for _, q := range qs {
					helped[q] = true
				}
			}
			for q := range a.queries {
				if helped[q] {
					continue
				}
				for _, c := range firstGain[q] {
					if !slices.Contains(set, c) && !slices.Contains(next, c) {
						next = append(next, c)
					}
				}
			}
		}
		if sameSet(next, set) {
			break
		}
		set = next
	}

	var out []Advice
	for i := range a.queries {
		if a.ok[i] {
			a.queries[i].After = plans[i]
		}
	}
	for _, c := range set {
		adv := Advice{Table: c.table.name, Name: c.index.name, CreateSQL: c.createSQL}
		for _, t := range c.cols {
			adv.Columns = append(adv.Columns, c.table.cols[t.col].name)
		}
		for _, q := range gain[c.key] {
			r := a.queries[q]
			adv.Queries = append(adv.Queries, PlanChange{SQL: r.SQL, Before: r.Before, After: r.After})
			adv.Total += r.Total
		}
		out = append(out, adv)
	}
	slices.SortStableFunc(out, func(x, y Advice) int {
		switch {
		case x.Total > y.Total:
			return -1
		case x.Total < y.Total:
			return 1
		}
		if c := strings.Compare(x.Table, y.Table); c != 0 {
			return c
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out, nil
}

func sameSet(x, y []*candidate) bool {
	if len(x) != len(y) {
		return false
	}
	for _, c := range x {
		if !slices.Contains(y, c) {
			return false
		}
	}
	return true
}

package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PurgePolicy says which rows [PurgeWith] deletes.
type PurgePolicy struct {
	// Table is the table of the main database to purge, matched like
	// SQLite matches names and quoted in every statement.
	Table string

	// Where selects the rows to delete: an SQL expression written by the
	// program, such as "timestamp < ?", with its values in Args. It is
	// required: write "true" to delete every row. See ArchivePolicy.Where
	// for how SQLite compares dates.
	Where string

	// Args are the values of the parameters in Where, positional or named
	// (names must not start with "qlsqlite_").
	Args []any

	// BatchSize is the number of rows deleted per transaction (default
	// [DefaultBatchSize], at most [MaxBatchSize]).
	BatchSize int

	// Progress, if not nil, is called after each batch with the report so
	// far; its Total field then holds the number of rows that matched when
	// the purge started.
	Progress func(PurgeReport)

	// DryRun counts the rows that would be deleted (in Total) and deletes
	// nothing.
	DryRun bool
}

// PurgeReport says what [PurgeWith] did.
type PurgeReport struct {
	Table   string        // the table, as named in the schema
	Total   int64         // rows matching at the start (counted only for a dry run or when Progress is set)
	Deleted int64         // rows deleted
	Batches int           // batches run
	DryRun  bool          // whether this was a dry run
	Elapsed time.Duration // wall time of the purge
}

// Purge deletes the rows of table that match where (with args) in batches of
// batchSize rows, each batch its own short write transaction, and returns
// the number of rows deleted. It is [PurgeWith] without a progress callback;
// see there for the details.
func Purge(ctx context.Context, db *sql.DB, table, where string, args []any, batchSize int) (int64, error) {
	rep, err := PurgeWith(ctx, db, PurgePolicy{Table: table, Where: where, Args: args, BatchSize: batchSize})
	return rep.Deleted, err
}

// PurgeWith deletes the rows of p.Table that match p.Where, for retention.
//
// Rows go in key order (the rowid, or the primary key of a WITHOUT ROWID
// table), p.BatchSize at a time: each batch finds the key of its last row
// and deletes the matching rows up to it in one autocommit DELETE, so the
// write lock is held for one batch only and other writers get their turn
// between batches. The condition is evaluated again by the DELETE itself,
// so a row that stops matching before its batch runs is kept. SQLite's
// DELETE ... LIMIT is not used: it is not compiled into every build.
//
// Where is evaluated by SQLite with its own comparison rules: an integer is
// always smaller than a text, so a text cutoff on a column of Unix times
// selects every row. [Before] builds the condition of a time cutoff in the
// format the column holds.
//
// Deleting is what a purge is for: foreign-key actions (ON DELETE CASCADE)
// and triggers run as for any DELETE. Use [Archive] to keep the rows.
//
// A context without a deadline is given one [LongDeadline] ahead. When ctx
// is cancelled, PurgeWith stops between statements and returns the report
// so far with an error wrapping ctx's error; the batches already committed
// stay deleted and a rerun carries on.
func PurgeWith(ctx context.Context, db *sql.DB, p PurgePolicy) (rep PurgeReport, err error) {
	start := time.Now()
	defer func() { rep.Elapsed = time.Since(start) }()
	if err := p.check(); err != nil {
		return rep, err
	}
	if p.BatchSize == 0 {
		p.BatchSize = DefaultBatchSize
	}
	ctx, cancel := longContext(ctx)
	defer cancel()

	conn, err := db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("lifecycle: purge: getting a connection: %w", err)
	}
	defer conn.Close()
	t, err := lookupTable(ctx, conn, "main", p.Table)
	if err != nil {
		return rep, fmt.Errorf("lifecycle: purge: %w", err)
	}
	rep.Table = t.name
	if !t.withoutRowid {
		// The rowid is never NULL and, as the DELETE checks the condition
		// again, its stability does not matter here.
		rc, err := rowidColumn(t)
		if err != nil {
			return rep, err
		}
		t.key = []column{rc}
	}
	if p.Progress != nil || p.DryRun {
		if rep.Total, err = countMatching(ctx, conn, t, p.Where, p.Args); err != nil {
			return rep, fmt.Errorf("lifecycle: purge: %w", err)
		}
	}
	if p.DryRun {
		rep.DryRun = true
		return rep, nil
	}

	stmts, err := preparePurge(ctx, conn, t, p.Where)
	defer stmts.close()
	if err != nil {
		return rep, err
	}
	err = stmts.run(ctx, t, p, &rep)
	return rep, err
}

// check reports what is wrong with p, naming the field.
func (p PurgePolicy) check() error {
	if err := checkName("table", p.Table); err != nil {
		return fmt.Errorf("lifecycle: purge: %w", err)
	}
	if strings.TrimSpace(p.Where) == "" {
		return errors.New(`lifecycle: purge: Where is empty: give the condition that selects the rows to delete (write "true" to delete every row)`)
	}
	if p.BatchSize < 0 || p.BatchSize > MaxBatchSize {
		return fmt.Errorf("lifecycle: purge: BatchSize %d is out of range: use 1 to %d, or 0 for the default (%d)", p.BatchSize, MaxBatchSize, DefaultBatchSize)
	}
	return nil
}

// purgeStmts are the prepared statements of a purge: [next, first] batch,
// each [nth, last, delete] (see boundQueries).
type purgeStmts [2][3]*sql.Stmt

// preparePurge prepares the statements of a purge of t's rows that match
// where. The statements prepared before an error are returned with it, for
// close.
func preparePurge(ctx context.Context, conn *sql.Conn, t *table, where string) (*purgeStmts, error) {
	stmts := &purgeStmts{}
	kt := t.keyTuple()
	cond := func(first bool) string {
		c := "(" + where + ")"
		if !first {
			c += " AND " + kt + " > " + t.paramTuple("qlsqlite_lo")
		}
		return c
	}
	for i, first := range []bool{false, true} {
		nth, last := boundQueries(t, cond(first))
		del := `DELETE FROM ` + t.quoted + ` WHERE ` + cond(first) + ` AND ` + kt + ` <= ` + t.paramTuple("qlsqlite_hi")
		for j, q := range []string{nth, last, del} {
			var err error
			if stmts[i][j], err = conn.PrepareContext(ctx, q); err != nil {
				return stmts, fmt.Errorf("lifecycle: purge: preparing %q: %w (check Where)", q, err)
			}
		}
	}
	return stmts, nil
}

// close closes the statements prepared.
func (stmts *purgeStmts) close() {
	for _, pair := range stmts {
		for _, st := range pair {
			if st != nil {
				st.Close()
			}
		}
	}
}

// run deletes the rows batch by batch, counting them in rep, until none is
// left or ctx is done.
func (stmts *purgeStmts) run(ctx context.Context, t *table, p PurgePolicy, rep *PurgeReport) error {
	stopped := func(err error) error {
		if err == nil {
			return fmt.Errorf("lifecycle: purge: stopped after %d rows (run it again to finish): %w", rep.Deleted, ctx.Err())
		}
		return fmt.Errorf("lifecycle: purge: stopped after %d rows (run it again to finish): %w (%w)", rep.Deleted, ctx.Err(), err)
	}
	var lo []any
	for {
		if ctx.Err() != nil {
			return stopped(nil)
		}
		st := stmts[0]
		if lo == nil {
			st = stmts[1]
		}
		args := append(append([]any{}, p.Args...), namedKey("qlsqlite_lo", lo)...)
		hi, final, err := upperBound(ctx, st[0], st[1], args, p.BatchSize, len(t.key))
		if hi == nil && err == nil {
			return nil
		}
		if err != nil && ctx.Err() != nil {
			return stopped(err)
		}
		if err != nil {
			return fmt.Errorf("lifecycle: purge: batch %d: %w", rep.Batches+1, err)
		}
		args = append(args, namedKey("qlsqlite_hi", hi)...)
		res, err := st[2].ExecContext(ctx, args...)
		if err != nil && ctx.Err() != nil {
			return stopped(err)
		}
		if err != nil {
			return fmt.Errorf("lifecycle: purge: batch %d: %w", rep.Batches+1, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("lifecycle: purge: batch %d: %w", rep.Batches+1, err)
		}
		rep.Deleted += n
		rep.Batches++
		if p.Progress != nil {
			p.Progress(*rep)
		}
		if final {
			return nil
		}
		lo = hi
	}
}

// rowidColumn returns the rowid of t under a name no column of t hides.
func rowidColumn(t *table) (column, error) {
	if t.rowidAlias() {
		return t.key[0], nil
	}
	for _, name := range []string{"rowid", "_rowid_", "oid"} {
		if _, ok := t.column(name); !ok {
			return column{name: name, quoted: name, notNull: true, pk: 1}, nil
		}
	}
	return column{}, fmt.Errorf("lifecycle: table %s has columns named rowid, _rowid_ and oid, which hide its rowid: it cannot be purged in batches", t.name)
}

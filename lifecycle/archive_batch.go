package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// This file holds how [Archive] moves one batch of rows: copy, then delete
// only what was copied exactly, in transactions ordered so that no crash
// and no concurrent writer can lose a row.

// maxAttempts is how many times [Archive] copies one batch when other
// connections insert or change rows of the batch between its copy and its
// delete. The rows still unsettled after that stay in the source, and only
// there (ArchiveReport.Unsettled); the next run archives them.
const maxAttempts = 3

// run archives batch after batch until no matching row is left.
func (a *archiver) run(ctx context.Context) error {
	var lo []any // last key of the previous batch; nil before the first
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lifecycle: archive: stopped after %d batches (%d rows moved; run it again to finish): %w", a.rep.Batches, a.rep.Moved, err)
		}
		hi, final, err := a.batch(ctx, lo)
		if err != nil && ctx.Err() != nil {
			// SQLite reports an interrupted statement, not why it was.
			return fmt.Errorf("lifecycle: archive: stopped in batch %d (%d rows moved; nothing is lost, run it again to finish): %w (%w)", a.rep.Batches+1, a.rep.Moved, ctx.Err(), err)
		}
		if err != nil {
			return fmt.Errorf("lifecycle: archive: batch %d (%d rows moved so far; nothing is lost, run it again to finish): %w", a.rep.Batches+1, a.rep.Moved, err)
		}
		if hi == nil {
			return nil
		}
		a.rep.Batches++
		if a.p.Progress != nil {
			a.p.Progress(*a.rep)
		}
		if final {
			return nil
		}
		lo = hi
	}
}

// batch moves the matching rows with keys in (lo, hi], where hi is the
// BatchSize-th matching key after lo, or the last one if there are fewer
// (final is then true). It returns hi, nil when no matching row is left.
//
// A batch is attempted again, up to maxAttempts times, while matching rows
// of its range are left in the source without a row in the archive: rows
// inserted into the range, or changed, between an attempt's copy and its
// delete. Matching rows left whose key the archive holds with other content
// are conflicts.
func (a *archiver) batch(ctx context.Context, lo []any) (hi []any, final bool, err error) {
	st := &a.batches[1]
	if lo == nil {
		st = &a.batches[0]
	}
	bounds := namedKey("qlsqlite_lo", lo)
	hi, final, err = upperBound(ctx, st.nth, st.last,
		append(append([]any{}, a.p.Args...), bounds...), a.p.BatchSize, len(a.src.key))
	if hi == nil || err != nil {
		return nil, false, err
	}
	rangeBounds := append(append([]any{}, bounds...), namedKey("qlsqlite_hi", hi)...)
	rangeArgs := append(append([]any{}, a.p.Args...), rangeBounds...)
	batchNo := a.rep.Batches + 1
	for attempt := 1; ; attempt++ {
		if err := a.attempt(ctx, st, rangeBounds, rangeArgs, batchNo); err != nil {
			return nil, false, err
		}
		var left, conflicts int64
		if err := st.left.QueryRowContext(ctx, rangeArgs...).Scan(&left, &conflicts); err != nil {
			return nil, false, fmt.Errorf("counting rows left in the source: %w", err)
		}
		if left == conflicts || attempt == maxAttempts {
			a.rep.Conflicts += conflicts
			a.rep.Unsettled += left - conflicts
			if conflicts > 0 && a.firstConflict == "" {
				if err := st.key.QueryRowContext(ctx, rangeArgs...).Scan(&a.firstConflict); err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, false, fmt.Errorf("reading a conflicting key: %w", err)
				}
			}
			return hi, final, nil
		}
	}
}

// attempt copies the batch's range once, then deletes what was copied
// exactly. It runs, on the dedicated connection with the archive attached:
//
//  1. a transaction that copies the matching rows of the range the archive
//     lacks (INSERT ... ON CONFLICT DO NOTHING: a key the archive holds is
//     never overwritten) and commits. It writes the archive file only, and
//     synchronous=FULL makes the copies durable before anything is deleted.
//  2. an IMMEDIATE transaction, which holds the source's write lock from
//     its start, that deletes the rows of the range whose identical copy
//     (same key, every column equal under BINARY collation, NULL-safe) is in
//     the archive; and, for rows of the range still in the source that
//     another connection changed between 1 and 2, withdraws the copies made
//     in 1, so that the row is in the source only (a later attempt or run
//     copies it again). Copies the archive held before 1 are never
//     withdrawn: they may be originals whose key the source reused.
//
// In 2 the source's delete and the archive's withdrawal touch different
// rows: a crash that makes one durable without the other leaves each row in
// the source, in the archive or in both, never in neither. Withdrawal needs
// the source's write lock (no one can delete the source row meanwhile) and
// an archive no other connection wrote since 1 (its data_version); without
// the latter, or when foreign keys must be on for the delete, it runs in a
// third IMMEDIATE transaction with foreign keys off, or not at all (the row
// then counts as a conflict).
//
// Each transaction first checks that neither table changed shape
// (checkSchema); if one did in between, 2 deletes nothing, withdraws this
// attempt's copies, and the error is returned.
func (a *archiver) attempt(ctx context.Context, st *batchStmts, rangeBounds, rangeArgs []any, batchNo int) error {
	// 1. Copy, with foreign keys off (the archive has no parent tables).
	if err := a.setFK(ctx, false); err != nil {
		return err
	}
	var pre, copied, dv int64
	err := a.tx(ctx, `BEGIN`, func() error {
		if err := a.checkSchema(ctx); err != nil {
			return err
		}
		if err := st.pre.QueryRowContext(ctx, rangeBounds...).Scan(&pre); err != nil {
			return fmt.Errorf("looking for earlier copies in the archive: %w", err)
		}
		if pre > 0 {
			if _, err := a.clearKeys.ExecContext(ctx); err != nil {
				return fmt.Errorf("clearing %s: %w", keysTable, err)
			}
			if _, err := st.keep.ExecContext(ctx, rangeBounds...); err != nil {
				return fmt.Errorf("noting the archive's earlier copies: %w", err)
			}
		}
		var err error
		if copied, err = execCount(ctx, st.copy, rangeArgs); err != nil {
			return fmt.Errorf("copying rows into the archive: %w", err)
		}
		if err := a.dataDest.QueryRowContext(ctx).Scan(&dv); err != nil {
			return fmt.Errorf("reading the archive's data_version: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.rep.Copied += copied
	a.callHook("copied", batchNo)

	// 2. Delete what was copied exactly, with foreign keys as they were.
	if err := a.setFK(ctx, true); err != nil {
		return err
	}
	withdrawArgs := append(append([]any{}, rangeBounds...), sql.Named("qlsqlite_pre", pre))
	var changed error
	var laterWithdraw bool
	err = a.tx(ctx, `BEGIN IMMEDIATE`, func() error {
		changed = a.checkSchema(ctx)
		if changed != nil && !errors.Is(changed, errSchemaChanged) {
			return changed
		}
		if changed == nil {
			moved, err := execCount(ctx, st.del, rangeBounds)
			if err != nil {
				return fmt.Errorf("deleting archived rows from the source: %w", err)
			}
			a.rep.Moved += moved
		}
		var stale int64
		if err := st.stale.QueryRowContext(ctx, rangeBounds...).Scan(&stale); err != nil {
			return fmt.Errorf("counting rows left in the source: %w", err)
		}
		if stale == 0 {
			return nil
		}
		if a.toggleFK {
			laterWithdraw = true
			return nil
		}
		return a.withdraw(ctx, st, withdrawArgs, dv)
	})
	if err != nil {
		if changed != nil && errors.Is(changed, errSchemaChanged) {
			return fmt.Errorf("%w (then: %w)", changed, err)
		}
		return err
	}
	a.callHook("deleted", batchNo)
	if laterWithdraw {
		if err := a.setFK(ctx, false); err != nil {
			return err
		}
		err := a.tx(ctx, `BEGIN IMMEDIATE`, func() error { return a.withdraw(ctx, st, withdrawArgs, dv) })
		if err != nil {
			return err
		}
	}
	return changed
}

// withdraw deletes this attempt's copies of the rows of the range that are
// still in the source, in a transaction that holds the source's write lock,
// if no other connection has written the archive since the copy (its
// data_version is still dv).
func (a *archiver) withdraw(ctx context.Context, st *batchStmts, args []any, dv int64) error {
	var now int64
	if err := a.dataDest.QueryRowContext(ctx).Scan(&now); err != nil {
		return fmt.Errorf("reading the archive's data_version: %w", err)
	}
	if now != dv {
		return nil // left in both files: counted as conflicts
	}
	n, err := execCount(ctx, st.withdraw, args)
	if err != nil {
		return fmt.Errorf("withdrawing copies of rows changed since they were copied: %w", err)
	}
	a.rep.Copied -= n
	return nil
}

// tx runs f inside a transaction started with begin, and commits it; if f
// or the commit fails it rolls back, and returns the error.
func (a *archiver) tx(ctx context.Context, begin string, f func() error) error {
	if _, err := a.conn.ExecContext(ctx, begin); err != nil {
		return fmt.Errorf("starting a transaction: %w", err)
	}
	if err := f(); err != nil {
		a.rollback()
		return err
	}
	if _, err := a.conn.ExecContext(ctx, `COMMIT`); err != nil {
		a.rollback()
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// rollback ends a failed transaction, even under a cancelled context. SQLite
// may have rolled it back already (an interrupted statement can); if a
// transaction is still open afterwards, the connection is closed at detach.
func (a *archiver) rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := a.conn.ExecContext(ctx, `ROLLBACK`); err == nil {
		return
	}
	_ = withRaw(a.conn, func(c *sqlite3.Conn) error {
		if !c.GetAutocommit() {
			a.broken = true
		}
		return nil
	})
}

// setFK switches foreign-key enforcement on the connection on or off, when
// the run toggles it (other tables reference the source, and enforcement
// was on): off for writing into the archive, which has no parent tables,
// on for deleting from the source. It must run outside a transaction.
func (a *archiver) setFK(ctx context.Context, on bool) error {
	if !a.toggleFK || a.fkNow == on {
		return nil
	}
	if _, err := a.conn.ExecContext(ctx, fkPragma(on)); err != nil {
		return fmt.Errorf("switching foreign keys %v: %w", map[bool]string{true: "on", false: "off"}[on], err)
	}
	a.fkNow = on
	return nil
}

// execCount runs a statement and returns the number of rows it changed.
func execCount(ctx context.Context, st *sql.Stmt, args []any) (int64, error) {
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (a *archiver) callHook(phase string, batch int) {
	if a.p.hook != nil {
		a.p.hook(phase, batch)
	}
}

// boundQueries returns the two queries that find a batch's upper key bound
// among the rows of t that satisfy cond: the n-th key (OFFSET :qlsqlite_skip)
// and, when fewer rows are left, the last one. Neither sorts: both walk the
// primary key, forwards or backwards.
func boundQueries(t *table, cond string) (nth, last string) {
	nth = `SELECT ` + t.plainKey() + ` FROM ` + t.quoted + ` WHERE ` + cond +
		` ORDER BY ` + t.orderBy(false) + ` LIMIT 1 OFFSET :qlsqlite_skip`
	last = `SELECT ` + t.plainKey() + ` FROM ` + t.quoted + ` WHERE ` + cond +
		` ORDER BY ` + t.orderBy(true) + ` LIMIT 1`
	return nth, last
}

// upperBound runs the queries of boundQueries: it returns the n-th key, or
// the last key with final set when fewer than n rows are left, or nil when
// none is.
func upperBound(ctx context.Context, nth, last *sql.Stmt, args []any, n, keyLen int) (hi []any, final bool, err error) {
	hi = make([]any, keyLen)
	ptrs := make([]any, keyLen)
	for i := range hi {
		ptrs[i] = &hi[i]
	}
	err = nth.QueryRowContext(ctx, append(args[:len(args):len(args)], sql.Named("qlsqlite_skip", n-1))...).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		final = true
		err = last.QueryRowContext(ctx, args...).Scan(ptrs...)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("finding the batch's keys: %w", err)
	}
	return hi, final, nil
}

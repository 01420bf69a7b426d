package qlsqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
)

// Defaults of retrying (DSN: "_retry").
const (
	DefaultRetry       = 3                      // attempts, the first one included
	DefaultRetryDelay  = 10 * time.Millisecond  // the first backoff
	DefaultRetryMaxGap = 500 * time.Millisecond // the longest backoff
)

// retrier retries work that lost a race for SQLite's lock where nothing was
// applied, with exponential backoff and jitter, bounded by the context.
//
// It runs only after a first attempt failed: the call path of a statement
// that succeeds builds nothing.
type retrier struct {
	attempts  int
	retryable func(error) bool // which failures are retried
	exhausted string           // what retriesError says, if not that the database stayed locked
	policy    retrypolicy.RetryPolicy[any]
}

// newRetrier returns a retrier of failures that retryable accepts, or nil
// when attempts allow no retry.
func newRetrier(attempts int, onRetry func(error), retryable func(error) bool) *retrier {
	if attempts <= 1 {
		return nil
	}
	b := retrypolicy.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil && retryable(err) }).
		WithMaxAttempts(attempts).
		WithBackoff(DefaultRetryDelay, DefaultRetryMaxGap).
		WithJitterFactor(0.5).
		ReturnLastFailure()
	if onRetry != nil {
		b = b.OnRetry(func(e failsafe.ExecutionEvent[any]) { onRetry(e.LastError()) })
	}
	return &retrier{attempts: attempts, retryable: retryable, policy: b.Build()}
}

// again runs fn again after its first attempt failed with first, while the
// failures are retryable and attempts and ctx last. It returns fn's last
// result; when ctx ends first, the error matches both ctx's error and the
// last failure. wait, if not nil, is told each backoff before an attempt.
func again[R any](ctx context.Context, r *retrier, first error, wait func(time.Duration), fn func() (R, error)) (R, error) {
	var zero R
	if r == nil || !r.retryable(first) {
		return zero, first
	}
	var res R
	last := first
	var ended time.Time // when the last attempt ended; zero before the first
	_, err := failsafe.With[any](r.policy).WithContext(ctx).Get(func() (any, error) {
		if ended.IsZero() { // the attempt already made
			ended = time.Now()
			return nil, first
		}
		if wait != nil {
			wait(time.Since(ended))
		}
		var err error
		res, err = fn()
		last = err
		ended = time.Now()
		return nil, err
	})
	if err == nil {
		return res, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(last, ctxErr) {
		return zero, &timeoutError{classOf: classOf{Performance}, ctxErr: ctxErr, err: last}
	}
	if r.retryable(last) {
		return zero, &retriesError{classOf: classOf{Performance}, attempts: r.attempts, err: last, what: r.exhausted}
	}
	return zero, last
}

// retriesError is the error of work still locked out after every attempt.
type retriesError struct {
	classOf
	attempts int
	err      error
	what     string // what kept failing; "" for SQLite's lock
}

func (e *retriesError) Error() string {
	if e.what != "" {
		return fmt.Sprintf("qlsqlite: %s through %d attempts: %v", e.what, e.attempts, e.err)
	}
	return fmt.Sprintf("qlsqlite: the database stayed locked through %d attempts (raise _retry or the busy timeout, or shorten the transactions that hold the lock): %v", e.attempts, e.err)
}

func (e *retriesError) Unwrap() error { return e.err }

// RunTx runs fn in a transaction of db and commits it.
//
// When fn, BEGIN or COMMIT fails because the database was locked
// (sqlite3.BUSY, including BUSY_SNAPSHOT, or sqlite3.LOCKED), RunTx rolls the
// transaction back and runs fn again from the start, with exponential backoff
// and jitter, up to the database's "_retry" attempts and for as long as ctx
// lasts. Any other error from fn rolls the transaction back and is returned
// as it is. fn must not commit or roll back tx itself, and should have no
// effects outside the transaction, since it may run more than once.
//
// A transaction that starts as a reader (a DEFERRED one, with
// "_txlock=deferred") and then writes can lose the race for the lock in a
// way no busy handler can save: its snapshot is older than the last commit
// (BUSY_SNAPSHOT). On a qlsqlite database, RunTx therefore runs fn again as
// a writer: BEGIN IMMEDIATE, queued at the writer gate, so that the rerun
// cannot lose that race again within the process.
//
// On a database of another [Backend] (PostgreSQL through qlpg), RunTx runs
// fn again on the errors the backend names (for PostgreSQL, serialization
// failures, 40001, and deadlocks, 40P01), with the same options, and on no
// other error.
//
// db may be any *sql.DB; opened with qlsqlite (or a backend's driver), it
// uses its "_retry" setting, otherwise [DefaultRetry] and SQLite's rules.
func RunTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	r := newRetrier(DefaultRetry, nil, sqliteRules{}.retryableTx)
	rerun := opts
	if d, err := stateOf(db); err == nil {
		r = d.txRetrier
		if d.backend == nil {
			rerun = asWriter(opts)
		}
	}
	err := runTxOnce(ctx, db, opts, fn)
	if err == nil || r == nil {
		return err
	}
	_, err = again(ctx, r, err, nil, func() (struct{}, error) {
		return struct{}{}, runTxOnce(ctx, db, rerun, fn)
	})
	return err
}

// asWriter returns the options that make a transaction take SQLite's write
// lock at BEGIN (ncruces's serializable level is BEGIN IMMEDIATE), unless
// opts already chose a level or asked for a read-only transaction, which
// never writes.
func asWriter(opts *sql.TxOptions) *sql.TxOptions {
	if opts != nil && (opts.ReadOnly || opts.Isolation != sql.LevelDefault) {
		return opts
	}
	return &sql.TxOptions{Isolation: sql.LevelSerializable}
}

func runTxOnce(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

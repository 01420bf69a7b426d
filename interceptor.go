package qlsqlite

import (
	"context"
	"database/sql/driver"
	"io"
	"time"

	"github.com/ngrok/sqlmw"
)

// interceptor is the one [sqlmw.Interceptor] where every per-call policy
// plugs in. Each connection gets its own, so that per-connection state needs
// no lock shared by all goroutines. The [observer] wraps it, so that what is
// recorded of a call (its duration, span, error) includes these policies.
//
// It is free of SQLite specifics: what is SQLite's own lives beneath it, in
// [sqliteConn].
//
// Rules every policy here keeps:
//   - An Exec with an empty query is ncruces's Savepoint handshake: its context
//     is a private type that must reach ncruces untouched (DESIGN.md, trap 2).
//   - [driver.ErrSkip] is not an error.
//   - A query's context is returned to sqlmw, which hands it to RowsNext and
//     RowsClose: the statement's deadline covers its row iteration and is
//     released when the rows close.
type interceptor struct {
	sqlmw.NullInterceptor
	timeout time.Duration // the default statement deadline; 0: none
	retrier *retrier      // nil: no retries
	breaker *breaker      // nil: no breaker
	session session       // the connection beneath
	spare   *stmtContext  // a released statement context, for the next statement
}

// session is what the interceptor asks of the connection beneath it.
type session interface {
	// inTx reports whether a transaction is open, in which case no single
	// statement may be retried.
	inTx() bool
	// observe is told every call's error and whether a transaction was
	// open when the call began: after a fatal error the connection is not
	// reused.
	observe(err error, inTx bool)
	// callStart is when the call in progress started, if a layer above
	// timed it already, or the zero time.
	callStart() time.Time
	// addWait adds to the time the call in progress spent waiting: the
	// backoffs between its retries.
	addWait(d time.Duration)
}

// outcome records a call's error with the breaker and the connection.
func (i *interceptor) outcome(err error, inTx bool) {
	i.breaker.record(err)
	i.session.observe(err, inTx)
}

func newInterceptor(db *database, s session) *interceptor {
	return &interceptor{timeout: db.cfg.timeout, retrier: db.retrier, breaker: db.breaker, session: s}
}

// deadline returns the context a statement should run under: the caller's,
// with the default deadline added when it has none.
func (i *interceptor) deadline(ctx context.Context) (context.Context, *stmtContext) {
	start := i.session.callStart() // taken first, so that none is left for a later call
	if i.timeout <= 0 {
		return ctx, nil
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, nil
	}
	if start.IsZero() {
		start = time.Now()
	}
	sc := i.spare
	if sc != nil {
		i.spare = nil
	} else {
		sc = &stmtContext{}
	}
	sc.reset(ctx, start, i.timeout)
	return sc, sc
}

// release ends a statement's context, keeping it as the spare if it can be
// reused.
func (i *interceptor) release(sc *stmtContext) {
	if sc.release() && i.spare == nil {
		i.spare = sc
	}
}

// ConnExecContext implements [sqlmw.Interceptor]. An autocommit statement
// that lost a race for the lock applied nothing and is retried.
func (i *interceptor) ConnExecContext(ctx context.Context, conn driver.ExecerContext, query string, args []driver.NamedValue) (driver.Result, error) {
	if query == "" {
		return conn.ExecContext(ctx, query, args) // the Savepoint handshake
	}
	if err := i.breaker.allow(); err != nil {
		return nil, err
	}
	ctx, sc := i.deadline(ctx)
	autocommit := !i.session.inTx()
	res, err := conn.ExecContext(ctx, query, args)
	if err != nil && autocommit {
		res, err = again(ctx, i.retrier, err, i.session.addWait, func() (driver.Result, error) { return conn.ExecContext(ctx, query, args) })
	}
	err = surfaceCtxErr(ctx, err)
	i.outcome(err, !autocommit)
	i.release(sc)
	return res, err
}

// ConnQueryContext implements [sqlmw.Interceptor]. A query fails before its
// rows only while it is prepared, which is always safe to retry.
func (i *interceptor) ConnQueryContext(ctx context.Context, conn driver.QueryerContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	if err := i.breaker.allow(); err != nil {
		return ctx, nil, err
	}
	ctx, sc := i.deadline(ctx)
	rows, err := conn.QueryContext(ctx, query, args)
	if err != nil {
		rows, err = again(ctx, i.retrier, err, i.session.addWait, func() (driver.Rows, error) { return conn.QueryContext(ctx, query, args) })
	}
	if err != nil {
		err = surfaceCtxErr(ctx, err)
		i.outcome(err, i.session.inTx())
		i.release(sc)
		return ctx, nil, err
	}
	return ctx, rows, nil
}

// ConnPrepareContext implements [sqlmw.Interceptor].
func (i *interceptor) ConnPrepareContext(ctx context.Context, conn driver.ConnPrepareContext, query string) (context.Context, driver.Stmt, error) {
	if err := i.breaker.allow(); err != nil {
		return ctx, nil, err
	}
	sctx, sc := i.deadline(ctx)
	stmt, err := conn.PrepareContext(sctx, query)
	if err != nil {
		stmt, err = again(sctx, i.retrier, err, i.session.addWait, func() (driver.Stmt, error) { return conn.PrepareContext(sctx, query) })
	}
	err = surfaceCtxErr(sctx, err)
	i.outcome(err, i.session.inTx())
	i.release(sc)
	return ctx, stmt, err
}

// ConnBeginTx implements [sqlmw.Interceptor]. The deadline bounds BEGIN
// only; the transaction itself lives as long as the caller's context. A
// BEGIN that lost a race for the lock started nothing and is retried.
func (i *interceptor) ConnBeginTx(ctx context.Context, conn driver.ConnBeginTx, opts driver.TxOptions) (context.Context, driver.Tx, error) {
	if err := i.breaker.allow(); err != nil {
		return ctx, nil, err
	}
	sctx, sc := i.deadline(ctx)
	tx, err := conn.BeginTx(sctx, opts)
	if err != nil {
		tx, err = again(sctx, i.retrier, err, i.session.addWait, func() (driver.Tx, error) { return conn.BeginTx(sctx, opts) })
	}
	err = surfaceCtxErr(sctx, err)
	i.outcome(err, i.session.inTx())
	i.release(sc)
	return ctx, tx, err
}

// TxCommit implements [sqlmw.Interceptor]: a commit is where a failing disk
// shows, so the breaker counts it.
func (i *interceptor) TxCommit(ctx context.Context, tx driver.Tx) error {
	err := tx.Commit()
	i.outcome(err, i.session.inTx())
	return err
}

// StmtExecContext implements [sqlmw.Interceptor].
func (i *interceptor) StmtExecContext(ctx context.Context, stmt driver.StmtExecContext, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := i.breaker.allow(); err != nil {
		return nil, err
	}
	ctx, sc := i.deadline(ctx)
	autocommit := !i.session.inTx()
	res, err := stmt.ExecContext(ctx, args)
	if err != nil && autocommit {
		res, err = again(ctx, i.retrier, err, i.session.addWait, func() (driver.Result, error) { return stmt.ExecContext(ctx, args) })
	}
	err = surfaceCtxErr(ctx, err)
	i.outcome(err, !autocommit)
	i.release(sc)
	return res, err
}

// StmtQueryContext implements [sqlmw.Interceptor].
func (i *interceptor) StmtQueryContext(ctx context.Context, stmt driver.StmtQueryContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	if err := i.breaker.allow(); err != nil {
		return ctx, nil, err
	}
	ctx, sc := i.deadline(ctx)
	rows, err := stmt.QueryContext(ctx, args)
	if err != nil {
		err = surfaceCtxErr(ctx, err)
		i.release(sc)
		return ctx, nil, err
	}
	return ctx, rows, nil
}

// RowsNext implements [sqlmw.Interceptor].
func (i *interceptor) RowsNext(ctx context.Context, rows driver.Rows, dest []driver.Value) error {
	err := rows.Next(dest)
	if err != nil && err != io.EOF {
		err = surfaceCtxErr(ctx, err)
		i.outcome(err, i.session.inTx())
	}
	return err
}

// RowsClose implements [sqlmw.Interceptor]: the statement is over.
func (i *interceptor) RowsClose(ctx context.Context, rows driver.Rows) error {
	err := rows.Close()
	if sc, ok := ctx.(*stmtContext); ok {
		i.release(sc)
	}
	return err
}

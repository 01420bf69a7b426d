package qlsqlite

import (
	"context"
	"database/sql/driver"
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
	timeout timeout // the default statement deadline
}

func newInterceptor(db *database) *interceptor {
	return &interceptor{timeout: timeout(db.cfg.timeout)}
}

// timeout is the default statement deadline, applied when the caller's
// context has none.
type timeout time.Duration

// apply returns the context a statement should run under.
func (t timeout) apply(ctx context.Context) (context.Context, *stmtContext) {
	if t <= 0 {
		return ctx, nil
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, nil
	}
	sc := newStmtContext(ctx, time.Duration(t))
	return sc, sc
}

// ConnExecContext implements [sqlmw.Interceptor].
func (i *interceptor) ConnExecContext(ctx context.Context, conn driver.ExecerContext, query string, args []driver.NamedValue) (driver.Result, error) {
	if query == "" {
		return conn.ExecContext(ctx, query, args) // the Savepoint handshake
	}
	ctx, sc := i.timeout.apply(ctx)
	res, err := conn.ExecContext(ctx, query, args)
	err = surfaceCtxErr(ctx, err)
	sc.release()
	return res, err
}

// ConnQueryContext implements [sqlmw.Interceptor].
func (i *interceptor) ConnQueryContext(ctx context.Context, conn driver.QueryerContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	ctx, sc := i.timeout.apply(ctx)
	rows, err := conn.QueryContext(ctx, query, args)
	if err != nil {
		err = surfaceCtxErr(ctx, err)
		sc.release()
		return ctx, nil, err
	}
	return ctx, rows, nil
}

// ConnPrepareContext implements [sqlmw.Interceptor].
func (i *interceptor) ConnPrepareContext(ctx context.Context, conn driver.ConnPrepareContext, query string) (context.Context, driver.Stmt, error) {
	sctx, sc := i.timeout.apply(ctx)
	stmt, err := conn.PrepareContext(sctx, query)
	err = surfaceCtxErr(sctx, err)
	sc.release()
	return ctx, stmt, err
}

// ConnBeginTx implements [sqlmw.Interceptor]. The deadline bounds BEGIN
// only; the transaction itself lives as long as the caller's context.
func (i *interceptor) ConnBeginTx(ctx context.Context, conn driver.ConnBeginTx, opts driver.TxOptions) (context.Context, driver.Tx, error) {
	sctx, sc := i.timeout.apply(ctx)
	tx, err := conn.BeginTx(sctx, opts)
	err = surfaceCtxErr(sctx, err)
	sc.release()
	return ctx, tx, err
}

// StmtExecContext implements [sqlmw.Interceptor].
func (i *interceptor) StmtExecContext(ctx context.Context, stmt driver.StmtExecContext, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx, sc := i.timeout.apply(ctx)
	res, err := stmt.ExecContext(ctx, args)
	err = surfaceCtxErr(ctx, err)
	sc.release()
	return res, err
}

// StmtQueryContext implements [sqlmw.Interceptor].
func (i *interceptor) StmtQueryContext(ctx context.Context, stmt driver.StmtQueryContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	ctx, sc := i.timeout.apply(ctx)
	rows, err := stmt.QueryContext(ctx, args)
	if err != nil {
		err = surfaceCtxErr(ctx, err)
		sc.release()
		return ctx, nil, err
	}
	return ctx, rows, nil
}

// RowsNext implements [sqlmw.Interceptor].
func (i *interceptor) RowsNext(ctx context.Context, rows driver.Rows, dest []driver.Value) error {
	err := rows.Next(dest)
	if err != nil {
		err = surfaceCtxErr(ctx, err)
	}
	return err
}

// RowsClose implements [sqlmw.Interceptor]: the statement is over.
func (i *interceptor) RowsClose(ctx context.Context, rows driver.Rows) error {
	err := rows.Close()
	if sc, ok := ctx.(*stmtContext); ok {
		sc.release()
	}
	return err
}

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
	timeout time.Duration  // the default statement deadline; 0: none
	retrier *retrier       // nil: no retries
	breaker *breaker       // nil: no breaker
	session session        // the connection beneath
	engine  errorRules     // a Backend's rules, to mark its errors with (markEngine); nil for SQLite
	watch   *deadlineWatch // the database's, for statement contexts asked for Done
	server  *backendConn   // the connection, when its server enforces the default deadline (serverdeadline.go); nil otherwise

	spare      *stmtContext // a released statement context, for the next statement
	spareQuery *queryState  // a closed query's state, for the next query
}

// session is what the interceptor asks of the connection beneath it.
type session interface {
	// inTx reports whether a transaction is open, in which case no single
	// statement may be retried.
	inTx() bool
	// applied reports whether the last Exec, which failed, had applied part
	// of its work (a script), in which case it must not be retried.
	applied() bool
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

func newInterceptor(db *database, s session) *interceptor {
	i := &interceptor{timeout: db.cfg.timeout, retrier: db.retrier, breaker: db.breaker, session: s, watch: &db.deadlines}
	if db.backend != nil {
		i.engine = db.rules
	}
	return i
}

// mark marks a backend's error with its rules (see [engineError]); SQLite's
// errors are known by their type.
func (i *interceptor) mark(err error) error {
	if err == nil || i.engine == nil {
		return err
	}
	return markEngine(i.engine, err)
}

// admit asks the circuit breaker to let a call through. Calls inside a
// transaction were admitted with its BEGIN and are not asked again: a
// transaction the breaker let start may finish. The trial it returns is
// given back with [interceptor.outcome], exactly once.
func (i *interceptor) admit() (trial, error) {
	if !i.breaker.tripped() || i.session.inTx() {
		return 0, nil
	}
	return i.breaker.allow()
}

// outcome records a call's error with the breaker (t: the call's trial, if
// it was one) and the connection.
func (i *interceptor) outcome(t trial, err error, inTx bool) {
	i.breaker.done(t, err)
	i.session.observe(err, inTx)
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
		sc = &stmtContext{watch: i.watch}
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
// that lost a race for the lock applied nothing and is retried; a script
// that failed after part of it was applied is not.
func (i *interceptor) ConnExecContext(ctx context.Context, conn driver.ExecerContext, query string, args []driver.NamedValue) (driver.Result, error) {
	if query == "" {
		return conn.ExecContext(ctx, query, args) // the Savepoint handshake
	}
	return i.exec(ctx, stmtCall{conn: conn, sql: query, args: args})
}

// StmtExecContext implements [sqlmw.Interceptor].
func (i *interceptor) StmtExecContext(ctx context.Context, stmt driver.StmtExecContext, query string, args []driver.NamedValue) (driver.Result, error) {
	return i.exec(ctx, stmtCall{stmt: stmt, sql: query, args: args})
}

// stmtCall is one Exec or Query, on the connection or on a prepared statement.
// It is passed by value, so that a call that needs no retry allocates
// nothing.
type stmtCall struct {
	conn any // driver.ExecerContext or driver.QueryerContext, for ad-hoc SQL
	stmt any // driver.StmtExecContext or driver.StmtQueryContext, for a prepared statement
	sql  string
	args []driver.NamedValue
}

func (c stmtCall) runExec(ctx context.Context) (driver.Result, error) {
	if c.stmt != nil {
		return c.stmt.(driver.StmtExecContext).ExecContext(ctx, c.args)
	}
	return c.conn.(driver.ExecerContext).ExecContext(ctx, c.sql, c.args)
}

func (c stmtCall) runQuery(ctx context.Context) (driver.Rows, error) {
	if c.stmt != nil {
		return c.stmt.(driver.StmtQueryContext).QueryContext(ctx, c.args)
	}
	return c.conn.(driver.QueryerContext).QueryContext(ctx, c.sql, c.args)
}

// exec runs an Exec under the breaker and the deadline, retried where that
// is safe.
func (i *interceptor) exec(ctx context.Context, c stmtCall) (driver.Result, error) {
	t, err := i.admit()
	if err != nil {
		return nil, err
	}
	if i.server != nil {
		return i.serverExec(ctx, c, t)
	}
	ctx, sc := i.deadline(ctx)
	autocommit := !i.session.inTx()
	res, err := c.runExec(ctx)
	if err != nil && autocommit && !i.session.applied() {
		res, err = i.retryExec(ctx, c, err)
	}
	err = i.mark(surfaceCtxErr(ctx, err))
	i.outcome(t, err, !autocommit)
	i.release(sc)
	return res, err
}

// serverExec is exec when the server enforces the default deadline: the
// caller's context, unchanged.
func (i *interceptor) serverExec(ctx context.Context, c stmtCall, t trial) (driver.Result, error) {
	if c.stmt == nil && len(c.args) == 0 && mayBeScript(c.sql) {
		return i.serverScript(ctx, c, t)
	}
	autocommit := !i.session.inTx()
	call, err := i.serverBegin(ctx, true)
	var res driver.Result
	if err == nil {
		res, err = c.runExec(ctx)
		if err != nil && autocommit && !i.session.applied() {
			res, err = i.retryExec(ctx, c, err)
		}
	}
	err = i.mark(i.serverEnd(ctx, call, surfaceCtxErr(ctx, err)))
	i.outcome(t, err, !autocommit)
	return res, err
}

func (i *interceptor) retryExec(ctx context.Context, c stmtCall, first error) (driver.Result, error) {
	return again(ctx, i.retrier, first, i.session.addWait, func() (driver.Result, error) { return c.runExec(ctx) })
}

// ConnQueryContext implements [sqlmw.Interceptor]. A query fails before its
// rows only while it is prepared, which is always safe to retry.
func (i *interceptor) ConnQueryContext(ctx context.Context, conn driver.QueryerContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	return i.query(ctx, stmtCall{conn: conn, sql: query, args: args})
}

// StmtQueryContext implements [sqlmw.Interceptor].
func (i *interceptor) StmtQueryContext(ctx context.Context, stmt driver.StmtQueryContext, query string, args []driver.NamedValue) (context.Context, driver.Rows, error) {
	return i.query(ctx, stmtCall{stmt: stmt, sql: query, args: args})
}

// query opens a query's rows under the breaker and the deadline. The
// returned context, a [queryState], goes with the rows to RowsNext and
// RowsClose: the deadline covers the iteration, and the query's outcome is
// recorded when its rows close.
func (i *interceptor) query(ctx context.Context, c stmtCall) (context.Context, driver.Rows, error) {
	t, err := i.admit()
	if err != nil {
		return ctx, nil, err
	}
	if i.server != nil {
		return i.serverQuery(ctx, c, t)
	}
	qctx, sc := i.deadline(ctx)
	rows, err := c.runQuery(qctx)
	if err != nil {
		rows, err = i.retryQuery(qctx, c, err)
	}
	if err != nil {
		err = i.mark(surfaceCtxErr(qctx, err))
		i.outcome(t, err, i.session.inTx())
		i.release(sc)
		return ctx, nil, err
	}
	qs := i.queryState()
	*qs = queryState{Context: qctx, sc: sc, trial: t, inTx: i.session.inTx()}
	return qs, rows, nil
}

// serverQuery is query when the server enforces the default deadline: the
// caller's context, unchanged.
func (i *interceptor) serverQuery(ctx context.Context, c stmtCall, t trial) (context.Context, driver.Rows, error) {
	call, err := i.serverBegin(ctx, true)
	var rows driver.Rows
	if err == nil {
		rows, err = c.runQuery(ctx)
		if err != nil {
			rows, err = i.retryQuery(ctx, c, err)
		}
	}
	if err != nil {
		err = i.mark(i.serverEnd(ctx, call, surfaceCtxErr(ctx, err)))
		i.outcome(t, err, i.session.inTx())
		return ctx, nil, err
	}
	qs := i.queryState()
	*qs = queryState{Context: ctx, server: call, trial: t, inTx: i.session.inTx()}
	return qs, rows, nil
}

// queryState returns the spare query state, or a new one.
func (i *interceptor) queryState() *queryState {
	qs := i.spareQuery
	if qs != nil {
		i.spareQuery = nil
		return qs
	}
	return &queryState{}
}

func (i *interceptor) retryQuery(ctx context.Context, c stmtCall, first error) (driver.Rows, error) {
	return again(ctx, i.retrier, first, i.session.addWait, func() (driver.Rows, error) { return c.runQuery(ctx) })
}

// queryState is the context a query's rows carry to RowsNext and
// RowsClose: the statement's context, with its deadline, and what is
// recorded when the rows close.
type queryState struct {
	context.Context
	sc     *stmtContext // the default deadline's context, if one applies
	server serverCall   // the server's default deadline, if it applies (serverdeadline.go)
	trial  trial        // the breaker trial the query holds, if any
	inTx   bool         // a transaction was open when the query began
	err    error        // the iteration's first error
}

// ConnPrepareContext implements [sqlmw.Interceptor].
func (i *interceptor) ConnPrepareContext(ctx context.Context, conn driver.ConnPrepareContext, query string) (context.Context, driver.Stmt, error) {
	t, err := i.admit()
	if err != nil {
		return ctx, nil, err
	}
	if i.server != nil {
		return i.serverPrepare(ctx, conn, query, t)
	}
	sctx, sc := i.deadline(ctx)
	stmt, err := conn.PrepareContext(sctx, query)
	if err != nil {
		stmt, err = again(sctx, i.retrier, err, i.session.addWait, func() (driver.Stmt, error) { return conn.PrepareContext(sctx, query) })
	}
	err = i.mark(surfaceCtxErr(sctx, err))
	i.outcome(t, err, i.session.inTx())
	i.release(sc)
	return ctx, stmt, err
}

// serverPrepare is ConnPrepareContext when the server enforces the default
// deadline: preparing may wait for a lock, so it is a statement too.
func (i *interceptor) serverPrepare(ctx context.Context, conn driver.ConnPrepareContext, query string, t trial) (context.Context, driver.Stmt, error) {
	call, err := i.serverBegin(ctx, true)
	var stmt driver.Stmt
	if err == nil {
		stmt, err = conn.PrepareContext(ctx, query)
		if err != nil {
			stmt, err = again(ctx, i.retrier, err, i.session.addWait, func() (driver.Stmt, error) { return conn.PrepareContext(ctx, query) })
		}
	}
	err = i.mark(i.serverEnd(ctx, call, surfaceCtxErr(ctx, err)))
	i.outcome(t, err, i.session.inTx())
	return ctx, stmt, err
}

// ConnBeginTx implements [sqlmw.Interceptor]. The deadline bounds BEGIN
// only; the transaction itself lives as long as the caller's context. A
// BEGIN that lost a race for the lock started nothing and is retried.
func (i *interceptor) ConnBeginTx(ctx context.Context, conn driver.ConnBeginTx, opts driver.TxOptions) (context.Context, driver.Tx, error) {
	t, err := i.admit()
	if err != nil {
		return ctx, nil, err
	}
	if i.server != nil {
		return i.serverBeginTx(ctx, conn, opts, t)
	}
	sctx, sc := i.deadline(ctx)
	tx, err := conn.BeginTx(sctx, opts)
	if err != nil {
		tx, err = again(sctx, i.retrier, err, i.session.addWait, func() (driver.Tx, error) { return conn.BeginTx(sctx, opts) })
	}
	err = i.mark(surfaceCtxErr(sctx, err))
	i.outcome(t, err, false)
	i.release(sc)
	return ctx, tx, err
}

// serverBeginTx is ConnBeginTx when the server enforces the default
// deadline. BEGIN cannot run long: the server's limit is not adjusted for
// it (the transaction's statements adjust it), and only the stall watch
// bounds it.
func (i *interceptor) serverBeginTx(ctx context.Context, conn driver.ConnBeginTx, opts driver.TxOptions, t trial) (context.Context, driver.Tx, error) {
	call, _ := i.serverBegin(ctx, false)
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		tx, err = again(ctx, i.retrier, err, i.session.addWait, func() (driver.Tx, error) { return conn.BeginTx(ctx, opts) })
	}
	err = i.mark(i.serverEnd(ctx, call, surfaceCtxErr(ctx, err)))
	i.outcome(t, err, false)
	return ctx, tx, err
}

// TxCommit implements [sqlmw.Interceptor]: a commit is where a failing disk
// shows, so the breaker counts it.
func (i *interceptor) TxCommit(ctx context.Context, tx driver.Tx) error {
	err := i.mark(tx.Commit())
	i.outcome(0, err, true)
	return err
}

// TxRollback implements [sqlmw.Interceptor].
func (i *interceptor) TxRollback(ctx context.Context, tx driver.Tx) error {
	return i.mark(tx.Rollback())
}

// RowsNext implements [sqlmw.Interceptor]. Under the default deadline, each
// row reads the clock, so that a caller reading slowly gets a deadline
// error on the first row fetched after it passed.
func (i *interceptor) RowsNext(ctx context.Context, rows driver.Rows, dest []driver.Value) error {
	qs, ok := ctx.(*queryState)
	if !ok {
		return rows.Next(dest)
	}
	if qs.sc != nil {
		qs.sc.check()
	}
	err := rows.Next(dest)
	if err != nil && err != io.EOF {
		err = surfaceCtxErr(qs.Context, err)
		if i.server != nil {
			err = i.serverErr(qs.Context, qs.server, err)
		}
		err = i.mark(err)
		if qs.err == nil {
			qs.err = err
		}
	}
	return err
}

// RowsClose implements [sqlmw.Interceptor]: the statement is over, and its
// outcome is recorded.
func (i *interceptor) RowsClose(ctx context.Context, rows driver.Rows) error {
	qs, ok := ctx.(*queryState)
	if !ok {
		return rows.Close()
	}
	err := rows.Close()
	if i.server != nil {
		err = i.serverEnd(qs.Context, qs.server, err)
	}
	err = i.mark(err)
	callErr := qs.err
	if callErr == nil && err != nil {
		callErr = surfaceCtxErr(qs.Context, err)
	}
	i.outcome(qs.trial, callErr, qs.inTx)
	i.release(qs.sc)
	// Kept as the spare, its context too: the observer above still reads
	// it for this query; the next query overwrites it.
	i.spareQuery = qs
	return err
}

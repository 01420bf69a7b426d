package qlsqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// sqliteConn is the innermost qlsqlite layer, directly over the ncruces
// connection, and the place for what is SQLite's own. It adds what ncruces
// lacks: [driver.QueryerContext], and [driver.ExecerContext] for statements
// with arguments (ncruces answers those with [driver.ErrSkip], DESIGN.md
// trap 3), both through a cache of prepared statements ([stmtCache]).
type sqliteConn struct {
	ncruces.Conn                      // Raw, Close, BeginTx, PrepareContext, ...
	exec         driver.ExecerContext // ncruces's own, for statements without arguments
	db           *database
	stmts        *stmtCache
	gateHeld     bool       // a write transaction holds the database's writer gate
	health       health     // what the pool checks (pool.go)
	stats        shard      // this connection's statistics
	report       callReport // what the call in progress did, for the observer
}

func newSQLiteConn(nc ncruces.Conn, db *database) (*sqliteConn, error) {
	c := &sqliteConn{Conn: nc, exec: nc.(driver.ExecerContext), db: db, stmts: newStmtCache(db.cfg.stmtCache, &db.schemaGen)}
	var err error
	if c.health.queryOnly, c.health.foreignKeys, err = c.readSession(); err != nil {
		return nil, err
	}
	db.track(c)
	return c, nil
}

var (
	_ driver.ExecerContext     = &sqliteConn{}
	_ driver.QueryerContext    = &sqliteConn{}
	_ driver.NamedValueChecker = &sqliteConn{}
)

// ncrucesStmt is what ncruces's prepared statements implement, including
// the methods of the [sqlite3.Stmt] they embed.
type ncrucesStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	ColumnCount() int
	ColumnName(col int) string
	Status(op sqlite3.StmtStatus, reset bool) int
	ReadOnly() bool
}

// ncrucesRows is what ncruces's rows implement; a wrapper must implement the
// same, or [database/sql] loses column type information.
type ncrucesRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypeScanType
}

// ExecContext implements [driver.ExecerContext]. Without arguments it is
// ncruces's own (scripts of several statements, Savepoint); with arguments
// it runs a cached prepared statement.
func (c *sqliteConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		if query == "" {
			return c.exec.ExecContext(ctx, query, args) // ncruces's Savepoint handshake
		}
		gated := mayWrite(query)
		if err := c.enterGate(ctx, gated); err != nil {
			return nil, err
		}
		res, err := c.exec.ExecContext(ctx, query, args)
		c.leaveGate(gated)
		if mayChangeSchema(query) {
			c.db.schemaChanged()
			c.health.dirty = true
		}
		return res, err
	}
	s, gated, err := c.start(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	res, err := s.ExecContext(ctx, args)
	c.leaveGate(gated)
	c.stmts.release(s, err != nil)
	return res, err
}

// callStart implements [session].
func (c *sqliteConn) callStart() time.Time { return c.report.callStart() }

// addWait implements [session].
func (c *sqliteConn) addWait(d time.Duration) { c.report.addWait(d) }

// inTx implements [session].
func (c *sqliteConn) inTx() bool { return !c.Conn.Raw().GetAutocommit() }

// enterGate takes the writer gate for an autocommit statement or a
// transaction that writes (write says it might); statements inside a
// transaction never take it. A context that ends while it waits gives the
// error SQLite gives for a done context, sqlite3.INTERRUPT, which then also
// matches the context's error.
func (c *sqliteConn) enterGate(ctx context.Context, write bool) error {
	if !write || c.db.gate == nil || c.inTx() {
		return nil
	}
	waited, err := c.db.gate.acquire(ctx)
	c.report.addWait(waited)
	if err != nil {
		te := &timeoutError{classOf: classOf{Performance}, ctxErr: err, err: sqlite3.INTERRUPT, waiting: "the writer gate"}
		if sc, ok := ctx.(*stmtContext); ok && sc.Context.Err() == nil {
			te.timeout = sc.timeout
		}
		return te
	}
	c.gateHeld = true
	return nil
}

// leaveGate releases the gate enterGate took.
func (c *sqliteConn) leaveGate(write bool) {
	if write && c.gateHeld {
		c.gateHeld = false
		c.db.gate.release()
	}
}

// BeginTx implements [driver.ConnBeginTx]. A transaction that takes SQLite's
// write lock at BEGIN (IMMEDIATE or EXCLUSIVE) first takes the writer gate,
// and holds it until it commits or rolls back.
func (c *sqliteConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	write := c.db.writesFromBegin(opts)
	if err := c.enterGate(ctx, write); err != nil {
		return nil, err
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		c.leaveGate(write)
		return nil, err
	}
	if !c.gateHeld {
		return tx, nil
	}
	return &gatedTx{Tx: tx, conn: c}, nil
}

// writesFromBegin reports whether a transaction with opts takes SQLite's
// write lock at BEGIN, as ncruces decides it: read-only transactions are
// DEFERRED, serializable ones IMMEDIATE, linearizable ones EXCLUSIVE, and the
// others follow "_txlock" (IMMEDIATE unless set).
func (db *database) writesFromBegin(opts driver.TxOptions) bool {
	switch {
	case opts.ReadOnly:
		return false
	case opts.Isolation == driver.IsolationLevel(sql.LevelSerializable), opts.Isolation == driver.IsolationLevel(sql.LevelLinearizable):
		return true
	case opts.Isolation != driver.IsolationLevel(sql.LevelDefault):
		return false // ncruces refuses the level
	}
	return db.cfg.txLock == "" || db.cfg.txLock == "immediate" || db.cfg.txLock == "exclusive"
}

// gatedTx releases the writer gate when the transaction ends.
type gatedTx struct {
	driver.Tx
	conn *sqliteConn
}

func (t *gatedTx) Commit() error {
	err := t.Tx.Commit()
	t.conn.leaveGate(true)
	return err
}

func (t *gatedTx) Rollback() error {
	err := t.Tx.Rollback()
	t.conn.leaveGate(true)
	return err
}

// QueryContext implements [driver.QueryerContext] with a cached prepared
// statement, returned to the cache when the rows close.
func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, gated, err := c.start(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	reprepares := s.Status(sqlite3.STMTSTATUS_REPREPARE, false)
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		c.leaveGate(gated)
		c.stmts.release(s, true)
		return nil, err
	}
	return &cachedRows{ncrucesRows: rows.(ncrucesRows), conn: c, stmt: s, reprepares: reprepares, gated: gated}, nil
}

// Close implements [driver.Conn]: it finalizes the cached statements, then
// closes the SQLite connection.
func (c *sqliteConn) Close() error {
	c.leaveGate(true) // a transaction left open by a connection closed under it
	c.stmts.close()
	c.optimizeOnClose()
	c.db.untrack(c)
	return c.Conn.Close()
}

// start readies a statement for query with nargs arguments: taken from the
// cache, its arguments counted, and the writer gate taken if it writes
// (INSERT ... RETURNING through Query too) in autocommit mode.
func (c *sqliteConn) start(ctx context.Context, query string, nargs int) (s *cachedStmt, gated bool, err error) {
	if s, err = c.take(ctx, query); err != nil {
		return nil, false, err
	}
	if err = checkArgs(s, nargs); err == nil {
		gated = !s.ReadOnly()
		err = c.enterGate(ctx, gated)
	}
	if err != nil {
		c.stmts.release(s, false)
		return nil, false, err
	}
	return s, gated, nil
}

// take takes a statement for query from the cache. When a statement run
// through qlsqlite may have changed the schema since the last one, the cache
// is emptied and this connection's copy of the schema refreshed first (see
// [refreshSchema]).
func (c *sqliteConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	if c.stmts.stale() {
		if err := refreshSchema(c.Conn.Raw()); err != nil {
			return nil, err
		}
	}
	s, err := c.stmts.take(ctx, query, c.prepare)
	if err == nil {
		c.report.tookStmt(c.stmts.lastHit)
		if s.ddl {
			c.health.dirty = true
		}
	}
	return s, err
}

// prepare prepares one statement; SQL with a tail (several statements) is an
// error, as with ncruces.
func (c *sqliteConn) prepare(ctx context.Context, query string) (ncrucesStmt, error) {
	ds, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if !mayChangeSchema(query) {
		c.db.planner.request(query) // first time on this connection: capture its plan
	}
	return ds.(ncrucesStmt), nil
}

// checkArgs fails as [database/sql] does when it prepares statements itself
// and the number of arguments is wrong.
func checkArgs(s ncrucesStmt, nargs int) error {
	if want := s.NumInput(); want != -1 && want != nargs {
		return fmt.Errorf("sql: expected %d arguments, got %d", want, nargs)
	}
	return nil
}

// cachedRows returns its statement to the cache when it closes.
//
// Its statement is checked once, at its first row: if SQLite had to
// re-prepare it because the schema changed behind qlsqlite's back (another
// process, or the Raw connection), and its columns are no longer the ones
// Columns reported, the rows fail with [ErrSchemaChanged] rather than hand
// out values under the wrong names (the raw ncruces driver fails with
// sqlite3.MISUSE there, or misnames them). Schema changes made through
// qlsqlite itself never get that far: see [sqliteConn.take].
type cachedRows struct {
	ncrucesRows
	conn       *sqliteConn
	stmt       *cachedStmt
	reprepares int  // the statement's re-prepare count when taken; -1 once checked
	named      bool // Columns was called: stmt.columns holds what it reported
	gated      bool // holds the writer gate until it closes
}

// Columns implements [driver.Rows]. database/sql hands the very slice to
// its caller, who may rewrite it in place (GORM's MapColumns does,
// DESIGN.md trap 14), and calls Columns again later, so the names are
// copied once, on the first call, into the statement's own buffer: that copy
// is what [cachedRows.Next] checks a re-prepare against.
func (r *cachedRows) Columns() []string {
	names := r.ncrucesRows.Columns()
	if !r.named {
		r.named = true
		r.stmt.columns = append(r.stmt.columns[:0], names...)
	}
	return names
}

// Next implements [driver.Rows].
func (r *cachedRows) Next(dest []driver.Value) error {
	err := r.ncrucesRows.Next(dest)
	if r.reprepares >= 0 {
		if r.named && r.stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false) != r.reprepares && !sameColumns(r.stmt, r.stmt.columns) {
			r.conn.db.schemaChanged()
			err = &schemaChangedError{classOf: classOf{Migration}, query: r.stmt.query, err: err}
		}
		r.reprepares = -1
	}
	return err
}

func sameColumns(s ncrucesStmt, names []string) bool {
	if s.ColumnCount() != len(names) {
		return false
	}
	for i, n := range names {
		if s.ColumnName(i) != n {
			return false
		}
	}
	return true
}

// Close implements [driver.Rows]. ncruces resets the statement, which
// reports the last error of its iteration, and clears its bindings.
func (r *cachedRows) Close() error {
	err := r.ncrucesRows.Close()
	r.conn.leaveGate(r.gated)
	r.conn.stmts.release(r.stmt, err != nil)
	return err
}

// Types of values ncruces binds that only its own constructors make
// ([sqlite3.JSON] and [sqlite3.Pointer]).
var (
	jsonArgType    = reflect.TypeOf(sqlite3.JSON(nil))
	pointerArgType = reflect.TypeOf(sqlite3.Pointer(nil))
)

// CheckNamedValue implements [driver.NamedValueChecker] with the rules of
// ncruces's prepared statements: what SQLite binds natively passes, anything
// else goes through [database/sql]'s default conversion.
func (c *sqliteConn) CheckNamedValue(arg *driver.NamedValue) error {
	switch arg.Value.(type) {
	case bool, int, int64, float64, string, []byte,
		time.Time, sqlite3.ZeroBlob, nil:
		return nil
	}
	if t := reflect.TypeOf(arg.Value); t == jsonArgType || t == pointerArgType {
		return nil
	}
	return driver.ErrSkip
}

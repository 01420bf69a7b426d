package qlsqlite

import (
	"context"
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
	stats        shard      // this connection's statistics
	report       callReport // what the call in progress did, for the observer
}

func newSQLiteConn(nc ncruces.Conn, db *database) *sqliteConn {
	c := &sqliteConn{Conn: nc, exec: nc.(driver.ExecerContext), db: db, stmts: newStmtCache(db.cfg.stmtCache, &db.schemaGen)}
	db.track(c)
	return c
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
		res, err := c.exec.ExecContext(ctx, query, args)
		if query != "" && mayChangeSchema(query) {
			c.db.schemaChanged()
		}
		return res, err
	}
	s, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := checkArgs(s, len(args)); err != nil {
		c.stmts.release(s, false)
		return nil, err
	}
	res, err := s.ExecContext(ctx, args)
	c.stmts.release(s, err != nil)
	return res, err
}

// QueryContext implements [driver.QueryerContext] with a cached prepared
// statement, returned to the cache when the rows close.
func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if err := checkArgs(s, len(args)); err != nil {
		c.stmts.release(s, false)
		return nil, err
	}
	reprepares := s.Status(sqlite3.STMTSTATUS_REPREPARE, false)
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		c.stmts.release(s, true)
		return nil, err
	}
	return &cachedRows{ncrucesRows: rows.(ncrucesRows), conn: c, stmt: s, reprepares: reprepares}, nil
}

// Close implements [driver.Conn]: it finalizes the cached statements, then
// closes the SQLite connection.
func (c *sqliteConn) Close() error {
	c.stmts.close()
	c.db.untrack(c)
	return c.Conn.Close()
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
	columns    []string // as reported by Columns
	reprepares int      // the statement's re-prepare count when taken; -1 once checked
}

// Columns implements [driver.Rows].
func (r *cachedRows) Columns() []string {
	r.columns = r.ncrucesRows.Columns()
	return r.columns
}

// Next implements [driver.Rows].
func (r *cachedRows) Next(dest []driver.Value) error {
	err := r.ncrucesRows.Next(dest)
	if r.reprepares >= 0 {
		if r.stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false) != r.reprepares && !sameColumns(r.stmt, r.columns) {
			r.conn.db.schemaChanged()
			err = &schemaChangedError{query: r.stmt.query, err: err}
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

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
// trap 3), both through prepared statements.
type sqliteConn struct {
	ncruces.Conn                      // Raw, Close, BeginTx, PrepareContext, ...
	exec         driver.ExecerContext // ncruces's own, for statements without arguments
	db           *database
}

func newSQLiteConn(nc ncruces.Conn, db *database) *sqliteConn {
	return &sqliteConn{Conn: nc, exec: nc.(driver.ExecerContext), db: db}
}

var (
	_ driver.ExecerContext     = &sqliteConn{}
	_ driver.QueryerContext    = &sqliteConn{}
	_ driver.NamedValueChecker = &sqliteConn{}
)

// ncrucesStmt is what ncruces's prepared statements implement.
type ncrucesStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
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
// it runs a prepared statement.
func (c *sqliteConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.exec.ExecContext(ctx, query, args)
	}
	s, err := c.prepare(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	res, err := s.ExecContext(ctx, args)
	s.Close()
	return res, err
}

// QueryContext implements [driver.QueryerContext].
func (c *sqliteConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.prepare(ctx, query, len(args))
	if err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		s.Close()
		return nil, err
	}
	return &stmtRows{ncrucesRows: rows.(ncrucesRows), stmt: s}, nil
}

// prepare prepares query and checks it takes nargs arguments, with the
// error [database/sql] gives when it prepares statements itself.
func (c *sqliteConn) prepare(ctx context.Context, query string, nargs int) (ncrucesStmt, error) {
	ds, err := c.Conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := ds.(ncrucesStmt)
	if want := s.NumInput(); want != -1 && want != nargs {
		s.Close()
		return nil, fmt.Errorf("sql: expected %d arguments, got %d", want, nargs)
	}
	return s, nil
}

// stmtRows closes its statement when it closes.
type stmtRows struct {
	ncrucesRows
	stmt driver.Stmt
}

func (r *stmtRows) Close() error {
	err := r.ncrucesRows.Close()
	if cerr := r.stmt.Close(); err == nil {
		err = cerr
	}
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

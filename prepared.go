package qlsqlite

import (
	"context"
	"database/sql/driver"
	"errors"
)

// PrepareContext implements [driver.ConnPrepareContext]. A statement
// prepared through [database/sql] (db.Prepare, tx.Prepare, and GORM's
// PrepareStmt) gets every policy an ad-hoc one gets: each call takes the
// statement from the connection's cache, holds the writer gate while it
// writes in autocommit mode, refreshes the schema after DDL elsewhere and
// tells the other connections after DDL of its own.
//
// Preparing checks the SQL at once (a syntax error, an unknown table or
// several statements fail here, as with ncruces) and leaves the statement
// in the cache, so a prepared statement costs what an ad-hoc one does. With
// the cache off ("_stmt_cache=0") it keeps its statement to itself until
// it is closed.
func (c *sqliteConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	p := &preparedStmt{conn: c, query: query, inputs: s.inputs()}
	if s.evicted && !s.ddl { // not in the cache: keep it
		s.owned = true
	}
	c.stmts.release(s, false)
	if s.owned {
		p.own = s
	}
	return p, nil
}

// Prepare implements [driver.Conn].
func (c *sqliteConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// preparedStmt is a statement prepared through [database/sql]. It runs
// through the same path as an ad-hoc statement with arguments.
type preparedStmt struct {
	conn   *sqliteConn
	query  string
	inputs int         // NumInput, read when prepared
	own    *cachedStmt // the statement, when the cache does not keep it
	closed bool
}

var (
	_ driver.StmtExecContext  = &preparedStmt{}
	_ driver.StmtQueryContext = &preparedStmt{}
)

// NumInput implements [driver.Stmt].
func (p *preparedStmt) NumInput() int { return p.inputs }

// Close implements [driver.Stmt]. A statement the cache keeps stays there.
func (p *preparedStmt) Close() error {
	if s := p.own; s != nil && !p.closed {
		s.owned = false
		if !s.inUse { // else finalized when its rows close
			s.Close()
		}
	}
	p.closed = true
	return nil
}

// start readies the statement for a call, as [sqliteConn.start] does.
func (p *preparedStmt) start(ctx context.Context) (*cachedStmt, bool, error) {
	s, err := p.take(ctx)
	if err != nil {
		return nil, false, err
	}
	took, err := p.conn.enterGate(ctx, !s.ReadOnly())
	if err != nil {
		p.conn.stmts.release(s, false)
		return nil, false, err
	}
	return s, took, nil
}

// take takes the statement for a call: from the connection's cache, or
// its own.
func (p *preparedStmt) take(ctx context.Context) (*cachedStmt, error) {
	if p.closed {
		return nil, errStmtClosed
	}
	if p.own == nil || p.own.inUse {
		return p.conn.takeChecked(ctx, p.query, -1)
	}
	s := p.own
	if err := p.conn.freshen(); err != nil {
		return nil, err
	}
	s.inUse = true
	p.conn.report.tookStmt(true)
	return s, nil
}

// errStmtClosed is what ncruces says of a closed statement.
var errStmtClosed = errors.New("sqlite3: statement is closed")

// ExecContext implements [driver.StmtExecContext].
func (p *preparedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	p.conn.partial = false
	s, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	return p.conn.execTaken(ctx, s, args)
}

// QueryContext implements [driver.StmtQueryContext].
func (p *preparedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s, took, err := p.start(ctx)
	if err != nil {
		return nil, err
	}
	return p.conn.queryStmt(ctx, s, took, args)
}

// Exec implements [driver.Stmt]; database/sql calls ExecContext.
func (p *preparedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return p.ExecContext(context.Background(), namedValues(args))
}

// Query implements [driver.Stmt]; database/sql calls QueryContext.
func (p *preparedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return p.QueryContext(context.Background(), namedValues(args))
}

func namedValues(args []driver.Value) []driver.NamedValue {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named
}

package qlsqlite

import (
	"database/sql/driver"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// mwConn is every interface the sqlmw connection implements and
// [database/sql] looks for.
type mwConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// conn is the outermost connection, the one [sql.Conn.Raw] hands out. It
// adds Raw to the interceptor's connection so that it implements ncruces's
// [ncruces.Conn] and SQLite's own API (online backup, blobs, functions)
// stays reachable (DESIGN.md, trap 1).
type conn struct {
	mwConn
	raw   *sqlite3.Conn
	inner *sqliteConn
}

var _ ncruces.Conn = &conn{}

// Raw returns the underlying SQLite connection. Whatever is done with it is
// out of qlsqlite's sight, so the connection's session is checked before it
// is reused.
func (c *conn) Raw() *sqlite3.Conn {
	c.inner.health.dirty = true
	c.inner.group.unfit = true // hooks, functions, pragmas: out of sight for good
	return c.raw
}

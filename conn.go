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
	raw *sqlite3.Conn
}

var _ ncruces.Conn = &conn{}

// Raw returns the underlying SQLite connection.
func (c *conn) Raw() *sqlite3.Conn { return c.raw }

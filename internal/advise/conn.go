package advise

import (
	"context"
	"database/sql"

	"github.com/ncruces/go-sqlite3"
)

// WithConn runs fn on the SQLite connection behind one connection of db,
// with ctx interrupting it; it is how the query rewriter (internal/rewrite)
// reaches the same connection index advice uses.
func WithConn(ctx context.Context, db *sql.DB, fn func(*sqlite3.Conn) error) error {
	return withRaw(ctx, db, fn)
}

// ExplainConn runs EXPLAIN QUERY PLAN for query on c. The statement is
// prepared, never run; parameters need no values.
func ExplainConn(c *sqlite3.Conn, query string) (Plan, error) { return explain(c, query) }

// CheckPrepare prepares query on c and requires it to be exactly one
// statement.
func CheckPrepare(c *sqlite3.Conn, query string) error { return checkPrepare(c, query) }

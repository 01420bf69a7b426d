package lifecycle

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
)

// LongDeadline is how far ahead this package sets the deadline of a context
// that has none (see the package documentation, "Deadlines").
const LongDeadline = 24 * time.Hour

// longContext returns ctx unchanged when it has a deadline, and otherwise a
// context whose deadline is [LongDeadline] ahead.
func longContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, LongDeadline)
}

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// withRaw runs f with the SQLite connection under conn.
//
// It works when the outermost driver connection implements
// [driver.Conn] (the raw "sqlite3" driver and the qlsqlite driver both do).
func withRaw(conn *sql.Conn, f func(c *sqlite3.Conn) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("lifecycle: driver connection %T does not expose SQLite's API (it must implement github.com/ncruces/go-sqlite3/driver.Conn)", dc)
		}
		return f(c.Raw())
	})
}

// discard makes database/sql close conn instead of returning it to the pool.
// It is used when a connection could not be put back in the state it was
// handed out in (an attached database left behind, a PRAGMA not restored).
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
}

// quoteIdent quotes a SQLite identifier with double quotes.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// checkName rejects names that can never be a table or column name.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("lifecycle: %s name is empty", what)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("lifecycle: %s name %q contains a NUL byte", what, name)
	}
	return nil
}

// mainFile returns the file name of the main database of q ("" for an
// in-memory or temporary database).
func mainFile(ctx context.Context, q queryer) (string, error) {
	var file string
	err := q.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file)
	if err != nil {
		return "", fmt.Errorf("lifecycle: reading the main database's file name: %w", err)
	}
	return file, nil
}

// isCorruption reports whether err says that a file is damaged or is not a
// database at all.
func isCorruption(err error) bool {
	return errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, sqlite3.NOTADB)
}

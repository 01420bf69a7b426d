package migrate

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a [Migrator] wraps, so callers can test for them with [errors.Is].
// The wrapping error names the file or version and says what to do next.
var (
	// ErrBadSource: the migration files cannot be read as one history
	// (an unparsable name, two files with one version, a rollback without
	// its migration, an unknown directive).
	ErrBadSource = errors.New("migrate: bad migration source")
	// ErrChanged: an applied migration's file (or its rollback) no longer
	// matches what was applied. See [AcceptChanged].
	ErrChanged = errors.New("migrate: applied migration changed")
	// ErrOutOfOrder: a pending migration has a version below the highest
	// applied one. See [AllowOutOfOrder].
	ErrOutOfOrder = errors.New("migrate: migration out of order")
	// ErrPartial: a no-transaction migration failed part way and is marked
	// partial in schema_versions; nothing more runs until it is resolved
	// with [Migrator.Resolve].
	ErrPartial = errors.New("migrate: migration partially applied")
	// ErrCheckFailed: PRAGMA foreign_key_check or PRAGMA quick_check failed
	// after a migration, which was therefore rolled back.
	ErrCheckFailed = errors.New("migrate: integrity check failed")
	// ErrNoRollback: Down reached a migration that has no rollback script.
	ErrNoRollback = errors.New("migrate: no rollback script")
)

// StatementError reports the statement of a migration or rollback script that
// failed. It unwraps to the SQLite error, so errors.Is(err, sqlite3.CONSTRAINT)
// and the like work, and to [context.Canceled] or [context.DeadlineExceeded]
// when the context ended the statement.
type StatementError struct {
	// File is the script's path inside the fs.FS, or a description such as
	// "stored rollback of version 2" when the script came from schema_versions.
	File string
	// Ordinal is the 1-based position of the statement in the script.
	Ordinal int
	// Line is the 1-based line where the statement starts.
	Line int
	// SQL is the statement's text, trimmed. When SQLite could not parse the
	// statement, it runs to the first semicolon that would end it (in
	// CREATE TRIGGER, the one after the body's END).
	SQL string
	// Err is the underlying error.
	Err error
	// Hint says what to do next, when there is something specific to say.
	Hint string
}

// Error implements the error interface.
func (e *StatementError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "migrate: %s: statement %d (line %d) failed: %v\n\t%s", e.File, e.Ordinal, e.Line, e.Err, shorten(e.SQL, 300))
	if e.Hint != "" {
		b.WriteString("\n")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *StatementError) Unwrap() error { return e.Err }

func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + " …"
}

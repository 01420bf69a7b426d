package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file is what migrations need on PostgreSQL (through the qlpg driver,
// or any other PostgreSQL driver for database/sql): an advisory lock in
// place of the lock file, statements split as the server reads them, the
// version table's queries in PostgreSQL's dialect. PostgreSQL runs DDL in
// transactions, so each migration is applied atomically with its version
// row, as on SQLite. What PostgreSQL does not need (PRAGMA checks, the
// foreign_keys switch) is skipped; what migrate cannot do there (backups:
// use pg_dump or base backups) is an error when asked for.

// lockKeyPrefix names the migration lock: the advisory lock whose key is
// the hash of this prefix and the schema the version table lives in.
const lockKeyPrefix = "qlsqlite.migrate."

// isPostgres reports whether conn talks to PostgreSQL. It asks the server
// for a setting only PostgreSQL has; SQLite fails on the function.
func isPostgres(ctx context.Context, conn *sql.Conn) bool {
	var v string
	return conn.QueryRowContext(ctx, "SELECT current_setting('server_version_num')").Scan(&v) == nil && v != ""
}

// lockPostgres takes the migration lock of the connection's schema: a
// session advisory lock, which the server releases when the session ends,
// so a crashed migrator never leaves it behind. It polls, so that onWait
// runs once when another session holds it, until it is free or ctx ends.
func lockPostgres(ctx context.Context, conn *sql.Conn, onWait func()) (unlock func() error, err error) {
	const key = "hashtextextended('" + lockKeyPrefix + "' || current_schema(), 0)"
	delay := 2 * time.Millisecond
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock("+key+")").Scan(&ok); err != nil {
			return nil, fmt.Errorf("migrate: taking the migration lock (pg_try_advisory_lock): %w", err)
		}
		if ok {
			return func() error {
				ctx, cancel := cleanupCtx(context.Background())
				defer cancel()
				_, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock("+key+")")
				return err
			}, nil
		}
		if onWait != nil {
			onWait()
			onWait = nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("migrate: waiting for the migration lock (a PostgreSQL advisory lock), held by another session: %w", context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// pgQuerier runs migrate's own statements on PostgreSQL: their ?
// placeholders become $1, $2, ... (migrate's statements have no ? in a
// string).
type pgQuerier struct{ q querier }

func (p pgQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.q.QueryContext(ctx, rebind(query), args...)
}

func (p pgQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.q.ExecContext(ctx, rebind(query), args...)
}

func rebind(query string) string {
	var sb strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// pgStatement is one statement of a script, with the line it starts on.
type pgStatement struct {
	text string
	line int
}

// splitPostgres splits a script into statements where PostgreSQL's own
// lexer would: at semicolons outside string literals ('...', E'...'),
// quoted identifiers, dollar-quoted bodies ($$...$$, $tag$...$tag$) and
// comments (-- and nested /* */). Blank statements are dropped.
func splitPostgres(script string) ([]pgStatement, error) {
	var out []pgStatement
	start, line, startLine := 0, 1, 1
	flush := func(end int) {
		seg := script[start:end]
		lead := seg[:len(seg)-len(strings.TrimLeft(seg, " \t\r\n;"))]
		if text := trimStatement(seg); !blank(text) {
			out = append(out, pgStatement{text: text, line: startLine + strings.Count(lead, "\n")})
		}
	}
	for i := 0; i < len(script); {
		c := script[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ';':
			flush(i)
			i++
			start, startLine = i, line
		case c == '-' && strings.HasPrefix(script[i:], "--"):
			j := strings.IndexByte(script[i:], '\n')
			if j < 0 {
				i = len(script)
			} else {
				i += j
			}
		case c == '/' && strings.HasPrefix(script[i:], "/*"):
			depth, j := 1, i+2
			for j < len(script) && depth > 0 {
				switch {
				case strings.HasPrefix(script[j:], "/*"):
					depth, j = depth+1, j+2
				case strings.HasPrefix(script[j:], "*/"):
					depth, j = depth-1, j+2
				default:
					if script[j] == '\n' {
						line++
					}
					j++
				}
			}
			if depth > 0 {
				return nil, fmt.Errorf("line %d: unterminated /* comment", line)
			}
			i = j
		case c == '\'' || c == '"':
			escapes := c == '\'' && i > 0 && (script[i-1] == 'E' || script[i-1] == 'e')
			j := i + 1
			for ; j < len(script); j++ {
				if script[j] == '\n' {
					line++
				}
				if escapes && script[j] == '\\' {
					j++
					continue
				}
				if script[j] == c {
					if j+1 < len(script) && script[j+1] == c { // doubled: an escaped quote
						j++
						continue
					}
					break
				}
			}
			if j >= len(script) {
				return nil, fmt.Errorf("line %d: unterminated %c quote", line, c)
			}
			i = j + 1
		case c == '$':
			tag, ok := dollarTag(script[i:])
			if !ok {
				i++
				continue
			}
			end := strings.Index(script[i+len(tag):], tag)
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated %s quote", line, tag)
			}
			body := script[i : i+len(tag)+end+len(tag)]
			line += strings.Count(body, "\n")
			i += len(body)
		default:
			i++
		}
	}
	flush(len(script))
	return out, nil
}

// dollarTag returns the $tag$ that opens a dollar-quoted string at the
// start of s, if one does ($1, a parameter, does not).
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || j > 1 && c >= '0' && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}

// blank reports whether s holds nothing but blanks and comments.
func blank(s string) bool {
	for i := 0; i < len(s); {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n':
			i++
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				return true
			}
			i += j
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i:], "*/")
			if j < 0 {
				return true
			}
			i += j + 2
		default:
			return false
		}
	}
	return true
}

// execPostgres runs a script on q statement by statement, so that a
// failure names its statement and line. inTx refuses statements that would
// end the migration's transaction. done is the number of statements that
// completed.
func (s *session) execPostgres(ctx context.Context, q querier, file, script string, inTx bool) (done int, err error) {
	stmts, err := splitPostgres(script)
	if err != nil {
		return 0, &StatementError{File: file, Ordinal: 1, Line: 1, SQL: strings.TrimSpace(script), Err: err}
	}
	for _, st := range stmts {
		if inTx {
			if kw := txControl(st.text); kw != "" {
				return done, &StatementError{File: file, Ordinal: done + 1, Line: st.line, SQL: st.text,
					Err:  fmt.Errorf("%s is not allowed here: the migration already runs in a transaction", kw),
					Hint: "each migration already runs in a transaction with its version row: remove BEGIN/COMMIT/END/ROLLBACK from the file, or add the line \"" + directivePrefix + "no-transaction\" to manage transactions yourself"}
			}
		}
		if _, err := q.ExecContext(ctx, st.text); err != nil {
			return done, &StatementError{File: file, Ordinal: done + 1, Line: st.line, SQL: st.text, Err: ctxErr(ctx, err), Hint: hint(err, inTx)}
		}
		done++
	}
	return done, nil
}

// errNoPostgresBackup is the error of a backup asked for on PostgreSQL.
var errNoPostgresBackup = errors.New("migrate: WithBackupDir and WithBackupEncryption apply to SQLite: migrate does not back up a PostgreSQL database (use pg_dump or the server's base backups); remove the option, or pass WithoutBackup")

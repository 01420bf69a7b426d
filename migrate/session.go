package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// rawConn is what github.com/ncruces/go-sqlite3/driver's conns (and the
// qlsqlite driver's, which preserve the interface) expose through
// (*sql.Conn).Raw: the SQLite connection itself.
type rawConn interface{ Raw() *sqlite3.Conn }

// session is one run (Up, Down, Resolve) on one dedicated connection:
// PRAGMAs are per connection, so the foreign_keys switch, the statements and
// the checks must all happen on the same one.
type session struct {
	m       *Migrator
	conn    *sql.Conn
	dbFile  string // the main database's file; "" for an in-memory database
	fkOrig  bool   // foreign_keys as the pool handed the connection to us
	fkNow   bool
	fkKnown bool // fkOrig was read
	broken  bool // the connection's state is unknown: discard it
	touched bool // scripts ran on the connection
	pg      bool // the database is PostgreSQL (postgres.go), not SQLite
	unlock  func() error
}

// q returns what runs migrate's own statements on q in the database's
// dialect.
func (s *session) q(q querier) querier {
	if s.pg {
		return pgQuerier{q}
	}
	return q
}

// cleanupCtx gives cleanup statements (restoring foreign_keys, marking a
// partial state) a context that the run's cancellation does not end.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}

// openSession takes a dedicated connection and, if lock, the migration lock.
func (m *Migrator) openSession(ctx context.Context, lock bool) (s *session, err error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: getting a connection: %w", err)
	}
	s = &session{m: m, conn: conn}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
			s = nil
		}
	}()
	isSQLite, connType := false, ""
	if err := conn.Raw(func(dc any) error {
		_, isSQLite = dc.(rawConn)
		connType = fmt.Sprintf("%T", dc)
		return nil
	}); err != nil {
		return nil, err
	}
	if !isSQLite {
		return s, s.openPostgres(ctx, lock, connType)
	}
	if err := conn.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&s.dbFile); err != nil {
		return nil, fmt.Errorf("migrate: finding the database file: %w", err)
	}
	if s.dbFile != "" {
		if st, err := os.Stat(s.dbFile); err != nil || !st.Mode().IsRegular() {
			s.dbFile = "" // a VFS that keeps the database in memory (memdb)
		}
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&s.fkOrig); err != nil {
		return nil, fmt.Errorf("migrate: reading PRAGMA foreign_keys: %w", err)
	}
	s.fkNow, s.fkKnown = s.fkOrig, true
	if !lock {
		return s, nil
	}
	if s.dbFile == "" {
		// No file to lock: only this process can reach the database, and the
		// Migrator's own semaphore serializes its runs. schema_versions'
		// primary key stops a second Migrator from applying a version twice.
		select {
		case m.sem <- struct{}{}:
			s.unlock = func() error { <-m.sem; return nil }
		case <-ctx.Done():
			return nil, fmt.Errorf("migrate: waiting for another run of this Migrator: %w", context.Cause(ctx))
		}
		return s, nil
	}
	path := s.dbFile + lockSuffix
	s.unlock, err = lockFile(ctx, path, func() { m.emit(Event{Kind: EventLockWait, Path: path}) })
	return s, err
}

// openPostgres readies a session on PostgreSQL: the advisory lock, if
// lock. Any other database is an error.
func (s *session) openPostgres(ctx context.Context, lock bool, connType string) (err error) {
	if !isPostgres(ctx, s.conn) {
		return fmt.Errorf("migrate: the driver's connection (%s) is neither SQLite's (Raw() *sqlite3.Conn: the qlsqlite or github.com/ncruces/go-sqlite3/driver driver) nor PostgreSQL's (the qlpg driver, or any PostgreSQL driver): migrate cannot run on it", connType)
	}
	s.pg = true
	if !lock {
		return nil
	}
	s.unlock, err = lockPostgres(ctx, s.conn, func() { s.m.emit(Event{Kind: EventLockWait, Path: "pg_advisory_lock"}) })
	return err
}

// close releases the lock and returns the connection to the pool with
// foreign_keys as it was. After a run that executed scripts on a database
// file, the connection is discarded instead: a script may have set other
// per-connection state (PRAGMA cache_size, recursive_triggers, temp tables)
// that must not leak into the pool, and the next connection costs little.
// An in-memory database would vanish with its connection, so there only
// foreign_keys is restored; a connection whose state could not be restored
// is always discarded.
func (s *session) close() error {
	var errs []error
	if s.pg && s.unlock != nil {
		// The advisory lock belongs to the connection's session: give it
		// back before the connection goes. If that fails, the connection
		// is discarded, which ends the session and the lock with it.
		if s.unlock() != nil {
			s.broken = true
		}
		s.unlock = nil
	}
	if s.touched && (s.dbFile != "" || s.pg) {
		s.broken = true
	}
	if !s.broken && s.fkKnown {
		ctx, cancel := cleanupCtx(context.Background())
		errs = append(errs, s.restoreFK(ctx))
		cancel()
	}
	if s.broken {
		// Returning driver.ErrBadConn from Raw makes database/sql close the
		// connection instead of pooling it: never pool one with foreign keys off.
		_ = s.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if err := s.conn.Close(); !errors.Is(err, sql.ErrConnDone) {
		errs = append(errs, err)
	}
	if s.unlock != nil {
		errs = append(errs, s.unlock())
	}
	return errors.Join(errs...)
}

// restoreFK puts foreign_keys back as the pool handed the connection over,
// reading the actual setting: a no-transaction script may have changed it.
func (s *session) restoreFK(ctx context.Context) error {
	var now bool
	if err := s.conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&now); err != nil {
		s.broken = true
		return fmt.Errorf("migrate: reading PRAGMA foreign_keys: %w", err)
	}
	s.fkNow = now
	if now == s.fkOrig {
		return nil
	}
	return s.setFK(ctx, s.fkOrig)
}

// setFK sets PRAGMA foreign_keys (outside any transaction, where it is not a
// no-op) and checks it took effect.
func (s *session) setFK(ctx context.Context, on bool) error {
	val := "OFF"
	if on {
		val = "ON"
	}
	var got bool
	_, err := s.conn.ExecContext(ctx, "PRAGMA foreign_keys = "+val)
	if err == nil {
		err = s.conn.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&got)
	}
	if err == nil && got != on {
		err = errors.New("it did not take effect (is a transaction open on the connection?)")
	}
	if err != nil {
		s.broken = true
		return fmt.Errorf("migrate: setting PRAGMA foreign_keys = %s: %w", val, err)
	}
	s.fkNow = on
	return nil
}

// withFK runs fn with foreign key enforcement as asked (it is switched before
// BEGIN, since PRAGMA foreign_keys is a no-op inside a transaction), and puts
// the connection's setting back on every exit path.
func (s *session) withFK(ctx context.Context, on bool, fn func() error) (err error) {
	if s.pg { // PostgreSQL always enforces foreign keys, and runs DDL in transactions
		s.touched = true
		return fn()
	}
	if s.fkNow != on {
		if err := s.setFK(ctx, on); err != nil {
			return err
		}
	}
	defer func() {
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		err = errors.Join(err, s.restoreFK(cctx))
	}()
	s.touched = true
	return fn()
}

// raw runs fn with the SQLite connection, interruptible by ctx.
func (s *session) raw(ctx context.Context, fn func(c *sqlite3.Conn) error) error {
	return s.conn.Raw(func(dc any) error {
		c := dc.(rawConn).Raw()
		old := c.SetInterrupt(ctx)
		defer c.SetInterrupt(old)
		return fn(c)
	})
}

// backup copies the database, online, to a new timestamped file and returns
// its path ("" when backups are off, for an in-memory database without a
// backup directory, and for a new database with nothing in it). version is the database's version before the run.
func (s *session) backup(ctx context.Context, version int64) (string, error) {
	o := &s.m.opts
	if s.pg && !o.noBackup && (o.backupDir != "" || o.backupEncryption != nil) {
		return "", errNoPostgresBackup
	}
	if o.noBackup || s.pg || (s.dbFile == "" && o.backupDir == "") {
		return "", nil
	}
	var objects int
	if err := s.conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name <> '"+table+"'").Scan(&objects); err != nil {
		return "", fmt.Errorf("migrate: reading the schema: %w", err)
	}
	if version == 0 && objects == 0 {
		return "", nil // a new, empty database: nothing to save
	}
	enc, err := s.backupParams(ctx)
	if err != nil {
		return "", err
	}
	dir, base := o.backupDir, "memory.db"
	if s.dbFile != "" {
		base = filepath.Base(s.dbFile)
		if dir == "" {
			dir = filepath.Dir(s.dbFile)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("migrate: creating backup directory: %w (set another with WithBackupDir or --backup-dir, or take none with WithoutBackup or --no-backup)", err)
	}
	stamp := time.Now().UTC().Format("20060102T150405.000Z")
	var path string
	for i := 1; ; i++ {
		name := fmt.Sprintf("%s.%s.v%d.bak", base, stamp, version)
		if i > 1 {
			name = fmt.Sprintf("%s.%s.v%d-%d.bak", base, stamp, version, i)
		}
		path = filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("migrate: creating backup file: %w (set another directory with WithBackupDir or --backup-dir, or take none with WithoutBackup or --no-backup)", err)
		}
		f.Close()
		break
	}
	start := time.Now()
	err = s.raw(ctx, func(c *sqlite3.Conn) error { return c.Backup("main", enc.URI(path)) })
	if err != nil {
		err = atrest.Redact(err, enc.Secrets()...)
		os.Remove(path)
		return "", fmt.Errorf("migrate: backing up the database to %s: %w", path, ctxErr(ctx, err))
	}
	s.m.emit(Event{Kind: EventBackup, Path: path, Version: version, Duration: time.Since(start)})
	s.m.pruneBackups(dir, base)
	return path, nil
}

// ctxErr puts the context's error in the chain of an error SQLite returned
// after the context interrupted it, so errors.Is(err, context.DeadlineExceeded) holds.
func ctxErr(ctx context.Context, err error) error {
	if cerr := context.Cause(ctx); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// execScript runs a script statement by statement: SQLite itself finds where
// each statement ends (the tail Prepare returns), so triggers with
// BEGIN ... END and strings holding semicolons need no hand-written splitter.
// Each statement is prepared only after the previous one ran, so a statement
// may use a table created just before it. inTx refuses statements that
// would end the migration's transaction. done is the number of statements
// that completed.
// On PostgreSQL, the script runs on q (the migration's transaction, or the
// connection), split by [splitPostgres].
func (s *session) execScript(ctx context.Context, q querier, file, script string, inTx bool) (done int, err error) {
	if s.pg {
		return s.execPostgres(ctx, q, file, script, inTx)
	}
	err = s.raw(ctx, func(c *sqlite3.Conn) error {
		rest := script
		for rest != "" {
			offset := len(script) - len(rest)
			line := 1 + strings.Count(script[:offset+leadingSpace(rest)], "\n")
			stmt, tail, err := c.Prepare(rest)
			if err != nil {
				return &StatementError{File: file, Ordinal: done + 1, Line: line, SQL: firstStatement(rest), Err: ctxErr(ctx, err), Hint: hint(err, inTx)}
			}
			if stmt == nil {
				break // only comments and blanks were left
			}
			text := trimStatement(rest[:len(rest)-len(tail)])
			if inTx {
				if kw := txControl(text); kw != "" {
					stmt.Close()
					return &StatementError{File: file, Ordinal: done + 1, Line: line, SQL: text,
						Err:  fmt.Errorf("%s is not allowed here: the migration already runs in a transaction", kw),
						Hint: "each migration already runs in a transaction with its version row: remove BEGIN/COMMIT/END/ROLLBACK from the file, or add the line \"" + directivePrefix + "no-transaction\" to manage transactions yourself"}
				}
			}
			err = stmt.Exec()
			stmt.Close()
			if err != nil {
				return &StatementError{File: file, Ordinal: done + 1, Line: line, SQL: text, Err: ctxErr(ctx, err), Hint: hint(err, inTx)}
			}
			if inTx && c.GetAutocommit() {
				return &StatementError{File: file, Ordinal: done + 1, Line: line, SQL: text,
					Err: errors.New("the statement ended the migration's transaction")}
			}
			done++
			rest = tail
		}
		return nil
	})
	return done, err
}

func hint(err error, inTx bool) string {
	if inTx && (strings.Contains(err.Error(), "within a transaction") || strings.Contains(err.Error(), "inside a transaction block")) {
		return "this statement cannot run inside a transaction: put it in a file of its own with the line \"" + directivePrefix + "no-transaction\""
	}
	return ""
}

// leadingSpace is the length of the blanks and semicolons that start s.
func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t\r\n;"))
}

// trimStatement trims blanks and the semicolons SQLite skips before a statement.
func trimStatement(s string) string {
	return strings.TrimSpace(strings.TrimLeft(s, " \t\r\n;"))
}

// txControl returns the keyword if the statement (already delimited by
// SQLite) is BEGIN, COMMIT, END or a ROLLBACK that is not ROLLBACK TO.
func txControl(stmt string) string {
	words := leadingWords(stmt, 3)
	if len(words) == 0 {
		return ""
	}
	switch words[0] {
	case "BEGIN", "COMMIT", "END":
		return words[0]
	case "ROLLBACK":
		for _, w := range words[1:] {
			if w == "TO" {
				return ""
			}
		}
		return "ROLLBACK"
	}
	return ""
}

// leadingWords returns up to n upper-cased words of s, skipping comments.
func leadingWords(s string, n int) []string {
	var words []string
	for len(s) > 0 && len(words) < n {
		switch {
		case s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n' || s[0] == ';':
			s = s[1:]
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return words
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return words
			}
			s = s[i+4:]
		default:
			i := strings.IndexFunc(s, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			})
			if i == 0 {
				return words
			}
			if i < 0 {
				i = len(s)
			}
			words = append(words, strings.ToUpper(s[:i]))
			s = s[i:]
		}
	}
	return words
}

// check runs the checks after a migration, SQLite's: PostgreSQL checks its
// constraints as each statement runs.
func (s *session) check(ctx context.Context, q querier, file string) error {
	if s.pg {
		return nil
	}
	return check(ctx, q, file)
}

// txOptions are the options of a migration's transaction: BEGIN IMMEDIATE
// on SQLite (its serializable level), the server's default on PostgreSQL.
func (s *session) txOptions() *sql.TxOptions {
	if s.pg {
		return nil
	}
	return &sql.TxOptions{Isolation: sql.LevelSerializable}
}

// check runs PRAGMA foreign_key_check and PRAGMA quick_check on q (inside
// the migration's transaction, when it has one, so a failure rolls it back).
func check(ctx context.Context, q querier, file string) error {
	rows, err := q.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("migrate: %s: PRAGMA foreign_key_check: %w", file, ctxErr(ctx, err))
	}
	var violations []string
	n := 0
	for rows.Next() {
		var tbl, parent string
		var rowid sql.NullInt64
		var fkid int64
		if err := rows.Scan(&tbl, &rowid, &parent, &fkid); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %s: PRAGMA foreign_key_check: %w", file, err)
		}
		n++
		if len(violations) < 5 {
			if rowid.Valid {
				violations = append(violations, fmt.Sprintf("%s rowid %d has no parent in %s", tbl, rowid.Int64, parent))
			} else {
				violations = append(violations, fmt.Sprintf("a %s row has no parent in %s", tbl, parent))
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %s: PRAGMA foreign_key_check: %w", file, ctxErr(ctx, err))
	}
	if n > 0 {
		return fmt.Errorf("%w: %s: PRAGMA foreign_key_check found %d foreign key violation(s) after it: %s; "+
			"if the migration relies on ON DELETE/ON UPDATE actions, add the line \"%sforeign-keys on\"; "+
			"if the violations predate it, fix them first",
			ErrCheckFailed, file, n, strings.Join(violations, "; "), directivePrefix)
	}
	rows, err = q.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("migrate: %s: PRAGMA quick_check: %w", file, ctxErr(ctx, err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			return fmt.Errorf("migrate: %s: PRAGMA quick_check: %w", file, err)
		}
		if msg != "ok" && len(problems) < 5 {
			problems = append(problems, msg)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %s: PRAGMA quick_check: %w", file, ctxErr(ctx, err))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s: PRAGMA quick_check after it: %s", ErrCheckFailed, file, strings.Join(problems, "; "))
	}
	return nil
}

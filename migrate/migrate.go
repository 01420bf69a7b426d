package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
)

// Migrator applies and rolls back the migrations of one fs.FS to one
// database. Create it with [New]. Its methods are safe for concurrent use,
// and several processes may run the same migrations at once: the migration
// lock makes the others wait (see [Migrator.Up]).
type Migrator struct {
	db         *sql.DB
	migrations []Migration
	opts       options
	sem        chan struct{} // serializes runs on an in-memory database

	mu         sync.Mutex
	lastBackup string
}

// New reads the migrations in fsys (an [embed.FS], [os.DirFS] or any other
// [fs.FS]) and returns a Migrator for db. It fails, naming the file, on an
// unparsable name, two migrations or two rollbacks with one version, a
// rollback without its migration, or an unknown directive.
//
// The files, at the top of fsys:
//
//	001_initial_schema.sql            a migration (version 1)
//	002_add_trading_indexes.sql
//	rollback/002_rollback.sql         the rollback of version 2
//	003_add_notes.up.sql              the common up/down layout works too
//	003_add_notes.down.sql
//
// Other files and directories are ignored. fsys may be nil when every
// migration is a Go migration ([WithGoMigrations]).
//
// db must come from the qlsqlite driver or the github.com/ncruces/go-sqlite3
// driver (migrations run through SQLite's own API, reached with
// [sql.Conn.Raw]), or be a PostgreSQL database (the qlpg driver of module
// github.com/quantumleap/qlsqlite/pg, or any PostgreSQL driver). On
// PostgreSQL the same files, checksums and schema_versions apply; the lock
// is an advisory lock (pg_try_advisory_lock, per schema) instead of a lock
// file; each migration's DDL runs in its transaction; no backup is taken
// (WithBackupDir is an error there: use pg_dump or base backups); the
// foreign-keys directive and the SQLite PRAGMA checks do not apply.
func New(db *sql.DB, fsys fs.FS, opts ...Option) (*Migrator, error) {
	if db == nil {
		return nil, errors.New("migrate: New: db is nil")
	}
	m := &Migrator{db: db, sem: make(chan struct{}, 1)}
	m.opts.maxDuration = DefaultMaxDuration
	for _, o := range opts {
		o(&m.opts)
	}
	if m.opts.maxDuration <= 0 {
		return nil, errors.New("migrate: WithMaxDuration: the duration must be positive")
	}
	if err := m.opts.checkEncryption(); err != nil {
		return nil, err
	}
	var err error
	m.migrations, err = loadSource(fsys, m.opts.gos)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Migrations returns every migration the Migrator knows, by version.
func (m *Migrator) Migrations() []Migration { return slices.Clone(m.migrations) }

// LastBackup returns the path of the last backup this Migrator took ("" if none).
func (m *Migrator) LastBackup() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastBackup
}

func (m *Migrator) emit(e Event) {
	if m.opts.notify != nil {
		m.opts.notify(e)
	}
}

// runCtx gives a context without a deadline one, far away (see [WithMaxDuration]).
func (m *Migrator) runCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, m.opts.maxDuration)
}

func (m *Migrator) source(version int64) *Migration {
	i, ok := slices.BinarySearchFunc(m.migrations, version, func(m Migration, v int64) int { return cmpInt(m.Version, v) })
	if !ok {
		return nil
	}
	return &m.migrations[i]
}

// Up applies every pending migration, in version order, each in its own
// transaction together with its row in schema_versions.
//
// Up takes the migration lock first (a lock file next to the database,
// released by the kernel if the process dies), so when several processes run
// Up at once each migration is applied exactly once: the others wait, bounded
// by ctx, and then find nothing to do. Before changing anything it refuses to
// go on when an applied migration's file changed ([ErrChanged]), a pending
// migration is older than the newest applied one ([ErrOutOfOrder]) or a
// no-transaction migration was left partial ([ErrPartial]). Then it backs the
// database up (see [WithBackupDir]).
//
// Each migration runs with foreign key enforcement off (switched before BEGIN,
// so rebuilding a table referenced with ON DELETE CASCADE loses no child row)
// unless its file has the line "-- qlsqlite:foreign-keys on"; before COMMIT,
// PRAGMA foreign_key_check and PRAGMA quick_check must pass, or the migration
// rolls back. A failing statement rolls the migration back and is reported as
// a [*StatementError] naming the file, the statement and its line.
func (m *Migrator) Up(ctx context.Context) error { return m.up(ctx, 0) }

// UpTo applies the pending migrations up to and including version, like [Migrator.Up].
// version must be a known migration, and not below the current version
// (use [Migrator.Down] to go back).
func (m *Migrator) UpTo(ctx context.Context, version int64) error {
	if version < 1 {
		return fmt.Errorf("migrate: cannot migrate to version %d: versions start at 1", version)
	}
	return m.up(ctx, version)
}

// locked runs fn on a session that holds the migration lock, with the rows
// of schema_versions. The table is brought to the current shape (columns an
// older tool's table lacks are added) when it has rows, and created when
// create is true.
func (m *Migrator) locked(ctx context.Context, create bool, fn func(ctx context.Context, s *session, applied []appliedRow) error) (err error) {
	ctx, cancel := m.runCtx(ctx)
	defer cancel()
	s, err := m.openSession(ctx, true)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.close()) }()
	applied, err := readApplied(ctx, s.q(s.conn))
	if err != nil {
		return err
	}
	if create || len(applied) > 0 {
		if err := ensureTable(ctx, s.q(s.conn)); err != nil {
			return err
		}
	}
	return fn(ctx, s, applied)
}

func (m *Migrator) up(ctx context.Context, target int64) error {
	return m.locked(ctx, true, func(ctx context.Context, s *session, applied []appliedRow) error {
		return m.upLocked(ctx, s, applied, target)
	})
}

func (m *Migrator) upLocked(ctx context.Context, s *session, applied []appliedRow, target int64) error {
	pending, accept, err := m.plan(applied, target, s.dbFile)
	if err != nil {
		return err
	}
	if err := m.recordAddedRollbacks(ctx, s, applied); err != nil {
		return err
	}
	if len(pending) == 0 && len(accept) == 0 {
		return nil
	}
	backup, err := m.backup(ctx, s, applied)
	if err != nil {
		return err
	}
	for _, src := range accept {
		if err := s.accept(ctx, src); err != nil {
			return err
		}
	}
	for i := range pending {
		if err := s.apply(ctx, &pending[i], backup); err != nil {
			return err
		}
	}
	return nil
}

// backup backs the database up before anything changes, remembers where,
// and returns the path ("" when no backup was taken).
func (m *Migrator) backup(ctx context.Context, s *session, applied []appliedRow) (string, error) {
	backup, err := s.backup(ctx, currentVersion(applied))
	if err != nil {
		return "", err
	}
	if backup != "" {
		m.mu.Lock()
		m.lastBackup = backup
		m.mu.Unlock()
	}
	return backup, nil
}

func currentVersion(applied []appliedRow) int64 {
	var v int64
	for _, r := range applied {
		if !r.partial {
			v = max(v, r.version)
		}
	}
	return v
}

// plan checks applied against the source and returns what Up (up to target,
// 0 for all) would apply and the changed migrations to accept.
func (m *Migrator) plan(applied []appliedRow, target int64, dbFile string) (pending []Migration, accept []*Migration, err error) {
	if err := partialError(applied, dbFile); err != nil {
		return nil, nil, err
	}
	done := map[int64]bool{}
	var highest int64
	var changed []string
	for _, r := range applied {
		done[r.version] = true
		highest = max(highest, r.version)
		src := m.source(r.version)
		if src == nil {
			continue // the file is gone; its stored rollback still works
		}
		what := changes(r, src)
		if what == "" {
			continue
		}
		if m.opts.accept[r.version] {
			accept = append(accept, src)
			continue
		}
		changed = append(changed, what)
	}
	if len(changed) > 0 {
		return nil, nil, fmt.Errorf("%w since it was applied: %s; restore the file(s), or, if the edit is deliberate, acknowledge it (AcceptChanged, or --accept-changed on the command line): the migration is not run again",
			ErrChanged, strings.Join(changed, ", "))
	}
	if target != 0 {
		if m.source(target) == nil && !done[target] {
			return nil, nil, fmt.Errorf("migrate: no migration has version %d", target)
		}
		if target < highest {
			return nil, nil, fmt.Errorf("migrate: version %d is below the current version %d: roll back instead (Down, or qlsqlite migrate down N on the command line)", target, highest)
		}
	}
	var late []string
	for _, src := range m.migrations {
		if done[src.Version] || (target != 0 && src.Version > target) {
			continue
		}
		if src.Version < highest {
			late = append(late, src.Source)
		}
		pending = append(pending, src)
	}
	if len(late) > 0 && !m.opts.allowOutOfOrder {
		return nil, nil, fmt.Errorf("%w: %s pending, but version %d is already applied; renumber the file(s) above %d, or allow it (AllowOutOfOrder, or --allow-out-of-order on the command line)",
			ErrOutOfOrder, strings.Join(late, ", "), highest, highest)
	}
	return pending, accept, nil
}

// partialError returns ErrPartial, with the recovery commands, if a version is marked partial.
func partialError(applied []appliedRow, dbFile string) error {
	for _, r := range applied {
		if r.partial {
			return fmt.Errorf("%w: version %d (%s): %s\n%s", ErrPartial, r.version, r.description, r.note, recovery(r.version, dbFile))
		}
	}
	return nil
}

// recovery says how to resolve a partial version.
func recovery(version int64, dbFile string) string {
	if dbFile == "" {
		return fmt.Sprintf("Repair the database by hand, then call Migrator.Resolve(ctx, %d, true) if the migration is now fully applied, or Migrator.Resolve(ctx, %d, false) if it is fully undone.", version, version)
	}
	return fmt.Sprintf("Repair the database by hand, then run\n"+
		"\tqlsqlite migrate resolve %d applied --db %s\n"+
		"if migration %d is now fully applied, or\n"+
		"\tqlsqlite migrate resolve %d pending --db %s\n"+
		"if it is fully undone (Up will run it again).", version, shellQuote(dbFile), version, version, shellQuote(dbFile))
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// changes says how the files of an applied migration differ from what was
// recorded when it was applied, or "" if they do not.
func changes(r appliedRow, src *Migration) string {
	var what []string
	if r.checksum != "" && r.checksum != src.Checksum {
		what = append(what, fmt.Sprintf("%s (checksum %.12s… applied, %.12s… now)", src.Source, r.checksum, src.Checksum))
	}
	if src.RollbackSource != "" && r.rollback != "" && normalize(src.RollbackSQL) != normalize(r.rollback) { // none stored: see addedRollback
		what = append(what, src.RollbackSource+" (differs from the rollback stored when it was applied)")
	}
	return strings.Join(what, " and ")
}

// accept records the current checksum and rollback of a changed migration.
// A migration whose rollback file is gone keeps the rollback stored when it
// was applied: a deleted rollback file is not a change (see changes), and
// the stored script is then the only way back.
func (s *session) accept(ctx context.Context, src *Migration) error {
	query := "UPDATE " + table + " SET checksum = ?, rollback_script = ? WHERE version = ?"
	args := []any{src.Checksum, nullIfEmpty(src.RollbackSQL), src.Version}
	if src.RollbackSource == "" {
		query = "UPDATE " + table + " SET checksum = ? WHERE version = ?"
		args = []any{src.Checksum, src.Version}
	}
	_, err := s.q(s.conn).ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("migrate: %s: recording the accepted change: %w", src.Source, err)
	}
	s.m.emit(Event{Kind: EventAccepted, Version: src.Version, Description: src.Description, Source: src.Source})
	return nil
}

// apply runs one migration, recording it in schema_versions.
func (s *session) apply(ctx context.Context, src *Migration, backup string) error {
	start := time.Now()
	err := s.withFK(ctx, src.ForeignKeys, func() error {
		if src.NoTransaction {
			return s.applyNoTx(ctx, src, backup, start)
		}
		tx, err := s.conn.BeginTx(ctx, s.txOptions()) // BEGIN IMMEDIATE on SQLite
		if err != nil {
			return fmt.Errorf("migrate: %s: BEGIN: %w", src.Source, ctxErr(ctx, err))
		}
		defer tx.Rollback()
		if src.goUp != nil {
			if err := src.goUp(ctx, tx); err != nil {
				return fmt.Errorf("migrate: %s (%s) failed, rolled back: %w", src.Source, src.Description, err)
			}
		} else if _, err := s.execScript(ctx, tx, src.Source, src.SQL, true); err != nil {
			return err
		}
		if err := s.check(ctx, tx, src.Source); err != nil {
			return err
		}
		if err := insertRow(ctx, s.q(tx), src, backup, time.Since(start).Milliseconds(), false, ""); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: %s: COMMIT: %w", src.Source, ctxErr(ctx, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.m.emit(Event{Kind: EventApplied, Version: src.Version, Description: src.Description, Source: src.Source, Duration: time.Since(start)})
	return nil
}

// applyNoTx runs a no-transaction migration statement by statement. Its row
// is written first, marked partial, and cleared only when every statement
// and the checks passed; a failure after the first statement leaves the mark,
// and the error says how to resolve it.
func (s *session) applyNoTx(ctx context.Context, src *Migration, backup string, start time.Time) error {
	note := "no-transaction migration " + src.Source + " started at " + start.UTC().Format(time.RFC3339) + " and did not finish"
	if err := insertRow(ctx, s.q(s.conn), src, backup, 0, true, note); err != nil {
		return err
	}
	done, err := s.execScript(ctx, s.conn, src.Source, src.SQL, false)
	if err == nil {
		err = s.check(ctx, s.conn, src.Source)
	}
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if err != nil && done == 0 {
		// Nothing was applied (each statement is atomic): take the mark back.
		if _, derr := s.q(s.conn).ExecContext(cctx, "DELETE FROM "+table+" WHERE version = ? AND partial = 1", src.Version); derr == nil {
			return fmt.Errorf("%w\n(no-transaction migration: no statement had run, the database is as before)", err)
		}
	}
	if err != nil {
		return s.partialFailure(cctx, "migration", src.Source, src.Version, done, err)
	}
	_, err = s.q(s.conn).ExecContext(cctx, "UPDATE "+table+" SET partial = 0, partial_note = NULL, execution_ms = ? WHERE version = ?",
		time.Since(start).Milliseconds(), src.Version)
	if err != nil {
		return fmt.Errorf("migrate: %s ran, but clearing its partial mark failed: %w\n%s", src.Source, err, recovery(src.Version, s.dbFile))
	}
	return nil
}

// partialFailure notes on version's row, already marked partial, that the
// no-transaction script file (a "migration" or "rollback") failed with err
// after done statements had run, and returns the error that says so.
func (s *session) partialFailure(ctx context.Context, kind, file string, version int64, done int, err error) error {
	note := fmt.Sprintf("no-transaction %s %s failed after %d statement(s) had run: %v", kind, file, done, err)
	_, uerr := s.q(s.conn).ExecContext(ctx, "UPDATE "+table+" SET partial_note = ? WHERE version = ?", note, version)
	return errors.Join(fmt.Errorf("%w: %w\n%d statement(s) of %s had run and are not undone; version %d is marked partial in %s, and nothing more runs until it is resolved.\n%s",
		ErrPartial, err, done, file, version, table, recovery(version, s.dbFile)), uerr)
}

// Down rolls back the steps most recently applied migrations (highest
// versions first), each in its own transaction with the removal of its row,
// using the rollback script stored in schema_versions when it was applied:
// the file need not exist any more. steps < 1 is an error, never "everything".
// Down takes the migration lock and a backup first, like [Migrator.Up], and
// checks up front that every one of the steps has a rollback ([ErrNoRollback]).
func (m *Migrator) Down(ctx context.Context, steps int) error {
	if steps < 1 {
		return fmt.Errorf("migrate: cannot roll back %d migrations: the number of steps must be 1 or more (a rollback never means \"everything\")", steps)
	}
	return m.locked(ctx, false, func(ctx context.Context, s *session, applied []appliedRow) error {
		return m.downLocked(ctx, s, applied, steps)
	})
}

func (m *Migrator) downLocked(ctx context.Context, s *session, applied []appliedRow, steps int) error {
	if err := partialError(applied, s.dbFile); err != nil {
		return err
	}
	if steps > len(applied) {
		return fmt.Errorf("migrate: cannot roll back %d migration(s): only %d are applied; nothing was rolled back", steps, len(applied))
	}
	slices.Reverse(applied)
	todo := applied[:steps]
	for _, r := range todo {
		src := m.source(r.version)
		if r.rollback == "" && !addedRollback(r, src) && (src == nil || src.goDown == nil) {
			name := fmt.Sprintf("version %d (%s)", r.version, r.description)
			if src != nil {
				name = src.Source
			}
			return fmt.Errorf("%w: %s has none stored in %s: nothing was rolled back; add a rollback file (rollback/%03d_name.sql, or %03d_name.down.sql) and roll back again, write the rollback by hand, or restore a backup",
				ErrNoRollback, name, table, r.version, r.version)
		}
	}
	if _, err := m.backup(ctx, s, applied); err != nil {
		return err
	}
	for _, r := range todo {
		if err := s.revert(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// revert rolls back one applied migration.
func (s *session) revert(ctx context.Context, r appliedRow) error {
	start := time.Now()
	src := s.m.source(r.version)
	if addedRollback(r, src) {
		r.rollback = src.RollbackSQL // added after it was applied, and not yet recorded
	}
	file := fmt.Sprintf("rollback of version %d stored in %s", r.version, table)
	if src != nil && src.RollbackSource != "" && normalize(src.RollbackSQL) == normalize(r.rollback) {
		file = src.RollbackSource
	}
	var goDown GoFunc
	fk := false
	if r.rollback == "" && src != nil {
		goDown, fk, file = src.goDown, src.ForeignKeys, src.Source+" (Down)"
	}
	d, err := parseDirectives(r.rollback)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadSource, file, err)
	}
	if goDown == nil {
		fk = d.foreignKeys
	}
	err = s.withFK(ctx, fk, func() error {
		if d.noTransaction {
			return s.revertNoTx(ctx, r, file)
		}
		tx, err := s.conn.BeginTx(ctx, s.txOptions())
		if err != nil {
			return fmt.Errorf("migrate: %s: BEGIN: %w", file, ctxErr(ctx, err))
		}
		defer tx.Rollback()
		if goDown != nil {
			if err := goDown(ctx, tx); err != nil {
				return fmt.Errorf("migrate: %s failed, rolled back: %w", file, err)
			}
		} else if _, err := s.execScript(ctx, tx, file, r.rollback, true); err != nil {
			return err
		}
		if err := s.check(ctx, tx, file); err != nil {
			return err
		}
		if _, err := s.q(tx).ExecContext(ctx, "DELETE FROM "+table+" WHERE version = ?", r.version); err != nil {
			return fmt.Errorf("migrate: %s: removing version %d: %w", file, r.version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: %s: COMMIT: %w", file, ctxErr(ctx, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.m.emit(Event{Kind: EventReverted, Version: r.version, Description: r.description, Source: file, Duration: time.Since(start)})
	return nil
}

func (s *session) revertNoTx(ctx context.Context, r appliedRow, file string) error {
	note := "no-transaction rollback " + file + " started at " + time.Now().UTC().Format(time.RFC3339) + " and did not finish"
	if _, err := s.q(s.conn).ExecContext(ctx, "UPDATE "+table+" SET partial = 1, partial_note = ? WHERE version = ?", note, r.version); err != nil {
		return fmt.Errorf("migrate: %s: marking version %d: %w", file, r.version, err)
	}
	done, err := s.execScript(ctx, s.conn, file, r.rollback, false)
	if err == nil {
		err = s.check(ctx, s.conn, file)
	}
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if err != nil && done == 0 {
		if _, uerr := s.q(s.conn).ExecContext(cctx, "UPDATE "+table+" SET partial = 0, partial_note = NULL WHERE version = ?", r.version); uerr == nil {
			return fmt.Errorf("%w\n(no-transaction rollback: no statement had run, the database is as before)", err)
		}
	}
	if err != nil {
		return s.partialFailure(cctx, "rollback", file, r.version, done, err)
	}
	if _, err := s.q(s.conn).ExecContext(cctx, "DELETE FROM "+table+" WHERE version = ?", r.version); err != nil {
		return fmt.Errorf("migrate: %s ran, but removing version %d failed: %w\n%s", file, r.version, err, recovery(r.version, s.dbFile))
	}
	return nil
}

// Resolve clears the partial mark that a failed no-transaction migration (or
// rollback) left on version, after the database was repaired by hand:
// applied=true records the migration as fully applied; applied=false removes
// its row, so the migration counts as pending and Up runs it again. Resolve
// fails if version is not marked partial. It takes the migration lock.
func (m *Migrator) Resolve(ctx context.Context, version int64, applied bool) error {
	return m.locked(ctx, false, func(ctx context.Context, s *session, rows []appliedRow) error {
		return resolveLocked(ctx, s, rows, version, applied)
	})
}

func resolveLocked(ctx context.Context, s *session, rows []appliedRow, version int64, applied bool) (err error) {
	i := slices.IndexFunc(rows, func(r appliedRow) bool { return r.version == version })
	if i < 0 || !rows[i].partial {
		return fmt.Errorf("migrate: version %d is not marked partial in %s: nothing to resolve", version, table)
	}
	if applied {
		_, err = s.q(s.conn).ExecContext(ctx, "UPDATE "+table+" SET partial = 0, partial_note = NULL WHERE version = ?", version)
	} else {
		_, err = s.q(s.conn).ExecContext(ctx, "DELETE FROM "+table+" WHERE version = ?", version)
	}
	if err != nil {
		return fmt.Errorf("migrate: resolving version %d: %w", version, err)
	}
	return nil
}

// Version returns the highest fully applied version (0 for none). If a
// version is marked partial it also returns an error wrapping [ErrPartial]
// that says how to resolve it. Version does not write to the database.
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	applied, dbFile, err := m.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	return currentVersion(applied), partialError(applied, dbFile)
}

// snapshot reads the applied migrations on a read-only session.
func (m *Migrator) snapshot(ctx context.Context) (applied []appliedRow, dbFile string, err error) {
	ctx, cancel := m.runCtx(ctx)
	defer cancel()
	s, err := m.openSession(ctx, false)
	if err != nil {
		return nil, "", err
	}
	applied, err = readApplied(ctx, s.q(s.conn))
	return applied, s.dbFile, errors.Join(err, s.close())
}

// Plan returns the migrations Up would apply, in order, without changing
// anything (a dry run). It fails as Up would: on a changed file, an
// out-of-order file or a partial version.
func (m *Migrator) Plan(ctx context.Context) ([]Migration, error) {
	applied, dbFile, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	pending, _, err := m.plan(applied, 0, dbFile)
	return pending, err
}

// State is the state of one migration in [MigrationStatus].
type State string

// The states of a migration.
const (
	// StateApplied: applied, and its file (if still there) is unchanged.
	StateApplied State = "applied"
	// StatePending: not applied yet; Up applies it.
	StatePending State = "pending"
	// StateOutOfOrder: not applied, but older than the newest applied
	// migration; Up fails on it unless [AllowOutOfOrder].
	StateOutOfOrder State = "out of order"
	// StateChanged: applied, but its file or rollback file changed since.
	StateChanged State = "changed"
	// StatePartial: a no-transaction migration failed part way; see [Migrator.Resolve].
	StatePartial State = "partial"
	// StateFileMissing: applied; its file is gone (its stored rollback still works).
	StateFileMissing State = "applied, file missing"
)

// MigrationStatus is one line of [Migrator.Status].
type MigrationStatus struct {
	// Version and Description identify the migration.
	Version     int64
	Description string
	// Source is the migration's file ("" if it is gone).
	Source string
	// State is applied, pending, out of order, changed, partial or file missing.
	State State
	// AppliedAt, Duration, Checksum and Backup are set for applied migrations:
	// when it was applied, how long it ran, the checksum recorded, and the
	// backup taken before the run that applied it ("" if none).
	AppliedAt time.Time
	Duration  time.Duration
	Checksum  string
	Backup    string
	// CanRollback reports a stored rollback script (or a Go Down function).
	CanRollback bool
	// Note explains a partial or changed state.
	Note string
}

// Status lists every migration, applied or known, by version. It does not
// write to the database.
func (m *Migrator) Status(ctx context.Context) ([]MigrationStatus, error) {
	applied, _, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var out []MigrationStatus
	done := map[int64]bool{}
	var highest int64
	for _, r := range applied {
		done[r.version] = true
		highest = max(highest, r.version)
		st := MigrationStatus{
			Version: r.version, Description: r.description, State: StateApplied,
			AppliedAt: r.appliedAt, Duration: time.Duration(r.execMS) * time.Millisecond,
			Checksum: r.checksum, Backup: r.backup, CanRollback: r.rollback != "", Note: r.note,
		}
		src := m.source(r.version)
		switch {
		case r.partial:
			st.State = StatePartial
		case src == nil:
			st.State = StateFileMissing
		default:
			if what := changes(r, src); what != "" {
				st.State, st.Note = StateChanged, what
			}
		}
		if src != nil {
			st.Source = src.Source
			st.CanRollback = st.CanRollback || src.goDown != nil || addedRollback(r, src)
		}
		out = append(out, st)
	}
	for _, src := range m.migrations {
		if done[src.Version] {
			continue
		}
		st := MigrationStatus{Version: src.Version, Description: src.Description, Source: src.Source,
			State: StatePending, Checksum: src.Checksum, CanRollback: src.RollbackSQL != "" || src.goDown != nil}
		if src.Version < highest {
			st.State = StateOutOfOrder
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b MigrationStatus) int { return cmpInt(a.Version, b.Version) })
	return out, nil
}

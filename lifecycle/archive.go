package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// DefaultBatchSize is the number of rows [Archive] and [Purge] handle per
// batch when the caller leaves the batch size at zero.
const DefaultBatchSize = 2000

// MaxBatchSize bounds the batch size of [Archive] and [Purge]: each batch is
// one write transaction, and a batch this big already holds the write lock
// for tens of milliseconds.
const MaxBatchSize = 100_000

// archiveSchema is the name the archive database is attached under on the
// dedicated connection. It is chosen to collide with nothing a program
// attaches itself.
const archiveSchema = "qlsqlite_archive"

// ErrConflict is wrapped by the error [Archive] returns when rows matched the
// policy but were left in the source because the archive already holds a
// different row under the same primary key (a key the source reused after
// an earlier archival, for example), or the row would break another UNIQUE
// constraint of the archive table. Such rows are never deleted: look at both
// versions, resolve them by hand, and run [Archive] again.
var ErrConflict = errors.New("lifecycle: archive holds a different row with the same key")

// ArchivePolicy says which rows [Archive] moves, and where to.
type ArchivePolicy struct {
	// Table is the table of the main database whose rows are archived. It is
	// matched like SQLite matches names (exactly, up to the case of ASCII
	// letters) and quoted in every statement. The table must have a PRIMARY
	// KEY: see [Archive] for why the rowid alone is not enough.
	Table string

	// Where selects the rows to archive: an SQL expression over the table's
	// columns, written by the program (never built from user input), such
	// as "timestamp < ?". Values go in Args, never into the text. Where is
	// required: write "true" to archive every row.
	//
	// The expression is evaluated by SQLite with its own comparison rules:
	// a cutoff on a DATETIME column that holds SQLite's text format
	// ("2006-01-02 15:04:05", what CURRENT_TIMESTAMP writes) must be given in
	// that same format, for example cutoff.UTC().Format(time.DateTime); a
	// time.Time argument would be bound as RFC 3339 text, which does not
	// sort the same way within a day. An integer is always smaller than a
	// text: a text cutoff on a column of Unix times matches every row.
	// [Before] writes the condition of a time cutoff in the format the
	// column holds.
	Where string

	// Args are the values of the parameters in Where, positional ("?") or
	// named (sql.Named). Named parameters must not start with "qlsqlite_".
	Args []any

	// DestPath is the archive database file, a path or a "file:" URI. It
	// is created if missing (its directory must exist), in WAL mode, and
	// the table is created in it with the same CREATE TABLE statement as in
	// the source (indexes and triggers are not copied). If the table
	// already exists there it must have the same primary key and every
	// column of the source table, with the same type affinity and
	// collation. An in-memory database and the source itself are refused.
	DestPath string

	// BatchSize is the number of rows moved per batch (default
	// [DefaultBatchSize], at most [MaxBatchSize]). Each batch is one short
	// write transaction on the archive and one on the source.
	BatchSize int

	// Progress, if not nil, is called after each batch with the report so
	// far. Its Total field then holds the number of rows that matched when
	// the run started. Progress runs on the calling goroutine: a slow
	// callback slows the archival, it does not hold any lock.
	Progress func(ArchiveReport)

	// DryRun counts the rows that would be archived (in Total) and changes
	// nothing: no file is created and no row is copied or deleted.
	DryRun bool

	// Encryption, if not nil, is the VFS and key of the archive file,
	// instead of the source's (see [Archive]).
	Encryption *Encryption

	// Plaintext writes an unencrypted archive of an encrypted source.
	Plaintext bool

	// hook, set only by this package's tests, is called at the named points
	// of each batch; it lets a test crash or interfere at an exact point.
	hook func(phase string, batch int)
}

// ArchiveReport says what [Archive] did.
type ArchiveReport struct {
	Table    string // the table, as named in the schema
	DestPath string // the archive file

	// Total is the number of rows that matched the policy when the run
	// started; it is counted only for a dry run or when a Progress callback
	// is set (it costs one scan of the matching rows), and is 0 otherwise.
	Total int64

	// Moved is the number of rows deleted from the source, each only after
	// an identical copy was confirmed in the archive.
	Moved int64

	// Copied is the number of rows this run wrote into the archive (and
	// left there). It is smaller than Moved when an earlier, interrupted
	// run had already copied some rows (their duplicates are removed from
	// the source by this run).
	Copied int64

	// Conflicts is the number of matching rows left in the source because
	// the archive holds a different row under the same key (see
	// [ErrConflict]).
	Conflicts int64

	// Unsettled is the number of matching rows left in the source, and
	// only there, because other connections kept inserting or changing rows
	// of their batch between its copy and its delete, each of the times the
	// batch was attempted. The next run archives them.
	Unsettled int64

	Batches int           // number of batches run
	DryRun  bool          // whether this was a dry run
	Elapsed time.Duration // wall time of the run
}

// Archive moves the rows of p.Table that match p.Where from the main
// database of db into the same table in the database file p.DestPath.
//
// Rows move in primary-key order, in batches of p.BatchSize; the run ends
// with the first batch that finds fewer rows (rows that start to match
// later are left for the next run). For each batch Archive, on one
// dedicated connection with the archive attached:
//
//  1. finds the batch's key range: up to the p.BatchSize-th matching key;
//  2. in one transaction, copies the matching rows of that range that the
//     archive lacks (INSERT ... ON CONFLICT DO NOTHING: a row the archive
//     holds is never overwritten), and commits: this transaction writes
//     the archive file only, durably (synchronous=FULL);
//  3. in one IMMEDIATE transaction, which holds the source's write lock
//     from its start, deletes from the source the rows of that range whose
//     identical copy (same key, every column equal under BINARY collation,
//     NULL equal to NULL, and the same storage class in untyped columns) is
//     in the archive. Where is not evaluated again: a row whose identical
//     copy is in the archive is archived.
//
// A crash, a kill or a power cut at any point leaves every row in the
// source, in the archive, or in both: never in neither. Running Archive
// again with the same policy finishes the job; rows already copied are then
// deleted from the source without being copied again. (A transaction over
// two WAL files commits each file on its own, the source first: step 3
// therefore never writes the archive's copy of a row it deletes.)
//
// After Archive returns, every row it dealt with is in exactly one place.
// A row another connection updates between steps 2 and 3 no longer equals
// its copy and is not deleted; step 3 then withdraws the copy step 2 made
// (in the same transaction, which deletes other rows from the source: a
// crash that keeps one half of it never leaves a row in neither file; at
// worst the changed row stays in the source and its older copy in the
// archive, which the next run reports as a conflict), and the batch is
// attempted again (up to three times; rows that keep changing are left in
// the source only, counted in ArchiveReport.Unsettled). A row inserted
// into the batch's range meanwhile is handled the same way. A row deleted
// by another connection between steps 2 and 3 stays in the archive. A
// matching row whose key the archive
// already holds with other content (a key the source reused after an
// earlier archival, an INTEGER PRIMARY KEY without AUTOINCREMENT does) is
// a conflict: it is left in the source, the archive's row is left as it is,
// it is counted in ArchiveReport.Conflicts, and Archive returns an error
// wrapping [ErrConflict] after finishing the other rows.
//
// The archive must be a database file other than the source: after
// attaching p.DestPath, Archive reads what SQLite opened (PRAGMA
// database_list) and refuses ":memory:", "file:x?mode=memory", a temporary
// database and the source itself under any name (a relative "file:" URI,
// a symbolic link). If the archive table exists, each column of the source
// must be there with the same type affinity and collation, and the primary
// key must be the same, with the same collations; otherwise Archive
// refuses, naming the column (an INTEGER column would store the TEXT
// '02134' as 2134, a NOCASE key would hold only one of 'ABC' and 'abc').
// If either table changes shape while the run goes on (another connection
// adds a column, say), Archive stops before deleting anything more, and
// says what changed.
//
// The table must have a PRIMARY KEY (a WITHOUT ROWID table, an INTEGER
// PRIMARY KEY, or any other primary key, composite or not). A table without
// one is refused: its rowid is not a stable identity (VACUUM may renumber it,
// and the rowid of a deleted row is handed out again), so "delete only the
// rows confirmed in the archive" could not be made exact; use [Purge] if
// the rows may be dropped, or give the table a primary key. SQLite lets the
// primary key of a rowid table hold NULL; Archive refuses to start if a
// matching row has a NULL key, as such a row cannot be matched in the
// archive.
//
// Foreign keys: the archive holds no parent tables, so foreign-key
// enforcement is switched off on the dedicated connection while rows are
// copied into the archive. If other tables reference the archived table
// (and enforcement was on), it is switched back on for each delete from
// the source, where it guards the source's integrity: deleting a row that
// other rows still reference fails with SQLite's constraint error, after
// the copy (rerun after fixing the references; the copies are reused).
// Archive refuses a table that other tables reference with ON DELETE
// CASCADE, SET NULL or SET DEFAULT, since deleting its rows would change
// rows that are not archived. Triggers on the source table fire as for any
// DELETE.
//
// The archive is attached outside any transaction and detached on every
// exit path; if it cannot be detached, or a PRAGMA cannot be restored, the
// connection is closed instead of going back to the pool.
//
// The archive of an encrypted database (vfs=adiantum or vfs=xts) is
// encrypted with the database's VFS and key, as a backup is (see
// "Encryption" in [BackupWith]), or with p.Encryption; it is written
// unencrypted only with p.Plaintext. An existing archive that cannot be read
// with that key is refused with an error wrapping [ErrWrongKey].
//
// A context without a deadline is given one [LongDeadline] ahead. When ctx
// is cancelled, Archive stops at the next statement and returns the report
// so far with an error wrapping ctx's error; nothing is lost and a rerun
// carries on.
func Archive(ctx context.Context, db *sql.DB, p ArchivePolicy) (rep ArchiveReport, err error) {
	start := time.Now()
	rep = ArchiveReport{DestPath: p.DestPath, DryRun: p.DryRun}
	defer func() { rep.Elapsed = time.Since(start) }()

	if err := p.check(); err != nil {
		return rep, err
	}
	ctx, cancel := longContext(ctx)
	defer cancel()

	conn, err := db.Conn(ctx)
	if err != nil {
		return rep, fmt.Errorf("lifecycle: archive: getting a connection: %w", err)
	}
	defer conn.Close()

	src, err := lookupTable(ctx, conn, "main", p.Table)
	if err != nil {
		return rep, fmt.Errorf("lifecycle: archive: %w", err)
	}
	rep.Table = src.name
	if err := checkArchivable(ctx, conn, src); err != nil {
		return rep, err
	}
	if err := checkNullKeys(ctx, conn, src, p); err != nil {
		return rep, err
	}
	if p.DryRun || p.Progress != nil {
		n, err := countMatching(ctx, conn, src, p.Where, p.Args)
		if err != nil {
			return rep, err
		}
		rep.Total = n
	}
	if p.DryRun {
		return rep, nil
	}
	if err := checkDestPath(ctx, conn, p.DestPath); err != nil {
		return rep, err
	}

	dest, err := archiveTarget(conn, db, &p)
	if err != nil {
		return rep, err
	}
	a := &archiver{conn: conn, src: src, p: p, rep: &rep, dest: dest}
	defer func() { // before attach, which can fail after ATTACH
		if derr := a.detach(); derr != nil && err == nil {
			err = derr
		}
	}()
	if err := a.attach(ctx); err != nil {
		return rep, err
	}
	if err := a.checkAttached(ctx); err != nil {
		return rep, err
	}
	if err := a.prepareArchiveTable(ctx); err != nil {
		return rep, err
	}
	if err := a.prepare(ctx); err != nil {
		return rep, err
	}
	if err := a.run(ctx); err != nil {
		return rep, err
	}
	if rep.Conflicts > 0 {
		return rep, fmt.Errorf("lifecycle: archive: %d matching rows of %s were left in the source: %w (first key: %s); compare them with the archive's rows, resolve by hand, then run the archival again",
			rep.Conflicts, src.name, ErrConflict, a.firstConflict)
	}
	return rep, nil
}

// check validates the parts of the policy that need no database.
func (p *ArchivePolicy) check() error {
	if err := checkName("table", p.Table); err != nil {
		return fmt.Errorf("lifecycle: archive: %w", err)
	}
	if strings.TrimSpace(p.Where) == "" {
		return errors.New(`lifecycle: archive: Where is empty: give the condition that selects the rows to archive (write "true" to archive every row)`)
	}
	if p.BatchSize < 0 || p.BatchSize > MaxBatchSize {
		return fmt.Errorf("lifecycle: archive: BatchSize %d is out of range: use 1 to %d, or 0 for the default (%d)", p.BatchSize, MaxBatchSize, DefaultBatchSize)
	}
	if p.BatchSize == 0 {
		p.BatchSize = DefaultBatchSize
	}
	if !p.DryRun && p.DestPath == "" {
		return errors.New("lifecycle: archive: DestPath is empty: name the archive database file")
	}
	return nil
}

// checkArchivable refuses tables whose rows cannot be archived exactly.
func checkArchivable(ctx context.Context, q queryer, t *table) error {
	if len(t.key) == 0 {
		return fmt.Errorf("lifecycle: archive: table %s has no PRIMARY KEY: archival deletes only rows whose copy is confirmed by key, and a rowid is no stable key (VACUUM may renumber it and deleted rowids are reused); add a primary key, or use Purge if the rows may be dropped", t.name)
	}
	// Tables that reference t with an action that would change them when
	// rows of t are deleted.
	rows, err := q.QueryContext(ctx, `
		SELECT s.name, f.on_delete
		FROM main.sqlite_schema AS s, pragma_foreign_key_list(s.name, 'main') AS f
		WHERE s.type = 'table' AND f."table" = ? COLLATE NOCASE
		  AND f.on_delete IN ('CASCADE', 'SET NULL', 'SET DEFAULT')`, t.name)
	if err != nil {
		return fmt.Errorf("lifecycle: archive: reading the foreign keys that reference %s: %w", t.name, err)
	}
	defer rows.Close()
	if rows.Next() {
		var child, action string
		if err := rows.Scan(&child, &action); err != nil {
			return fmt.Errorf("lifecycle: archive: reading the foreign keys that reference %s: %w", t.name, err)
		}
		return fmt.Errorf("lifecycle: archive: table %s references %s with ON DELETE %s: deleting archived rows would change rows of %s that are not archived; archive %s first or change the foreign key", child, t.name, action, child, child)
	}
	return rows.Err()
}

// checkNullKeys refuses to start when a matching row has a NULL key.
func checkNullKeys(ctx context.Context, q queryer, t *table, p ArchivePolicy) error {
	notNull := t.keyNotNull()
	if notNull == "" {
		return nil
	}
	var n int64
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FROM `+t.quoted+` WHERE (`+p.Where+`) AND NOT (`+notNull+`)`, p.Args...).Scan(&n)
	if err != nil {
		return fmt.Errorf("lifecycle: archive: counting rows with a NULL key: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("lifecycle: archive: %d matching rows of %s have NULL in the primary key (%s), which SQLite allows in rowid tables: such rows cannot be matched in the archive; give them keys or declare the key columns NOT NULL", n, t.name, t.keyList())
	}
	return nil
}

// countMatching counts the rows of t that match where.
func countMatching(ctx context.Context, q queryer, t *table, where string, args []any) (int64, error) {
	cond := "(" + where + ")"
	if nn := t.keyNotNull(); nn != "" {
		cond += " AND " + nn
	}
	var n int64
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+t.quoted+` WHERE `+cond, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("lifecycle: counting the rows of %s that match: %w", t.name, err)
	}
	return n, nil
}

// checkDestPath refuses, before anything is attached, an archive path that
// is the source database itself or whose directory does not exist. A
// "file:" URI is left to SQLite to resolve; what it attaches is checked
// after ATTACH (archiver.checkAttached), for every form of DestPath.
func checkDestPath(ctx context.Context, q queryer, dest string) error {
	if strings.HasPrefix(dest, "file:") || dest == ":memory:" {
		return nil
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("lifecycle: archive: DestPath %q: %w", dest, err)
	}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
		return fmt.Errorf("lifecycle: archive: the directory of DestPath %q does not exist: create it first", dest)
	}
	file, err := mainFile(ctx, q)
	if err != nil || file == "" {
		return err
	}
	if sameFile(file, abs) {
		return fmt.Errorf("lifecycle: archive: DestPath %q is the source database itself: pass the path of another file", dest)
	}
	return nil
}

// sameFile reports whether two paths name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}

// archiver holds the state of one Archive run.
type archiver struct {
	conn *sql.Conn
	src  *table // the source table, in main
	dst  *table // the archive table
	p    ArchivePolicy
	rep  *ArchiveReport
	dest copyTarget // the archive file, and how it is opened

	attached bool
	destFile string // the archive's file, as SQLite reports it
	fkOn     bool   // foreign keys were on when the run started
	toggleFK bool   // switch them on for each delete: other tables reference the source
	fkNow    bool   // whether foreign keys are on now (while toggleFK)
	keysMade bool   // the temporary table of archive keys exists
	broken   bool   // a transaction could not be rolled back: close the connection

	// The schema versions the statements were built for (see checkSchema).
	srcSchema, dstSchema int64

	// The prepared statements of a batch: [0] for the first batch, which
	// has no lower key bound, [1] for the others.
	batches [2]batchStmts
	stmts   []*sql.Stmt // all of them, to close

	schemaMain *sql.Stmt // PRAGMA main.schema_version
	schemaDest *sql.Stmt // the archive's schema_version
	dataDest   *sql.Stmt // the archive's data_version
	clearKeys  *sql.Stmt // empties the temporary table of archive keys

	firstConflict string
}

// keysTable is the temporary table that holds, during a batch that finds
// rows already in the archive, the keys of those rows: the copies a batch
// may withdraw are the others (see archiver.attempt). A temporary table is
// private to the connection.
const keysTable = "temp.qlsqlite_archive_keys"

// batchStmts are the prepared statements of one batch, all over the
// batch's key range; see archiver.attempt for how they are used.
type batchStmts struct {
	nth      *sql.Stmt // the BatchSize-th matching key
	last     *sql.Stmt // the last matching key
	pre      *sql.Stmt // counts the archive's rows in the range
	keep     *sql.Stmt // records their keys in keysTable
	copy     *sql.Stmt // copies the matching rows the archive lacks
	del      *sql.Stmt // deletes the source rows whose identical copy is in the archive
	stale    *sql.Stmt // counts the source rows left that have a row in the archive
	withdraw *sql.Stmt // deletes this batch's copies of the rows left in the source
	left     *sql.Stmt // counts the matching rows left, and those with a row in the archive
	key      *sql.Stmt // the first matching key with a different row in the archive
}

// attach attaches the archive file, outside any transaction.
func (a *archiver) attach(ctx context.Context) error {
	if err := a.conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&a.fkOn); err != nil {
		return fmt.Errorf("lifecycle: archive: reading PRAGMA foreign_keys: %w", err)
	}
	if a.fkOn {
		// Deleting rows that other tables reference needs enforcement; rows
		// that only reference others can be deleted without it.
		var refs int
		err := a.conn.QueryRowContext(ctx, `
			SELECT count(*) FROM main.sqlite_schema AS s, pragma_foreign_key_list(s.name, 'main') AS f
			WHERE s.type = 'table' AND f."table" = ? COLLATE NOCASE`, a.src.name).Scan(&refs)
		if err != nil {
			return fmt.Errorf("lifecycle: archive: reading the foreign keys that reference %s: %w", a.src.name, err)
		}
		a.toggleFK = refs > 0
	}
	if _, err := a.conn.ExecContext(ctx, `ATTACH DATABASE ? AS `+archiveSchema, a.dest.uri); err != nil {
		if atrest.IsKeyError(err, a.dest.params) {
			return fmt.Errorf("lifecycle: archive: %w", keyError(a.p.DestPath, a.dest.params, err))
		}
		return fmt.Errorf("lifecycle: archive: attaching %q: %w", a.p.DestPath, atrest.Redact(err, a.dest.params.Secrets()...))
	}
	a.attached = true
	// The copy must be durable before the source's delete is: WAL mode's
	// default (NORMAL) may lose the last commits on power loss.
	if _, err := a.conn.ExecContext(ctx, `PRAGMA `+archiveSchema+`.synchronous = FULL`); err != nil {
		return fmt.Errorf("lifecycle: archive: setting synchronous=FULL on the archive: %w", err)
	}
	return nil
}

// detach finalizes the statements, puts foreign keys back as they were and
// detaches the archive, with a fresh context so that a cancelled run still

// detach finalizes the statements, drops the temporary table, puts foreign
// keys back as they were and detaches the archive, with a fresh context so
// that a cancelled run still cleans up. If that fails the connection is
// closed, not pooled.
func (a *archiver) detach() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if a.broken {
		errs = append(errs, errors.New("a transaction could not be rolled back"))
	}
	for _, s := range a.stmts {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.keysMade {
		if _, err := a.conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+keysTable); err != nil {
			errs = append(errs, fmt.Errorf("dropping %s: %w", keysTable, err))
		}
	}
	if a.attached { // a.fkOn was read before ATTACH
		if _, err := a.conn.ExecContext(ctx, fkPragma(a.fkOn)); err != nil {
			errs = append(errs, fmt.Errorf("restoring PRAGMA foreign_keys: %w", err))
		}
		if _, err := a.conn.ExecContext(ctx, `DETACH DATABASE `+archiveSchema); err != nil {
			errs = append(errs, fmt.Errorf("detaching the archive: %w", err))
		}
	}
	if len(errs) > 0 {
		discard(a.conn)
		return fmt.Errorf("lifecycle: archive: cleaning up the connection (it was closed instead of pooled): %w", errors.Join(errs...))
	}
	return nil
}

func fkPragma(on bool) string {
	if on {
		return `PRAGMA foreign_keys = ON`
	}
	return `PRAGMA foreign_keys = OFF`
}

// prepareArchiveTable creates the archive table if it is missing, with the
// source's own CREATE TABLE statement (so its types, key and collations),
// and checks that the archive table stores and compares every column of the
// source the way the source does (compareShape).
func (a *archiver) prepareArchiveTable(ctx context.Context) error {
	if err := readCollations(ctx, a.conn, "main", a.src); err != nil {
		return fmt.Errorf("lifecycle: archive: %w", err)
	}
	dst, err := lookupTable(ctx, a.conn, archiveSchema, a.src.name)
	if errors.Is(err, errNoTable) {
		var mode string
		if err := a.conn.QueryRowContext(ctx, `PRAGMA `+archiveSchema+`.journal_mode = WAL`).Scan(&mode); err != nil {
			return fmt.Errorf("lifecycle: archive: setting WAL mode on %q: %w", a.p.DestPath, err)
		}
		create := `CREATE TABLE ` + archiveSchema + `.` + strings.TrimPrefix(a.src.sql, "CREATE TABLE ")
		if _, err := a.conn.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("lifecycle: archive: creating table %s in %q: %w", a.src.name, a.p.DestPath, err)
		}
		dst, err = lookupTable(ctx, a.conn, archiveSchema, a.src.name)
	}
	if err == nil {
		err = readCollations(ctx, a.conn, archiveSchema, dst)
	}
	if err != nil {
		return fmt.Errorf("lifecycle: archive: in %q: %w", a.p.DestPath, err)
	}
	if err := compareShape(a.src, dst, a.p.DestPath); err != nil {
		return err
	}
	a.dst = dst
	return a.checkDestFile()
}

// prepare builds and prepares the statements of a batch (batchQueries),
// creates the temporary table of archive keys and notes the schema versions
// the statements were built for.
func (a *archiver) prepare(ctx context.Context) error {
	build, tmpCols := a.batchQueries()

	// Statements that write into the archive cannot even be prepared with
	// foreign keys on, as the archive has no parent tables. Toggling the
	// PRAGMA expires prepared statements; SQLite prepares them again, under
	// the setting in force, when they next run.
	if _, err := a.conn.ExecContext(ctx, fkPragma(false)); err != nil {
		return fmt.Errorf("lifecycle: archive: switching foreign keys off: %w", err)
	}
	if _, err := a.conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+keysTable); err != nil {
		return fmt.Errorf("lifecycle: archive: creating %s: %w", keysTable, err)
	}
	a.keysMade = true
	if _, err := a.conn.ExecContext(ctx, `CREATE TABLE `+keysTable+` (`+strings.Join(tmpCols, ", ")+`)`); err != nil {
		return fmt.Errorf("lifecycle: archive: creating %s: %w", keysTable, err)
	}
	prep := func(dst **sql.Stmt, query string) error {
		st, err := a.conn.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("lifecycle: archive: preparing %q: %w (check Where)", query, err)
		}
		a.stmts = append(a.stmts, st)
		*dst = st
		return nil
	}
	for _, q := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&a.schemaMain, `PRAGMA main.schema_version`},
		{&a.schemaDest, `PRAGMA ` + archiveSchema + `.schema_version`},
		{&a.dataDest, `PRAGMA ` + archiveSchema + `.data_version`},
		{&a.clearKeys, `DELETE FROM ` + keysTable},
	} {
		if err := prep(q.dst, q.query); err != nil {
			return err
		}
	}
	for i, first := range []bool{true, false} {
		b := &a.batches[i]
		targets := [...]**sql.Stmt{&b.nth, &b.last, &b.pre, &b.keep, &b.copy, &b.del, &b.stale, &b.withdraw, &b.left, &b.key}
		for j, q := range build(first) {
			if err := prep(targets[j], q); err != nil {
				return err
			}
		}
	}
	if err := a.schemaMain.QueryRowContext(ctx).Scan(&a.srcSchema); err != nil {
		return fmt.Errorf("lifecycle: archive: reading the source's schema_version: %w", err)
	}
	if err := a.schemaDest.QueryRowContext(ctx).Scan(&a.dstSchema); err != nil {
		return fmt.Errorf("lifecycle: archive: reading the archive's schema_version: %w", err)
	}
	return nil
}

// batchQueries returns the statements of a batch, by their order in
// batchStmts: build(true) those of the first batch (no lower bound),
// build(false) those of the later ones; and the columns of the temporary
// table of archive keys.
//
// Every statement that contains Where contains it once and before any named
// parameter of this package, so that Where's positional parameters are
// numbered 1..n in every statement.
func (a *archiver) batchQueries() (build func(first bool) []string, tmpCols []string) {
	s, d := a.src, a.dst
	sq := s.quoted // "main"."t"

	cols := make([]string, len(s.cols))
	match := make([]string, 0, len(s.cols))
	for i, c := range s.cols {
		cols[i] = c.quoted
		// Same affinity on both sides (compareShape) stores a value alike
		// on both; only an untyped column can hold 1 in one and 1.0 in
		// the other, which IS finds equal.
		m := "qlsqlite_a." + c.quoted + " IS " + sq + "." + c.quoted + " COLLATE BINARY"
		if affinity(c.typ, s.strict) == "BLOB" {
			m += " AND typeof(qlsqlite_a." + c.quoted + ") = typeof(" + sq + "." + c.quoted + ")"
		}
		match = append(match, m)
	}
	keyEq := make([]string, len(s.key))
	tmpCols = make([]string, len(s.key))
	for i, c := range s.key {
		keyEq[i] = "qlsqlite_a." + c.quoted + " = " + sq + "." + c.quoted
		tmpCols[i] = fmt.Sprintf("k%d", i)
	}
	colList := strings.Join(cols, ", ")
	inArchive := `EXISTS (SELECT 1 FROM ` + d.quoted + ` AS qlsqlite_a WHERE ` + strings.Join(keyEq, " AND ") + `)`
	identical := `EXISTS (SELECT 1 FROM ` + d.quoted + ` AS qlsqlite_a WHERE ` + strings.Join(keyEq, " AND ") + ` AND ` + strings.Join(match, " AND ") + `)`

	kt := s.keyTuple()
	lower := kt + " > " + s.paramTuple("qlsqlite_lo")
	upper := kt + " <= " + s.paramTuple("qlsqlite_hi")
	base := "(" + a.p.Where + ")"
	if nn := s.keyNotNull(); nn != "" {
		base += " AND " + nn
	}
	cond := func(first bool) string {
		if first {
			return base
		}
		return base + " AND " + lower
	}
	rng := func(first bool) string { return cond(first) + " AND " + upper }
	// The delete does not evaluate Where again: a row of the range whose
	// identical copy is in the archive is archived, whatever it matches now.
	srcRange := func(first bool) string {
		if first {
			return upper
		}
		return lower + " AND " + upper
	}
	dk := d.keyTuple()
	archRange := func(first bool) string {
		if first {
			return dk + " <= " + s.paramTuple("qlsqlite_hi")
		}
		return dk + " > " + s.paramTuple("qlsqlite_lo") + " AND " + dk + " <= " + s.paramTuple("qlsqlite_hi")
	}
	order := s.orderBy(false)

	var quoted []string
	for _, c := range s.key {
		quoted = append(quoted, "quote("+c.quoted+")")
	}

	build = func(first bool) []string {
		nth, last := boundQueries(s, cond(first))
		return []string{
			nth, last,
			`SELECT count(*) FROM ` + d.quoted + ` WHERE ` + archRange(first),
			`INSERT INTO ` + keysTable + ` SELECT ` + d.keyList() + ` FROM ` + d.quoted + ` WHERE ` + archRange(first),
			`INSERT INTO ` + d.quoted + ` (` + colList + `) SELECT ` + colList + ` FROM ` + sq +
				` WHERE ` + rng(first) + ` ORDER BY ` + order + ` ON CONFLICT DO NOTHING`,
			`DELETE FROM ` + sq + ` WHERE ` + srcRange(first) + ` AND ` + identical,
			`SELECT count(*) FROM ` + sq + ` WHERE ` + srcRange(first) + ` AND ` + inArchive,
			`DELETE FROM ` + d.quoted + ` WHERE ` + archRange(first) +
				` AND ` + dk + ` IN (SELECT ` + s.keyList() + ` FROM ` + sq + ` WHERE ` + srcRange(first) + `)` +
				` AND (:qlsqlite_pre = 0 OR ` + dk + ` NOT IN (SELECT ` + strings.Join(tmpCols, ", ") + ` FROM ` + keysTable + `))`,
			`SELECT count(*), coalesce(sum(` + inArchive + `), 0) FROM ` + sq + ` WHERE ` + rng(first),
			`SELECT ` + strings.Join(quoted, " || ', ' || ") + ` FROM ` + sq + ` WHERE ` + rng(first) + ` AND ` + inArchive + ` ORDER BY ` + order + ` LIMIT 1`,
		}
	}
	return build, tmpCols
}

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
	// sort the same way within a day.
	Where string

	// Args are the values of the parameters in Where, positional ("?") or
	// named (sql.Named). Named parameters must not start with "qlsqlite_".
	Args []any

	// DestPath is the archive database file. It is created if missing (its
	// directory must exist), in WAL mode, and the table is created in it
	// with the same CREATE TABLE statement as in the source (indexes and
	// triggers are not copied). If the table already exists there it must
	// have the same primary key and every column of the source table.
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

	// Copied is the number of rows this run wrote into the archive. It is
	// smaller than Moved when an earlier, interrupted run had already copied
	// some rows (their duplicates are removed from the source by this run).
	Copied int64

	// Conflicts is the number of matching rows left in the source because
	// the archive holds a different row under the same key (see
	// [ErrConflict]).
	Conflicts int64

	Batches int           // number of batches run
	DryRun  bool          // whether this was a dry run
	Elapsed time.Duration // wall time of the run
}

// Archive moves the rows of p.Table that match p.Where from the main
// database of db into the same table in the database file p.DestPath.
//
// Rows move in primary-key order, in batches of p.BatchSize; the run ends
// with the first batch that finds fewer rows (rows that start to match
// later are left for the next run). For each batch
// Archive, on one dedicated connection with the archive attached:
//
//  1. finds the batch's key range: up to the p.BatchSize-th matching key;
//  2. copies the matching rows of that range into the archive, skipping keys
//     already there (INSERT ... ON CONFLICT DO NOTHING), and commits: this
//     transaction writes the archive file only;
//  3. deletes from the source the rows of that range whose identical copy
//     (same key, every column equal under BINARY collation) is present in
//     the archive, and commits: this transaction writes the source file
//     only. Where is not evaluated again: a row whose identical copy is in
//     the archive is archived.
//
// Step 3 compares every column unless that cannot find a difference: when
// the source's PRAGMA data_version shows that no other connection committed
// to it since before the copy, and the archive's rows in the range are
// exactly those the copy inserted, key presence is proof enough.
//
// The archive's copy is made durable (synchronous=FULL) before the delete
// starts, so a crash, a kill or a power cut at any point leaves every row in
// the source, in the archive, or in both: never in neither. Running Archive
// again with the same policy finishes the job; rows already copied are then
// deleted from the source without being copied again.
//
// A row updated by another connection between steps 2 and 3 no longer equals
// its copy and is not deleted; Archive refreshes the copy (when the archive
// held nothing in that key range before the batch, so the copy is its own)
// and tries once more. A row that still differs from the archive's row
// under the same key is left in the source and counted in
// ArchiveReport.Conflicts, and Archive returns an error wrapping
// [ErrConflict] after finishing the other rows. A row deleted by another
// connection between steps 2 and 3 stays in the archive.
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
// the copy (rerun after fixing the references; the copies are reused). Archive refuses a table that other tables reference with ON DELETE
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

// checkDestPath refuses an archive file that is the source database itself
// or whose directory does not exist.
func checkDestPath(ctx context.Context, q queryer, dest string) error {
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
		return fmt.Errorf("lifecycle: archive: DestPath %q is the source database itself: archive into another file", dest)
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
	fkOn     bool // foreign keys were on when the run started
	toggleFK bool // switch them on for each delete: other tables reference the source

	// The prepared statements of a batch: [0] for the first batch, which
	// has no lower key bound, [1] for the others.
	batches [2]batchStmts
	stmts   []*sql.Stmt // all of them, to close

	dataVersion *sql.Stmt

	firstConflict string
}

// batchStmts are the prepared statements of one batch.
type batchStmts struct {
	nth   *sql.Stmt // the BatchSize-th matching key
	last  *sql.Stmt // the last matching key
	pre   *sql.Stmt
	copy  *sql.Stmt
	del   *sql.Stmt
	left  *sql.Stmt
	fresh *sql.Stmt // nil when the table has only key columns
	key   *sql.Stmt
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
// cleans up. If that fails the connection is closed, not pooled.
func (a *archiver) detach() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, s := range a.stmts {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
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

// prepareArchiveTable creates the archive table if it is missing, or checks
// that the existing one fits.
func (a *archiver) prepareArchiveTable(ctx context.Context) error {
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
	if err != nil {
		return fmt.Errorf("lifecycle: archive: in %q: %w", a.p.DestPath, err)
	}
	if len(dst.key) != len(a.src.key) {
		return fmt.Errorf("lifecycle: archive: table %s in %q has primary key (%s), the source has (%s): they must be the same", dst.name, a.p.DestPath, dst.keyList(), a.src.keyList())
	}
	for i, c := range a.src.key {
		if !strings.EqualFold(dst.key[i].name, c.name) {
			return fmt.Errorf("lifecycle: archive: table %s in %q has primary key (%s), the source has (%s): they must be the same", dst.name, a.p.DestPath, dst.keyList(), a.src.keyList())
		}
	}
	for _, c := range a.src.cols {
		if _, ok := dst.column(c.name); !ok {
			return fmt.Errorf("lifecycle: archive: table %s in %q has no column %s: add it there (ALTER TABLE ... ADD COLUMN) to match the source", dst.name, a.p.DestPath, c.name)
		}
	}
	a.dst = dst
	return nil
}

// prepare builds and prepares the statements of a batch.
//
// Every statement that contains Where contains it once and before any named
// parameter of this package, so that Where's positional parameters are
// numbered 1..n in every statement.
func (a *archiver) prepare(ctx context.Context) error {
	s, d := a.src, a.dst
	sq := s.quoted // "main"."t"

	cols := make([]string, len(s.cols))
	match := make([]string, 0, len(s.cols)+len(s.key))
	var set []string
	for i, c := range s.cols {
		cols[i] = c.quoted
		match = append(match, "qlsqlite_a."+c.quoted+" IS "+sq+"."+c.quoted+" COLLATE BINARY")
		if c.pk == 0 {
			set = append(set, c.quoted+" = excluded."+c.quoted)
		}
	}
	keyEq := make([]string, len(s.key))
	for i, c := range s.key {
		keyEq[i] = "qlsqlite_a." + c.quoted + " = " + sq + "." + c.quoted
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
			return kt + " <= " + s.paramTuple("qlsqlite_hi")
		}
		return lower + " AND " + upper
	}
	archRange := func(first bool) string {
		if first {
			return d.keyTuple() + " <= " + s.paramTuple("qlsqlite_hi")
		}
		return d.keyTuple() + " > " + s.paramTuple("qlsqlite_lo") + " AND " + d.keyTuple() + " <= " + s.paramTuple("qlsqlite_hi")
	}
	order := s.orderBy(false)

	var quoted []string
	for _, c := range s.key {
		quoted = append(quoted, "quote("+c.quoted+")")
	}

	build := func(first bool) (nth, last, pre, cp, del, left, fresh, key string) {
		nth, last = boundQueries(s, cond(first))
		pre = `SELECT count(*) FROM ` + d.quoted + ` WHERE ` + archRange(first)
		cp = `INSERT INTO ` + d.quoted + ` (` + colList + `) SELECT ` + colList + ` FROM ` + sq +
			` WHERE ` + rng(first) + ` ORDER BY ` + order + ` ON CONFLICT DO NOTHING`
		// The content comparison is skipped only when it cannot find a
		// difference: no other connection committed to the source since
		// before the copy (its data_version is unchanged), and every
		// archive row of the range is one this batch's copy inserted.
		del = `DELETE FROM ` + sq + ` WHERE ` + srcRange(first) +
			` AND CASE WHEN (SELECT data_version FROM pragma_data_version) = :qlsqlite_dv` +
			` AND (SELECT count(*) FROM ` + d.quoted + ` WHERE ` + archRange(first) + `) = :qlsqlite_copied` +
			` THEN ` + inArchive + ` ELSE ` + identical + ` END`
		left = `SELECT count(*) FROM ` + sq + ` WHERE ` + rng(first)
		if len(set) > 0 {
			fresh = `INSERT INTO ` + d.quoted + ` (` + colList + `) SELECT ` + colList + ` FROM ` + sq +
				` WHERE ` + rng(first) + ` AND ` + inArchive + ` ORDER BY ` + order +
				` ON CONFLICT (` + s.keyList() + `) DO UPDATE SET ` + strings.Join(set, ", ")
		}
		key = `SELECT ` + strings.Join(quoted, " || ', ' || ") + ` FROM ` + sq + ` WHERE ` + rng(first) + ` ORDER BY ` + order + ` LIMIT 1`
		return
	}

	// Statements that write into the archive cannot even be prepared with
	// foreign keys on, as the archive has no parent tables. Toggling the
	// PRAGMA expires prepared statements; SQLite prepares them again, under
	// the setting in force, when they next run.
	if _, err := a.conn.ExecContext(ctx, fkPragma(false)); err != nil {
		return fmt.Errorf("lifecycle: archive: switching foreign keys off: %w", err)
	}
	prep := func(dst **sql.Stmt, query string) error {
		if query == "" {
			return nil
		}
		st, err := a.conn.PrepareContext(ctx, query)
		if err != nil {
			return fmt.Errorf("lifecycle: archive: preparing %q: %w (check Where)", query, err)
		}
		a.stmts = append(a.stmts, st)
		*dst = st
		return nil
	}
	if err := prep(&a.dataVersion, `SELECT data_version FROM pragma_data_version`); err != nil {
		return err
	}
	for i, first := range []bool{true, false} {
		nth, last, pre, cp, del, left, fresh, key := build(first)
		b := &a.batches[i]
		targets := [...]**sql.Stmt{&b.nth, &b.last, &b.pre, &b.copy, &b.del, &b.left, &b.fresh, &b.key}
		for i, q := range []string{nth, last, pre, cp, del, left, fresh, key} {
			if err := prep(targets[i], q); err != nil {
				return err
			}
		}
	}
	return nil
}

// run archives batch after batch until no matching row is left.
func (a *archiver) run(ctx context.Context) error {
	var lo []any // last key of the previous batch; nil before the first
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lifecycle: archive: stopped after %d batches (%d rows moved; run it again to finish): %w", a.rep.Batches, a.rep.Moved, err)
		}
		hi, final, err := a.batch(ctx, lo)
		if err != nil && ctx.Err() != nil {
			// SQLite reports an interrupted statement, not why it was.
			return fmt.Errorf("lifecycle: archive: stopped in batch %d (%d rows moved; nothing is lost, run it again to finish): %w (%w)", a.rep.Batches+1, a.rep.Moved, ctx.Err(), err)
		}
		if err != nil {
			return fmt.Errorf("lifecycle: archive: batch %d (%d rows moved so far; nothing is lost, run it again to finish): %w", a.rep.Batches+1, a.rep.Moved, err)
		}
		if hi == nil {
			return nil
		}
		a.rep.Batches++
		if a.p.Progress != nil {
			a.p.Progress(*a.rep)
		}
		if final {
			return nil
		}
		lo = hi
	}
}

// batch moves the matching rows with keys in (lo, hi], where hi is the
// BatchSize-th matching key after lo, or the last one if there are fewer
// (final is then true). It returns hi, nil when no matching row is left.
func (a *archiver) batch(ctx context.Context, lo []any) (hi []any, final bool, err error) {
	st := &a.batches[1]
	if lo == nil {
		st = &a.batches[0]
	}
	whereArgs := a.p.Args
	bounds := namedKey("qlsqlite_lo", lo)

	// 1. The batch's upper key bound.
	hi, final, err = upperBound(ctx, st.nth, st.last,
		append(append([]any{}, whereArgs...), bounds...), a.p.BatchSize, len(a.src.key))
	if hi == nil || err != nil {
		return nil, false, err
	}
	rangeBounds := append(append([]any{}, bounds...), namedKey("qlsqlite_hi", hi)...)
	rangeArgs := append(append([]any{}, whereArgs...), rangeBounds...)
	batchNo := a.rep.Batches + 1

	// Did the archive hold rows in this key range before this batch? If not,
	// every archive row of the range is this run's own copy.
	var pre int64
	if err := st.pre.QueryRowContext(ctx, rangeBounds...).Scan(&pre); err != nil {
		return nil, false, fmt.Errorf("looking for earlier copies in the archive: %w", err)
	}

	// The source's data_version before the copy: if it is unchanged when
	// the delete runs, no other connection changed the source meanwhile.
	var dv int64
	if err := a.dataVersion.QueryRowContext(ctx).Scan(&dv); err != nil {
		return nil, false, fmt.Errorf("reading the source's data_version: %w", err)
	}

	// 2. Copy, with foreign keys off (the archive has no parent tables).
	copied, err := a.copyRange(ctx, st.copy, rangeArgs)
	if err != nil {
		return nil, false, err
	}
	a.rep.Copied += copied
	a.callHook("copied", batchNo)

	// 3. Delete the rows whose identical copy is in the archive.
	fast := int64(-1) // never equal to a count: forces the comparison
	if pre == 0 {
		fast = copied
	}
	moved, err := a.deleteRange(ctx, st.del, rangeBounds, dv, fast)
	if err != nil {
		return nil, false, err
	}
	a.rep.Moved += moved
	a.callHook("deleted", batchNo)

	var left int64
	if err := st.left.QueryRowContext(ctx, rangeArgs...).Scan(&left); err != nil {
		return nil, false, fmt.Errorf("counting rows left in the source: %w", err)
	}
	if left == 0 {
		return hi, final, nil
	}

	// Some rows of the range are still in the source: inserted into the
	// range after the copy, updated after the copy, or in conflict with an
	// older archive row. Copy again; refresh this run's own stale copies.
	copied, err = a.copyRange(ctx, st.copy, rangeArgs)
	if err != nil {
		return nil, false, err
	}
	a.rep.Copied += copied
	if fresh := st.fresh; pre == 0 && fresh != nil {
		if _, err := a.copyRange(ctx, fresh, rangeArgs); err != nil {
			return nil, false, err
		}
	}
	moved, err = a.deleteRange(ctx, st.del, rangeBounds, dv, -1)
	if err != nil {
		return nil, false, err
	}
	a.rep.Moved += moved
	if err := st.left.QueryRowContext(ctx, rangeArgs...).Scan(&left); err != nil {
		return nil, false, fmt.Errorf("counting rows left in the source: %w", err)
	}
	if left > 0 {
		a.rep.Conflicts += left
		if a.firstConflict == "" {
			if err := st.key.QueryRowContext(ctx, rangeArgs...).Scan(&a.firstConflict); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, false, fmt.Errorf("reading a conflicting key: %w", err)
			}
		}
	}
	return hi, final, nil
}

// copyRange runs an INSERT into the archive with foreign keys off.
func (a *archiver) copyRange(ctx context.Context, st *sql.Stmt, args []any) (int64, error) {
	if a.toggleFK {
		if _, err := a.conn.ExecContext(ctx, fkPragma(false)); err != nil {
			return 0, fmt.Errorf("switching foreign keys off for the copy: %w", err)
		}
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("copying rows into the archive: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("copying rows into the archive: %w", err)
	}
	return n, nil
}

// deleteRange runs the DELETE from the source with foreign keys as they
// were. dv is the source's data_version before the copy and copied the
// number of rows the copy inserted, or -1 to compare every row's content.
func (a *archiver) deleteRange(ctx context.Context, st *sql.Stmt, args []any, dv, copied int64) (int64, error) {
	args = append(args[:len(args):len(args)], sql.Named("qlsqlite_dv", dv), sql.Named("qlsqlite_copied", copied))
	if a.toggleFK {
		if _, err := a.conn.ExecContext(ctx, fkPragma(true)); err != nil {
			return 0, fmt.Errorf("switching foreign keys back on for the delete: %w", err)
		}
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("deleting archived rows from the source: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deleting archived rows from the source: %w", err)
	}
	return n, nil
}

func (a *archiver) callHook(phase string, batch int) {
	if a.p.hook != nil {
		a.p.hook(phase, batch)
	}
}

// boundQueries returns the two queries that find a batch's upper key bound
// among the rows of t that satisfy cond: the n-th key (OFFSET :qlsqlite_skip)
// and, when fewer rows are left, the last one. Neither sorts: both walk the
// primary key, forwards or backwards.
func boundQueries(t *table, cond string) (nth, last string) {
	nth = `SELECT ` + t.plainKey() + ` FROM ` + t.quoted + ` WHERE ` + cond +
		` ORDER BY ` + t.orderBy(false) + ` LIMIT 1 OFFSET :qlsqlite_skip`
	last = `SELECT ` + t.plainKey() + ` FROM ` + t.quoted + ` WHERE ` + cond +
		` ORDER BY ` + t.orderBy(true) + ` LIMIT 1`
	return nth, last
}

// upperBound runs the queries of boundQueries: it returns the n-th key, or
// the last key with final set when fewer than n rows are left, or nil when
// none is.
func upperBound(ctx context.Context, nth, last *sql.Stmt, args []any, n, keyLen int) (hi []any, final bool, err error) {
	hi = make([]any, keyLen)
	ptrs := make([]any, keyLen)
	for i := range hi {
		ptrs[i] = &hi[i]
	}
	err = nth.QueryRowContext(ctx, append(args[:len(args):len(args)], sql.Named("qlsqlite_skip", n-1))...).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		final = true
		err = last.QueryRowContext(ctx, args...).Scan(ptrs...)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("finding the batch's keys: %w", err)
	}
	return hi, final, nil
}

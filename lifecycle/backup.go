package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// DefaultStepPages is the number of pages [BackupWith] copies per step when
// the options leave it at zero (4 MiB with 4 KiB pages).
const DefaultStepPages = 1024

// BackupOptions tunes [BackupWith].
type BackupOptions struct {
	// StepPages is the number of pages copied per step of SQLite's online
	// backup (default [DefaultStepPages]). Between steps the context is
	// checked and Progress is called. Steps do not change what is copied:
	// the whole backup reads one snapshot.
	StepPages int

	// Progress, if not nil, is called after each step.
	Progress func(BackupProgress)

	// Encryption, if not nil, encrypts the backup with this VFS and key
	// instead of the database's own (see "Encryption" in [BackupWith]).
	Encryption *Encryption

	// Plaintext writes an unencrypted backup of an encrypted database.
	// Without it (or Encryption), the backup of an encrypted database is
	// encrypted like the database, or refused when its key is unknown.
	Plaintext bool
}

// BackupProgress tells how far a backup is.
type BackupProgress struct {
	PageCount int // pages in the snapshot being copied
	Remaining int // pages still to copy
}

// Backup writes a consistent copy of the main database of db to destPath,
// while other connections keep reading and writing. It is [BackupWith] with
// default options; see there.
func Backup(ctx context.Context, db *sql.DB, destPath string) error {
	return BackupWith(ctx, db, destPath, BackupOptions{})
}

// BackupWith writes a consistent copy of the main database of db to
// destPath, while other connections keep reading and writing.
//
// It uses SQLite's online backup API on one connection of db, stepping
// o.StepPages pages at a time. A stepped backup restarts from the first
// page whenever another connection writes to the source between two steps,
// and under a steady stream of writes may never finish. BackupWith avoids
// that by holding one read transaction on the source for the whole backup:
// every step then reads the same snapshot, writers carry on (in WAL mode
// readers do not block them), and the copy is the database as it was when
// the backup started. In WAL mode the WAL grows meanwhile, since a
// checkpoint cannot go past the backup's snapshot.
//
// The copy gets one table more than the source, [MarkerTable], whose row
// names the source database: [RecoverFromBackup] restores only backups of
// the database it recovers, and [Restore] drops the table again.
//
// The copy is written to a temporary file in destPath's directory, switched
// to rollback-journal mode (so that the backup is one self-contained file,
// with no -wal beside it), checked with PRAGMA quick_check, flushed to disk,
// and only then renamed to destPath, atomically replacing any file there;
// the directory is flushed too. A failed or cancelled backup leaves destPath
// as it was and removes its temporary file.
//
// BackupWith refuses a destPath that is the source itself, or beside which
// a -wal or -journal file exists (a database at destPath may be in use, or
// was not closed cleanly: replacing it could pair its journal with the
// backup).
//
// A context without a deadline is given one [LongDeadline] ahead.
//
// # Encryption
//
// SQLite's backup API writes pages the way the destination's VFS writes
// them, so a backup opened like a plain file would be an unencrypted copy of
// an encrypted database. BackupWith opens the backup through the source's
// encrypting VFS with the source's key: it finds them with the driver's
// EncryptionParams method (the qlsqlite driver has one) or, for the raw
// github.com/ncruces/go-sqlite3 driver, in the URI parameters of the
// database's DSN (vfs=adiantum&hexkey=…). A key set with a PRAGMA cannot be
// read back: then BackupWith refuses (wrapping [ErrPlaintextCopy]) until
// o.Encryption gives the backup's key or o.Plaintext asks for an unencrypted
// backup. The backup's -journal, written while it is finished, is encrypted
// by the VFS too. Read the backup back with [VerifyWith] and [RestoreWith].
func BackupWith(ctx context.Context, db *sql.DB, destPath string, o BackupOptions) (err error) {
	if destPath == "" {
		return errors.New("lifecycle: backup: the destination path is empty")
	}
	if o.StepPages < 0 {
		return fmt.Errorf("lifecycle: backup: StepPages %d is negative", o.StepPages)
	}
	if o.StepPages == 0 {
		o.StepPages = DefaultStepPages
	}
	ctx, cancel := longContext(ctx)
	defer cancel()

	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lifecycle: backup: getting a connection: %w", err)
	}
	defer conn.Close()
	file, err := mainFile(ctx, conn)
	if err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	} else if file != "" && sameFile(file, destPath) {
		return fmt.Errorf("lifecycle: backup: %s is the source database itself: back up to another file", destPath)
	}
	if err := checkReplaceable(destPath); err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	}

	tmp, err := tempBeside(destPath)
	if err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	}
	defer func() {
		if err != nil {
			removeDatabase(tmp)
		}
	}()

	var p atrest.Params
	err = withRaw(conn, func(c *sqlite3.Conn) (err error) {
		if p, _, err = copyParams(c, db, o.Encryption, o.Plaintext, "BackupOptions"); err != nil {
			return err
		}
		return onlineBackup(ctx, c, tmp, p, o)
	})
	if err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	}
	if file != "" {
		file = canonicalPath(file)
	}
	if err := markBackup(ctx, tmp, file, p); err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	}
	if err := finishCopy(ctx, tmp, false, p); err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	}
	if err := renameDurably(tmp, destPath); err != nil {
		return fmt.Errorf("lifecycle: backup: %w", err)
	}
	return nil
}

// onlineBackup copies the main database of c into the file dst, opened
// through p, stepping, within one read transaction of c.
func onlineBackup(ctx context.Context, c *sqlite3.Conn, dst string, p atrest.Params, o BackupOptions) (err error) {
	if !c.GetAutocommit() {
		return errors.New("the connection is inside a transaction")
	}
	old := c.SetInterrupt(ctx)
	defer c.SetInterrupt(old)

	// Pin one snapshot of the source for the whole backup.
	if err := c.Exec(`BEGIN DEFERRED; SELECT count(*) FROM main.sqlite_schema;`); err != nil {
		return fmt.Errorf("starting a read transaction: %w", err)
	}
	defer func() {
		// Not interruptible: a cancelled ctx must not leave the pooled
		// connection inside the read transaction.
		c.SetInterrupt(context.Background())
		if rerr := c.Exec(`ROLLBACK`); rerr != nil && err == nil {
			err = fmt.Errorf("ending the read transaction: %w", rerr)
		}
	}()

	b, err := c.BackupInit("main", p.URI(dst))
	if err != nil {
		return fmt.Errorf("starting the backup into %s: %w", dst, atrest.Redact(err, p.Secrets()...))
	}
	defer b.Close()
	for {
		done, err := b.Step(o.StepPages)
		if err != nil {
			return fmt.Errorf("copying pages: %w", err)
		}
		if o.Progress != nil {
			o.Progress(BackupProgress{PageCount: b.PageCount(), Remaining: b.Remaining()})
		}
		if done {
			break
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped with %d of %d pages left: %w", b.Remaining(), b.PageCount(), err)
		}
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("finishing the backup: %w", err)
	}
	return nil
}

// finishCopy puts a freshly written database copy in its final shape: in
// WAL mode when wal is true, in rollback-journal mode otherwise; then checks
// it with quick_check and flushes it to disk. It opens path through p.
func finishCopy(ctx context.Context, path string, wal bool, p atrest.Params) error {
	c, err := openFile(path, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI, p)
	if err != nil {
		return fmt.Errorf("opening the copy %s: %w", path, err)
	}
	c.SetInterrupt(ctx)
	mode := "DELETE"
	if wal {
		mode = "WAL"
	}
	err = c.Exec(`PRAGMA journal_mode = ` + mode)
	if err == nil {
		var problems []string
		problems, err = runCheck(c, "quick_check")
		if err == nil && len(problems) > 0 {
			err = &CorruptError{Path: path, Check: "quick_check", Problems: problems}
		}
	}
	if cerr := c.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checking the copy %s: %w", path, err)
	}
	return syncFile(path)
}

// checkReplaceable refuses a destination with a journal or WAL beside it.
func checkReplaceable(path string) error {
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("the directory of %s does not exist: create it first", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory: give a file name", path)
	}
	// A -wal file exists while a WAL database is open (it may be empty
	// after a TRUNCATE checkpoint); a -journal file with content is a
	// transaction in progress or a hot journal.
	if _, err := os.Stat(path + "-wal"); err == nil {
		return fmt.Errorf("%s-wal exists: a database at %s is in use or was not closed cleanly; close it (or choose another path) first", path, path)
	}
	if fi, err := os.Stat(path + "-journal"); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s-journal exists: a database at %s is in use or was not closed cleanly; close it (or choose another path) first", path, path)
	}
	return nil
}

// tempBeside creates an empty temporary file in the directory of path,
// where it can later be renamed to path atomically.
func tempBeside(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// removeDatabase removes a database file and the files SQLite keeps beside it.
func removeDatabase(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// syncFile flushes a file's contents to stable storage.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// renameDurably renames from to to and flushes the directory, so that the
// rename survives a crash.
func renameDurably(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(to))
	if err != nil {
		return err
	}
	defer d.Close()
	// Not every platform can sync a directory (Windows cannot); the rename
	// itself has happened either way.
	_ = d.Sync()
	return nil
}

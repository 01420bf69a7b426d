package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// ErrInUse is wrapped by the error of [Restore] when another connection
// holds the destination database open.
var ErrInUse = errors.New("lifecycle: database is in use")

// Restore replaces the database file destPath with a copy of the backup at
// backupPath. It is an offline operation: stop the programs that use
// destPath first.
//
// Restore:
//
//  1. verifies the backup ([Verify]) and refuses one that does not pass;
//  2. if destPath exists and SQLite can read it, checks that no other
//     connection has it open, by taking SQLite's exclusive lock on it
//     without waiting; it refuses with an error wrapping [ErrInUse] if that
//     fails. In WAL mode (the platform's) every open connection that has
//     read holds a shared lock, so this detects them; a rollback-journal
//     database that is open but idle holds no lock and cannot be detected.
//     If destPath is too damaged for SQLite to read its header, this check
//     is not possible: make sure nothing uses it;
//  3. copies the backup into a temporary file beside destPath with SQLite's
//     backup API, drops the [MarkerTable] that [Backup] added, sets it to
//     WAL mode if destPath was in WAL mode (otherwise it keeps the backup's
//     journal mode), checks it with quick_check and flushes it to disk, and
//     gives it destPath's permission bits and owner (the backup's permission
//     bits when destPath does not exist);
//  4. keeps the database being replaced if asked (see
//     [RestoreOptions].KeepReplaced), removes destPath's leftover -wal,
//     -shm and -journal files (they belong to the database being replaced,
//     and a stale WAL must never be applied to the restored file), then
//     renames the copy to destPath atomically and flushes the directory.
//
// Until the rename, destPath is untouched; if Restore is interrupted after
// step 4 began, run it again. Everything written to destPath after the
// backup was taken is lost: that is what restoring means.
//
// A context without a deadline is given one [LongDeadline] ahead.
//
// An encrypted backup needs its key: see [RestoreWith].
func Restore(ctx context.Context, backupPath, destPath string) error {
	return RestoreWith(ctx, backupPath, destPath, RestoreOptions{})
}

// RestoreOptions tunes [RestoreWith].
type RestoreOptions struct {
	// Encryption is the VFS and key the backup was written with; nil for
	// an unencrypted backup. The restored database is written with the same
	// VFS and key (to change the key afterwards, use [Rekey]). A wrong or
	// missing key gives an error wrapping [ErrWrongKey], and destPath is
	// left alone.
	Encryption *Encryption

	// KeepReplaced, if not empty, is where the database being replaced is
	// kept instead of being deleted: a file name in destPath's directory
	// that does not exist yet. Its -wal and -journal files are kept beside
	// it under the same name. They are hard links made before destPath is
	// replaced (or, where the file system has none, the files renamed), so
	// keeping costs no copy. Nothing is kept when destPath does not exist.
	// The command-line tool's restore keeps it by default.
	KeepReplaced string
}

// RestoreWith is [Restore] of a backup that may be encrypted. Whether
// destPath is in use is checked through the same key: if destPath cannot be
// read with it (it is damaged, or encrypted with another key), that check
// is not possible, as for a damaged file in [Restore].
func RestoreWith(ctx context.Context, backupPath, destPath string, o RestoreOptions) error {
	p, err := o.Encryption.params()
	if err != nil {
		return err
	}
	ctx, cancel := longContext(ctx)
	defer cancel()
	return restoreKeeping(ctx, backupPath, destPath, false, p, o.KeepReplaced)
}

// restore is [Restore] without the long deadline; verified says the caller
// has just verified backupPath; p opens the backup, destPath and the copy.
func restore(ctx context.Context, backupPath, destPath string, verified bool, p atrest.Params) error {
	return restoreKeeping(ctx, backupPath, destPath, verified, p, "")
}

// restoreKeeping is restore, keeping the replaced database as keep if
// keep is not empty (see [RestoreOptions]).
func restoreKeeping(ctx context.Context, backupPath, destPath string, verified bool, p atrest.Params, keep string) (err error) {
	if backupPath == "" || destPath == "" {
		return errors.New("lifecycle: restore: the backup path and the destination path are both required")
	}
	if sameFile(backupPath, destPath) {
		return fmt.Errorf("lifecycle: restore: %s is the backup itself", destPath)
	}
	if fi, err := os.Stat(filepath.Dir(destPath)); err != nil || !fi.IsDir() {
		return fmt.Errorf("lifecycle: restore: the directory of %s does not exist: create it first", destPath)
	}
	if !verified {
		if err := verifyFile(ctx, backupPath, "integrity_check", p); err != nil {
			return fmt.Errorf("lifecycle: restore: the backup does not verify, refusing it: %w", err)
		}
	}

	wal, err := checkNotInUse(ctx, destPath, p)
	if err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}

	tmp, err := tempBeside(destPath)
	if err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}
	defer func() {
		if err != nil {
			removeDatabase(tmp)
		}
	}()
	if err := copyDatabase(ctx, backupPath, tmp, p); err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}
	if err := unmarkBackup(ctx, tmp, p); err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}
	if err := finishCopy(ctx, tmp, wal, p); err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}
	if err := adoptFileMode(tmp, destPath, backupPath); err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}
	if keep != "" {
		if err := keepReplaced(destPath, keep); err != nil {
			return fmt.Errorf("lifecycle: restore: %w; nothing was replaced", err)
		}
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(destPath + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("lifecycle: restore: removing the old %s%s: %w", destPath, suffix, err)
		}
	}
	if err := renameDurably(tmp, destPath); err != nil {
		return fmt.Errorf("lifecycle: restore: %w", err)
	}
	return nil
}

// checkNotInUse returns whether the database at path (if any) is in WAL
// mode, after making sure no other connection has it open (see Restore).
// It reads path through p.
func checkNotInUse(ctx context.Context, path string, p atrest.Params) (wal bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err := checkHeader(path, p); err != nil {
		// Not a database, or damaged in its header: SQLite cannot lock it
		// meaningfully. Restore documents this case.
		return false, nil
	}
	c, err := openFile(path, sqlite3.OPEN_READWRITE, p)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", path, err)
	}
	defer c.Close()
	c.SetInterrupt(ctx)
	// No busy timeout: a lock held by anyone else is an immediate answer.
	if err := c.BusyTimeout(0); err != nil {
		return false, err
	}
	var mode string
	err = c.Exec(`PRAGMA locking_mode = EXCLUSIVE`)
	if err == nil {
		mode, err = pragmaText(c, `PRAGMA journal_mode`)
	}
	if err == nil {
		// In exclusive locking mode the first write transaction takes the
		// database file's EXCLUSIVE lock and keeps it until the connection
		// closes; it cannot while another connection holds a SHARED lock.
		err = c.Exec(`BEGIN EXCLUSIVE; COMMIT;`)
	}
	switch {
	case errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED):
		return false, fmt.Errorf("%s: %w: another connection has it open; stop the programs using it, then restore: %w", path, ErrInUse, err)
	case isCorruption(err), atrest.IsKeyError(err, p):
		return false, nil // unreadable with p: see RestoreWith
	case err != nil:
		return false, fmt.Errorf("locking %s: %w", path, err)
	}
	return strings.EqualFold(mode, "wal"), nil
}

// pragmaText runs a PRAGMA that returns one text value.
func pragmaText(c *sqlite3.Conn, query string) (string, error) {
	stmt, _, err := c.Prepare(query)
	if err != nil {
		return "", err
	}
	defer stmt.Close()
	var v string
	if stmt.Step() {
		v = stmt.ColumnText(0)
	}
	return v, stmt.Err()
}

// copyDatabase copies the database at src into the (empty) file dst with
// SQLite's backup API, so that a WAL beside src is taken into account. Both
// are opened through p.
func copyDatabase(ctx context.Context, src, dst string, p atrest.Params) error {
	c, err := openFile(dst, sqlite3.OPEN_READWRITE|sqlite3.OPEN_CREATE|sqlite3.OPEN_URI, p)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dst, err)
	}
	c.SetInterrupt(ctx)
	err = atrest.Redact(c.Restore("main", p.URI(src)), p.Secrets()...)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if atrest.IsKeyError(err, p) {
		return keyError(src, p, err)
	}
	if err != nil {
		return fmt.Errorf("copying %s into %s: %w", src, dst, err)
	}
	return nil
}

// RecoveryReport says what [RecoverFromBackup] found and did.
type RecoveryReport struct {
	// DestProblem is why the destination needed recovery (the error of
	// [Verify], or of a missing file); nil if it verified and was left alone.
	DestProblem error

	// Restored is the backup that was restored, "" if none was.
	Restored string

	// Rejected lists the newer backups of destPath that were passed over
	// because they do not verify, with why.
	Rejected []RejectedBackup

	// Skipped lists the candidates that are no backup of destPath, with
	// why (see [RecoverFromBackup]); they were neither verified nor
	// restored.
	Skipped []RejectedBackup
}

// RejectedBackup is a backup that [RecoverFromBackup] did not use.
type RejectedBackup struct {
	Path string // the backup file
	Err  error  // why it was passed over: the error of [Verify], or why it is no backup of the database
}

// RecoverFromBackup checks the database file destPath and, if it is
// corrupt, not a database, or missing, restores it from the newest backup
// among candidates that verifies.
//
// Each candidate is a backup file or a directory; a directory stands for
// the regular files in it (not recursively), leaving out temporary files of
// [Backup] and SQLite's -wal, -shm and -journal files.
//
// Only a backup of destPath qualifies: a file that [Backup] wrote from the
// database at destPath, as its [MarkerTable] says (the path compared
// absolute, with symbolic links resolved), and, when destPath's header can
// still be read, with the same application_id. Any other file (an archive
// database beside it, another program's database, a backup of another
// database, a backup taken before Backup wrote markers, one of migrate's
// pre-migration backups) is skipped and listed in the report's Skipped with
// why; restore such a file with [Restore] if it is the right one.
//
// The backups of destPath are tried newest first, by modification time
// ([Backup] sets it when it renames the finished copy into place); each is
// checked with [Verify], and the first that passes is restored with
// [Restore], whose rules apply (destPath must not be in use).
//
// If destPath verifies, nothing is changed and the report's DestProblem is
// nil. If destPath cannot be checked for another reason (permissions, a
// lock), that error is returned and nothing is changed. If no backup of
// destPath verifies, the error says why each candidate was skipped or
// rejected and destPath is left as it was.
//
// Encrypted databases and backups need their key: see
// [RecoverFromBackupWith].
func RecoverFromBackup(ctx context.Context, destPath string, candidates []string) (RecoveryReport, error) {
	return RecoverFromBackupWith(ctx, destPath, candidates, RecoverOptions{})
}

// RecoverOptions tunes [RecoverFromBackupWith].
type RecoverOptions struct {
	// Encryption is the VFS and key that destPath and the backups were
	// written with; nil when they are unencrypted. A backup that cannot be
	// read with it is rejected (its error wraps [ErrWrongKey]); the restored
	// database is written with it.
	Encryption *Encryption
}

// RecoverFromBackupWith is [RecoverFromBackup] for a database and backups
// that may be encrypted.
//
// Encryption at rest has no checksum: SQLite cannot tell a file encrypted
// with another key from a damaged one. So that a sound database is not
// replaced by an older backup only because the key is missing,
// RecoverFromBackupWith changes nothing (and returns an error wrapping
// [ErrWrongKey]) when destPath cannot be read without a key and looks
// encrypted (no run of zero bytes, which every SQLite file has), or when a
// key is given but destPath is an unencrypted database that verifies. A
// destPath that cannot be read with the key given is otherwise taken for
// damaged and replaced: give the key destPath was written with.
func RecoverFromBackupWith(ctx context.Context, destPath string, candidates []string, o RecoverOptions) (RecoveryReport, error) {
	var rep RecoveryReport
	enc, err := o.Encryption.params()
	if err != nil {
		return rep, err
	}
	ctx, cancel := longContext(ctx)
	defer cancel()
	err = verifyFile(ctx, destPath, "integrity_check", enc)
	switch {
	case err == nil:
		return rep, nil
	case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNotDatabase), errors.Is(err, fs.ErrNotExist):
		if nerr := notDamaged(ctx, destPath, enc, err); nerr != nil {
			return rep, nerr
		}
		rep.DestProblem = err
	default:
		return rep, fmt.Errorf("lifecycle: recover: cannot tell whether %s is sound: %w", destPath, err)
	}

	backups, err := listBackups(candidates, destPath)
	if err != nil {
		return rep, fmt.Errorf("lifecycle: recover: %w", err)
	}
	if len(backups) == 0 {
		return rep, fmt.Errorf("lifecycle: recover: %s needs recovery (%w) but no backup was found among %q", destPath, rep.DestProblem, candidates)
	}
	dest := canonicalPath(destPath)
	for _, b := range backups {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("lifecycle: recover: %w", err)
		}
		if err := whoseBackup(ctx, b, dest, enc); err != nil {
			if verr := verifyFile(ctx, b, "integrity_check", enc); verr != nil {
				rep.Rejected = append(rep.Rejected, RejectedBackup{Path: b, Err: verr})
			} else {
				rep.Skipped = append(rep.Skipped, RejectedBackup{Path: b, Err: err})
			}
			continue
		}
		if err := verifyFile(ctx, b, "integrity_check", enc); err != nil {
			rep.Rejected = append(rep.Rejected, RejectedBackup{Path: b, Err: err})
			continue
		}
		if err := restore(ctx, b, destPath, true, enc); err != nil {
			return rep, fmt.Errorf("lifecycle: recover: %w", err)
		}
		rep.Restored = b
		return rep, nil
	}
	var reasons []string
	errs := []error{rep.DestProblem}
	for _, r := range rep.Skipped {
		reasons = append(reasons, "skipped "+r.Err.Error())
	}
	for _, r := range rep.Rejected {
		reasons = append(reasons, r.Err.Error())
		errs = append(errs, r.Err)
	}
	return rep, &multiError{
		msg: fmt.Sprintf("lifecycle: recover: %s needs recovery (%v) but none of the %d candidates is a backup of it that verifies: %s",
			destPath, rep.DestProblem, len(backups), strings.Join(reasons, "; ")),
		errs: errs,
	}
}

// listBackups expands candidates into backup files, newest first.
func listBackups(candidates []string, destPath string) ([]string, error) {
	type backup struct {
		path string
		fi   fs.FileInfo
	}
	var found []backup
	add := func(path string, fi fs.FileInfo) {
		name := fi.Name()
		if !fi.Mode().IsRegular() || strings.Contains(name, ".tmp-") ||
			strings.HasSuffix(name, "-wal") || strings.HasSuffix(name, "-shm") || strings.HasSuffix(name, "-journal") {
			return
		}
		if sameFile(path, destPath) {
			return
		}
		found = append(found, backup{path, fi})
	}
	for _, c := range candidates {
		fi, err := os.Stat(c)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			add(c, fi)
			continue
		}
		entries, err := os.ReadDir(c)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			add(filepath.Join(c, e.Name()), fi)
		}
	}
	slices.SortStableFunc(found, func(a, b backup) int {
		if c := b.fi.ModTime().Compare(a.fi.ModTime()); c != 0 {
			return c
		}
		return strings.Compare(b.path, a.path)
	})
	paths := make([]string, len(found))
	for i, b := range found {
		paths[i] = b.path
	}
	return paths, nil
}

package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// RekeyOptions says how [Rekey] re-encrypts a database file.
type RekeyOptions struct {
	// From is the VFS and key the database is encrypted with now; nil when
	// it is unencrypted (Rekey then encrypts it).
	From *Encryption

	// To is the VFS and key to encrypt it with. It may name another VFS
	// than From. nil decrypts the database, and needs Plaintext.
	To *Encryption

	// Plaintext, with To nil, writes the database unencrypted. Without it a
	// nil To is refused (wrapping [ErrPlaintextCopy]).
	Plaintext bool

	// hook, set only by this package's tests, is called at the named
	// points of a run; it lets a test kill the process at an exact point.
	hook func(phase string)
}

// Rekey changes the key, or the encrypting VFS, of the database file at
// path; it also encrypts an unencrypted database (From nil) or decrypts one
// (To nil, with Plaintext). Like [Restore], it is an offline operation: stop
// the programs that use path first; Rekey refuses with an error wrapping
// [ErrInUse] when it sees one.
//
// Rekey never leaves path unreadable: at every moment path holds the whole
// database, encrypted with From or with To. It
//
//  1. opens path with From and switches a WAL database to rollback-journal
//     mode, which moves every commit of the -wal file into path and removes
//     the -wal (a -wal encrypted with From must not outlive the file it
//     belongs to); this needs every other connection gone;
//  2. takes SQLite's exclusive lock on path, which it keeps to the end, so
//     that nothing reads or writes it meanwhile;
//  3. copies the database with SQLite's backup API into a temporary file
//     beside path, opened with To; verifies the copy with integrity_check,
//     read with To; sets it back to WAL mode if path was in WAL mode and
//     flushes it to disk;
//  4. renames the copy to path, atomically, and flushes the directory.
//
// An interruption before step 4 leaves path encrypted with From (in
// rollback-journal mode if it was in WAL mode; the first connection of the
// qlsqlite driver switches it back) and a temporary file beside it, which
// can be removed; after step 4, path is encrypted with To. Running Rekey
// again with the same options finishes the job either way: when path cannot
// be read with From but verifies with To, Rekey returns nil.
//
// Rekey does not touch the backups and archives of the database: they keep
// the key they were written with.
//
// A context without a deadline is given one [LongDeadline] ahead.
func Rekey(ctx context.Context, path string, o RekeyOptions) (err error) {
	from, to, err := o.params()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("lifecycle: rekey: %w", err)
	}
	ctx, cancel := longContext(ctx)
	defer cancel()
	defer func() {
		// SQLite reports an interrupted statement, not why it was.
		if cerr := ctx.Err(); err != nil && cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", err, cerr)
		}
	}()

	c, wal, err := lockForRekey(ctx, path, from)
	if atrest.IsKeyError(err, from) {
		// An interrupted Rekey may have got past its rename.
		if verifyFile(ctx, path, "integrity_check", to) == nil {
			return nil
		}
		return fmt.Errorf("lifecycle: rekey: %w", keyError(path, from, err))
	}
	if err != nil {
		return fmt.Errorf("lifecycle: rekey: %w", err)
	}
	defer func() {
		c.SetInterrupt(context.Background())
		if cerr := c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("lifecycle: rekey: closing %s: %w", path, cerr)
		}
	}()
	o.callHook("locked")

	tmp, err := tempBeside(path)
	if err != nil {
		return fmt.Errorf("lifecycle: rekey: %w", err)
	}
	defer func() {
		if err != nil {
			removeDatabase(tmp)
		}
	}()
	if err := onlineBackup(ctx, c, tmp, to, BackupOptions{StepPages: DefaultStepPages}); err != nil {
		return fmt.Errorf("lifecycle: rekey: copying %s: %w", path, err)
	}
	o.callHook("copied")
	// Verified before finishCopy puts it in WAL mode: a read-only check of a
	// WAL database would leave a -wal and a -shm beside it.
	if err := verifyFile(ctx, tmp, "integrity_check", to); err != nil {
		return fmt.Errorf("lifecycle: rekey: the new copy does not verify, %s is left as it was: %w", path, err)
	}
	if err := finishCopy(ctx, tmp, wal, to); err != nil {
		return fmt.Errorf("lifecycle: rekey: %w", err)
	}
	o.callHook("verified")
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lifecycle: rekey: stopped before replacing %s, which is left as it was: %w", path, err)
	}
	// The old file is in rollback-journal mode and its lock is held: no
	// -wal is left, and its -shm (if any) is a stale index no one uses.
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lifecycle: rekey: removing the old %s-shm: %w", path, err)
	}
	if err := renameDurably(tmp, path); err != nil {
		return fmt.Errorf("lifecycle: rekey: %w", err)
	}
	o.callHook("renamed")
	return nil
}

// params checks the options and returns them as URI parameters.
func (o *RekeyOptions) params() (from, to atrest.Params, err error) {
	if from, err = o.From.params(); err != nil {
		return from, to, fmt.Errorf("lifecycle: rekey: From: %w", err)
	}
	if to, err = o.To.params(); err != nil {
		return from, to, fmt.Errorf("lifecycle: rekey: To: %w", err)
	}
	switch {
	case o.To != nil && o.Plaintext:
		return from, to, errors.New("lifecycle: rekey: RekeyOptions has both To and Plaintext set: choose one")
	case o.To == nil && !o.Plaintext:
		return from, to, &multiError{msg: "lifecycle: rekey: RekeyOptions.To is nil, and a database is never decrypted unasked: give the new key in To, or set Plaintext to decrypt it", errs: []error{ErrPlaintextCopy}}
	case from == to:
		return from, to, errors.New("lifecycle: rekey: From and To are the same: there is nothing to change")
	}
	return from, to, nil
}

func (o *RekeyOptions) callHook(phase string) {
	if o.hook != nil {
		o.hook(phase)
	}
}

// lockForRekey opens path through p, takes and keeps its exclusive lock,
// and moves a WAL database into rollback-journal mode (step 1 and 2 of
// Rekey). It returns whether the database was in WAL mode.
func lockForRekey(ctx context.Context, path string, p atrest.Params) (*sqlite3.Conn, bool, error) {
	if err := checkHeader(path, p); err != nil {
		if errors.Is(err, ErrWrongKey) {
			return nil, false, sqlite3.NOTADB
		}
		return nil, false, err
	}
	c, err := openFile(path, sqlite3.OPEN_READWRITE, p)
	if err != nil {
		return nil, false, err
	}
	wal, err := takeExclusive(ctx, c, path)
	if err != nil {
		c.SetInterrupt(context.Background())
		if cerr := c.Close(); cerr != nil {
			err = fmt.Errorf("%w (and closing %s: %w)", err, path, cerr)
		}
		return nil, false, err
	}
	return c, wal, nil
}

// takeExclusive moves c's database into rollback-journal mode if it is in
// WAL mode, then takes and keeps its exclusive lock. The mode is switched
// before the connection enters exclusive locking mode: in that mode SQLite
// keeps a rollback journal (zeroed) beside the file, and deletes it by name
// when the connection closes, which must not happen once another file has
// taken path. Taking the lock writes nothing, so no journal is created.
func takeExclusive(ctx context.Context, c *sqlite3.Conn, path string) (wal bool, err error) {
	c.SetInterrupt(ctx)
	// No busy timeout: a lock held by anyone else is an immediate answer.
	if err := c.BusyTimeout(0); err != nil {
		return false, err
	}
	inUse := func(err error) error {
		return fmt.Errorf("%s: %w: another connection has it open; stop the programs using it, then rekey: %w", path, ErrInUse, err)
	}
	mode, err := pragmaText(c, `PRAGMA journal_mode`)
	if err != nil {
		return false, err
	}
	if wal = strings.EqualFold(mode, "wal"); wal {
		// Leaving WAL mode checkpoints every commit of the -wal into the
		// file and removes the -wal; it needs every other connection gone.
		mode, err = pragmaText(c, `PRAGMA journal_mode = DELETE`)
		switch {
		case errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED):
			return false, inUse(err)
		case err != nil:
			return false, fmt.Errorf("moving the -wal of %s into it: %w", path, err)
		case !strings.EqualFold(mode, "delete"):
			return false, inUse(fmt.Errorf("it stayed in %s mode", mode))
		}
	}
	// See checkNotInUse: the first write transaction takes the file's
	// EXCLUSIVE lock, and in exclusive locking mode keeps it.
	err = c.Exec(`PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;`)
	if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
		return false, inUse(err)
	}
	return wal, err
}

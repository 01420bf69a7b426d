package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// ErrPlaintextBackup: the database is encrypted at rest but its key is not
// known to the Migrator (it was set with a PRAGMA, not in the DSN), so the
// backup taken before a run would be unencrypted; nothing was changed. See
// [WithBackupEncryption] and [WithPlaintextBackup].
var ErrPlaintextBackup = errors.New("migrate: refusing to write an unencrypted backup of an encrypted database")

// WithBackupEncryption encrypts the backups taken before each run with
// this VFS and key instead of the database's own. params are the parameters
// of a DSN ("vfs=adiantum&hexkey=…", also "textkey=" or "key=") or a whole
// DSN ("file:app.db?vfs=…"), decoded as SQLite decodes a URI; [New] fails on
// malformed ones, without quoting the key.
//
// Without this option, a backup of a database opened through an encrypting
// VFS (github.com/ncruces/go-sqlite3/vfs/adiantum or xts) is encrypted with
// the database's VFS and key, which the Migrator finds with the driver's
// EncryptionParams method (the qlsqlite driver has one) or in the URI
// parameters of the database's DSN (the raw github.com/ncruces/go-sqlite3
// driver). A key set only with a PRAGMA cannot be found: a run then fails
// with [ErrPlaintextBackup] until this option or [WithPlaintextBackup] is
// given.
func WithBackupEncryption(params string) Option {
	return func(o *options) { o.backupEncryption = &params }
}

// WithPlaintextBackup lets the Migrator write an unencrypted backup of an
// encrypted database. It is the explicit choice [ErrPlaintextBackup] asks
// for; the key of a database is never needed to migrate it.
func WithPlaintextBackup() Option { return func(o *options) { o.plaintextBackup = true } }

// checkEncryption parses [WithBackupEncryption]'s parameters.
func (o *options) checkEncryption() error {
	if o.backupEncryption == nil {
		return nil
	}
	if o.plaintextBackup {
		return errors.New("migrate: both WithBackupEncryption and WithPlaintextBackup are given (on the command line: --backup-key-env/--backup-key-file and --plaintext-backup): choose one")
	}
	p, err := atrest.Parse(*o.backupEncryption)
	if err == nil && p.IsZero() {
		err = errors.New("no encrypting VFS in it")
	}
	if err != nil {
		return fmt.Errorf("migrate: WithBackupEncryption: %w", err)
	}
	o.backupParams = p
	return nil
}

// backupParams decides how the backup of the session's database is opened:
// with the key of [WithBackupEncryption], unencrypted with
// [WithPlaintextBackup] or for an unencrypted database, and otherwise like
// the database.
func (s *session) backupParams(ctx context.Context) (p atrest.Params, err error) {
	o := &s.m.opts
	if !o.backupParams.IsZero() {
		return o.backupParams, nil
	}
	var src atrest.Source
	err = s.raw(ctx, func(c *sqlite3.Conn) (err error) {
		src, err = atrest.Inspect(c, s.m.db.Driver())
		return err
	})
	switch {
	case err != nil:
		return p, fmt.Errorf("migrate: reading the database's encryption parameters: %w", err)
	case o.plaintextBackup || !src.Encrypted:
		return p, nil
	case src.KeyKnown():
		return src.Params, nil
	}
	return p, fmt.Errorf("%w (VFS %q): its key is not in its DSN (a key set with PRAGMA cannot be read back); nothing was changed: give the backup's key with WithBackupEncryption (--backup-key-env or --backup-key-file on the command line), allow an unencrypted backup with WithPlaintextBackup (--plaintext-backup), or take none with WithoutBackup (--no-backup)",
		ErrPlaintextBackup, src.VFS)
}

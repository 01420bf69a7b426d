package lifecycle

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// Encryption says how a database file is encrypted at rest: through which
// encrypting VFS, with which key. It names the same things as the URI
// parameters of such a file's DSN ("file:app.db?vfs=adiantum&hexkey=…"); the
// VFS's package must be imported by the program
// (github.com/ncruces/go-sqlite3/vfs/adiantum or .../xts).
//
// Exactly one of Key, HexKey and TextKey is set. The key is a secret:
// String, GoString and LogValue never show it, and no error of this package
// contains it.
type Encryption struct {
	// VFS is the encrypting VFS: "adiantum" (32-byte keys) or "xts" (32, 48
	// or 64-byte keys), or another one the program registered.
	VFS string

	// Key is the key's bytes (the "key" URI parameter).
	Key string

	// HexKey is the key's bytes in hex (the "hexkey" URI parameter).
	HexKey string

	// TextKey is a passphrase the VFS derives the key from (the "textkey"
	// URI parameter). Deriving is slow on purpose (adiantum's Argon2id takes
	// 64 MiB and tens of milliseconds), and it happens each time a file is
	// opened.
	TextKey string
}

// ErrWrongKey is wrapped by the errors of [Verify], [Restore],
// [RecoverFromBackup], [Rekey], [Archive] and the other functions that read
// a database file, when SQLite cannot read it with the key given: the file
// was written encrypted and no key or another key was given, or it was
// written unencrypted and a key was given. Encryption at rest has no
// checksum, so SQLite cannot tell a wrong key from a file whose first page is
// damaged: such errors wrap [ErrNotDatabase] too.
var ErrWrongKey = errors.New("lifecycle: wrong or missing key")

// ErrPlaintextCopy is wrapped by the error of [Backup], [Archive] and
// [Rekey] when they would write an unencrypted copy of an encrypted database
// without being told to: the database is encrypted but its key is not known
// to them (it was set with a PRAGMA, not in the DSN). Give the copy's key
// (an Encryption option), or ask for an unencrypted copy (a Plaintext
// option).
var ErrPlaintextCopy = errors.New("lifecycle: refusing to write an unencrypted copy of an encrypted database")

// ParseEncryption reads an Encryption from s: the parameters of a DSN
// ("vfs=adiantum&hexkey=…", as the command-line tool reads them from an
// environment variable or a file) or a whole DSN ("file:app.db?vfs=…&…"),
// whose other parameters are ignored; a key set with "_pragma=hexkey('…')"
// counts. It returns nil for a DSN without an encrypting VFS. Values are
// decoded as SQLite decodes a URI (%HH escapes; "+" is a plus sign). Its
// errors never contain the key.
func ParseEncryption(s string) (*Encryption, error) {
	p, err := atrest.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: encryption parameters: %w", err)
	}
	return encryptionOf(p), nil
}

// encryptionOf returns the Encryption of p (nil for the zero Params).
func encryptionOf(p atrest.Params) *Encryption {
	if p.IsZero() {
		return nil
	}
	e := &Encryption{VFS: p.VFS}
	switch p.KeyParam {
	case atrest.ParamKey:
		e.Key = p.Key
	case atrest.ParamHexKey:
		e.HexKey = p.Key
	case atrest.ParamTextKey:
		e.TextKey = p.Key
	}
	return e
}

// params returns e as URI parameters, checked; the zero Params for nil.
func (e *Encryption) params() (atrest.Params, error) {
	if e == nil {
		return atrest.Params{}, nil
	}
	p := atrest.Params{VFS: e.VFS}
	for _, k := range []struct{ name, value string }{
		{atrest.ParamKey, e.Key}, {atrest.ParamHexKey, e.HexKey}, {atrest.ParamTextKey, e.TextKey},
	} {
		if k.value == "" {
			continue
		}
		if p.KeyParam != "" {
			return atrest.Params{}, fmt.Errorf("lifecycle: Encryption has both %s and %s: set one key", p.KeyParam, k.name)
		}
		p.KeyParam, p.Key = k.name, k.value
	}
	if p.KeyParam == "" && p.VFS == "" {
		return atrest.Params{}, errors.New("lifecycle: Encryption is empty: set VFS and a key, or leave the option nil")
	}
	if err := p.Check(); err != nil {
		return atrest.Params{}, fmt.Errorf("lifecycle: Encryption: %w", err)
	}
	return p, nil
}

// String names the VFS and which key is set, never the key.
func (e Encryption) String() string {
	p := atrest.Params{VFS: e.VFS}
	switch {
	case e.Key != "":
		p.KeyParam = atrest.ParamKey
	case e.HexKey != "":
		p.KeyParam = atrest.ParamHexKey
	case e.TextKey != "":
		p.KeyParam = atrest.ParamTextKey
	}
	if p.KeyParam == "" {
		return "vfs=" + e.VFS + " without a key"
	}
	return p.String()
}

// GoString is String, so that %#v does not print the key either.
func (e Encryption) GoString() string { return "lifecycle.Encryption{" + e.String() + "}" }

// LogValue is String, so that [log/slog] does not print the key.
func (e Encryption) LogValue() slog.Value { return slog.StringValue(e.String()) }

// copyParams decides how a copy of the main database of c (opened by db's
// driver) is encrypted: with explicit if given, unencrypted if plaintext,
// otherwise like the database. It refuses (wrapping [ErrPlaintextCopy]) an
// encrypted database whose key it cannot find. opt names the options in
// the messages ("BackupOptions"). It also returns the name of the VFS of
// c's main database.
func copyParams(c *sqlite3.Conn, db *sql.DB, explicit *Encryption, plaintext bool, opt string) (atrest.Params, string, error) {
	src, err := atrest.Inspect(c, db.Driver())
	if err != nil {
		return atrest.Params{}, src.VFS, fmt.Errorf("reading the database's encryption parameters: %w", err)
	}
	if explicit != nil && plaintext {
		return atrest.Params{}, src.VFS, fmt.Errorf("lifecycle: %s has both Encryption and Plaintext set: choose one", opt)
	}
	switch {
	case explicit != nil:
		p, err := explicit.params()
		return p, src.VFS, err
	case plaintext || !src.Encrypted:
		return atrest.Params{}, src.VFS, nil
	case src.KeyKnown():
		return src.Params, src.VFS, nil
	}
	return atrest.Params{}, src.VFS, &multiError{
		msg: fmt.Sprintf("the database is encrypted (VFS %q) but its key is not in its DSN (a key set with PRAGMA cannot be read back), and a copy is never written unencrypted unasked: give the copy's key in %s.Encryption, or set %s.Plaintext to write it unencrypted",
			src.VFS, opt, opt),
		errs: []error{ErrPlaintextCopy},
	}
}

// copyTarget is a database file that a copy is written into, and how.
type copyTarget struct {
	path   string        // the file, as the caller named it: for messages
	uri    string        // what SQLite opens: path, or a URI with the key
	params atrest.Params // how it is encrypted
}

// archiveTarget returns how [Archive] attaches p.DestPath on conn: through
// the encrypting VFS and key of the source (or those p asks for). ATTACH
// opens a file through the main database's VFS unless told otherwise, so an
// unencrypted archive of an encrypted source names the default VFS.
func archiveTarget(conn *sql.Conn, db *sql.DB, p *ArchivePolicy) (t copyTarget, err error) {
	t.path = p.DestPath
	var connVFS string
	err = withRaw(conn, func(c *sqlite3.Conn) (err error) {
		t.params, connVFS, err = copyParams(c, db, p.Encryption, p.Plaintext, "ArchivePolicy")
		return err
	})
	if err != nil {
		return t, fmt.Errorf("lifecycle: archive: %w", err)
	}
	t.uri = t.params.URI(p.DestPath)
	if t.params.IsZero() && connVFS != "" && connVFS != atrest.PlainVFS {
		t.uri = atrest.PlainURI(p.DestPath)
	}
	if t.uri != p.DestPath && strings.HasPrefix(p.DestPath, "file:") {
		return t, fmt.Errorf("lifecycle: archive: DestPath %q is a URI: give the archive's file name, and its key in ArchivePolicy.Encryption", p.DestPath)
	}
	return t, nil
}

// openFile opens the database file at path through p. For the zero Params
// it opens path exactly as before encryption was known (no URI parsing
// unless flags ask for it).
func openFile(path string, flags sqlite3.OpenFlag, p atrest.Params) (*sqlite3.Conn, error) {
	if !p.IsZero() {
		flags |= sqlite3.OPEN_URI
	}
	c, err := sqlite3.OpenFlags(p.URI(path), flags)
	return c, atrest.Redact(err, p.Secrets()...)
}

// keyError says that the file at path cannot be read with p. It wraps
// [ErrWrongKey], [ErrNotDatabase] (SQLite cannot tell the two apart) and
// SQLite's error.
func keyError(path string, p atrest.Params, err error) error {
	err = atrest.Redact(err, p.Secrets()...)
	return &multiError{
		msg:  fmt.Sprintf("lifecycle: cannot read %s: wrong or missing key (%s): %v", path, atrest.Hint(p), err),
		errs: []error{ErrWrongKey, ErrNotDatabase, err},
	}
}

// notDamaged returns an error when destPath, which [RecoverFromBackup]
// could not read with p (verr), is probably sound but encrypted otherwise:
// it looks encrypted and no key was given, or it is an unencrypted database
// that verifies while a key was given. Such a file must not be replaced by
// an older backup. It returns nil when destPath may be damaged.
func notDamaged(ctx context.Context, destPath string, p atrest.Params, verr error) error {
	if !errors.Is(verr, ErrWrongKey) {
		return nil
	}
	if p.IsZero() {
		if !looksEncrypted(destPath) {
			return nil
		}
		return &multiError{
			msg:  fmt.Sprintf("lifecycle: recover: %s cannot be read without a key and looks encrypted (no SQLite header, and nothing in it looks like a SQLite page): give its key in RecoverOptions.Encryption (qlsqlite restore -key-env); nothing was changed. If it is damaged beyond that, replace it with Restore", destPath),
			errs: []error{ErrWrongKey, verr},
		}
	}
	if atrest.NotPlainHeader(destPath) || verifyFile(ctx, destPath, "quick_check", atrest.Params{}) != nil {
		return nil
	}
	return &multiError{
		msg:  fmt.Sprintf("lifecycle: recover: %s is an unencrypted database that verifies, and a key was given for it: nothing was changed (recover it without RecoverOptions.Encryption)", destPath),
		errs: []error{ErrWrongKey, verr},
	}
}

// looksEncrypted reports whether the file at path, which does not start
// with SQLite's header, has no run of 32 zero bytes in its first 256 KiB.
// Ciphertext has none (the odds are about 2^-238), while the pages of an
// unencrypted database, even one whose header was overwritten, are full of
// zeros: unused space, reserved header fields, small integers.
func looksEncrypted(path string) bool {
	if !atrest.NotPlainHeader(path) {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	n, _ := io.ReadFull(f, buf)
	if n < 512 {
		return false // too short for a database page: not a database
	}
	return !bytes.Contains(buf[:n], make([]byte, 32))
}

// multiError is an error with a message of its own that wraps several
// errors: a message can say "wrong or missing key" once, or list why each
// backup was rejected, and errors.Is still finds every cause.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }

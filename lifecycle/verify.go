package lifecycle

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// ErrNotDatabase is wrapped by the errors of [Verify] (and the functions
// that use it) when a file is not a SQLite database at all: it is empty,
// too short, or its header does not start with "SQLite format 3".
var ErrNotDatabase = errors.New("lifecycle: not a SQLite database")

// ErrCorrupt is wrapped by the errors of [Verify] and [Check] when SQLite
// finds a database damaged; the error is a [*CorruptError] that lists what
// SQLite reported.
var ErrCorrupt = errors.New("lifecycle: database is corrupt")

// CorruptError says how a database is damaged. It wraps [ErrCorrupt] and,
// when SQLite failed with an error rather than a report, that error too
// (so errors.Is(err, sqlite3.CORRUPT) may hold as well).
type CorruptError struct {
	Path     string   // the database file ("" for a live database checked through a pool)
	Check    string   // the check that found it: "header", "quick_check" or "integrity_check"
	Problems []string // what the check reported, at most [MaxProblems] lines
	Err      error    // the SQLite error that stopped the check, if any
}

// MaxProblems bounds the number of problem lines a [CorruptError] keeps.
const MaxProblems = 20

// Error implements error.
func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString("lifecycle: ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString("database is corrupt")
	if e.Check != "" {
		b.WriteString(" (" + e.Check + ")")
	}
	if len(e.Problems) > 0 {
		fmt.Fprintf(&b, ": %d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	b.WriteString("; restore it from a backup that verifies (RecoverFromBackup, or qlsqlite restore)")
	return b.String()
}

// Unwrap returns [ErrCorrupt] and the SQLite error, if any.
func (e *CorruptError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCorrupt, e.Err}
	}
	return []error{ErrCorrupt}
}

// Verify checks the database file at path thoroughly: its header, then
// SQLite's PRAGMA integrity_check, which reads every page and checks every
// b-tree, index entry and constraint (but not foreign keys). It returns nil
// for a sound database, an error wrapping [ErrNotDatabase] for a file that
// is not a database, an error wrapping [ErrCorrupt] (a [*CorruptError]) for
// a damaged one, and another error when the file cannot be read at all.
//
// The file is opened read-only. A database in WAL mode is checked together
// with its -wal file, as SQLite reads it; SQLite may create the -shm file.
// Verify reads the whole file: on a large database it takes a while (a
// context without a deadline gets one [LongDeadline] ahead).
//
// An encrypted file needs its key: see [VerifyWith]. Without one, Verify
// returns an error wrapping [ErrWrongKey] and [ErrNotDatabase] for a file
// that does not start like an unencrypted database.
func Verify(ctx context.Context, path string) error {
	return VerifyWith(ctx, path, VerifyOptions{})
}

// QuickVerify is [Verify] with PRAGMA quick_check, which skips the checks
// that indexes match their tables and is several times faster.
func QuickVerify(ctx context.Context, path string) error {
	return VerifyWith(ctx, path, VerifyOptions{Quick: true})
}

// VerifyOptions tunes [VerifyWith].
type VerifyOptions struct {
	// Quick runs PRAGMA quick_check instead of integrity_check (see
	// [QuickVerify]).
	Quick bool

	// Encryption is the VFS and key the file was written with; nil for an
	// unencrypted file. A wrong or missing key gives an error wrapping
	// [ErrWrongKey].
	Encryption *Encryption
}

// VerifyWith is [Verify] (or [QuickVerify]) of a file that may be
// encrypted: it reads the file through o.Encryption.
func VerifyWith(ctx context.Context, path string, o VerifyOptions) error {
	p, err := o.Encryption.params()
	if err != nil {
		return err
	}
	check := "integrity_check"
	if o.Quick {
		check = "quick_check"
	}
	return verifyFile(ctx, path, check, p)
}

func verifyFile(ctx context.Context, path, check string, p atrest.Params) error {
	ctx, cancel := longContext(ctx)
	defer cancel()
	if err := checkHeader(path, p); err != nil {
		return err
	}
	c, err := openFile(path, sqlite3.OPEN_READONLY, p)
	if err != nil {
		if atrest.IsKeyError(err, p) {
			return keyError(path, p, err)
		}
		if isCorruption(err) {
			return &CorruptError{Path: path, Check: check, Err: err}
		}
		return fmt.Errorf("lifecycle: opening %s: %w", path, err)
	}
	defer func() { c.Close() }()
	c.SetInterrupt(ctx)
	problems, err := runCheck(c, check)
	if errors.Is(err, sqlite3.READONLY) && walWithoutShm(path) {
		// See openImmutable: this user cannot create the -shm file.
		c.Close()
		if c, err = openImmutable(path, p); err != nil {
			return fmt.Errorf("lifecycle: opening %s: %w", path, err)
		}
		c.SetInterrupt(ctx)
		problems, err = runCheck(c, check)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("lifecycle: checking %s: %w (%w)", path, ctx.Err(), err)
		}
		if atrest.IsKeyError(err, p) {
			return keyError(path, p, err)
		}
		if isCorruption(err) {
			return &CorruptError{Path: path, Check: check, Problems: problems, Err: err}
		}
		return fmt.Errorf("lifecycle: checking %s: %w", path, err)
	}
	if len(problems) > 0 {
		return &CorruptError{Path: path, Check: check, Problems: problems}
	}
	return nil
}

// runCheck runs PRAGMA check (integrity_check or quick_check) and returns
// the problems it reports (none for "ok").
func runCheck(c *sqlite3.Conn, check string) ([]string, error) {
	stmt, _, err := c.Prepare(fmt.Sprintf("PRAGMA %s(%d)", check, MaxProblems))
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	var problems []string
	for stmt.Step() {
		problems = appendProblems(problems, stmt.ColumnText(0))
	}
	return problems, stmt.Err()
}

// appendProblems adds the problems of one row of an integrity check to
// problems: each line of it except "ok" and the "*** in database main ***"
// headings.
func appendProblems(problems []string, row string) []string {
	for line := range strings.Lines(row) {
		line = strings.TrimSpace(line)
		if line == "" || line == "ok" || strings.HasPrefix(line, "*** in database ") {
			continue
		}
		problems = append(problems, line)
	}
	return problems
}

// sqliteMagic starts the header of every SQLite database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// checkHeader reads the 100-byte database header of path and rejects files
// that are not SQLite databases, before SQLite is asked to open them. The
// header of a file read through an encrypting VFS (p not zero) is
// ciphertext: only its length is checked.
func checkHeader(path string, p atrest.Params) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("lifecycle: %w", err)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	n, err := io.ReadFull(f, hdr)
	switch {
	case n == 0:
		return fmt.Errorf("lifecycle: %s: %w: the file is empty", path, ErrNotDatabase)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("lifecycle: %s: %w: the file is %d bytes, shorter than a database header", path, ErrNotDatabase, n)
	case err != nil:
		return fmt.Errorf("lifecycle: reading %s: %w", path, err)
	}
	if !p.IsZero() {
		return nil
	}
	if !bytes.Equal(hdr[:16], sqliteMagic) {
		return &multiError{
			msg:  fmt.Sprintf("lifecycle: %s: not a SQLite database, or wrong or missing key: its header starts with %q instead of \"SQLite format 3\\x00\" (if it was written encrypted, with vfs=adiantum or vfs=xts, give its key; otherwise it was overwritten or is another kind of file)", path, hdr[:16]),
			errs: []error{ErrNotDatabase, ErrWrongKey},
		}
	}
	pageSize := int(hdr[16])<<8 | int(hdr[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return &CorruptError{Path: path, Check: "header", Problems: []string{fmt.Sprintf("page size %d in the header is not a power of two from 512 to 65536", pageSize)}}
	}
	return nil
}

// Check runs PRAGMA quick_check (or integrity_check when full is true) on
// the main database of a live db, through one of its connections, and
// returns nil when it is sound or a [*CorruptError] (wrapping [ErrCorrupt])
// that lists the problems. Use it for health checks of a running program;
// use [Verify] for files.
func Check(ctx context.Context, db *sql.DB, full bool) error {
	ctx, cancel := longContext(ctx)
	defer cancel()
	check := "quick_check"
	if full {
		check = "integrity_check"
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA main.%s(%d)", check, MaxProblems))
	if err != nil {
		if isCorruption(err) {
			return &CorruptError{Check: check, Err: err}
		}
		return fmt.Errorf("lifecycle: %s: %w", check, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("lifecycle: %s: %w", check, err)
		}
		problems = appendProblems(problems, line)
	}
	if err := rows.Err(); err != nil {
		if isCorruption(err) {
			return &CorruptError{Check: check, Problems: problems, Err: err}
		}
		return fmt.Errorf("lifecycle: %s: %w", check, err)
	}
	if len(problems) > 0 {
		return &CorruptError{Check: check, Problems: problems}
	}
	return nil
}

package lifecycle

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// This file holds the marker [Backup] writes into every backup, which tells
// [RecoverFromBackup] whose backup a file is: beside app.db there may be
// other databases (an archive, another program's file) that verify just as
// well, and restoring one of them over app.db would replace its tables.

// MarkerTable is the table [Backup] adds to every backup it writes, with one
// row saying what was backed up: the source database's file (an absolute
// path, symbolic links resolved), its application_id and user_version, and
// when. [RecoverFromBackup] only restores a backup whose marker names the
// database it recovers; [Restore] removes the table from the database it
// restores.
const MarkerTable = "qlsqlite_backup"

// backupMarker is the row of [MarkerTable].
type backupMarker struct {
	source        string // canonicalPath of the source database, "" for an in-memory one
	applicationID int64
	userVersion   int64
	takenAt       time.Time
}

// errNoMarker is returned by readMarker for a database without a marker.
var errNoMarker = errors.New("no backup marker")

// markBackup writes the marker of a backup of source into the database
// file path (the finished copy, before it is renamed into place). The
// application_id and user_version are read from the copy itself, whose
// header the backup copied from the source.
func markBackup(ctx context.Context, path, source string, p atrest.Params) error {
	c, err := openFile(path, sqlite3.OPEN_READWRITE, p)
	if err != nil {
		return fmt.Errorf("opening the copy %s: %w", path, err)
	}
	c.SetInterrupt(ctx)
	err = writeMarker(c, source)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the backup marker into %s: %w", path, err)
	}
	return nil
}

func writeMarker(c *sqlite3.Conn, source string) error {
	err := c.Exec(`BEGIN IMMEDIATE;
		DROP TABLE IF EXISTS main.` + MarkerTable + `;
		CREATE TABLE main.` + MarkerTable + ` (source TEXT NOT NULL, application_id INTEGER NOT NULL, user_version INTEGER NOT NULL, taken_at TEXT NOT NULL)`)
	if err != nil {
		c.Exec(`ROLLBACK`)
		return err
	}
	stmt, _, err := c.Prepare(`INSERT INTO main.` + MarkerTable + ` SELECT ?, (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version), ?`)
	if err == nil {
		err = stmt.BindText(1, source)
	}
	if err == nil {
		err = stmt.BindText(2, time.Now().UTC().Format(time.RFC3339Nano))
	}
	if err == nil {
		err = stmt.Exec()
	}
	if stmt != nil {
		stmt.Close()
	}
	if err != nil {
		c.Exec(`ROLLBACK`)
		return err
	}
	return c.Exec(`COMMIT`)
}

// unmarkBackup removes the marker from a restored copy at path: the
// restored database is the application's again, not a backup.
func unmarkBackup(ctx context.Context, path string, p atrest.Params) error {
	c, err := openFile(path, sqlite3.OPEN_READWRITE, p)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	c.SetInterrupt(ctx)
	err = c.Exec(`DROP TABLE IF EXISTS main.` + MarkerTable)
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("removing the backup marker from %s: %w", path, err)
	}
	return nil
}

// readMarker reads the marker of the backup at path, or returns an error
// wrapping errNoMarker when it has none.
func readMarker(ctx context.Context, path string, p atrest.Params) (backupMarker, error) {
	var m backupMarker
	c, err := openFile(path, sqlite3.OPEN_READONLY, p)
	if err != nil {
		return m, err
	}
	defer c.Close()
	c.SetInterrupt(ctx)
	stmt, _, err := c.Prepare(`SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = '` + MarkerTable + `'`)
	if err != nil {
		return m, err
	}
	found := stmt.Step() && stmt.ColumnInt(0) == 1
	if err := stmt.Close(); err != nil {
		return m, err
	}
	if !found {
		return m, errNoMarker
	}
	stmt, _, err = c.Prepare(`SELECT source, application_id, user_version, taken_at FROM main.` + MarkerTable)
	if err != nil {
		return m, err
	}
	defer stmt.Close()
	if !stmt.Step() {
		if err := stmt.Err(); err != nil {
			return m, err
		}
		return m, fmt.Errorf("%w (the %s table is empty)", errNoMarker, MarkerTable)
	}
	m.source = stmt.ColumnText(0)
	m.applicationID = stmt.ColumnInt64(1)
	m.userVersion = stmt.ColumnInt64(2)
	m.takenAt, _ = time.Parse(time.RFC3339Nano, stmt.ColumnText(3))
	return m, stmt.Err()
}

// canonicalPath returns path made absolute, with symbolic links resolved
// as far as the file or, when it is missing, its directory exists.
func canonicalPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		return p
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// headerApplicationID returns the application_id in the header of the
// database file at path, and whether the header could be read (the file
// exists and starts with SQLite's magic string).
func headerApplicationID(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	hdr := make([]byte, 100)
	if _, err := io.ReadFull(f, hdr); err != nil || !bytes.Equal(hdr[:16], sqliteMagic) {
		return 0, false
	}
	return int64(int32(binary.BigEndian.Uint32(hdr[68:72]))), true
}

// whoseBackup returns nil if the backup at path is a backup of the database
// dest (canonical, see canonicalPath), or an error saying why not: it has
// no marker (it was not written by [Backup]: an archive, another database,
// a backup from before markers), or its marker names another database, or
// another application_id than the one in dest's header (when that header
// can still be read).
func whoseBackup(ctx context.Context, path, dest string, p atrest.Params) error {
	m, err := readMarker(ctx, path, p)
	switch {
	case errors.Is(err, errNoMarker):
		return fmt.Errorf("%s: %w: it was not written by lifecycle.Backup (an archive, another database, or a backup older than markers); if it is a backup of %s, restore it with Restore", path, err, dest)
	case err != nil:
		return err
	case m.source == "":
		return fmt.Errorf("%s is a backup of an in-memory database, not of %s", path, dest)
	case m.source != dest:
		return fmt.Errorf("%s is a backup of %s, not of %s (if the database was moved there, restore it with Restore)", path, m.source, dest)
	}
	if id, ok := headerApplicationID(dest); ok && id != m.applicationID {
		return fmt.Errorf("%s is a backup of a database with application_id %d, but %s has application_id %d", path, m.applicationID, dest, id)
	}
	return nil
}

package lifecycle

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// A database in WAL mode is read through its -shm file. When no process
// has the database open there is none, and a user who cannot write the
// directory cannot create it: SQLite then fails with "attempt to write a
// readonly database" although the check only reads. Verify then reads the
// file as immutable: no -shm, no lock, on the assumption, true when no
// -wal or -shm exists and the directory is read-only, that nothing writes
// it meanwhile.

// walWithoutShm reports whether the database file at path is in WAL mode
// (as its header says; an encrypted header cannot be read) and has no
// -wal or -shm file beside it.
func walWithoutShm(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr[:16]) != string(sqliteMagic) || hdr[18] != 2 {
		return false
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// openImmutable opens the database file at path read-only and immutable,
// through p.
func openImmutable(path string, p atrest.Params) (*sqlite3.Conn, error) {
	uri := atrest.FileURI(path) + "?immutable=1"
	if !p.IsZero() {
		uri += "&" + p.Query()
	}
	c, err := sqlite3.OpenFlags(uri, sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	return c, atrest.Redact(err, p.Secrets()...)
}

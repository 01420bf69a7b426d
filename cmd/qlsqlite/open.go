package main

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/atrest"
	"github.com/schollz/progressbar/v3"
)

// openMode says how a command opens a database file.
type openMode string

const (
	// readOnly: the command only reads; SQLite opens the file read-only
	// (mode=ro), so a file or directory without write permission is no
	// obstacle, and nothing in it can change.
	readOnly openMode = "ro"
	// readWrite: the command writes; the file must exist.
	readWrite openMode = "rw"
	// create: the command writes, and creates the file if missing.
	create openMode = "rwc"
)

// openDB opens the database file at path through the qlsqlite driver for a
// command. Unless mode is create the file must exist, so that a mistyped
// path is an error rather than a new empty database. The commands set only
// a busy timeout and change nothing in the file unasked: its journal mode
// stays as they find it, and no statistics are gathered (_optimize=off).
// key, if not zero, opens it through an encrypting VFS.
func openDB(path string, mode openMode, key atrest.Params) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if mode != create {
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	query := withDSNQuery("mode="+string(mode)+"&_pragma=busy_timeout(10000)&_optimize=off", key)
	db, err := sql.Open(qlsqlite.DriverName, fileURI(abs, query))
	if err != nil || mode != readOnly || !walWithoutShm(abs) {
		return db, err
	}
	// A database in WAL mode needs its -shm file to be read. When no
	// process has it open, there is none, and in a directory this user
	// cannot write SQLite cannot create it: then the file is read as
	// immutable, which takes no lock and assumes that no other process
	// writes it meanwhile.
	var n int
	err = db.QueryRow(`SELECT count(*) FROM sqlite_schema`).Scan(&n)
	if !errors.Is(err, sqlite3.READONLY) {
		return db, nil // any other error is the command's to report
	}
	db.Close()
	fmt.Fprintf(os.Stderr, "qlsqlite: %s is in WAL mode and this user cannot create its -shm file beside it: reading it as immutable (no other process may write it meanwhile)\n", path)
	return sql.Open(qlsqlite.DriverName, fileURI(abs, query+"&immutable=1"))
}

// walWithoutShm reports whether the database file at path is in WAL mode
// (as its header says; an encrypted file's header cannot be read) and has
// no -wal or -shm file beside it.
func walWithoutShm(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(f, hdr); err != nil || string(hdr[:16]) != "SQLite format 3\x00" || hdr[18] != 2 {
		return false
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// fileURI returns the "file:" URI of path with query, escaping what SQLite
// would read as the URI's own syntax in the path.
func fileURI(path, query string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	uri := "file:" + r.Replace(filepath.ToSlash(path))
	if query != "" {
		uri += "?" + query
	}
	return uri
}

// newBar returns a progress bar on w for long work, invisible unless show.
func newBar(w io.Writer, show bool, max int64, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetVisibility(show),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionOnCompletion(func() {
			if show {
				fmt.Fprintln(w)
			}
		}),
	)
}

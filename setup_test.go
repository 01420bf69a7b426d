package qlsqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// TestGarbageFileIsNamedFirst: a file that is not a database is reported
// as that, first, not as a failure to switch to WAL; SQLite's error stays
// in the chain.
func TestGarbageFileIsNamedFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("garbage!"), 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open(DriverName, "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Ping()
	if err == nil || !strings.HasPrefix(err.Error(), "qlsqlite: file is not a database") || !errors.Is(err, sqlite3.NOTADB) {
		t.Errorf("Ping of a garbage file: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, bytes.Repeat([]byte("garbage!"), 1024)) {
		t.Error("the garbage file was changed")
	}
}

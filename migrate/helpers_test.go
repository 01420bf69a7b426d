package migrate

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver"
)

// openDB opens path with the driver under test (see testDriver).
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(path string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)"
	db, err := sql.Open(testDriver, dsn)
	if err == nil {
		err = db.Ping()
	}
	return db, err
}

// writeFiles writes name -> content under dir (creating subdirectories).
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// setup makes a database file and a migration directory in a temp dir.
func setup(t testing.TB, files map[string]string) (db *sql.DB, dbPath, dir string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "migrations")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, files)
	dbPath = filepath.Join(root, "app.db")
	return openDB(t, dbPath), dbPath, dir
}

func newMigrator(t testing.TB, db *sql.DB, dir string, opts ...Option) *Migrator {
	t.Helper()
	m, err := New(db, os.DirFS(dir), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func queryInt(t testing.TB, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// schema returns the database's schema, as text, to compare before and after.
func schema(t testing.TB, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SELECT type, name, COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		b.WriteString(typ + " " + name + ": " + text + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func tableExists(t testing.TB, db *sql.DB, name string) bool {
	return queryInt(t, db, "SELECT count(*) FROM sqlite_schema WHERE name = ?", name) == 1
}

func version(t testing.TB, m *Migrator) int64 {
	t.Helper()
	v, err := m.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func status(t testing.TB, m *Migrator) []MigrationStatus {
	t.Helper()
	st, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

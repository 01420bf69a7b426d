package qlsqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// dirState lists dir's files with their hashes.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// SQLite itself leaves a reader's -shm and an empty -wal beside a
		// WAL database: no content of the database's.
		if strings.HasSuffix(e.Name(), "-shm") || strings.HasSuffix(e.Name(), "-wal") && len(b) == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %d %x", e.Name(), len(b), sha256.Sum256(b)))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestServeChangesNothing: the pages of qlsqlite serve (its DSN, a
// stored history) leave the database's and the history's files as they
// were, whatever the journal mode the database was left in.
func TestServeChangesNothing(t *testing.T) {
	for _, mode := range []string{"wal", "delete"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.db")
			hist := filepath.Join(dir, "app-history.db")
			db, err := Open("file:"+path, WithHistory(hist))
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				`CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, note TEXT)`,
				`CREATE INDEX orders_note ON orders (note)`,
			} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 100 {
				if _, err := db.Exec(`INSERT INTO orders (status, note) VALUES (?, ?)`, "open", fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
				var n int
				db.QueryRow(`SELECT count(*) FROM orders WHERE status = ?`, "open").Scan(&n)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if mode == "delete" {
				raw, err := sql.Open("sqlite3", "file:"+path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := raw.Exec(`PRAGMA journal_mode=delete`); err != nil {
					t.Fatal(err)
				}
				raw.Close()
			}
			before := dirState(t, dir)
			viewer, err := sql.Open(DriverName, "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)&_optimize=off&_history=off&_integrity_every=0")
			if err != nil {
				t.Fatal(err)
			}
			h, err := Handler(viewer, WithStoredHistory(hist))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				_, body := fetch(t, h, "/")
				if !strings.Contains(body, "computing") {
					break
				}
				if i > 600 {
					t.Fatal("the advice was not computed")
				}
				time.Sleep(100 * time.Millisecond)
			}
			fp := FingerprintOf(`SELECT count(*) FROM orders WHERE status = ?`)
			for _, p := range []string{"/", "/queries", "/queries?window=14d", "/queries/" + fp.ID, "/space", "/connections", "/maintenance", "/alerts", "/metrics", "/healthz", "/readyz"} {
				if code, body := fetch(t, h, p); code != http.StatusOK {
					t.Errorf("%s: %d %s", p, code, body)
				}
			}
			for _, a := range []string{"checkpoint", "optimize", "apply"} {
				req := httptest.NewRequest(http.MethodPost, "/actions/"+a, strings.NewReader("index=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusForbidden {
					t.Errorf("POST %s in serve: %d", a, rec.Code)
				}
			}
			var jm string
			viewer.QueryRow(`PRAGMA journal_mode`).Scan(&jm)
			if err := viewer.Close(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			if after := dirState(t, dir); after != before {
				t.Errorf("serve changed the files (journal mode seen %s):\nbefore:\n%s\nafter:\n%s", jm, before, after)
			}
			_ = context.Background()
		})
	}
}

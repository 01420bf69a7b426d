package qlsqlite

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthOK(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (s TEXT); INSERT INTO t VALUES ('a'), ('b')`); err != nil {
		t.Fatal(err)
	}
	r, err := Health(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthOK || len(r.Problems) != 0 || r.Integrity != nil {
		t.Errorf("status %s, problems %v, integrity %+v", r.Status, r.Problems, r.Integrity)
	}
	if r.Storage.SizeBytes <= 0 || r.Storage.WALBytes <= 0 || r.Storage.InMemory || !strings.HasSuffix(r.Storage.Path, "stats.db") {
		t.Errorf("storage %+v", r.Storage)
	}
	if r.Pool.OpenConnections < 1 || r.Monitored || r.Breaker != "closed" || r.Took <= 0 {
		t.Errorf("pool %+v, monitored %v, breaker %q, took %v", r.Pool, r.Monitored, r.Breaker, r.Took)
	}
}

// TestHealthSaturatedPool: the storage figures are read on a connection of
// their own, so a pool whose every connection is taken does not stop them.
func TestHealthSaturatedPool(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Storage.SizeBytes <= 0 || r.Pool.InUse != 1 || r.Pool.Utilization != 1 {
		t.Errorf("with the pool saturated: storage %+v, pool %+v", r.Storage, r.Pool)
	}
	if r.Status != HealthDegraded || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "saturated") {
		t.Errorf("status %s, problems %v", r.Status, r.Problems)
	}
}

// corrupt makes a database file whose table and index pages are damaged,
// its header and schema intact, and returns its path.
func corrupt(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "corrupt.db")
	db, err := sql.Open(DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE sound (n); CREATE TABLE t (s TEXT); CREATE INDEX t_s ON t (s);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
		INSERT INTO t SELECT printf('%0100d', x) FROM c`); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints the WAL into the file
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	for i := range page {
		page[i] = 0xA5
	}
	// Page 2 is the root of sound; pages 3 to 5 hold t's and t_s's pages.
	for p := int64(2); p < 5; p++ {
		if _, err := f.WriteAt(page, p*4096); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return path
}

// TestHealthReadsNoTable: Health does not check integrity, so damaged
// table pages go unnoticed until a check runs; then Health fails.
func TestHealthReadsNoTable(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+corrupt(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	r, err := Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthOK || r.Integrity != nil {
		t.Fatalf("Health read the damaged pages: status %s, problems %v", r.Status, r.Problems)
	}
	if _, err := CheckIntegrity(ctx, db); err != nil {
		t.Fatal(err)
	}
	r, err = Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthFailing || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "integrity check") ||
		r.Integrity == nil || r.Integrity.OK() || r.IntegrityAge < 0 {
		t.Errorf("after the check: status %s, problems %v, integrity %+v", r.Status, r.Problems, r.Integrity)
	}
}

// TestHealthReadsOnlyTheHeader: Health on a database of 2,000 pages,
// from a new connection with nothing cached, reads nothing past the
// file's first page: it is cheap enough for a probe every few seconds
// whatever the database's size (a scan of the tables, such as a
// quick_check, would read every page).
func TestHealthReadsOnlyTheHeader(t *testing.T) {
	f, name := registerFaultVFS(t)
	path := filepath.Join(t.TempDir(), "big.db")
	dsn := "file:" + path + "?_history=off&vfs=" + name
	setup, err := sql.Open(DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`,
		`INSERT INTO t (v) SELECT randomblob(3000) FROM generate_series(1, 2000)`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := setup.Exec(q); err != nil {
			t.Fatal(q, ": ", err)
		}
	}
	setup.Close()

	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := f.reads.Load()
	r, err := Health(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthOK {
		t.Fatalf("Health: %s %v", r.Status, r.Problems)
	}
	if n := f.reads.Load() - before; n > 0 {
		t.Errorf("Health read %d times past the first page of a 2,000-page database", n)
	}
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		before := f.reads.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, probe, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d %s", probe, rec.Code, rec.Body)
		}
		if n := f.reads.Load() - before; n > 0 {
			t.Errorf("%s read %d times past the first page of a 2,000-page database", probe, n)
		}
	}
	var pages int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&pages); err != nil || f.reads.Load()-before < 100 {
		t.Errorf("the count read %d times past the first page (%v): the counter counts nothing", f.reads.Load()-before, err)
	}
}

func TestHealthDegradedByAlert(t *testing.T) {
	db, m, clock, _ := monitored(t, AlertThresholds{DatabaseSize: 1})
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	m.tick(clock.advance(10 * time.Second))
	r, err := Health(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthDegraded || !r.Monitored || len(r.Alerts) != 1 || r.Alerts[0].Name != AlertDatabaseSize ||
		len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "database_size") {
		t.Errorf("status %s, alerts %+v, problems %v", r.Status, r.Alerts, r.Problems)
	}
}

func TestHealthInMemory(t *testing.T) {
	db, err := sql.Open(DriverName, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection, one in-memory database
	if _, err := db.Exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	r, err := Health(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != HealthOK || !r.Storage.InMemory || r.Storage.Pages < 2 || r.Storage.WALBytes != 0 {
		t.Errorf("in memory: status %s %v, storage %+v", r.Status, r.Problems, r.Storage)
	}
	snap := mustStats(t, db)
	if !snap.Database.Storage.InMemory || snap.Database.Storage.SizeBytes <= 0 {
		t.Errorf("Stats in memory: %+v %s", snap.Database.Storage, snap.Database.StorageError)
	}
}

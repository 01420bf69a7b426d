package qlsqlite

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"

	"github.com/quantumleap/qlsqlite/internal/history"
)

// openHistory opens a database at dir/app.db with its history at
// dir/app-history.db, a fake clock and opts.
func openHistory(t *testing.T, dir string, clock *fakeClock, opts ...Option) *sql.DB {
	t.Helper()
	opts = append([]Option{WithClock(clock), WithHistory(filepath.Join(dir, "app-history.db"))}, opts...)
	db, err := Open("file:"+filepath.Join(dir, "app.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func writer(t testing.TB, db *sql.DB) *historyWriter {
	t.Helper()
	h := db.Driver().(*Driver).db.obs.history()
	if h == nil {
		t.Fatal("no history writer")
	}
	return h
}

// readHistory opens a history file to read it, as qlsqlite serve does.
func readHistory(t *testing.T, path string) *history.Store {
	t.Helper()
	s, err := history.Open(context.Background(), path, history.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func callsOf(qs []history.QueryTotal, text string) uint64 {
	for _, q := range qs {
		if q.Text == text {
			return q.Calls
		}
	}
	return 0
}

// TestHistoryDeltas: each minute holds what happened in it, taken from
// snapshots: the live statistics keep counting from the start.
func TestHistoryDeltas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newFakeClock()
	db := openHistory(t, dir, clock)
	h := writer(t, db)
	if _, err := db.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT n FROM t WHERE n = ?`
	run := func(n int) {
		for i := range n {
			var x int
			if err := db.QueryRow(q, i).Scan(&x); err != nil && err != sql.ErrNoRows {
				t.Fatal(err)
			}
		}
	}
	run(7)
	t1 := clock.advance(time.Minute)
	if err := h.flushNow(ctx, t1); err != nil {
		t.Fatal(err)
	}
	run(5)
	t2 := clock.advance(time.Minute)
	if err := h.flushNow(ctx, t2); err != nil {
		t.Fatal(err)
	}

	store := readHistory(t, filepath.Join(dir, "app-history.db"))
	text := FingerprintOf(q).Text
	pts, err := store.QuerySeries(ctx, FingerprintOf(q).ID, t1.Add(-time.Hour), t2.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 || pts[0].Calls != 7 || pts[1].Calls != 5 || pts[1].Hist.Count() != 5 || pts[0].Text != "" && pts[0].Text != text {
		t.Fatalf("per-minute calls: %+v", pts)
	}
	if pts[1].Span != time.Minute {
		t.Errorf("span %v", pts[1].Span)
	}
	// The live statistics were not reset.
	var live uint64
	for _, s := range mustStats(t, db).Queries {
		if s.Fingerprint.Text == text {
			live = s.Calls
		}
	}
	if live != 12 {
		t.Errorf("live calls %d, want 12: the history must never reset them", live)
	}
	// A reset of the live statistics starts the deltas over.
	if err := ResetStats(db); err != nil {
		t.Fatal(err)
	}
	run(3)
	t3 := clock.advance(time.Minute)
	if err := h.flushNow(ctx, t3); err != nil {
		t.Fatal(err)
	}
	qs, err := store.Queries(ctx, t3.Add(-30*time.Second), t3.Add(time.Second))
	if err != nil || callsOf(qs, text) != 3 {
		t.Errorf("after a reset: %d calls, %v", callsOf(qs, text), err)
	}
	db2 := db.Driver().(*Driver).db
	if got := db2.obs.history().lastErr.Load(); got != nil {
		t.Errorf("write error %s", *got)
	}
	ds, err := store.DatabaseSeries(ctx, t1.Add(-time.Hour), t3.Add(time.Second))
	if err != nil || len(ds) != 3 || ds[0].SizeBytes <= 0 || ds[0].MaxOpen != DefaultMaxOpen {
		t.Errorf("database series: %+v %v", ds, err)
	}
}

// TestHistoryFlushedAtClose: Close writes the last partial minute and
// waits for the writer (TestMain's goleak checks that nothing is left).
func TestHistoryFlushedAtClose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newFakeClock()
	db := openHistory(t, dir, clock)
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(20 * time.Second)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	store := readHistory(t, filepath.Join(dir, "app-history.db"))
	qs, err := store.Queries(ctx, clock.Now().Add(-time.Hour), clock.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := callsOf(qs, FingerprintOf(`INSERT INTO t VALUES (?)`).Text); got != 4 {
		t.Errorf("after Close the history holds %d inserts, want 4: %+v", got, qs)
	}
}

// TestHistoryAlertWindowSurvivesRestart: a process fails calls and stops
// before its monitor judged them; the next one, on the same history,
// judges the window they are in at its first tick.
func TestHistoryAlertWindowSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock()
	log := &alertLog{}
	th := WithAlertThresholds(only(AlertThresholds{ErrorRate: 0.5}))
	db := openHistory(t, dir, clock, th, WithAlertFunc(log.add))
	for range 20 {
		if _, err := db.Exec(`INSERT INTO missing VALUES (1)`); err == nil {
			t.Fatal("an insert into a missing table worked")
		}
	}
	clock.advance(30 * time.Second)
	db.Close() // the last period is written
	if got := log.take(); len(got) != 0 {
		t.Fatalf("first process: alerts %+v", got)
	}

	clock.advance(time.Minute)
	db = openHistory(t, dir, clock, th, WithAlertFunc(log.add))
	m := db.Driver().(*Driver).db.obs.monitor
	m.tick(clock.advance(10 * time.Second))
	got := log.take()
	if len(got) != 1 || got[0].Name != AlertErrorRate || !got[0].Firing || got[0].Value != 1 {
		t.Fatalf("after the restart: alerts %+v, want error_rate firing over the 20 failed calls before it", got)
	}
	db.Close()

	// The alert fired, and was delivered, before this restart: it is
	// firing after it, and not delivered again; its clearing is.
	clock.advance(time.Minute)
	db = openHistory(t, dir, clock, th, WithAlertFunc(log.add))
	m = db.Driver().(*Driver).db.obs.monitor
	if a := m.active(); len(a) != 1 || a[0].Name != AlertErrorRate {
		t.Fatalf("after the second restart: firing %+v", a)
	}
	m.tick(clock.advance(10 * time.Second))
	if got := log.take(); len(got) != 0 {
		t.Fatalf("an alert firing before the restart was delivered again: %+v", got)
	}
	m.tick(clock.advance(10 * time.Minute))
	if got := log.take(); len(got) != 1 || got[0].Firing {
		t.Fatalf("clearing: %+v", got)
	}
}

// TestHistoryEncrypted: the history of an encrypted database is encrypted
// with its VFS and key.
func TestHistoryEncrypted(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("5a", 32)
	db, err := Open("file:"+filepath.Join(dir, "app.db")+"?vfs=adiantum&hexkey="+key, WithHistory(filepath.Join(dir, "app-history.db")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE confidential_orders (n)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO confidential_orders VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "app-history.db*"))
	if len(files) == 0 {
		t.Fatal("no history file")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("confidential_orders")) {
			t.Errorf("%s holds a statement's text in the clear", filepath.Base(f))
		}
	}
	// It reads back with the database's key.
	p, _ := encryptionParams("file:x?vfs=adiantum&hexkey=" + key)
	s, err := history.Open(context.Background(), filepath.Join(dir, "app-history.db"), history.Options{ReadOnly: true, Encryption: p})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	qs, err := s.Queries(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || callsOf(qs, FingerprintOf(`INSERT INTO confidential_orders VALUES (?)`).Text) != 1 {
		t.Errorf("read with the key: %+v %v", qs, err)
	}
}

// TestHistoryNoValues: literals and arguments never reach the history.
func TestHistoryNoValues(t *testing.T) {
	dir := t.TempDir()
	db := openHistory(t, dir, newFakeClock())
	if _, err := db.Exec(`CREATE TABLE t (name TEXT, n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t VALUES ('literal-value-1234', 987654321)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO t VALUES (?, ?)`, "argument-value-5678", 123456789); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t WHERE name = 'literal-value-1234'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	CapturedPlans(context.Background(), db)
	db.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "app-history.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, v := range []string{"literal-value-1234", "argument-value-5678", "987654321", "123456789"} {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the value %s", filepath.Base(f), v)
			}
		}
		if strings.HasSuffix(f, "history.db") && !bytes.Contains(b, []byte("INSERT INTO t VALUES (?, ?)")) {
			t.Errorf("%s does not hold the fingerprints", f)
		}
	}
}

func TestHistoryDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn     string
		path    string
		off     bool
		keep    time.Duration
		maxSize int64
		err     string
	}{
		{dsn: "file:a.db?_history=h.db&_history_retention=48h&_history_max_size=64MiB", path: "h.db", keep: 48 * time.Hour, maxSize: 64 << 20},
		{dsn: "file:a.db?_history=off", off: true},
		{dsn: "file:a.db?_history_max_size=1000", maxSize: 1000},
		{dsn: "file:a.db?_history_max_size=lots", err: "want a size of 0 or more in bytes"},
		{dsn: "file:a.db?_history_retention=5m", err: "an hour or more"},
		{dsn: "file:a.db?_history=", err: "want a file name"},
	} {
		cfg := defaultConfig()
		_, err := parseDSN(tc.dsn, &cfg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.dsn, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		o := cfg.obs
		if o.history != tc.path || o.historyOff != tc.off || o.historyRetention != tc.keep || o.historyMaxBytes != tc.maxSize {
			t.Errorf("%s: %+v", tc.dsn, o)
		}
	}
}

// TestHistoryOtherDatabase: a history file is refused for another
// database, saying what to do.
func TestHistoryOtherDatabase(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, "shared-history.db")
	db, err := Open("file:"+filepath.Join(dir, "one.db"), WithHistory(hist))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open("file:"+filepath.Join(dir, "two.db"), WithHistory(hist))
	if err == nil || !strings.Contains(err.Error(), "give this database a history file of its own") {
		t.Errorf("another database's history: %v", err)
	}
}

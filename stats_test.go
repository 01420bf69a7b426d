package qlsqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// statsOf returns the statistics of the fingerprint of query.
func statsOf(t *testing.T, snap Snapshot, query string) QueryStats {
	t.Helper()
	fp := FingerprintOf(query)
	for _, q := range snap.Queries {
		if q.Fingerprint == fp {
			return q
		}
	}
	t.Fatalf("no statistics for %q; have %d fingerprints", fp.Text, len(snap.Queries))
	return QueryStats{}
}

// openStats opens a fresh database file with sql.Open and params.
func openStats(t testing.TB, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "stats.db")+params)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustStats(t *testing.T, db *sql.DB) Snapshot {
	t.Helper()
	snap, err := Stats(db)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestStatsPerFingerprint(t *testing.T) {
	db, err := sql.Open(DriverName, "file:"+filepath.Join(t.TempDir(), "stats.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, qty REAL CHECK (qty > 0))`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO trades (symbol, qty) VALUES (?, ?)`
	for i := range 20 {
		if _, err := db.Exec(insert, fmt.Sprintf("SYM%d", i%4), i+1); err != nil {
			t.Fatal(err)
		}
	}
	// Two failures of the CHECK constraint: integrity errors.
	for range 2 {
		if _, err := db.Exec(insert, "BAD", -1); !errors.Is(err, sqlite3.CONSTRAINT_CHECK) {
			t.Fatalf("negative quantity: %v", err)
		}
	}
	// Literals differ, the fingerprint does not; the rows are counted
	// through Rows.Close.
	for i := range 4 {
		rows, err := db.Query(fmt.Sprintf(`SELECT id, qty FROM trades WHERE symbol = 'SYM%d' ORDER BY id`, i))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil || n != 5 {
			t.Fatalf("%d rows, %v", n, err)
		}
	}
	// A prepared statement does not go through the statement cache.
	stmt, err := db.PrepareContext(ctx, `SELECT count(*) FROM trades WHERE qty > ?`)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		var n int
		if err := stmt.QueryRow(10).Scan(&n); err != nil || n != 10 {
			t.Fatalf("count %d, %v", n, err)
		}
	}
	stmt.Close()
	// SQLite's changes() still says 1 after DDL: not rows of the index's.
	const ddl = `CREATE INDEX trades_qty ON trades (qty)`
	if _, err := db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
	if _, err := CapturedPlans(ctx, db); err != nil { // waits for the plans asked for
		t.Fatal(err)
	}

	snap := mustStats(t, db)
	if q := statsOf(t, snap, ddl); q.Calls != 1 || q.Rows != 0 {
		t.Errorf("CREATE INDEX: calls %d rows %d, want 1 and 0", q.Calls, q.Rows)
	}
	ins := statsOf(t, snap, insert)
	if ins.Calls != 22 || ins.Rows != 20 || ins.ErrorCount() != 2 || ins.Errors["integrity"] != 2 {
		t.Errorf("INSERT: calls %d rows %d errors %v, want 22, 20 and 2 integrity", ins.Calls, ins.Rows, ins.Errors)
	}
	// The first execution prepares; the statements that failed are not
	// trusted again and are prepared anew.
	if ins.CacheMisses+ins.CacheHits != 22 || ins.CacheMisses < 1 || ins.CacheHits < 18 {
		t.Errorf("INSERT: cache hits %d misses %d", ins.CacheHits, ins.CacheMisses)
	}
	if r := ins.CacheHitRatio; r != float64(ins.CacheHits)/22 {
		t.Errorf("INSERT: hit ratio %v", r)
	}
	if !(0 < ins.P50 && ins.P50 <= ins.P95 && ins.P95 <= ins.P99 && ins.P99 <= ins.Max && ins.Max <= ins.Total) {
		t.Errorf("INSERT: p50 %v p95 %v p99 %v max %v total %v", ins.P50, ins.P95, ins.P99, ins.Max, ins.Total)
	}
	if ins.Mean != ins.Total/22 {
		t.Errorf("INSERT: mean %v, total %v", ins.Mean, ins.Total)
	}

	sel := statsOf(t, snap, `SELECT id, qty FROM trades WHERE symbol = 'SYM0' ORDER BY id`)
	if sel.Calls != 4 || sel.Rows != 20 || sel.ErrorCount() != 0 {
		t.Errorf("SELECT: calls %d rows %d errors %v, want 4, 20, none", sel.Calls, sel.Rows, sel.Errors)
	}
	if !strings.Contains(sel.Fingerprint.Text, "symbol = ?") {
		t.Errorf("the literal is in the fingerprint: %q", sel.Fingerprint.Text)
	}
	if sel.Plan == nil || !strings.Contains(sel.Plan.String(), "trades") {
		t.Errorf("SELECT: plan %v", sel.Plan)
	}

	cnt := statsOf(t, snap, `SELECT count(*) FROM trades WHERE qty > ?`)
	// A prepared statement runs from the statement cache too: its Prepare
	// put it there, and each call finds it.
	if cnt.Calls != 3 || cnt.Rows != 3 || cnt.CacheHits != 3 || cnt.CacheMisses != 0 || cnt.CacheHitRatio != 1 {
		t.Errorf("prepared SELECT: calls %d rows %d cache %d/%d", cnt.Calls, cnt.Rows, cnt.CacheHits, cnt.CacheMisses)
	}

	var calls, errs uint64
	for _, q := range snap.Queries {
		calls += q.Calls
		errs += q.ErrorCount()
	}
	if snap.Database.Calls != calls || snap.Database.Errors != errs || errs != 2 {
		t.Errorf("database totals %d/%d, sum of fingerprints %d/%d", snap.Database.Calls, snap.Database.Errors, calls, errs)
	}
	if snap.Database.ErrorRate != float64(errs)/float64(calls) {
		t.Errorf("error rate %v", snap.Database.ErrorRate)
	}
	if snap.Database.OpsPerSecond <= 0 || snap.Database.Window <= 0 {
		t.Errorf("ops/s %v over %v", snap.Database.OpsPerSecond, snap.Database.Window)
	}
	st := snap.Database.Storage
	if snap.Database.StorageError != "" || st.InMemory || st.PageSize <= 0 || st.SizeBytes != st.Pages*st.PageSize || st.WALBytes <= 0 {
		t.Errorf("storage %+v (%s)", st, snap.Database.StorageError)
	}
	if snap.Database.Pool.OpenConnections < 1 {
		t.Errorf("pool %+v", snap.Database.Pool)
	}
	if c := snap.Database.StmtCache; c.Hits < 18 || c.HitRatio <= 0.5 {
		t.Errorf("statement cache %+v", c)
	}
	if snap.Database.Breaker != "closed" {
		t.Errorf("breaker state %q, want closed", snap.Database.Breaker)
	}
	// Sorted by total time, largest first.
	for i := 1; i < len(snap.Queries); i++ {
		if snap.Queries[i].Total > snap.Queries[i-1].Total {
			t.Errorf("queries not sorted by total time at %d", i)
		}
	}
}

// TestStatsSurviveClosedConnections: the statistics of connections that
// closed are kept, and those of every open connection are added up.
func TestStatsSurviveClosedConnections(t *testing.T) {
	db := openStats(t, "")
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	const q = `INSERT INTO t VALUES (?)`
	conns := make([]*sql.Conn, 3)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		for j := range i + 1 {
			if _, err := c.ExecContext(ctx, q, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := statsOf(t, mustStats(t, db), q).Calls; got != 6 {
		t.Errorf("three connections: %d calls, want 6", got)
	}
	// Closing a *sql.Conn only returns it to the pool; Raw and ErrBadConn
	// would be needed to close it for good. SetMaxIdleConns(0) closes them.
	for _, c := range conns {
		c.Close()
	}
	db.SetMaxIdleConns(0)
	if n := len(db.Driver().(*Driver).db.conns); n != 0 {
		t.Fatalf("%d connections still open", n)
	}
	if got := statsOf(t, mustStats(t, db), q).Calls; got != 6 {
		t.Errorf("after the connections closed: %d calls, want 6", got)
	}
	if _, err := db.Exec(q, 9); err != nil {
		t.Fatal(err)
	}
	if got := statsOf(t, mustStats(t, db), q).Calls; got != 7 {
		t.Errorf("closed and open connections: %d calls, want 7", got)
	}
}

func TestStatsOtherDatabase(t *testing.T) {
	raw, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := Stats(raw); err == nil || !strings.Contains(err.Error(), "not qlsqlite") {
		t.Errorf("Stats of a raw sqlite3 database: %v", err)
	}
	if err := ResetStats(raw); err == nil {
		t.Error("ResetStats of a raw sqlite3 database succeeded")
	}
	if _, err := Health(context.Background(), raw); err == nil {
		t.Error("Health of a raw sqlite3 database succeeded")
	}
	if _, err := Monitor(raw); err == nil {
		t.Error("Monitor of a raw sqlite3 database succeeded")
	}
	if _, err := Stats(nil); err == nil {
		t.Error("Stats(nil) succeeded")
	}

	// qlsqlite.Open works as sql.Open does.
	db, err := Open("file:" + filepath.Join(t.TempDir(), "open.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT n FROM t WHERE n = ?`, 1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	snap := mustStats(t, db)
	if q := statsOf(t, snap, `SELECT n FROM t WHERE n = ?`); q.Calls != 1 || q.Rows != 1 {
		t.Errorf("through qlsqlite.Open: %+v", q)
	}
	if !snap.Monitored {
		t.Error("qlsqlite.Open starts no monitor")
	}
}

func TestResetStats(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	const q = `INSERT INTO t VALUES (?)`
	for i := range 5 {
		if _, err := db.Exec(q, i); err != nil {
			t.Fatal(err)
		}
	}
	before := mustStats(t, db)
	if err := ResetStats(db); err != nil {
		t.Fatal(err)
	}
	after := mustStats(t, db)
	if len(after.Queries) != 0 || after.Database.Calls != 0 || !after.Since.After(before.Since) {
		t.Errorf("after reset: %d fingerprints, %d calls, since %v (was %v)", len(after.Queries), after.Database.Calls, after.Since, before.Since)
	}
	if _, err := db.Exec(q, 6); err != nil {
		t.Fatal(err)
	}
	if got := statsOf(t, mustStats(t, db), q); got.Calls != 1 || got.Rows != 1 {
		t.Errorf("after reset and one call: %+v", got)
	}
}

func TestStatsOff(t *testing.T) {
	db := openStats(t, "?_stats=off")
	if _, err := db.Exec(`CREATE TABLE t (n); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT n FROM t WHERE n = ?`, 1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	snap := mustStats(t, db)
	if len(snap.Queries) != 0 || snap.Database.Calls != 0 {
		t.Errorf("_stats=off still counts: %+v", snap.Queries)
	}
	if snap.Database.Storage.SizeBytes <= 0 {
		t.Errorf("_stats=off: the database's own figures are still wanted: %+v", snap.Database.Storage)
	}
}

// TestWaitAttribution: time the lower layers report with addWait during a
// call is attributed to that call's fingerprint, and only to that call.
func TestWaitAttribution(t *testing.T) {
	p := pin(t, "")
	c := p.inner()
	err := p.conn.Raw(func(dc any) error {
		return dc.(ncruces.Conn).Raw().CreateFunction("wait_ms", 1, 0, func(ctx sqlite3.Context, arg ...sqlite3.Value) {
			c.report.addWait(time.Duration(arg[0].Int64()) * time.Millisecond)
			ctx.ResultInt(1)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	const waits, plain = `SELECT wait_ms(?)`, `SELECT ? + 1`
	var n int
	for _, ms := range []int{1500, 500} {
		if err := p.conn.QueryRowContext(p.ctx, waits, ms).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := p.conn.QueryRowContext(p.ctx, plain, ms).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	snap := mustStats(t, p.db)
	if w := statsOf(t, snap, waits).Waited; w != 2*time.Second {
		t.Errorf("waited %v, want 2s", w)
	}
	if w := statsOf(t, snap, plain).Waited; w != 0 {
		t.Errorf("a call that did not wait is charged %v", w)
	}
	if snap.Database.Waited != 2*time.Second {
		t.Errorf("database waited %v", snap.Database.Waited)
	}
}

// TestStatsTextsBounded: a program that inlines values in its SQL keeps
// one fingerprint per shape, and a connection remembers a bounded number of
// SQL texts.
func TestStatsTextsBounded(t *testing.T) {
	p := pin(t, "")
	p.exec(`CREATE TABLE t (n)`)
	for i := range maxTexts + 10 {
		p.rows(fmt.Sprintf(`SELECT n FROM t WHERE n = %d`, i))
	}
	c := p.inner()
	c.stats.mu.Lock()
	nfps := len(c.stats.fps)
	c.stats.mu.Unlock()
	if len(c.stats.texts) > maxTexts || nfps > 3 {
		t.Errorf("%d texts and %d fingerprints remembered", len(c.stats.texts), nfps)
	}
	if got := statsOf(t, mustStats(t, p.db), `SELECT n FROM t WHERE n = 1`).Calls; got != maxTexts+10 {
		t.Errorf("%d calls, want %d", got, maxTexts+10)
	}
}

func TestSlowQueryLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	path := filepath.Join(t.TempDir(), "slow.db")
	db, err := Open("file:"+path+"?_slow=1us", WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)`); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT id FROM users WHERE email = ? AND id > ?`
	var id int
	if err := db.QueryRow(q, "first@example.com", 0).Scan(&id); !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	if _, err := CapturedPlans(ctx, db); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	buf.Reset()
	mu.Unlock()
	if err := db.QueryRow(q, "secret@example.com", 0).Scan(&id); !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if strings.Contains(out, "secret@example.com") {
		t.Errorf("the slow-query log shows argument values:\n%s", out)
	}
	var rec struct {
		Level, Msg, Fingerprint, Plan string
		Args, Rows                    int
		Duration                      time.Duration
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &rec); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if rec.Level != "WARN" || rec.Msg != "qlsqlite: slow query" || rec.Fingerprint != FingerprintOf(q).Text ||
		rec.Args != 2 || rec.Rows != 0 || rec.Duration <= 0 || !strings.Contains(rec.Plan, "users") {
		t.Errorf("slow-query record %+v", rec)
	}

	// Under the threshold, nothing is logged.
	quiet, err := Open("file:"+path+"?_slow=1h", WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	mu.Lock()
	buf.Reset()
	mu.Unlock()
	if err := quiet.QueryRow(q, "x", 0).Scan(&id); !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if buf.Len() != 0 {
		t.Errorf("a fast query was logged as slow: %s", buf.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestStatsConcurrent runs queries on many goroutines while statistics are
// read and reset; run with -race.
func TestStatsConcurrent(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := db.Exec(`INSERT INTO t VALUES (?)`, g*100+i); err != nil {
					t.Error(err)
					return
				}
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM t WHERE n >= ?`, i).Scan(&n); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			if _, err := Stats(db); err != nil {
				t.Error(err)
			}
			if i == 10 {
				ResetStats(db)
			}
		}
	})
	wg.Wait()
	if err := ResetStats(db); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.Exec(`INSERT INTO t VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	if got := statsOf(t, mustStats(t, db), `INSERT INTO t VALUES (?)`).Calls; got != 10 {
		t.Errorf("%d calls after reset, want 10", got)
	}
}

func TestObserveDSN(t *testing.T) {
	cfg := defaultConfig()
	rest, err := parseDSN("file:x.db?_stats=off&_slow=250ms&_trace=off&_metrics=no&mode=rwc", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rest != "file:x.db?mode=rwc" || cfg.obs.stats || cfg.obs.slow != 250*time.Millisecond || cfg.obs.trace || cfg.obs.metrics {
		t.Errorf("rest %q, config %+v", rest, cfg.obs)
	}
	d := defaultConfig().obs
	if !d.stats || d.slow != DefaultSlowQuery || !d.trace || !d.metrics || !d.rootSpans {
		t.Errorf("defaults %+v", d)
	}
	for _, bad := range []string{"file:x.db?_stats=maybe", "file:x.db?_slow=soon", "file:x.db?_trace=2"} {
		cfg := defaultConfig()
		if _, err := parseDSN(bad, &cfg); err == nil {
			t.Errorf("parseDSN(%q) accepted a bad value", bad)
		} else if name := bad[strings.Index(bad, "_"):strings.Index(bad, "=")]; !strings.Contains(err.Error(), name) {
			t.Errorf("parseDSN(%q): %v does not name %s", bad, err, name)
		}
	}
	// Options win over the DSN.
	c, err := NewConnector("file:x.db?_stats=off&_slow=0", WithStats(true), WithSlowQueryLog(time.Second), WithTracing(false), WithMetrics(false), WithRootSpans(false))
	if err != nil {
		t.Fatal(err)
	}
	o := c.(*Connector).db.cfg.obs
	if !o.stats || o.slow != time.Second || o.trace || o.metrics || o.rootSpans {
		t.Errorf("options after the DSN: %+v", o)
	}
	c.(*Connector).Close()
}

// TestWorkloadFeedsAdvise: the statistics are the workload Advise reads
// when it is given no statements.
func TestWorkloadFeedsAdvise(t *testing.T) {
	db := openStats(t, "")
	ctx := context.Background()
	if _, err := db.Exec(`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, ts TEXT, qty REAL)`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := tx.Exec(`INSERT INTO trades (symbol, ts, qty) VALUES (?, ?, ?)`, fmt.Sprintf("S%03d", i%300), fmt.Sprintf("2026-11-%02d", i%28+1), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := ResetStats(db); err != nil { // the workload is what follows
		t.Fatal(err)
	}
	const q = `SELECT * FROM trades WHERE symbol = ? ORDER BY ts DESC LIMIT 5`
	for i := range 20 {
		rows, err := db.Query(q, fmt.Sprintf("S%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	w := db.Driver().(*Driver).Workload()
	if len(w) != 1 || w[0].Query != FingerprintOf(q).Text || w[0].Calls != 20 || w[0].Total <= 0 {
		t.Fatalf("workload %+v", w)
	}
	advice, err := Advise(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(advice) != 1 || advice[0].Table != "trades" || advice[0].Columns[0] != "symbol" {
		t.Errorf("advice %+v", advice)
	}
	if (&Driver{}).Workload() != nil {
		t.Error("the registered driver reports a workload")
	}
}

// TestOpenDoesNotConnect: qlsqlite.Open starts the monitor, which must not
// connect (and so create the file) before the program does, when the pool
// has no warm minimum to open.
func TestOpenDoesNotConnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.db")
	db, err := Open("file:" + path + "?_min_open=0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the file: %v", err)
	}
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Ping did not create the file: %v", err)
	}
}

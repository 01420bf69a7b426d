package qlsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pageDB opens a database with a history and a few statements run, two
// of them with values that must never show.
func pageDB(t *testing.T, opts ...Option) (*sql.DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open("file:"+filepath.Join(dir, "app.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, created_at TEXT, note TEXT)`,
		`CREATE INDEX orders_note ON orders (note)`,
		`INSERT INTO orders (status, created_at, note) VALUES ('open', '2026-01-01', 'literal-secret-4711')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		if _, err := db.Exec(`INSERT INTO orders (status, created_at, note) VALUES (?, ?, ?)`, "closed", time.Now().Format(time.RFC3339), "argument-secret-"+string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	for range 20 {
		if err := db.QueryRow(`SELECT count(*) FROM orders WHERE status = 'open' ORDER BY created_at`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return db, dir
}

func fetch(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

// TestHandlerPages: every page of a live database loads, shows its
// figures and never an argument value, and the history starts beside the
// database.
func TestHandlerPages(t *testing.T) {
	db, dir := pageDB(t)
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "app-history.db")); err != nil {
		t.Fatalf("the history was not started beside the database: %v", err)
	}
	src := db.Driver().(*Driver).db.obs.history()
	if src == nil {
		t.Fatal("no history writer")
	}
	ctx := context.Background()
	if err := src.flushNow(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The advice is computed in the background: wait for it.
	code, _ := fetch(t, h, "/")
	if code != http.StatusOK {
		t.Fatalf("/: %d", code)
	}
	waitAdvice(t, db)

	insert := FingerprintOf(`INSERT INTO orders (status, created_at, note) VALUES (?, ?, ?)`)
	pages := map[string][]string{
		"/":                                    {"query p95", "circuit breaker", "WAL and checkpoints", "planner statistics", "unused indexes", "redundant indexes", "suggested indexes", "free pages", "last integrity check", `class="chart"`},
		"/queries":                             {html(insert.Text), "index advised"},
		"/queries?window=1h&sort=calls":        {"No query ran in this window"},
		"/queries/" + insert.ID:                {html(insert.Text), "calls per minute", "Captured plan"},
		"/queries/" + insert.ID + "?window=1h": {"latency"},
		"/space":                               {"orders_note", "dbstat is not compiled"},
		"/connections":                         {"connections", "waits for a connection"},
		"/maintenance":                         {"PRAGMA optimize", "Actions are off"},
		"/alerts":                              {"No alert is firing"},
	}
	for path, want := range pages {
		code, body := fetch(t, h, path)
		if code != http.StatusOK {
			t.Errorf("%s: %d\n%s", path, code, body)
			continue
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s does not show %q", path, w)
			}
		}
		for _, secret := range []string{"literal-secret", "argument-secret", "2026-01-01"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows the value %q", path, secret)
			}
		}
	}
	if code, _ := fetch(t, h, "/queries/nosuchfingerprint"); code != http.StatusNotFound {
		t.Errorf("an unknown fingerprint: %d", code)
	}
}

func html(s string) string {
	return strings.NewReplacer("'", "&#39;", `"`, "&#34;", "<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s)
}

// waitAdvice waits for the advice the pages compute in the background.
func waitAdvice(t testing.TB, db *sql.DB) {
	t.Helper()
	d := db.Driver().(*Driver).db
	d.mu.Lock()
	adv := d.advice
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := adv.wait(ctx); err != nil {
		t.Fatalf("the advice was not computed: %v", err)
	}
}

// TestHandlerMetrics: /metrics has the conventions' histogram and pool
// metrics, client_golang's go_sql_* ones, and qlsqlite's gauges; its
// counters never go back when statistics are reset.
func TestHandlerMetrics(t *testing.T) {
	db, _ := pageDB(t, WithoutHistory())
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	code, body := fetch(t, h, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`db_client_operation_duration_seconds_bucket{`,
		`db_operation_name="INSERT"`,
		`db_collection_name="orders"`,
		`db_client_connection_count{`,
		`db_client_connection_max{`,
		`go_sql_open_connections{db_name=`,
		`go_sql_wait_count_total{`,
		`qlsqlite_breaker_state{`,
		`qlsqlite_wal_size_bytes{`,
		`qlsqlite_database_size_bytes{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	count := func(body string) string {
		m := regexp.MustCompile(`db_client_operation_duration_seconds_count\{[^}]*db_operation_name="INSERT"[^}]*\} (\d+)`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no INSERT count in\n%s", body)
		}
		return m[1]
	}
	if got := count(body); got != "201" {
		t.Errorf("INSERT calls %s, want 201", got)
	}
	if err := ResetStats(db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO orders (status) VALUES (?)`, "x"); err != nil {
		t.Fatal(err)
	}
	_, body = fetch(t, h, "/metrics")
	if got := count(body); got != "202" {
		t.Errorf("after ResetStats and one more INSERT: %s, want 202 (a Prometheus counter never goes back)", got)
	}
}

// TestHandlerActions: with WithActions(true), the maintenance page's
// forms checkpoint, optimize and create an advised index, on a POST from
// the page's own origin only.
func TestHandlerActions(t *testing.T) {
	db, _ := pageDB(t)
	h, err := Handler(db, WithActions(true))
	if err != nil {
		t.Fatal(err)
	}
	fetch(t, h, "/")
	waitAdvice(t, db)
	_, body := fetch(t, h, "/maintenance")
	m := regexp.MustCompile(`name="index" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no advised index to apply on the maintenance page:\n%s", body)
	}
	post := func(path string, form url.Values, site string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	indexes := func() int {
		var n int
		db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, m[1]).Scan(&n)
		return n
	}
	if rec := post("/actions/apply", url.Values{"index": {m[1]}}, "cross-site"); rec.Code != http.StatusForbidden || indexes() != 0 {
		t.Fatalf("a cross-site POST: %d, index made: %d", rec.Code, indexes())
	}
	rec := post("/actions/apply", url.Values{"index": {m[1]}}, "same-origin")
	if rec.Code != http.StatusSeeOther || indexes() != 1 {
		t.Fatalf("apply: %d %s, index made: %d", rec.Code, rec.Header().Get("Location"), indexes())
	}
	for _, action := range []string{"checkpoint", "optimize"} {
		rec := post("/actions/"+action, nil, "same-origin")
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther || strings.Contains(loc, "failed") {
			t.Errorf("%s: %d %s", action, rec.Code, loc)
		}
		// A TRUNCATE checkpoint reports 0 frames once it reset the WAL:
		// the page says how much the WAL held instead.
		if msg, _ := url.QueryUnescape(loc); action == "checkpoint" && !regexp.MustCompile(`the WAL \([1-9][0-9.]* [KM]iB\) copied`).MatchString(msg) {
			t.Errorf("checkpoint's outcome: %s", msg)
		}
	}
	// The checkpoint emptied the WAL.
	if st, err := db.Driver().(*Driver).db.obs.dialect.storage(context.Background(), db); err != nil || st.WALBytes != 0 {
		t.Errorf("after the checkpoint the WAL holds %d bytes (%v)", st.WALBytes, err)
	}
	if rec := post("/actions/apply", url.Values{"index": {"nope"}}, "same-origin"); !strings.Contains(rec.Header().Get("Location"), "failed") {
		t.Errorf("applying an index never advised: %s", rec.Header().Get("Location"))
	}
	// The events reach the history and the page.
	if err := db.Driver().(*Driver).db.obs.history().flushNow(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	_, body = fetch(t, h, "/maintenance")
	for _, want := range []string{"copied into the database and truncated", "CREATE INDEX", "PRAGMA optimize in"} {
		if !strings.Contains(body, want) {
			t.Errorf("the maintenance page's events lack %q", want)
		}
	}
}

// TestHandlerStored: the pages of a database another process ran, from
// its history and its file, as qlsqlite serve shows them.
func TestHandlerStored(t *testing.T) {
	db, dir := pageDB(t, WithHistory(""))
	hist := filepath.Join(t.TempDir(), "kept-history.db")
	db2, err := Open("file:"+filepath.Join(dir, "app.db"), WithHistory(hist))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 30 {
		if _, err := db2.Exec(`UPDATE orders SET status = ? WHERE id = ?`, "done", 3); err != nil {
			t.Fatal(err)
		}
	}
	db2.Close() // the history holds its last period

	viewer, err := Open("file:"+filepath.Join(dir, "app.db")+"?mode=ro&_optimize=off", WithoutHistory())
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	h, err := Handler(viewer, WithStoredHistory(hist))
	if err != nil {
		t.Fatal(err)
	}
	update := FingerprintOf(`UPDATE orders SET status = ? WHERE id = ?`)
	for path, want := range map[string]string{
		"/":                     "another process",
		"/queries":              html(update.Text),
		"/queries/" + update.ID: "calls per minute",
		"/connections":          "connections",
		"/space":                "orders_note",
		"/alerts":               "No alert is firing",
	} {
		code, body := fetch(t, h, path)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: %d, lacks %q", path, code, want)
		}
	}
	if _, err := Handler(viewer, WithStoredHistory(filepath.Join(dir, "missing.db"))); err == nil {
		t.Error("a missing history: no error")
	}
}

// TestHandlerHistoryPlaces: where the history is kept, as the DSN and the
// database say: "_history=PATH" from Open on, nothing beside the database
// then; none for a database in memory, none with "_history=off"; the
// pages say why there is none.
func TestHandlerHistoryPlaces(t *testing.T) {
	t.Run("dsn", func(t *testing.T) {
		dir := t.TempDir()
		hist := filepath.Join(dir, "elsewhere", "kept.db")
		if err := os.Mkdir(filepath.Dir(hist), 0o755); err != nil {
			t.Fatal(err)
		}
		db, err := Open("file:" + filepath.Join(dir, "app.db") + "?_history=" + url.QueryEscape(hist))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := os.Stat(hist); err != nil {
			t.Fatalf("_history: no file at %s after Open: %v", hist, err)
		}
		h, err := Handler(db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "app-history.db")); err == nil {
			t.Error("a second history beside the database")
		}
		if _, body := fetch(t, h, "/"); !strings.Contains(body, "kept.db") {
			t.Error("the page does not name the history file")
		}
	})
	for name, c := range map[string]struct{ dsn, note string }{
		"memory": {"file:pagemem?mode=memory", "the database is in memory"},
		"off":    {"app.db?_history=off", "no history (_history=off)"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dsn := c.dsn
			if !strings.HasPrefix(dsn, "file:") {
				dsn = "file:" + filepath.Join(dir, dsn)
			}
			db, err := Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			h, err := Handler(db)
			if err != nil {
				t.Fatal(err)
			}
			if db.Driver().(*Driver).db.obs.history() != nil {
				t.Error("a history runs")
			}
			if files, _ := filepath.Glob(filepath.Join(dir, "*history*")); len(files) != 0 {
				t.Errorf("history files: %v", files)
			}
			code, body := fetch(t, h, "/")
			if code != http.StatusOK || !strings.Contains(body, c.note) {
				t.Errorf("/: %d, lacks %q", code, c.note)
			}
		})
	}
}

// TestHandlerPagesSurviveRestart: the pages of a process that reopens a
// database show, in their windows, what ran before the restart.
func TestHandlerPagesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	dsn := "file:" + filepath.Join(dir, "app.db")
	db, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Handler(db); err != nil { // starts the history beside it
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE before_restart (n)`); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, err := db.Exec(`INSERT INTO before_restart VALUES (?)`, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // writes the last period
		t.Fatal(err)
	}

	db, err = Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	insert := FingerprintOf(`INSERT INTO before_restart VALUES (?)`)
	_, body := fetch(t, h, "/queries?window=1h")
	if !strings.Contains(body, html(insert.Text)) {
		t.Errorf("the last hour lacks the statement run before the restart:\n%s", body)
	}
	_, body = fetch(t, h, "/queries")
	if strings.Contains(body, html(insert.Text)) {
		t.Error("the statistics since the start hold a statement of the process before")
	}
	if code, body := fetch(t, h, "/queries/"+insert.ID+"?window=1h"); code != http.StatusOK || !strings.Contains(body, "calls per minute") {
		t.Errorf("its page after the restart: %d", code)
	}
}

// TestHandlerShowsWALKeeper: the Maintenance page shows the WAL keeper and
// group commit at work, and the overview's WAL check fails while a reader
// starves the keeper, then passes once the reader ends.
func TestHandlerShowsWALKeeper(t *testing.T) {
	dsn, wal := walDSN(t, "1MiB")
	db := openWALTest(t, dsn+"&_group_commit=on", withWALPause(2*time.Millisecond, 8*time.Millisecond))
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	tx := starveWAL(t, db, wal)
	_, metrics := fetch(t, h, "/metrics")
	if got := metricValue(t, metrics, "qlsqlite_wal_starved", ""); got != 1 {
		t.Errorf("/metrics: qlsqlite_wal_starved %v while a reader starves the keeper", got)
	}
	_, overview := fetch(t, h, "/")
	if !strings.Contains(overview, html("The WAL keeper is starved since")) {
		t.Errorf("the overview does not say the WAL keeper is starved:\n%s", overview)
	}
	_, maint := fetch(t, h, "/maintenance")
	for _, want := range []string{"WAL keeper", "Starved since", "Keeps the WAL under 1.0 MiB", "group commit", "autocommit writes"} {
		if !strings.Contains(maint, html(want)) {
			t.Errorf("the maintenance page lacks %q", want)
		}
	}

	tx.Rollback()
	reset := func() bool {
		s, err := Stats(db)
		return err == nil && !s.Database.WAL.Starved && s.Database.WAL.Truncate > 0
	}
	writeWAL(t, db, wal, 2000, reset)
	if !reset() {
		t.Fatal("the reader ended, but the WAL keeper did not reset the WAL")
	}
	_, overview = fetch(t, h, "/")
	if strings.Contains(overview, html("The WAL keeper is starved")) || !strings.Contains(overview, html("The WAL keeper keeps the write-ahead log under 1.0 MiB")) {
		t.Errorf("after the reader ended, the overview still does not show the keeper at work:\n%s", overview)
	}
	// The keeper goes on in the background: each counter on /metrics lies
	// between Stats before the scrape and Stats after it.
	counters := func() []uint64 {
		s, err := Stats(db)
		if err != nil {
			t.Fatal(err)
		}
		w, g := s.Database.WAL, s.Database.GroupCommit
		return []uint64{0, w.Truncate, w.Forced, g.Groups, g.Alone, g.Statements - g.Alone}
	}
	before := counters()
	_, metrics = fetch(t, h, "/metrics")
	after := counters()
	for i, c := range []struct{ name, label string }{
		{"qlsqlite_wal_starved", ""},
		{"qlsqlite_wal_checkpoints_total", `kind="truncate"`},
		{"qlsqlite_wal_checkpoints_total", `kind="forced"`},
		{"qlsqlite_group_commit_groups_total", ""},
		{"qlsqlite_group_commit_statements_total", `ran="alone"`},
		{"qlsqlite_group_commit_statements_total", `ran="grouped"`},
	} {
		if got := metricValue(t, metrics, c.name, c.label); got < float64(before[i]) || got > float64(after[i]) {
			t.Errorf("/metrics: %s{%s} %v, Stats says %d to %d", c.name, c.label, got, before[i], after[i])
		}
	}
	w, g := after[1], after[3]
	if w == 0 || g == 0 {
		t.Errorf("nothing to compare: %d truncates, %d groups", w, g)
	}
}

// metricValue returns the value of the series name of the Prometheus text
// body whose labels contain label.
func metricValue(t *testing.T, body, name, label string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok || !strings.Contains(rest, label) {
			continue
		}
		_, v, _ := strings.Cut(rest, "} ")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return f
	}
	t.Fatalf("/metrics has no %s{%s}:\n%s", name, label, body)
	return 0
}

// TestHandlerNeverShowsTheKey: the pages, /metrics and the health
// endpoints of an encrypted database never show its key, nor the DSN
// parameter that carried it.
func TestHandlerNeverShowsTheKey(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("c3", 32)
	db, err := Open("file:" + filepath.Join(dir, "vault.db") + "?vfs=adiantum&hexkey=" + key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{`CREATE TABLE vault (id INTEGER PRIMARY KEY, v TEXT)`, `INSERT INTO vault (v) VALUES ('x')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Handler(db, WithActions(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Driver().(*Driver).db.obs.history().flushNow(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	q := FingerprintOf(`INSERT INTO vault (v) VALUES (?)`)
	for _, path := range []string{"/", "/queries", "/queries/" + q.ID, "/space", "/connections", "/maintenance", "/alerts", "/metrics", "/healthz", "/readyz"} {
		code, body := fetch(t, h, path)
		if code != http.StatusOK {
			t.Errorf("%s: %d", path, code)
		}
		for _, secret := range []string{key, strings.ToUpper(key), "hexkey"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows %q", path, secret)
			}
		}
	}
}

// TestHandlerShowsRewritesEvictionsAndIntegrity: the pages show what the
// other parts of qlsqlite found: a fingerprint with a verified rewrite is
// tagged, the fingerprints evicted under _stats_max are counted, and a
// scheduled or called integrity check is an event of the history.
func TestHandlerShowsRewritesEvictionsAndIntegrity(t *testing.T) {
	ctx := context.Background()
	db, err := Open("file:"+filepath.Join(t.TempDir(), "app.db"), WithStatsMax(100))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total REAL, placed TEXT);
		CREATE INDEX idx_orders_placed ON orders(placed)`); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if _, err := db.Exec(`INSERT INTO orders (customer, total, placed) VALUES (?, ?, ?)`, i%97, float64(i), fmt.Sprintf("2025-01-%02d %02d:%02d", 1+i%28, i%24, i%60)); err != nil {
			t.Fatal(err)
		}
	}
	// A correlated IN, which SQLite runs again for every row: its rewrite
	// to EXISTS is verified (see ExampleRewritesByFingerprint).
	const correlated = `SELECT id FROM orders o WHERE o.customer IN (SELECT c.customer FROM orders c WHERE c.placed = o.placed AND c.id <> o.id)`
	for range 20 {
		rows, err := db.Query(correlated)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	// 150 one-off shapes past a bound of 100 fingerprints.
	for i := range 150 {
		var n int
		if err := db.QueryRow(fmt.Sprintf(`SELECT count(*) AS c%d FROM orders`, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Handler(db) // starts the history
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckIntegrity(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := db.Driver().(*Driver).db.obs.history().flushNow(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	fetch(t, h, "/") // starts the advice
	waitAdvice(t, db)

	_, queries := fetch(t, h, "/queries")
	if !strings.Contains(queries, "verified rewrite") {
		t.Errorf("/queries does not tag the correlated IN with its verified rewrite")
	}
	if !regexp.MustCompile(`[1-9][0-9]* fingerprints were evicted since \(at most 100 are kept: _stats_max\)`).MatchString(queries) {
		t.Errorf("/queries does not count the fingerprints evicted under _stats_max")
	}
	_, maint := fetch(t, h, "/maintenance")
	if !regexp.MustCompile(`integrity</td>\s*<td>[0-9]+ tables in [^<]*: ok`).MatchString(maint) {
		t.Errorf("/maintenance does not list the integrity check among its events:\n%s", maint)
	}
}

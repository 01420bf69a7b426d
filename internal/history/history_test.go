package history

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
	"go.uber.org/goleak"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if opts.Database == "" {
		opts.Database = "app.db"
	}
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// minute is a period of one fingerprint "q" with calls calls of d each.
func minute(at time.Time, calls uint64, d time.Duration) Period {
	return Period{
		At: at, Span: time.Minute,
		Queries: []QueryDelta{{
			ID: "q", Text: "SELECT * FROM t WHERE id = ?", Summary: "SELECT t",
			Calls: calls, Total: time.Duration(calls) * d, Max: d, Rows: calls,
			Errors: map[string]uint64{"query": 1},
			Hist:   Hist{{Index: uint16(d / time.Millisecond), Count: calls}},
		}},
		Database: DatabaseSample{Calls: calls, Errors: 1, SizeBytes: 4096, WALBytes: 0, FreePages: 0, PageSize: 4096, InUse: 1, Open: 2, Idle: 1, MaxInUse: 1, MaxOpen: 4, Breaker: "closed"},
	}
}

func TestHistMergeEncode(t *testing.T) {
	a := Hist{{1, 2}, {5, 1}, {300, 7}}
	b := Hist{{0, 1}, {5, 2}, {301, 1}}
	m := a.Merge(b)
	want := Hist{{0, 1}, {1, 2}, {5, 3}, {300, 7}, {301, 1}}
	if len(m) != len(want) {
		t.Fatalf("merge: %v", m)
	}
	for i := range m {
		if m[i] != want[i] {
			t.Fatalf("merge: %v, want %v", m, want)
		}
	}
	if m.Count() != 14 {
		t.Errorf("count %d", m.Count())
	}
	d, err := DecodeHist(m.Encode())
	if err != nil || len(d) != len(m) || d[4] != m[4] {
		t.Errorf("round trip: %v %v", d, err)
	}
	if _, err := DecodeHist([]byte{0x80}); err == nil {
		t.Error("a truncated histogram decodes")
	}
	for _, pair := range [][2]Hist{{a, b}, {b, a}, {nil, a}, {a, nil}, {m, m}} {
		got, err := pair[0].MergeEncoded(pair[1].Encode())
		want := pair[0].Merge(pair[1])
		if err != nil || len(got) != len(want) {
			t.Fatalf("MergeEncoded(%v, %v) = %v, %v; want %v", pair[0], pair[1], got, err, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("MergeEncoded(%v, %v) = %v; want %v", pair[0], pair[1], got, want)
			}
		}
	}
}

func TestWindowsAndSeries(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{})
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	// Three hours of minutes: 1 call of 2 ms each minute, then one minute
	// of 10 calls of 50 ms.
	for i := 1; i <= 180; i++ {
		if err := s.Write(ctx, minute(base.Add(time.Duration(i)*time.Minute), 1, 2*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	last := base.Add(181 * time.Minute)
	if err := s.Write(ctx, minute(last, 10, 50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(ctx, last); err != nil {
		t.Fatal(err)
	}

	// The last hour, from the minute rows: 59 minutes of 1 call, and 10.
	qs, err := s.Queries(ctx, last.Add(-time.Hour).Add(time.Second), last.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Calls != 60+10-1 || qs[0].Text != "SELECT * FROM t WHERE id = ?" || qs[0].Errors["query"] != 60 {
		t.Fatalf("last hour: %+v", qs)
	}
	if qs[0].Hist.Count() != qs[0].Calls || qs[0].Max != 50*time.Millisecond {
		t.Errorf("last hour's histogram %v, max %v", qs[0].Hist, qs[0].Max)
	}

	// The whole span, from hourly rows (10:00-13:00 rolled up) and minutes.
	qs, err = s.Queries(ctx, base, last.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].Calls != 180+10 {
		t.Fatalf("whole span: %+v", qs)
	}

	// A series per minute over the last hour, and per hour over days.
	pts, err := s.QuerySeries(ctx, "q", last.Add(-time.Hour), last.Add(time.Second))
	if err != nil || len(pts) != 61 || pts[60].Calls != 10 {
		t.Fatalf("minute series: %d points, %v", len(pts), err)
	}
	pts, err = s.QuerySeries(ctx, "q", last.Add(-14*24*time.Hour), last.Add(time.Second))
	if err != nil || len(pts) != 3 || pts[0].Calls != 59 || pts[0].Span != time.Hour {
		t.Fatalf("hourly series: %+v %v", pts, err)
	}
	db, err := s.DatabaseSeries(ctx, last.Add(-14*24*time.Hour), last.Add(time.Second))
	if err != nil || len(db) != 3 || db[1].Calls != 60 || db[1].InUse != 1 || db[1].MaxOpen != 4 {
		t.Fatalf("hourly database series: %+v %v", db, err)
	}
	latest, ok, err := s.Latest(ctx)
	if err != nil || !ok || !latest.At.Equal(last) || latest.Calls != 10 {
		t.Errorf("latest: %+v %v %v", latest, ok, err)
	}
}

func TestRetentionAndBound(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{Retention: 24 * time.Hour, MinuteRetention: 2 * time.Hour})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 30*60; i += 5 {
		if err := s.Write(ctx, minute(base.Add(time.Duration(i)*time.Minute), 1, time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	now := base.Add(30 * time.Hour)
	if err := s.Maintain(ctx, now); err != nil {
		t.Fatal(err)
	}
	var oldestMinute, oldestHour int64
	s.db.QueryRow(`SELECT min(at) FROM queries WHERE res = 60`).Scan(&oldestMinute)
	s.db.QueryRow(`SELECT min(at) FROM queries WHERE res = 3600`).Scan(&oldestHour)
	if got := fromMS(oldestMinute); got.Before(now.Add(-2 * time.Hour)) {
		t.Errorf("a minute row of %v is kept past 2h", got)
	}
	if got := fromMS(oldestHour); got.Before(now.Add(-25 * time.Hour)) {
		t.Errorf("an hourly row of %v is kept past 24h", got)
	}

	// The bound: a small one deletes the oldest rows, keeping the last hour.
	s.opts.MaxBytes = 16 << 10
	for i := 0; i < 60; i++ {
		big := minute(now.Add(time.Duration(i)*time.Second), 1, time.Millisecond)
		big.Queries[0].ID = strings.Repeat("x", 100) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := s.Write(ctx, big); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Maintain(ctx, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	used, err := s.Used(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if used > 16<<10 {
		// Only the last hour may remain over the bound.
		var n int
		s.db.QueryRow(`SELECT count(*) FROM database WHERE at < ?`, ms(now.Add(time.Hour))).Scan(&n)
		if n > 0 {
			t.Errorf("%d bytes used over a bound of 16 KiB, with %d rows older than the last hour", used, n)
		}
	}
}

func TestAlertsEventsPlans(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{})
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, a := range []AlertEvent{
		{At: at, Name: "query_p95", Firing: true, Value: 0.2, Threshold: 0.1, Message: "slow", Fingerprints: []string{"SELECT ?"}},
		{At: at.Add(time.Minute), Name: "error_rate", Firing: true, Value: 0.5, Threshold: 0.01, Message: "errors"},
		{At: at.Add(2 * time.Minute), Name: "query_p95", Firing: false, Value: 0.01, Threshold: 0.1, Message: "fine"},
	} {
		if err := s.AddAlert(ctx, a); err != nil {
			t.Fatal(i, err)
		}
	}
	firing, err := s.Firing(ctx)
	if err != nil || len(firing) != 1 || firing[0].Name != "error_rate" {
		t.Errorf("firing: %+v %v", firing, err)
	}
	all, err := s.Alerts(ctx, at, at.Add(time.Hour), 10)
	if err != nil || len(all) != 3 || all[0].Name != "query_p95" || all[0].Firing || all[2].Fingerprints[0] != "SELECT ?" {
		t.Errorf("alerts: %+v %v", all, err)
	}
	if err := s.AddEvent(ctx, Event{At: at, Kind: "checkpoint", Detail: "TRUNCATE"}); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Events(ctx, "checkpoint", 5)
	if err != nil || len(ev) != 1 || ev[0].Detail != "TRUNCATE" {
		t.Errorf("events: %+v %v", ev, err)
	}
	p := minute(at, 1, time.Millisecond)
	p.Plans = []Plan{{ID: "q", CapturedAt: at, SchemaVersion: 3, Text: "|--SCAN t\n"}}
	if err := s.Write(ctx, p); err != nil {
		t.Fatal(err)
	}
	plans, err := s.Plans(ctx)
	if err != nil || plans["q"].Text != "|--SCAN t\n" || plans["q"].SchemaVersion != 3 {
		t.Errorf("plans: %+v %v", plans, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "h.db")
	s := open(t, path, Options{Database: "/data/app.db"})
	s.Close()

	_, err := Open(ctx, path, Options{Database: "/data/other.db"})
	if err == nil || !strings.Contains(err.Error(), "history of /data/app.db, not of /data/other.db") {
		t.Errorf("another database's history: %v", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, "missing.db"), Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file: no error")
	}
	ro := open(t, path, Options{Database: "/elsewhere/app.db", ReadOnly: true})
	if err := ro.Write(ctx, minute(time.Now(), 1, time.Millisecond)); err == nil {
		t.Error("a read-only store writes")
	}
}

// TestEncrypted writes a history through the adiantum VFS: the file holds
// no statement text in the clear, reads back with the key, and its key
// never shows in an error.
func TestEncrypted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "h.db")
	key := atrest.Params{VFS: "adiantum", KeyParam: atrest.ParamHexKey, Key: strings.Repeat("ab", 32)}
	s := open(t, path, Options{Encryption: key})
	p := minute(time.Now(), 3, time.Millisecond)
	p.Queries[0].Text = "SELECT secret_column FROM secret_table WHERE id = ?"
	if err := s.Write(ctx, p); err != nil {
		t.Fatal(err)
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("secret_table")) {
			t.Errorf("%s holds a statement's text in the clear", f)
		}
	}
	r := open(t, path, Options{Encryption: key, ReadOnly: true})
	qs, err := r.Queries(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(qs) != 1 || !strings.Contains(qs[0].Text, "secret_table") {
		t.Errorf("read back with the key: %+v %v", qs, err)
	}
	wrong := atrest.Params{VFS: "adiantum", KeyParam: atrest.ParamHexKey, Key: strings.Repeat("cd", 32)}
	_, err = Open(ctx, path, Options{Database: "app.db", Encryption: wrong, ReadOnly: true})
	if err == nil || strings.Contains(err.Error(), wrong.Key) {
		t.Errorf("wrong key: %v", err)
	}
}

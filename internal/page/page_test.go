package page

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.Local)

// fake is a Source with fixed figures.
type fake struct {
	rows  []QueryRow
	acted []Action
}

func (f *fake) About(context.Context) About {
	return About{Database: "app.db", Mode: "live", History: "app-history.db", Windows: []Window{WindowHour, WindowDay, Window14d, WindowAll}, Now: now}
}

func series(n int, f func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{At: now.Add(time.Duration(i-n) * time.Minute), Value: f(i)}
	}
	return pts
}

func (f *fake) Overview(context.Context) (Overview, error) {
	return Overview{
		Checks: []Check{
			{Name: "query p95", Status: OK, Value: "12ms", Detail: "threshold 100ms", Link: "queries"},
			{Name: "breaker", Status: Failing, Value: "open", Detail: "calls are refused"},
			{Name: "unused indexes", Status: Warning, Value: "1", Items: []CheckItem{{Text: "i_old on t", Code: `DROP INDEX IF EXISTS "i_old"`}}},
		},
		Stats:  []Stat{{"calls/s", "1,204"}},
		Charts: []Chart{{Title: "calls per minute", Unit: PerMinute, Series: []Series{{Name: "calls", Points: series(60, func(i int) float64 { return float64(i * 10) })}}}},
	}, nil
}

func (f *fake) Queries(_ context.Context, w Window) (QueryList, error) {
	return QueryList{Window: w, Rows: append([]QueryRow(nil), f.rows...)}, nil
}

func (f *fake) Query(_ context.Context, id string, w Window) (QueryDetail, error) {
	for _, r := range f.rows {
		if r.ID == id {
			return QueryDetail{Window: w, Row: r, Plan: "|--SCAN t\n", PlanAt: now,
				Rewrites: []Rewrite{{Rule: "case-fold", SQL: "SELECT 1", Verified: true, Note: "proved"}}}, nil
		}
	}
	return QueryDetail{}, ErrNotFound
}

func (f *fake) Space(context.Context, Window) (Space, error) {
	return Space{Size: 1 << 20, Objects: []SpaceObject{{Name: "t", Kind: "table", Table: "t", Bytes: 1 << 19, Rows: 10, Share: 0.5}}}, nil
}

func (f *fake) Connections(_ context.Context, w Window) (Connections, error) {
	return Connections{Window: w, Open: 4, InUse: 1, Idle: 3, Max: 32}, nil
}

func (f *fake) Maintenance(context.Context, Window) (Maintenance, error) {
	return Maintenance{Runs: []Run{{Name: "optimize", Status: OK}}, Advice: []Advice{{Name: "idx_t_a", CreateSQL: "CREATE INDEX idx_t_a ON t(a)"}}}, nil
}

func (f *fake) Alerts(_ context.Context, w Window) (Alerts, error) {
	return Alerts{Window: w, Events: []Alert{{At: now, Name: "error_rate", Firing: true, Value: "5%", Threshold: "1%", Message: "too many"}}}, nil
}

func (f *fake) Act(_ context.Context, a Action) (string, error) {
	f.acted = append(f.acted, a)
	return a.Name + " done", nil
}

func rowsN(n int) []QueryRow {
	rows := make([]QueryRow, n)
	for i := range rows {
		rows[i] = QueryRow{
			ID: fmt.Sprintf("fp%05d", i), Text: fmt.Sprintf("SELECT a, b, c FROM table_%d WHERE id = ? AND created_at >= ? ORDER BY b LIMIT ?", i),
			Summary: fmt.Sprintf("SELECT table_%d", i), Calls: uint64(1000 + i*7%500), Rows: uint64(i), Errors: uint64(i % 3),
			Total: time.Duration(i*37%1000) * time.Millisecond, Mean: time.Duration(i%90) * time.Microsecond,
			P50: time.Millisecond, P95: time.Duration(i%200) * time.Millisecond, P99: 3 * time.Millisecond, CacheHitRatio: 0.98, Scan: i%10 == 0,
		}
	}
	return rows
}

func get(t testing.TB, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

func TestPagesRender(t *testing.T) {
	h := New(&fake{rows: rowsN(5)}, Options{})
	for _, path := range []string{"/", "/queries", "/queries?window=14d&sort=p95", "/queries/fp00003", "/space", "/connections", "/maintenance", "/alerts"} {
		code, body := get(t, h, path)
		if code != http.StatusOK || !strings.Contains(body, "</html>") {
			t.Errorf("%s: %d\n%s", path, code, body)
		}
	}
	if code, _ := get(t, h, "/queries/nope"); code != http.StatusNotFound {
		t.Errorf("unknown fingerprint: %d", code)
	}
	if code, body := get(t, h, "/assets/style.css"); code != http.StatusOK || !strings.Contains(body, "svg.chart") {
		t.Errorf("style sheet: %d", code)
	}
	_, body := get(t, h, "/")
	if !strings.Contains(body, `<svg class="chart"`) || strings.Count(body, "<circle") != 60 {
		t.Errorf("the overview's chart is not drawn")
	}
	if !strings.Contains(body, `DROP INDEX IF EXISTS &#34;i_old&#34;`) {
		t.Errorf("the fix of a check is not shown, escaped")
	}
}

func TestSortingAndWindows(t *testing.T) {
	h := New(&fake{rows: rowsN(50)}, Options{})
	order := func(body string) []string {
		var ids []string
		for _, m := range regexp.MustCompile(`data-id="(fp\d+)"`).FindAllStringSubmatch(body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	_, byTotal := get(t, h, "/queries")
	_, byCalls := get(t, h, "/queries?sort=calls&order=desc")
	_, byCallsAsc := get(t, h, "/queries?sort=calls&order=asc")
	a, b, c := order(byTotal), order(byCalls), order(byCallsAsc)
	if len(a) != 50 || a[0] == b[0] || b[0] != c[len(c)-1] && b[0] != c[0] {
		t.Fatalf("sorting: total %v, calls %v", a[:3], b[:3])
	}
	rows := rowsN(50)
	sortRows(rows, "calls", true)
	if b[0] != rows[0].ID {
		t.Errorf("by calls: %s first, want %s", b[0], rows[0].ID)
	}
	// The header links toggle the order and keep the window.
	_, body := get(t, h, "/queries?window=24h&sort=calls&order=desc")
	if !strings.Contains(body, `href="?order=asc&amp;sort=calls&amp;window=24h"`) {
		t.Errorf("the calls header does not flip the order keeping the window")
	}
	if !strings.Contains(body, `class="current">last day</a>`) {
		t.Errorf("the window is not marked")
	}
	if !strings.Contains(body, `href="./queries/fp`) {
		t.Errorf("links to fingerprints are not relative")
	}
}

func TestActions(t *testing.T) {
	src := &fake{}
	post := func(h http.Handler, path string, form url.Values, headers map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	off := New(src, Options{})
	if rec := post(off, "/actions/checkpoint", nil, nil); rec.Code != http.StatusForbidden {
		t.Errorf("actions off: %d", rec.Code)
	}
	on := New(src, Options{Actions: true})
	if code, _ := get(t, on, "/actions/checkpoint"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action: %d", code)
	}
	// From another site: refused, whatever the form.
	if rec := post(on, "/actions/apply", url.Values{"index": {"idx_t_a"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", rec.Code)
	}
	if rec := post(on, "/actions/apply", url.Values{"index": {"idx_t_a"}}, map[string]string{"Origin": "https://evil.example"}); rec.Code != http.StatusForbidden {
		t.Errorf("POST from another origin: %d", rec.Code)
	}
	if len(src.acted) != 0 {
		t.Fatalf("a refused action ran: %+v", src.acted)
	}
	rec := post(on, "/actions/apply", url.Values{"index": {"idx_t_a"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "../maintenance?done=apply+done" {
		t.Errorf("same-origin POST: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if len(src.acted) != 1 || src.acted[0].Index != "idx_t_a" {
		t.Errorf("acted: %+v", src.acted)
	}
	_, body := get(t, on, "/maintenance?done=apply+done")
	if !strings.Contains(body, `action="./actions/apply"`) || !strings.Contains(body, "apply done") {
		t.Errorf("the maintenance page lacks its forms or the outcome")
	}
	_, body = get(t, off, "/maintenance")
	if strings.Contains(body, "<form") {
		t.Errorf("forms shown with actions off")
	}
}

func TestSecurityHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	New(&fake{}, Options{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	body, _ := io.ReadAll(rec.Body)
	if strings.Contains(string(body), "<script") || strings.Contains(string(body), "style=") || strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
		t.Errorf("the page has a script, an inline style or an external link")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtDuration(812), "812ns"}, {fmtDuration(14200 * time.Nanosecond), "14.2µs"}, {fmtDuration(3050 * time.Microsecond), "3.05ms"},
		{fmtDuration(1200 * time.Millisecond), "1.20s"}, {fmtDuration(125 * time.Second), "2m05s"},
		{fmtBytes(512), "512 B"}, {fmtBytes(4096), "4.00 KiB"}, {fmtBytes(12900000), "12.3 MiB"},
		{fmtCount(1234567), "1,234,567"}, {fmtCount(-1234), "-1,234"}, {fmtCount(12), "12"},
		{fmtPercent(0.1234), "12.3%"}, {fmtPercent(-1), "–"},
		{fmtAgo(now.Add(-3*time.Minute), now), "3 min ago"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// BenchmarkQueriesPage10k renders the queries page of 10,000
// fingerprints, sorted by p95: the page's own cost, whatever the source.
func BenchmarkQueriesPage10k(b *testing.B) {
	h := New(&fake{rows: rowsN(10000)}, Options{})
	req := httptest.NewRequest(http.MethodGet, "/queries?sort=p95", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

package webtest

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/migrate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chromium finds the browser: $CHROMIUM, else Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: install Debian's chromium (apt-get install chromium), or set CHROMIUM to a Chrome binary")
	return ""
}

// site is a trading database with a history of half an hour (a fast
// clock), its pages served by an httptest server.
type site struct {
	db     *sql.DB
	url    string
	data   trading.Data
	clock  *FastClock
	closed func()
}

func newSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "trading.db")
	// The schema without its secondary indexes and the data, loaded
	// before the history starts: the history is the workload's.
	d := trading.Data{Users: 500, Trades: 30000, Seed: 1}
	setup, err := qlsqlite.Open("file:"+filepath.ToSlash(path), qlsqlite.WithoutHistory())
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(setup, trading.Migrations, migrate.WithoutBackup())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := trading.Fill(ctx, setup, d, nil); err != nil {
		t.Fatal(err)
	}
	setup.Close()

	clock := NewFastClock(time.Now().Add(-time.Hour), 60) // a real second is a minute
	db, err := qlsqlite.Open("file:"+filepath.ToSlash(path),
		qlsqlite.WithClock(clock),
		qlsqlite.WithHistory(qlsqlite.HistoryPath(path)),
		qlsqlite.WithPool(qlsqlite.PoolConfig{MaxOpen: 8, MinOpen: 2}),
		qlsqlite.WithSlowQueryLog(0),
		qlsqlite.WithIntegrityEvery(0),
		qlsqlite.WithAlertThresholds(qlsqlite.AlertThresholds{QueryP95: 40 * time.Millisecond, ErrorRate: 0.002}),
		qlsqlite.WithAlertFunc(func(qlsqlite.Alert) {}), // on the Alerts page, not in the test's log
	)
	if err != nil {
		t.Fatal(err)
	}
	h, err := qlsqlite.Handler(db, qlsqlite.WithActions(true))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	s := &site{db: db, url: srv.URL + "/", data: d, clock: clock}
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return s
}

// work runs the trading workload with workers goroutines for d, and a
// duplicate user now and then (a constraint error, as a program sees).
func (s *site) work(t *testing.T, workers int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			w := trading.NewWorker(s.data, uint64(i+1))
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for ctx.Err() == nil {
				if r.IntN(300) == 0 {
					s.db.ExecContext(ctx, `INSERT INTO users (id, email) VALUES (?, ?)`, trading.UserID(1), "taken@example.com")
					continue
				}
				w.Run(ctx, s.db, w.Pick()) // cut short at the end: counted as the pages count it
			}
		})
	}
	wg.Wait()
}

// browser is a headless Chromium tab that records console errors.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == "assert" {
				b.mu.Lock()
				b.errors = append(b.errors, m.String()+" ("+m.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		<-done
		cancelAlloc()
	})
	return b
}

// do runs actions, failing the test on an error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs an action that returns a value.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// clean fails the test if the pages loaded since the last call logged an
// error.
func (b *browser) clean(page string) {
	b.t.Helper()
	b.mu.Lock()
	errs := b.errors
	b.errors = nil
	b.mu.Unlock()
	for _, e := range errs {
		b.t.Errorf("%s: %s", page, e)
	}
}

// open loads a page and waits for its main element.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("loading "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main")))
}

// evalInt returns the value of a JavaScript expression on the page.
func evalInt(b *browser, expr string) int {
	b.t.Helper()
	return get(b, "evaluating "+expr, chromedp.Evaluate[int](expr))
}

// chartsDrawn counts the charts drawn with at least one line or point
// that the browser laid out with a width.
const chartsDrawn = `Array.from(document.querySelectorAll('svg.chart')).filter(s =>
	s.getBoundingClientRect().width > 100 && s.querySelectorAll('polyline[points]:not([points=""]), circle').length > 0).length`

// screenshot keeps a picture of the page in $QLSQLITE_SCREENSHOTS, if set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := get(b, "screenshot of "+name, chromedp.FullScreenshot(100))
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		b.t.Fatalf("screenshot of %s: %d bytes, not a PNG", name, len(png))
	}
	if dir := os.Getenv("QLSQLITE_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "page-"+name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// column reads the numbers of a column of the queries table.
func column(b *browser, class string) []int {
	b.t.Helper()
	texts := get(b, "reading column "+class, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('td.`+class+`')).map(e => e.textContent)`))
	var out []int
	for _, s := range texts {
		n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
		if err != nil {
			b.t.Fatalf("column %s: %q is not a count", class, s)
		}
		out = append(out, n)
	}
	return out
}

func TestPagesInChromium(t *testing.T) {
	s := newSite(t)
	b := newBrowser(t)

	// Half an hour of the workload without the secondary indexes.
	s.work(t, 4, 20*time.Second)

	// The advice, computed in the background, offers the indexes; the
	// Maintenance page's form creates one (a same-origin POST).
	var created string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		b.open(s.url + "maintenance")
		if evalInt(b, `document.querySelectorAll('form[action$="actions/apply"]').length`) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no advised index on the Maintenance page after 2 minutes")
		}
		time.Sleep(500 * time.Millisecond) // a person reloading: the advice is computed in the background
	}
	b.do("creating the first advised index",
		chromedp.Click(chromedp.CSS(`form[action$="actions/apply"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.message`)))
	created = get(b, "reading the outcome", chromedp.Text(chromedp.CSS(`p.message`)))
	if !strings.HasPrefix(created, "created idx_") {
		t.Fatalf("applying the advice: %q", created)
	}
	waitLocation(b, "done=")
	b.clean("maintenance, apply")

	// Twenty more minutes with the index, then an integrity check.
	s.work(t, 4, 20*time.Second)
	if _, err := qlsqlite.CheckIntegrity(context.Background(), s.db); err != nil {
		t.Fatal(err)
	}

	// The other actions, as a person clicks them.
	for _, a := range []struct{ button, outcome string }{
		{`form[action$="actions/checkpoint"] button`, "checkpoint: "},
		{`form[action$="actions/optimize"] button`, "PRAGMA optimize ran"},
	} {
		b.open(s.url + "maintenance")
		b.do("clicking "+a.button, chromedp.Click(chromedp.CSS(a.button)))
		waitLocation(b, "done=")
		if got := get(b, "reading the outcome", chromedp.Text(chromedp.CSS(`p.message`))); !strings.HasPrefix(got, a.outcome) {
			t.Errorf("%s: %q", a.button, got)
		}
		b.clean("maintenance, " + a.outcome)
	}

	// Each page loads with no console error, and its charts are drawn.
	pages := []struct {
		name, path string
		charts     int
	}{
		{"overview", "", 2},
		{"queries", "queries?window=1h", 0},
		{"space", "space?window=1h", 1},
		{"connections", "connections?window=1h", 3},
		{"maintenance", "maintenance?window=1h", 1},
		{"alerts", "alerts?window=1h", 0},
	}
	for _, p := range pages {
		b.open(s.url + p.path)
		if got := evalInt(b, chartsDrawn); got < p.charts {
			t.Errorf("%s: %d charts drawn, want %d", p.name, got, p.charts)
		}
		if got := evalInt(b, `document.querySelectorAll('main table tbody tr, main figure').length`); got == 0 && p.name != "alerts" {
			t.Errorf("%s: nothing shown", p.name)
		}
		b.clean(p.name)
		b.screenshot(p.name)
	}

	// The alerts the low thresholds fired are listed.
	b.open(s.url + "alerts?window=1h")
	if got := evalInt(b, `document.querySelectorAll('table.alerts tr.failing').length`); got == 0 {
		t.Error("no alert fired in the last hour on the Alerts page")
	}

	// The page of the costliest fingerprint: its charts and plan.
	b.open(s.url + "queries?window=1h")
	b.do("opening the first fingerprint", chromedp.Click(chromedp.CSS(`td.text a`)), chromedp.WaitReady(chromedp.CSS(`section.charts`)))
	if got := evalInt(b, chartsDrawn); got < 2 {
		t.Errorf("fingerprint page: %d charts drawn, want 2", got)
	}
	b.clean("fingerprint")
	b.screenshot("query")

	// Sorting: the calls header sorts by calls, largest first, then
	// smallest first.
	b.open(s.url + "queries?window=all")
	b.do("sorting by calls", chromedp.Click(chromedp.CSS(`th a[href*="sort=calls"]`)))
	waitLocation(b, "sort=calls")
	desc := column(b, "calls")
	b.do("sorting by calls again", chromedp.Click(chromedp.CSS(`th a[href*="sort=calls"]`)))
	waitLocation(b, "order=asc")
	asc := column(b, "calls")
	if len(desc) < 5 || len(asc) != len(desc) {
		t.Fatalf("sorted columns: %v / %v", desc, asc)
	}
	for i := 1; i < len(desc); i++ {
		if desc[i] > desc[i-1] || asc[i] < asc[i-1] {
			t.Fatalf("not sorted: desc %v, asc %v", desc, asc)
		}
	}
	location := get(b, "reading the location", chromedp.Location())
	if !strings.Contains(location, "order=asc") || !strings.Contains(location, "window=all") {
		t.Errorf("the sort link lost the window or the order: %s", location)
	}
	b.clean("queries, sorted")

	// The time window: the last hour holds at most what the statistics
	// since the start hold, and says which window it is.
	allCalls := sum(column(b, "calls"))
	b.do("choosing the last hour", chromedp.Click(`//p[@class="windows"]/a[text()="last hour"]`))
	waitLocation(b, "window=1h")
	b.do("waiting for the table", chromedp.WaitReady(chromedp.CSS(`h1 .sub`)))
	label := get(b, "reading the heading", chromedp.Text(chromedp.CSS(`h1 .sub`)))
	current := get(b, "reading the window", chromedp.Text(chromedp.CSS(`p.windows a.current`)))
	hourCalls := sum(column(b, "calls"))
	if label != "last hour" || current != "last hour" {
		t.Errorf("window: heading %q, marked %q", label, current)
	}
	if hourCalls == 0 || hourCalls > allCalls {
		t.Errorf("calls in the last hour %d, since the start %d", hourCalls, allCalls)
	}
	location = get(b, "reading the location", chromedp.Location())
	if !strings.Contains(location, "sort=calls") || !strings.Contains(location, "window=1h") {
		t.Errorf("the window link lost the sort: %s", location)
	}
	b.clean("queries, window")

}

// waitLocation waits until the tab's location holds part: the click's
// navigation is done.
func waitLocation(b *browser, part string) {
	b.t.Helper()
	expr := `location.href.includes(` + strconv.Quote(part) + `) && document.readyState === "complete" && document.querySelector("footer") !== null`
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second)))
		cancel()
		if err == nil {
			return
		}
		// The navigation replaced the page the poll ran in: poll the new one.
	}
	b.t.Fatalf("waiting for a location with %s: %v", part, err)
}

func sum(v []int) (n int) {
	for _, x := range v {
		n += x
	}
	return n
}

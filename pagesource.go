package qlsqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quantumleap/qlsqlite/internal/history"
	"github.com/quantumleap/qlsqlite/internal/page"
)

// pageSource is the [page.Source] of a database: in this process, from
// live snapshots of its statistics and its history; or, for "qlsqlite
// serve", from the history another process writes and the database's
// file (stored).
type pageSource struct {
	d      *database
	db     *sql.DB
	o      *observability
	store  *history.Store // nil without a history
	stored bool           // the statistics are another process's, in store
	path   string         // the history file
	note   string         // why there is no history
	adv    *adviceCache

	cacheMu sync.Mutex
	cache   map[string]windowCache // by window name
}

// newPageSource returns the pages' source for db, starting its history if
// it has none yet (see [Handler]).
func newPageSource(ctx context.Context, d *database, db *sql.DB, cfg handlerConfig) (*pageSource, error) {
	s := &pageSource{d: d, db: db, o: d.obs}
	if cfg.stored != "" {
		s.adv = &adviceCache{s: s}
		store, err := history.Open(ctx, cfg.stored, history.Options{ReadOnly: true, Encryption: d.atRest, Database: d.obs.dialect.namespace()})
		if err != nil {
			return nil, fmt.Errorf("qlsqlite: %w", err)
		}
		if !d.onClose(func() { store.Close() }) {
			store.Close()
			return nil, errors.New("qlsqlite: the database is closed")
		}
		s.store, s.stored, s.path = store, true, cfg.stored
		return s, nil
	}
	h, note, err := d.ensureHistory(ctx, db)
	if err != nil {
		return nil, err
	}
	s.note = note
	if h != nil {
		s.store, s.path = h.store, h.store.Path()
	}
	// The advice of a database in this process is the same for every
	// Handler: one cache, computed once.
	d.mu.Lock()
	if d.advice == nil {
		d.advice = &adviceCache{s: s}
	}
	s.adv = d.advice
	d.mu.Unlock()
	return s, nil
}

// ensureHistory returns the database's history writer, starting it
// beside the database if none runs and none was turned off; without one,
// note says why.
func (d *database) ensureHistory(ctx context.Context, db *sql.DB) (h *historyWriter, note string, err error) {
	cfg := &d.obs.cfg
	if h := d.obs.history(); h != nil {
		return h, "", nil
	}
	if cfg.historyOff {
		return nil, "no history (_history=off): the pages show the statistics since the database was opened", nil
	}
	path := cfg.history
	if _, server := d.obs.dialect.(backendDialect); server && path == "" {
		return nil, "no history: a database server's has no default place (give one with _history=PATH)", nil
	}
	if path == "" {
		st, err := d.obs.dialect.storage(ctx, db)
		if err != nil {
			return nil, "", err
		}
		if st.InMemory {
			return nil, "no history: the database is in memory (give one with _history=PATH)", nil
		}
		if st.Path == "" { // a database server's: no file to keep it beside
			return nil, "no history: the database has no file to keep it beside (give one with _history=PATH)", nil
		}
		path = HistoryPath(st.Path)
	}
	h, err = d.startHistory(ctx, path)
	if err != nil {
		return nil, "", fmt.Errorf("%w (give the history another place with _history=PATH, or turn it off with _history=off)", err)
	}
	return h, "", nil
}

// onClose runs f when the database closes; false if it is closed already.
func (d *database) onClose(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
		return false
	default:
	}
	d.closers = append(d.closers, f)
	return true
}

// writer is the history writer of a live source, nil otherwise.
func (s *pageSource) writer() *historyWriter {
	if s.stored {
		return nil
	}
	return s.o.history()
}

func (s *pageSource) now() time.Time { return s.o.clock.Now() }

// About implements [page.Source].
func (s *pageSource) About(ctx context.Context) page.About {
	a := page.About{Database: s.o.dialect.namespace(), Now: s.now(), History: s.path, HistoryNote: s.note, Mode: "live"}
	// Live, the first (default) window is the statistics since the start,
	// as pg_stat_statements shows them; the history's windows follow.
	if !s.stored {
		a.Windows = append(a.Windows, page.WindowAll)
	}
	if s.store != nil {
		a.Windows = append(a.Windows, page.WindowHour, page.WindowDay, page.Window14d)
	}
	if h := s.writer(); h != nil {
		if e := h.lastErr.Load(); e != nil {
			a.HistoryNote = "writing the history failed: " + *e
		}
	}
	if s.stored {
		a.Mode = "another process's database"
		if p, ok, err := s.store.Latest(ctx); err == nil && ok {
			a.Mode += ", history written " + agoText(a.Now.Sub(p.At))
		} else if err == nil {
			a.Mode += ", nothing in its history yet"
		}
	}
	return a
}

func agoText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%.1f h ago", d.Hours())
}

// window returns the period a window covers, ending now.
func (s *pageSource) window(w page.Window) (from, to time.Time) {
	to = s.now()
	if w.Span == 0 {
		return s.o.since, to
	}
	return to.Add(-w.Span), to
}

// deltas returns what each fingerprint did in the window, by ID: from the
// live statistics for "all", else from the history, plus what happened
// since its last period.
func (s *pageSource) deltas(ctx context.Context, w page.Window) (map[string]*history.QueryDelta, error) {
	out := map[string]*history.QueryDelta{}
	if w.Span == 0 || s.store == nil {
		if s.stored {
			return out, nil
		}
		for _, r := range s.o.merged().recs {
			if d, ok := queryDelta(r, nil); ok {
				out[d.ID] = &d
			}
		}
		return out, nil
	}
	stored, err := s.windowRows(ctx, w)
	if err != nil {
		return nil, err
	}
	for id, d := range stored {
		out[id] = d
	}
	if h := s.writer(); h != nil {
		pending, _ := h.pending(s.o.merged())
		for i := range pending {
			p := &pending[i]
			if d, ok := out[p.ID]; ok {
				c := *d // the cached row stays as it is
				c.Errors = maps.Clone(c.Errors)
				c.Add(p)
				out[p.ID] = &c
			} else {
				out[p.ID] = p
			}
		}
	}
	return out, nil
}

// windowRows returns what the history holds for window w, by fingerprint:
// the window ending at the last period written (the live statistics add
// what happened since). The history changes once a period, so the result
// is kept until the next one: sorting the page again, or opening it twice
// in a minute, reads nothing again. The rows returned are shared: never
// change them.
func (s *pageSource) windowRows(ctx context.Context, w page.Window) (map[string]*history.QueryDelta, error) {
	end := s.now()
	if h := s.writer(); h != nil {
		end = h.written.Load().at
	} else if p, ok, err := s.store.Latest(ctx); err == nil && ok {
		end = p.At
	}
	s.cacheMu.Lock()
	c, ok := s.cache[w.Name]
	s.cacheMu.Unlock()
	if ok && c.end.Equal(end) {
		return c.rows, nil
	}
	qs, err := s.store.Queries(ctx, end.Add(-w.Span), end.Add(time.Millisecond))
	if err != nil {
		return nil, err
	}
	rows := make(map[string]*history.QueryDelta, len(qs))
	for i := range qs {
		rows[qs[i].ID] = &qs[i].QueryDelta
	}
	s.cacheMu.Lock()
	if s.cache == nil {
		s.cache = map[string]windowCache{}
	}
	s.cache[w.Name] = windowCache{end: end, rows: rows}
	s.cacheMu.Unlock()
	return rows, nil
}

// windowCache is the history's rows of a window, as of a period.
type windowCache struct {
	end  time.Time
	rows map[string]*history.QueryDelta
}

// plans returns the plans captured, rendered, by fingerprint ID.
func (s *pageSource) plans(ctx context.Context) map[string]history.Plan {
	if s.stored {
		p, err := s.store.Plans(ctx)
		if err != nil {
			return nil
		}
		return p
	}
	out := map[string]history.Plan{}
	for _, p := range s.d.planner.plans.Values() {
		out[p.Fingerprint.ID] = history.Plan{ID: p.Fingerprint.ID, CapturedAt: p.CapturedAt, SchemaVersion: p.SchemaVersion, Text: p.String()}
	}
	return out
}

// rowOf is a fingerprint's row of the queries page.
func rowOf(d *history.QueryDelta) page.QueryRow {
	r := page.QueryRow{
		ID: d.ID, Text: d.Text, Summary: d.Summary,
		Calls: d.Calls, Rows: d.Rows, Errors: d.ErrorCount(),
		Total: d.Total, Max: d.Max, Waited: d.Waited,
		P50: min(histQuantile(d.Hist, 0.50), maxOr(d.Max)), P95: min(histQuantile(d.Hist, 0.95), maxOr(d.Max)), P99: min(histQuantile(d.Hist, 0.99), maxOr(d.Max)),
		CacheHitRatio: -1,
	}
	if r.Summary == "" || r.Summary == "sqlite" {
		r.Summary = d.Text
	}
	if d.Calls > 0 {
		r.Mean = d.Total / time.Duration(d.Calls)
	}
	if n := d.Hits + d.Misses; n > 0 {
		r.CacheHitRatio = float64(d.Hits) / float64(n)
	}
	r.ErrorClasses = errorClasses(d.Errors)
	return r
}

// errorClasses prints errors by class: "performance 3, query 1".
func errorClasses(m map[string]uint64) string {
	var classes []string
	for _, c := range slices.Sorted(maps.Keys(m)) {
		classes = append(classes, fmt.Sprintf("%s %d", c, m[c]))
	}
	return strings.Join(classes, ", ")
}

// maxOr is d, or no bound when d is unknown (0).
func maxOr(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return d
}

// liveRows returns the rows of the statistics since the start, straight
// from the live records: their percentiles read from their histograms.
func (s *pageSource) liveRows() []page.QueryRow {
	recs := s.o.merged().recs
	rows := make([]page.QueryRow, 0, len(recs))
	for _, r := range recs {
		q := s.o.queryStatsNoPlan(r)
		row := page.QueryRow{
			ID: q.Fingerprint.ID, Text: q.Fingerprint.Text, Summary: r.meta.spanName,
			Calls: q.Calls, Rows: q.Rows, Errors: q.ErrorCount(),
			Total: q.Total, Mean: q.Mean, P50: q.P50, P95: q.P95, P99: q.P99, Max: q.Max, Waited: q.Waited,
			CacheHitRatio: -1,
		}
		if q.CacheHits+q.CacheMisses > 0 {
			row.CacheHitRatio = q.CacheHitRatio
		}
		if len(q.Errors) > 0 {
			row.ErrorClasses = errorClasses(q.Errors)
		}
		rows = append(rows, row)
	}
	return rows
}

// Queries implements [page.Source].
func (s *pageSource) Queries(ctx context.Context, w page.Window) (page.QueryList, error) {
	var rows []page.QueryRow
	if w.Span == 0 && !s.stored {
		rows = s.liveRows()
	} else {
		deltas, err := s.deltas(ctx, w)
		if err != nil {
			return page.QueryList{}, err
		}
		rows = make([]page.QueryRow, 0, len(deltas))
		for _, d := range deltas {
			rows = append(rows, rowOf(d))
		}
	}
	plans := s.plans(ctx)
	adv := s.adv.get()
	list := page.QueryList{Window: w, Rows: rows[:0]}
	for _, r := range rows {
		if p, ok := plans[r.ID]; ok {
			r.Plan = true
			r.Scan = strings.Contains(p.Text, "SCAN ") && len((Plan{Steps: planSteps(p.Text)}).Scans()) > 0
		}
		r.Advised, r.Rewrite = adv.advised[r.Text], adv.verified[r.ID]
		list.TotalTime += r.Total
		list.Rows = append(list.Rows, r)
	}
	list.Note = s.queriesNote(w, len(list.Rows))
	return list, nil
}

// planSteps reads the steps back from a rendered plan (one per line).
func planSteps(text string) []PlanStep {
	var steps []PlanStep
	for line := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		_, detail, _ := strings.Cut(line, "--")
		steps = append(steps, PlanStep{Detail: detail})
	}
	return steps
}

func (s *pageSource) queriesNote(w page.Window, n int) string {
	switch {
	case w.Span == 0 && !s.stored:
		_, ev := s.o.table.state()
		note := fmt.Sprintf("Since the statistics started, %s.", s.o.since.Local().Format("Jan 2 15:04:05"))
		if ev > 0 {
			note += fmt.Sprintf(" %d fingerprints were evicted since (at most %d are kept: _stats_max); their calls are in the totals only.", ev, s.o.table.max)
		}
		return note
	case s.store != nil && w.Span > 2*time.Hour:
		return "From the history: the hours rolled up, then the minutes since."
	}
	return ""
}

// Query implements [page.Source].
func (s *pageSource) Query(ctx context.Context, id string, w page.Window) (page.QueryDetail, error) {
	deltas, err := s.deltas(ctx, w)
	if err != nil {
		return page.QueryDetail{}, err
	}
	d, ok := deltas[id]
	if !ok {
		d, ok = s.known(ctx, id)
		if !ok {
			return page.QueryDetail{}, page.ErrNotFound
		}
	}
	qd := page.QueryDetail{Window: w, Row: rowOf(d)}
	if p, ok := s.plans(ctx)[id]; ok {
		qd.Plan, qd.PlanAt = p.Text, p.CapturedAt
	}
	if s.store != nil {
		from, to := s.window(w)
		pts, err := s.store.QuerySeries(ctx, id, from, to.Add(time.Millisecond))
		if err != nil {
			return qd, err
		}
		qd.Charts = queryCharts(pts)
	}
	adv := s.adv.get()
	qd.AdviceNote = adv.note
	for _, a := range adv.indexes {
		if slices.Contains(a.Queries, d.Text) && a.CreateSQL != "" {
			qd.Advice = append(qd.Advice, adviceView(a, d.Text))
		}
	}
	for _, r := range adv.rewrites[id] {
		qd.Rewrites = append(qd.Rewrites, page.Rewrite{Rule: r.Rule, SQL: r.SQL, Note: r.Note, Verified: r.Verified,
			Before: strings.Join(r.Before, "\n"), After: strings.Join(r.After, "\n")})
	}
	return qd, nil
}

// known returns an empty delta naming a fingerprint the statistics or the
// history know but that did not run in the window.
func (s *pageSource) known(ctx context.Context, id string) (*history.QueryDelta, bool) {
	if !s.stored {
		if r, ok := s.o.merged().recs[id]; ok {
			return &history.QueryDelta{ID: id, Text: r.fp.Text, Summary: r.meta.spanName}, true
		}
	}
	if s.store != nil {
		if text, summary, _, ok, err := s.store.Fingerprint(ctx, id); err == nil && ok {
			return &history.QueryDelta{ID: id, Text: text, Summary: summary}, true
		}
	}
	return nil, false
}

// queryCharts draws a fingerprint's calls and latency over time.
func queryCharts(pts []history.QueryPoint) []page.Chart {
	calls := page.Series{Name: "calls per minute"}
	errs := page.Series{Name: "errors per minute"}
	p95 := page.Series{Name: "p95"}
	p50 := page.Series{Name: "p50"}
	for _, p := range pts {
		minutes := max(p.Span.Minutes(), 1.0/60)
		calls.Points = append(calls.Points, page.Point{At: p.At, Value: float64(p.Calls) / minutes})
		errs.Points = append(errs.Points, page.Point{At: p.At, Value: float64(p.ErrorCount()) / minutes})
		p95.Points = append(p95.Points, page.Point{At: p.At, Value: min(histQuantile(p.Hist, 0.95), maxOr(p.Max)).Seconds()})
		p50.Points = append(p50.Points, page.Point{At: p.At, Value: min(histQuantile(p.Hist, 0.50), maxOr(p.Max)).Seconds()})
	}
	return []page.Chart{
		{Title: "calls per minute", Unit: page.PerMinute, Series: []page.Series{calls, errs}},
		{Title: "latency", Unit: page.Seconds, Series: []page.Series{p95, p50}},
	}
}

// Connections implements [page.Source].
func (s *pageSource) Connections(ctx context.Context, w page.Window) (page.Connections, error) {
	c := page.Connections{Window: w}
	if !s.stored {
		st := s.db.Stats()
		c.Open, c.InUse, c.Idle, c.Max = st.OpenConnections, st.InUse, st.Idle, st.MaxOpenConnections
		c.WaitCount, c.WaitDuration = st.WaitCount, st.WaitDuration
	}
	if s.store == nil {
		c.Note = s.note
		return c, nil
	}
	from, to := s.window(w)
	pts, err := s.store.DatabaseSeries(ctx, from, to.Add(time.Millisecond))
	if err != nil {
		return c, err
	}
	if s.stored && len(pts) > 0 {
		last := pts[len(pts)-1]
		c.Open, c.InUse, c.Idle, c.Max = int(last.Open+0.5), int(last.InUse+0.5), int(last.Idle+0.5), last.MaxOpen
		for _, p := range pts {
			c.WaitCount += p.WaitCount
			c.WaitDuration += p.WaitDuration
		}
		c.Note = "As of the history's last period; the waits are the window's."
	}
	open, inUse, idle, peak := page.Series{Name: "open"}, page.Series{Name: "in use"}, page.Series{Name: "idle"}, page.Series{Name: "most in use"}
	waits, waited := page.Series{Name: "waits per minute"}, page.Series{Name: "mean wait"}
	for _, p := range pts {
		open.Points = append(open.Points, page.Point{At: p.At, Value: p.Open})
		inUse.Points = append(inUse.Points, page.Point{At: p.At, Value: p.InUse})
		idle.Points = append(idle.Points, page.Point{At: p.At, Value: p.Idle})
		peak.Points = append(peak.Points, page.Point{At: p.At, Value: float64(p.MaxInUse)})
		waits.Points = append(waits.Points, page.Point{At: p.At, Value: float64(p.WaitCount) / max(p.Span.Minutes(), 1.0/60)})
		mean := 0.0
		if p.WaitCount > 0 {
			mean = (p.WaitDuration / time.Duration(p.WaitCount)).Seconds()
		}
		waited.Points = append(waited.Points, page.Point{At: p.At, Value: mean})
	}
	c.Charts = []page.Chart{
		{Title: "connections", Unit: page.Count, Series: []page.Series{open, inUse, idle, peak}},
		{Title: "waits for a connection", Unit: page.PerMinute, Series: []page.Series{waits}},
		{Title: "mean wait for a connection", Unit: page.Seconds, Series: []page.Series{waited}},
	}
	return c, nil
}

// Alerts implements [page.Source].
func (s *pageSource) Alerts(ctx context.Context, w page.Window) (page.Alerts, error) {
	a := page.Alerts{Window: w}
	if s.stored {
		firing, err := s.store.Firing(ctx)
		if err != nil {
			return a, err
		}
		for _, e := range firing {
			a.Firing = append(a.Firing, alertView(e))
		}
	} else {
		s.o.mu.Lock()
		m := s.o.monitor
		s.o.mu.Unlock()
		if m == nil {
			a.Note = "The database is not monitored: open it with qlsqlite.Open, or call qlsqlite.Monitor(db), to evaluate its alerts."
		} else {
			for _, al := range m.active() {
				a.Firing = append(a.Firing, alertView(alertEvent(al).alert))
			}
		}
	}
	if s.store == nil {
		a.Note = strings.TrimSpace(a.Note + " Without a history, only the alerts firing now are shown.")
		return a, nil
	}
	from, to := s.window(w)
	events, err := s.store.Alerts(ctx, from, to.Add(time.Millisecond), 1000)
	if err != nil {
		return a, err
	}
	for _, e := range events {
		a.Events = append(a.Events, alertView(e))
	}
	return a, nil
}

func alertView[E *history.AlertEvent | history.AlertEvent](ev E) page.Alert {
	var e history.AlertEvent
	switch v := any(ev).(type) {
	case *history.AlertEvent:
		e = *v
	case history.AlertEvent:
		e = v
	}
	return page.Alert{At: e.At, Name: e.Name, Firing: e.Firing, Value: alertValue(e.Name, e.Value), Threshold: alertValue(e.Name, e.Threshold), Message: e.Message}
}

// alertValue prints an alert's value in its unit.
func alertValue(name string, v float64) string {
	switch name {
	case AlertQueryP95, AlertLockWait:
		return time.Duration(v * float64(time.Second)).Round(time.Microsecond).String()
	case AlertPoolUsage:
		return fmt.Sprintf("%.1f%%", 100*v)
	case AlertErrorRate:
		return fmt.Sprintf("%.2f%%", 100*v)
	case AlertDatabaseSize:
		return fmt.Sprintf("%.1f MB", v/1e6)
	}
	return fmt.Sprintf("%g", v)
}

// adviceView is an index advice as the pages show it, with the plans of
// the statement text, or of the first statement.
func adviceView(a IndexAdvice, text string) page.Advice {
	v := page.Advice{Name: a.Name, Table: a.Table, CreateSQL: a.CreateSQL, Queries: a.Queries}
	for _, p := range a.Plans {
		if p.Query == text || text == "" {
			v.Before, v.After = p.Before, p.After
			break
		}
	}
	if v.Before == "" && len(a.Plans) > 0 {
		v.Before, v.After = a.Plans[0].Before, a.Plans[0].After
	}
	return v
}

// sortedDeltas returns the deltas, the largest total time first.
func sortedDeltas(m map[string]*history.QueryDelta) []*history.QueryDelta {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b *history.QueryDelta) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// closedSource is the pages' source: once the database is closed, a
// page's error says so and answers 503 (page.ErrUnavailable), as /healthz
// does, not 500.
type closedSource struct{ *pageSource }

// closedErr wraps err in page.ErrUnavailable when the database is closed.
func (s closedSource) closedErr(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-s.d.done:
		return fmt.Errorf("%w: the database is closed", page.ErrUnavailable)
	default:
		return err
	}
}

func (s closedSource) Overview(ctx context.Context) (page.Overview, error) {
	o, err := s.pageSource.Overview(ctx)
	return o, s.closedErr(err)
}

func (s closedSource) Queries(ctx context.Context, w page.Window) (page.QueryList, error) {
	l, err := s.pageSource.Queries(ctx, w)
	return l, s.closedErr(err)
}

func (s closedSource) Query(ctx context.Context, id string, w page.Window) (page.QueryDetail, error) {
	q, err := s.pageSource.Query(ctx, id, w)
	if errors.Is(err, page.ErrNotFound) {
		return q, err
	}
	return q, s.closedErr(err)
}

func (s closedSource) Space(ctx context.Context, w page.Window) (page.Space, error) {
	sp, err := s.pageSource.Space(ctx, w)
	return sp, s.closedErr(err)
}

func (s closedSource) Connections(ctx context.Context, w page.Window) (page.Connections, error) {
	c, err := s.pageSource.Connections(ctx, w)
	return c, s.closedErr(err)
}

func (s closedSource) Maintenance(ctx context.Context, w page.Window) (page.Maintenance, error) {
	m, err := s.pageSource.Maintenance(ctx, w)
	return m, s.closedErr(err)
}

func (s closedSource) Alerts(ctx context.Context, w page.Window) (page.Alerts, error) {
	a, err := s.pageSource.Alerts(ctx, w)
	return a, s.closedErr(err)
}

func (s closedSource) Act(ctx context.Context, a page.Action) (string, error) {
	msg, err := s.pageSource.Act(ctx, a)
	return msg, s.closedErr(err)
}

package qlsqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quantumleap/qlsqlite/internal/page"
)

// The overview's checks, each ok, warning or failing, with what to do.

// WAL thresholds of the overview's check.
const (
	walWarnBytes = 64 << 20 // a WAL this large is worth a look
	walFailBytes = 1 << 30
	// A WAL that grew by this much over starvationWindow without ever
	// shrinking is not being reset by checkpoints.
	starvationGrowth = 4 << 20
	starvationWindow = 30 * time.Minute
)

// freePagesWarn is the share of free pages from which VACUUM is worth it.
const freePagesWarn = 0.2

// Overview implements [page.Source].
func (s *pageSource) Overview(ctx context.Context) (page.Overview, error) {
	var ov page.Overview
	adv := s.adv.get()
	st, stErr := s.o.dialect.storage(ctx, s.db)
	readings, firing, judged := s.readings(ctx)
	th := s.o.cfg.thresholds
	for _, name := range []string{AlertQueryP95, AlertPoolUsage, AlertDatabaseSize, AlertErrorRate, AlertLockWait} {
		ov.Checks = append(ov.Checks, thresholdCheck(name, readings[name], firing[name], judged, th))
	}
	ov.Checks = append(ov.Checks,
		s.breakerCheck(ctx),
		s.walCheck(ctx, st, stErr),
		statisticsCheck(adv),
		unusedCheck(adv),
		redundantCheck(adv),
		suggestedCheck(adv),
		freePagesCheck(st, stErr),
		s.integrityCheck(ctx),
	)
	if h := s.writer(); h != nil {
		ov.Checks = append(ov.Checks, historyCheck(h))
	}
	ov.Stats = s.headline(ctx, st)
	if s.store != nil {
		now := s.now()
		pts, err := s.store.DatabaseSeries(ctx, now.Add(-time.Hour), now.Add(time.Millisecond))
		if err != nil {
			return ov, err
		}
		calls, errs, inUse := page.Series{Name: "calls"}, page.Series{Name: "errors"}, page.Series{Name: "connections in use"}
		for _, p := range pts {
			minutes := max(p.Span.Minutes(), 1.0/60)
			calls.Points = append(calls.Points, page.Point{At: p.At, Value: float64(p.Calls) / minutes})
			errs.Points = append(errs.Points, page.Point{At: p.At, Value: float64(p.Errors) / minutes})
			inUse.Points = append(inUse.Points, page.Point{At: p.At, Value: p.InUse})
		}
		ov.Charts = []page.Chart{
			{Title: "calls per minute, last hour", Unit: page.PerMinute, Series: []page.Series{calls, errs}},
			{Title: "connections in use, last hour", Unit: page.Count, Series: []page.Series{inUse}},
		}
	}
	return ov, nil
}

// readings returns the alerts' last readings and which alerts fire;
// judged says the readings exist (a monitor evaluated, or a history
// holds the window).
func (s *pageSource) readings(ctx context.Context) (map[string]reading, map[string]bool, bool) {
	firing := map[string]bool{}
	if s.stored {
		events, err := s.store.Firing(ctx)
		if err == nil {
			for _, e := range events {
				firing[e.Name] = true
			}
		}
		r, ok := s.storedReadings(ctx)
		return r, firing, ok
	}
	s.o.mu.Lock()
	m := s.o.monitor
	s.o.mu.Unlock()
	if m == nil {
		return nil, firing, false
	}
	for _, a := range m.active() {
		firing[a.Name] = true
	}
	r := m.lastReadings()
	return r, firing, r != nil
}

// storedReadings judges the alert window that ends at the history's last
// period, as the monitor of the process that wrote it would have.
func (s *pageSource) storedReadings(ctx context.Context) (map[string]reading, bool) {
	last, ok, err := s.store.Latest(ctx)
	if err != nil || !ok {
		return nil, false
	}
	th := s.o.cfg.thresholds
	from, to := last.At.Add(-th.Window), last.At.Add(time.Millisecond)
	pts, err := s.store.DatabaseSeries(ctx, from, to)
	if err != nil {
		return nil, false
	}
	var delta totals
	var utils []float64
	for _, p := range pts {
		delta.merge(totals{calls: p.Calls, errors: p.Errors, waitedCalls: p.WaitedCalls, waited: p.Waited})
		if p.MaxOpen > 0 {
			utils = append(utils, p.InUse/float64(p.MaxOpen))
		}
	}
	out := map[string]reading{
		AlertPoolUsage:    poolUsageReading(th, utils),
		AlertErrorRate:    errorRateReading(th, delta),
		AlertLockWait:     lockWaitReading(th, delta),
		AlertDatabaseSize: databaseSizeReading(th, monSample{size: last.SizeBytes}),
	}
	qs, err := s.store.Queries(ctx, from, to)
	if err == nil {
		cur := monSample{hists: map[string]*histogram{}, fps: map[string]Fingerprint{}}
		for _, q := range qs {
			cur.hists[q.ID] = toHistogram(q.Hist)
			cur.fps[q.ID] = Fingerprint{ID: q.ID, Text: q.Text}
		}
		out[AlertQueryP95] = queryP95Reading(th, cur, nil, nil)
	}
	return out, true
}

// thresholdCheck is the check of one alert threshold.
func thresholdCheck(name string, r reading, firing, judged bool, th AlertThresholds) page.Check {
	labels := map[string]string{
		AlertQueryP95:     "query p95",
		AlertPoolUsage:    "connection pool use",
		AlertDatabaseSize: "database size",
		AlertErrorRate:    "error rate",
		AlertLockWait:     "lock wait",
	}
	links := map[string]string{
		AlertQueryP95:     "queries?sort=p95",
		AlertPoolUsage:    "connections",
		AlertDatabaseSize: "space",
		AlertErrorRate:    "queries?sort=errors",
		AlertLockWait:     "queries?sort=wait",
	}
	c := page.Check{Name: labels[name], Link: links[name]}
	switch {
	case !judged:
		c.Status, c.Detail = page.Unknown, "No monitor has judged it: open the database with qlsqlite.Open, or call qlsqlite.Monitor(db)."
		return c
	case r.threshold <= 0:
		c.Status, c.Detail = page.Unknown, "This alert is turned off (WithAlertThresholds)."
		return c
	case !r.ok:
		c.Status = page.Unknown
		c.Detail = fmt.Sprintf("Not enough data in the last %v to judge (threshold %s).", th.Window, alertValue(name, r.threshold))
		if firing {
			c.Status = page.Failing
		}
		return c
	}
	c.Value = alertValue(name, r.value)
	c.Detail = r.message
	switch {
	case firing || r.value >= r.threshold:
		c.Status = page.Failing
	case r.value >= 0.8*r.threshold:
		c.Status = page.Warning
	default:
		c.Status = page.OK
	}
	for _, fp := range r.fps[:min(len(r.fps), 5)] {
		c.Items = append(c.Items, page.CheckItem{Text: fp.Text, Link: "queries/" + fp.ID})
	}
	if len(c.Items) > 0 { // the message lists them too: keep its first part
		c.Detail, _, _ = strings.Cut(c.Detail, "): ")
		c.Detail += "); over it:"
	}
	return c
}

func (s *pageSource) breakerCheck(ctx context.Context) page.Check {
	c := page.Check{Name: "circuit breaker", Link: "connections"}
	state := s.d.breakerState()
	if s.stored {
		state = ""
		if p, ok, err := s.store.Latest(ctx); err == nil && ok {
			state = p.Breaker
		}
	}
	c.Value = state
	switch state {
	case "closed":
		c.Status, c.Detail = page.OK, "Calls go through."
	case "half-open":
		c.Status, c.Detail = page.Warning, "Trial calls only, after storage failures."
	case "open":
		c.Status, c.Detail = page.Failing, "Calls are refused: storage failures (I/O errors, full disk, corruption) opened it."
	default:
		c.Status, c.Value, c.Detail = page.Unknown, "none", "The database has no circuit breaker (_breaker=off)."
	}
	return c
}

// walCheck judges the WAL's size, and whether checkpoints keep resetting
// it: a WAL that only grows means a reader holds an old snapshot open.
func (s *pageSource) walCheck(ctx context.Context, st StorageStats, err error) page.Check {
	c := page.Check{Name: "WAL and checkpoints", Link: "maintenance"}
	if err != nil {
		c.Status, c.Detail = page.Unknown, err.Error()
		return c
	}
	if st.InMemory {
		c.Status, c.Value, c.Detail = page.OK, "none", "The database is in memory."
		return c
	}
	c.Value = fmtSize(st.WALBytes)
	c.Status, c.Detail = page.OK, "Checkpoints keep the write-ahead log small."
	if starved, grew := s.walStarved(ctx); starved {
		c.Status = page.Warning
		c.Detail = fmt.Sprintf("The WAL grew by %s over the last %v and never shrank: checkpoints cannot reset it while a read transaction stays open (a long query, rows not closed).", fmtSize(grew), starvationWindow)
	}
	switch {
	case st.WALBytes >= walFailBytes:
		c.Status = page.Failing
		c.Detail = "The WAL is over 1 GiB: every read searches it, and it is copied back at the next checkpoint. " + c.Detail
	case st.WALBytes >= s.walWarnAt() && c.Status == page.OK:
		c.Status = page.Warning
		c.Detail = fmt.Sprintf("The WAL is over %s: a checkpoint (Maintenance) empties it once no reader needs it.", fmtSize(s.walWarnAt()))
	}
	return s.keeperCheck(c)
}

// walWarnAt is the WAL size the overview warns at: this process's keeper's
// limit when it has one, else walWarnBytes.
func (s *pageSource) walWarnAt() int64 {
	if s.live() && s.d.wal != nil {
		if l := s.d.walStats().Limit; l > 0 {
			return l
		}
	}
	return walWarnBytes
}

// walStarved reports whether the history shows the WAL growing without a
// checkpoint resetting it, and by how much.
func (s *pageSource) walStarved(ctx context.Context) (bool, int64) {
	if s.store == nil {
		return false, 0
	}
	now := s.now()
	pts, err := s.store.DatabaseSeries(ctx, now.Add(-starvationWindow), now.Add(time.Millisecond))
	if err != nil || len(pts) < 5 {
		return false, 0
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].WALBytes < pts[i-1].WALBytes || pts[i].WALBytes < 0 {
			return false, 0
		}
	}
	grew := pts[len(pts)-1].WALBytes - pts[0].WALBytes
	return grew >= starvationGrowth, grew
}

func statisticsCheck(adv adviceState) page.Check {
	c := page.Check{Name: "planner statistics", Link: "maintenance"}
	if adv.audit == nil {
		c.Status, c.Detail = page.Unknown, adv.note
		return c
	}
	missing, stale := 0, 0
	for _, s := range adv.audit.Statistics {
		if s.Stale {
			stale++
		} else {
			missing++
		}
		what := "table " + s.Table
		if s.Index != "" {
			what = "index " + s.Index + " of " + s.Table
		}
		state := "missing"
		if s.Stale {
			state = "stale"
		}
		c.Items = append(c.Items, page.CheckItem{Text: what + ": " + state, Code: s.Fix})
	}
	c.Value = fmt.Sprintf("%d missing, %d stale", missing, stale)
	if missing+stale == 0 {
		c.Status, c.Detail = page.OK, "Every table and index has statistics (sqlite_stat1) the planner can trust."
		return c
	}
	c.Status = page.Warning
	c.Detail = "The planner guesses without statistics: run the fix, or let qlsqlite's PRAGMA optimize (hourly by default) do it."
	c.Items = c.Items[:min(len(c.Items), 10)]
	return c
}

func unusedCheck(adv adviceState) page.Check {
	c := page.Check{Name: "unused indexes", Link: "space"}
	if adv.audit == nil {
		c.Status, c.Detail = page.Unknown, adv.note
		return c
	}
	if adv.audit.PlansSeen == 0 {
		c.Status, c.Detail = page.Unknown, "No query plan captured yet to judge index use by."
		return c
	}
	for _, i := range adv.audit.Unused {
		c.Items = append(c.Items, page.CheckItem{Text: i.Index + " on " + i.Table, Code: i.DropSQL})
	}
	c.Value = fmt.Sprint(len(adv.audit.Unused))
	if len(c.Items) == 0 {
		c.Status, c.Detail = page.OK, fmt.Sprintf("Every index is read by one of the %d plans captured.", adv.audit.PlansSeen)
		return c
	}
	c.Status = page.Warning
	c.Detail = fmt.Sprintf("No plan of the %d captured reads these: each costs every write and its space. A plan does not show an index read for a foreign key or a trigger: review before dropping.", adv.audit.PlansSeen)
	return c
}

func redundantCheck(adv adviceState) page.Check {
	c := page.Check{Name: "redundant indexes", Link: "space"}
	if adv.audit == nil {
		c.Status, c.Detail = page.Unknown, adv.note
		return c
	}
	for _, i := range adv.audit.Redundant {
		c.Items = append(c.Items, page.CheckItem{Text: i.Index + " on " + i.Table + ": " + i.CoveredBy + " serves it", Code: i.DropSQL})
	}
	c.Value = fmt.Sprint(len(adv.audit.Redundant))
	if len(c.Items) == 0 {
		c.Status, c.Detail = page.OK, "No index is a prefix of another."
		return c
	}
	c.Status, c.Detail = page.Warning, "Another index serves every query these serve."
	return c
}

func suggestedCheck(adv adviceState) page.Check {
	c := page.Check{Name: "suggested indexes", Link: "maintenance"}
	if adv.at.IsZero() {
		c.Status, c.Detail = page.Unknown, adv.note
		return c
	}
	rewrites := 0
	for _, a := range adv.indexes {
		rewrites += len(a.Rewrites)
		if a.CreateSQL == "" {
			continue
		}
		statements := "1 statement"
		if len(a.Queries) != 1 {
			statements = fmt.Sprintf("%d statements", len(a.Queries))
		}
		item := page.CheckItem{Text: fmt.Sprintf("%s: helps %s (%v in total)", a.Name, statements, a.Total.Round(time.Millisecond)), Code: a.CreateSQL}
		if len(a.Queries) > 0 {
			item.Link = "queries/" + FingerprintOf(a.Queries[0]).ID
		}
		c.Items = append(c.Items, item)
	}
	c.Value = fmt.Sprint(len(c.Items))
	switch {
	case len(c.Items) > 0:
		c.Status = page.Warning
		c.Detail = "Verified with SQLite's planner against the captured workload: each turns a scan into a search or removes a sort."
	default:
		c.Status, c.Detail = page.OK, "No index would help the costliest statements."
	}
	if rewrites > 0 {
		c.Detail += fmt.Sprintf(" %d verified query rewrites too (see the queries marked).", rewrites)
	}
	if adv.note != "" {
		c.Detail += " " + adv.note
	}
	return c
}

func freePagesCheck(st StorageStats, err error) page.Check {
	c := page.Check{Name: "free pages", Link: "space"}
	if err != nil {
		c.Status, c.Detail = page.Unknown, err.Error()
		return c
	}
	free := st.FreelistPages * st.PageSize
	c.Value = fmt.Sprintf("%s (%.1f%%)", fmtSize(free), 100*st.FreeRatio())
	if st.FreeRatio() >= freePagesWarn && free >= 1<<20 {
		c.Status = page.Warning
		c.Detail = "Deleted rows left these pages free: SQLite reuses them, and VACUUM (or PRAGMA incremental_vacuum with auto_vacuum) gives them back to the disk."
		return c
	}
	c.Status, c.Detail = page.OK, "Under 20% of the file, or under 1 MB: not worth a VACUUM."
	return c
}

// integrityCheck reports the last integrity check: the live one, or the
// last the history recorded.
func (s *pageSource) integrityCheck(ctx context.Context) page.Check {
	c := page.Check{Name: "last integrity check", Link: "maintenance"}
	now := s.now()
	every := s.o.cfg.integrityEvery
	if s.stored {
		ev, err := s.store.Events(ctx, "integrity", 1)
		if err != nil || len(ev) == 0 {
			c.Status, c.Value, c.Detail = page.Unknown, "never", "The history holds no integrity check: qlsqlite health --integrity checks now."
			return c
		}
		c.Value = agoText(now.Sub(ev[0].At))
		c.Detail = ev[0].Detail
		switch {
		case strings.HasSuffix(ev[0].Detail, ": ok"):
			c.Status = page.OK
		case strings.Contains(ev[0].Detail, "problems"):
			c.Status = page.Failing
		default:
			c.Status = page.Warning
		}
		return c
	}
	last, judged := s.o.lastIntegrity()
	if last == nil {
		c.Status, c.Value = page.Warning, "never"
		c.Detail = "Not checked since the database was opened: the monitor checks within the hour of its start (_integrity_every), qlsqlite health --integrity checks now."
		if every == 0 {
			c.Detail = "Not checked since the database was opened, and no check is scheduled (_integrity_every=0): qlsqlite health --integrity checks now."
		}
		return c
	}
	c.Value = agoText(now.Sub(last.At))
	switch {
	case judged != nil && len(judged.Problems) > 0:
		c.Status = page.Failing
		c.Detail = fmt.Sprintf("%d problems: %s", len(judged.Problems), judged.summary())
	case last.Err != "":
		c.Status, c.Detail = page.Warning, "Did not complete: "+last.Err
	case every > 0 && now.Sub(last.At) > 2*every:
		c.Status, c.Detail = page.Warning, fmt.Sprintf("Older than twice the schedule (%v).", every)
	default:
		c.Status, c.Detail = page.OK, fmt.Sprintf("%d tables checked in %v, no problem.", last.Tables, last.Took.Round(time.Millisecond))
	}
	return c
}

func historyCheck(h *historyWriter) page.Check {
	c := page.Check{Name: "statistics history", Value: "writing"}
	if e := h.lastErr.Load(); e != nil {
		c.Status, c.Value, c.Detail = page.Warning, "failing", *e
		return c
	}
	c.Status, c.Detail = page.OK, "A period a minute into "+h.store.Path()+"."
	if n := h.dropped.Load(); n > 0 {
		c.Detail += fmt.Sprintf(" %d events were dropped: the writer could not keep up.", n)
	}
	return c
}

// headline is the overview's figures.
func (s *pageSource) headline(ctx context.Context, st StorageStats) []page.Stat {
	var out []page.Stat
	add := func(label, value string) { out = append(out, page.Stat{Label: label, Value: value}) }
	if s.stored {
		p, ok, err := s.store.Latest(ctx)
		if err != nil || !ok {
			return nil
		}
		minutes := max(p.Span.Minutes(), 1.0/60)
		add("calls/min (last period)", fmt.Sprintf("%.0f", float64(p.Calls)/minutes))
		add("errors (last period)", fmt.Sprint(p.Errors))
		add("database", fmtSize(st.SizeBytes))
		add("WAL", fmtSize(st.WALBytes))
		add("connections in use", fmt.Sprintf("%.0f of %d", p.InUse, p.MaxOpen))
		add("fingerprints", fmt.Sprint(p.Fingerprints))
		return out
	}
	snap := s.o.snapshot(ctx, s.db)
	ds := snap.Database
	add("calls/s", fmt.Sprintf("%.1f", ds.OpsPerSecond))
	add("error rate", fmt.Sprintf("%.2f%%", 100*ds.ErrorRate))
	add("database", fmtSize(ds.Storage.SizeBytes))
	add("WAL", fmtSize(ds.Storage.WALBytes))
	limit := "no limit"
	if ds.Pool.MaxOpenConnections > 0 {
		limit = fmt.Sprint(ds.Pool.MaxOpenConnections)
	}
	add("connections in use", fmt.Sprintf("%d of %s", ds.Pool.InUse, limit))
	add("fingerprints", fmt.Sprintf("%d of %d", ds.Fingerprints, ds.MaxFingerprints))
	return out
}

// fmtSize prints bytes for a check, in powers of 1024: 4.0 MiB.
func fmtSize(n int64) string {
	switch {
	case n < 0:
		return "?"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

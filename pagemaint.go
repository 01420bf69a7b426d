package qlsqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/quantumleap/qlsqlite/internal/page"
)

// The Space and Maintenance pages, and the actions: what the pages read
// from the database's file through the dialect, and the only code of the
// pages that changes anything.

// Space implements [page.Source].
func (s *pageSource) Space(ctx context.Context, w page.Window) (page.Space, error) {
	st, err := s.o.dialect.storage(ctx, s.db)
	if err != nil {
		return page.Space{}, err
	}
	sp := page.Space{Size: st.SizeBytes, WAL: st.WALBytes, Free: st.FreelistPages * st.PageSize, PageSize: st.PageSize}
	objs, method, err := s.o.dialect.space(ctx, s.db)
	sp.Method = method
	if err != nil {
		sp.Method = err.Error()
	}
	var total int64
	for _, o := range objs {
		total += o.Bytes
	}
	for _, o := range objs {
		share := 0.0
		if total > 0 {
			share = float64(o.Bytes) / float64(total)
		}
		sp.Objects = append(sp.Objects, page.SpaceObject{Name: o.Name, Kind: o.Kind, Table: o.Table, Bytes: o.Bytes, Rows: o.Rows, Share: share})
	}
	if s.store == nil {
		return sp, nil
	}
	from, to := s.window(w)
	pts, err := s.store.DatabaseSeries(ctx, from, to.Add(time.Millisecond))
	if err != nil {
		return sp, err
	}
	size, wal := page.Series{Name: "database"}, page.Series{Name: "WAL"}
	var first, last *page.Point
	for _, p := range pts {
		if p.SizeBytes < 0 {
			continue
		}
		size.Points = append(size.Points, page.Point{At: p.At, Value: float64(p.SizeBytes)})
		wal.Points = append(wal.Points, page.Point{At: p.At, Value: float64(max(p.WALBytes, 0))})
	}
	if n := len(size.Points); n > 1 {
		first, last = &size.Points[0], &size.Points[n-1]
		if span := last.At.Sub(first.At); span >= time.Hour {
			sp.Growth = true
			sp.GrowthPerDay = int64((last.Value - first.Value) / span.Hours() * 24)
		}
	}
	sp.Charts = []page.Chart{{Title: "size", Unit: page.Bytes, Series: []page.Series{size, wal}}}
	return sp, nil
}

// Maintenance implements [page.Source].
func (s *pageSource) Maintenance(ctx context.Context, w page.Window) (page.Maintenance, error) {
	var m page.Maintenance
	m.Runs = append(m.Runs, s.optimizeRun(ctx))
	ic := s.integrityCheck(ctx)
	integrity := page.Run{Name: "integrity check", Status: ic.Status, Detail: ic.Detail}
	if s.stored {
		if ev, err := s.store.Events(ctx, "integrity", 1); err == nil && len(ev) > 0 {
			integrity.At = ev[0].At
		}
	} else if last, _ := s.o.lastIntegrity(); last != nil {
		integrity.At = last.At
	}
	m.Runs = append(m.Runs, integrity)
	checkpoint := page.Run{Name: "checkpoint (from these pages)", Status: page.Unknown, Detail: "None yet. A checkpoint copies the WAL into the database; qlsqlite's WAL keeper (below) or SQLite's auto-checkpoint run them by themselves, and the WAL file grows only while a reader keeps them from resetting it."}
	if s.store != nil {
		if ev, err := s.store.Events(ctx, "checkpoint", 1); err == nil && len(ev) > 0 {
			checkpoint.At, checkpoint.Detail, checkpoint.Status = ev[0].At, ev[0].Detail, page.OK
		}
	}
	m.Runs = append(m.Runs, checkpoint)
	if r, ok := s.walKeeperRun(); ok {
		m.Runs = append(m.Runs, r)
	}
	if r, ok := s.groupCommitRun(); ok {
		m.Runs = append(m.Runs, r)
	}

	adv := s.adv.get()
	if adv.audit != nil {
		for _, st := range adv.audit.Statistics {
			state := "missing"
			if st.Stale {
				state = "stale"
			}
			what := st.Table
			if st.Index != "" {
				what = st.Index + " of " + st.Table
			}
			m.Statistics = append(m.Statistics, page.CheckItem{Text: what + ": " + state, Code: st.Fix})
		}
	}
	m.AdviceNote = adv.note
	for _, a := range adv.indexes {
		if a.CreateSQL != "" {
			m.Advice = append(m.Advice, adviceView(a, ""))
		}
	}

	if st, err := s.o.dialect.storage(ctx, s.db); err == nil {
		m.WAL, m.Size = st.WALBytes, st.SizeBytes
	}
	if s.store == nil {
		return m, nil
	}
	from, to := s.window(w)
	pts, err := s.store.DatabaseSeries(ctx, from, to.Add(time.Millisecond))
	if err != nil {
		return m, err
	}
	wal := page.Series{Name: "WAL"}
	for _, p := range pts {
		if p.WALBytes >= 0 {
			wal.Points = append(wal.Points, page.Point{At: p.At, Value: float64(p.WALBytes)})
		}
	}
	m.Charts = []page.Chart{{Title: "WAL file size (it grows only while checkpoints cannot reset it; a TRUNCATE checkpoint shrinks it)", Unit: page.Bytes, Series: []page.Series{wal}}}
	events, err := s.store.Events(ctx, "", 100)
	if err != nil {
		return m, err
	}
	for _, e := range events {
		if !e.At.Before(from) || w.Span == 0 {
			m.Events = append(m.Events, page.Event{At: e.At, Kind: e.Kind, Detail: e.Detail})
		}
	}
	return m, nil
}

// optimizeRun is the last periodic PRAGMA optimize.
func (s *pageSource) optimizeRun(ctx context.Context) page.Run {
	r := page.Run{Name: "PRAGMA optimize (planner statistics)", Status: page.Unknown}
	if s.stored {
		ev, err := s.store.Events(ctx, "optimize", 1)
		if err != nil || len(ev) == 0 {
			r.Detail = "The history holds no run."
			return r
		}
		r.At, r.Detail, r.Status = ev[0].At, ev[0].Detail, page.OK
		if strings.Contains(ev[0].Detail, ": ") {
			r.Status = page.Warning
		}
		return r
	}
	cfg := &s.d.cfg
	if !cfg.optimize {
		r.Detail = "Statistics upkeep is off (_optimize=off)."
		return r
	}
	run := s.d.optimized.Load()
	if run == nil {
		r.Detail = fmt.Sprintf("Each connection runs it when it opens and closes; the database runs it every %v (_optimize_every), the first time one interval after the first connection.", cfg.optimizeEvery)
		return r
	}
	r.At = run.At
	r.Detail = fmt.Sprintf("took %v; next within %v", run.Took.Round(time.Millisecond), cfg.optimizeEvery)
	r.Status = page.OK
	if run.Err != "" {
		r.Status, r.Detail = page.Warning, run.Err
	}
	return r
}

// Act implements [page.Source]: the page's actions, only reached when
// [WithActions] is on, for a POST from the pages' own origin.
func (s *pageSource) Act(ctx context.Context, a page.Action) (string, error) {
	if s.stored {
		return "", fmt.Errorf("the pages of another process's database change nothing")
	}
	switch a.Name {
	case "checkpoint":
		if _, err := s.d.gate.acquire(ctx); err != nil { // in-process writers wait, not retry
			return "", err
		}
		before, stErr := s.o.dialect.storage(ctx, s.db)
		res, err := s.o.dialect.checkpoint(ctx)
		s.d.gate.release()
		if err != nil {
			return "", err
		}
		msg := checkpointMessage(res, before.WALBytes, stErr == nil)
		s.o.recordEvent("checkpoint", msg)
		return msg, nil
	case "optimize":
		if err := s.d.optimizeNow(ctx); err != nil {
			return "", err
		}
		return "PRAGMA optimize ran", nil
	case "apply":
		for _, adv := range s.adv.get().indexes {
			if adv.Name == a.Index && adv.CreateSQL != "" {
				if err := ApplyAdvice(ctx, s.db, adv); err != nil {
					return "", err
				}
				s.o.recordEvent("index", adv.CreateSQL)
				s.adv.invalidate()
				return "created " + adv.Name, nil
			}
		}
		return "", fmt.Errorf("no advised index is named %q (the advice may have changed: reload the page)", a.Index)
	}
	return "", fmt.Errorf("unknown action %q", a.Name)
}

// checkpointMessage says what a checkpoint did, for the page and the
// events. A TRUNCATE checkpoint that copied everything resets the WAL, and
// SQLite then reports its frames as 0: the WAL's size before it (walKnown)
// says how much was copied.
func checkpointMessage(res checkpointResult, walBefore int64, walKnown bool) string {
	switch {
	case res.Frames < 0:
		return "checkpoint: the database is not in WAL mode, there is nothing to checkpoint"
	case res.Checkpointed < res.Frames:
		return fmt.Sprintf("checkpoint: %d of %d WAL frames copied into the database; a reader kept the rest (try again when it is done)", res.Checkpointed, res.Frames)
	case walKnown:
		return fmt.Sprintf("checkpoint: the WAL (%s) copied into the database and truncated", fmtSize(walBefore))
	}
	return "checkpoint: the WAL copied into the database and truncated"
}

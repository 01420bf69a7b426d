package qlsqlite

import (
	"context"
	"log/slog"
	"time"

	"github.com/quantumleap/qlsqlite/internal/history"
)

// What the history gives back when a process starts again: the periods of
// the alert window that ran before it, so that the alerts judge a full
// window from the first tick, and the alerts that were firing, so that an
// alert delivered before the restart is not delivered again, and its
// clearing is.

// priorSample is one period of the history from before the statistics
// started: the monitor counts it in the alert window while it lasts.
type priorSample struct {
	at    time.Time
	tot   totals
	hists map[string]*histogram // by fingerprint ID
	fps   map[string]Fingerprint
	util  float64 // the pool's mean utilization; -1 when unknown
}

// restore reads the alert window and the firing alerts from the history.
// A history that cannot be read restores nothing; the error is logged.
func (o *observability) restore(ctx context.Context, store *history.Store, now time.Time) {
	window := o.cfg.thresholds.Window
	prior, err := priorSamples(ctx, store, now.Add(-window), now)
	var firing []history.AlertEvent
	if err == nil {
		firing, err = store.Firing(ctx)
	}
	if err != nil {
		logger := o.cfg.logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("qlsqlite: reading the alert window from the history", slog.String("error", err.Error()))
		return
	}
	var alerts []Alert
	for _, a := range firing {
		al := Alert{Name: a.Name, Firing: true, Value: a.Value, Threshold: a.Threshold, Message: a.Message, At: a.At}
		for _, text := range a.Fingerprints {
			al.Fingerprints = append(al.Fingerprints, FingerprintOf(text))
		}
		alerts = append(alerts, al)
	}
	o.mu.Lock()
	o.prior, o.restored = prior, alerts
	m := o.monitor
	o.mu.Unlock()
	if m != nil {
		m.restoreFiring(alerts)
	}
}

// priorSamples reads the minute periods of [from, to) from the history.
func priorSamples(ctx context.Context, store *history.Store, from, to time.Time) ([]priorSample, error) {
	db, err := store.DatabaseSeries(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var out []priorSample
	byAt := map[time.Time]int{}
	for _, p := range db {
		s := priorSample{
			at:    p.At,
			tot:   totals{calls: p.Calls, errors: p.Errors, waitedCalls: p.WaitedCalls, waited: p.Waited},
			hists: map[string]*histogram{},
			fps:   map[string]Fingerprint{},
			util:  -1,
		}
		if p.MaxOpen > 0 {
			s.util = p.InUse / float64(p.MaxOpen)
		}
		byAt[p.At] = len(out)
		out = append(out, s)
	}
	qs, err := store.Queries(ctx, from, to)
	if err != nil {
		return nil, err
	}
	// The window is short: a series per fingerprint called in it.
	for _, q := range qs {
		pts, err := store.QuerySeries(ctx, q.ID, from, to)
		if err != nil {
			return nil, err
		}
		for _, pt := range pts {
			i, ok := byAt[pt.At]
			if !ok {
				continue
			}
			out[i].hists[q.ID] = toHistogram(pt.Hist)
			out[i].fps[q.ID] = Fingerprint{ID: q.ID, Text: q.Text}
		}
	}
	return out, nil
}

// priorIn returns the history's periods that end in [from, to).
func (o *observability) priorIn(from, to time.Time) []priorSample {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []priorSample
	for _, p := range o.prior {
		if !p.at.Before(from) && p.at.Before(to) {
			out = append(out, p)
		}
	}
	return out
}

// restoreFiring marks alerts as firing without delivering them: they were
// delivered before the restart.
func (m *monitor) restoreFiring(alerts []Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range alerts {
		if _, ok := m.firing[a.Name]; !ok {
			m.firing[a.Name] = a
		}
	}
}

// alertEvent is an alert as the history keeps it.
func alertEvent(a Alert) historyEvent {
	e := &history.AlertEvent{At: a.At, Name: a.Name, Firing: a.Firing, Value: a.Value, Threshold: a.Threshold, Message: a.Message}
	for _, fp := range a.Fingerprints {
		e.Fingerprints = append(e.Fingerprints, fp.Text)
	}
	return historyEvent{alert: e}
}

// recordEvent queues a maintenance event for the history, if one is kept.
func (o *observability) recordEvent(kind, detail string) {
	if h := o.history(); h != nil {
		h.event(historyEvent{event: &history.Event{At: o.clock.Now(), Kind: kind, Detail: detail}})
	}
}

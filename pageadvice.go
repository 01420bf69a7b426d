package qlsqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/quantumleap/qlsqlite/internal/history"
)

// The monitoring page's index advice and index audit are computed in the
// background, not on a page's request: advice over the workload plans
// every statement several times and checks each rewrite on the data, for
// up to a few seconds per statement (see [Advise], [Rewrite]). A page view
// starts a computation when the last one is older than adviceEvery; the
// pages show the last result meanwhile.

// adviceEvery is how old the advice may get while the pages are viewed.
const adviceEvery = 10 * time.Minute

// adviceTimeout bounds one computation.
const adviceTimeout = 3 * time.Minute

// adviceCache holds the last advice and audit of a page source.
type adviceCache struct {
	s *pageSource

	mu      sync.Mutex
	cur     adviceState
	running bool
	done    chan struct{} // closed when the running computation ends; tests wait on it
}

// adviceState is one computation's outcome.
type adviceState struct {
	at       time.Time // zero before the first
	indexes  []IndexAdvice
	audit    *IndexAudit // nil when it failed
	rewrites map[string][]QueryRewrite
	advised  map[string]bool // fingerprint texts an index is advised for
	verified map[string]bool // fingerprint IDs with a verified rewrite
	note     string          // why there is no advice: computing, or an error
}

// get returns the last advice, starting a new computation if it is stale.
func (c *adviceCache) get() adviceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !c.running && (c.cur.at.IsZero() || now.Sub(c.cur.at) > adviceEvery) {
		done := make(chan struct{})
		if c.s.d.goBackground(func(ctx context.Context) {
			defer close(done)
			st := c.s.computeAdvice(ctx)
			c.mu.Lock()
			c.cur, c.running = st, false
			c.mu.Unlock()
		}) {
			c.running, c.done = true, done
		}
	}
	st := c.cur
	if st.at.IsZero() && st.note == "" {
		st.note = "Computing the index advice over the workload in the background: reload in a few seconds."
	}
	return st
}

// wait waits for the computation running, if any.
func (c *adviceCache) wait(ctx context.Context) error {
	c.mu.Lock()
	done, running := c.done, c.running
	c.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// invalidate makes the next get compute again (an index was created).
func (c *adviceCache) invalidate() {
	c.mu.Lock()
	c.cur.at = time.Time{}
	c.mu.Unlock()
}

// computeAdvice advises on the workload and audits the indexes.
func (s *pageSource) computeAdvice(ctx context.Context) adviceState {
	ctx, cancel := context.WithTimeout(ctx, adviceTimeout)
	defer cancel()
	st := adviceState{at: time.Now(), rewrites: map[string][]QueryRewrite{}, advised: map[string]bool{}, verified: map[string]bool{}}
	workload, err := s.workload(ctx)
	if err == nil && len(workload) > 0 {
		st.indexes, err = AdviseWorkload(ctx, s.db, workload)
		var qe *AdviceQueryError
		if errors.As(err, &qe) {
			err = nil // a statement that no longer prepares: the rest is advised
		}
	}
	if err != nil {
		st.note = fmt.Sprintf("The index advice failed: %v", err)
	}
	for _, a := range st.indexes {
		for _, q := range a.Queries {
			if a.CreateSQL != "" {
				st.advised[q] = true
			}
		}
		for _, r := range a.Rewrites {
			id := FingerprintOf(r.Original).ID
			st.rewrites[id] = append(st.rewrites[id], r)
			st.verified[id] = st.verified[id] || r.Verified
		}
	}
	var in AuditInput
	if s.stored {
		plans, err := s.store.Plans(ctx)
		if err == nil {
			for _, p := range plans {
				in.Plans = append(in.Plans, p.Text)
			}
		}
	}
	audit, err := AuditIndexes(ctx, s.db, in)
	var qe *AdviceQueryError
	if err == nil || errors.As(err, &qe) {
		st.audit = &audit
	} else if st.note == "" {
		st.note = fmt.Sprintf("The index audit failed: %v", err)
	}
	return st
}

// workload is the statements the advice is about: the live statistics'
// (see [Driver.Workload]), or those of the history's last day.
func (s *pageSource) workload(ctx context.Context) ([]WorkloadQuery, error) {
	if !s.stored {
		return s.d.driverOf().Workload(), nil
	}
	now := s.now()
	qs, err := s.store.Queries(ctx, now.Add(-24*time.Hour), now)
	if err != nil {
		return nil, err
	}
	return workloadOf(qs), nil
}

func workloadOf(qs []history.QueryTotal) []WorkloadQuery {
	var w []WorkloadQuery
	for _, q := range qs {
		switch q.Text {
		case beginText, commitText, rollbackText, "":
			continue
		}
		w = append(w, WorkloadQuery{Query: q.Text, Calls: int64(q.Calls), Total: q.Total})
	}
	return w
}

// driverOf is the database's own Driver, which reports its workload.
func (d *database) driverOf() *Driver { return &Driver{db: d} }

package qlsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// HealthStatus sums up a [HealthReport].
type HealthStatus string

const (
	// HealthOK: nothing wrong was found.
	HealthOK HealthStatus = "ok"
	// HealthDegraded: the database works, but an alert fires, the
	// connection pool is saturated, or the circuit breaker is half-open.
	HealthDegraded HealthStatus = "degraded"
	// HealthFailing: the database is damaged (quick_check found problems),
	// cannot be reached, or the circuit breaker is open.
	HealthFailing HealthStatus = "failing"
)

// HealthReport is the result of [Health].
type HealthReport struct {
	// Status sums up the report; Problems says why it is not HealthOK, one
	// finding per entry.
	Status   HealthStatus
	Problems []string
	// QuickCheck is what SQLite's PRAGMA quick_check reported: "ok", or up
	// to 100 problems found in the database's structure.
	QuickCheck []string
	// Storage is the database's size, WAL size and free pages.
	Storage StorageStats
	// Pool is the connection pool's state.
	Pool PoolStats
	// WAL is the write-ahead log's state; a starved one degrades the status.
	WAL WALStats
	// Breaker is the circuit breaker's state, or "" when there is none.
	Breaker string
	// Monitored says a monitor evaluates the database's alerts (see
	// [Monitor]); Alerts holds those firing now.
	Monitored bool
	Alerts    []Alert
	// CheckedAt is when the check started, and Took how long it took.
	CheckedAt time.Time
	Took      time.Duration
}

// Health checks db, a database opened with the qlsqlite driver: it runs
// SQLite's PRAGMA quick_check, reads the database's size, WAL size and free
// pages, the pool's state, the circuit breaker's state, and the alerts
// firing now, and sums them up in a status.
//
// The check and the size are read on a connection of their own, not one of
// the pool's, so that a saturated pool (reported as degraded) does not
// delay them; a database that lives in memory is read through one of the
// pool's connections instead. quick_check
// reads the whole database, in time proportional to its size: ctx bounds it
// (qlsqlite's default statement deadline does not apply here). The error is
// non-nil only when db was not opened with qlsqlite; a database that cannot
// be checked is reported as HealthFailing.
func Health(ctx context.Context, db *sql.DB) (HealthReport, error) {
	d, err := stateOf(db)
	if err != nil {
		return HealthReport{}, err
	}
	o := d.obs
	start := time.Now()
	r := HealthReport{CheckedAt: o.clock.Now(), Status: HealthOK}
	fail := func(format string, args ...any) {
		r.Status = HealthFailing
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
	degrade := func(format string, args ...any) {
		if r.Status == HealthOK {
			r.Status = HealthDegraded
		}
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}

	if qc, err := o.dialect.quickCheck(ctx, db); err != nil {
		fail("%v", err)
	} else {
		r.QuickCheck = qc
		if len(qc) != 1 || qc[0] != "ok" {
			summary := strings.Join(qc[:min(len(qc), 3)], "; ")
			if len(summary) > 300 {
				summary = summary[:300] + "..."
			}
			fail("quick_check found problems (see QuickCheck): %s", strings.ReplaceAll(summary, "\n", " "))
		}
	}
	if st, err := o.dialect.storage(ctx, db); err != nil {
		fail("%v", err)
	} else {
		r.Storage = st
	}
	r.Pool = poolStats(db)
	if r.WAL = d.walStats(); r.WAL.problem() != "" {
		degrade("%s", r.WAL.problem())
	}
	if r.Pool.MaxOpenConnections > 0 && r.Pool.InUse >= r.Pool.MaxOpenConnections {
		degrade("the connection pool is saturated: %d of %d connections in use", r.Pool.InUse, r.Pool.MaxOpenConnections)
	}
	r.Breaker = d.breakerState()
	switch r.Breaker {
	case "open":
		fail("the circuit breaker is open: calls are refused")
	case "half-open":
		degrade("the circuit breaker is half-open: trial calls only")
	}
	o.mu.Lock()
	m := o.monitor
	o.mu.Unlock()
	if m != nil {
		r.Monitored = true
		r.Alerts = m.active()
		for _, a := range r.Alerts {
			degrade("alert %s: %s", a.Name, a.Message)
		}
	}
	r.Took = time.Since(start)
	return r, nil
}

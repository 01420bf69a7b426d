package qlsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// HealthStatus sums up a [HealthReport].
type HealthStatus string

const (
	// HealthOK: nothing wrong was found.
	HealthOK HealthStatus = "ok"
	// HealthDegraded: the database works, but an alert fires, the
	// connection pool is saturated, the circuit breaker is half-open, or
	// the last integrity check could not complete.
	HealthDegraded HealthStatus = "degraded"
	// HealthFailing: the database is damaged (the last integrity check
	// found problems), cannot be reached, or the circuit breaker is open.
	HealthFailing HealthStatus = "failing"
)

// HealthReport is the result of [Health].
type HealthReport struct {
	// Status sums up the report; Problems says why it is not HealthOK, one
	// finding per entry.
	Status   HealthStatus
	Problems []string
	// Integrity is the last integrity check (see [CheckIntegrity]), nil
	// when none has run since the database was opened; IntegrityAge is how
	// long before CheckedAt it started.
	Integrity    *IntegrityReport
	IntegrityAge time.Duration
	// Storage is the database's size, WAL size and free pages.
	Storage StorageStats
	// Server is what a database server (a [Backend] such as PostgreSQL)
	// reports of itself; nil for SQLite.
	Server *ServerHealth
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

// Health reports on db, a database opened with the qlsqlite driver, cheaply
// enough for a load balancer or a Kubernetes probe to call it every few
// seconds: the database's size, WAL size and free pages (read from the
// database's header and the WAL file's size), the pool's state, the circuit
// breaker's state, the alerts firing now, and the result and age of the
// last integrity check, summed up in a status. Its time does not depend on
// the database's size (12 µs at 100 MB, 1 GB and 5.6 GB alike,
// BenchmarkHealth); it reads no table.
//
// It does not check the database's integrity: that reads the whole file.
// [CheckIntegrity] does, on demand or on a schedule ([WithIntegrityEvery]),
// and Health reports its last result: problems found make the status
// HealthFailing.
//
// The size is read on a connection of its own, not one of the pool's, so
// that a saturated pool (reported as degraded) does not delay it; a
// database that lives in memory is read through one of the pool's
// connections instead. ctx bounds it. The error is non-nil only when db was
// not opened with qlsqlite; a database that cannot be read is reported as
// HealthFailing.
func Health(ctx context.Context, db *sql.DB) (HealthReport, error) {
	d, err := stateOf(db)
	if err != nil {
		return HealthReport{}, err
	}
	o := d.obs
	start := time.Now()
	h := &healthCheck{HealthReport: HealthReport{CheckedAt: o.clock.Now(), Status: HealthOK}}
	h.integrity(o)
	if st, err := o.dialect.storage(ctx, db); err != nil {
		h.fail("%v", err)
	} else {
		h.Storage = st
	}
	o.checkServer(ctx, &h.HealthReport, h.fail, h.degrade)
	h.Pool = poolStats(db)
	if h.WAL = d.walStats(); h.WAL.problem() != "" {
		h.degrade("%s", h.WAL.problem())
	}
	if h.Pool.MaxOpenConnections > 0 && h.Pool.InUse >= h.Pool.MaxOpenConnections {
		h.degrade("the connection pool is saturated: %d of %d connections in use", h.Pool.InUse, h.Pool.MaxOpenConnections)
	}
	h.Breaker = d.breakerState()
	switch h.Breaker {
	case "open":
		h.fail("the circuit breaker is open: calls are refused")
	case "half-open":
		h.degrade("the circuit breaker is half-open: trial calls only")
	}
	o.mu.Lock()
	m := o.monitor
	o.mu.Unlock()
	if m != nil {
		h.Monitored = true
		h.Alerts = m.active()
		for _, a := range h.Alerts {
			h.degrade("alert %s: %s", a.Name, a.Message)
		}
	}
	h.Took = time.Since(start)
	return h.HealthReport, nil
}

// healthCheck is a report being written.
type healthCheck struct{ HealthReport }

func (h *healthCheck) fail(format string, args ...any) {
	h.Status = HealthFailing
	h.Problems = append(h.Problems, fmt.Sprintf(format, args...))
}

func (h *healthCheck) degrade(format string, args ...any) {
	if h.Status == HealthOK {
		h.Status = HealthDegraded
	}
	h.Problems = append(h.Problems, fmt.Sprintf(format, args...))
}

// integrity reports the last integrity check: problems found by the last
// one that judged the database fail it; a last one that could not complete
// degrades it.
func (h *healthCheck) integrity(o *observability) {
	last, judged := o.lastIntegrity()
	if last == nil {
		return
	}
	h.Integrity = last
	h.IntegrityAge = h.CheckedAt.Sub(last.At)
	if judged != nil && len(judged.Problems) > 0 {
		h.fail("the integrity check of %v ago found %d problems: %s", h.CheckedAt.Sub(judged.At).Round(time.Second), len(judged.Problems), judged.summary())
	}
	if last.Err != "" {
		h.degrade("the integrity check of %v ago did not complete: %s", h.IntegrityAge.Round(time.Second), last.Err)
	}
}

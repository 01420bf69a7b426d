package qlsqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// DefaultIntegrityEvery is how often a monitored database checks its
// integrity ("_integrity_every"); see [WithIntegrityEvery].
const DefaultIntegrityEvery = 24 * time.Hour

// firstIntegrityCheck is when the first scheduled check runs after the
// monitor starts, when the interval is longer: a process restarted after a
// crash checks within the hour, not a day later.
const firstIntegrityCheck = time.Hour

// IntegrityReport is the result of an integrity check: see
// [CheckIntegrity]. [Health] and [Stats] report the last one.
type IntegrityReport struct {
	// At is when the check started, by the database's clock (see
	// [WithClock]); Took is how long it ran, pauses included.
	At   time.Time
	Took time.Duration
	// Tables is the number of tables checked, each with its indexes in a
	// read transaction of its own.
	Tables int
	// Problems is what the check found wrong, each prefixed with its
	// table, at most 100; empty for a sound database.
	Problems []string
	// Err says why the check stopped before it checked every table (the
	// database could not be read, the check was cancelled); "" when it
	// completed.
	Err string
}

// OK reports whether the check completed and found nothing wrong.
func (r IntegrityReport) OK() bool { return r.Err == "" && len(r.Problems) == 0 }

// summary is the first problems of r on one line, for messages.
func (r IntegrityReport) summary() string {
	s := strings.Join(r.Problems[:min(len(r.Problems), 3)], "; ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}

// CheckIntegrity checks the structure of db, a database opened with the
// qlsqlite driver, and keeps the result: [Health] and [Stats] report it,
// and a monitored database raises [AlertIntegrity] when it found problems.
//
// It checks one table at a time (SQLite's PRAGMA quick_check(TABLE)), each
// with its indexes in a read transaction of its own, on a connection of its
// own: no read transaction (which keeps checkpoints from resetting the
// WAL) spans more than one table, and Health stays cheap meanwhile.
// The cost is proportional to the database's size (13 to 30 s per GB on
// the shared 2-core test machine, BenchmarkCheckIntegrity); ctx bounds it.
// The largest table is the longest read transaction: SQLite checks a table
// in one piece. The scheduled check ([WithIntegrityEvery])
// runs the same one, pausing between tables.
//
// What it does not check is the accounting of the whole file (the
// free-list, pages no table owns), which only a whole-database
// quick_check or integrity_check does, in one read transaction.
//
// The report says what was found; damage is a finding, not an error. The
// error is non-nil when db was not opened with qlsqlite or the check could
// not complete (the report then says how far it got); a check cancelled by
// ctx is not kept.
func CheckIntegrity(ctx context.Context, db *sql.DB) (IntegrityReport, error) {
	d, err := stateOf(db)
	if err != nil {
		return IntegrityReport{}, err
	}
	if d.backend != nil {
		return IntegrityReport{}, errNoIntegrityCheck // nothing kept: Health stays as it was
	}
	o := d.obs
	o.checking.Lock()
	defer o.checking.Unlock()
	return o.checkIntegrity(ctx, db, false)
}

// checkIntegrity runs an integrity check and keeps its result, unless ctx
// ended it. spread pauses after each table as long as the table took: the
// check then takes at most half of one connection's time, and between two
// tables, with no read transaction open, a checkpoint can reset the WAL.
// Within a table the check runs at full speed: its read transaction, which
// keeps the WAL from being reset, is the check's main cost to writers, and
// pacing it would make it longer. o.checking is held.
func (o *observability) checkIntegrity(ctx context.Context, db *sql.DB, spread bool) (IntegrityReport, error) {
	r := IntegrityReport{At: o.clock.Now()}
	start := time.Now()
	between := func(took time.Duration) error {
		if !spread {
			return ctx.Err()
		}
		t := time.NewTimer(took)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tables, problems, err := o.dialect.checkIntegrity(ctx, db, between)
	r.Took, r.Tables, r.Problems = time.Since(start), tables, problems
	if err != nil {
		if ctx.Err() != nil {
			return r, fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		r.Err = err.Error()
	}
	kept := r.clone() // the caller's copy shares nothing with it
	o.mu.Lock()
	o.integrity = kept
	if r.Err == "" || len(r.Problems) > 0 {
		o.judged = kept
	}
	o.mu.Unlock()
	detail := fmt.Sprintf("%d tables in %v: ", r.Tables, r.Took.Round(time.Millisecond))
	switch {
	case r.Err != "":
		detail += "did not complete: " + r.Err
	case len(r.Problems) > 0:
		detail += fmt.Sprintf("%d problems: %s", len(r.Problems), r.summary())
	default:
		detail += "ok"
	}
	o.recordEvent("integrity", detail)
	return r, err
}

// lastIntegrity returns copies of the last integrity check kept, and of
// the last one that judged the database (completed, or found problems);
// nil before the first.
func (o *observability) lastIntegrity() (last, judged *IntegrityReport) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.integrity.clone(), o.judged.clone()
}

// clone returns a copy of r that shares nothing with it; nil for nil.
func (r *IntegrityReport) clone() *IntegrityReport {
	if r == nil {
		return nil
	}
	c := *r
	c.Problems = slices.Clone(r.Problems)
	return &c
}

// integritySchedule runs a monitored database's integrity checks: the
// monitor's tick starts one when it is due, in a goroutine of its own.
type integritySchedule struct {
	every time.Duration // 0: no schedule
	next  time.Time     // when the next check is due; the tick's goroutine only
}

// newIntegritySchedule returns the schedule of a monitor started at now:
// the first check after an hour (or the interval, if shorter), less a
// random tenth so that processes started together do not check together.
func newIntegritySchedule(every time.Duration, now time.Time) integritySchedule {
	if every <= 0 {
		return integritySchedule{}
	}
	first := min(every, firstIntegrityCheck)
	first -= rand.N(first/10 + 1)
	return integritySchedule{every: every, next: now.Add(first)}
}

// scheduleIntegrity starts the scheduled integrity check if it is due and
// no check is running; a check running already (called by the program)
// counts as the scheduled one.
func (m *monitor) scheduleIntegrity(now time.Time) {
	s := &m.integrity
	if s.every <= 0 || now.Before(s.next) {
		return
	}
	s.next = now.Add(s.every)
	if !m.obs.checking.TryLock() {
		return
	}
	m.checks.Go(func() {
		defer m.obs.checking.Unlock()
		m.obs.checkIntegrity(m.ctx, m.sqlDB, true)
	})
}

// integrityReading is the integrity alert's reading: the number of
// problems the last check that judged the database found.
func (m *monitor) integrityReading() reading {
	r := reading{threshold: 1}
	_, judged := m.obs.lastIntegrity()
	if judged == nil {
		r.message = "no integrity check has completed yet"
		return r
	}
	r.value, r.ok = float64(len(judged.Problems)), true
	if judged.OK() {
		r.message = fmt.Sprintf("the integrity check of %v found no problem in %d tables", judged.At.Format(time.RFC3339), judged.Tables)
	} else {
		r.message = fmt.Sprintf("the integrity check of %v found %d problems: %s", judged.At.Format(time.RFC3339), len(judged.Problems), judged.summary())
	}
	return r
}

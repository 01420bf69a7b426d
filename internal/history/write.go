package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Period is what a database did between two snapshots of its statistics:
// the differences of the counters, never the counters reset.
type Period struct {
	// At is when the period ended (the later snapshot), Span how long it
	// lasted.
	At   time.Time
	Span time.Duration
	// Queries holds a delta per fingerprint called in the period.
	Queries []QueryDelta
	// Database is the database as a whole.
	Database DatabaseSample
	// Plans holds the plans captured or captured again since the last
	// period.
	Plans []Plan
}

// QueryDelta is what one fingerprint did in a period.
type QueryDelta struct {
	// ID, Text and Summary name the fingerprint: its text has literals and
	// arguments replaced, so no value is ever stored.
	ID, Text, Summary string
	Calls, Rows       uint64
	Errors            map[string]uint64 // by class
	Total, Max        time.Duration
	Waited            time.Duration
	Hits, Misses      uint64 // statement cache
	Hist              Hist   // the calls' durations
}

// ErrorCount is the number of failed calls.
func (q *QueryDelta) ErrorCount() (n uint64) {
	for _, c := range q.Errors {
		n += c
	}
	return n
}

// DatabaseSample is the database as a whole in a period: counters as
// differences, gauges as their value at the end (size, WAL) or their mean
// over the period (connections).
type DatabaseSample struct {
	Calls, Errors, WaitedCalls uint64
	Waited                     time.Duration
	// SizeBytes, WALBytes, FreePages and PageSize are -1 when unknown.
	SizeBytes, WALBytes, FreePages, PageSize int64
	// Open, InUse and Idle are the connections, on average over the
	// period; MaxInUse the most in use at once seen, MaxOpen the limit
	// (0: none).
	Open, InUse, Idle float64
	MaxInUse, MaxOpen int
	// WaitCount and WaitDuration are the waits for a connection.
	WaitCount    int64
	WaitDuration time.Duration
	// Breaker is the circuit breaker's state at the end ("" without one).
	Breaker string
	// Fingerprints is how many the statistics hold; Evictions how many
	// were evicted in the period.
	Fingerprints int
	Evictions    uint64
}

// Plan is the plan captured for a fingerprint, rendered as the sqlite3
// shell prints EXPLAIN QUERY PLAN.
type Plan struct {
	ID            string
	CapturedAt    time.Time
	SchemaVersion int64
	Text          string
}

// Write keeps a period, in one transaction.
func (s *Store) Write(ctx context.Context, p Period) (err error) {
	if s.opts.ReadOnly {
		return errors.New("history: opened read-only")
	}
	defer func() {
		if err != nil {
			s.forgetSeen() // the fingerprints written may have rolled back
		}
	}()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer tx.Rollback()
	at, span := ms(p.At), p.Span.Milliseconds()
	if len(p.Queries) > 0 {
		if err := s.writeFingerprints(ctx, tx, at, p.Queries); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if err := writeQueries(ctx, tx, resMinute, at, span, p.Queries); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	if err := writeDatabase(ctx, tx, resMinute, at, span, &p.Database); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	for _, pl := range p.Plans {
		if _, err := tx.ExecContext(ctx, `INSERT INTO plans (fp, captured_at, schema_version, plan) VALUES (?, ?, ?, ?)
			ON CONFLICT (fp) DO UPDATE SET captured_at = excluded.captured_at, schema_version = excluded.schema_version, plan = excluded.plan`,
			pl.ID, ms(pl.CapturedAt), pl.SchemaVersion, pl.Text); err != nil {
			return fmt.Errorf("history: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// seenEvery is how often a fingerprint's last_at is brought up to date:
// the retention needs it to the hour, not to the minute.
const seenEvery = hourMS

// writeFingerprints adds the fingerprints the history does not know, and
// brings the last_at of the others up to date, at most once an hour each.
func (s *Store) writeFingerprints(ctx context.Context, tx *sql.Tx, at int64, qs []QueryDelta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[string]int64{}
	}
	var stmt *sql.Stmt
	for i := range qs {
		q := &qs[i]
		if last, ok := s.seen[q.ID]; ok && at-last < seenEvery {
			continue
		}
		if stmt == nil {
			var err error
			stmt, err = tx.PrepareContext(ctx, `INSERT INTO fingerprints (id, text, summary, first_at, last_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET last_at = max(last_at, excluded.last_at)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
		}
		if _, err := stmt.ExecContext(ctx, q.ID, q.Text, q.Summary, at, at); err != nil {
			return err
		}
		s.seen[q.ID] = at
	}
	return nil
}

// forgetSeen forgets which fingerprints were written: a transaction that
// wrote some rolled back.
func (s *Store) forgetSeen() {
	s.mu.Lock()
	s.seen = nil
	s.mu.Unlock()
}

func writeQueries(ctx context.Context, tx *sql.Tx, res int, at, span int64, qs []QueryDelta) error {
	ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO queries
		(res, at, fp, span_ms, calls, errors, errors_by_class, rows, total_ns, max_ns, waited_ns, hits, misses, hist)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := range qs {
		q := &qs[i]
		var byClass any
		if len(q.Errors) > 0 {
			byClass = encodeClasses(q.Errors)
		}
		if _, err := ins.ExecContext(ctx, res, at, q.ID, span, int64(q.Calls), int64(q.ErrorCount()), byClass,
			int64(q.Rows), int64(q.Total), int64(q.Max), int64(q.Waited), int64(q.Hits), int64(q.Misses), q.Hist.Encode()); err != nil {
			return err
		}
	}
	return nil
}

func writeDatabase(ctx context.Context, tx *sql.Tx, res int, at, span int64, d *DatabaseSample) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO database
		(res, at, span_ms, calls, errors, waited_calls, waited_ns, size_bytes, wal_bytes, free_pages, page_size,
		 open, in_use, idle, max_in_use, max_open, wait_count, wait_ns, breaker, fingerprints, evictions)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		res, at, span, int64(d.Calls), int64(d.Errors), int64(d.WaitedCalls), int64(d.Waited),
		d.SizeBytes, d.WALBytes, d.FreePages, d.PageSize,
		d.Open, d.InUse, d.Idle, d.MaxInUse, d.MaxOpen, d.WaitCount, int64(d.WaitDuration),
		d.Breaker, d.Fingerprints, int64(d.Evictions))
	return err
}

// encodeClasses writes errors by class as "class=n,class=n", classes in
// order.
func encodeClasses(m map[string]uint64) string {
	var b strings.Builder
	for i, c := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c)
		b.WriteByte('=')
		b.WriteString(strconv.FormatUint(m[c], 10))
	}
	return b.String()
}

// addClasses adds the errors of encodeClasses's form s to m.
func addClasses(m map[string]uint64, s string) {
	for part := range strings.SplitSeq(s, ",") {
		c, n, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(n, 10, 64)
		if err == nil {
			m[c] += v
		}
	}
}

// AlertEvent is an alert that fired or cleared.
type AlertEvent struct {
	At               time.Time
	Name             string
	Firing           bool
	Value, Threshold float64
	Message          string
	Fingerprints     []string // the texts of the fingerprints it names
}

// AddAlert keeps an alert event.
func (s *Store) AddAlert(ctx context.Context, a AlertEvent) error {
	fps, _ := json.Marshal(a.Fingerprints)
	if a.Fingerprints == nil {
		fps = []byte("[]")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO alerts (at, name, firing, value, threshold, message, fingerprints) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		ms(a.At), a.Name, a.Firing, a.Value, a.Threshold, a.Message, string(fps))
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Event is a maintenance event: a checkpoint, an optimize, an integrity
// check, an index applied from the page.
type Event struct {
	At     time.Time
	Kind   string
	Detail string
}

// AddEvent keeps an event.
func (s *Store) AddEvent(ctx context.Context, e Event) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)`, ms(e.At), e.Kind, e.Detail)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Maintain rolls the completed hours up into hourly rows, deletes what
// is older than the retention, and keeps the file within MaxBytes. The
// writer calls it after its writes; it is idempotent.
func (s *Store) Maintain(ctx context.Context, now time.Time) error {
	if s.opts.ReadOnly {
		return errors.New("history: opened read-only")
	}
	if err := s.rollup(ctx, now); err != nil {
		return fmt.Errorf("history: rolling up: %w", err)
	}
	if err := s.prune(ctx, now); err != nil {
		return fmt.Errorf("history: pruning: %w", err)
	}
	if err := s.bound(ctx, now); err != nil {
		return fmt.Errorf("history: bounding the file: %w", err)
	}
	return nil
}

// rolledUntil is the start of the first hour not rolled up yet, 0 before
// the first roll-up.
func (s *Store) rolledUntil(ctx context.Context) (int64, error) {
	var v sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'rolled_until'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(v.String, 10, 64)
	return n, nil
}

const hourMS = int64(time.Hour / time.Millisecond)

// rollup adds up the minute rows of every hour that ended into hourly rows.
func (s *Store) rollup(ctx context.Context, now time.Time) error {
	until, err := s.rolledUntil(ctx)
	if err != nil {
		return err
	}
	end := ms(now) / hourMS * hourMS // the current hour is not over
	for until < end {
		// Skip hours without rows.
		var next sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT min(at) FROM database WHERE res = ? AND at >= ? AND at < ?`, resMinute, until, end).Scan(&next); err != nil {
			return err
		}
		if !next.Valid {
			until = end
			break
		}
		h := next.Int64 / hourMS * hourMS
		if err := s.rollupHour(ctx, h); err != nil {
			return err
		}
		until = h + hourMS
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('rolled_until', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		strconv.FormatInt(until, 10))
	return err
}

// rollupHour writes the hourly rows of the hour starting at h.
func (s *Store) rollupHour(ctx context.Context, h int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	qs, err := aggregateQueries(ctx, tx, resMinute, h, h+hourMS)
	if err != nil {
		return err
	}
	deltas := make([]QueryDelta, 0, len(qs))
	for _, q := range qs {
		deltas = append(deltas, q.QueryDelta)
	}
	if err := writeQueries(ctx, tx, resHour, h, hourMS, deltas); err != nil {
		return err
	}
	points, err := databaseRows(ctx, tx, resMinute, h, h+hourMS)
	if err != nil {
		return err
	}
	if len(points) > 0 {
		d := mergeDatabase(points)
		if err := writeDatabase(ctx, tx, resHour, h, hourMS, &d); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// prune deletes the rows past their retention.
func (s *Store) prune(ctx context.Context, now time.Time) error {
	minutes := ms(now.Add(-s.opts.MinuteRetention))
	hours := ms(now.Add(-s.opts.Retention))
	// Minute rows go once rolled up, even when younger than their
	// retention would allow, never before.
	until, err := s.rolledUntil(ctx)
	if err != nil {
		return err
	}
	minutes = min(minutes, until)
	for _, q := range []struct {
		sql string
		arg int64
	}{
		{`DELETE FROM queries WHERE res = 60 AND at < ?`, minutes},
		{`DELETE FROM database WHERE res = 60 AND at < ?`, minutes},
		{`DELETE FROM queries WHERE res = 3600 AND at < ?`, hours},
		{`DELETE FROM database WHERE res = 3600 AND at < ?`, hours},
		{`DELETE FROM alerts WHERE at < ?`, hours},
		{`DELETE FROM events WHERE at < ?`, hours},
		{`DELETE FROM fingerprints WHERE last_at < ?`, hours},
		{`DELETE FROM plans WHERE fp NOT IN (SELECT id FROM fingerprints) AND captured_at < ?`, hours},
	} {
		if _, err := s.db.ExecContext(ctx, q.sql, q.arg); err != nil {
			return err
		}
	}
	return nil
}

// Used is the space the rows take in the file, in bytes: its pages less
// the free ones.
func (s *Store) Used(ctx context.Context) (int64, error) {
	var pages, free, size int64
	err := s.db.QueryRowContext(ctx, `SELECT p.page_count, f.freelist_count, s.page_size FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s`).Scan(&pages, &free, &size)
	return (pages - free) * size, err
}

// bound deletes the oldest rows until the file's rows fit in MaxBytes,
// keeping the last hour whatever it takes, then gives the free pages back.
// The oldest rows include the fingerprints and plans last seen before the
// cut, not only the periods.
func (s *Store) bound(ctx context.Context, now time.Time) error {
	deleted := false
	for {
		used, err := s.Used(ctx)
		if err != nil {
			return err
		}
		if used <= s.opts.MaxBytes {
			break
		}
		var oldest sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT min(at) FROM database`).Scan(&oldest); err != nil {
			return err
		}
		keep := ms(now) - hourMS
		if !oldest.Valid || oldest.Int64 >= keep {
			break // nothing left that may go
		}
		cut := min(oldest.Int64+max(hourMS, (keep-oldest.Int64)/10), keep)
		for _, q := range []string{
			`DELETE FROM queries WHERE at < ?`,
			`DELETE FROM database WHERE at < ?`,
			`DELETE FROM alerts WHERE at < ?`,
			`DELETE FROM events WHERE at < ?`,
			// The fingerprints last seen before the cut have no row left,
			// and their plans are of no use: a workload whose
			// fingerprints keep changing would otherwise fill the file.
			`DELETE FROM fingerprints WHERE last_at < ?`,
			`DELETE FROM plans WHERE fp NOT IN (SELECT id FROM fingerprints) AND captured_at < ?`,
		} {
			if _, err := s.db.ExecContext(ctx, q, cut); err != nil {
				return err
			}
		}
		deleted = true
	}
	if deleted {
		if _, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
			return err
		}
	}
	return nil
}

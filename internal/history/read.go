package history

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
)

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// QueryTotal is what one fingerprint did over a window: the sum of its
// periods in it.
type QueryTotal struct {
	QueryDelta
	// First and Last are the ends of its first and last periods in the
	// window.
	First, Last time.Time
}

// queryRowsSQL selects the rows aggregateQueries adds up.
const queryRowsSQL = `SELECT fp, at, calls, errors_by_class, rows, total_ns, max_ns, waited_ns, hits, misses, hist
	FROM queries WHERE res = ? AND at >= ? AND at < ?`

// queryRow is one row of the queries table, as read; the byte slices are
// valid until the next row.
type queryRow struct {
	fp                                                []byte
	at, calls, rows, total, max, waited, hits, misses int64
	byClass, hist                                     []byte
}

// aggregation adds up rows by fingerprint.
type aggregation map[string]*QueryTotal

func (a aggregation) add(r *queryRow) error {
	t, ok := a[string(r.fp)]
	if !ok {
		id := string(r.fp)
		t = &QueryTotal{QueryDelta: QueryDelta{ID: id}, First: fromMS(r.at)}
		a[id] = t
	}
	t.Calls += uint64(r.calls)
	t.Rows += uint64(r.rows)
	t.Total += time.Duration(r.total)
	t.Max = max(t.Max, time.Duration(r.max))
	t.Waited += time.Duration(r.waited)
	t.Hits += uint64(r.hits)
	t.Misses += uint64(r.misses)
	if len(r.byClass) > 0 {
		if t.Errors == nil {
			t.Errors = map[string]uint64{}
		}
		addClasses(t.Errors, string(r.byClass))
	}
	var err error
	if t.Hist, err = t.Hist.MergeEncoded(r.hist); err != nil {
		return err
	}
	at := fromMS(r.at)
	if at.Before(t.First) {
		t.First = at
	}
	if at.After(t.Last) {
		t.Last = at
	}
	return nil
}

// aggregateQueries adds up the rows of resolution res with at in
// [from, to), by fingerprint, through database/sql (in a transaction of
// the roll-up). Text and Summary are left empty.
func aggregateQueries(ctx context.Context, q queryer, res int, from, to int64) (map[string]*QueryTotal, error) {
	rows, err := q.QueryContext(ctx, queryRowsSQL, res, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	agg := aggregation{}
	var r queryRow
	var fp, byClass, hist sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&fp, &r.at, &r.calls, &byClass, &r.rows, &r.total, &r.max, &r.waited, &r.hits, &r.misses, &hist); err != nil {
			return nil, err
		}
		r.fp, r.byClass, r.hist = fp, byClass, hist
		if err := agg.add(&r); err != nil {
			return nil, err
		}
	}
	return agg, rows.Err()
}

// aggregateRaw is aggregateQueries on SQLite's own API: a window of a page
// reads tens of thousands of rows, and database/sql's conversions of each
// value cost more than SQLite's reading them.
func aggregateRaw(c *sqlite3.Conn, res int, from, to int64) (map[string]*QueryTotal, error) {
	stmt, _, err := c.Prepare(queryRowsSQL)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	stmt.BindInt(1, res)
	stmt.BindInt64(2, from)
	stmt.BindInt64(3, to)
	agg := aggregation{}
	var r queryRow
	for stmt.Step() {
		r.fp = stmt.ColumnRawText(0)
		r.at, r.calls = stmt.ColumnInt64(1), stmt.ColumnInt64(2)
		r.byClass = stmt.ColumnRawText(3)
		r.rows, r.total, r.max, r.waited = stmt.ColumnInt64(4), stmt.ColumnInt64(5), stmt.ColumnInt64(6), stmt.ColumnInt64(7)
		r.hits, r.misses = stmt.ColumnInt64(8), stmt.ColumnInt64(9)
		r.hist = stmt.ColumnRawBlob(10)
		if err := agg.add(&r); err != nil {
			return nil, err
		}
	}
	return agg, stmt.Err()
}

// withRaw runs fn on one of the store's connections, through SQLite's own
// API; ctx interrupts it.
func (s *Store) withRaw(ctx context.Context, fn func(*sqlite3.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c := dc.(ncruces.Conn).Raw()
		old := c.SetInterrupt(ctx)
		defer c.SetInterrupt(old)
		return fn(c)
	})
}

// shortWindow is the longest window read from the minute rows alone;
// longer ones read the hourly rows of the hours they cover whole.
const shortWindow = 2 * time.Hour

// Queries returns what each fingerprint did in [from, to), with its text
// and summary, the largest total time first. A window longer than two
// hours starts on the hour: it adds up the hourly rows of the hours rolled
// up, then the minute rows after them.
func (s *Store) Queries(ctx context.Context, from, to time.Time) ([]QueryTotal, error) {
	parts, err := s.split(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	all := map[string]*QueryTotal{}
	for _, p := range parts {
		var m map[string]*QueryTotal
		err := s.withRaw(ctx, func(c *sqlite3.Conn) (err error) {
			m, err = aggregateRaw(c, p.res, p.from, p.to)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		for id, q := range m {
			if a, ok := all[id]; ok {
				a.merge(q)
			} else {
				all[id] = q
			}
		}
	}
	if err := s.name(ctx, all); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	out := make([]QueryTotal, 0, len(all))
	for _, q := range all {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueryTotal) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Add adds o's figures to q's.
func (q *QueryDelta) Add(o *QueryDelta) {
	if q.Text == "" {
		q.Text, q.Summary = o.Text, o.Summary
	}
	q.Calls += o.Calls
	q.Rows += o.Rows
	q.Total += o.Total
	q.Max = max(q.Max, o.Max)
	q.Waited += o.Waited
	q.Hits += o.Hits
	q.Misses += o.Misses
	for c, n := range o.Errors {
		if q.Errors == nil {
			q.Errors = map[string]uint64{}
		}
		q.Errors[c] += n
	}
	q.Hist = q.Hist.Merge(o.Hist)
}

// merge adds o to q.
func (q *QueryTotal) merge(o *QueryTotal) {
	q.QueryDelta.Add(&o.QueryDelta)
	if o.First.Before(q.First) {
		q.First = o.First
	}
	if o.Last.After(q.Last) {
		q.Last = o.Last
	}
}

// name fills in the texts and summaries of the fingerprints of m.
func (s *Store) name(ctx context.Context, m map[string]*QueryTotal) error {
	if len(m) == 0 {
		return nil
	}
	return s.withRaw(ctx, func(c *sqlite3.Conn) error {
		stmt, _, err := c.Prepare(`SELECT id, text, summary FROM fingerprints`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for stmt.Step() {
			if q, ok := m[string(stmt.ColumnRawText(0))]; ok {
				q.Text, q.Summary = stmt.ColumnText(1), stmt.ColumnText(2)
			}
		}
		return stmt.Err()
	})
}

// part is a slice of a window read at one resolution.
type part struct {
	res      int
	from, to int64
}

// split cuts [from, to) into the hours rolled up, read from the hourly
// rows, and the rest, read from the minute rows.
func (s *Store) split(ctx context.Context, from, to time.Time) ([]part, error) {
	f, t := ms(from), ms(to)
	if to.Sub(from) <= shortWindow {
		return []part{{resMinute, f, t}}, nil
	}
	until, err := s.rolledUntil(ctx)
	if err != nil {
		return nil, err
	}
	start := (f + hourMS - 1) / hourMS * hourMS
	mid := max(min(until, t), start)
	return []part{{resHour, start, mid}, {resMinute, mid, t}}, nil
}

// Fingerprint returns the text and summary of a fingerprint, and the last
// time it was seen; ok is false when the history does not know it.
func (s *Store) Fingerprint(ctx context.Context, id string) (text, summary string, last time.Time, ok bool, err error) {
	var lastMS int64
	err = s.db.QueryRowContext(ctx, `SELECT text, summary, last_at FROM fingerprints WHERE id = ?`, id).Scan(&text, &summary, &lastMS)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", time.Time{}, false, nil
	}
	if err != nil {
		return "", "", time.Time{}, false, fmt.Errorf("history: %w", err)
	}
	return text, summary, fromMS(lastMS), true, nil
}

// QueryPoint is one period of a fingerprint.
type QueryPoint struct {
	At   time.Time // the period's end
	Span time.Duration
	QueryDelta
}

// longestMinuteSeries is the longest series read from the minute rows: a
// day of them (1440 points) and a little more.
const longestMinuteSeries = 25 * time.Hour

// resolution picks the rows a series over [from, to) reads: minutes up to
// a day (within the minute rows' retention), hours beyond.
func (s *Store) resolution(from, to time.Time) int {
	if to.Sub(from) <= min(s.opts.MinuteRetention, longestMinuteSeries) {
		return resMinute
	}
	return resHour
}

// QuerySeries returns the periods of a fingerprint in [from, to), oldest
// first: minutes for a window within the minute rows' retention, hours
// beyond it.
func (s *Store) QuerySeries(ctx context.Context, id string, from, to time.Time) ([]QueryPoint, error) {
	res := s.resolution(from, to)
	rows, err := s.db.QueryContext(ctx, `SELECT at, span_ms, calls, errors_by_class, rows, total_ns, max_ns, waited_ns, hits, misses, hist
		FROM queries WHERE fp = ? AND res = ? AND at >= ? AND at < ? ORDER BY at`, id, res, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []QueryPoint
	for rows.Next() {
		var (
			at, span, calls, nrows, total, maxNS, waited, hits, misses int64
			byClass                                                    sql.NullString
			hist                                                       []byte
		)
		if err := rows.Scan(&at, &span, &calls, &byClass, &nrows, &total, &maxNS, &waited, &hits, &misses, &hist); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		p := QueryPoint{At: fromMS(at), Span: time.Duration(span) * time.Millisecond, QueryDelta: QueryDelta{
			ID: id, Calls: uint64(calls), Rows: uint64(nrows), Total: time.Duration(total), Max: time.Duration(maxNS),
			Waited: time.Duration(waited), Hits: uint64(hits), Misses: uint64(misses),
		}}
		if res == resHour {
			p.At = p.At.Add(time.Hour) // an hour's row is kept at its start
		}
		if byClass.Valid {
			p.Errors = map[string]uint64{}
			addClasses(p.Errors, byClass.String)
		}
		if p.Hist, err = DecodeHist(hist); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DatabasePoint is the database in one period.
type DatabasePoint struct {
	At   time.Time // the period's end
	Span time.Duration
	DatabaseSample
}

func databaseRows(ctx context.Context, q queryer, res int, from, to int64) ([]DatabasePoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, span_ms, calls, errors, waited_calls, waited_ns, size_bytes, wal_bytes, free_pages, page_size,
		open, in_use, idle, max_in_use, max_open, wait_count, wait_ns, breaker, fingerprints, evictions
		FROM database WHERE res = ? AND at >= ? AND at < ? ORDER BY at`, res, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DatabasePoint
	for rows.Next() {
		var p DatabasePoint
		var at, span, calls, errs, waitedCalls, waited, waitNS, evictions int64
		d := &p.DatabaseSample
		if err := rows.Scan(&at, &span, &calls, &errs, &waitedCalls, &waited, &d.SizeBytes, &d.WALBytes, &d.FreePages, &d.PageSize,
			&d.Open, &d.InUse, &d.Idle, &d.MaxInUse, &d.MaxOpen, &d.WaitCount, &waitNS, &d.Breaker, &d.Fingerprints, &evictions); err != nil {
			return nil, err
		}
		p.At, p.Span = fromMS(at), time.Duration(span)*time.Millisecond
		if res == resHour {
			p.At = p.At.Add(time.Hour)
		}
		d.Calls, d.Errors, d.WaitedCalls, d.Waited = uint64(calls), uint64(errs), uint64(waitedCalls), time.Duration(waited)
		d.WaitDuration, d.Evictions = time.Duration(waitNS), uint64(evictions)
		out = append(out, p)
	}
	return out, rows.Err()
}

// mergeDatabase adds up periods into one: counters summed, the last size
// and state, connections averaged by time.
func mergeDatabase(points []DatabasePoint) DatabaseSample {
	var d DatabaseSample
	var weight float64
	for i, p := range points {
		s := &p.DatabaseSample
		d.Calls += s.Calls
		d.Errors += s.Errors
		d.WaitedCalls += s.WaitedCalls
		d.Waited += s.Waited
		d.WaitCount += s.WaitCount
		d.WaitDuration += s.WaitDuration
		d.Evictions += s.Evictions
		w := max(p.Span.Seconds(), 1e-3)
		d.Open += s.Open * w
		d.InUse += s.InUse * w
		d.Idle += s.Idle * w
		weight += w
		d.MaxInUse = max(d.MaxInUse, s.MaxInUse)
		if i == len(points)-1 {
			d.SizeBytes, d.WALBytes, d.FreePages, d.PageSize = s.SizeBytes, s.WALBytes, s.FreePages, s.PageSize
			d.MaxOpen, d.Breaker, d.Fingerprints = s.MaxOpen, s.Breaker, s.Fingerprints
		}
	}
	if weight > 0 {
		d.Open, d.InUse, d.Idle = d.Open/weight, d.InUse/weight, d.Idle/weight
	}
	return d
}

// DatabaseSeries returns the database's periods in [from, to), oldest
// first, at the resolution [Store.QuerySeries] would read.
func (s *Store) DatabaseSeries(ctx context.Context, from, to time.Time) ([]DatabasePoint, error) {
	res := s.resolution(from, to)
	f := ms(from)
	if res == resHour {
		f -= hourMS // kept at its start: the hour that ends after from
	}
	p, err := databaseRows(ctx, s.db, res, f, ms(to))
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return p, nil
}

// Latest returns the database's last period, and ok false when there is
// none.
func (s *Store) Latest(ctx context.Context) (DatabasePoint, bool, error) {
	var at sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(at) FROM database WHERE res = ?`, resMinute).Scan(&at); err != nil {
		return DatabasePoint{}, false, fmt.Errorf("history: %w", err)
	}
	if !at.Valid {
		return DatabasePoint{}, false, nil
	}
	p, err := databaseRows(ctx, s.db, resMinute, at.Int64, at.Int64+1)
	if err != nil || len(p) == 0 {
		return DatabasePoint{}, false, err
	}
	return p[0], true, nil
}

// Alerts returns the alert events in [from, to), the newest first, at
// most limit.
func (s *Store) Alerts(ctx context.Context, from, to time.Time, limit int) ([]AlertEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, name, firing, value, threshold, message, fingerprints FROM alerts
		WHERE at >= ? AND at < ? ORDER BY at DESC, rowid DESC LIMIT ?`, ms(from), ms(to), limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return scanAlerts(rows)
}

func scanAlerts(rows *sql.Rows) ([]AlertEvent, error) {
	defer rows.Close()
	var out []AlertEvent
	for rows.Next() {
		var a AlertEvent
		var at int64
		var fps string
		if err := rows.Scan(&at, &a.Name, &a.Firing, &a.Value, &a.Threshold, &a.Message, &fps); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		a.At = fromMS(at)
		json.Unmarshal([]byte(fps), &a.Fingerprints)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Firing returns, for each alert whose last event fired, that event.
func (s *Store) Firing(ctx context.Context) ([]AlertEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, name, firing, value, threshold, message, fingerprints FROM alerts a
		WHERE rowid = (SELECT rowid FROM alerts b WHERE b.name = a.name ORDER BY at DESC, rowid DESC LIMIT 1) AND firing
		ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return scanAlerts(rows)
}

// Events returns the events of a kind ("" for all), the newest first, at
// most limit.
func (s *Store) Events(ctx context.Context, kind string, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, kind, detail FROM events WHERE ? = '' OR kind = ? ORDER BY at DESC, rowid DESC LIMIT ?`, kind, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&at, &e.Kind, &e.Detail); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Plans returns the plans kept, by fingerprint.
func (s *Store) Plans(ctx context.Context) (map[string]Plan, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT fp, captured_at, schema_version, plan FROM plans`)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	out := map[string]Plan{}
	for rows.Next() {
		var p Plan
		var at int64
		if err := rows.Scan(&p.ID, &at, &p.SchemaVersion, &p.Text); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		p.CapturedAt = fromMS(at)
		out[p.ID] = p
	}
	return out, rows.Err()
}

package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// ErrNoColumn is wrapped by the error of [Before] when the table has no
// column of that name.
var ErrNoColumn = errors.New("no such column")

// TimeFormat says how a column stores points in time; see [Before].
type TimeFormat string

// The time formats [Before] recognizes.
const (
	TimeText        TimeFormat = "ISO-8601 text"     // "2006-01-02 15:04:05" (CURRENT_TIMESTAMP), with T, fractions, a zone
	TimeUnix        TimeFormat = "Unix seconds"      // 1700000000
	TimeUnixMilli   TimeFormat = "Unix milliseconds" // 1700000000000
	TimeUnixMicro   TimeFormat = "Unix microseconds"
	TimeUnixNano    TimeFormat = "Unix nanoseconds"
	TimeJulianDay   TimeFormat = "Julian day number" // 2460000.5, what julianday() returns
	TimeNoValuesYet TimeFormat = "no values yet"
)

// Cutoff selects the rows whose time column lies before a point in time,
// compared in the format the column holds; its Where and Args go into
// [ArchivePolicy] or [PurgePolicy] (combined with other conditions by AND).
type Cutoff struct {
	Where  string     // an SQL condition on the column, with one ? parameter
	Args   []any      // the cutoff, in the column's format
	Format TimeFormat // the format found in the column
}

// numericUnits are the numeric time formats, each with the values it takes
// between the years 1971 and 2500 (Unix nanoseconds end in 2262). The
// ranges do not overlap, so a value tells its unit.
var numericUnits = []struct {
	format   TimeFormat
	min, max float64
	value    func(time.Time) any
}{
	{TimeJulianDay, 2441317.5, 2634166.5, func(t time.Time) any { return 2440587.5 + float64(t.UnixNano())/86400e9 }},
	{TimeUnix, 31536000, 16725225600, func(t time.Time) any { return t.Unix() }},
	{TimeUnixMilli, 31536000e3, 16725225600e3, func(t time.Time) any { return t.UnixMilli() }},
	{TimeUnixMicro, 31536000e6, 16725225600e6, func(t time.Time) any { return t.UnixMicro() }},
	{TimeUnixNano, 31536000e9, math.MaxInt64, func(t time.Time) any { return t.UnixNano() }},
}

// isoTime matches the text forms of a time that SQLite's date functions read.
var isoTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$`)

// Before returns the condition that selects the rows of table (in the main
// database of db) whose column holds a time before cutoff, for [Archive]
// and [Purge].
//
// A time column may hold text ("2006-01-02 15:04:05", what
// CURRENT_TIMESTAMP writes), Unix time in seconds, milliseconds,
// microseconds or nanoseconds, or Julian day numbers; and SQLite orders
// every integer before every text, so a text cutoff compared with Unix
// times matches every row. Before looks at the column's smallest and
// largest values and compares in their format: numbers with a number of
// the same unit, text through julianday(), which reads every ISO-8601 form
// (a "T", fractions of a second, "Z" or an offset; text without a zone is
// UTC), so that rows that hold no recognizable time are never selected.
//
// Before refuses, with an error that says what it found, a column whose
// values mix text and numbers, numbers of different units, numbers that are
// no time of the years 1971 to 2500, text that is no ISO-8601 time, or
// blobs: write the condition yourself then. A column with no values yet
// gives a condition that selects nothing. Finding the smallest and largest
// values reads the whole column unless it is indexed.
func Before(ctx context.Context, db *sql.DB, table, column string, cutoff time.Time) (Cutoff, error) {
	t, err := lookupTable(ctx, db, "main", table)
	if err != nil {
		return Cutoff{}, err
	}
	col, ok := t.column(column)
	if !ok {
		var names []string
		for _, c := range t.cols {
			names = append(names, c.name)
		}
		return Cutoff{}, fmt.Errorf("lifecycle: table %s: %w: %q (its columns: %s)", t.name, ErrNoColumn, column, strings.Join(names, ", "))
	}
	var lo, hi any
	var loType, hiType string
	err = db.QueryRowContext(ctx, `SELECT typeof(min(`+col.quoted+`)), typeof(max(`+col.quoted+`)), min(+`+col.quoted+`), max(+`+col.quoted+`) FROM `+t.quoted).
		Scan(&loType, &hiType, &lo, &hi)
	if err != nil {
		return Cutoff{}, fmt.Errorf("lifecycle: reading the range of %s.%s: %w", t.name, col.name, err)
	}
	where := col.quoted + " < ?"
	what := fmt.Sprintf("column %s of table %s", col.name, t.name)
	numeric := func(s string) bool { return s == "integer" || s == "real" }
	switch {
	case loType == "null":
		// Nothing to compare with; NULL < anything is not true either.
		return Cutoff{Where: "false", Format: TimeNoValuesYet}, nil
	case numeric(loType) && numeric(hiType):
		lf, hf := asFloat(lo), asFloat(hi)
		for _, u := range numericUnits {
			if lf >= u.min && lf <= u.max && hf >= u.min && hf <= u.max {
				return Cutoff{Where: where, Args: []any{u.value(cutoff)}, Format: u.format}, nil
			}
		}
		return Cutoff{}, fmt.Errorf("lifecycle: %s holds numbers from %v to %v, which are not all times of one unit (Unix seconds, milliseconds, microseconds, nanoseconds or Julian days, between the years 1971 and 2500): write the condition yourself (for Unix seconds, %s < %d)",
			what, lo, hi, col.quoted, cutoff.Unix())
	case loType == "text" && hiType == "text":
		l, h := fmt.Sprint(lo), fmt.Sprint(hi)
		if !isoTime.MatchString(l) || !isoTime.MatchString(h) {
			bad := l
			if isoTime.MatchString(l) {
				bad = h
			}
			return Cutoff{}, fmt.Errorf("lifecycle: %s holds the text %q, which is no ISO-8601 time (2006-01-02 15:04:05): write the condition yourself", what, bad)
		}
		return Cutoff{Where: "julianday(" + col.quoted + ") < julianday(?)", Args: []any{cutoff.UTC().Format("2006-01-02 15:04:05.000")}, Format: TimeText}, nil
	case loType == hiType:
		return Cutoff{}, fmt.Errorf("lifecycle: %s holds values of type %s, which are no times: write the condition yourself", what, loType)
	}
	return Cutoff{}, fmt.Errorf("lifecycle: %s holds values of more than one kind (the smallest is %s, the largest %s): times must be all text or all numbers of one unit; write the condition yourself",
		what, loType, hiType)
}

// asFloat returns a numeric value as a float64.
func asFloat(v any) float64 {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return math.NaN()
}

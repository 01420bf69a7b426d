package qlsqlite

import (
	"bytes"
	"database/sql/driver"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ncruces/go-sqlite3"
)

// This file is how qlsqlite reads a cached statement's rows: the values
// ncruces's driver would give, with less work per query and per row.
//
// ncruces's rows read the statement's column names and declared types
// anew for every query (a string per name, an upper-cased copy per type),
// and convert each text value through an extra copy. SQLite fixes names and
// declared types when it prepares a statement, so qlsqlite reads them once
// per cached statement (a [rowShape]) and again only after SQLite
// re-prepared it; Columns hands each query a copy of the names (one
// allocation), and text that may be a time is parsed where SQLite keeps it.
//
// The conversions are ncruces's (driver v0.37), value for value:
//   - INTEGER, FLOAT and NULL values as int64, float64 and nil;
//   - BLOB values as []byte, valid until the next row (database/sql copies
//     them unless scanned into sql.RawBytes);
//   - TEXT values as string, except: in a column not declared TEXT, text
//     that is an RFC 3339 time written the way ncruces writes times (if the
//     DSN's "_timefmt" writes RFC 3339) is a time.Time;
//   - in a column declared DATE, TIME, DATETIME or TIMESTAMP, any value the
//     DSN's read format decodes is a time.Time;
//   - in a column declared BOOLEAN, the integers 0 and 1 are false and true.
//
// The conformance suite compares every conversion with ncruces's own.

// columnKind is what a column's declared type says about converting its
// values.
type columnKind uint8

const (
	kindOther columnKind = iota // none, or another type: RFC 3339 text reads as a time
	kindText                    // TEXT: text stays text
	kindTime                    // DATE, TIME, DATETIME, TIMESTAMP
	kindBool                    // BOOLEAN
)

// kindOf maps a declared type as ncruces does: by the whole name, in any
// case, so that "VARCHAR(20)" and "numeric" are neither text nor time.
func kindOf(decl string) columnKind {
	switch {
	case strings.EqualFold(decl, "TEXT"):
		return kindText
	case strings.EqualFold(decl, "DATE"), strings.EqualFold(decl, "TIME"),
		strings.EqualFold(decl, "DATETIME"), strings.EqualFold(decl, "TIMESTAMP"):
		return kindTime
	case strings.EqualFold(decl, "BOOLEAN"):
		return kindBool
	}
	return kindOther
}

// rowShape is what every run of a prepared statement reads alike.
type rowShape struct {
	names []string     // the result columns; never handed out (DESIGN.md, trap 14)
	kinds []columnKind // by declared type
	at    int          // the statement's re-prepare count when read

	timeRead  sqlite3.TimeFormat // decodes values of time columns
	maybeTime bool               // times are written as RFC 3339: such text in other columns reads as a time
}

// timeFormats are the read and write formats of a DSN's "_timefmt", as
// ncruces's driver sets them.
func timeFormats(timefmt string) (read, write sqlite3.TimeFormat) {
	switch timefmt {
	case "":
		return sqlite3.TimeFormatAuto, sqlite3.TimeFormatDefault
	case "sqlite":
		return sqlite3.TimeFormatAuto, sqlite3.TimeFormat3
	case "rfc3339":
		return sqlite3.TimeFormatDefault, sqlite3.TimeFormatDefault
	}
	return sqlite3.TimeFormat(timefmt), sqlite3.TimeFormat(timefmt)
}

// shapeOf returns s's shape, read again if SQLite re-prepared s since
// (reprepares is its re-prepare count now).
func (c *sqliteConn) shapeOf(s *cachedStmt, reprepares int) *rowShape {
	if sh := s.shape; sh != nil && sh.at == reprepares {
		return sh
	}
	n := s.ColumnCount()
	sh := &rowShape{names: make([]string, n), kinds: make([]columnKind, n), at: reprepares}
	for i := range n {
		sh.names[i] = s.ColumnName(i)
		sh.kinds[i] = kindOf(s.ColumnDeclType(i))
	}
	read, write := timeFormats(c.db.cfg.timeFmt)
	sh.timeRead = read
	switch write {
	case sqlite3.TimeFormatDefault, sqlite3.TimeFormat(time.RFC3339), sqlite3.TimeFormat(time.RFC3339Nano):
		sh.maybeTime = true
	}
	s.shape = sh
	return sh
}

// step moves the rows' statement to its next row, with the query's
// context as SQLite's interrupt while it runs.
func (r *cachedRows) step() error {
	raw := r.conn.Conn.Raw()
	if old := raw.SetInterrupt(r.ctx); old != r.ctx {
		defer raw.SetInterrupt(old)
	}
	if r.stmt.Step() {
		return nil
	}
	if err := r.stmt.Err(); err != nil {
		return err
	}
	return io.EOF
}

// read fills dest with the current row's values, converted.
func (r *cachedRows) read(dest []driver.Value) error {
	s := r.stmt
	if err := s.ColumnsRaw(unsafe.Slice((*any)(unsafe.SliceData(dest)), len(dest))...); err != nil {
		return err
	}
	sh := r.shape
	for i, v := range dest {
		kind := sh.kinds[i]
		switch v := v.(type) {
		case []byte: // text or a blob, where SQLite keeps it
			// ColumnsRaw gives text with room for its NUL (cap > len) and a
			// blob without (cap == len), which is how ncruces's own rows tell
			// them apart; TestRowConversions in the conformance suite fails
			// if that ever changes.
			if len(v) == cap(v) {
				continue
			}
			dest[i] = sh.text(v, kind)
		case int64:
			switch kind {
			case kindTime:
				if t, err := sh.timeRead.Decode(v); err == nil {
					dest[i] = t
				}
			case kindBool:
				if v == 0 || v == 1 {
					dest[i] = v == 1
				}
			}
		case float64:
			if kind == kindTime {
				if t, err := sh.timeRead.Decode(v); err == nil {
					dest[i] = t
				}
			}
		}
	}
	return nil
}

// text converts a text value: a time where ncruces's would be one, else a
// string. b is SQLite's memory: it is parsed in place and copied only to
// become the string.
func (sh *rowShape) text(b []byte, kind columnKind) driver.Value {
	// Never kept: time.Parse copies the zone name it keeps, and numbers
	// are parsed into numbers.
	view := unsafe.String(unsafe.SliceData(b), len(b))
	if kind != kindText && sh.maybeTime {
		if t, ok := rfc3339Time(b, view); ok {
			return t
		}
	}
	if kind == kindTime {
		if sh.timeRead == sqlite3.TimeFormatAuto && sqliteTimeShape(b) {
			if t, ok := sqliteTime(b); ok {
				return t
			}
		}
		if t, err := sh.timeRead.Decode(view); err == nil {
			return t
		}
	}
	return strings.Clone(view)
}

// sqliteTimeShape reports whether b has exactly the shape of SQLite's own
// times ("2006-01-02 15:04:05", CURRENT_TIMESTAMP's), which
// [sqlite3.TimeFormatAuto] parses with [sqlite3.TimeFormat3] only after
// two numbers and seven failed layouts, each allocating its error: 40% of
// the trading platform's range query (20 rows, profiled). Parsing such
// text with that layout first gives the time TimeFormatAuto would: no
// layout it tries before that one parses it (times of day stop at the
// first '-', the others want a 'T', a zone or less text), and where
// that layout fails too, TimeFormatAuto is asked after all.
func sqliteTimeShape(b []byte) bool {
	if len(b) != len(sqlite3.TimeFormat3) {
		return false
	}
	for i, c := range b {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// sqliteTime reads text of [sqliteTimeShape] as time.Parse with
// [sqlite3.TimeFormat3] does (UTC; a month, day, hour, minute or second out
// of range is no time), without the layout machinery: the digits and
// separators are known to be where they are. time.Parse was 7 % of the
// range query's CPU profile (20 rows).
func sqliteTime(b []byte) (time.Time, bool) {
	num := func(i, j int) int {
		v := 0
		for _, c := range b[i:j] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

// daysIn is the number of days of month m of year.
func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// rfc3339Time reads text as a time if it is one written in RFC 3339 with
// nanoseconds, exactly as Go writes that time back: anything else (another
// layout, extra zeros, a lower-case "t") stays text, so that a string read
// back as a time always writes back as the same string.
func rfc3339Time(b []byte, view string) (time.Time, bool) {
	const shortest = len("2006-01-02T15:04:05Z")
	if len(b) < shortest || len(b) > len(time.RFC3339Nano) || b[4] != '-' || b[10] != 'T' || b[16] != ':' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, view)
	if err != nil {
		return time.Time{}, false
	}
	var buf [len(time.RFC3339Nano)]byte
	if !bytes.Equal(b, t.AppendFormat(buf[:0], time.RFC3339Nano)) {
		return time.Time{}, false
	}
	return t, true
}

// columnNames returns the names a query's Columns hands out: a copy of the
// statement's shape's, made once per query.
func (r *cachedRows) columnNames() []string {
	if r.names == nil {
		r.names = slices.Clone(r.shape.names)
	}
	return r.names
}

// ncrucesColumns readies ncruces's own rows to answer about column types
// (ColumnTypeDatabaseTypeName and the others), which they do from the names
// they read themselves.
func (r *cachedRows) ncrucesColumns() {
	if !r.ncrucesNamed {
		r.ncrucesNamed = true
		r.ncrucesRows.Columns()
	}
}

// ColumnTypeDatabaseTypeName implements [driver.RowsColumnTypeDatabaseTypeName].
func (r *cachedRows) ColumnTypeDatabaseTypeName(index int) string {
	r.ncrucesColumns()
	return r.ncrucesRows.ColumnTypeDatabaseTypeName(index)
}

// ColumnTypeNullable implements [driver.RowsColumnTypeNullable].
func (r *cachedRows) ColumnTypeNullable(index int) (nullable, ok bool) {
	r.ncrucesColumns()
	return r.ncrucesRows.ColumnTypeNullable(index)
}

// ColumnTypeScanType implements [driver.RowsColumnTypeScanType].
func (r *cachedRows) ColumnTypeScanType(index int) reflect.Type {
	r.ncrucesColumns()
	return r.ncrucesRows.ColumnTypeScanType(index)
}

// rowReader is what [cachedRows] asks of ncruces's statement, beyond
// [driver.Stmt]: the methods of the [sqlite3.Stmt] it embeds.
type rowReader interface {
	Step() bool
	Err() error
	ColumnsRaw(dest ...any) error
	ColumnDeclType(col int) string
}

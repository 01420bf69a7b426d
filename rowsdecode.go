package qlsqlite

import (
	"database/sql/driver"
	"strings"
	"time"
	"unsafe"

	"github.com/ncruces/go-sqlite3"
)

// Reading rows without ncruces's time guessing.
//
// The ncruces driver converts the value of a column declared DATE, TIME,
// DATETIME or TIMESTAMP with sqlite3.TimeFormatAuto, which tries seven
// layouts, each twice (with and without a zone), in an order that puts
// SQLite's own "2006-01-02 15:04:05" (CURRENT_TIMESTAMP's) fifth: nine
// failed time.Parse calls, each allocating its error, before the one that
// works. Profiled on the trading platform's range query (20 rows of
// trades), that was 40% of the query's time.
//
// qlsqlite reads the row itself, with ncruces's own stepping (NextRow, which
// keeps the interrupt) and raw columns, and converts each value exactly as
// ncruces does, with one shortcut: a value with the exact shape
// "dddd-dd-dd dd:dd:dd" is parsed with the one layout that TimeFormatAuto
// ends up using for it. Everything else goes to TimeFormatAuto itself. The
// shortcut is used only with ncruces's default time format (no "_timefmt"
// in the DSN); TestRowsDecodeLikeNcruces compares both on every value kind.

// scanType is a column's conversion, from its declared type, as ncruces
// decides it.
type scanType uint8

const (
	scanAny scanType = iota
	scanText
	scanTime
	scanBool
)

func scanOf(decl string) scanType {
	switch strings.ToUpper(decl) {
	case "TEXT":
		return scanText
	case "BOOLEAN":
		return scanBool
	case "DATE", "TIME", "DATETIME", "TIMESTAMP":
		return scanTime
	}
	return scanAny
}

// rawColumns is what ncruces's prepared statements promote from the
// [sqlite3.Stmt] they embed and [rowDecoder] reads.
type rawColumns interface {
	ColumnsRaw(dest ...any) error
	ColumnDeclType(col int) string
	ColumnCount() int
	Status(op sqlite3.StmtStatus, reset bool) int
}

// rowStepper is ncruces's rows stepping without converting.
type rowStepper interface{ NextRow() error }

// rowDecoder is a cached statement's conversion of its columns.
type rowDecoder struct {
	raw   rawColumns
	scans []scanType
	gen   int // the statement's re-prepare count when scans were read
	off   bool
}

// next reads the next row of rows, a query of s, into dest.
func (s *cachedStmt) next(rows ncrucesRows, dest []driver.Value, fast bool) error {
	d := &s.decode
	step, ok := rows.(rowStepper)
	if !fast || d.off || !ok {
		return rows.Next(dest)
	}
	if d.raw == nil {
		if d.raw, ok = s.ncrucesStmt.(rawColumns); !ok {
			d.off = true
			return rows.Next(dest)
		}
	}
	if err := step.NextRow(); err != nil {
		return err
	}
	// driver.Value is a defined type of any: the same memory.
	if err := d.raw.ColumnsRaw(unsafe.Slice((*any)(unsafe.SliceData(dest)), len(dest))...); err != nil {
		return err
	}
	if gen := d.raw.Status(sqlite3.STMTSTATUS_REPREPARE, false); d.scans == nil || gen != d.gen || len(d.scans) != len(dest) {
		d.scans, d.gen = d.scans[:0], gen
		for i := range dest {
			d.scans = append(d.scans, scanOf(d.raw.ColumnDeclType(i)))
		}
	}
	for i, v := range dest {
		dest[i] = convert(d.scans[i], v)
	}
	return nil
}

// convert is ncruces's conversion of a raw column value, for its default
// time format.
func convert(scan scanType, val driver.Value) driver.Value {
	if v, ok := val.([]byte); ok {
		if len(v) == cap(v) { // a BLOB: ncruces reads TEXT with room for its NUL
			return val
		}
		if scan != scanText {
			if t, ok := rfc3339Roundtrip(v); ok {
				return t
			}
		}
		val = string(v)
	}
	switch scan {
	case scanTime:
		if t, ok := decodeTime(val); ok {
			return t
		}
	case scanBool:
		switch val {
		case int64(0):
			return false
		case int64(1):
			return true
		}
	}
	return val
}

// rfc3339Roundtrip is ncruces's reading of text written by its default
// time format: a time in RFC 3339 that formats back to the same text.
func rfc3339Roundtrip(text []byte) (time.Time, bool) {
	if len(text) < len("2006-01-02T15:04:05Z") || len(text) > len(time.RFC3339Nano) ||
		text[4] != '-' || text[10] != 'T' || text[16] != ':' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(text))
	if err != nil {
		return time.Time{}, false
	}
	var buf [len(time.RFC3339Nano)]byte
	if string(t.AppendFormat(buf[:0], time.RFC3339Nano)) != string(text) {
		return time.Time{}, false
	}
	return t, true
}

// decodeTime is sqlite3.TimeFormatAuto.Decode, with SQLite's own layout
// tried first when the text has exactly its shape: no layout TimeFormatAuto
// tries before it can parse such text (they are times of day, or have a
// 'T' where it has a space, or a zone it does not have).
func decodeTime(val driver.Value) (time.Time, bool) {
	if s, ok := val.(string); ok && sqliteShape(s) {
		if t, err := time.Parse(string(sqlite3.TimeFormat3), s); err == nil {
			return t, true
		}
	}
	t, err := sqlite3.TimeFormatAuto.Decode(val)
	return t, err == nil
}

// sqliteShape reports whether s looks like "2006-01-02 15:04:05".
func sqliteShape(s string) bool {
	if len(s) != len("2006-01-02 15:04:05") {
		return false
	}
	for i := range len(s) {
		c := s[i]
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

package gormql

import (
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// explainTimeLayout is how [Dialector.Explain] writes a time: GORM's
// logger.ExplainSQL layout, so that gormql's statement log reads like every
// other GORM dialect's.
const explainTimeLayout = "2006-01-02 15:04:05.999"

// Explain implements [gorm.Dialector]: it returns sql with each "?" bind
// parameter replaced by its value, for a person to read. GORM uses it for
// its statement log and for db.ToSQL. Values are written as GORM's
// logger.ExplainSQL writes them, in SQLite's syntax:
//
//   - strings become 'text' with quotes doubled (double quotes would be
//     identifiers: double-quoted strings are off in this SQLite build);
//   - []byte becomes a blob literal X'…', a nil slice NULL;
//   - a [time.Time] is written in GORM's layout, "2006-01-02 15:04:05.999",
//     in the time's own location, which the text does not name: it is not
//     the RFC 3339 text the driver stores;
//   - booleans become true and false (SQLite's 1 and 0);
//   - a float64 or float32 is written in full, a named float type (type
//     Price float64) with six decimals, as GORM's logger writes it; NaN is
//     NULL (what SQLite stores for NaN), infinities 9e999 and -9e999;
//   - a [driver.Valuer] is written by its value; nil and nil pointers are NULL.
//
// A "?" inside a string literal, a quoted identifier or a comment is left
// alone. Where the values must be exactly what the driver binds (a DEFAULT
// in a table's definition, a view's body), the migrator writes them in its
// own way; see [Migrator.FullDataTypeOf] and [Migrator.CreateView].
func (d *Dialector) Explain(sql string, vars ...any) string {
	return inline(sql, vars, forPeople)
}

// inlineSQL returns sql with each "?" bind parameter replaced by the
// SQLite literal of exactly the value the driver would bind: for SQL that
// SQLite runs and stores (a DEFAULT, a view, a constraint), where a row
// GORM writes must compare equal to the literal.
func inlineSQL(sql string, vars ...any) string {
	return inline(sql, vars, asBound)
}

// inline replaces the bind parameters of sql by vars in style.
func inline(sql string, vars []any, style literalStyle) string {
	var b strings.Builder
	prev, n := 0, 0
	for _, t := range tokenize(sql) {
		if n == len(vars) {
			break
		}
		if t.kind == tokParam && t.text == "?" {
			b.WriteString(sql[prev:t.start])
			b.WriteString(style.literal(vars[n]))
			prev = t.end
			n++
		}
	}
	b.WriteString(sql[prev:])
	return b.String()
}

// literalStyle is how a value is written as an SQLite literal.
type literalStyle uint8

const (
	// asBound writes the value the driver binds: a time as RFC 3339 text,
	// any float in full.
	asBound literalStyle = iota
	// forPeople writes a time in GORM's layout and a named float type with
	// six decimals, as GORM's logger does.
	forPeople
)

// literal renders v as an SQLite literal.
func (s literalStyle) literal(v any) string {
	if v == nil {
		return "NULL"
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "NULL"
	}
	if valuer, ok := v.(driver.Valuer); ok {
		val, err := valuer.Value()
		if err != nil {
			return "NULL"
		}
		return s.literal(val)
	}
	switch v := v.(type) {
	case string:
		return stringLiteral(v)
	case []byte:
		if v == nil {
			return "NULL"
		}
		return "X'" + strings.ToUpper(hex.EncodeToString(v)) + "'"
	case time.Time:
		if s == forPeople {
			return quoteString(v.Format(explainTimeLayout))
		}
		return quoteString(v.Format(time.RFC3339Nano))
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return floatLiteral(v, -1)
	case float32:
		return floatLiteral(float64(v), -1) // what the driver binds
	}
	switch rv.Kind() {
	case reflect.Pointer:
		return s.literal(rv.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		if s == forPeople {
			return floatLiteral(rv.Float(), 6)
		}
		return floatLiteral(rv.Float(), -1)
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool())
	case reflect.String:
		return stringLiteral(rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return s.literal(rv.Bytes())
		}
	}
	return stringLiteral(fmt.Sprint(v))
}

// stringLiteral quotes s; text with NUL bytes, which a literal cannot
// hold, is written as a blob cast to text.
func stringLiteral(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "CAST(X'" + strings.ToUpper(hex.EncodeToString([]byte(s))) + "' AS TEXT)"
	}
	return quoteString(s)
}

// floatLiteral writes f with prec decimals, -1 for as many as it takes to
// read back the same float64.
func floatLiteral(f float64, prec int) string {
	switch {
	case math.IsNaN(f):
		return "NULL"
	case math.IsInf(f, 1):
		return "9e999"
	case math.IsInf(f, -1):
		return "-9e999"
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}

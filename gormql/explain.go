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

// Explain implements [gorm.Dialector]: it returns sql with each "?" bind
// parameter replaced by vars rendered as SQLite literals. GORM uses it to
// log statements, and to write DEFAULT values and view definitions, which
// SQLite runs: so the literals are exactly what the driver would have bound.
//
//   - strings become 'text' with quotes doubled (double quotes would be
//     identifiers: double-quoted strings are off in this SQLite build);
//   - []byte becomes a blob literal X'…', a nil slice NULL;
//   - [time.Time] becomes the text the driver stores, [time.RFC3339Nano];
//   - booleans become true and false (SQLite's 1 and 0);
//   - floats print as GORM writes them (so a DEFAULT reads back as the tag
//     that set it), NaN as NULL (what SQLite stores for NaN), infinities as
//     9e999 and -9e999;
//   - a [driver.Valuer] is rendered by its value; nil and nil pointers are NULL.
//
// A "?" inside a string literal, a quoted identifier or a comment is left alone.
func (d *Dialector) Explain(sql string, vars ...any) string {
	var b strings.Builder
	prev, n := 0, 0
	for _, t := range tokenize(sql) {
		if n == len(vars) {
			break
		}
		if t.kind == tokParam && t.text == "?" {
			b.WriteString(sql[prev:t.start])
			b.WriteString(literal(vars[n]))
			prev = t.end
			n++
		}
	}
	b.WriteString(sql[prev:])
	return b.String()
}

// literal renders v as an SQLite literal.
func literal(v any) string {
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
		return literal(val)
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
		return quoteString(v.Format(time.RFC3339Nano))
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return floatLiteral(v)
	case float32:
		return floatLiteral(float64(v)) // what the driver binds
	}
	switch rv.Kind() {
	case reflect.Pointer:
		return literal(rv.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return floatLiteral(rv.Float())
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool())
	case reflect.String:
		return stringLiteral(rv.String())
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return literal(rv.Bytes())
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

func floatLiteral(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NULL"
	case math.IsInf(f, 1):
		return "9e999"
	case math.IsInf(f, -1):
		return "-9e999"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

package rewrite

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// bindAll binds args to st as database/sql with the ncruces driver would:
// positionally, or by name for an [sql.NamedArg] (":name", "@name" and
// "$name" all take it).
func bindAll(st *sqlite3.Stmt, args []any) error {
	for i, a := range args {
		if n, ok := a.(sql.NamedArg); ok {
			found := false
			for _, prefix := range [...]string{":", "@", "$"} {
				if id := st.BindIndex(prefix + n.Name); id != 0 {
					found = true
					if err := bind(st, id, n.Value); err != nil {
						return err
					}
				}
			}
			if !found {
				return fmt.Errorf("rewrite: the statement has no parameter named %q", n.Name)
			}
			continue
		}
		if i+1 > st.BindCount() {
			return fmt.Errorf("rewrite: %d arguments for %d parameters", len(args), st.BindCount())
		}
		if err := bind(st, i+1, a); err != nil {
			return err
		}
	}
	return nil
}

// bind binds one value; types beyond SQLite's own go through database/sql's
// default conversion (int32, uint16, float32, driver.Valuer, ...). A
// time.Time is bound as the ncruces driver binds it by default, as text in
// RFC 3339 with nanoseconds.
func bind(st *sqlite3.Stmt, i int, v any) error {
	if vr, ok := v.(driver.Valuer); ok {
		var err error
		if v, err = vr.Value(); err != nil {
			return fmt.Errorf("rewrite: argument %d: %w", i, err)
		}
	}
	switch v.(type) {
	case nil, bool, int, int64, float64, string, []byte, time.Time:
	default:
		c, err := driver.DefaultParameterConverter.ConvertValue(v)
		if err != nil {
			return fmt.Errorf("rewrite: argument %d: %w (pass int64, float64, string, []byte, bool, time.Time or nil)", i, err)
		}
		v = c
	}
	switch v := v.(type) {
	case nil:
		return st.BindNull(i)
	case bool:
		return st.BindBool(i, v)
	case int:
		return st.BindInt64(i, int64(v))
	case int64:
		return st.BindInt64(i, v)
	case float64:
		return st.BindFloat(i, v)
	case string:
		return st.BindText(i, v)
	case []byte:
		return st.BindBlob(i, v)
	case time.Time:
		return st.BindTime(i, v, sqlite3.TimeFormatDefault)
	}
	return fmt.Errorf("rewrite: argument %d: cannot bind %T", i, v)
}

// value reads column i of the current row as a Go value of its storage
// class.
func value(st *sqlite3.Stmt, i int) any {
	switch st.ColumnType(i) {
	case sqlite3.INTEGER:
		return st.ColumnInt64(i)
	case sqlite3.FLOAT:
		return st.ColumnFloat(i)
	case sqlite3.TEXT:
		return st.ColumnText(i)
	case sqlite3.BLOB:
		return st.ColumnBlob(i, []byte{})
	}
	return nil
}

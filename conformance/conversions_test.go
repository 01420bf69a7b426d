package conformance_test

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Every value comes out of a query as the raw driver gives it, whatever
// the column's declared type and the DSN's _timefmt: qlsqlite reads rows
// itself (rows.go) and must convert them exactly as ncruces does. The rows
// are all read before any is printed, so that a value still pointing into
// SQLite's memory (a string, a time zone's name) would show corrupted.
func TestRowConversions(t *testing.T) {
	decls := []string{"INTEGER", "int", "REAL", "TEXT", "text", "VARCHAR(20)", "BLOB", "BOOLEAN", "boolean",
		"DATE", "TIME", "DATETIME", "datetime", "TIMESTAMP", "NUMERIC", ""}
	values := []string{
		"NULL", "0", "1", "2", "-7", "1700000000", "1700000000123", "2460000.5", "-1.5", "0.0",
		"'2026-01-02T03:04:05Z'", "'2026-01-02T03:04:05.123456789+05:30'", "'2026-01-02T03:04:05.100Z'",
		"'2026-01-02t03:04:05Z'", "'2026-01-02T03:04:05'", "'2026-01-02 03:04:05'", "'2026-01-02 03:04:05.678'",
		"'2024-02-29 23:59:59'", "'2026-13-02 03:04:05'", "'2026-02-30 03:04:05'", "'2026-01-02 24:04:05'", "'0000-01-01 00:00:00'",
		"'2026-01-02 03:04'", "'2026-01-02'", "'03:04:05'", "'03:04'", "'2026-01-02 03:04:05 MST'",
		"'2026-01-02 03:04:05 CET'", "'1700000000'", "'2460000.5'", "'yes'", "''", "'1'", "'0'", "'true'",
		"x'0102'", "x''", "x'323032362d30312d3032'",
	}
	var cols []string
	for i, d := range decls {
		cols = append(cols, fmt.Sprintf("c%d %s", i, d))
	}
	create := "CREATE TABLE v (" + strings.Join(cols, ", ") + ")"

	for _, timefmt := range []string{"", "sqlite", "rfc3339", "2006-01-02 15:04:05 MST", "2006-01-02", "unixepoch", "julianday", "unixepoch_milli"} {
		params := ""
		if timefmt != "" {
			params = "?_timefmt=" + url.QueryEscape(timefmt)
		}
		conformDSN(t, "timefmt="+timefmt, params, func(o *observer, db *sql.DB) {
			_, err := db.Exec(create)
			o.must(err)
			for _, v := range values {
				_, err := db.Exec("INSERT INTO v VALUES (" + strings.TrimSuffix(strings.Repeat(v+", ", len(decls)), ", ") + ")")
				o.must(err)
			}
			query := func(label string, q func() (*sql.Rows, error)) {
				rows, err := q()
				o.must(err)
				var all [][]any
				for rows.Next() {
					vals := make([]any, len(decls))
					ptrs := make([]any, len(decls))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					o.must(rows.Scan(ptrs...))
					all = append(all, vals)
				}
				o.seeErr(label+": rows.Err", rows.Err())
				o.must(rows.Close())
				for i, vals := range all {
					o.see("%s: %s as %s", label, values[i], typed(vals...))
				}
			}
			query("ad hoc", func() (*sql.Rows, error) { return db.Query(`SELECT * FROM v ORDER BY rowid`) })
			stmt, err := db.Prepare(`SELECT * FROM v WHERE rowid > ? ORDER BY rowid`)
			o.must(err)
			defer stmt.Close()
			for run := range 2 { // prepared, then the statement's second run
				query(fmt.Sprint("prepared, run ", run), func() (*sql.Rows, error) { return stmt.Query(0) })
			}
			// Expressions have no declared type.
			rows, err := db.Query(`SELECT c3 || '', c11 + 0, typeof(c11) FROM v ORDER BY rowid`)
			o.seeRows("expressions", rows, err)
		})
	}
}

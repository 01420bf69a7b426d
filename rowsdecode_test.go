package qlsqlite

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
)

// TestRowsDecodeLikeNcruces: every value, of every declared type, reads
// the same through qlsqlite as through the raw ncruces driver, the time
// shortcut's shape included, valid or not.
func TestRowsDecodeLikeNcruces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decode.db")
	raw, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE v (dt DATETIME, d DATE, tm TIME, ts TIMESTAMP, b BOOLEAN, tx TEXT, bl BLOB, i INTEGER, n)`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 12, 30, 45, 123456789, time.UTC)
	values := []any{
		"2026-11-26 11:00:00", "2026-13-01 00:00:00", "2026-02-30 25:61:61", "2026-11-26 11:00:00.250",
		"2026-11-26T11:00:00Z", "2026-11-26T11:00:00+02:00", "2026-11-26T11:00:00.000Z", "2026-11-26",
		"11:00", "11:00:00", "2026-11-26 11:00", "2026-11-26T11:00", "abcd-ef-gh ij:kl:mn", "",
		at, at.In(time.FixedZone("x", 3600)), int64(0), int64(1), int64(2), int64(1764157245),
		int64(1764157245000), 2461000.5, 1764157245.5, -3.5, "12345", "1.5", []byte("blob"), []byte{}, nil, true, false,
	}
	for _, v := range values {
		if _, err := raw.Exec(`INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, v, v, v, v, v, v, v, v, v); err != nil {
			t.Fatal(err)
		}
	}
	ql, err := sql.Open(DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer ql.Close()
	for _, q := range []string{
		`SELECT * FROM v ORDER BY rowid`,
		`SELECT dt, dt || '', upper(tx), b + 0 FROM v ORDER BY rowid`,
	} {
		want, got := readAll(t, raw, q), readAll(t, ql, q)
		if len(want) != len(values) || len(got) != len(want) {
			t.Fatalf("%s: %d rows raw, %d through qlsqlite, want %d", q, len(want), len(got), len(values))
		}
		for i := range want {
			if !reflect.DeepEqual(want[i], got[i]) {
				t.Errorf("%s, row of %#v:\nraw      %#v\nqlsqlite %#v", q, values[i], want[i], got[i])
			}
		}
	}
}

func readAll(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

package conformance_test

import (
	"database/sql"
	"database/sql/driver"
	"math"
	"time"

	"github.com/ncruces/go-sqlite3"
	"testing"
)

// celsius is a user type that is a driver.Valuer.
type celsius float64

func (c celsius) Value() (driver.Value, error) { return float64(c) * 10, nil }

func TestValues(t *testing.T) {
	conform(t, "insert_and_select", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB)`)
		o.must(err)
		res, err := db.Exec(`INSERT INTO t (name, score, data) VALUES (?, ?, ?)`, "alice", 1.5, []byte{0, 1, 2})
		o.seeResult("insert 1", res, err)
		res, err = db.Exec(`INSERT INTO t (name, score, data) VALUES (?, ?, ?), (?, ?, ?)`, "bob", nil, nil, "carol", 3, []byte{})
		o.seeResult("insert 2", res, err)
		res, err = db.Exec(`UPDATE t SET score = score + 1 WHERE score IS NOT NULL`)
		o.seeResult("update", res, err)
		res, err = db.Exec(`DELETE FROM t WHERE name = ?`, "nobody")
		o.seeResult("delete none", res, err)
		rows, err := db.Query(`SELECT * FROM t ORDER BY id`)
		o.seeRows("select", rows, err)
		rows, err = db.Query(`SELECT * FROM t WHERE id > ? ORDER BY id`, 1)
		o.seeRows("select args", rows, err)
	})

	conform(t, "go_types", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, any, bo BOOLEAN, dt DATETIME)`)
		o.must(err)
		when := time.Date(2026, 11, 26, 9, 30, 15, 123456789, time.FixedZone("X", 3600))
		args := [][]any{
			{int64(math.MaxInt64), math.Pi, "héllo", []byte("raw"), int32(-7), true, when},
			{int8(1), float32(0.5), "", []byte(nil), uint16(9), false, when.UTC()},
			{nil, nil, nil, nil, nil, nil, nil},
			{celsius(2.5), math.Inf(1), "x'00'", []byte{0}, "text in any", 1, "2026-01-02 03:04:05"},
			{uint64(1 << 62), -0.0, "NUL\x00inside", []byte("\x00"), time.Unix(0, 0), "yes", 1700000000},
		}
		for i, a := range args {
			res, err := db.Exec(`INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?)`, a...)
			o.seeResult("insert", res, err)
			_ = i
		}
		_, err = db.Exec(`INSERT INTO v (i) VALUES (?)`, uint64(math.MaxUint64))
		o.seeErr("uint64 high bit", err)
		_, err = db.Exec(`INSERT INTO v (i) VALUES (?)`, struct{}{})
		o.seeErr("struct arg", err)
		rows, err := db.Query(`SELECT * FROM v ORDER BY rowid`)
		o.seeRows("select", rows, err)

		var (
			i  int
			s  string
			bo bool
			dt time.Time
			ns sql.NullString
			ni sql.NullInt64
			nt sql.NullTime
			rb []byte
		)
		o.seeErr("scan typed", db.QueryRow(`SELECT i, t, bo, dt FROM v WHERE rowid = 1`).Scan(&i, &s, &bo, &dt))
		o.see("typed: %d %q %v %v", i, s, bo, dt)
		o.seeErr("scan nulls", db.QueryRow(`SELECT t, i, dt FROM v WHERE rowid = 3`).Scan(&ns, &ni, &nt))
		o.see("nulls: %#v %#v %#v", ns, ni, nt)
		o.seeErr("scan null into string", db.QueryRow(`SELECT t FROM v WHERE rowid = 3`).Scan(&s))
		o.seeErr("scan bytes", db.QueryRow(`SELECT b FROM v WHERE rowid = 1`).Scan(&rb))
		o.see("bytes: %q", rb)
		o.seeErr("scan text into int", db.QueryRow(`SELECT t FROM v WHERE rowid = 1`).Scan(&i))
	})

	conform(t, "named_args", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE n (a, b, c)`)
		o.must(err)
		res, err := db.Exec(`INSERT INTO n VALUES (:a, @b, $c)`, sql.Named("a", 1), sql.Named("b", "two"), sql.Named("c", 3.0))
		o.seeResult("colon at dollar", res, err)
		res, err = db.Exec(`INSERT INTO n VALUES (:x, :x, ?3)`, sql.Named("x", "same"), 2, "third")
		o.seeResult("mixed", res, err)
		res, err = db.Exec(`INSERT INTO n VALUES (?1, ?1, ?2)`, "one", "two")
		o.seeResult("numbered", res, err)
		_, err = db.Exec(`INSERT INTO n VALUES (:a, :b, :c)`, sql.Named("a", 1))
		o.seeErr("missing named", err)
		rows, err := db.Query(`SELECT * FROM n WHERE a = :a OR b = :b ORDER BY rowid`, sql.Named("a", 1), sql.Named("b", "same"))
		o.seeRows("select named", rows, err)
	})

	conform(t, "argument_count", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE c (a, b)`)
		o.must(err)
		_, err = db.Exec(`INSERT INTO c VALUES (?, ?)`, 1)
		o.seeErr("exec too few", err)
		_, err = db.Exec(`INSERT INTO c VALUES (?, ?)`, 1, 2, 3)
		o.seeErr("exec too many", err)
		_, err = db.Query(`SELECT * FROM c WHERE a = ?`)
		o.seeErr("query too few", err)
		_, err = db.Query(`SELECT * FROM c WHERE a = ?`, 1, 2)
		o.seeErr("query too many", err)
		_, err = db.Query(`SELECT 1`, 1)
		o.seeErr("query args without placeholders", err)
		stmt, err := db.Prepare(`INSERT INTO c VALUES (?, ?)`)
		o.must(err)
		defer stmt.Close()
		_, err = stmt.Exec(1)
		o.seeErr("stmt too few", err)
		res, err := stmt.Exec(1, 2)
		o.seeResult("stmt right", res, err)
	})

	conform(t, "column_types", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE ct (id INTEGER PRIMARY KEY, n INT NOT NULL, r REAL, t VARCHAR(20), b BLOB, bo BOOLEAN, d DATE, x)`)
		o.must(err)
		_, err = db.Exec(`INSERT INTO ct VALUES (1, 2, 3.5, 'four', x'05', 1, '2026-11-26', 'any')`)
		o.must(err)
		for _, q := range []string{`SELECT * FROM ct`, `SELECT n + 1 AS expr, upper(t), x FROM ct`, `SELECT * FROM ct WHERE id = ?`} {
			var args []any
			if q[len(q)-1] == '?' {
				args = []any{1}
			}
			rows, err := db.Query(q, args...)
			o.must(err)
			types, err := rows.ColumnTypes()
			o.must(err)
			for _, ct := range types {
				nullable, ok := ct.Nullable()
				_, _, dec := ct.DecimalSize()
				_, hasLen := ct.Length()
				o.see("%s: %s type %q nullable %v/%v scan %v decimal %v length %v", q, ct.Name(), ct.DatabaseTypeName(), nullable, ok, ct.ScanType(), dec, hasLen)
			}
			rows.Next()
			types, err = rows.ColumnTypes()
			o.must(err)
			for _, ct := range types {
				o.see("%s after Next: %s scan %v", q, ct.Name(), ct.ScanType())
			}
			o.must(rows.Close())
		}
	})

	conform(t, "raw_bytes_and_reuse", func(o *observer, db *sql.DB) {
		rows, err := db.Query(`SELECT 'abc', x'0102' UNION ALL SELECT 'def', x'03'`)
		o.must(err)
		defer rows.Close()
		for rows.Next() {
			var a, b sql.RawBytes
			o.must(rows.Scan(&a, &b))
			o.see("raw: %q %q", a, b)
		}
		o.seeErr("rows.Err", rows.Err())
	})

	conform(t, "json_and_pointer_args", func(o *observer, db *sql.DB) {
		_, err := db.Exec(`CREATE TABLE j (doc)`)
		o.must(err)
		res, err := db.Exec(`INSERT INTO j VALUES (?)`, sqlite3.JSON(map[string]any{"symbol": "AAPL", "qty": 3}))
		o.seeResult("insert json", res, err)
		var doc map[string]any
		o.seeErr("scan json", db.QueryRow(`SELECT doc FROM j`).Scan(sqlite3.JSON(&doc)))
		o.see("doc: %v", doc)
		var typ string
		o.seeErr("pointer", db.QueryRow(`SELECT typeof(?)`, sqlite3.Pointer(&doc)).Scan(&typ))
		o.see("pointer typeof: %s", typ)
		var n int64
		o.seeErr("zeroblob", db.QueryRow(`SELECT length(?)`, sqlite3.ZeroBlob(16)).Scan(&n))
		o.see("zeroblob length: %d", n)
	})

	conform(t, "exec_select_and_empty", func(o *observer, db *sql.DB) {
		res, err := db.Exec(`SELECT 1`)
		o.seeResult("exec select", res, err)
		res, err = db.Exec(`SELECT ?`, 1)
		o.seeResult("exec select args", res, err)
		res, err = db.Exec(`-- nothing but a comment`)
		o.seeResult("exec comment", res, err)
		res, err = db.Exec(``)
		o.seeResult("exec empty", res, err)
	})
}

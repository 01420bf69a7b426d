package advise

import (
	"context"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

func TestSampleAndRowCount(t *testing.T) {
	db := openDB(t, `CREATE TABLE events (id INTEGER PRIMARY KEY, u INTEGER, s TEXT, z INTEGER)`)
	const n = 20000
	// s is "closed" except in the last 5% of rows, where "open" appears:
	// a sample of the first rows would miss it.
	fill(t, db, `INSERT INTO events (u, s, z) VALUES (?, ?, ?)`, n, func(i int) []any {
		s := "closed"
		if i > n*95/100 && i%2 == 0 {
			s = "open"
		}
		return []any{i, s, i % 50}
	})
	err := withRaw(context.Background(), db, func(c *sqlite3.Conn) error {
		sch, err := loadSchema(c)
		if err != nil {
			return err
		}
		tbl := sch.table("events")

		if got, err := rowCount(c, tbl, 1000); err != nil || got != n {
			t.Errorf("rowCount past the limit = %d, %v; want %d from the rowid span", got, err, n)
		}
		if got, err := rowCount(c, tbl, n); err != nil || got != n {
			t.Errorf("rowCount within the limit = %d, %v; want %d", got, err, n)
		}

		smp, err := readSample(c, tbl, n, 1000)
		if err != nil {
			return err
		}
		if smp.full || smp.n < 900 || smp.n > 1000 {
			t.Errorf("sample of %d rows, full %v; want about 1000 rows, not full", smp.n, smp.full)
		}
		col := func(name string) int {
			for i, c := range tbl.cols {
				if c.name == name {
					return i
				}
			}
			t.Fatalf("no column %s", name)
			return -1
		}
		if d := smp.distinct([]int{col("s")})[0]; d != 2 {
			t.Errorf("distinct(s) = %d, want 2: the sample must reach the recent rows", d)
		}
		if d := smp.distinct([]int{col("z")})[0]; d != 50 {
			t.Errorf("distinct(z) = %d, want 50", d)
		}
		// A unique column must look selective: a few rows per value at most.
		du := smp.distinct([]int{col("u")})[0]
		if avg := n / du; avg > 5 {
			t.Errorf("distinct(u) = %d: %d rows per value, want at most 5", du, avg)
		}
		// Prefixes: (z, u) is at least as selective as u.
		if d := smp.distinct([]int{col("z"), col("u")}); d[0] != 50 || d[1] < du {
			t.Errorf("distinct(z, u) = %v", d)
		}
		if got := statLine(n, []int64{2, 50}, false); got != "20000 10000 400" {
			t.Errorf("statLine = %q", got)
		}
		if got := statLine(n, []int64{50, 19000}, true); got != "20000 400 1" {
			t.Errorf("unique statLine = %q", got)
		}

		full, err := readSample(c, tbl, n, n)
		if err != nil {
			return err
		}
		if !full.full || full.n != n || full.distinct([]int{col("u")})[0] != n {
			t.Errorf("whole-table sample: n %d, full %v", full.n, full.full)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package advise

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// benchSchema creates 20 tables t00..t19 of 1000 rows each; every table but
// the first references the one before it, and every fourth has an index on
// code, so that some candidates are served already.
func benchSchema(b testing.TB) *sql.DB {
	var s strings.Builder
	for k := range 20 {
		fmt.Fprintf(&s, `CREATE TABLE t%02d (id INTEGER PRIMARY KEY, parent_id INTEGER, code TEXT, kind TEXT,
			amount REAL, created TEXT, flag INTEGER, note TEXT);
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
			INSERT INTO t%02d (parent_id, code, kind, amount, created, flag, note)
			SELECT (i * 7) %% 1000 + 1, printf('c%%03d', (i * 13) %% 200), 'k' || (i %% 5), i * 0.5,
				printf('2025-%%02d-%%02d', i %% 12 + 1, i %% 28 + 1), i %% 2, 'n' || i FROM n;`, k, k)
		if k%4 == 0 {
			fmt.Fprintf(&s, `CREATE INDEX t%02d_code ON t%02d (code);`, k, k)
		}
	}
	return openDB(b, s.String())
}

// benchQueries returns 50 statements over the 20 tables: equality, ranges,
// ORDER BY, GROUP BY, IN lists, joins, UPDATE and DELETE.
func benchQueries() []Query {
	templates := []string{
		`SELECT * FROM t%[1]s WHERE code = ?`,
		`SELECT id, amount FROM t%[1]s WHERE kind = ? AND created >= ? ORDER BY created LIMIT 20`,
		`SELECT * FROM t%[1]s WHERE amount BETWEEN ? AND ?`,
		`SELECT a.note, b.amount FROM t%[1]s AS a JOIN t%[2]s AS b ON b.parent_id = a.id WHERE a.code = ?`,
		`SELECT kind, count(*) FROM t%[1]s GROUP BY kind`,
		`SELECT * FROM t%[1]s WHERE code IN (?, ?, ?) ORDER BY created DESC LIMIT 10`,
		`UPDATE t%[1]s SET flag = ? WHERE code = ? AND kind = ?`,
		`DELETE FROM t%[1]s WHERE created < ?`,
		`SELECT note FROM t%[1]s WHERE flag = ? AND kind = ? AND amount > ?`,
		`SELECT * FROM t%[1]s WHERE id = ?`,
	}
	var qs []Query
	for i := range 50 {
		k := (7*i + i/10) % 20 // each (template, table) pair once
		qs = append(qs, Query{SQL: fmt.Sprintf(templates[i%len(templates)], fmt.Sprintf("%02d", k), fmt.Sprintf("%02d", (k+1)%20))})
	}
	return qs
}

// BenchmarkAdvise50Queries20Tables measures one whole analysis: schema and
// statistics read, what-if recording, samples, candidates, verification and
// merging, for 50 statements over 20 tables of 1000 rows.
func BenchmarkAdvise50Queries20Tables(b *testing.B) {
	db := benchSchema(b)
	qs := benchQueries()
	ctx := context.Background()
	var advised int
	for b.Loop() {
		rep, err := Analyze(ctx, db, qs, Options{})
		if err != nil {
			b.Fatal(err)
		}
		advised = len(rep.Advice)
	}
	if advised == 0 {
		b.Fatal("no advice")
	}
	b.ReportMetric(float64(advised), "indexes")
}

// TestBenchmarkWorkload checks what the benchmark measures: every statement
// that scans a table gains from the advice, and no index is advised where
// the existing one on code serves.
func TestBenchmarkWorkload(t *testing.T) {
	db := benchSchema(t)
	qs := benchQueries()
	seen := map[string]bool{}
	var sqls []string
	for _, q := range qs {
		seen[q.SQL] = true
		sqls = append(sqls, q.SQL)
	}
	if len(seen) != 50 {
		t.Fatalf("%d distinct statements, want 50", len(seen))
	}
	rep := analyzeT(t, db, Options{}, sqls...)
	for _, r := range rep.Queries {
		if r.Err != nil || r.Note != "" {
			t.Errorf("%s: err %v, note %q", r.SQL, r.Err, r.Note)
		}
		if r.Before.fullScans() > 0 && !better(r.After, r.Before) {
			t.Errorf("%s does not gain:\n%s\n=>\n%s", r.SQL, r.Before, r.After)
		}
	}
	for _, a := range rep.Advice {
		var k int
		fmt.Sscanf(a.Table, "t%d", &k)
		if k%4 == 0 && a.Columns[0] == "code" && len(a.Columns) == 1 {
			t.Errorf("%s: t%02d_code serves", a.CreateSQL, k)
		}
	}
}

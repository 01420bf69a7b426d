package advise

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestEquality(t *testing.T) {
	db := itemsDB(t)
	const q = `SELECT * FROM items WHERE a = ?`
	rep := analyzeT(t, db, Options{}, q)
	a := adviceOn(rep, "items", "a")
	if a == nil || len(rep.Advice) != 1 {
		t.Fatalf("want one index on items(a):\n%s", describe(rep))
	}
	if !strings.HasPrefix(a.CreateSQL, `CREATE INDEX IF NOT EXISTS "idx_items_a" ON "items" ("a")`) {
		t.Errorf("CreateSQL = %s", a.CreateSQL)
	}
	pc := a.Queries[0]
	if pc.SQL != q || !slices.Equal(scans(pc.Before), []string{"items"}) || len(scans(pc.After)) != 0 {
		t.Errorf("want SCAN before and SEARCH after:\n%s", describe(rep))
	}
	if got := pc.After.Indexes(); !slices.Equal(got, []string{a.Name}) {
		t.Errorf("after plan reads %v, want %s", got, a.Name)
	}
	if p := applyAndExplain(t, db, rep, q); !slices.Equal(p.Indexes(), []string{a.Name}) {
		t.Errorf("real plan after creating the index:\n%s", p)
	}
}

func TestRange(t *testing.T) {
	db := itemsDB(t)
	const q = `SELECT * FROM items WHERE c > ? AND c < ?`
	rep := analyzeT(t, db, Options{}, q)
	a := adviceOn(rep, "items", "c")
	if a == nil || len(rep.Advice) != 1 {
		t.Fatalf("want one index on items(c):\n%s", describe(rep))
	}
	after := a.Queries[0].After.String()
	if !strings.Contains(after, "SEARCH items USING INDEX "+a.Name+" (c>? AND c<?)") {
		t.Errorf("after plan:\n%s", after)
	}
}

func TestEqualityThenRange(t *testing.T) {
	db := itemsDB(t)
	rep := analyzeT(t, db, Options{}, `SELECT * FROM items WHERE b = ? AND c >= ?`)
	if adviceOn(rep, "items", "b", "c") == nil || len(rep.Advice) != 1 {
		t.Fatalf("want one index on items(b, c):\n%s", describe(rep))
	}
}

func TestOrderBy(t *testing.T) {
	db := itemsDB(t)
	const q = `SELECT * FROM items ORDER BY d DESC LIMIT 10`
	rep := analyzeT(t, db, Options{}, q)
	a := adviceOn(rep, "items", "d")
	if a == nil || len(rep.Advice) != 1 {
		t.Fatalf("want one index on items(d):\n%s", describe(rep))
	}
	// Read backwards, an ascending index delivers the descending order.
	if strings.Contains(a.CreateSQL, "DESC") {
		t.Errorf("CreateSQL = %s, want no DESC", a.CreateSQL)
	}
	pc := a.Queries[0]
	if pc.Before.tempBTrees() != 1 || pc.After.tempBTrees() != 0 {
		t.Errorf("want the temp b-tree gone:\n%s", describe(rep))
	}
}

func TestOrderByMixedDirections(t *testing.T) {
	db := itemsDB(t)
	rep := analyzeT(t, db, Options{}, `SELECT * FROM items WHERE e = ? ORDER BY b, d DESC LIMIT 10`)
	a := adviceOn(rep, "items", "e", "b", "d")
	if a == nil {
		t.Fatalf("want an index on items(e, b, d DESC):\n%s", describe(rep))
	}
	if !strings.Contains(a.CreateSQL, `("e", "b", "d" DESC)`) {
		t.Errorf("CreateSQL = %s", a.CreateSQL)
	}
}

func TestGroupBy(t *testing.T) {
	db := itemsDB(t)
	rep := analyzeT(t, db, Options{}, `SELECT b, count(*) FROM items GROUP BY b`)
	a := adviceOn(rep, "items", "b")
	if a == nil {
		t.Fatalf("want an index on items(b):\n%s", describe(rep))
	}
	if pc := a.Queries[0]; pc.Before.tempBTrees() == 0 || pc.After.tempBTrees() != 0 {
		t.Errorf("want the temp b-tree for GROUP BY gone:\n%s", describe(rep))
	}
}

func TestInList(t *testing.T) {
	db := itemsDB(t)
	rep := analyzeT(t, db, Options{}, `SELECT * FROM items WHERE a IN (1, 2, 3)`)
	a := adviceOn(rep, "items", "a")
	if a == nil || len(rep.Advice) != 1 {
		t.Fatalf("want one index on items(a):\n%s", describe(rep))
	}
	if after := a.Queries[0].After.String(); !strings.Contains(after, "SEARCH items USING INDEX "+a.Name+" (a=?)") {
		t.Errorf("after plan:\n%s", after)
	}
}

func TestParameterForms(t *testing.T) {
	db := itemsDB(t)
	qs := []string{
		`SELECT * FROM items WHERE a = ?1 AND b = ?2`,
		`SELECT * FROM items WHERE a = :a AND b = :b`,
		`SELECT * FROM items WHERE a = @a AND b = $b`,
	}
	rep := analyzeT(t, db, Options{}, qs...)
	// a is more selective than b, so it leads.
	a := adviceOn(rep, "items", "a", "b")
	if a == nil || len(rep.Advice) != 1 || len(a.Queries) != 3 {
		t.Fatalf("want one index on items(a, b) helping all three:\n%s", describe(rep))
	}
}

func TestJoin(t *testing.T) {
	db := openDB(t, `
		CREATE TABLE customers (id INTEGER PRIMARY KEY, region TEXT, name TEXT);
		CREATE TABLE purchases (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL, at TEXT);`)
	fill(t, db, `INSERT INTO customers (region, name) VALUES (?, ?)`, 1000, func(i int) []any {
		return []any{[]string{"eu", "us", "apac", "latam", "mea"}[i%5] + string(rune('a'+i%20)), "c"}
	})
	fill(t, db, `INSERT INTO purchases (customer_id, total, at) VALUES (?, ?, ?)`, 5000, func(i int) []any {
		return []any{1 + (i*7)%1000, float64(i), "2025"}
	})
	const q = `SELECT c.name, p.total FROM customers AS c JOIN purchases AS p ON p.customer_id = c.id WHERE c.region = ?`
	rep := analyzeT(t, db, Options{CoveringColumns: -1}, q)
	if adviceOn(rep, "customers", "region") == nil || adviceOn(rep, "purchases", "customer_id") == nil {
		t.Fatalf("want indexes on customers(region) and purchases(customer_id):\n%s", describe(rep))
	}
	r := rep.Queries[0]
	if len(scans(r.Before)) == 0 || len(scans(r.After)) != 0 {
		t.Errorf("want every scan turned into a search:\n%s", describe(rep))
	}
	if p := applyAndExplain(t, db, rep, q); len(scans(p)) != 0 {
		t.Errorf("real plan after creating the indexes:\n%s", p)
	}
}

func TestCovering(t *testing.T) {
	db := itemsDB(t)
	const q = `SELECT c FROM items WHERE a = ?`
	rep := analyzeT(t, db, Options{}, q)
	a := adviceOn(rep, "items", "a", "c")
	if a == nil || len(rep.Advice) != 1 {
		t.Fatalf("want one covering index on items(a, c):\n%s", describe(rep))
	}
	if after := a.Queries[0].After.String(); !strings.Contains(after, "USING COVERING INDEX "+a.Name) {
		t.Errorf("after plan:\n%s", after)
	}

	rep = analyzeT(t, db, Options{CoveringColumns: -1}, q)
	if adviceOn(rep, "items", "a") == nil || len(rep.Advice) != 1 {
		t.Fatalf("without covering variants, want items(a):\n%s", describe(rep))
	}
}

func TestExistingIndexServes(t *testing.T) {
	db := itemsDB(t)
	if _, err := db.Exec(`CREATE INDEX items_b_a ON items (b, a)`); err != nil {
		t.Fatal(err)
	}
	// The equality columns in another order than the index's.
	rep := analyzeT(t, db, Options{}, `SELECT * FROM items WHERE a = ? AND b = ?`, `SELECT * FROM items WHERE b = ?`)
	if len(rep.Advice) != 0 {
		t.Fatalf("want no advice, items_b_a serves:\n%s", describe(rep))
	}
	for _, r := range rep.Queries {
		if !slices.Equal(r.After.Indexes(), []string{"items_b_a"}) {
			t.Errorf("%s: plan reads %v, want items_b_a", r.SQL, r.After.Indexes())
		}
	}
}

func TestMergePrefix(t *testing.T) {
	db := itemsDB(t)
	q1, q2 := `SELECT * FROM items WHERE a = ?`, `SELECT * FROM items WHERE a = ? AND c > ?`
	// Alone, each statement gets its own index.
	if rep := analyzeT(t, db, Options{}, q1); adviceOn(rep, "items", "a") == nil {
		t.Fatalf("q1 alone:\n%s", describe(rep))
	}
	rep := analyzeT(t, db, Options{}, q1, q2)
	a := adviceOn(rep, "items", "a", "c")
	if a == nil || len(rep.Advice) != 1 {
		t.Fatalf("want items(a) merged into items(a, c):\n%s", describe(rep))
	}
	var helped []string
	for _, pc := range a.Queries {
		helped = append(helped, pc.SQL)
	}
	if !slices.Equal(helped, []string{q1, q2}) {
		t.Errorf("items(a, c) helps %q, want both", helped)
	}
}

func TestUnpreparableQuery(t *testing.T) {
	db := itemsDB(t)
	bad := []string{`SELECT * FROM nosuch WHERE x = ?`, `SELECT * FROM items WHERE a = ?; SELECT 1`, `-- nothing`}
	good := `SELECT * FROM items WHERE b = ?`
	qs := []Query{{SQL: bad[0]}, {SQL: good}, {SQL: bad[1]}, {SQL: bad[2]}}
	rep, err := Analyze(context.Background(), db, qs, Options{})
	if err == nil {
		t.Fatal("want an error")
	}
	var failed []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var qe *QueryError
		if !errors.As(e, &qe) {
			t.Fatalf("%v is not a *QueryError", e)
		}
		failed = append(failed, qe.Query)
		if !strings.Contains(e.Error(), qe.Query) {
			t.Errorf("error %q does not name the query", e)
		}
	}
	if !slices.Equal(failed, bad) {
		t.Errorf("failed %q, want %q", failed, bad)
	}
	if adviceOn(rep, "items", "b") == nil || rep.Queries[1].Err != nil || rep.Queries[0].Err == nil {
		t.Errorf("the good query must still be analysed:\n%s", describe(rep))
	}
}

func TestReadsOnly(t *testing.T) {
	db := itemsDB(t)
	schema := func() string {
		var s []string
		rows, err := db.Query(`SELECT type || ' ' || name FROM sqlite_schema ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var x string
			rows.Scan(&x)
			s = append(s, x)
		}
		return strings.Join(s, ",")
	}
	before := schema()
	rep := analyzeT(t, db, Options{}, `SELECT * FROM items WHERE a = ?`, `DELETE FROM items WHERE b = ?`, `UPDATE items SET note = ? WHERE c = ?`)
	if len(rep.Advice) == 0 {
		t.Fatalf("want advice:\n%s", describe(rep))
	}
	if after := schema(); after != before {
		t.Errorf("schema changed from %s to %s", before, after)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM items`).Scan(&n)
	if n != 3000 {
		t.Errorf("items has %d rows, want 3000: the DELETE ran", n)
	}
}

func TestWritesAdvised(t *testing.T) {
	db := itemsDB(t)
	rep := analyzeT(t, db, Options{}, `DELETE FROM items WHERE c = ?`, `UPDATE items SET note = ? WHERE c = ?`)
	a := adviceOn(rep, "items", "c")
	if a == nil || len(a.Queries) != 2 {
		t.Fatalf("want items(c) helping the DELETE and the UPDATE:\n%s", describe(rep))
	}
}

func TestCanceled(t *testing.T) {
	db := itemsDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Analyze(ctx, db, []Query{{SQL: `SELECT * FROM items WHERE a = ?`}}, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

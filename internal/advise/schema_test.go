package advise

import (
	"slices"
	"strings"
	"testing"
)

func TestView(t *testing.T) {
	db := itemsDB(t)
	if _, err := db.Exec(`CREATE VIEW reds AS SELECT id, a, c FROM items WHERE e = 'red'`); err != nil {
		t.Fatal(err)
	}
	rep := analyzeT(t, db, Options{CoveringColumns: -1}, `SELECT * FROM reds WHERE a = ?`)
	if len(rep.Advice) != 1 || rep.Advice[0].Table != "items" || rep.Advice[0].Columns[0] != "a" {
		t.Fatalf("want an index on items leading with a:\n%s", describe(rep))
	}
}

func TestWithoutRowid(t *testing.T) {
	db := openDB(t, `CREATE TABLE kv (ns TEXT, k TEXT, v TEXT, PRIMARY KEY (ns, k)) WITHOUT ROWID`)
	fill(t, db, `INSERT INTO kv VALUES (?, ?, ?)`, 2000, func(i int) []any {
		return []any{[]string{"a", "b", "c", "d"}[i%4], strings.Repeat("k", 1+i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)), string(rune('a' + i%300))}
	})
	rep := analyzeT(t, db, Options{}, `SELECT v FROM kv WHERE k = ? AND ns = ?`, `SELECT ns FROM kv WHERE v = ?`)
	if len(rep.Advice) != 1 || rep.Advice[0].Columns[0] != "v" {
		t.Fatalf("want one index leading with v (the primary key serves the other):\n%s", describe(rep))
	}
	if !strings.Contains(rep.Queries[0].After.String(), "USING PRIMARY KEY") {
		t.Errorf("primary key lookup:\n%s", rep.Queries[0].After)
	}
}

func TestQuotingAndCollation(t *testing.T) {
	db := openDB(t, `CREATE TABLE "Order Lines" (id INTEGER PRIMARY KEY, "unit price" REAL, "Name" TEXT, sku TEXT COLLATE NOCASE)`)
	fill(t, db, `INSERT INTO "Order Lines" ("unit price", "Name", sku) VALUES (?, ?, ?)`, 2000, func(i int) []any {
		return []any{float64(i % 500), string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%13)), string(rune('a'+i%26)) + string(rune('0'+i%10))}
	})
	qs := []string{
		`SELECT id FROM "Order Lines" WHERE "unit price" > ?`,
		`SELECT * FROM "Order Lines" WHERE "Name" = ? COLLATE NOCASE`,
		`SELECT * FROM "Order Lines" WHERE sku = ?`,
	}
	rep := analyzeT(t, db, Options{}, qs...)
	var sqls []string
	for _, a := range rep.Advice {
		sqls = append(sqls, a.CreateSQL)
		if _, err := db.Exec(a.CreateSQL); err != nil {
			t.Errorf("%s: %v", a.CreateSQL, err)
		}
	}
	slices.Sort(sqls)
	want := []string{
		`CREATE INDEX IF NOT EXISTS "idx_Order_Lines_Name_NOCASE" ON "Order Lines" ("Name" COLLATE "NOCASE")`,
		`CREATE INDEX IF NOT EXISTS "idx_Order_Lines_sku" ON "Order Lines" ("sku")`,
		`CREATE INDEX IF NOT EXISTS "idx_Order_Lines_unit_price" ON "Order Lines" ("unit price")`,
	}
	if !slices.Equal(sqls, want) {
		t.Errorf("advice:\n%s\nwant:\n%s", strings.Join(sqls, "\n"), strings.Join(want, "\n"))
	}
	// Created for real, each index is what the real planner uses.
	for _, q := range qs {
		p := applyAndExplain(t, db, Report{}, q)
		if len(scans(p)) != 0 {
			t.Errorf("%s:\n%s", q, p)
		}
	}
}

package qlsqlite

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPageOddInput: odd query parameters, unknown fingerprints, hostile
// names and a closed database never crash a page nor show markup
// unescaped, and no value is shown.
func TestPageOddInput(t *testing.T) {
	db, _ := pageDB(t)
	for _, q := range []string{
		`CREATE TABLE "<script>alert(1)</script>" ("</svg><b>x" TEXT, n INT)`,
		`CREATE INDEX "idx'""<i>" ON "<script>alert(1)</script>" ("</svg><b>x")`,
		`INSERT INTO "<script>alert(1)</script>" VALUES ('v-secret-quote''s', 424242)`,
		`SELECT * FROM "<script>alert(1)</script>" WHERE "</svg><b>x" IN ('in-secret-1', 'in-secret-2') LIMIT 777123 /* comment-secret */`,
		`SELECT json_extract('{"k":"json-secret"}', '$.k'), x'deadbeefcafe'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Exec(`CREATE TABLE u (a TEXT UNIQUE, b INT CHECK (b < 10))`)
	db.Exec(`INSERT INTO u VALUES (?, ?)`, "dup-secret", 1)
	db.Exec(`INSERT INTO u VALUES (?, ?)`, "dup-secret", 2)
	db.Exec(`INSERT INTO u VALUES (?, ?)`, "other-secret", 99)
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	fetch(t, h, "/")
	waitAdvice(t, db)
	if err := db.Driver().(*Driver).db.obs.history().flushNow(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	paths := []string{"/", "/queries", "/queries?window=xyz&sort=<script>&order=sideways", "/queries?window=" + strings.Repeat("9", 5000),
		"/queries?sort=p95&order=desc&window=14d", "/queries/<script>", "/queries/" + strings.Repeat("f", 10000), "/queries/%00", "/space", "/connections",
		"/maintenance", "/alerts?window=-1h", "/alerts?window=99999999h", "/metrics", "/nosuch", "/queries/x/y"}
	check := func(p string, code int, body string) {
		if code >= 500 {
			t.Errorf("%s: %d", p, code)
		}
		for _, bad := range []string{"<script>", "</svg><b>", "<i>", "secret", "424242", "777123", "deadbeef"} {
			// /metrics is text/plain: names are label values there, not markup.
			if strings.Contains(p, "/metrics") && strings.HasPrefix(bad, "<") {
				continue
			}
			if strings.Contains(body, bad) {
				t.Errorf("%s shows %q", p, bad)
			}
		}
	}
	for _, p := range paths {
		code, body := fetch(t, h, p)
		check(p, code, body)
	}
	_, body := fetch(t, h, "/queries")
	for _, l := range strings.Split(body, "href=\"") {
		if i := strings.IndexByte(l, '"'); i > 0 && strings.HasPrefix(l, "queries/") {
			p := "/" + strings.ReplaceAll(l[:i], "&amp;", "&")
			code, body := fetch(t, h, p)
			check(p, code, body)
		}
	}
	db.Close()
	for _, p := range paths {
		code, body := fetch(t, h, p)
		if code == http.StatusInternalServerError || code >= 500 && !strings.Contains(body, "the database is closed") {
			t.Errorf("closed, %s: %d %.300s", p, code, body)
		}
		check("closed "+p, 200, body)
	}
}

package qlsqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// get serves one request through h and returns its status and decoded body.
func get(t *testing.T, h http.Handler, method, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if method == http.MethodGet && rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, rec.Code, rec.Body.String(), err)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
	return rec.Code, body
}

func TestHandlerHealthz(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, h, http.MethodGet, "/healthz")
	if code != http.StatusOK || body["status"] != "ok" || body["integrity_ok"] != nil {
		t.Errorf("/healthz: %d %v", code, body)
	}
	if _, err := CheckIntegrity(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if code, body = get(t, h, http.MethodGet, "/healthz"); code != http.StatusOK || body["integrity_ok"] != true || body["integrity_checked_at"] == nil {
		t.Errorf("/healthz after a check: %d %v", code, body)
	}
	if code, _ := get(t, h, http.MethodHead, "/healthz"); code != http.StatusOK {
		t.Errorf("HEAD /healthz: %d", code)
	}
	if code, _ := get(t, h, http.MethodPost, "/healthz"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d", code)
	}
	if code, _ := get(t, h, http.MethodGet, "/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d", code)
	}

	// Liveness: a failing database is alive; the body says it fails.
	breaker := db.Driver().(*Driver).db.breaker
	for range DefaultBreakerFailures {
		breaker.done(0, sqlite3.IOERR)
	}
	if code, body = get(t, h, http.MethodGet, "/healthz"); code != http.StatusOK || body["status"] != "failing" {
		t.Errorf("/healthz with the breaker open: %d %v", code, body)
	}

	db.Close()
	if code, body = get(t, h, http.MethodGet, "/healthz"); code != http.StatusServiceUnavailable || body["status"] != "failing" {
		t.Errorf("/healthz of a closed database: %d %v", code, body)
	}
}

func TestHandlerReadyz(t *testing.T) {
	db := openStats(t, "")
	if _, err := db.Exec(`CREATE TABLE t (n)`); err != nil {
		t.Fatal(err)
	}
	h, err := Handler(db)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, h, http.MethodGet, "/readyz"); code != http.StatusOK || body["ready"] != true {
		t.Errorf("/readyz: %d %v", code, body)
	}

	// The pool exhausted: not ready, until a connection is back.
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	code, body := get(t, h, http.MethodGet, "/readyz")
	if code != http.StatusServiceUnavailable || body["ready"] != false || !strings.Contains(reasons(body), "pool is exhausted") {
		t.Errorf("/readyz with the pool exhausted: %d %v", code, body)
	}
	conn.Close()
	if code, body := get(t, h, http.MethodGet, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the connection back: %d %v", code, body)
	}

	// The breaker open: not ready.
	breaker := db.Driver().(*Driver).db.breaker
	for range DefaultBreakerFailures {
		breaker.done(0, sqlite3.IOERR)
	}
	code, body = get(t, h, http.MethodGet, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(reasons(body), "circuit breaker is open") {
		t.Errorf("/readyz with the breaker open: %d %v", code, body)
	}

	db.Close()
	if code, body := get(t, h, http.MethodGet, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(reasons(body), "closed") {
		t.Errorf("/readyz of a closed database: %d %v", code, body)
	}
}

func reasons(body map[string]any) string {
	var s []string
	list, _ := body["reasons"].([]any)
	for _, r := range list {
		s = append(s, r.(string))
	}
	return strings.Join(s, "; ")
}

func TestHandlerOtherDatabase(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Handler(db); err == nil {
		t.Error("Handler of a database not opened with qlsqlite: no error")
	}
}

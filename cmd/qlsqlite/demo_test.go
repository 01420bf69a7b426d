package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

func TestDemo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	args := []string{"demo", "--db", path, "--users", "50", "--trades", "3000", "--workers", "4", "--ops", "400", "--progress=false"}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"statement", "p50", "p95", "p99", "total", "group commit:", "fingerprints kept of at most 5000 (_stats_max), 0 evicted"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, text)
		}
	}
	for _, k := range trading.Kinds {
		if !strings.Contains(text, k.String()) {
			t.Errorf("the latency table lacks a row for %v:\n%s", k, text)
		}
	}
	if !strings.Contains(text, "  400  ") {
		t.Errorf("the total is not the 400 operations asked for:\n%s", text)
	}
	if strings.Contains(text, "first error") {
		t.Errorf("the workload had errors:\n%s", text)
	}
	// Without --serve it ends by saying how to see its history.
	if want := "qlsqlite serve --db " + path; !strings.Contains(text, want) {
		t.Errorf("the demo's output lacks %q:\n%s", want, text)
	}
	if _, err := os.Stat(qlsqlite.HistoryPath(path)); err != nil {
		t.Errorf("the demo's history: %v", err)
	}

	// A second run replaces the demo's own database.
	out.Reset()
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("second demo run: %v", err)
	}
	db, err := sql.Open("qlsqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var users int
	if err := db.QueryRow(`SELECT count(*) FROM users`).Scan(&users); err != nil || users != 50 {
		t.Errorf("after two runs: %d users (%v), want 50", users, err)
	}
	// The demo says migration 2 is pending: it applies over the indexes the
	// advisor created under the same names.
	var idx int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'idx_trades_symbol_timestamp'`).Scan(&idx); err != nil || idx != 1 {
		t.Fatalf("the advisor did not create idx_trades_symbol_timestamp (%d, %v): nothing to test", idx, err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "up", "--db", path, "--dir", "embed:trading"}, &out); err != nil {
		t.Errorf("migrate up after the demo: %v\n%s", err, out.String())
	}
}

func TestDemoRefusesForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "precious.db")
	if err := os.WriteFile(path, []byte("not the demo's"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"demo", "--db", path, "--ops", "1", "--progress=false"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not a database the demo made") {
		t.Fatalf("demo over a foreign file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not the demo's" {
		t.Error("the demo changed a file it did not make")
	}
}

func TestUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"nope"}, &out)
	if err == nil || !strings.Contains(err.Error(), `unknown command "nope"`) {
		t.Errorf("run(nope) = %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, &out); err != nil || !strings.Contains(out.String(), "demo") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
}

// runCLI runs the tool with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	return out.String(), err
}

// TestHelpFlag: "qlsqlite <command> -h" prints the command's flags and
// succeeds, as the README says.
func TestHelpFlag(t *testing.T) {
	for _, c := range commands() {
		if _, err := runCLI(t, c.name, "-h"); err != nil {
			t.Errorf("%s -h: %v", c.name, err)
		}
	}
}

// TestFileURIKeepsThePath: a path with the characters of URI syntax names
// the file it says, not a prefix of it.
func TestFileURIKeepsThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a #1?100%.db")
	db, err := sql.Open(qlsqlite.DriverName, fileURI(path, "mode=rwc"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at %q: %v", path, err)
	}
}

// TestDemoServe: with --serve the pages are up while the workload runs,
// and after it until Ctrl-C (ctx), and show the demo's queries.
func TestDemoServe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	args := []string{"demo", "--db", path, "--users", "50", "--trades", "2000", "--workers", "4", "--ops", "300", "--progress=false", "--serve", "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWriter{lines: make(chan string, 1024)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out) }()
	get := func(url string) string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", url, resp.StatusCode)
		}
		return string(body)
	}
	var url string
	for url == "" {
		select {
		case line := <-out.lines:
			if m := regexp.MustCompile(`^monitoring pages: (http://\S+/)`).FindStringSubmatch(line); m != nil {
				url = m[1]
			}
		case err := <-done:
			t.Fatalf("demo ended before serving: %v", err)
		}
	}
	get(url) // the overview while the demo runs
	for ended := false; !ended; {
		select {
		case line := <-out.lines:
			ended = strings.Contains(line, "until Ctrl-C")
		case err := <-done:
			t.Fatalf("demo ended without waiting for Ctrl-C: %v", err)
		}
	}
	if body := get(url + "queries"); !strings.Contains(body, "FROM trades") {
		t.Error("the queries page lacks the demo's queries")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo after Ctrl-C: %v", err)
	}
}

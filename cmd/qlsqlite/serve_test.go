package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/quantumleap/qlsqlite"
)

// lineWriter hands each line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.lines <- line
	}
}

// TestServe serves the pages of a database another process ran, from its
// history: the queries it ran show, and serve stops on Ctrl-C (ctx).
func TestServe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db, err := qlsqlite.Open(fileURI(path, ""), qlsqlite.WithHistory(qlsqlite.HistoryPath(path)))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT)`, `INSERT INTO trades (symbol) VALUES ('ACME')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close() // writes the history's last period

	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--db", path, "--addr", "127.0.0.1:0"}, out) }()
	var url string
	select {
	case line := <-out.lines:
		m := regexp.MustCompile(`http://\S+/`).FindString(line)
		if m == "" {
			t.Fatalf("serve printed %q", line)
		}
		url = m
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	for path, want := range map[string]string{"": "another process", "queries": "INSERT INTO trades(symbol) VALUES (?)", "space": "trades"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("/%s: %d, lacks %q", path, resp.StatusCode, want)
		}
		if strings.Contains(string(body), "ACME") {
			t.Errorf("/%s shows a value", path)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after Ctrl-C: %v", err)
	}

	var buf bytes.Buffer
	err = run(context.Background(), []string{"serve", "--db", filepath.Join(dir, "other.db")}, &buf)
	if err == nil {
		t.Error("serve of a missing database: no error")
	}
	err = run(context.Background(), []string{"serve", "--db", path, "--history", filepath.Join(dir, "none.db")}, &buf)
	if err == nil || !strings.Contains(err.Error(), "no history at") {
		t.Errorf("serve without a history: %v", err)
	}
}

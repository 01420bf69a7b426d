package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A PostgreSQL --db is handed to the qlpg command with the same flags.
func TestDemoHandsPostgresToQlpg(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "qlpg")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho qlpg got: \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QLPG", fake)
	var out bytes.Buffer
	err := run(context.Background(), []string{"demo", "--db", "postgres://u@h/db", "--ops", "5"}, &out)
	if err != nil || strings.TrimSpace(out.String()) != "qlpg got: demo --db postgres://u@h/db --ops 5" {
		t.Fatalf("demo: %v, output %q", err, out.String())
	}

	t.Setenv("QLPG", "")
	t.Setenv("PATH", t.TempDir())
	err = run(context.Background(), []string{"demo", "--db", "postgresql://u@h/db"}, &out)
	if err == nil || !strings.Contains(err.Error(), "go install github.com/quantumleap/qlsqlite/pg/cmd/qlpg") {
		t.Fatalf("demo without qlpg: %v, want how to install it", err)
	}
}

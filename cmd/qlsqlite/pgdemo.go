package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// isPostgresURL reports whether a --db names a PostgreSQL database.
func isPostgresURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// runPostgresDemo runs the demo on PostgreSQL: this command links no
// PostgreSQL driver (SQLite-only users never download one), so it hands
// the demo to the qlpg command of module github.com/quantumleap/qlsqlite/pg,
// found on PATH, with the same flags. QLPG names another qlpg binary.
func runPostgresDemo(ctx context.Context, args []string, stdout io.Writer) error {
	bin := os.Getenv("QLPG")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("qlpg"); err != nil {
			return errors.New("demo: a PostgreSQL --db runs through the qlpg command, which is not on PATH: install it with\n" +
				"\tgo install github.com/quantumleap/qlsqlite/pg/cmd/qlpg@latest\n" +
				"(in this repository: cd pg && go install ./cmd/qlpg), then run this again, or run qlpg demo --db ... yourself")
		}
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"demo"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: %s: %w", bin, err)
	}
	return nil
}

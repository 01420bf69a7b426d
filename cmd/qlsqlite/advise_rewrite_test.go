package main

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite/internal/trading"
)

// rewriteTestDB is a trading database with data, the platform's indexes
// and one on trades(user_id).
func rewriteTestDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rewrite.db")
	db, err := sql.Open("sqlite3", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := trading.Data{Users: 100, Symbols: 40, Trades: 1500, Orders: 500, Signals: 300, Seed: 9, Now: trading.Epoch()}
	if err := trading.Load(context.Background(), db, size, nil); err != nil {
		t.Fatal(err)
	}
	plan, err := fs.ReadFile(trading.Migrations, "002_add_trading_indexes.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(plan) + `CREATE INDEX idx_trades_user ON trades(user_id); ANALYZE;`); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	cliCountQuery = `SELECT id FROM users u WHERE (SELECT count(*) FROM trades t WHERE t.user_id = u.id) > 0`
	cliDateQuery  = `SELECT id, price FROM trades WHERE symbol = ? AND date(timestamp) = ?`
)

func TestAdviseCommandRewrites(t *testing.T) {
	path := rewriteTestDB(t)
	out, err := adviseRun(t, "--db", path, "--query", cliCountQuery, "--query", cliDateQuery, "--query", trading.SQL[trading.Position])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"rewrites (verified: equivalent by construction, cheaper in EXPLAIN QUERY PLAN, and the same rows on the live data; hints are not):",
		"R1. count-exists (verified)\n   statement: " + cliCountQuery + "\n   rewrite:   SELECT id FROM users u WHERE EXISTS (SELECT 1 FROM trades t WHERE t.user_id = u.id)\n",
		"     before:\n       |--SCAN u USING COVERING INDEX sqlite_autoindex_users_1\n       `--CORRELATED SCALAR SUBQUERY 1\n",
		"     after:\n       |--SCAN u USING COVERING INDEX sqlite_autoindex_users_1\n       `--SEARCH t EXISTS USING COVERING INDEX idx_trades_user (user_id=?)\n",
		"R2. date-range (hint)\n   statement: " + cliDateQuery,
		"why: date(trades.timestamp) hides the column from its indexes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The rewrite-only advice is not printed as an index, nor applied as one.
	if strings.Contains(out, "1. ;") || strings.Count(out, "CREATE INDEX") != 0 {
		t.Errorf("index section:\n%s", out)
	}
	if strings.Contains(out, "Position") || strings.Count(out, "\nR") != 2 {
		t.Errorf("want exactly two rewrites:\n%s", out)
	}
}

func TestAdviseCommandNoRewrite(t *testing.T) {
	path := rewriteTestDB(t)
	out, err := adviseRun(t, "--db", path, "--query", trading.SQL[trading.Position])
	if err != nil || !strings.Contains(out, "no rewrite to propose") {
		t.Errorf("%v\n%s", err, out)
	}
}

// TestAdviseCommandProcess runs the command as its own process, as a user
// would, and reads what it prints.
func TestAdviseCommandProcess(t *testing.T) {
	path := rewriteTestDB(t)
	cmd := exec.Command(os.Args[0], "advise", "--db", path, "--query", cliCountQuery)
	cmd.Env = append(os.Environ(), "QLSQLITE_RUN_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "R1. count-exists (verified)") || !strings.Contains(stdout.String(), "SEARCH t EXISTS") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	cmd = exec.Command(os.Args[0], "advise", "--db", path, "--query", "SELECT * FROM nosuch")
	cmd.Env = append(os.Environ(), "QLSQLITE_RUN_MAIN=1")
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "not analysed: SELECT * FROM nosuch") {
		t.Errorf("a statement that does not prepare:\n%s", out)
	}
}

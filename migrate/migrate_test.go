package migrate

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

var ctx = context.Background()

// The trading schema forward and back, with data preserved across both.
func TestTradingForwardRollbackPreservesData(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "trading.db"))
	m, err := New(db, trading.Migrations, WithoutBackup())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 2 || plan[0].Source != "001_initial_schema.sql" || plan[1].RollbackSource != "rollback/002_rollback.sql" {
		t.Fatalf("plan = %+v", plan)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if v := version(t, m); v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	indexes := "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'idx_%'"
	if n := queryInt(t, db, indexes); n != 3 {
		t.Fatalf("%d indexes, want 3", n)
	}
	// The portfolio lookup is served by the UNIQUE constraint's index.
	var detail string
	rows, err := db.Query("EXPLAIN QUERY PLAN SELECT quantity FROM portfolio WHERE user_id = ? AND symbol = ?", "u", "s")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var d string
		if err := rows.Scan(&id, &parent, &unused, &d); err != nil {
			t.Fatal(err)
		}
		detail += d
	}
	rows.Close()
	if !strings.Contains(detail, "sqlite_autoindex_portfolio_1") {
		t.Fatalf("portfolio lookup plan: %s", detail)
	}

	if _, err := db.Exec(`INSERT INTO users (id, name) VALUES ('u1', 'Ada');
		INSERT INTO trades (user_id, symbol, quantity, price, side) VALUES ('u1', 'AAPL', 10, 190.5, 'buy'), ('u1', 'MSFT', 5, 410, 'sell');`); err != nil {
		t.Fatal(err)
	}
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if v := version(t, m); v != 1 {
		t.Fatalf("version after Down = %d, want 1", v)
	}
	if n := queryInt(t, db, indexes); n != 0 {
		t.Fatalf("%d indexes after Down, want 0", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM trades"); n != 2 {
		t.Fatalf("%d trades after Down, want 2", n)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, indexes); n != 3 {
		t.Fatalf("%d indexes after Up again, want 3", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM trades WHERE user_id = 'u1'"); n != 2 {
		t.Fatalf("%d trades after Up again, want 2", n)
	}
	// 001 has no rollback: Down(2) refuses before touching anything.
	err = m.Down(ctx, 2)
	if !errors.Is(err, ErrNoRollback) || !strings.Contains(err.Error(), "001_initial_schema.sql") {
		t.Fatalf("Down(2) = %v, want ErrNoRollback naming 001_initial_schema.sql", err)
	}
	if v := version(t, m); v != 2 {
		t.Fatalf("version after refused Down = %d, want 2", v)
	}
	for _, steps := range []int{0, -1} {
		if err := m.Down(ctx, steps); err == nil || !strings.Contains(err.Error(), "steps must be 1 or more") {
			t.Fatalf("Down(%d) = %v", steps, err)
		}
	}
	if err := m.Down(ctx, 3); err == nil || !strings.Contains(err.Error(), "only 2") {
		t.Fatalf("Down(3) = %v", err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].State != StateApplied || st[1].State != StateApplied || !st[1].CanRollback || st[0].CanRollback {
		t.Fatalf("status = %+v", st)
	}
	var stored, sum string
	if err := db.QueryRow("SELECT rollback_script, checksum FROM schema_versions WHERE version = 2").Scan(&stored, &sum); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join("..", "internal", "trading", "migrations", "rollback", "002_rollback.sql"))
	if stored != string(want) || sum != plan[1].Checksum || len(sum) != 64 {
		t.Fatalf("stored rollback %q checksum %q", stored, sum)
	}
}

// A statement failing in the middle of a file leaves schema, data and
// version exactly as before, and the error names the file and statement.
func TestFailureMidFileRollsBackEverything(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_base.sql": "CREATE TABLE t (x INTEGER UNIQUE);\nINSERT INTO t VALUES (1);\n",
		"002_bad.sql": "-- adds u, then trips on t's UNIQUE constraint\n" +
			"CREATE TABLE u (y);\n" +
			"INSERT INTO t VALUES (2);\n\n" +
			"INSERT INTO t VALUES (1);\n" +
			"CREATE TABLE never (z);\n",
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	before := schema(t, db)
	err := m.Up(ctx)
	var se *StatementError
	if !errors.As(err, &se) {
		t.Fatalf("Up = %v, want a *StatementError", err)
	}
	if se.File != "002_bad.sql" || se.Ordinal != 3 || se.Line != 5 || se.SQL != "INSERT INTO t VALUES (1);" {
		t.Fatalf("StatementError = %+v", se)
	}
	if !errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) {
		t.Fatalf("errors.Is(err, CONSTRAINT_UNIQUE) is false: %v", err)
	}
	if !strings.Contains(err.Error(), "002_bad.sql: statement 3 (line 5)") {
		t.Fatalf("message: %v", err)
	}
	if after := schema(t, db); after != before {
		t.Fatalf("schema changed:\n%s\nwant\n%s", after, before)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("t has %d rows, want 1", n)
	}
	if v := version(t, m); v != 1 {
		t.Fatalf("version = %d, want 1", v)
	}
	// The connection went back to the pool with foreign keys on.
	db.SetMaxOpenConns(1)
	if n := queryInt(t, db, "PRAGMA foreign_keys"); n != 1 {
		t.Fatal("foreign_keys left off")
	}
}

// A statement SQLite cannot even prepare is named too.
func TestPrepareErrorNamesStatement(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\nINSERT INTO missing VALUES (1);\n",
	})
	err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx)
	var se *StatementError
	if !errors.As(err, &se) || se.Ordinal != 2 || se.Line != 2 || !strings.HasPrefix(se.SQL, "INSERT INTO missing") {
		t.Fatalf("Up = %v", err)
	}
	if !strings.Contains(err.Error(), "no such table: missing") || tableExists(t, db, "a") {
		t.Fatalf("Up = %v (table a exists: %v)", err, tableExists(t, db, "a"))
	}
}

// SQLite splits the statements: triggers with BEGIN ... END and strings with
// semicolons are one statement each.
func TestTriggersAndSemicolonsInStrings(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_trigger.sql": `CREATE TABLE item (id INTEGER PRIMARY KEY, note TEXT);
CREATE TABLE audit (msg TEXT);
CREATE TRIGGER item_audit AFTER INSERT ON item BEGIN
    INSERT INTO audit VALUES ('inserted; id=' || NEW.id);
    INSERT INTO audit VALUES ('second; statement');
END;
INSERT INTO item (note) VALUES ('a;b;c'), ('--not a comment'), ('/* nor this */');;
`,
	})
	if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM audit"); n != 6 {
		t.Fatalf("audit has %d rows, want 6", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM item WHERE note IN ('a;b;c', '--not a comment', '/* nor this */')"); n != 3 {
		t.Fatalf("items: %d", n)
	}
}

// A file that manages its own transaction is refused before it can commit
// half a migration.
func TestTransactionControlRefused(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\nCOMMIT;\nCREATE TABLE b (x);\n",
	})
	err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx)
	var se *StatementError
	if !errors.As(err, &se) || se.Ordinal != 2 || !strings.Contains(err.Error(), "COMMIT is not allowed") {
		t.Fatalf("Up = %v", err)
	}
	if tableExists(t, db, "a") {
		t.Fatal("table a was committed")
	}
}

func TestSourceErrorsNameTheFile(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  []string
	}{
		{map[string]string{"001_a.sql": "", "001_b.up.sql": ""}, []string{"001_a.sql", "001_b.up.sql", "same version 1"}},
		{map[string]string{"002_a.up.sql": "", "rollback/002_x.sql": "", "002_a.down.sql": ""}, []string{"rollback/002_x.sql", "002_a.down.sql", "both rollbacks of version 2"}},
		{map[string]string{"init.sql": ""}, []string{"init.sql", "must start with a version number"}},
		{map[string]string{"001_.sql": ""}, []string{"001_.sql", `nothing after "_"`}},
		{map[string]string{"000_zero.sql": ""}, []string{"000_zero.sql", "version 0"}},
		{map[string]string{"001_a.sql": "", "rollback/003_rollback.sql": ""}, []string{"rollback/003_rollback.sql", "version 3, which has no migration"}},
		{map[string]string{"004_a.down.sql": ""}, []string{"004_a.down.sql", "no migration"}},
		{map[string]string{"001_a.sql": "-- qlsqlite:no-transation\nVACUUM;"}, []string{"001_a.sql", "line 1", "unknown directive"}},
		{map[string]string{"99999999999999999999_a.sql": ""}, []string{"99999999999999999999_a.sql", "out of range"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		writeFiles(t, dir, c.files)
		_, err := New(openDB(t, filepath.Join(t.TempDir(), "x.db")), os.DirFS(dir))
		if !errors.Is(err, ErrBadSource) {
			t.Errorf("%v: New = %v, want ErrBadSource", c.files, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v does not say %q", c.files, err, w)
			}
		}
	}
	// Not .sql, hidden, other directories: ignored.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"README.md": "", ".001_x.sql": "", "seeds/001_x.sql": "", "001_a.up.sql": "SELECT 1;", "001_a.down.sql": "SELECT 2;"})
	m, err := New(openDB(t, filepath.Join(t.TempDir(), "x.db")), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if ms := m.Migrations(); len(ms) != 1 || ms[0].Description != "a" || ms[0].RollbackSQL != "SELECT 2;" {
		t.Fatalf("migrations = %+v", ms)
	}
}

// An applied migration whose file changed stops Up, naming the file; an
// option acknowledges the change without running the migration again.
func TestTamperedFile(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql":            "CREATE TABLE a (x);\n",
		"002_b.sql":            "INSERT INTO a VALUES (1);\n",
		"rollback/002_b.sql":   "DELETE FROM a WHERE x = 1;\n",
		"003_later.up.sql":     "CREATE TABLE later (x);\n",
		"003_later.down.sql":   "DROP TABLE later;\n",
		"004_pending.up.sql":   "CREATE TABLE pending (x);\n",
		"004_pending.down.sql": "DROP TABLE pending;\n",
		"004_pending.dn.note":  "ignored",
	})
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"002_b.sql": "INSERT INTO a VALUES (2);\n"})
	m = newMigrator(t, db, dir, WithoutBackup())
	err := m.Up(ctx)
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "002_b.sql") {
		t.Fatalf("Up = %v, want ErrChanged naming 002_b.sql", err)
	}
	if _, err := m.Plan(ctx); !errors.Is(err, ErrChanged) {
		t.Fatalf("Plan = %v, want ErrChanged", err)
	}
	if tableExists(t, db, "pending") {
		t.Fatal("Up went on after a changed file")
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st[1].State != StateChanged || !strings.Contains(st[1].Note, "002_b.sql") {
		t.Fatalf("status[1] = %+v", st[1])
	}
	// A changed rollback file is a change too.
	writeFiles(t, dir, map[string]string{"003_later.down.sql": "DROP TABLE IF EXISTS later;\n"})
	err = newMigrator(t, db, dir, WithoutBackup(), AcceptChanged(2)).Up(ctx)
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "003_later.down.sql") || strings.Contains(err.Error(), "002_b.sql") {
		t.Fatalf("Up = %v, want ErrChanged naming only 003_later.down.sql", err)
	}
	var events []Event
	m = newMigrator(t, db, dir, WithoutBackup(), AcceptChanged(2, 3), WithNotify(func(e Event) { events = append(events, e) }))
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM a"); n != 1 {
		t.Fatalf("a has %d rows: the accepted migration ran again", n)
	}
	if len(events) != 3 || events[0].Kind != EventAccepted || events[1].Kind != EventAccepted || events[2].Kind != EventApplied || events[2].Version != 4 {
		t.Fatalf("events = %+v", events)
	}
	// Now accepted: a plain Migrator is happy, and rolls back with the new script.
	m = newMigrator(t, db, dir, WithoutBackup())
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Down(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, db, "later") || tableExists(t, db, "pending") {
		t.Fatal("later not dropped")
	}
}

// A pending file below the highest applied version is an error naming it,
// unless allowed.
func TestOutOfOrder(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\n",
		"003_c.sql": "CREATE TABLE c (x);\n",
	})
	if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"002_b.sql": "CREATE TABLE b (x);\n", "004_d.sql": "CREATE TABLE d (x);\n"})
	m := newMigrator(t, db, dir, WithoutBackup())
	for name, err := range map[string]error{"Up": m.Up(ctx), "Plan": func() error { _, err := m.Plan(ctx); return err }()} {
		if !errors.Is(err, ErrOutOfOrder) || !strings.Contains(err.Error(), "002_b.sql") {
			t.Fatalf("%s = %v, want ErrOutOfOrder naming 002_b.sql", name, err)
		}
	}
	if tableExists(t, db, "b") || tableExists(t, db, "d") {
		t.Fatal("Up applied something")
	}
	st := status(t, m)
	if st[1].Version != 2 || st[1].State != StateOutOfOrder || st[3].State != StatePending {
		t.Fatalf("status = %+v", st)
	}
	m = newMigrator(t, db, dir, WithoutBackup(), AllowOutOfOrder())
	plan, err := m.Plan(ctx)
	if err != nil || len(plan) != 2 || plan[0].Version != 2 || plan[1].Version != 4 {
		t.Fatalf("plan = %+v, %v", plan, err)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if !tableExists(t, db, "b") || version(t, m) != 4 {
		t.Fatal("out-of-order migration not applied")
	}
	// UpTo never goes back: that is Down.
	if err := m.UpTo(ctx, 3); err == nil || !strings.Contains(err.Error(), "below the current version 4") {
		t.Fatalf("UpTo(3) = %v", err)
	}
	if err := m.UpTo(ctx, 9); err == nil || !strings.Contains(err.Error(), "no migration has version 9") {
		t.Fatalf("UpTo(9) = %v", err)
	}
}

// The rollback is stored at apply time: it works after the files are gone.
func TestRollbackAfterFileIsGone(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql":                 "CREATE TABLE a (x);\n",
		"002_index.sql":             "CREATE INDEX a_x ON a (x);\n",
		"rollback/002_rollback.sql": "DROP INDEX a_x;\n",
	})
	if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"002_index.sql", "rollback/002_rollback.sql"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	m := newMigrator(t, db, dir, WithoutBackup())
	st := status(t, m)
	if st[1].State != StateFileMissing || !st[1].CanRollback {
		t.Fatalf("status = %+v", st[1])
	}
	var events []Event
	m = newMigrator(t, db, dir, WithoutBackup(), WithNotify(func(e Event) { events = append(events, e) }))
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, db, "a_x") || version(t, m) != 1 {
		t.Fatal("index not dropped")
	}
	if len(events) != 1 || events[0].Kind != EventReverted || !strings.Contains(events[0].Source, "stored in schema_versions") {
		t.Fatalf("events = %+v", events)
	}
}

// Accepting a changed migration whose rollback file was deleted keeps the
// stored rollback: a deleted rollback file is fine, and Down still works.
func TestAcceptChangedKeepsStoredRollbackOfDeletedFile(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql":                 "CREATE TABLE a (x);\n",
		"002_index.sql":             "CREATE INDEX a_x ON a (x);\n",
		"rollback/002_rollback.sql": "DROP INDEX a_x;\n",
	})
	if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "rollback", "002_rollback.sql")); err != nil {
		t.Fatal(err)
	}
	// A cosmetic edit of the applied migration, acknowledged.
	writeFiles(t, dir, map[string]string{"002_index.sql": "-- the index on a\nCREATE INDEX a_x ON a (x);\n"})
	if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); !errors.Is(err, ErrChanged) {
		t.Fatalf("Up = %v, want ErrChanged", err)
	}
	if err := newMigrator(t, db, dir, WithoutBackup(), AcceptChanged(2)).Up(ctx); err != nil {
		t.Fatal(err)
	}
	m := newMigrator(t, db, dir, WithoutBackup())
	if st := status(t, m); st[1].State != StateApplied || !st[1].CanRollback {
		t.Fatalf("status after accepting = %+v, want applied with its stored rollback", st[1])
	}
	if err := m.Down(ctx, 1); err != nil {
		t.Fatalf("Down after accepting: %v", err)
	}
	if tableExists(t, db, "a_x") || version(t, m) != 1 {
		t.Fatal("index not dropped")
	}
}

// Go migrations run in the migration's transaction; a run's context gets a
// far deadline when the caller's has none, so the driver's default
// per-statement deadline does not apply.
func TestGoMigrations(t *testing.T) {
	db, _, dir := setup(t, map[string]string{"001_a.sql": "CREATE TABLE a (x);\n"})
	var deadline time.Time
	up := func(ctx context.Context, tx *sql.Tx) error {
		deadline, _ = ctx.Deadline()
		_, err := tx.ExecContext(ctx, "INSERT INTO a VALUES (42)")
		return err
	}
	down := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM a WHERE x = 42")
		return err
	}
	var failingDeadline time.Time
	failing := func(ctx context.Context, tx *sql.Tx) error {
		failingDeadline, _ = ctx.Deadline()
		if _, err := tx.ExecContext(ctx, "INSERT INTO a VALUES (7)"); err != nil {
			return err
		}
		return errors.New("boom")
	}
	m := newMigrator(t, db, dir, WithoutBackup(), WithGoMigrations(GoMigration{Version: 2, Description: "seed", Up: up, Down: down}))
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Until(deadline) < DefaultMaxDuration-time.Hour {
		t.Fatalf("deadline %v is not far away", deadline)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM a WHERE x = 42"); n != 1 {
		t.Fatal("Go migration did not run")
	}
	cctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	want, _ := cctx.Deadline()
	m = newMigrator(t, db, dir, WithoutBackup(), WithGoMigrations(GoMigration{Version: 2, Up: up, Down: down}, GoMigration{Version: 3, Up: failing}))
	err := m.Up(cctx)
	if err == nil || !strings.Contains(err.Error(), "go:3") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Up = %v", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM a WHERE x = 7"); n != 0 || version(t, m) != 2 {
		t.Fatal("failed Go migration was not rolled back")
	}
	if !failingDeadline.Equal(want) {
		t.Fatalf("the caller's deadline %v became %v", want, failingDeadline)
	}
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM a"); n != 0 {
		t.Fatal("Go Down did not run")
	}
	if _, err := New(db, os.DirFS(dir), WithGoMigrations(GoMigration{Version: 1, Up: up})); !errors.Is(err, ErrBadSource) || !strings.Contains(err.Error(), "001_a.sql and go:1") {
		t.Fatalf("duplicate Go version: %v", err)
	}
}

// TestDownOnAnOlderToolsTable: a schema_versions table with only the first
// six columns (an older tool's) gets the rest before a no-transaction
// rollback marks its row partial.
func TestDownOnAnOlderToolsTable(t *testing.T) {
	db, _, dir := setup(t, map[string]string{})
	_, err := db.Exec(`CREATE TABLE schema_versions (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
		rollback_script TEXT, checksum TEXT NOT NULL DEFAULT '', execution_ms INTEGER NOT NULL DEFAULT 0);
		CREATE TABLE a (x);
		INSERT INTO schema_versions (version, description, rollback_script) VALUES (1, 'a', '-- qlsqlite:no-transaction
DROP TABLE a;
')`)
	if err != nil {
		t.Fatal(err)
	}
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if tableExists(t, db, "a") || version(t, m) != 0 {
		t.Error("the rollback did not run")
	}
	if n := queryInt(t, db, `SELECT count(*) FROM pragma_table_info('schema_versions') WHERE name IN ('backup', 'partial', 'partial_note')`); n != 3 {
		t.Errorf("schema_versions has %d of the 3 newer columns", n)
	}
}

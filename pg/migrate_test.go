package pg

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/quantumleap/qlsqlite/migrate"
)

// migrations is a history in the layout migrate reads on SQLite: numbered
// files, rollbacks under rollback/. 002 holds a function whose body has
// semicolons and quotes, which the statement splitter must keep whole.
var migrations = fstest.MapFS{
	"001_accounts.sql": {Data: []byte(`-- accounts and their owners
CREATE TABLE owners (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE accounts (
    id bigint PRIMARY KEY,
    owner bigint NOT NULL REFERENCES owners(id),
    balance bigint NOT NULL DEFAULT 0  -- cents; never negative
);
INSERT INTO owners VALUES (1, 'O''Brien; Ltd');
`)},
	"rollback/001_rollback.sql": {Data: []byte(`DROP TABLE accounts; DROP TABLE owners;`)},
	"002_audit.sql": {Data: []byte(`CREATE FUNCTION audit_note(t text) RETURNS text LANGUAGE plpgsql AS $body$
BEGIN
    RETURN 'note; ' || t || E'\'s';  /* a comment; with a semicolon */
END;
$body$;
CREATE INDEX accounts_owner ON accounts (owner);
`)},
	"rollback/002_rollback.sql": {Data: []byte(`DROP INDEX accounts_owner; DROP FUNCTION audit_note(text);`)},
}

func TestMigrateUpDownOnPostgreSQL(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	m, err := migrate.New(db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Version(ctx); v != 2 || err != nil {
		t.Fatalf("version %d, %v", v, err)
	}
	var note string
	if err := db.QueryRowContext(ctx, `SELECT audit_note(name) FROM owners`).Scan(&note); err != nil || note != "note; O'Brien; Ltd's" {
		t.Fatalf("audit_note = %q, %v", note, err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st {
		if s.State != migrate.StateApplied || s.Checksum != m.Migrations()[i].Checksum {
			t.Errorf("status %+v, want applied with checksum %s", s, m.Migrations()[i].Checksum)
		}
	}
	if err := m.Down(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var n int
	db.QueryRowContext(ctx, `SELECT count(*) FROM pg_proc WHERE proname = 'audit_note'`).Scan(&n)
	if v, _ := m.Version(ctx); v != 1 || n != 0 {
		t.Fatalf("after Down(1): version %d, %d audit_note functions", v, n)
	}

	// An applied file that changed is refused, as on SQLite.
	changed := fstest.MapFS{}
	for k, v := range migrations {
		changed[k] = v
	}
	changed["001_accounts.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE owners (id int);")}
	m2, err := migrate.New(db, changed)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Up(ctx); !errors.Is(err, migrate.ErrChanged) {
		t.Fatalf("Up after the file changed: %v, want ErrChanged", err)
	}
}

// A migration that fails part way leaves nothing behind: its DDL rolls
// back with it, and the error names the file, the statement and its line.
func TestMigrationDDLRollsBack(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"001_ok.sql": {Data: []byte(`CREATE TABLE kept (id int);`)},
		"002_broken.sql": {Data: []byte(`CREATE TABLE a (id int);
CREATE TABLE b (id int);

SELEC 'broken';
`)},
	}
	m, err := migrate.New(db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Up(ctx)
	var se *migrate.StatementError
	if !errors.As(err, &se) || se.File != "002_broken.sql" || se.Ordinal != 3 || se.Line != 4 || !strings.HasPrefix(se.SQL, "SELEC") {
		t.Fatalf("Up: %v (%+v), want a StatementError at 002_broken.sql statement 3, line 4", err, se)
	}
	var tables []string
	rows, err := db.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		tables = append(tables, s)
	}
	rows.Close()
	if strings.Join(tables, ",") != "kept,schema_versions" {
		t.Fatalf("tables after the failed migration: %v, want kept and schema_versions only", tables)
	}
	if v, _ := m.Version(ctx); v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
}

// Migrators of two processes (two pools) running Up at once apply each
// migration exactly once: the advisory lock makes one wait.
func TestMigrateLockSerializesRuns(t *testing.T) {
	_, dsn := newDB(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"001_slow.sql": {Data: []byte(`CREATE TABLE once (id int); SELECT pg_sleep(0.5); INSERT INTO once VALUES (1);`)},
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	waited := make([]bool, 2)
	for i := range 2 {
		db, err := sql.Open(DriverName, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		m, err := migrate.New(db, fsys, migrate.WithNotify(func(e migrate.Event) {
			if e.Kind == migrate.EventLockWait {
				waited[i] = true
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = m.Up(ctx) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("Up: %v; %v", errs[0], errs[1])
	}
	if !waited[0] && !waited[1] {
		t.Error("neither run waited for the lock")
	}
	db, _ := sql.Open(DriverName, dsn)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM once`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v): the migration ran more than once", n, err)
	}
}

// What migrate cannot do on PostgreSQL is an error saying so, and a
// statement that cannot run in a transaction gets the hint to use the
// no-transaction directive, which runs it.
func TestMigrateLimitsOnPostgreSQL(t *testing.T) {
	db, _ := newDB(t)
	ctx := context.Background()
	m, err := migrate.New(db, migrations, migrate.WithBackupDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); err == nil || !strings.Contains(err.Error(), "does not back up a PostgreSQL database") {
		t.Fatalf("Up with a backup directory: %v", err)
	}
	inTx := fstest.MapFS{"001_idx.sql": {Data: []byte(`CREATE TABLE t (id int); CREATE INDEX CONCURRENTLY t_id ON t (id);`)}}
	m, _ = migrate.New(db, inTx)
	err = m.Up(ctx)
	var se *migrate.StatementError
	if !errors.As(err, &se) || !strings.Contains(se.Hint, "no-transaction") {
		t.Fatalf("CREATE INDEX CONCURRENTLY in a transaction: %v, want the no-transaction hint", err)
	}
	noTx := fstest.MapFS{"001_idx.sql": {Data: []byte("-- qlsqlite:no-transaction\nCREATE TABLE t (id int); CREATE INDEX CONCURRENTLY t_id ON t (id);")}}
	m, _ = migrate.New(db, noTx)
	if err := m.Up(ctx); err != nil {
		t.Fatalf("no-transaction migration: %v", err)
	}
}

// migrate runs on pgx's own adapter too, and on anything else says what
// it needs instead of failing obscurely.
func TestMigrateOnPgxAdapter(t *testing.T) {
	_, dsn := newDB(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := migrate.New(db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A migration longer than the default deadline runs to its end: migrate
// gives its run a deadline of its own (WithMaxDuration), far away, which
// governs instead of the server's statement_timeout, in a migration's
// transaction and in a no-transaction one; statements after it without a
// deadline are under the default again.
func TestMigrationLongerThanTheDefaultDeadline(t *testing.T) {
	db, _ := newDB(t, "_timeout=300ms")
	ctx := context.Background()
	slow := fstest.MapFS{
		"001_slow.sql": {Data: []byte(`CREATE TABLE t (id int); SELECT pg_sleep(0.6); INSERT INTO t SELECT pg_sleep(0.5)::text::int FROM (SELECT) s WHERE false; SELECT pg_sleep(0.5);`)},
		"002_slow.sql": {Data: []byte("-- qlsqlite:no-transaction\nSELECT pg_sleep(0.6); CREATE INDEX CONCURRENTLY t_id ON t (id);")},
	}
	m, err := migrate.New(db, slow)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Up(ctx); err != nil {
		t.Fatalf("a migration longer than _timeout: %v", err)
	}
	if v, err := m.Version(ctx); v != 2 || err != nil {
		t.Fatalf("version %d, %v", v, err)
	}
	_, err = db.ExecContext(ctx, `SELECT pg_sleep(5)`)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "300ms default deadline") {
		t.Fatalf("a statement after the migration: %v, want the default deadline", err)
	}
}

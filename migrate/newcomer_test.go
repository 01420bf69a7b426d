package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A rollback file added after its migration was applied is no change: Up
// goes on and records it (Down then works without the file), and Down
// uses it before it is recorded; no AcceptChanged is needed.
func TestRollbackAddedAfterApply(t *testing.T) {
	files := map[string]string{
		"001_a.sql":     "CREATE TABLE a (x);\n",
		"002_index.sql": "CREATE INDEX a_x ON a (x);\n",
	}
	for _, path := range []string{"up", "down"} {
		t.Run(path, func(t *testing.T) {
			db, _, dir := setup(t, files)
			if err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx); err != nil {
				t.Fatal(err)
			}
			writeFiles(t, dir, map[string]string{"rollback/002_rollback.sql": "DROP INDEX a_x;\n"})
			var events []Event
			m := newMigrator(t, db, dir, WithoutBackup(), WithNotify(func(e Event) { events = append(events, e) }))
			if st := status(t, m); st[1].State != StateApplied || !st[1].CanRollback {
				t.Fatalf("status = %+v, want applied and able to roll back", st[1])
			}
			if _, err := m.Plan(ctx); err != nil {
				t.Fatalf("Plan = %v", err)
			}
			if path == "up" {
				if err := m.Up(ctx); err != nil {
					t.Fatalf("Up = %v", err)
				}
				if len(events) != 1 || events[0].Kind != EventRollbackRecorded || events[0].Version != 2 || events[0].Source != "rollback/002_rollback.sql" {
					t.Fatalf("events = %+v", events)
				}
				// Recorded: the file may go now.
				if err := os.Remove(filepath.Join(dir, "rollback", "002_rollback.sql")); err != nil {
					t.Fatal(err)
				}
				events = nil
			}
			if err := m.Down(ctx, 1); err != nil {
				t.Fatalf("Down = %v", err)
			}
			if tableExists(t, db, "a_x") || version(t, m) != 1 {
				t.Fatal("index not dropped")
			}
			if len(events) != 1 || events[0].Kind != EventReverted {
				t.Fatalf("events = %+v", events)
			}
		})
	}
}

// A migration with no rollback, stored or on disk, says how to add one.
func TestNoRollbackSaysWhatToDo(t *testing.T) {
	db, _, dir := setup(t, map[string]string{"001_a.sql": "CREATE TABLE a (x);\n", "002_b.sql": "CREATE TABLE b (x);\n"})
	m := newMigrator(t, db, dir, WithoutBackup())
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	err := m.Down(ctx, 1)
	if !errors.Is(err, ErrNoRollback) || !strings.Contains(err.Error(), "add a rollback file (rollback/002_name.sql, or 002_name.down.sql)") {
		t.Fatalf("Down = %v", err)
	}
}

// A statement SQLite cannot prepare is shown alone, not with the rest of
// the file after it.
func TestPrepareErrorShowsTheStatementAlone(t *testing.T) {
	db, _, dir := setup(t, map[string]string{
		"001_a.sql": "CREATE TABLE a (x);\nINSERT INTO missing VALUES (';'); -- the culprit\nCREATE TABLE b (y);\nCREATE TABLE c (z);\n",
	})
	err := newMigrator(t, db, dir, WithoutBackup()).Up(ctx)
	var se *StatementError
	if !errors.As(err, &se) || se.SQL != "INSERT INTO missing VALUES (';');" {
		t.Fatalf("Up = %v", err)
	}
	if strings.Contains(err.Error(), "CREATE TABLE b") {
		t.Errorf("the message shows the rest of the file:\n%v", err)
	}
}

func TestFirstStatement(t *testing.T) {
	for in, want := range map[string]string{
		"INSERT INTO t VALUES (1); SELECT 2;":                "INSERT INTO t VALUES (1);",
		";; \n SELECT 'a;b' /* ; */ -- ;\n FROM t; SELECT 3": "SELECT 'a;b' /* ; */ -- ;\n FROM t;",
		"SELECT nothing ends":                                "SELECT nothing ends",
		"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT CASE WHEN 1 THEN 2 END; END; SELECT 9;": "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT CASE WHEN 1 THEN 2 END; END;",
		"create temp trigger tr after insert on t begin delete from u; end; select 9":                       "create temp trigger tr after insert on t begin delete from u; end;",
	} {
		if got := firstStatement(in); got != want {
			t.Errorf("firstStatement(%q) = %q, want %q", in, got, want)
		}
	}
}

// backups lists the .bak files in dir.
func backups(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".bak") {
			out = append(out, e.Name())
		}
	}
	return out
}

// Only the newest backups are kept (WithKeepBackups, DefaultKeepBackups),
// the others removed with an event; files not named as the Migrator names
// its backups of this database are never touched.
func TestKeepBackups(t *testing.T) {
	db, dbPath, dir := setup(t, map[string]string{
		"001_a.sql":             "CREATE TABLE a (x);\n",
		"002_b.sql":             "CREATE TABLE b (x);\n",
		"rollback/002_back.sql": "DROP TABLE b;\n",
	})
	root := filepath.Dir(dbPath)
	// Files of others: "old-app.db..." is named like a backup of app.db
	// but for its "old-" (another database's, in the same directory).
	foreign := []string{"app.db.notes.bak", "other.db.20200101T000000.000Z.v1.bak", "old-app.db.20200101T000000.000Z.v1.bak", "app.db.20200101T000000.000Z.v1.bak.txt"}
	const foreignBaks = 3 // of foreign, those named *.bak
	for _, name := range foreign {
		if err := os.WriteFile(filepath.Join(root, name), []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := newMigrator(t, db, dir).UpTo(ctx, 1); err != nil { // a new, empty database: no backup
		t.Fatal(err)
	}
	var removed []string
	run := func(opts ...Option) {
		t.Helper()
		m := newMigrator(t, db, dir, append(opts, WithNotify(func(e Event) {
			if e.Kind == EventBackupRemoved {
				removed = append(removed, filepath.Base(e.Path))
			}
		}))...)
		var err error
		if version(t, m) == 1 {
			err = m.Up(ctx)
		} else {
			err = m.Down(ctx, 1)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var taken []string
	for i := range DefaultKeepBackups + 2 {
		before := backups(t, root)
		run()
		after := backups(t, root)
		for _, b := range after {
			if !slices.Contains(before, b) {
				taken = append(taken, b)
			}
		}
		if want := min(i+1, DefaultKeepBackups) + foreignBaks; len(after) != want {
			t.Fatalf("run %d: %d .bak files, want %d: %v", i+1, len(after), want, after)
		}
	}
	if len(taken) != DefaultKeepBackups+2 || !slices.Equal(removed, taken[:2]) {
		t.Fatalf("taken %v, removed %v: want the two oldest removed", taken, removed)
	}
	removed = nil
	run(WithKeepBackups(1))
	if got := backups(t, root); len(got) != 1+foreignBaks || len(removed) != DefaultKeepBackups {
		t.Fatalf("WithKeepBackups(1): %v, removed %v", got, removed)
	}
	removed = nil
	run(WithKeepBackups(0))
	run(WithKeepBackups(0))
	if got := backups(t, root); len(got) != 3+foreignBaks || len(removed) != 0 {
		t.Fatalf("WithKeepBackups(0) removed %v: %v", removed, got)
	}
	for _, name := range foreign {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != "keep me" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
}

// Backups taken within one millisecond are told apart by their sequence
// (".v2-1.bak" after ".v2.bak"): the newest of them are the ones kept.
func TestKeepBackupsWithinOneMillisecond(t *testing.T) {
	dir := t.TempDir()
	names := []string{ // oldest first
		"app.db.20260101T000000.000Z.v1.bak",
		"app.db.20260101T000000.001Z.v2.bak",
		"app.db.20260101T000000.001Z.v1-1.bak",
		"app.db.20260101T000000.001Z.v2-2.bak",
	}
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m := &Migrator{}
	WithKeepBackups(2)(&m.opts)
	m.pruneBackups(dir, "app.db")
	if got := backups(t, dir); !slices.Equal(got, []string{names[2], names[3]}) {
		t.Fatalf("kept %v, want the two newest: %v", got, names[2:])
	}
}

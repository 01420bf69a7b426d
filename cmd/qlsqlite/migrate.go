package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/internal/atrest"
	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/migrate"
)

const migrateSynopsis = "migrate <action> --db FILE [--dir DIR] [flags]"

var migrateAbout = []string{
	"actions:",
	"  up                   apply every pending migration",
	"  to V                 apply the pending migrations up to version V",
	"  down N               roll back the N most recent migrations (N >= 1)",
	"  plan                 list what up would apply, changing nothing",
	"  status               list every migration and its state",
	"  version              print the current version",
	"  resolve V applied    after repairing a partial no-transaction migration by hand:",
	"  resolve V pending      record it as applied, or as not applied (up runs it again)",
	"",
	"--dir is the migration directory (001_name.sql, rollback/001_x.sql, or",
	"001_name.up.sql/.down.sql); \"embed:trading\" is the built-in trading schema.",
	"It is needed by up, to, plan and status; down uses the rollback scripts",
	"stored in schema_versions when it is absent. plan, status and version open",
	"the database read-only; plan and status of a database that does not exist",
	"yet list every migration as pending and create nothing.",
	"",
	"Before changing the database, up, to and down back it up beside it (or in",
	"--backup-dir) and keep the --keep-backups newest backups.",
}

// migrateArgs are the flags and positional arguments of the migrate command.
type migrateArgs struct {
	db, dir, backupDir string
	noBackup           bool
	outOfOrder         bool
	accept             string
	timeout            time.Duration
	keepBackups        int
	key, backupKey     keySource
	plaintextBackup    bool

	action string
	rest   []string
}

// parseMigrate reads the command line; flags may come before or after the
// action and its arguments.
func parseMigrate(args []string, stdout io.Writer) (*migrateArgs, error) {
	var a migrateArgs
	fset := newFlagSet("migrate", migrateSynopsis, migrateAbout...)
	fset.StringVar(&a.db, "db", "", "the SQLite database `file`")
	fset.StringVar(&a.dir, "dir", "", "the migrations `directory` (or embed:trading)")
	fset.StringVar(&a.backupDir, "backup-dir", "", "put the backup taken before changing the database in `dir` (default: next to the database)")
	fset.BoolVar(&a.noBackup, "no-backup", false, "take no backup before changing the database")
	fset.IntVar(&a.keepBackups, "keep-backups", migrate.DefaultKeepBackups, "keep this many of the newest backups of the database, removing older ones (0: keep all)")
	fset.BoolVar(&a.outOfOrder, "allow-out-of-order", false, "apply pending migrations older than the newest applied one")
	fset.StringVar(&a.accept, "accept-changed", "", "comma-separated `versions` whose applied files were edited on purpose")
	fset.DurationVar(&a.timeout, "timeout", migrate.DefaultMaxDuration, "give up after this long, waiting for the lock included (0: no limit)")
	a.key.register(fset, "", "the database's")
	a.backupKey.register(fset, "backup-", "the backups' (default: the database's)")
	fset.BoolVar(&a.plaintextBackup, "plaintext-backup", false, "write the backup of an encrypted database unencrypted")
	var pos []string
	for {
		if err := parseFlags(fset, args, stdout); err != nil {
			return nil, err
		}
		if fset.NArg() == 0 {
			break
		}
		pos = append(pos, fset.Arg(0))
		args = fset.Args()[1:]
	}
	switch {
	case len(pos) == 0:
		return nil, usageErrorf("migrate: no action given: up, to V, down N, plan, status, version or resolve (qlsqlite migrate -h)")
	case a.db == "":
		return nil, usageErrorf("migrate: --db FILE is required")
	case a.timeout < 0:
		return nil, usageErrorf("migrate: --timeout %v: want a duration of 0 (no limit) or more", a.timeout)
	case a.keepBackups < 0:
		return nil, usageErrorf("migrate: --keep-backups %d: want 0 (keep all) or more", a.keepBackups)
	}
	a.action, a.rest = pos[0], pos[1:]
	if err := a.checkAction(); err != nil {
		return nil, err
	}
	return &a, nil
}

// checkAction checks the action and its arguments before anything opens.
func (a *migrateArgs) checkAction() error {
	want := map[string]int{"up": 0, "to": 1, "down": 1, "plan": 0, "status": 0, "version": 0, "resolve": 2}
	n, ok := want[a.action]
	switch {
	case !ok:
		return usageErrorf("migrate: unknown action %q: want up, to V, down N, plan, status, version or resolve (qlsqlite migrate -h)", a.action)
	case len(a.rest) != n:
		what := map[string]string{"to": "a version: migrate to V", "down": "a number of migrations: migrate down N",
			"resolve": "a version and a state: migrate resolve V applied|pending"}[a.action]
		if what == "" {
			what = "no argument"
		}
		return usageErrorf("migrate %s: want %s (qlsqlite migrate -h)", a.action, what)
	case a.action == "down":
		if n, err := strconv.Atoi(a.rest[0]); err != nil || n < 1 {
			return usageErrorf("migrate down: %q: want a number of migrations to roll back, 1 or more (down never means \"everything\")", a.rest[0])
		}
	case a.action == "to" || a.action == "resolve":
		if _, err := strconv.ParseInt(a.rest[0], 10, 64); err != nil {
			return usageErrorf("migrate %s: %q is not a version number", a.action, a.rest[0])
		}
		if a.action == "resolve" && a.rest[1] != "applied" && a.rest[1] != "pending" {
			return usageErrorf("migrate resolve: state %q: want applied or pending", a.rest[1])
		}
	}
	return nil
}

// source returns the migrations of --dir (nil when it is not given and the
// action does without).
func (a *migrateArgs) source() (fs.FS, error) {
	switch a.dir {
	case "":
		switch a.action {
		case "up", "to", "plan", "status":
			return nil, usageErrorf("migrate %s: --dir DIR is required", a.action)
		}
		return nil, nil
	case "embed:trading":
		return trading.Migrations, nil
	}
	st, err := os.Stat(a.dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: --dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("migrate: --dir %s is not a directory", a.dir)
	}
	return os.DirFS(a.dir), nil
}

// options returns the migrator's options.
func (a *migrateArgs) options(stdout io.Writer) ([]migrate.Option, atrest.Params, error) {
	opts := []migrate.Option{migrate.WithNotify(func(e migrate.Event) { printEvent(stdout, e, a.keepBackups) }), migrate.WithKeepBackups(a.keepBackups)}
	if a.noBackup {
		opts = append(opts, migrate.WithoutBackup())
	}
	if a.backupDir != "" {
		opts = append(opts, migrate.WithBackupDir(a.backupDir))
	}
	p, copyKey, err := loadKeys(&a.key, &a.backupKey)
	if err != nil {
		return nil, p, fmt.Errorf("migrate: %w", err)
	}
	if !copyKey.IsZero() {
		opts = append(opts, migrate.WithBackupEncryption(copyKey.Query()))
	}
	if a.plaintextBackup {
		opts = append(opts, migrate.WithPlaintextBackup())
	}
	if a.outOfOrder {
		opts = append(opts, migrate.AllowOutOfOrder())
	}
	if a.accept != "" {
		for _, f := range strings.Split(a.accept, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return nil, p, usageErrorf("migrate: --accept-changed: %q is not a version", f)
			}
			opts = append(opts, migrate.AcceptChanged(v))
		}
	}
	if a.timeout == 0 {
		opts = append(opts, migrate.WithMaxDuration(noLimit))
	}
	return opts, p, nil
}

// noLimit stands for --timeout 0: a bound no run reaches.
const noLimit = 100 * 365 * 24 * time.Hour

// open opens the database: read-only for the actions that only read, and
// created by up and to only, so that a mistyped path is an error. plan and
// status of a database that does not exist yet read an empty database in
// memory (missing is then true). Nothing is created before ping.
func (a *migrateArgs) open(p atrest.Params) (db *sql.DB, missing bool, err error) {
	mode := readWrite
	switch a.action {
	case "up", "to":
		mode = create
	case "plan", "status", "version":
		mode = readOnly
	}
	if _, err := os.Stat(a.db); errors.Is(err, fs.ErrNotExist) && (a.action == "plan" || a.action == "status") {
		db, err = sql.Open(qlsqlite.DriverName, "file::memory:?_optimize=off")
		return db, true, err
	}
	db, err = openDB(a.db, mode, p)
	if err != nil {
		return nil, false, fmt.Errorf("migrate: %w", err)
	}
	return db, false, nil
}

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	a, err := parseMigrate(args, stdout)
	if err != nil {
		return err
	}
	fsys, err := a.source()
	if err != nil {
		return err
	}
	opts, p, err := a.options(stdout)
	if err != nil {
		return err
	}
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	db, missing, err := a.open(p)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := migrate.New(db, fsys, opts...)
	if err != nil {
		return err
	}
	if fsys != nil && len(m.Migrations()) == 0 {
		return usageErrorf("migrate: --dir %s holds no migrations (files named like 001_initial_schema.sql, or 001_name.up.sql and 001_name.down.sql): check the path", a.dir)
	}
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("migrate: opening %s: %w", a.db, err)
	}
	if missing {
		fmt.Fprintf(stdout, "%s does not exist yet: every migration is pending (up creates it)\n", a.db)
	}
	if err := a.act(ctx, m, stdout); err != nil {
		return err
	}
	switch a.action {
	case "up", "to", "down", "resolve":
		v, err := m.Version(ctx)
		fmt.Fprintln(stdout, "version", v)
		return err
	}
	return nil
}

// act runs the action, whose arguments checkAction has checked.
func (a *migrateArgs) act(ctx context.Context, m *migrate.Migrator, stdout io.Writer) error {
	switch a.action {
	case "up":
		return m.Up(ctx)
	case "to":
		v, _ := strconv.ParseInt(a.rest[0], 10, 64)
		return m.UpTo(ctx, v)
	case "down":
		n, _ := strconv.Atoi(a.rest[0])
		return m.Down(ctx, n)
	case "plan":
		return printPlan(ctx, m, stdout)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		printStatus(stdout, st)
		return nil
	case "version":
		v, err := m.Version(ctx)
		fmt.Fprintln(stdout, v)
		return err
	case "resolve":
		v, _ := strconv.ParseInt(a.rest[0], 10, 64)
		if err := m.Resolve(ctx, v, a.rest[1] == "applied"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "version %d resolved as %s\n", v, a.rest[1])
		return nil
	}
	return usageErrorf("migrate: unknown action %q", a.action)
}

// printPlan prints what up would apply.
func printPlan(ctx context.Context, m *migrate.Migrator, stdout io.Writer) error {
	plan, err := m.Plan(ctx)
	if err != nil {
		return err
	}
	if len(plan) == 0 {
		fmt.Fprintln(stdout, "nothing to apply")
	}
	for _, p := range plan {
		var notes []string
		if p.NoTransaction {
			notes = append(notes, "no-transaction")
		}
		if p.ForeignKeys {
			notes = append(notes, "foreign-keys on")
		}
		if p.RollbackSource == "" && p.Checksum != "go" {
			notes = append(notes, "no rollback")
		}
		line := fmt.Sprintf("would apply %d %s", p.Version, p.Source)
		if len(notes) > 0 {
			line += " [" + strings.Join(notes, ", ") + "]"
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

func printEvent(w io.Writer, e migrate.Event, keep int) {
	ms := e.Duration.Round(time.Millisecond)
	switch e.Kind {
	case migrate.EventLockWait:
		fmt.Fprintf(w, "waiting for the migration lock %s (another process is migrating)\n", e.Path)
	case migrate.EventBackup:
		fmt.Fprintf(w, "backup: %s (%s)\n", e.Path, ms)
	case migrate.EventApplied:
		fmt.Fprintf(w, "applied %s (%s) in %s\n", e.Source, e.Description, ms)
	case migrate.EventReverted:
		fmt.Fprintf(w, "reverted version %d (%s) with %s in %s\n", e.Version, e.Description, e.Source, ms)
	case migrate.EventAccepted:
		fmt.Fprintf(w, "accepted the changed %s\n", e.Source)
	case migrate.EventRollbackRecorded:
		fmt.Fprintf(w, "recorded %s, added after version %d was applied: down uses it\n", e.Source, e.Version)
	case migrate.EventBackupRemoved:
		fmt.Fprintf(w, "removed the old backup %s (keeping the %d newest: --keep-backups)\n", e.Path, keep)
	}
}

func printStatus(w io.Writer, st []migrate.MigrationStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tFILE\tAPPLIED AT\tTOOK\tBACKUP BEFORE")
	for _, s := range st {
		at, took := "-", "-"
		if !s.AppliedAt.IsZero() {
			at = s.AppliedAt.UTC().Format(time.RFC3339)
			took = s.Duration.String()
		}
		file := s.Source
		if file == "" {
			file = "(" + s.Description + ")"
		}
		backup := s.Backup
		if backup == "" {
			backup = "-"
		} else if _, err := os.Stat(backup); errors.Is(err, fs.ErrNotExist) {
			backup += " (removed)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", s.Version, s.State, file, at, took, backup)
	}
	tw.Flush()
	for _, s := range st {
		if s.Note != "" && s.State != migrate.StateApplied {
			fmt.Fprintf(w, "version %d: %s\n", s.Version, s.Note)
		}
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/quantumleap/qlsqlite/internal/trading"
	"github.com/quantumleap/qlsqlite/migrate"
)

const migrateUsage = `usage: qlsqlite migrate <action> --db FILE [--dir DIR] [flags]

actions:
  up                   apply every pending migration
  to V                 apply the pending migrations up to version V
  down N               roll back the N most recent migrations (N >= 1)
  plan                 list what up would apply, changing nothing
  status               list every migration and its state
  version              print the current version
  resolve V applied    after repairing a partial no-transaction migration by hand:
  resolve V pending      record it as applied, or as not applied (up runs it again)

--dir is the migration directory (001_name.sql, rollback/001_x.sql, or
001_name.up.sql/.down.sql); "embed:trading" is the built-in trading schema.
It is needed by up, to, plan and status; down uses the rollback scripts
stored in schema_versions when it is absent.

flags:
`

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fset.SetOutput(stdout)
	fset.Usage = func() {
		fmt.Fprint(stdout, migrateUsage)
		fset.PrintDefaults()
	}
	dbPath := fset.String("db", "", "the SQLite database `file`")
	dir := fset.String("dir", "", "the migrations `directory` (or embed:trading)")
	backupDir := fset.String("backup-dir", "", "put the backup taken before changing the database in `dir` (default: next to the database)")
	noBackup := fset.Bool("no-backup", false, "take no backup before changing the database")
	outOfOrder := fset.Bool("allow-out-of-order", false, "apply pending migrations older than the newest applied one")
	accept := fset.String("accept-changed", "", "comma-separated `versions` whose applied files were edited on purpose")
	timeout := fset.Duration("timeout", 0, "give up after this long, waiting for the lock included (default 24h)")
	var key, backupKey keySource
	key.register(fset, "", "the database's")
	backupKey.register(fset, "backup-", "the backups' (default: the database's)")
	plaintextBackup := fset.Bool("plaintext-backup", false, "write the backup of an encrypted database unencrypted")

	// Flags may come before or after the action and its arguments.
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return err
		}
		if fset.NArg() == 0 {
			break
		}
		pos = append(pos, fset.Arg(0))
		args = fset.Args()[1:]
	}
	if len(pos) == 0 {
		fset.Usage()
		return errors.New("migrate: no action given")
	}
	action, rest := pos[0], pos[1:]
	if *dbPath == "" {
		return errors.New("migrate: --db FILE is required")
	}

	var fsys fs.FS
	switch *dir {
	case "":
		switch action {
		case "up", "to", "plan", "status":
			return fmt.Errorf("migrate %s: --dir DIR is required", action)
		}
	case "embed:trading":
		fsys = trading.Migrations
	default:
		st, err := os.Stat(*dir)
		if err != nil {
			return fmt.Errorf("migrate: --dir: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("migrate: --dir %s is not a directory", *dir)
		}
		fsys = os.DirFS(*dir)
	}

	opts := []migrate.Option{migrate.WithNotify(func(e migrate.Event) { printEvent(stdout, e) })}
	if *noBackup {
		opts = append(opts, migrate.WithoutBackup())
	}
	if *backupDir != "" {
		opts = append(opts, migrate.WithBackupDir(*backupDir))
	}
	p, copyKey, err := loadKeys(&key, &backupKey)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !copyKey.IsZero() {
		opts = append(opts, migrate.WithBackupEncryption(copyKey.Query()))
	}
	if *plaintextBackup {
		opts = append(opts, migrate.WithPlaintextBackup())
	}
	if *outOfOrder {
		opts = append(opts, migrate.AllowOutOfOrder())
	}
	if *accept != "" {
		for _, f := range strings.Split(*accept, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return fmt.Errorf("migrate: --accept-changed: %q is not a version", f)
			}
			opts = append(opts, migrate.AcceptChanged(v))
		}
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	// Only up and to may create the database; elsewhere a mistyped path is an error.
	db, err := openDB(*dbPath, action == "up" || action == "to", p)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("migrate: opening %s: %w", *dbPath, err)
	}
	m, err := migrate.New(db, fsys, opts...)
	if err != nil {
		return err
	}

	needArgs := func(n int, what string) error {
		if len(rest) != n {
			return fmt.Errorf("migrate %s: want %s", action, what)
		}
		return nil
	}
	parseVersion := func(s string) (int64, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migrate %s: %q is not a number", action, s)
		}
		return v, nil
	}

	switch action {
	case "up":
		if err := needArgs(0, "no argument"); err != nil {
			return err
		}
		if err := m.Up(ctx); err != nil {
			return err
		}
	case "to":
		if err := needArgs(1, "a version: migrate to V"); err != nil {
			return err
		}
		v, err := parseVersion(rest[0])
		if err != nil {
			return err
		}
		if err := m.UpTo(ctx, v); err != nil {
			return err
		}
	case "down":
		if err := needArgs(1, "a number of steps: migrate down N"); err != nil {
			return err
		}
		n, err := strconv.Atoi(rest[0])
		if err != nil {
			return fmt.Errorf("migrate down: %q is not a number of steps", rest[0])
		}
		if err := m.Down(ctx, n); err != nil {
			return err
		}
	case "plan":
		if err := needArgs(0, "no argument"); err != nil {
			return err
		}
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
	case "status":
		if err := needArgs(0, "no argument"); err != nil {
			return err
		}
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		printStatus(stdout, st)
		return nil
	case "version":
		if err := needArgs(0, "no argument"); err != nil {
			return err
		}
		v, err := m.Version(ctx)
		fmt.Fprintln(stdout, v)
		return err
	case "resolve":
		if err := needArgs(2, "a version and a state: migrate resolve V applied|pending"); err != nil {
			return err
		}
		v, err := parseVersion(rest[0])
		if err != nil {
			return err
		}
		var applied bool
		switch rest[1] {
		case "applied":
			applied = true
		case "pending":
		default:
			return fmt.Errorf("migrate resolve: state %q: want applied or pending", rest[1])
		}
		if err := m.Resolve(ctx, v, applied); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "version %d resolved as %s\n", v, rest[1])
	default:
		fset.Usage()
		return fmt.Errorf("migrate: unknown action %q", action)
	}
	v, err := m.Version(ctx)
	fmt.Fprintln(stdout, "version", v)
	return err
}

func printEvent(w io.Writer, e migrate.Event) {
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

package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/schollz/progressbar/v3"

	"github.com/quantumleap/qlsqlite/lifecycle"
)

// This file holds the data-lifecycle subcommands: archive, purge, backup,
// verify and restore, over package lifecycle.

func archiveCmd() command {
	return command{"archive", "move old rows into an archive database, never losing one", runArchive}
}

func purgeCmd() command {
	return command{"purge", "delete old rows in short batches (retention)", runPurge}
}

func backupCmd() command {
	return command{"backup", "take a consistent online backup of a database", runBackup}
}

func verifyCmd() command {
	return command{"verify", "check database files for corruption", runVerify}
}

func restoreCmd() command {
	return command{"restore", "replace a database with a verified backup", runRestore}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// selection holds the flags that say which rows of which table.
type selection struct {
	db, table, where, column, before string
	args                             stringList
	batch                            int
	progress                         bool
	key                              keySource
}

func (s *selection) register(fs *flag.FlagSet, verb string) {
	fs.StringVar(&s.db, "db", "", "the database `file` (required)")
	fs.StringVar(&s.table, "table", "", "the `table` to "+verb+" (required)")
	fs.StringVar(&s.where, "where", "", "SQL condition selecting the rows to "+verb+", with ? for each -arg")
	fs.Var(&s.args, "arg", "a `value` for a ? in -where (repeat for each, in order)")
	fs.StringVar(&s.column, "column", "timestamp", "the time `column` that -before compares (ISO-8601 text, Unix seconds/ms/µs/ns or Julian days: the format is read from its values)")
	fs.StringVar(&s.before, "before", "", "select rows whose -column is older than this `cutoff`: a date (2006-01-02), a time (2006-01-02 15:04:05, UTC), or an age (90d, 36h)")
	fs.IntVar(&s.batch, "batch", 0, "rows per batch (0: the default, "+strconv.Itoa(lifecycle.DefaultBatchSize)+")")
	fs.BoolVar(&s.progress, "progress", true, "show a progress bar on standard error")
	s.key.register(fs, "", "the database's")
}

// check validates the flags that need no database, so that a mistake is
// reported before any file is opened.
func (s *selection) check(now time.Time) error {
	if s.db == "" || s.table == "" {
		return errors.New("-db and -table are required")
	}
	if s.before == "" && s.where == "" {
		return errors.New("give -before (a cutoff on -column) or -where (a condition) to say which rows")
	}
	if s.before != "" {
		if _, err := parseCutoff(s.before, now); err != nil {
			return err
		}
	}
	return nil
}

// condition returns the Where and Args the flags describe. For -before it
// looks at the values of -column (lifecycle.Before) and compares in their
// format: ISO-8601 text, Unix seconds, milliseconds..., or Julian days; it
// returns that format too ("" without -before).
func (s *selection) condition(ctx context.Context, db *sql.DB, now time.Time) (string, []any, lifecycle.TimeFormat, error) {
	if err := s.check(now); err != nil {
		return "", nil, "", err
	}
	var conds []string
	var args []any
	if s.where != "" {
		conds = append(conds, "("+s.where+")")
	}
	for _, a := range s.args {
		args = append(args, a)
	}
	var format lifecycle.TimeFormat
	if s.before != "" {
		cutoff, _ := parseCutoff(s.before, now)
		c, err := lifecycle.Before(ctx, db, s.table, s.column, cutoff)
		if errors.Is(err, lifecycle.ErrNoColumn) {
			return "", nil, "", fmt.Errorf("-before compares -column %q: %w; name the time column with -column, or select the rows with -where", s.column, err)
		}
		if err != nil {
			return "", nil, "", fmt.Errorf("-before compares -column %q: %w", s.column, err)
		}
		conds = append(conds, c.Where)
		args = append(args, c.Args...)
		format = c.Format
	}
	return strings.Join(conds, " AND "), args, format, nil
}

// parseCutoff reads a date, a time (UTC unless it has a zone) or an age.
func parseCutoff(v string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.DateTime, time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("-before %q is neither a date (2006-01-02), a time (2006-01-02 15:04:05) nor an age (90d, 36h)", v)
}

func runArchive(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("archive", "archive -db FILE -table TABLE (-before CUTOFF | -where SQL [-arg V]...) (-to FILE | -dry-run) [flags]",
		"Moves the selected rows into the archive database in batches: each batch is copied, confirmed there,",
		"and only then deleted from the source, so that no row is ever lost; a rerun finishes an interrupted one.")
	var sel selection
	sel.register(fs, "archive")
	to := fs.String("to", "", "the archive database `file` (created if missing)")
	dry := fs.Bool("dry-run", false, "count the rows that would be archived and change nothing")
	var toKey keySource
	toKey.register(fs, "to-", "the archive's (default: the database's)")
	plaintext := fs.Bool("plaintext", false, "write the archive of an encrypted database unencrypted")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	now := time.Now()
	if err := sel.check(now); err != nil {
		return usageErrorf("archive: %w", err)
	}
	if *to == "" && !*dry {
		return usageErrorf("archive: -to is required: the archive database file")
	}
	key, copyKey, err := loadKeys(&sel.key, &toKey)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	db, err := openDB(sel.db, readWrite, key)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer db.Close()
	where, wargs, format, err := sel.condition(ctx, db, now)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}

	var bar *progressbar.ProgressBar
	p := lifecycle.ArchivePolicy{Table: sel.table, Where: where, Args: wargs, DestPath: *to, BatchSize: sel.batch, DryRun: *dry,
		Encryption: encryption(copyKey), Plaintext: *plaintext}
	if sel.progress && !*dry {
		p.Progress = func(r lifecycle.ArchiveReport) {
			if bar == nil {
				bar = newBar(os.Stderr, true, r.Total, "archiving "+r.Table)
			}
			bar.Set64(r.Moved + r.Conflicts + r.Unsettled)
		}
	}
	rep, err := lifecycle.Archive(ctx, db, p)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return keyHint(err, &sel.key, &toKey)
	}
	printFormat(stdout, sel.column, format)
	if *dry {
		fmt.Fprintf(stdout, "dry run: %d rows of %s match; nothing was changed\n", rep.Total, rep.Table)
		return nil
	}
	fmt.Fprintf(stdout, "archived %d rows of %s into %s in %v (%.0f rows/s)\n",
		rep.Moved, rep.Table, *to, rep.Elapsed.Round(time.Millisecond), float64(rep.Moved)/rep.Elapsed.Seconds())
	if rep.Moved > rep.Copied {
		fmt.Fprintf(stdout, "%d of them had been copied by an interrupted run and were only removed from the source\n", rep.Moved-rep.Copied)
	}
	if rep.Unsettled > 0 {
		fmt.Fprintf(stdout, "%d matching rows were left in the source: other connections kept changing them while they were archived; run the archive again\n", rep.Unsettled)
	}
	return nil
}

// printFormat says, for -before, in which format -column was compared.
func printFormat(w io.Writer, column string, format lifecycle.TimeFormat) {
	if format != "" {
		fmt.Fprintf(w, "-column %s holds %s; the cutoff was compared as such\n", column, format)
	}
}

func runPurge(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("purge", "purge -db FILE -table TABLE (-before CUTOFF | -where SQL [-arg V]...) [-dry-run] [flags]",
		"Deletes the selected rows for retention, in short batches, each its own transaction, so that other writers get",
		"their turn between batches. Deleted rows are gone: archive keeps them.")
	var sel selection
	sel.register(fs, "purge")
	dry := fs.Bool("dry-run", false, "count the rows that would be deleted and delete nothing")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	now := time.Now()
	if err := sel.check(now); err != nil {
		return usageErrorf("purge: %w", err)
	}
	key, err := sel.key.load()
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	db, err := openDB(sel.db, readWrite, key)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	defer db.Close()
	where, wargs, format, err := sel.condition(ctx, db, now)
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	var bar *progressbar.ProgressBar
	p := lifecycle.PurgePolicy{Table: sel.table, Where: where, Args: wargs, BatchSize: sel.batch, DryRun: *dry}
	if sel.progress && !*dry {
		p.Progress = func(r lifecycle.PurgeReport) {
			if bar == nil {
				bar = newBar(os.Stderr, true, r.Total, "purging "+r.Table)
			}
			bar.Set64(r.Deleted)
		}
	}
	rep, err := lifecycle.PurgeWith(ctx, db, p)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	printFormat(stdout, sel.column, format)
	if *dry {
		fmt.Fprintf(stdout, "dry run: %d rows of %s match; nothing was deleted\n", rep.Total, rep.Table)
		return nil
	}
	fmt.Fprintf(stdout, "purged %d rows of %s in %d batches (%v)\n", rep.Deleted, rep.Table, rep.Batches, rep.Elapsed.Round(time.Millisecond))
	return nil
}

func runBackup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("backup", "backup -db FILE -to FILE [flags]",
		"Takes a consistent online backup while others write, written beside -to, checked, and renamed into place.",
		"The database is opened read-only.")
	dbPath := fs.String("db", "", "the database `file` to back up (required; opened read-only)")
	to := fs.String("to", "", "the backup `file` to write (replaced atomically if it exists)")
	progress := fs.Bool("progress", true, "show a progress bar on standard error")
	var key, toKey keySource
	key.register(fs, "", "the database's")
	toKey.register(fs, "to-", "the backup's (default: the database's)")
	plaintext := fs.Bool("plaintext", false, "write the backup of an encrypted database unencrypted")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *dbPath == "" || *to == "" {
		return usageErrorf("backup: -db and -to are required")
	}
	p, copyKey, err := loadKeys(&key, &toKey)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := openDB(*dbPath, readOnly, p)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	start := time.Now()
	var bar *progressbar.ProgressBar
	o := lifecycle.BackupOptions{Encryption: encryption(copyKey), Plaintext: *plaintext}
	if *progress {
		o.Progress = func(p lifecycle.BackupProgress) {
			if bar == nil {
				bar = newBar(os.Stderr, true, int64(p.PageCount), "backing up (pages)")
			}
			bar.Set(p.PageCount - p.Remaining)
		}
	}
	err = lifecycle.BackupWith(ctx, db, *to, o)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return keyHint(err, &key, &toKey)
	}
	fi, err := os.Stat(*to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes) in %v\n", *dbPath, *to, fi.Size(), time.Since(start).Round(time.Millisecond))
	return nil
}

func runVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("verify", "verify [-quick] [-key-env VAR | -key-file FILE] FILE...",
		"Checks each file with SQLite's integrity_check (quick_check with -quick), read-only, and says for each",
		"whether it is ok, corrupt, not a database, or unreadable with the key given; fails if any is not ok.")
	quick := fs.Bool("quick", false, "run quick_check instead of the full integrity_check")
	var key keySource
	key.register(fs, "", "the files'")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf("verify: name at least one database file")
	}
	p, err := key.load()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	o := lifecycle.VerifyOptions{Quick: *quick, Encryption: encryption(p)}
	failed := 0
	for _, path := range fs.Args() {
		err := keyHint(lifecycle.VerifyWith(ctx, path, o), &key, nil)
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "ok        %s\n", path)
			continue
		case errors.Is(err, lifecycle.ErrWrongKey) && key.given():
			fmt.Fprintf(stdout, "wrong-key %s: %v\n", path, err)
		case errors.Is(err, lifecycle.ErrNotDatabase):
			fmt.Fprintf(stdout, "not-a-db  %s: %v\n", path, err)
		case errors.Is(err, lifecycle.ErrCorrupt):
			fmt.Fprintf(stdout, "corrupt   %s: %v\n", path, err)
		default:
			fmt.Fprintf(stdout, "error     %s: %v\n", path, err)
		}
		failed++
	}
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d files failed", failed, fs.NArg())
	}
	return nil
}

func runRestore(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("restore", "restore -from BACKUP -to FILE [-keep-replaced=false] [-key-env VAR | -key-file FILE]",
		"Replaces the database -to (it must not be in use) with the backup -from, verified first. The restored file gets",
		"the permissions and owner of the one it replaces, and the replaced database is kept beside it, as",
		"FILE.replaced-<UTC time>, unless -keep-replaced=false.")
	from := fs.String("from", "", "the backup `file` to restore (it is verified first)")
	to := fs.String("to", "", "the database `file` to replace (it must not be in use)")
	keep := fs.Bool("keep-replaced", true, "keep the database that -to replaces beside it, as FILE.replaced-<UTC time> (false: delete it)")
	var key keySource
	key.register(fs, "", "the backup's (the restored database gets the same)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usageErrorf("restore: -from and -to are required")
	}
	p, err := key.load()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	o := lifecycle.RestoreOptions{Encryption: encryption(p)}
	if _, err := os.Stat(*to); err == nil && *keep {
		o.KeepReplaced = replacedName(*to, time.Now())
	}
	if err := lifecycle.RestoreWith(ctx, *from, *to, o); err != nil {
		return keyHint(err, &key, nil)
	}
	fmt.Fprintf(stdout, "restored %s from %s (verified)\n", *to, *from)
	if o.KeepReplaced != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept as %s: remove it once the restored one is checked (-keep-replaced=false keeps none)\n", o.KeepReplaced)
	}
	return nil
}

// replacedName names the file that keeps the database restore replaces:
// FILE.replaced-<UTC time>, with -2, -3, ... if that exists.
func replacedName(path string, now time.Time) string {
	name := path + ".replaced-" + now.UTC().Format("20060102T150405Z")
	for i, n := 2, name; ; i++ {
		if _, err := os.Lstat(n); errors.Is(err, os.ErrNotExist) {
			return n
		}
		n = fmt.Sprintf("%s-%d", name, i)
	}
}

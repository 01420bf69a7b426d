package migrate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	envHelper = "QLSQLITE_MIGRATE_HELPER"
	envDB     = "QLSQLITE_MIGRATE_DB"
	envDir    = "QLSQLITE_MIGRATE_DIR"
)

// TestHelperProcess is not a test: it is the child process of the locking
// tests (the test binary re-executed with envHelper set).
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		return
	}
	err := helper(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helper(mode string) error {
	switch mode {
	case "up":
		db, err := open(os.Getenv(envDB))
		if err != nil {
			return err
		}
		defer db.Close()
		applied := 0
		m, err := New(db, os.DirFS(os.Getenv(envDir)), WithoutBackup(), WithNotify(func(e Event) {
			switch e.Kind {
			case EventLockWait:
				fmt.Println("waiting")
			case EventApplied:
				applied++
			}
		}))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Up(ctx); err != nil {
			return err
		}
		fmt.Println("applied", applied)
		return nil
	case "hold":
		unlock, err := lockFile(context.Background(), os.Getenv(envDB), nil) // the lock file's path
		if err != nil {
			return err
		}
		defer unlock()
		fmt.Println("locked")
		_, err = io.Copy(io.Discard, os.Stdin) // until the parent kills us
		return err
	}
	return fmt.Errorf("unknown mode %q", mode)
}

type child struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
	stdin io.WriteCloser
}

func startChild(t *testing.T, mode, dbPath, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envDB+"="+dbPath, envDir+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &child{cmd: cmd, lines: bufio.NewScanner(out), stdin: in}
}

func (c *child) expect(t *testing.T, want string) {
	t.Helper()
	if !c.lines.Scan() {
		t.Fatalf("child said nothing (want %q): %v", want, c.lines.Err())
	}
	if got := c.lines.Text(); got != want {
		t.Fatalf("child said %q, want %q", got, want)
	}
}

// lockPath finds the lock file as the migrator does (from PRAGMA database_list).
func lockPath(t *testing.T, dbPath string) string {
	t.Helper()
	var file string
	if err := openDB(t, dbPath).QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		t.Fatal(err)
	}
	return file + lockSuffix
}

var counterMigrations = map[string]string{
	"001_log.sql": "CREATE TABLE log (v INTEGER PRIMARY KEY);\n",
	"002_two.sql": "INSERT INTO log VALUES (2);\n",
	"003_new.sql": "INSERT INTO log VALUES (3);\n",
}

// Two processes running Up at once apply each migration exactly once: both
// wait while the lock is held, then one applies everything and the other
// finds nothing to do.
func TestTwoProcessesApplyEachMigrationOnce(t *testing.T) {
	db, dbPath, dir := setup(t, counterMigrations)
	unlock, err := lockFile(ctx, lockPath(t, dbPath), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := startChild(t, "up", dbPath, dir)
	b := startChild(t, "up", dbPath, dir)
	a.expect(t, "waiting")
	b.expect(t, "waiting")
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range []*child{a, b} {
		if !c.lines.Scan() || !strings.HasPrefix(c.lines.Text(), "applied ") {
			t.Fatalf("child said %q", c.lines.Text())
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(c.lines.Text(), "applied "))
		total += n
		for c.lines.Scan() {
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child failed: %v", err)
		}
	}
	if total != 3 {
		t.Fatalf("the children applied %d migrations in all, want 3", total)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM log"); n != 2 {
		t.Fatalf("log has %d rows, want 2", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM schema_versions"); n != 3 {
		t.Fatalf("schema_versions has %d rows, want 3", n)
	}
}

// Waiting for the lock is bounded by the context, and a lock held by a
// process that dies is released by the kernel.
func TestLockWaitBoundedAndReleasedOnDeath(t *testing.T) {
	db, dbPath, dir := setup(t, counterMigrations)
	holder := startChild(t, "hold", lockPath(t, dbPath), dir)
	holder.expect(t, "locked")

	var waited []Event
	m := newMigrator(t, db, dir, WithoutBackup(), WithNotify(func(e Event) {
		if e.Kind == EventLockWait {
			waited = append(waited, e)
		}
	}))
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := m.Up(short)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), lockSuffix) {
		t.Fatalf("Up = %v, want DeadlineExceeded waiting for the lock", err)
	}
	if len(waited) != 1 || waited[0].Path != lockPath(t, dbPath) {
		t.Fatalf("lock-wait events = %+v", waited)
	}
	if tableExists(t, db, "log") {
		t.Fatal("Up ran without the lock")
	}

	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	holder.cmd.Wait()
	long, cancel2 := context.WithTimeout(ctx, time.Minute)
	defer cancel2()
	if err := m.Up(long); err != nil {
		t.Fatal(err)
	}
	if v := version(t, m); v != 3 {
		t.Fatalf("version = %d", v)
	}
}

// Several Migrators of one process, on their own pools, agree too (flock
// locks are per open file, not per process).
func TestConcurrentMigratorsInOneProcess(t *testing.T) {
	_, dbPath, dir := setup(t, counterMigrations)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		db := openDB(t, dbPath)
		wg.Go(func() {
			m, err := New(db, os.DirFS(dir), WithoutBackup())
			if err == nil {
				err = m.Up(ctx)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := queryInt(t, openDB(t, dbPath), "SELECT count(*) FROM log"); n != 2 {
		t.Fatalf("log has %d rows, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dbPath), "app.db"+lockSuffix)); removeLockFile && !os.IsNotExist(err) {
		t.Fatalf("the lock file is left behind: %v", err)
	}
}

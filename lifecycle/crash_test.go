package lifecycle

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv tells the test binary, re-executed as a child process, to act
// as an archiving program (see TestHelperProcess).
const helperEnv = "QLSQLITE_LIFECYCLE_HELPER"

// TestHelperProcess is not a test: it is the child process of
// TestArchiveSurvivesSIGKILL, which runs the test binary again with
// helperEnv set. It archives the trades of $LC_SRC into $LC_DEST, through
// the driver $LC_DRIVER (opened as the parent's openDB does), printing a
// line per batch, and when $LC_STOP names a phase and batch ("copied 2") it
// prints "at copied 2" there and blocks until it is killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "archive" {
		return
	}
	name := dsn(os.Getenv("LC_SRC"))
	if os.Getenv("LC_DRIVER") == "qlsqlite" {
		name = "file:" + os.Getenv("LC_SRC")
	}
	db, err := sql.Open(os.Getenv("LC_DRIVER"), name)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	p := ArchivePolicy{
		Table: "trades", Where: "timestamp < ?", Args: []any{os.Getenv("LC_CUTOFF")},
		DestPath: os.Getenv("LC_DEST"), BatchSize: 200,
		Progress: func(r ArchiveReport) { fmt.Printf("batch %d moved %d\n", r.Batches, r.Moved) },
	}
	if stop := os.Getenv("LC_STOP"); stop != "" {
		p.hook = func(phase string, batch int) {
			if fmt.Sprintf("%s %d", phase, batch) == stop {
				fmt.Println("at", stop)
				io.Copy(io.Discard, os.Stdin) // the parent never writes: wait for SIGKILL
			}
		}
	}
	_, err = Archive(context.Background(), db, p)
	fmt.Println("done", err)
	os.Exit(0)
}

// TestArchiveSurvivesSIGKILL kills an archiving child process with SIGKILL
// at chosen points (right after a batch's copy committed, right after its
// delete committed) and at random moments, checking after every kill that
// no row was lost; a final run must leave every row in exactly one place.
func TestArchiveSurvivesSIGKILL(t *testing.T) {
	t.Run("sqlite3", func(t *testing.T) { testArchiveSurvivesSIGKILL(t, "sqlite3", openDB) })
	t.Run("qlsqlite", func(t *testing.T) { testArchiveSurvivesSIGKILL(t, "qlsqlite", openQL) })
}

func testArchiveSurvivesSIGKILL(t *testing.T, driver string, openDB opener) {
	dir := t.TempDir()
	src, dest := filepath.Join(dir, "src.db"), filepath.Join(dir, "archive.db")
	db := openDB(t, src)
	const n = 20_000
	seedTrades(t, db, n)
	cutoff := tradeTime(15_001) // trades 1..15000 are archived
	conn := attachCheckLater(t, db, dest)

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	rounds := []string{"copied 2", "deleted 1", "random", "copied 1", "random", "random", "random", "copied 3"}
	for i, stop := range rounds {
		killAt := ""
		if stop != "random" {
			killAt = stop
		}
		lines, err := runChild(t, driver, src, dest, cutoff, killAt, func() time.Duration {
			return time.Duration(rng.Int64N(int64(10 * time.Millisecond)))
		})
		if err != nil {
			t.Fatalf("round %d (%s): %v\n%s", i, stop, err, strings.Join(lines, "\n"))
		}
		c := conn()
		checkNoneLost(t, c, n)
		dups := count(t, c, `SELECT count(*) FROM main.trades JOIN arc.trades USING (id)`)
		t.Logf("round %d, killed at %s: %d rows archived, %d duplicates (last line %q)", i, stop, count(t, c, `SELECT count(*) FROM arc.trades`), dups, lines[len(lines)-1])
		if strings.HasPrefix(stop, "copied") && dups == 0 {
			t.Errorf("round %d: a kill right after a copy left no duplicate: the kill did not land where intended", i)
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// The last kill came right after a copy: the rerun deletes those
	// duplicates from the source without copying them again.
	rep, err := Archive(context.Background(), db, ArchivePolicy{Table: "trades", Where: "timestamp < ?", Args: []any{cutoff}, DestPath: dest, BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Moved <= rep.Copied {
		t.Errorf("rerun moved %d rows and copied %d: it should have removed the duplicates of the killed run", rep.Moved, rep.Copied)
	}
	c := conn()
	checkExactlyOnce(t, c, n)
	if got := count(t, c, `SELECT count(*) FROM arc.trades`); got != 15_000 {
		t.Errorf("archive holds %d trades, want 15000", got)
	}
}

// attachCheckLater returns a function that gives a connection of db with
// dest attached as "arc", attaching it on first use (dest may not exist
// before the first round).
func attachCheckLater(t *testing.T, db *sql.DB, dest string) func() *sql.Conn {
	var c *sql.Conn
	return func() *sql.Conn {
		if c == nil {
			c = attachForCheck(t, db, dest)
		}
		return c
	}
}

// runChild runs TestHelperProcess and kills it with SIGKILL: at the point
// named by killAt, or, when killAt is "", a random delay after its first
// progress line (if it has not finished by then). It returns the lines the
// child printed.
func runChild(t *testing.T, driver, src, dest, cutoff, killAt string, delay func() time.Duration) ([]string, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"=archive", "LC_DRIVER="+driver, "LC_SRC="+src, "LC_DEST="+dest, "LC_CUTOFF="+cutoff, "LC_STOP="+killAt)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var lines []string
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		switch {
		case killAt != "" && line == "at "+killAt:
			cmd.Process.Kill()
			killed = true
		case killAt == "" && !killed && strings.HasPrefix(line, "batch "):
			time.AfterFunc(delay(), func() { cmd.Process.Kill() })
			killed = true
		case strings.HasPrefix(line, "error"):
			return lines, errors.New(line)
		}
	}
	err = cmd.Wait()
	if len(lines) == 0 {
		return lines, fmt.Errorf("child printed nothing: %v", err)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == -1 {
		return lines, nil // killed by a signal, as intended
	}
	last := lines[len(lines)-1]
	if err == nil && strings.HasPrefix(last, "done <nil>") {
		return lines, nil // finished before the random kill
	}
	return lines, fmt.Errorf("child ended with %v, last line %q (status %s)", err, last, strconv.Quote(fmt.Sprint(cmd.ProcessState)))
}

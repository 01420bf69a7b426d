package lifecycle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeEncrypted writes a closed WAL database of n secret accounts at path,
// encrypted with e, whose last commits are still in its -wal.
func makeEncrypted(t testing.TB, path string, e *Encryption, n int) {
	t.Helper()
	db := openDSN(t, encDSN(path, e))
	// A connection that stays open keeps the -wal when the other closes.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seedSecrets(t, db, n)
	mustExec(t, conn, `PRAGMA wal_checkpoint(PASSIVE)`)
	mustExec(t, db, `UPDATE accounts SET owner = 'late' WHERE id % 10 = 0`)
	conn.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// readsWith returns the number of secret rows of path read with e, and
// whether it verifies with e.
func readsWith(t testing.TB, path string, e *Encryption) (int64, bool) {
	t.Helper()
	if err := VerifyWith(context.Background(), path, VerifyOptions{Encryption: e}); err != nil {
		return 0, false
	}
	db := openDSN(t, encDSN(path, e))
	defer db.Close()
	return secretRows(t, db), true
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	makeEncrypted(t, path, encA, 2000)

	if err := Rekey(ctx, path, RekeyOptions{From: encA, To: encB}); err != nil {
		t.Fatal(err)
	}
	if n, ok := readsWith(t, path, encB); !ok || n != 2000 {
		t.Errorf("with the new key: %d rows, verifies %v; want 2000, true", n, ok)
	}
	if _, ok := readsWith(t, path, encA); ok {
		t.Error("the old key still reads the database")
	}
	db := openDSN(t, encDSN(path, encB))
	var mode string
	db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if late := count(t, db, `SELECT count(*) FROM accounts WHERE owner = 'late'`); late != 200 || mode != "wal" {
		t.Errorf("after rekey: %d late updates (want 200), journal mode %s (want wal)", late, mode)
	}
	db.Close()
	assertNothingReadable(t, dir)
	if entries, _ := os.ReadDir(dir); len(entries) > 1 {
		t.Errorf("rekey left files beside the database: %v", entries)
	}

	if err := Rekey(ctx, path, RekeyOptions{From: encA, To: encB}); err != nil {
		t.Errorf("rekey run again: %v, want nil (it is already done)", err)
	}
	err := Rekey(ctx, path, RekeyOptions{From: encA, To: encX})
	assertWrongKey(t, "rekey from a key it does not have", err)

	t.Run("in use", func(t *testing.T) {
		db := openDSN(t, encDSN(path, encB))
		if n := secretRows(t, db); n != 2000 {
			t.Fatal(n)
		}
		err := Rekey(ctx, path, RekeyOptions{From: encB, To: encA})
		if !errors.Is(err, ErrInUse) {
			t.Errorf("rekey of an open database: %v, want ErrInUse", err)
		}
		db.Close()
		if n, ok := readsWith(t, path, encB); !ok || n != 2000 {
			t.Error("a refused rekey changed the database")
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			o    RekeyOptions
			want string
		}{
			{RekeyOptions{From: encB}, "Plaintext"},
			{RekeyOptions{From: encB, To: encA, Plaintext: true}, "choose one"},
			{RekeyOptions{From: encB, To: encB}, "nothing to change"},
			{RekeyOptions{From: encB, To: &Encryption{VFS: "adiantum", HexKey: "abcd"}}, "32-byte key"},
		} {
			err := Rekey(ctx, path, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Rekey(%v): %v, want an error saying %q", tt.o, err, tt.want)
			}
			assertNoKey(t, "Rekey refusal", err)
		}
		if !errors.Is(Rekey(ctx, path, RekeyOptions{From: encB}), ErrPlaintextCopy) {
			t.Error("decrypting unasked: want ErrPlaintextCopy")
		}
	})
	t.Run("another VFS, decrypt, encrypt", func(t *testing.T) {
		if err := Rekey(ctx, path, RekeyOptions{From: encB, To: encX}); err != nil {
			t.Fatal(err)
		}
		if n, ok := readsWith(t, path, encX); !ok || n != 2000 {
			t.Errorf("xts: %d rows, verifies %v", n, ok)
		}
		if err := Rekey(ctx, path, RekeyOptions{From: encX, Plaintext: true}); err != nil {
			t.Fatal(err)
		}
		if n, ok := readsWith(t, path, nil); !ok || n != 2000 {
			t.Errorf("decrypted: %d rows, verifies %v", n, ok)
		}
		if found, _ := filesHolding(t, dir, secret); len(found) == 0 {
			t.Error("the decrypted database is not plaintext")
		}
		// Encrypting an unencrypted database leaves no plaintext file behind.
		if err := Rekey(ctx, path, RekeyOptions{To: encA}); err != nil {
			t.Fatal(err)
		}
		if n, ok := readsWith(t, path, encA); !ok || n != 2000 {
			t.Errorf("encrypted again: %d rows, verifies %v", n, ok)
		}
		assertNothingReadable(t, dir)
	})
}

func TestRekeyCancelledLeavesTheOldKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	makeEncrypted(t, path, encA, 1000)
	for _, phase := range []string{"locked", "copied", "verified"} {
		ctx, cancel := context.WithCancel(context.Background())
		o := RekeyOptions{From: encA, To: encB, hook: func(p string) {
			if p == phase {
				cancel()
			}
		}}
		err := Rekey(ctx, path, o)
		cancel()
		if phase != "verified" && !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled at %s: %v, want context.Canceled", phase, err)
		}
		if n, ok := readsWith(t, path, encA); !ok || n != 1000 {
			t.Fatalf("cancelled at %s: with the old key %d rows, verifies %v", phase, n, ok)
		}
		if phase == "verified" && err == nil {
			t.Errorf("cancelled at %s: Rekey went on", phase)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("cancelled at %s: files left %v", phase, entries)
		}
	}
	assertNothingReadable(t, dir)
}

// rekeyHelperEnv tells the test binary, re-executed as a child process, to
// rekey $RK_PATH from keyA to keyB and block at the phase $RK_STOP.
const rekeyHelperEnv = "QLSQLITE_REKEY_HELPER"

// TestRekeyHelperProcess is not a test: it is the child process of
// TestRekeySurvivesSIGKILL.
func TestRekeyHelperProcess(t *testing.T) {
	if os.Getenv(rekeyHelperEnv) != "rekey" {
		return
	}
	stop := os.Getenv("RK_STOP")
	o := RekeyOptions{From: encA, To: encB, hook: func(phase string) {
		if phase == stop {
			fmt.Println("at", phase)
			io.Copy(io.Discard, os.Stdin) // the parent never writes: wait for SIGKILL
		}
	}}
	err := Rekey(context.Background(), os.Getenv("RK_PATH"), o)
	fmt.Println("done", err)
	os.Exit(0)
}

// TestRekeySurvivesSIGKILL kills a rekeying process at each phase: the
// database must read, whole, with the old key before the rename and with
// the new one after it, and running Rekey again must finish the job.
func TestRekeySurvivesSIGKILL(t *testing.T) {
	for _, phase := range []string{"locked", "copied", "verified", "renamed"} {
		t.Run(phase, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.db")
			makeEncrypted(t, path, encA, 1500)

			cmd := exec.Command(os.Args[0], "-test.run=^TestRekeyHelperProcess$")
			cmd.Env = append(os.Environ(), rekeyHelperEnv+"=rekey", "RK_PATH="+path, "RK_STOP="+phase)
			stdin, _ := cmd.StdinPipe()
			defer stdin.Close()
			stdout, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if sc.Text() == "at "+phase {
					cmd.Process.Kill()
				}
			}
			cmd.Wait()
			if len(lines) == 0 || lines[0] != "at "+phase {
				t.Fatalf("the child did not stop at %s: %q", phase, lines)
			}

			for _, suffix := range []string{"-journal", "-wal"} {
				// One would belong to the old file: its key is not the new
				// file's, and SQLite would take it for a hot journal.
				if _, err := os.Stat(path + suffix); err == nil {
					t.Errorf("killed at %s: %s%s is left beside the database", phase, filepath.Base(path), suffix)
				}
			}
			want, other := encA, encB
			if phase == "renamed" {
				want, other = encB, encA
			}
			if n, ok := readsWith(t, path, want); !ok || n != 1500 {
				t.Fatalf("killed at %s: with %v %d rows, verifies %v; want 1500, true", phase, want, n, ok)
			}
			if _, ok := readsWith(t, path, other); ok {
				t.Errorf("killed at %s: %v reads it too", phase, other)
			}
			assertNothingReadable(t, dir)

			if err := Rekey(context.Background(), path, RekeyOptions{From: encA, To: encB}); err != nil {
				t.Fatalf("rekey after the kill: %v", err)
			}
			if n, ok := readsWith(t, path, encB); !ok || n != 1500 {
				t.Errorf("after the rerun: with the new key %d rows, verifies %v", n, ok)
			}
		})
	}
}

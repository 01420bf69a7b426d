package lifecycle

import (
	"bytes"
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ncdriver "github.com/ncruces/go-sqlite3/driver"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
	_ "github.com/ncruces/go-sqlite3/vfs/xts"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

// secret is what the accounts of the test databases hold: it must never be
// readable in a file written for an encrypted database.
const secret = "TOP-SECRET-ACCOUNT-7f3a"

const (
	keyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	keyB = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"
	keyX = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" // for xts
)

var (
	encA = &Encryption{VFS: "adiantum", HexKey: keyA}
	encB = &Encryption{VFS: "adiantum", HexKey: keyB}
	encX = &Encryption{VFS: "xts", HexKey: keyX}
)

// keys are the strings no error, file or log may contain.
var keys = []string{keyA, keyB, keyX}

// encDSN is the DSN of path opened through e, as the platform opens its
// databases (WAL mode).
func encDSN(path string, e *Encryption) string {
	p, err := e.params()
	if err != nil {
		panic(err)
	}
	q := "_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)"
	if !p.IsZero() {
		q = p.Query() + "&" + q
	}
	return atrest.FileURI(path) + "?" + q
}

// seedSecrets creates accounts whose notes hold the secret, in the table
// and in an index; with the DSNs above the last commits stay in the -wal.
func seedSecrets(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	mustExec(t, db, `CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, note TEXT NOT NULL);
		CREATE INDEX accounts_note ON accounts (note)`)
	mustExec(t, db, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		INSERT INTO accounts (id, owner, note) SELECT x, 'u' || x, ? || '-' || x FROM c`, n, secret)
}

// secretRows counts the accounts of db that hold the secret.
func secretRows(t testing.TB, db *sql.DB) int64 {
	t.Helper()
	return count(t, db, `SELECT count(*) FROM accounts WHERE note LIKE ? || '-%'`, secret)
}

// filesHolding returns the files under dir (every file, -wal, -shm,
// -journal and temporary files included) whose bytes contain one of
// needles, and how many files it read.
func filesHolding(t testing.TB, dir string, needles ...string) (found []string, scanned int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				rel, _ := filepath.Rel(dir, path)
				found = append(found, rel+" holds "+n[:8]+"…")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found, scanned
}

// assertNothingReadable fails if a file under dir holds the secret or a key.
func assertNothingReadable(t testing.TB, dir string) {
	t.Helper()
	found, scanned := filesHolding(t, dir, append([]string{secret}, keys...)...)
	if len(found) > 0 {
		t.Errorf("readable in the directory: %s", strings.Join(found, "; "))
	}
	if scanned == 0 {
		t.Errorf("no file scanned in %s", dir)
	}
}

// assertNoKey fails if err's message holds a key.
func assertNoKey(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, k := range keys {
		if strings.Contains(err.Error(), k) {
			t.Errorf("%s: the error quotes a key: %v", what, err)
		}
	}
}

// assertWrongKey checks that err is the clear "wrong or missing key" error.
func assertWrongKey(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "wrong or missing key") {
		t.Errorf("%s: %v, want ErrWrongKey saying \"wrong or missing key\"", what, err)
	}
	assertNoKey(t, what, err)
}

// openCopy opens a copy with e and returns its number of secret rows,
// after checking its integrity.
func openCopy(t testing.TB, path string, e *Encryption) int64 {
	t.Helper()
	db := openDSN(t, encDSN(path, e))
	defer db.Close()
	if err := Check(context.Background(), db, true); err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return secretRows(t, db)
}

// TestSecretScanFindsPlaintext checks the check: the secret is found in an
// unencrypted database and in its -wal, and not in an encrypted one.
func TestSecretScanFindsPlaintext(t *testing.T) {
	plain, enc := t.TempDir(), t.TempDir()
	seedSecrets(t, openDB(t, filepath.Join(plain, "p.db")), 100)
	seedSecrets(t, openDSN(t, encDSN(filepath.Join(enc, "e.db"), encA)), 100)
	if found, _ := filesHolding(t, plain, secret); len(found) == 0 {
		t.Error("the secret was not found in an unencrypted database")
	}
	if found, scanned := filesHolding(t, enc, secret); len(found) > 0 || scanned < 2 {
		t.Errorf("encrypted database and its -wal (%d files): %v", scanned, found)
	}
}

func TestBackupOfEncryptedDatabaseIsEncrypted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDSN(t, encDSN(filepath.Join(dir, "app.db"), encA))
	seedSecrets(t, db, 2000)
	bak := filepath.Join(dir, "app.bak")
	if err := Backup(ctx, db, bak); err != nil {
		t.Fatal(err)
	}
	assertNothingReadable(t, dir) // the source, its -wal and -shm, the backup
	if err := VerifyWith(ctx, bak, VerifyOptions{Encryption: encA}); err != nil {
		t.Errorf("VerifyWith the key: %v", err)
	}
	if n := openCopy(t, bak, encA); n != 2000 {
		t.Errorf("the backup holds %d secret rows, want 2000", n)
	}
	err := Verify(ctx, bak)
	assertWrongKey(t, "Verify without a key", err)
	if !errors.Is(err, ErrNotDatabase) {
		t.Errorf("Verify without a key: %v, want ErrNotDatabase too", err)
	}
	assertWrongKey(t, "Verify with another key", VerifyWith(ctx, bak, VerifyOptions{Encryption: encB}))
	assertWrongKey(t, "QuickVerify with another VFS", VerifyWith(ctx, bak, VerifyOptions{Quick: true, Encryption: encX}))

	t.Run("another key", func(t *testing.T) {
		other := filepath.Join(dir, "other-key.bak")
		if err := BackupWith(ctx, db, other, BackupOptions{Encryption: encX}); err != nil {
			t.Fatal(err)
		}
		assertNothingReadable(t, dir)
		if n := openCopy(t, other, encX); n != 2000 {
			t.Errorf("the backup holds %d secret rows, want 2000", n)
		}
		assertWrongKey(t, "Verify with the source's key", VerifyWith(ctx, other, VerifyOptions{Encryption: encA}))
	})
	t.Run("plaintext on request", func(t *testing.T) {
		plain := filepath.Join(t.TempDir(), "plain.bak")
		if err := BackupWith(ctx, db, plain, BackupOptions{Plaintext: true}); err != nil {
			t.Fatal(err)
		}
		if found, _ := filesHolding(t, filepath.Dir(plain), secret); len(found) == 0 {
			t.Error("Plaintext: the backup is not plaintext")
		}
		if err := Verify(ctx, plain); err != nil {
			t.Errorf("Verify of the plaintext backup: %v", err)
		}
	})
	t.Run("both options", func(t *testing.T) {
		err := BackupWith(ctx, db, filepath.Join(dir, "x.bak"), BackupOptions{Plaintext: true, Encryption: encB})
		if err == nil || !strings.Contains(err.Error(), "choose one") {
			t.Errorf("Encryption and Plaintext: %v, want a refusal", err)
		}
	})
	t.Run("bad key", func(t *testing.T) {
		bad := &Encryption{VFS: "adiantum", HexKey: keyA[:40]}
		err := BackupWith(ctx, db, filepath.Join(dir, "x.bak"), BackupOptions{Encryption: bad})
		if err == nil || !strings.Contains(err.Error(), "32-byte key") || strings.Contains(err.Error(), keyA[:40]) {
			t.Errorf("a short key: %v, want a clear error without the key", err)
		}
	})
}

func TestArchiveOfEncryptedDatabaseIsEncrypted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDSN(t, encDSN(filepath.Join(dir, "app.db"), encA))
	seedSecrets(t, db, 3000)
	arc := filepath.Join(dir, "archive.db")
	rep, err := Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "id <= 1000", DestPath: arc, BatchSize: 300})
	if err != nil || rep.Moved != 1000 {
		t.Fatalf("Archive into a new file: %+v, %v", rep, err)
	}
	// Into the existing, encrypted, archive.
	rep, err = Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "id <= 2000", DestPath: arc, BatchSize: 300})
	if err != nil || rep.Moved != 1000 {
		t.Fatalf("Archive into the existing file: %+v, %v", rep, err)
	}
	assertNothingReadable(t, dir)
	if n := secretRows(t, db); n != 1000 {
		t.Errorf("the source holds %d rows, want 1000", n)
	}
	if n := openCopy(t, arc, encA); n != 2000 {
		t.Errorf("the archive holds %d rows, want 2000", n)
	}
	assertWrongKey(t, "Verify the archive without a key", Verify(ctx, arc))

	_, err = Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "true", DestPath: arc, Encryption: encB})
	assertWrongKey(t, "Archive into it with another key", err)
	if n := secretRows(t, db); n != 1000 {
		t.Errorf("after the refused archival the source holds %d rows, want 1000", n)
	}

	t.Run("plaintext on request", func(t *testing.T) {
		plain := filepath.Join(t.TempDir(), "plain.db")
		_, err := Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "id <= 2100", DestPath: plain, Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		if found, _ := filesHolding(t, filepath.Dir(plain), secret); len(found) == 0 {
			t.Error("Plaintext: the archive is not plaintext")
		}
		if err := Verify(ctx, plain); err != nil {
			t.Errorf("Verify of the plaintext archive: %v", err)
		}
	})
}

func TestRestoreAndRecoverEncrypted(t *testing.T) {
	ctx := context.Background()
	dir, backups := t.TempDir(), t.TempDir()
	live := filepath.Join(dir, "app.db")
	db := openDSN(t, encDSN(live, encA))
	seedSecrets(t, db, 2000)
	bak := filepath.Join(backups, "app-1.bak")
	if err := Backup(ctx, db, bak); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `DELETE FROM accounts WHERE id > 1500`) // after the backup
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage a page in the middle of the live file.
	f, err := os.OpenFile(live, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0x5a}, 4096), 8*4096)
	f.Close()
	damaged, _ := os.ReadFile(live)

	// Without a key the damaged file still looks encrypted: it is not
	// taken for a damaged plaintext one.
	rep, err := RecoverFromBackup(ctx, live, []string{backups})
	if !errors.Is(err, ErrWrongKey) || rep.Restored != "" || !strings.Contains(err.Error(), "RecoverOptions.Encryption") {
		t.Fatalf("recover without a key: %+v, %v; want a refusal asking for the key", rep, err)
	}
	rep, err = RecoverFromBackupWith(ctx, live, []string{backups}, RecoverOptions{Encryption: encB})
	if err == nil || rep.Restored != "" || len(rep.Rejected) != 1 {
		t.Fatalf("recover with another key: %+v, %v; want the backup rejected", rep, err)
	}
	assertWrongKey(t, "recover with another key: the rejected backup", rep.Rejected[0].Err)
	assertNoKey(t, "recover with another key", err)
	if now, _ := os.ReadFile(live); !bytes.Equal(now, damaged) {
		t.Fatal("a refused recovery changed the database")
	}

	rep, err = RecoverFromBackupWith(ctx, live, []string{backups}, RecoverOptions{Encryption: encA})
	if err != nil || rep.Restored != bak || !errors.Is(rep.DestProblem, ErrCorrupt) {
		t.Fatalf("recover with the key: %+v, %v", rep, err)
	}
	assertNothingReadable(t, dir)
	assertNothingReadable(t, backups)
	if n := openCopy(t, live, encA); n != 2000 {
		t.Errorf("the recovered database holds %d rows, want the backup's 2000", n)
	}

	t.Run("restore", func(t *testing.T) {
		dest := filepath.Join(dir, "restored.db")
		before := []byte("not yet restored")
		os.WriteFile(dest, before, 0o644)
		assertWrongKey(t, "Restore without a key", Restore(ctx, bak, dest))
		assertWrongKey(t, "Restore with another key", RestoreWith(ctx, bak, dest, RestoreOptions{Encryption: encB}))
		if now, _ := os.ReadFile(dest); !bytes.Equal(now, before) {
			t.Fatal("a refused restore changed the destination")
		}
		if err := RestoreWith(ctx, bak, dest, RestoreOptions{Encryption: encA}); err != nil {
			t.Fatal(err)
		}
		assertNothingReadable(t, dir)
		if n := openCopy(t, dest, encA); n != 2000 {
			t.Errorf("the restored database holds %d rows, want 2000", n)
		}
	})
	t.Run("restore over a database in use", func(t *testing.T) {
		inUse := openDSN(t, encDSN(live, encA))
		if n := secretRows(t, inUse); n != 2000 {
			t.Fatalf("%d rows", n)
		}
		err := RestoreWith(ctx, bak, live, RestoreOptions{Encryption: encA})
		if !errors.Is(err, ErrInUse) {
			t.Errorf("RestoreWith over an open encrypted database: %v, want ErrInUse", err)
		}
	})
}

// TestRecoverNeverReplacesASoundDatabaseForWantOfAKey: a sound encrypted
// database recovered without its key, beside unencrypted backups (taken
// before its backups were encrypted, or on request), is left alone; so is
// a sound unencrypted database recovered with a key.
func TestRecoverNeverReplacesASoundDatabaseForWantOfAKey(t *testing.T) {
	ctx := context.Background()
	dir, backups := t.TempDir(), t.TempDir()
	enc, plain := filepath.Join(dir, "enc.db"), filepath.Join(dir, "plain.db")
	for _, tt := range []struct {
		path string
		e    *Encryption
	}{{enc, encA}, {plain, nil}} {
		db := openDSN(t, encDSN(tt.path, tt.e))
		seedSecrets(t, db, 300)
		if err := BackupWith(ctx, db, filepath.Join(backups, filepath.Base(tt.path)+".plain.bak"), BackupOptions{Plaintext: true}); err != nil {
			t.Fatal(err)
		}
		if err := BackupWith(ctx, db, filepath.Join(backups, filepath.Base(tt.path)+".enc.bak"), BackupOptions{Encryption: encB}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, `INSERT INTO accounts VALUES (1000, 'new', 'after the backups')`)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string][]byte{}
	for _, p := range []string{enc, plain} {
		before[p], _ = os.ReadFile(p)
	}
	rep, err := RecoverFromBackup(ctx, enc, []string{backups})
	if !errors.Is(err, ErrWrongKey) || rep.Restored != "" {
		t.Errorf("an encrypted database without its key: %+v, %v; want a refusal", rep, err)
	}
	rep, err = RecoverFromBackupWith(ctx, plain, []string{backups}, RecoverOptions{Encryption: encB})
	if !errors.Is(err, ErrWrongKey) || rep.Restored != "" || !strings.Contains(err.Error(), "unencrypted database that verifies") {
		t.Errorf("an unencrypted database with a key: %+v, %v; want a refusal", rep, err)
	}
	for p, b := range before {
		if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
			t.Errorf("%s was changed", filepath.Base(p))
		}
	}
	// A header overwritten on an unencrypted database is still damage.
	f, _ := os.OpenFile(plain, os.O_RDWR, 0)
	f.WriteAt([]byte("garbage garbage garbage"), 0)
	f.Close()
	rep, err = RecoverFromBackup(ctx, plain, []string{filepath.Join(backups, "plain.db.plain.bak")})
	if err != nil || rep.Restored == "" {
		t.Errorf("an unencrypted database with a broken header: %+v, %v; want it recovered", rep, err)
	}
}

// pragmaKeyConnector opens path through vfs=adiantum and sets the key with
// PRAGMA hexkey on each new connection, as the adiantum package recommends:
// neither the DSN nor the file name holds the key. When tell is set, its
// driver tells the key through EncryptionParams, as the qlsqlite driver does.
type pragmaKeyConnector struct {
	sqldriver.Connector
	hexKey string
	tell   bool
}

func (c *pragmaKeyConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	raw := dc.(ncdriver.Conn).Raw()
	if err := raw.Exec(`PRAGMA hexkey='` + c.hexKey + `'; PRAGMA busy_timeout=10000; PRAGMA journal_mode=wal`); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

func (c *pragmaKeyConnector) Driver() sqldriver.Driver {
	if c.tell {
		return keyTellingDriver{c.Connector.Driver(), url.Values{"vfs": {"adiantum"}, "_pragma": {"hexkey('" + c.hexKey + "')"}}}
	}
	return c.Connector.Driver()
}

type keyTellingDriver struct {
	sqldriver.Driver
	params url.Values
}

func (d keyTellingDriver) EncryptionParams() url.Values { return d.params }

func openPragmaKeyed(t testing.TB, path, hexKey string, tell bool) *sql.DB {
	t.Helper()
	inner, err := (&ncdriver.SQLite{}).OpenConnector(atrest.FileURI(path) + "?vfs=adiantum")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(&pragmaKeyConnector{inner, hexKey, tell})
	t.Cleanup(func() { db.Close() })
	return db
}

// TestCopyOfDatabaseWithUnknownKeyIsRefused: a database whose key was set
// with a PRAGMA gets no unencrypted copy unless asked for one.
func TestCopyOfDatabaseWithUnknownKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openPragmaKeyed(t, filepath.Join(dir, "app.db"), keyA, false)
	seedSecrets(t, db, 500)

	err := Backup(ctx, db, filepath.Join(dir, "app.bak"))
	if !errors.Is(err, ErrPlaintextCopy) || !strings.Contains(err.Error(), "BackupOptions.Encryption") || !strings.Contains(err.Error(), "BackupOptions.Plaintext") {
		t.Errorf("Backup: %v, want ErrPlaintextCopy naming both options", err)
	}
	_, err = Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "true", DestPath: filepath.Join(dir, "archive.db")})
	if !errors.Is(err, ErrPlaintextCopy) || !strings.Contains(err.Error(), "ArchivePolicy.Plaintext") {
		t.Errorf("Archive: %v, want ErrPlaintextCopy naming the option", err)
	}
	if n := secretRows(t, db); n != 500 {
		t.Errorf("after the refusals the source holds %d rows, want 500", n)
	}
	assertNothingReadable(t, dir)
	if entries, _ := os.ReadDir(dir); len(entries) > 3 { // app.db, -wal, -shm
		t.Errorf("the refusals left files: %v", entries)
	}

	bak := filepath.Join(dir, "given-key.bak")
	if err := BackupWith(ctx, db, bak, BackupOptions{Encryption: encA}); err != nil {
		t.Fatal(err)
	}
	if _, err := Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "id <= 100", DestPath: filepath.Join(dir, "archive.db"), Encryption: encB}); err != nil {
		t.Fatal(err)
	}
	assertNothingReadable(t, dir)
	if n := openCopy(t, bak, encA); n != 500 {
		t.Errorf("the backup holds %d rows, want 500", n)
	}
	if n := openCopy(t, filepath.Join(dir, "archive.db"), encB); n != 100 {
		t.Errorf("the archive holds %d rows, want 100", n)
	}

	t.Run("the driver tells the key", func(t *testing.T) {
		dir := t.TempDir()
		db := openPragmaKeyed(t, filepath.Join(dir, "app.db"), keyB, true)
		seedSecrets(t, db, 500)
		bak := filepath.Join(dir, "app.bak")
		if err := Backup(ctx, db, bak); err != nil {
			t.Fatal(err)
		}
		if _, err := Archive(ctx, db, ArchivePolicy{Table: "accounts", Where: "id <= 100", DestPath: filepath.Join(dir, "archive.db")}); err != nil {
			t.Fatal(err)
		}
		assertNothingReadable(t, dir)
		if n := openCopy(t, bak, encB); n != 500 {
			t.Errorf("the backup holds %d rows, want 500", n)
		}
		if n := openCopy(t, filepath.Join(dir, "archive.db"), encB); n != 100 {
			t.Errorf("the archive holds %d rows, want 100", n)
		}
	})
}

func TestEncryptionNeverPrintsTheKey(t *testing.T) {
	e := Encryption{VFS: "adiantum", HexKey: keyA}
	for _, s := range []string{e.String(), e.GoString(), e.LogValue().String(),
		sprint("%v %+v %#v %s %q", e, e, e, e, e), sprint("%v %+v", &e, BackupOptions{Encryption: &e})} {
		if strings.Contains(s, keyA) {
			t.Errorf("%q shows the key", s)
		}
	}
	got, err := ParseEncryption("vfs=adiantum&hexkey=" + keyA)
	if err != nil || *got != e {
		t.Errorf("ParseEncryption = %v, %v", got, err)
	}
	got, err = ParseEncryption("file:app.db?mode=rw&vfs=xts&_pragma=textkey('a''b')")
	if err != nil || *got != (Encryption{VFS: "xts", TextKey: "a'b"}) {
		t.Errorf("ParseEncryption of a DSN = %v, %v", got, err)
	}
	if got, err := ParseEncryption("file:app.db?mode=rw"); got != nil || err != nil {
		t.Errorf("ParseEncryption of a DSN without a key = %v, %v; want nil, nil", got, err)
	}
	_, err = ParseEncryption("vfs=adiantum&hexkye=" + keyA)
	if err == nil || !strings.Contains(err.Error(), "hexkye") {
		t.Errorf("a misspelt parameter: %v", err)
	}
	assertNoKey(t, "ParseEncryption", err)
}

func sprint(format string, args ...any) string { return fmt.Sprintf(format, args...) }

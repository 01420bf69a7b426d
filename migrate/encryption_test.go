package migrate

import (
	"bytes"
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ncdriver "github.com/ncruces/go-sqlite3/driver"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"
	_ "github.com/ncruces/go-sqlite3/vfs/xts"

	"github.com/quantumleap/qlsqlite/internal/atrest"
)

const (
	secret = "TOP-SECRET-ACCOUNT-7f3a"
	keyA   = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	keyX   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

var encMigrations = map[string]string{
	"001_accounts.sql":       "CREATE TABLE accounts (id INTEGER PRIMARY KEY, note TEXT NOT NULL); CREATE INDEX accounts_note ON accounts (note);",
	"002_owner.sql":          "ALTER TABLE accounts ADD COLUMN owner TEXT;",
	"rollback/002_owner.sql": "ALTER TABLE accounts DROP COLUMN owner;",
}

// openEncrypted opens path through query ("vfs=adiantum&hexkey=…", or ""
// for an unencrypted file) with the raw driver, in WAL mode.
func openEncrypted(t testing.TB, path, query string) *sql.DB {
	t.Helper()
	dsn := atrest.FileURI(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)"
	if query != "" {
		dsn += "&" + query
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// seedAccounts applies the first migration and fills it with the secret.
func seedAccounts(t testing.TB, db *sql.DB, dir string) {
	t.Helper()
	m := newMigrator(t, db, dir)
	if err := m.UpTo(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO accounts (id, note) SELECT x, ? || '-' || x FROM c`, secret); err != nil {
		t.Fatal(err)
	}
}

// filesHolding returns the files under dir whose bytes contain a needle.
func filesHolding(t testing.TB, dir string, needles ...string) (found []string) {
	t.Helper()
	scanned := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		scanned++
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, filepath.Base(path))
			}
		}
		return nil
	})
	if scanned == 0 {
		t.Fatalf("no file in %s", dir)
	}
	return found
}

// backupRows opens a backup with query and returns its secret rows, after
// an integrity check.
func backupRows(t testing.TB, path, query string) (int64, error) {
	t.Helper()
	db := openEncrypted(t, path, query)
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		return 0, errors.Join(err, errors.New(ok))
	}
	var n int64
	err := db.QueryRow(`SELECT count(*) FROM accounts WHERE note LIKE ? || '-%'`, secret).Scan(&n)
	return n, err
}

func TestBackupOfEncryptedDatabaseIsEncrypted(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "migrations")
	writeFiles(t, dir, encMigrations)
	data := filepath.Join(root, "data")
	os.Mkdir(data, 0o755)
	key := "vfs=adiantum&hexkey=" + keyA
	db := openEncrypted(t, filepath.Join(data, "app.db"), key)
	seedAccounts(t, db, dir)

	m := newMigrator(t, db, dir)
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	bak := m.LastBackup()
	if bak == "" || filepath.Dir(bak) != data {
		t.Fatalf("LastBackup = %q", bak)
	}
	if found := filesHolding(t, data, secret, keyA); len(found) > 0 {
		t.Errorf("readable in the data directory: %v", found)
	}
	if n, err := backupRows(t, bak, key); err != nil || n != 500 {
		t.Errorf("the backup read with the key: %d rows, %v; want 500", n, err)
	}
	if _, err := backupRows(t, bak, ""); err == nil {
		t.Error("the backup reads without the key")
	}

	t.Run("another key", func(t *testing.T) {
		other := "vfs=xts&hexkey=" + keyX
		m := newMigrator(t, db, dir, WithBackupEncryption(other), WithBackupDir(filepath.Join(root, "other")))
		if err := m.Down(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if found := filesHolding(t, filepath.Join(root, "other"), secret, keyA, keyX); len(found) > 0 {
			t.Errorf("readable: %v", found)
		}
		if n, err := backupRows(t, m.LastBackup(), other); err != nil || n != 500 {
			t.Errorf("the backup read with its key: %d rows, %v", n, err)
		}
	})
	t.Run("plaintext on request", func(t *testing.T) {
		m := newMigrator(t, db, dir, WithPlaintextBackup(), WithBackupDir(filepath.Join(root, "plain")))
		if err := m.Up(ctx); err != nil {
			t.Fatal(err)
		}
		if found := filesHolding(t, filepath.Join(root, "plain"), secret); len(found) == 0 {
			t.Error("WithPlaintextBackup: the backup is not plaintext")
		}
	})
}

// pragmaKeyConnector opens a file through vfs=adiantum and sets the key with
// PRAGMA hexkey on each connection: the migrator cannot find it.
type pragmaKeyConnector struct{ sqldriver.Connector }

func (c pragmaKeyConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := dc.(ncdriver.Conn).Raw().Exec(`PRAGMA hexkey='` + keyA + `'; PRAGMA busy_timeout=10000`); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

func TestBackupOfDatabaseWithUnknownKeyIsRefused(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "migrations")
	writeFiles(t, dir, encMigrations)
	data := filepath.Join(root, "data")
	os.Mkdir(data, 0o755)
	inner, err := (&ncdriver.SQLite{}).OpenConnector(atrest.FileURI(filepath.Join(data, "app.db")) + "?vfs=adiantum")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(pragmaKeyConnector{inner})
	defer db.Close()
	seedAccounts(t, db, dir)

	m := newMigrator(t, db, dir)
	err = m.Up(ctx)
	if !errors.Is(err, ErrPlaintextBackup) || !strings.Contains(err.Error(), "WithBackupEncryption") || !strings.Contains(err.Error(), "WithPlaintextBackup") {
		t.Errorf("Up: %v, want ErrPlaintextBackup naming the options", err)
	}
	if v := version(t, m); v != 1 || tableExists(t, db, "x") {
		t.Errorf("a refused Up changed the database: version %d", v)
	}
	if found := filesHolding(t, data, secret, keyA); len(found) > 0 {
		t.Errorf("readable: %v", found)
	}
	if entries, _ := os.ReadDir(data); len(entries) > 4 { // app.db, -wal, -shm, the lock file
		t.Errorf("the refusal left files: %v", entries)
	}

	m = newMigrator(t, db, dir, WithBackupEncryption("file:app.db?vfs=adiantum&_pragma=hexkey('"+keyA+"')"))
	if err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if found := filesHolding(t, data, secret, keyA); len(found) > 0 {
		t.Errorf("readable: %v", found)
	}
	if n, err := backupRows(t, m.LastBackup(), "vfs=adiantum&hexkey="+keyA); err != nil || n != 500 {
		t.Errorf("the backup read with the key: %d rows, %v", n, err)
	}
}

func TestBackupEncryptionOptionErrors(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
	for _, tt := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithBackupEncryption("vfs=adiantum&hexkey=" + keyA[:10])}, "32-byte key"},
		{[]Option{WithBackupEncryption("vfs=adiantum&hexkye=" + keyA)}, "hexkye"},
		{[]Option{WithBackupEncryption("file:x.db?mode=rw")}, "no encrypting VFS"},
		{[]Option{WithBackupEncryption("vfs=adiantum&hexkey=" + keyA), WithPlaintextBackup()}, "choose one"},
	} {
		_, err := New(db, nil, tt.opts...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), keyA[:10]) {
			t.Errorf("New: %v, want an error saying %q, without the key", err, tt.want)
		}
	}
}

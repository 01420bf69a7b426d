package lifecycle_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "github.com/ncruces/go-sqlite3/driver"
	_ "github.com/ncruces/go-sqlite3/vfs/adiantum"

	"github.com/quantumleap/qlsqlite/lifecycle"
)

// Back up an encrypted database: the backup is encrypted with the
// database's VFS and key, found in its DSN, and reads back only with them.
// Then change the key of the backup with Rekey.
func ExampleBackupWith_encrypted() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lifecycle")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// In production the key comes from a secret store, never from the code.
	const hexKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "trading.db")+"?vfs=adiantum&hexkey="+hexKey)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, iban TEXT); INSERT INTO accounts (iban) VALUES ('DE89 3704 0044 0532 0130 00')`); err != nil {
		log.Fatal(err)
	}

	backup := filepath.Join(dir, "trading-backup.db")
	if err := lifecycle.Backup(ctx, db, backup); err != nil {
		log.Fatal(err)
	}
	key, err := lifecycle.ParseEncryption("vfs=adiantum&hexkey=" + hexKey)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("with the key:", lifecycle.VerifyWith(ctx, backup, lifecycle.VerifyOptions{Encryption: key}))
	err = lifecycle.Verify(ctx, backup)
	fmt.Println("without it, wrong or missing key:", errors.Is(err, lifecycle.ErrWrongKey))

	newKey := &lifecycle.Encryption{VFS: "adiantum", TextKey: "a passphrase from the secret store"}
	if err := lifecycle.Rekey(ctx, backup, lifecycle.RekeyOptions{From: key, To: newKey}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after rekey, with the new key:", lifecycle.VerifyWith(ctx, backup, lifecycle.VerifyOptions{Encryption: newKey}))
	fmt.Println("keys are never printed:", newKey)
	// Output:
	// with the key: <nil>
	// without it, wrong or missing key: true
	// after rekey, with the new key: <nil>
	// keys are never printed: vfs=adiantum with a textkey
}

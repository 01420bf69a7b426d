package peers_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/quantumleap/qlsqlite/bench/peers"
)

// Each driver opens a database file with the same pragmas.
func ExampleDrivers() {
	dir, _ := os.MkdirTemp("", "peers-example")
	defer os.RemoveAll(dir)
	failed := 0
	for _, d := range peers.Drivers() {
		db, err := d.Open(filepath.Join(dir, d.Name+".db"))
		if err == nil {
			var mode string
			err = db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
			if mode != "wal" {
				err = fmt.Errorf("%s: journal_mode %q", d.Name, mode)
			}
			db.Close()
		}
		if err != nil {
			fmt.Println(err)
			failed++
		}
	}
	fmt.Println("drivers that failed:", failed)
	// Output: drivers that failed: 0
}

package conformance_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver"
	_ "github.com/quantumleap/qlsqlite"
)

// A program switches to qlsqlite by changing the driver name; what it
// observes stays the same.
func Example() {
	for _, name := range []string{"sqlite3", "qlsqlite"} {
		db, err := sql.Open(name, "file:example.db?mode=memory")
		if err != nil {
			log.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		db.Exec(`CREATE TABLE users (id TEXT PRIMARY KEY)`)
		db.Exec(`INSERT INTO users VALUES (?)`, "u1")
		_, err = db.Exec(`INSERT INTO users VALUES (?)`, "u1")
		fmt.Printf("%s: %v, unique violation: %v\n", name, err, errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY))
		db.Close()
	}
	// Output:
	// sqlite3: sqlite3: constraint failed: UNIQUE constraint failed: users.id, unique violation: true
	// qlsqlite: sqlite3: constraint failed: UNIQUE constraint failed: users.id, unique violation: true
}

package bench

import (
	"database/sql"
	"fmt"
	"log"
)

// Every comparison opens both drivers on the same DSN, so that SQLite runs
// with the same pragmas under each: with a _pragma in the DSN, qlsqlite adds
// none of its production defaults.
func Example() {
	for _, name := range drivers {
		db, err := sql.Open(name, "file:example.db?mode=memory&_pragma=busy_timeout(5000)&_pragma=synchronous(full)")
		if err != nil {
			log.Fatal(err)
		}
		var busy, sync int
		if err := db.QueryRow(`SELECT (SELECT timeout FROM pragma_busy_timeout), (SELECT synchronous FROM pragma_synchronous)`).Scan(&busy, &sync); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: busy_timeout=%d synchronous=%d\n", name, busy, sync)
		db.Close()
	}
	// Output:
	// sqlite3: busy_timeout=5000 synchronous=2
	// qlsqlite: busy_timeout=5000 synchronous=2
}

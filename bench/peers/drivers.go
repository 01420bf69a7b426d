package peers

import (
	"database/sql"
	"os"
	"strconv"

	_ "github.com/ncruces/go-sqlite3/driver" // "sqlite3"
	"github.com/quantumleap/qlsqlite"
	_ "modernc.org/sqlite" // "sqlite"
)

// A Driver is one of the drivers compared, with the DSN that gives it the
// pragmas every driver gets: WAL, synchronous=NORMAL, a 5 s busy timeout,
// foreign keys on, and transactions that take the write lock at BEGIN.
type Driver struct {
	Name string
	Open func(path string) (*sql.DB, error)
}

// Pragmas in the spelling of the drivers that take "_pragma" (ncruces,
// qlsqlite, modernc). With a _pragma of its own, qlsqlite adds none of its
// production defaults.
const Pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_pragma=foreign_keys(1)&_txlock=immediate"

// MaxConns is every pool's size.
const MaxConns = 4

func open(name, dsn string) (*sql.DB, error) {
	db, err := sql.Open(name, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	return db, nil
}

// drivers are the drivers compared; mattn.go adds mattn/go-sqlite3 when
// built with the mattn tag.
var drivers = []Driver{
	{"ncruces", func(path string) (*sql.DB, error) { return open("sqlite3", "file:"+path+"?"+Pragmas) }},
	{"modernc", func(path string) (*sql.DB, error) { return open("sqlite", "file:"+path+"?"+Pragmas) }},
	{"qlsqlite", func(path string) (*sql.DB, error) { return open(qlsqlite.DriverName, "file:"+path+"?"+Pragmas) }},
}

// Drivers returns the drivers compared, rotated by the round number in
// QL_ROUND (run.sh sets it), so that no driver always runs first.
func Drivers() []Driver { return rotate(drivers) }

// rotate returns ds rotated by the round number in QL_ROUND.
func rotate[T any](ds []T) []T {
	out := append([]T(nil), ds...)
	round, _ := strconv.Atoi(os.Getenv("QL_ROUND"))
	if n := len(out); n > 0 {
		k := round % n
		out = append(out[k:], out[:k]...)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

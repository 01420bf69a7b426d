//go:build mattn

package peers

import (
	"database/sql"

	"github.com/mattn/go-sqlite3"
)

// mattnName is the name mattn/go-sqlite3 registers under when linked with
// -ldflags '-X github.com/mattn/go-sqlite3.driverName=mattn' (run.sh does).
const mattnName = "mattn"

// mattnDSN gives mattn the pragmas of Pragmas in its own parameters.
const mattnDSN = "_busy_timeout=5000&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate"

var _ = sqlite3.SQLITE_OK

func init() {
	drivers = append(drivers, Driver{"mattn", func(path string) (*sql.DB, error) { return open(mattnName, "file:"+path+"?"+mattnDSN) }})
}

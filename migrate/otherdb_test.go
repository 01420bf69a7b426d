package migrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// otherConnector opens connections of a database that is neither SQLite
// nor PostgreSQL: they open, and refuse every statement.
type otherConnector struct{}

func (otherConnector) Connect(context.Context) (driver.Conn, error) { return otherConn{}, nil }
func (otherConnector) Driver() driver.Driver                        { return nil }

type otherConn struct{}

var errOtherDB = errors.New("otherdb: no such function: current_setting")

func (otherConn) Prepare(string) (driver.Stmt, error) { return nil, errOtherDB }
func (otherConn) Close() error                        { return nil }
func (otherConn) Begin() (driver.Tx, error)           { return nil, errOtherDB }

// On a database that is neither SQLite nor PostgreSQL, migrate refuses to
// run and says which connection type it got and what it runs on.
func TestRefusesAnotherDatabase(t *testing.T) {
	db := sql.OpenDB(otherConnector{})
	defer db.Close()
	m, err := New(db, fstest.MapFS{"001_t.sql": {Data: []byte("CREATE TABLE t (n INTEGER);\n")}})
	if err == nil {
		err = m.Up(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), "migrate: the driver's connection (migrate.otherConn) is neither SQLite's") || !strings.Contains(err.Error(), "nor PostgreSQL's") {
		t.Fatalf("migrate on another database: %v, want it refused by name", err)
	}
}

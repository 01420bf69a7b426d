package pg

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/quantumleap/qlsqlite"
)

// DriverName is the name this package registers with [database/sql].
const DriverName = "qlpg"

func init() {
	sql.Register(DriverName, &Driver{})
}

// Driver implements [database/sql/driver.Driver] and
// [database/sql/driver.DriverContext] for PostgreSQL. It has no state:
// each database gets its own from its connector, which is how
// qlsqlite.Stats and the others find a database's state from a [*sql.DB].
type Driver struct{}

var _ driver.DriverContext = &Driver{}

// Open implements [database/sql/driver.Driver]. Prefer [sql.Open], which
// calls OpenConnector once per [*sql.DB].
func (d *Driver) Open(name string) (driver.Conn, error) {
	c, err := d.OpenConnector(name)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector implements [database/sql/driver.DriverContext].
func (d *Driver) OpenConnector(name string) (driver.Connector, error) {
	return NewConnector(name)
}

// NewConnector parses dsn, a PostgreSQL URL with qlsqlite's own parameters
// (see the package documentation), applies opts after them, and returns a
// connector for [sql.OpenDB].
func NewConnector(dsn string, opts ...qlsqlite.Option) (*qlsqlite.Connector, error) {
	rest, params, err := splitDSN(dsn)
	if err != nil {
		return nil, err
	}
	b, err := newBackend(rest)
	if err != nil {
		return nil, err
	}
	if err := b.takeParams(params); err != nil {
		return nil, err
	}
	c, err := qlsqlite.NewBackendConnector(b, params, opts...)
	if err != nil {
		b.Close()
		return nil, err
	}
	return c, nil
}

// Open opens a PostgreSQL database through qlpg as qlsqlite.Open does for
// SQLite: the pool sized ("_max_open", "_min_open", ...) and its minimum of
// warm connections opened before it returns, and the monitor started.
func Open(dsn string, opts ...qlsqlite.Option) (*sql.DB, error) {
	c, err := NewConnector(dsn, opts...)
	if err != nil {
		return nil, err
	}
	return qlsqlite.OpenConnector(c)
}

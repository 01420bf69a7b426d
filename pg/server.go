package pg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quantumleap/qlsqlite"
)

// This file is PostgreSQL's [qlsqlite.ServerReporter]: what qlsqlite.Stats,
// the monitor and qlsqlite.Health read of the server, on the backend's own
// connection.

var _ qlsqlite.ServerReporter = &backend{}

// Storage implements [qlsqlite.ServerReporter]: the database's size on
// disk (pg_database_size).
func (b *backend) Storage(ctx context.Context) (qlsqlite.StorageStats, error) {
	var s qlsqlite.StorageStats
	err := b.withOwn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&s.SizeBytes)
	})
	if err != nil {
		return s, fmt.Errorf("qlpg: reading the database's size: %w", err)
	}
	return s, nil
}

// ServerHealth implements [qlsqlite.ServerReporter]: the server's version,
// its connections to the database by state, the transactions open longer
// than "_long_transaction", the database's size, and replication: the
// standbys streaming from a primary and their lag, or a standby's own.
func (b *backend) ServerHealth(ctx context.Context) (qlsqlite.ServerHealth, error) {
	var h qlsqlite.ServerHealth
	err := b.withOwn(ctx, func(c *pgx.Conn) error {
		for _, step := range []func(context.Context, *pgx.Conn, *qlsqlite.ServerHealth) error{
			readVersion, readConnections, b.readLongTransactions, b.readReplication,
		} {
			if err := step(ctx, c, &h); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("qlpg: reading the server's state: %w", err)
	}
	return h, nil
}

func readVersion(ctx context.Context, c *pgx.Conn, h *qlsqlite.ServerHealth) error {
	return c.QueryRow(ctx, `SELECT current_setting('server_version'), pg_database_size(current_database()), pg_is_in_recovery()`).
		Scan(&h.Version, &h.SizeBytes, &h.Standby)
}

func readConnections(ctx context.Context, c *pgx.Conn, h *qlsqlite.ServerHealth) error {
	rows, err := c.Query(ctx, `SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1`)
	if err != nil {
		return err
	}
	h.Connections = map[string]int{}
	var state string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		h.Connections[state] = n
		return nil
	})
	return err
}

// readLongTransactions reads the transactions, other than its own, open
// longer than the threshold; only their statements' fingerprints are kept,
// never the values in them.
func (b *backend) readLongTransactions(ctx context.Context, c *pgx.Conn, h *qlsqlite.ServerHealth) error {
	rows, err := c.Query(ctx, `SELECT pid, coalesce(state, ''), extract(epoch FROM now() - xact_start)::float8, coalesce(query, '')
		FROM pg_stat_activity
		WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
		  AND now() - xact_start > make_interval(secs => $1)
		ORDER BY xact_start`, b.longTx.Seconds())
	if err != nil {
		return err
	}
	var lt qlsqlite.LongTransaction
	var age float64
	var query string
	_, err = pgx.ForEachRow(rows, []any{&lt.PID, &lt.State, &age, &query}, func() error {
		lt.Age = seconds(age)
		lt.Query = qlsqlite.FingerprintOf(query).Text
		h.LongTransactions = append(h.LongTransactions, lt)
		h.Problems = append(h.Problems, fmt.Sprintf("transaction of server process %d open for %v (%s): it holds its locks and keeps old row versions; last statement: %s",
			lt.PID, lt.Age.Round(time.Millisecond), lt.State, lt.Query))
		return nil
	})
	return err
}

// readReplication reads the standbys of a primary, or a standby's own lag:
// zero when it has replayed all it received, else the time since the last
// transaction it replayed committed.
func (b *backend) readReplication(ctx context.Context, c *pgx.Conn, h *qlsqlite.ServerHealth) error {
	if h.Standby {
		var lag float64
		err := c.QueryRow(ctx, `SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
			ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8`).Scan(&lag)
		h.ReplayLag = seconds(lag)
		if err == nil && h.ReplayLag > b.maxLag {
			h.Problems = append(h.Problems, fmt.Sprintf("this standby is %v behind its primary", h.ReplayLag.Round(time.Millisecond)))
		}
		return err
	}
	rows, err := c.Query(ctx, `SELECT application_name, coalesce(state, ''), coalesce(sync_state, ''),
		coalesce(extract(epoch FROM replay_lag), 0)::float8, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::int8
		FROM pg_stat_replication ORDER BY application_name`)
	if err != nil {
		return err
	}
	var r qlsqlite.Replica
	var lag float64
	_, err = pgx.ForEachRow(rows, []any{&r.Name, &r.State, &r.SyncState, &lag, &r.LagBytes}, func() error {
		r.Lag = seconds(lag)
		h.Replicas = append(h.Replicas, r)
		switch {
		case r.State != "streaming":
			h.Problems = append(h.Problems, fmt.Sprintf("standby %s is %s, not streaming", r.Name, r.State))
		case r.Lag > b.maxLag:
			h.Problems = append(h.Problems, fmt.Sprintf("standby %s is %v behind (%d bytes of log)", r.Name, r.Lag.Round(time.Millisecond), r.LagBytes))
		}
		return nil
	})
	return err
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

package pg

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/pg/internal/pgtest"
)

// A standby further behind its primary than _replication_lag degrades
// Health, on the standby (its own replay lag) and on the primary (its
// standby's lag in pg_stat_replication); once it catches up, Health is ok.
// The standby's replay is paused (pg_wal_replay_pause) while the primary
// commits, so that it falls behind for certain.
func TestHealthReportsReplicationLag(t *testing.T) {
	primary, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"wal_level": "replica"}})
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Stop()
	ctx := context.Background()
	if err := primary.CreateDB(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := primary.Exec(ctx, "app", `CREATE TABLE t (n int)`); err != nil {
		t.Fatal(err)
	}
	standby, err := pgtest.StartStandby(primary, "standby1", pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Stop()

	open := func(s *pgtest.Server) *sql.DB {
		db, err := sql.Open(DriverName, s.URL("app", "_replication_lag=1ms", "_min_open=0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	onPrimary, onStandby := open(primary), open(standby)
	health := func(db *sql.DB) qlsqlite.HealthReport {
		h, err := qlsqlite.Health(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	behind := func(h qlsqlite.HealthReport) bool {
		return h.Status == qlsqlite.HealthDegraded && strings.Contains(strings.Join(h.Problems, "\n"), "behind")
	}
	// A first commit replayed: the standby has a replay timestamp.
	if _, err := onPrimary.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby to replay the first commit", func() bool {
		var n int
		return onStandby.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n) == nil && n == 1
	})
	if h := health(onStandby); !h.Server.Standby || behind(h) {
		t.Fatalf("a standby that caught up: %s %v (standby %v)", h.Status, h.Problems, h.Server.Standby)
	}

	if err := standby.Exec(ctx, "postgres", `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	if _, err := onPrimary.ExecContext(ctx, `INSERT INTO t VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby's Health to say it is behind", func() bool { return behind(health(onStandby)) })
	waitFor(t, "the primary's Health to say its standby is behind", func() bool { return behind(health(onPrimary)) })

	if err := standby.Exec(ctx, "postgres", `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby to catch up", func() bool { return !behind(health(onStandby)) })
	if h := health(onStandby); h.Status != qlsqlite.HealthOK {
		t.Errorf("a standby that caught up again: %s %v", h.Status, h.Problems)
	}
}

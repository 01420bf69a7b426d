package pg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantumleap/qlsqlite"
	"github.com/quantumleap/qlsqlite/pg/internal/pgtest"
)

// failoverDSN names both servers; pgx connects to the first that takes
// writes (target_session_attrs=read-write). The breaker opens after 3
// infrastructure failures and tries again after 200ms.
func failoverDSN(primary, standby *pgtest.Server, db string) string {
	return fmt.Sprintf("postgres://postgres@%s,%s/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"+
		"&_breaker_failures=3&_breaker_delay=200ms&_breaker_successes=2&_timeout=5s&_conn_timeout=5s&_max_open=8&_min_open=0",
		primary.Host(), standby.Host(), db)
}

// The primary dies (SIGKILL) under a steady stream of RunTx writes, the
// synchronous standby is promoted, and the program goes on: writes succeed
// again within seconds without reopening the database, the breaker opened
// and closed by itself, and every commit that was acknowledged is on the
// new primary.
func TestFailoverToPromotedStandby(t *testing.T) {
	primary, err := pgtest.Start(pgtest.Options{Settings: map[string]string{"wal_level": "replica"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { t0 := time.Now(); primary.Stop(); t.Logf("primary stopped in %v", time.Since(t0)) }()
	ctx := context.Background()
	if err := primary.CreateDB(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := primary.Exec(ctx, "app", `CREATE TABLE ledger (id bigint PRIMARY KEY, writer int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// The standby notices a promotion when it next looks for log to replay:
	// every wal_retrieve_retry_interval (5s by default) while its primary is
	// gone.
	standby, err := pgtest.StartStandby(primary, "standby1", pgtest.Options{Settings: map[string]string{"wal_retrieve_retry_interval": "250ms"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { t0 := time.Now(); standby.Stop(); t.Logf("standby stopped in %v", time.Since(t0)) }()
	// Commits wait for the standby from now on (set now: CREATE DATABASE
	// would have waited for a standby that did not exist yet).
	if err := primary.Exec(ctx, "postgres", `ALTER SYSTEM SET synchronous_standby_names = 'standby1'`); err != nil {
		t.Fatal(err)
	}
	if err := primary.Exec(ctx, "postgres", `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open(DriverName, failoverDSN(primary, standby, "app"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { t0 := time.Now(); db.Close(); t.Logf("db closed in %v", time.Since(t0)) }()
	start := time.Now()
	waitSyncStandby(t, db)
	t.Logf("%v: the standby streams synchronously", time.Since(start))

	var next atomic.Int64
	var acked sync.Map // id -> struct{}, commits RunTx reported done
	var ackCount, circuitOpen, otherErrs atomic.Int64
	var firstAckAfterKill atomic.Int64 // unix nanos; 0 until a commit after the kill
	var killedAt atomic.Int64
	var errMu sync.Mutex
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := next.Add(1)
				err := qlsqlite.RunTx(ctx, db, nil, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO ledger VALUES ($1, $2)`, id, w)
					return err
				})
				switch {
				case err == nil:
					acked.Store(id, struct{}{})
					ackCount.Add(1)
					if killedAt.Load() != 0 {
						firstAckAfterKill.CompareAndSwap(0, time.Now().UnixNano())
					}
				case errors.Is(err, qlsqlite.ErrCircuitOpen):
					circuitOpen.Add(1)
					time.Sleep(5 * time.Millisecond) // a client pacing its retries, as a real one would
				default:
					otherErrs.Add(1)
					errMu.Lock()
					if len(errs) < 8 {
						errs = append(errs, err.Error())
					}
					errMu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	waitFor(t, "200 commits before the failure", func() bool { return ackCount.Load() >= 200 })

	t.Logf("%v: 200 commits on the primary", time.Since(start))
	// The standby stops receiving the log just before the crash (a network
	// partition, a stalled disk): an asynchronous primary would go on
	// acknowledging commits the standby never gets, which the promotion
	// would lose. A synchronous one acknowledges none.
	resume, err := standby.Pause("walreceiver")
	if err != nil {
		t.Fatal(err)
	}
	acks := ackCount.Load()
	waitUpTo(300*time.Millisecond, func() bool { return ackCount.Load() >= acks+50 })
	t.Logf("%d commits acknowledged while the standby received nothing", ackCount.Load()-acks)
	killed := time.Now()
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	resume()
	killedAt.Store(killed.UnixNano())
	// The orchestrator (Patroni, a person) takes a moment to notice and
	// promote the standby: meanwhile the breaker opens.
	waitFor(t, "the breaker to open", func() bool { return circuitOpen.Load() > 0 })
	opened := time.Now()
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	before := ackCount.Load()
	waitFor(t, "commits on the promoted standby", func() bool { return ackCount.Load() >= before+200 })
	close(stop)
	wg.Wait()
	recovered := time.Unix(0, firstAckAfterKill.Load())
	h, err := qlsqlite.Health(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if h.Breaker != "closed" {
		t.Errorf("the breaker is %s after recovery, want closed", h.Breaker)
	}
	if circuitOpen.Load() == 0 {
		t.Errorf("the breaker never opened (%d other errors during the failover)", otherErrs.Load())
	}
	var lost []int64
	acked.Range(func(k, _ any) bool {
		var one int
		if err := db.QueryRowContext(ctx, `SELECT 1 FROM ledger WHERE id = $1`, k).Scan(&one); err != nil {
			lost = append(lost, k.(int64))
		}
		return true
	})
	if len(lost) > 0 {
		t.Errorf("%d acknowledged commits are not on the new primary: %v", len(lost), lost[:min(len(lost), 10)])
	}
	t.Logf("primary killed; breaker open after %v; promote took %v; first commit %v after the promotion, %v after the kill",
		opened.Sub(killed).Round(time.Millisecond), promoted.Sub(opened).Round(time.Millisecond),
		recovered.Sub(promoted).Round(time.Millisecond), recovered.Sub(killed).Round(time.Millisecond))
	t.Logf("%d commits acknowledged in all; %d calls refused by the open breaker, %d other errors, such as %q",
		ackCount.Load(), circuitOpen.Load(), otherErrs.Load(), errs)
	if recovered.Sub(promoted) > 10*time.Second {
		t.Errorf("writes resumed %v after the promotion, want within seconds", recovered.Sub(promoted))
	}
}

// waitSyncStandby waits until the standby streams synchronously.
func waitSyncStandby(t *testing.T, db *sql.DB) {
	t.Helper()
	waitFor(t, "the standby to stream synchronously", func() bool {
		h, err := qlsqlite.Health(context.Background(), db)
		return err == nil && h.Server != nil && len(h.Server.Replicas) == 1 && h.Server.Replicas[0].SyncState == "sync" && h.Server.Replicas[0].State == "streaming"
	})
}

// waitUpTo polls cond until it holds or d passes.
func waitUpTo(d time.Duration, cond func() bool) {
	for deadline := time.Now().Add(d); !cond() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor polls cond until it holds, failing t after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

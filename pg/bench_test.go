package pg

import (
	"context"
	"database/sql"
	"os"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// benchDrivers runs a benchmark on pgx's adapter alone and on qlpg, on
// the same database, back to back, in the order QL_FIRST asks (bench.sh
// alternates it from round to round): go run ../bench/ratio prints the
// ratio qlpg / pgx round by round.
func benchDrivers(b *testing.B, setup string, run func(b *testing.B, db *sql.DB)) {
	name := newDatabase(b)
	drivers := []string{"pgx", DriverName}
	if os.Getenv("QL_FIRST") != "" {
		drivers[0], drivers[1] = drivers[1], drivers[0]
	}
	for i, d := range drivers {
		dsn := srv.URL(name)
		if p := os.Getenv("QLPG_BENCH_PARAMS"); p != "" && d == DriverName {
			dsn = srv.URL(name, p) // what a policy costs: QLPG_BENCH_PARAMS=_timeout=0
		}
		db, err := sql.Open(d, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 && setup != "" {
			mustExec(b, db, setup)
		}
		b.Run("driver="+d, func(b *testing.B) {
			start := cpuTime()
			run(b, db)
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
		db.Close()
	}
}

// cpuTime is the CPU time the process used so far (user and system): the
// client's cost of a call, which the machine's load does not inflate as it
// does the wall time, measured beside it (the server is another process).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchTable = `CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL);
INSERT INTO kv SELECT g, 'value ' || g FROM generate_series(1, 1000) g`

// BenchmarkPointSelectPrepared is the floor of issue 17: a prepared point
// SELECT through qlpg costs at most 1.10 times pgx's adapter alone.
func BenchmarkPointSelectPrepared(b *testing.B) {
	benchDrivers(b, benchTable, func(b *testing.B, db *sql.DB) {
		stmt, err := db.Prepare(`SELECT v FROM kv WHERE id = $1`)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		var v string
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := stmt.QueryRow(i%1000 + 1).Scan(&v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkPointSelect is the same query, not prepared by the caller (pgx
// prepares and caches it per connection).
func BenchmarkPointSelect(b *testing.B) {
	benchDrivers(b, benchTable, func(b *testing.B, db *sql.DB) {
		var v string
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := db.QueryRow(`SELECT v FROM kv WHERE id = $1`, i%1000+1).Scan(&v); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkTransfer is a read-modify-write transaction.
func BenchmarkTransfer(b *testing.B) {
	benchDrivers(b, `CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
		INSERT INTO accounts SELECT g, 1000000 FROM generate_series(1, 100) g`, func(b *testing.B, db *sql.DB) {
		ctx := context.Background()
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := transfer(ctx, tx, i%100+1, (i+1)%100+1, 1); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

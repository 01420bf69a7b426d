package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/ncruces/go-sqlite3"
	ncruces "github.com/ncruces/go-sqlite3/driver"
	"github.com/quantumleap/qlsqlite/internal/trading"
)

// BenchmarkMemoryPerCachedStatement reports what one cached statement costs
// SQLite (DBSTATUS_STMT_USED, averaged over the trading platform's typical
// statements and variants of them) and the Go side: the numbers behind
// qlsqlite's default _stmt_cache.
func BenchmarkMemoryPerCachedStatement(b *testing.B) {
	db := open(b, "qlsqlite")
	ctx := context.Background()
	var queries []string
	for _, s := range trading.Statements() {
		queries = append(queries, s.SQL)
		for i := range 9 { // variants: as many distinct texts as a busy program has
			queries = append(queries, fmt.Sprintf("%s -- variant %d", s.SQL, i))
		}
	}
	var perStmt float64
	for b.Loop() {
		b.StopTimer()
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		stmtUsed := func() (n int64) {
			conn.Raw(func(dc any) error {
				n, _, _ = dc.(ncruces.Conn).Raw().Status(sqlite3.DBSTATUS_STMT_USED, false)
				return nil
			})
			return n
		}
		before := stmtUsed()
		var stmts []*sql.Stmt
		for _, q := range queries {
			s, err := conn.PrepareContext(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			stmts = append(stmts, s)
		}
		perStmt = float64(stmtUsed()-before) / float64(len(queries))
		for _, s := range stmts {
			s.Close()
		}
		conn.Close()
		b.StartTimer()
	}
	b.ReportMetric(perStmt, "sqlite-B/stmt")
}

// BenchmarkMemoryPerConnection reports what one more open connection costs
// after it has run the typical statements once: each ncruces connection runs
// its own SQLite instance, whose memory is mapped outside the Go heap, so
// the resident set size (RSS) is reported beside the Go heap.
func BenchmarkMemoryPerConnection(b *testing.B) {
	for _, d := range drivers {
		b.Run("driver="+d, func(b *testing.B) {
			db := open(b, d)
			ctx := context.Background()
			const n = 20
			var perConn, rssPerConn float64
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				rssBefore := rss(b)
				conns := make([]*sql.Conn, n)
				for i := range conns {
					c, err := db.Conn(ctx)
					if err != nil {
						b.Fatal(err)
					}
					for _, s := range trading.Statements() {
						if s.SQL[0] != 'S' {
							continue // reads only: leave the data as it is
						}
						rows, err := c.QueryContext(ctx, s.SQL, argsFor(s.SQL)...)
						if err != nil {
							b.Fatal(err)
						}
						rows.Close()
					}
					conns[i] = c
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perConn = float64(after.HeapInuse-before.HeapInuse) / n
				rssPerConn = float64(rss(b)-rssBefore) / n
				for _, c := range conns {
					c.Raw(func(any) error { return nil })
					c.Close()
				}
				db.SetMaxIdleConns(0) // close them for the next round
				db.SetMaxIdleConns(2)
				b.StartTimer()
			}
			b.ReportMetric(perConn, "heap-B/conn")
			b.ReportMetric(rssPerConn, "rss-B/conn")
		})
	}
}

// argsFor returns arguments of the right count for a typical statement.
func argsFor(q string) []any {
	var args []any
	for _, c := range q {
		if c == '?' {
			args = append(args, "x")
		}
	}
	return args
}

// rss returns the process's resident set size, from /proc/self/statm.
func rss(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatalf("this benchmark reads /proc/self/statm (Linux): %v", err)
	}
	var size, resident int64
	fmt.Sscan(string(data), &size, &resident)
	return resident * int64(os.Getpagesize())
}

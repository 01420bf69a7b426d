package qlsqlite

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// fingerprintsOf returns how many fingerprints the database's table holds
// and, for each open connection, how many records its shard holds.
func fingerprintsOf(t *testing.T, p *pinned) (table int, shards []int) {
	t.Helper()
	d := p.db.Driver().(*Driver).db
	table = d.obs.table.size()
	for c := range p.liveConns() {
		c.stats.mu.Lock()
		shards = append(shards, len(c.stats.fps))
		c.stats.mu.Unlock()
	}
	return table, shards
}

// TestStatsKeepHotQuery is the scenario of a long-lived process: start-up
// runs many one-off statements, then the hot path runs one query over and
// over. The table keeps the hot query, with all its calls, and evicts the
// one-offs, also when more of them come after.
func TestStatsKeepHotQuery(t *testing.T) {
	// synchronous(off): 1500 schema changes, not 1500 fsyncs.
	p := pin(t, "?_stats_max=1000&_pragma=synchronous(off)")
	for i := range 1500 {
		p.exec(fmt.Sprintf(`CREATE TABLE one_off_%d (x)`, i))
	}
	const hot = `SELECT x FROM one_off_7 WHERE x = ?`
	for i := range 5000 {
		p.rows(hot, i)
	}
	snap := mustStats(t, p.db)
	if got := statsOf(t, snap, hot).Calls; got != 5000 {
		t.Errorf("the hot query has %d calls, want 5000", got)
	}
	db := snap.Database
	if db.Fingerprints > 1000 || db.MaxFingerprints != 1000 || len(snap.Queries) > 1000 {
		t.Errorf("%d fingerprints (%d reported) for a bound of %d, want at most 1000", db.Fingerprints, len(snap.Queries), db.MaxFingerprints)
	}
	// 1501 fingerprints met, at most 1000 kept: every pass frees 5%.
	if db.FingerprintEvictions < 501 || db.FingerprintEvictions != 1501-uint64(db.Fingerprints) {
		t.Errorf("%d evictions, %d fingerprints left of 1501", db.FingerprintEvictions, db.Fingerprints)
	}
	if db.Calls != 1500+5000 {
		t.Errorf("database calls %d, want 6500: evicted fingerprints' calls stay in the totals", db.Calls)
	}

	// More one-offs after the hot query: they evict each other (and the
	// older one-offs), never the hot query.
	for i := range 1500 {
		p.exec(fmt.Sprintf(`SELECT x AS later_%d FROM one_off_9`, i))
	}
	snap = mustStats(t, p.db)
	if got := statsOf(t, snap, hot).Calls; got != 5000 {
		t.Errorf("after 1500 more one-offs, the hot query has %d calls, want 5000", got)
	}
	if snap.Database.Fingerprints > 1000 || snap.Database.Calls != 8000 {
		t.Errorf("%d fingerprints and %d calls, want at most 1000 and 8000", snap.Database.Fingerprints, snap.Database.Calls)
	}
	if table, shards := fingerprintsOf(t, p); table > 1000 || shards[0] > table {
		t.Errorf("table %d, connection %d records", table, shards[0])
	}
}

// TestStatsIdleQueryFades: usage decays, so a query that was hot once and
// never ran again makes room for a steady stream of new ones eventually,
// while one that keeps running stays; run again, it is kept again.
func TestStatsIdleQueryFades(t *testing.T) {
	p := pin(t, "?_stats_max=20")
	p.exec(`CREATE TABLE t (x)`)
	const once, steady = `SELECT x AS once FROM t WHERE x = ?`, `SELECT x AS steady FROM t WHERE x = ?`
	for i := range 50 {
		p.rows(once, i)
	}
	fade := -1
	for i := range 2000 {
		p.rows(fmt.Sprintf(`SELECT x AS c%d FROM t`, i))
		p.rows(steady, i)
		p.rows(steady, i)
		if fade < 0 && !hasFingerprint(mustStats(t, p.db), once) {
			fade = i
		}
	}
	// Each new shape runs one pass (5% of 20 is one entry), which evicts
	// the oldest one-off, whose usage decayed to about 0.99^18 = 0.83 over
	// the passes it stayed: 50 calls decay below that in some 420 passes
	// (each pass also multiplies the usage of the one being admitted).
	t.Logf("the idle query was evicted after %d new shapes", fade)
	if fade < 0 {
		t.Fatalf("the query idle since the start is still kept after 2000 new shapes")
	}
	if fade < 400 || fade > 450 {
		t.Errorf("the query with 50 calls was evicted after %d one-off shapes, want about 420", fade)
	}
	if !hasFingerprint(mustStats(t, p.db), steady) {
		t.Errorf("the query run all along was evicted")
	}
	// Run again on the connection that remembers its text, the evicted
	// query is admitted anew and counted from there.
	for i := range 3 {
		p.rows(once, i)
	}
	if got := statsOf(t, mustStats(t, p.db), once).Calls; got != 3 {
		t.Errorf("the query evicted and run again has %d calls, want 3", got)
	}
}

func hasFingerprint(snap Snapshot, query string) bool {
	fp := FingerprintOf(query)
	for _, q := range snap.Queries {
		if q.Fingerprint == fp {
			return true
		}
	}
	return false
}

// TestStatsBoundPerDatabase: the bound holds for the database, whatever the
// number of connections, and while they run new shapes concurrently every
// call stays counted in the database's totals.
func TestStatsBoundPerDatabase(t *testing.T) {
	p := pin(t, "?_stats_max=50")
	p.exec(`CREATE TABLE t (x)`)
	const workers, shapes = 4, 400
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			conn, err := p.db.Conn(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for i := range shapes {
				// Shapes shared by the workers, and shapes of their own.
				q := fmt.Sprintf(`SELECT x AS c%d FROM t`, i%60)
				if i%2 == 1 {
					q = fmt.Sprintf(`SELECT x AS w%d_%d FROM t`, w, i)
				}
				rows, err := conn.QueryContext(context.Background(), q)
				if err != nil {
					errs <- err
					return
				}
				rows.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	snap := mustStats(t, p.db)
	if snap.Database.Calls != 1+workers*shapes {
		t.Errorf("database calls %d, want %d", snap.Database.Calls, 1+workers*shapes)
	}
	if snap.Database.Fingerprints > 50 || len(snap.Queries) > 50 {
		t.Errorf("%d fingerprints (%d reported), bound 50", snap.Database.Fingerprints, len(snap.Queries))
	}
	var kept uint64
	for _, q := range snap.Queries {
		kept += q.Calls
	}
	if kept > snap.Database.Calls || snap.Database.FingerprintEvictions == 0 {
		t.Errorf("%d calls kept by fingerprint of %d, %d evictions", kept, snap.Database.Calls, snap.Database.FingerprintEvictions)
	}
	table, shards := fingerprintsOf(t, p)
	for _, n := range shards {
		if n > table {
			t.Errorf("a connection holds %d records, the table %d entries", n, table)
		}
	}
}

// TestStatsMemoryBounded: a workload of 10,000 distinct shapes keeps at
// most the bound of fingerprints, and the heap stops growing once the table
// is full.
func TestStatsMemoryBounded(t *testing.T) {
	const bound = 200
	p := pin(t, fmt.Sprintf("?_stats_max=%d", bound))
	p.exec(`CREATE TABLE t (x)`)
	run := func(from, to int) {
		for i := from; i < to; i++ {
			// Exec without arguments: no statement cache, no plan capture.
			p.exec(fmt.Sprintf(`SELECT x AS c%d FROM t`, i))
			if i%1000 == 0 {
				if table, shards := fingerprintsOf(t, p); table > bound || shards[0] > bound {
					t.Fatalf("after %d shapes: table %d, connection %d, bound %d", i, table, shards[0], bound)
				}
			}
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// The first phase fills the table and the connection's memory of SQL
	// texts (maxTexts); the second one would hold 8000 more fingerprints
	// without eviction, about 1 KB each.
	run(0, maxTexts+100)
	before := heap()
	run(maxTexts+100, 10_000+maxTexts+100)
	after := heap()
	grown := int64(after) - int64(before)
	t.Logf("heap %d -> %d bytes over 10,000 more shapes: %+d", before, after, grown)
	if grown > 10_000*100 {
		t.Errorf("the heap grew by %d bytes over 10,000 shapes past the bound, %d a shape", grown, grown/10_000)
	}
	snap := mustStats(t, p.db)
	if n := snap.Database.Fingerprints; n > bound {
		t.Errorf("%d fingerprints, bound %d", n, bound)
	}
	total := uint64(1 + 10_000 + maxTexts + 100)
	if got := snap.Database.FingerprintEvictions + uint64(snap.Database.Fingerprints); got != total {
		t.Errorf("evictions + fingerprints = %d, want the %d fingerprints met", got, total)
	}
	if snap.Database.Calls != total {
		t.Errorf("database calls %d, want %d", snap.Database.Calls, total)
	}
}

// TestStatsCallOutlivesItsFingerprint: a query whose fingerprint is evicted
// while its rows are open still counts, when they close, in the database's
// totals.
func TestStatsCallOutlivesItsFingerprint(t *testing.T) {
	p := pin(t, "?_stats_max=10")
	p.exec(`CREATE TABLE t (x)`)
	p.exec(`INSERT INTO t VALUES (1), (2)`)
	rows, err := p.conn.QueryContext(p.ctx, `SELECT x AS long_read FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.db.Conn(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := range 30 {
		if _, err := other.ExecContext(p.ctx, fmt.Sprintf(`SELECT x AS c%d FROM t`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if hasFingerprint(mustStats(t, p.db), `SELECT x AS long_read FROM t`) {
		t.Fatal("30 new shapes did not evict the open query's fingerprint from a table of 10")
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	snap := mustStats(t, p.db)
	if snap.Database.Calls != 2+1+30 {
		t.Errorf("database calls %d, want 33", snap.Database.Calls)
	}
	if hasFingerprint(snap, `SELECT x AS long_read FROM t`) {
		t.Errorf("the evicted fingerprint came back without a call that began after its eviction")
	}
}

// TestStatsEvictionMetrics: the table's size and evictions reach
// OpenTelemetry as qlsqlite.stats.fingerprints and qlsqlite.stats.evictions.
func TestStatsEvictionMetrics(t *testing.T) {
	rig := newOtelRig(t)
	db, _ := rig.open(t, "?_stats_max=20")
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := db.Exec(fmt.Sprintf(`SELECT x AS c%d FROM t`, i)); err != nil {
			t.Fatal(err)
		}
	}
	snap := mustStats(t, db)
	ms := rig.metrics(t)
	if g, ok := ms[metricStatsFingerprints].Data.(metricdata.Gauge[int64]); !ok || len(g.DataPoints) != 1 ||
		g.DataPoints[0].Value != int64(snap.Database.Fingerprints) || snap.Database.Fingerprints > 20 {
		t.Errorf("%s: %+v, want %d (at most 20)", metricStatsFingerprints, ms[metricStatsFingerprints].Data, snap.Database.Fingerprints)
	}
	if s, ok := ms[metricStatsEvictions].Data.(metricdata.Sum[int64]); !ok || len(s.DataPoints) != 1 || !s.IsMonotonic ||
		s.DataPoints[0].Value != int64(snap.Database.FingerprintEvictions) || s.DataPoints[0].Value != 101-int64(snap.Database.Fingerprints) {
		t.Errorf("%s: %+v, want %d", metricStatsEvictions, ms[metricStatsEvictions].Data, snap.Database.FingerprintEvictions)
	}
}

// TestStatsResetStartsUsageOver: after ResetStats, evictions count from
// zero and a query hot before the reset but idle since is no longer
// favoured; the metric keeps counting.
func TestStatsResetStartsUsageOver(t *testing.T) {
	p := pin(t, "?_stats_max=20")
	p.exec(`CREATE TABLE t (x)`)
	const hot = `SELECT x AS hot FROM t WHERE x = ?`
	for i := range 500 {
		p.rows(hot, i)
	}
	for i := range 40 {
		p.exec(fmt.Sprintf(`SELECT x AS before_%d FROM t`, i))
	}
	table := p.db.Driver().(*Driver).db.obs.table
	before := table.evictions.Load()
	if err := ResetStats(p.db); err != nil {
		t.Fatal(err)
	}
	if snap := mustStats(t, p.db); snap.Database.FingerprintEvictions != 0 || before == 0 {
		t.Errorf("%d evictions after the reset (%d before), want 0", snap.Database.FingerprintEvictions, before)
	}
	p.exec(`SELECT x AS after FROM t`)
	if table.evictions.Load() != before+1 {
		t.Errorf("the metric's counter went from %d to %d, want %d", before, table.evictions.Load(), before+1)
	}
	table.mu.Lock()
	_, kept := table.entries[FingerprintOf(hot).ID]
	table.mu.Unlock()
	if kept {
		t.Errorf("the query idle since the reset was kept over one-offs run before it")
	}
	if got := mustStats(t, p.db).Database.FingerprintEvictions; got != 1 {
		t.Errorf("%d evictions since the reset, want 1", got)
	}
}

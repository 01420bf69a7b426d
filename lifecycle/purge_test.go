package lifecycle

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestPurgeDeletesOnlyMatchingRowsInBatches(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.db")
		db := openDB(t, src)
		seedTrades(t, db, 10_000)
		// Another connection with no busy timeout writes between batches: it
		// must find the write lock free every time.
		impatient := openDSN(t, "file:"+src+"?_pragma=busy_timeout(0)")
		var progress []PurgeReport
		// Every third trade older than the cutoff: the matches are sparse.
		rep, err := PurgeWith(context.Background(), db, PurgePolicy{
			Table: "trades", Where: "timestamp < ? AND id % 3 = 0", Args: []any{tradeTime(9001)}, BatchSize: 250,
			Progress: func(r PurgeReport) {
				progress = append(progress, r)
				if _, err := impatient.Exec(`UPDATE trades SET execution_time_ms = -5 WHERE id = 10000`); err != nil {
					t.Errorf("write between batches: %v", err)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted != 3000 || rep.Total != 3000 || rep.Batches != 12 || len(progress) != 12 {
			t.Errorf("report %+v after %d progress calls, want 3000 deleted in 12 batches", rep, len(progress))
		}
		if got := count(t, db, `SELECT count(*) FROM trades WHERE id <= 9000 AND id % 3 = 0`); got != 0 {
			t.Errorf("%d matching rows survived", got)
		}
		if got := count(t, db, `SELECT count(*) FROM trades`); got != 7000 {
			t.Errorf("%d trades left, want 7000", got)
		}

		// Purge is Purge with no callback; nothing more matches now.
		n, err := Purge(context.Background(), db, "trades", "timestamp < ? AND id % 3 = 0", []any{tradeTime(9001)}, 0)
		if err != nil || n != 0 {
			t.Errorf("second purge: %d, %v", n, err)
		}
	})
}

func TestPurgeWithoutRowidAndNoPrimaryKey(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		db := openDB(t, filepath.Join(t.TempDir(), "src.db"))
		mustExec(t, db, `CREATE TABLE quotes (symbol TEXT, day INTEGER, px REAL, PRIMARY KEY (symbol, day)) WITHOUT ROWID;
		CREATE TABLE logs (line TEXT, level INTEGER, rowid TEXT)`)
		mustExec(t, db, `WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999)
		INSERT INTO quotes SELECT 'S' || (x % 10), x / 10, x FROM c`)
		mustExec(t, db, `WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999)
		INSERT INTO logs SELECT 'line ' || x, x % 4, 'shadow' FROM c`)

		n, err := Purge(ctx, db, "quotes", "day < ?", []any{30}, 7)
		if err != nil || n != 300 {
			t.Fatalf("purged %d quotes, %v; want 300", n, err)
		}
		if got := count(t, db, `SELECT count(*) FROM quotes WHERE day >= 30`); got != 700 {
			t.Errorf("%d later quotes left, want 700", got)
		}
		// A table with no primary key is purged by rowid, even when a column
		// named rowid hides it.
		n, err = Purge(ctx, db, "logs", "level = 0", nil, 33)
		if err != nil || n != 250 {
			t.Fatalf("purged %d log lines, %v; want 250", n, err)
		}
		if got := count(t, db, `SELECT count(*) FROM logs WHERE level <> 0`); got != 750 {
			t.Errorf("%d other log lines left, want 750", got)
		}
	})
}

func TestPurgeRefusesBadInput(t *testing.T) {
	forEachDriver(t, func(t *testing.T, openDB opener) {
		ctx := context.Background()
		db := openDB(t, filepath.Join(t.TempDir(), "src.db"))
		seedTrades(t, db, 10)
		for _, tc := range []struct {
			table, where string
			batch        int
			want         string
		}{
			{"", "true", 0, "table name is empty"},
			{"nope", "true", 0, "no such table"},
			{"trades", "", 0, "Where is empty"},
			{"trades", "nope = 1", 0, "no such column"},
			{"trades", "true", MaxBatchSize + 1, "out of range"},
		} {
			if _, err := Purge(ctx, db, tc.table, tc.where, nil, tc.batch); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Purge(%q, %q, %d) = %v, want %q", tc.table, tc.where, tc.batch, err, tc.want)
			}
		}
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Purge(ctx, db, "trades", "true", nil, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled purge: %v, want context.Canceled", err)
		}
		if got := count(t, db, `SELECT count(*) FROM trades`); got != 10 {
			t.Errorf("refused purges deleted rows: %d left", got)
		}
	})
}

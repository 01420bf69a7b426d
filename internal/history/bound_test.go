package history

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBoundManyFingerprints: a workload whose fingerprints change
// every hour (SQL built per tenant, per column list) fills the
// fingerprints and plans tables; past MaxBytes the old ones must go too,
// not only the rows of the old minutes and hours.
func TestBoundManyFingerprints(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "h.db"), Options{MaxBytes: 256 << 10})
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	for h := 0; h < 12; h++ {
		now = base.Add(time.Duration(h)*time.Hour + time.Minute)
		p := minute(now, 1, time.Millisecond)
		p.Queries = nil
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("fp-%d-%d", h, i)
			text := fmt.Sprintf("SELECT %s FROM tenant_%d_%d WHERE id = ?", strings.Repeat("some_column, ", 40), h, i)
			p.Queries = append(p.Queries, QueryDelta{ID: id, Text: text, Summary: "SELECT t", Calls: 1, Total: time.Millisecond, Max: time.Millisecond, Hist: Hist{{Index: 1, Count: 1}}})
			p.Plans = append(p.Plans, Plan{ID: id, CapturedAt: now, Text: "QUERY PLAN\n`--SCAN " + text})
		}
		if err := s.Write(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.Maintain(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	used, err := s.Used(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var fps, plans int
	s.db.QueryRow(`SELECT count(*) FROM fingerprints`).Scan(&fps)
	s.db.QueryRow(`SELECT count(*) FROM plans`).Scan(&plans)
	if used > 256<<10 {
		t.Errorf("%d bytes used over a bound of 256 KiB (%d fingerprints, %d plans kept)", used, fps, plans)
	}
}

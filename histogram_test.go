package qlsqlite

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// maxRelErr is the bound the histogram documents: 1/(2·histSub+1).
const maxRelErr = 1.0 / (2*histSub + 1)

func relErr(got, want uint64) float64 {
	if want == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(float64(got)-float64(want)) / float64(want)
}

// TestHistogramBucketError checks, for every value below 2^20 and for
// values sampled over the whole uint64 range, that the value reported for
// its bucket is within maxRelErr of it, and that the bucket holds it.
func TestHistogramBucketError(t *testing.T) {
	check := func(v uint64) {
		g, s := bucketOf(v)
		lo, hi := bucketBounds(g, s)
		if v < lo || v > hi {
			t.Fatalf("value %d is in bucket (%d,%d) = [%d,%d]", v, g, s, lo, hi)
		}
		if e := relErr(bucketValue(g, s), v); e > maxRelErr {
			t.Fatalf("value %d reported as %d: relative error %.5f > %.5f", v, bucketValue(g, s), e, maxRelErr)
		}
	}
	for v := uint64(0); v < 1<<20; v++ {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		check(r.Uint64() >> r.IntN(64))
	}
	check(math.MaxUint64)
	if maxRelErr > 0.02 {
		t.Fatalf("the documented bound %.4f exceeds the 2%% the statistics promise", maxRelErr)
	}
}

// TestHistogramQuantileError compares the quantiles of several latency
// distributions with the exact nearest-rank quantiles of the same samples.
func TestHistogramQuantileError(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dists := map[string]func() time.Duration{
		"log-uniform 1µs..10s": func() time.Duration {
			return time.Duration(math.Exp(math.Log(1e3) + r.Float64()*(math.Log(1e10)-math.Log(1e3))))
		},
		"exponential mean 2ms": func() time.Duration { return time.Duration(r.ExpFloat64() * 2e6) },
		"normal 15µs±3µs":      func() time.Duration { return time.Duration(max(1e3, 15e3+3e3*r.NormFloat64())) },
		"bimodal cache hit/miss": func() time.Duration {
			if r.IntN(10) == 0 {
				return time.Duration(5e6 + r.IntN(1e6))
			}
			return time.Duration(20e3 + r.IntN(5e3))
		},
	}
	for name, next := range dists {
		for _, n := range []int{1, 7, 100, 10_000} {
			var h histogram
			xs := make([]time.Duration, n)
			for i := range xs {
				xs[i] = next()
				h.record(xs[i])
			}
			slices.Sort(xs)
			for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q*float64(n) - 1e-9))
				exact := xs[min(max(rank, 1), n)-1]
				got := h.quantile(q)
				if e := relErr(uint64(got), uint64(exact)); e > maxRelErr {
					t.Errorf("%s, n=%d: q%.3f = %v, exact %v: relative error %.4f > %.4f", name, n, q, got, exact, e, maxRelErr)
				}
			}
		}
	}
}

func TestHistogramMergeSub(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var a, b, all histogram
	for i := range 5000 {
		d := time.Duration(r.Int64N(int64(time.Second)))
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	merged := a.clone()
	merged.merge(&b)
	if !sameCounts(merged, &all) {
		t.Fatal("a merged with b differs from the histogram of both")
	}
	window := all.clone()
	window.sub(&a) // what was recorded after a's state, here: b
	if !sameCounts(window, &b) {
		t.Fatal("all minus a differs from b")
	}
	reset := all.clone()
	reset.reset()
	if reset.count != 0 || reset.quantile(0.5) != 0 {
		t.Fatalf("after reset: count %d, median %v", reset.count, reset.quantile(0.5))
	}
	// A histogram that was reset since the earlier state: nothing goes negative.
	reset.record(time.Millisecond)
	reset.sub(&all)
	if reset.count > 1 {
		t.Fatalf("count %d after subtracting a larger histogram", reset.count)
	}
}

func sameCounts(a, b *histogram) bool {
	if a.count != b.count {
		return false
	}
	for g := range a.groups {
		var x, y [histSub]uint64
		if a.groups[g] != nil {
			x = *a.groups[g]
		}
		if b.groups[g] != nil {
			y = *b.groups[g]
		}
		if x != y {
			return false
		}
	}
	return true
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h histogram
	ds := []time.Duration{3 * time.Microsecond, 15 * time.Microsecond, 2 * time.Millisecond, 150 * time.Millisecond}
	for _, d := range ds {
		h.record(d) // the first duration of each magnitude allocates its group
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, d := range ds {
			h.record(d + time.Duration(h.count%7))
		}
	})
	if allocs != 0 {
		t.Fatalf("record allocates %.1f times per run in steady state", allocs)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h histogram
	d := 15 * time.Microsecond
	for i := 0; b.Loop(); i++ {
		h.record(d + time.Duration(i&1023))
	}
}

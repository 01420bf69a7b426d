package qlsqlite

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-linear histogram of durations: every power of two is
// split into 2^histSubBits buckets of equal width, so a bucket is never
// wider than 1/32 of its lower bound, and the value a quantile reports (the
// bucket's harmonic midpoint, see [bucketValue]) is within 1/65 (1.54%) of
// every value in the bucket. Durations below 2^histSubBits ns are counted
// exactly.
//
// Recording is a few bit operations and an increment: the 256-byte group of
// buckets for a power of two is allocated the first time a duration of that
// magnitude is recorded, and never again, so a histogram in steady state
// records without allocating. A query whose latencies span three decades
// uses about ten groups.
//
// A histogram is not safe for concurrent use; its owner guards it.
type histogram struct {
	count  uint64
	groups [histGroups]*[histSub]uint64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	// Group 0 holds [0, histSub) exactly; group g >= 1 holds
	// [2^(g+histSubBits-1), 2^(g+histSubBits)).
	histGroups = 64 - histSubBits + 1
)

// bucketOf returns the group and sub-bucket of v.
func bucketOf(v uint64) (g, s int) {
	if v < histSub {
		return 0, int(v)
	}
	e := bits.Len64(v) - 1 // v's highest bit, >= histSubBits
	shift := e - histSubBits
	return shift + 1, int(v>>shift) - histSub
}

// bucketBounds returns the values [lo, hi] that bucket (g, s) holds.
func bucketBounds(g, s int) (lo, hi uint64) {
	if g == 0 {
		return uint64(s), uint64(s)
	}
	shift := g - 1
	lo = uint64(histSub+s) << shift
	return lo, lo + (1 << shift) - 1
}

// bucketValue returns the value reported for bucket (g, s): the harmonic
// midpoint 2·lo·hi/(lo+hi), the value whose largest relative error over
// [lo, hi] is smallest: (hi-lo)/(hi+lo) <= 1/(2·histSub+1).
func bucketValue(g, s int) uint64 {
	lo, hi := bucketBounds(g, s)
	if lo == hi {
		return lo
	}
	return uint64(math.Round(2 * float64(lo) * float64(hi) / (float64(lo) + float64(hi))))
}

// record counts one duration; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	g, s := bucketOf(v)
	grp := h.groups[g]
	if grp == nil {
		grp = new([histSub]uint64)
		h.groups[g] = grp
	}
	grp[s]++
	h.count++
}

// merge adds o's counts to h.
func (h *histogram) merge(o *histogram) {
	for g, og := range o.groups {
		if og == nil {
			continue
		}
		hg := h.groups[g]
		if hg == nil {
			hg = new([histSub]uint64)
			h.groups[g] = hg
		}
		for s, n := range og {
			hg[s] += n
		}
	}
	h.count += o.count
}

// sub removes o's counts from h, where o is an earlier state of h (a window
// is the difference of two cumulative histograms). A bucket that would go
// below zero (h was reset since o) is left at zero.
func (h *histogram) sub(o *histogram) {
	var removed uint64
	for g, og := range o.groups {
		hg := h.groups[g]
		if og == nil || hg == nil {
			continue
		}
		for s, n := range og {
			n = min(n, hg[s])
			hg[s] -= n
			removed += n
		}
	}
	h.count -= removed
}

// clone returns a copy of h.
func (h *histogram) clone() *histogram {
	c := &histogram{count: h.count}
	for g, hg := range h.groups {
		if hg != nil {
			cp := *hg
			c.groups[g] = &cp
		}
	}
	return c
}

// reset forgets every count, keeping the groups allocated.
func (h *histogram) reset() {
	for _, hg := range h.groups {
		if hg != nil {
			*hg = [histSub]uint64{}
		}
	}
	h.count = 0
}

// quantile returns the q-quantile (0 <= q <= 1) by nearest rank: the
// ceil(q·count)-th smallest duration recorded, within 1/65 of its true
// value. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	// The small subtraction keeps 0.95·100 (95.00000000000001 in floating
	// point) at rank 95.
	rank := uint64(math.Ceil(q*float64(h.count) - 1e-9))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for g, hg := range h.groups {
		if hg == nil {
			continue
		}
		for s, n := range hg {
			seen += n
			if seen >= rank {
				return time.Duration(bucketValue(g, s))
			}
		}
	}
	return 0 // unreachable: count is the sum of the buckets
}

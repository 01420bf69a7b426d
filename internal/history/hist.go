package history

import (
	"encoding/binary"
	"errors"
	"slices"
)

// A Bucket is one non-empty bucket of a latency histogram: its index in the
// histogram's layout (the caller's; this package only adds counts of equal
// indexes) and how many durations fell in it.
type Bucket struct {
	Index uint16
	Count uint64
}

// Hist is a sparse histogram: its non-empty buckets in increasing Index
// order. The store keeps one per fingerprint and period, so that the
// percentiles of any window are those of the merged histograms, not an
// average of percentiles.
type Hist []Bucket

// Count is the number of durations in h.
func (h Hist) Count() (n uint64) {
	for _, b := range h {
		n += b.Count
	}
	return n
}

// Merge returns the sum of h and o. Neither is changed; the result may
// share o's or h's array when the other is empty.
func (h Hist) Merge(o Hist) Hist {
	switch {
	case len(o) == 0:
		return h
	case len(h) == 0:
		return o
	}
	out := make(Hist, 0, max(len(h), len(o)))
	i, j := 0, 0
	for i < len(h) && j < len(o) {
		switch {
		case h[i].Index < o[j].Index:
			out = append(out, h[i])
			i++
		case h[i].Index > o[j].Index:
			out = append(out, o[j])
			j++
		default:
			out = append(out, Bucket{h[i].Index, h[i].Count + o[j].Count})
			i++
			j++
		}
	}
	out = append(out, h[i:]...)
	return append(out, o[j:]...)
}

// Accumulator adds up many histograms with one dense array, for windows
// that merge hundreds of periods.
type Accumulator struct {
	counts []uint64 // by Index
	n      int      // non-empty buckets
}

// Add adds h.
func (a *Accumulator) Add(h Hist) {
	for _, b := range h {
		a.add(b.Index, b.Count)
	}
}

func (a *Accumulator) add(index uint16, count uint64) {
	if int(index) >= len(a.counts) {
		a.counts = slices.Grow(a.counts, int(index)+1-len(a.counts))[:int(index)+1]
	}
	if a.counts[index] == 0 && count > 0 {
		a.n++
	}
	a.counts[index] += count
}

// Empty reports whether nothing was added.
func (a *Accumulator) Empty() bool { return a.n == 0 }

// AddEncoded adds a histogram in [Hist.Encode]'s form without building it.
func (a *Accumulator) AddEncoded(data []byte) error {
	idx := uint64(0)
	for len(data) > 0 {
		d, n := binary.Uvarint(data)
		if n <= 0 {
			return errCorruptHist
		}
		data = data[n:]
		c, n := binary.Uvarint(data)
		if n <= 0 {
			return errCorruptHist
		}
		data = data[n:]
		idx += d
		if idx > 0xffff {
			return errCorruptHist
		}
		a.add(uint16(idx), c)
	}
	return nil
}

// Hist returns what was added.
func (a *Accumulator) Hist() Hist {
	h := make(Hist, 0, a.n)
	for i, c := range a.counts {
		if c > 0 {
			h = append(h, Bucket{uint16(i), c})
		}
	}
	return h
}

var errCorruptHist = errors.New("history: a histogram in the history file is damaged")

// MergeEncoded returns the sum of h and the histogram data holds, in
// [Hist.Encode]'s form, in one pass without decoding it first. h is not
// changed.
func (h Hist) MergeEncoded(data []byte) (Hist, error) {
	out := make(Hist, 0, len(h)+len(data)/2)
	i, idx := 0, uint64(0)
	for len(data) > 0 {
		d, n := binary.Uvarint(data)
		if n <= 0 {
			return nil, errCorruptHist
		}
		data = data[n:]
		c, n := binary.Uvarint(data)
		if n <= 0 {
			return nil, errCorruptHist
		}
		data = data[n:]
		idx += d
		if idx > 0xffff {
			return nil, errCorruptHist
		}
		for i < len(h) && uint64(h[i].Index) < idx {
			out = append(out, h[i])
			i++
		}
		if i < len(h) && uint64(h[i].Index) == idx {
			c += h[i].Count
			i++
		}
		out = append(out, Bucket{uint16(idx), c})
	}
	return append(out, h[i:]...), nil
}

// Encode returns h in the store's form: for each bucket, the distance of
// its index from the previous bucket's and its count, as uvarints. A
// histogram of a query whose latencies span three decades takes about 60
// bytes.
func (h Hist) Encode() []byte {
	out := make([]byte, 0, 4*len(h))
	prev := uint16(0)
	for _, b := range h {
		if b.Count == 0 {
			continue
		}
		out = binary.AppendUvarint(out, uint64(b.Index-prev))
		out = binary.AppendUvarint(out, b.Count)
		prev = b.Index
	}
	return out
}

// DecodeHist reads a histogram written by [Hist.Encode].
func DecodeHist(data []byte) (Hist, error) {
	var a Accumulator
	if err := a.AddEncoded(data); err != nil {
		return nil, err
	}
	return a.Hist(), nil
}

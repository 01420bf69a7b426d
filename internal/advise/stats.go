package advise

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// A sample of a table's rows, dictionary-encoded per column, from which the
// number of distinct values of any column prefix is estimated.
type sample struct {
	n     int        // rows in the sample
	full  bool       // the sample is the whole table: counts are exact
	rows  int64      // the table's row count, as the shadow's statistics state it
	ids   [][]uint32 // ids[col][i]: id of the value of column col in sample row i
	cache map[string][]int64
}

// rowCount estimates the number of rows of t with bounded work: it counts up to
// limit rows exactly and, past that, takes the span of the rowids, which is
// read from the two ends of the table b-tree. A full count(*) reads every
// page of the table, seconds on the tables that need indexes most; the span
// overestimates only where many rows were deleted, and the planner needs the
// magnitude, not the digits.
func rowCount(c *sqlite3.Conn, t *table, limit int) (int64, error) {
	var n int64
	err := each(c, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM main.%s LIMIT %d)`, quote(t.name), limit+1), nil,
		func(st *sqlite3.Stmt) error { n = st.ColumnInt64(0); return nil })
	if err != nil {
		return 0, fmt.Errorf("advise: count the rows of %q: %w", t.name, err)
	}
	if n <= int64(limit) || t.withoutRowid {
		return n, nil
	}
	err = each(c, fmt.Sprintf(`SELECT max(rowid) - min(rowid) + 1 FROM main.%s`, quote(t.name)), nil,
		func(st *sqlite3.Stmt) error {
			if span := st.ColumnInt64(0); span > n {
				n = span
			}
			return nil
		})
	if err != nil {
		return 0, fmt.Errorf("advise: estimate the rows of %q: %w", t.name, err)
	}
	return n, nil
}

// sampleChunks is the number of evenly spaced rowid ranges a large table's
// sample is read from, so that rows appended over time (recent orders, open
// orders) are represented as well as old ones.
const sampleChunks = 50

// readSample reads up to size rows of t. A table of at most size rows is read
// whole; a larger rowid table is read in runs of consecutive rowids, one in
// each of sampleChunks equal strides of its rowid range; a larger WITHOUT
// ROWID table is read from its start.
func readSample(c *sqlite3.Conn, t *table, rows int64, size int) (*sample, error) {
	var cols []string
	for _, col := range t.cols {
		cols = append(cols, quote(col.name))
	}
	list := strings.Join(cols, ", ")
	from := "main." + quote(t.name)

	s := &sample{rows: rows, ids: make([][]uint32, len(t.cols)), cache: map[string][]int64{}}
	dicts := make([]map[string]uint32, len(t.cols))
	for i := range dicts {
		dicts[i] = map[string]uint32{}
	}
	key := make([]byte, 0, 64)
	add := func(st *sqlite3.Stmt, first int) {
		for i := range t.cols {
			typ := st.ColumnType(first + i)
			key = append(key[:0], byte(typ))
			switch typ {
			case sqlite3.INTEGER:
				key = binary.LittleEndian.AppendUint64(key, uint64(st.ColumnInt64(first+i)))
			case sqlite3.FLOAT:
				key = binary.LittleEndian.AppendUint64(key, math.Float64bits(st.ColumnFloat(first+i)))
			case sqlite3.TEXT:
				key = append(key, st.ColumnRawText(first+i)...)
			case sqlite3.BLOB:
				key = append(key, st.ColumnRawBlob(first+i)...)
			}
			id, ok := dicts[i][string(key)]
			if !ok {
				id = uint32(len(dicts[i]))
				dicts[i][string(key)] = id
			}
			s.ids[i] = append(s.ids[i], id)
		}
		s.n++
	}

	count, err := rowCount(c, t, size)
	if err != nil {
		return nil, err
	}
	switch {
	case count <= int64(size):
		s.full = true
		err = each(c, `SELECT `+list+` FROM `+from, nil, func(st *sqlite3.Stmt) error { add(st, 0); return nil })
	case t.withoutRowid:
		err = each(c, fmt.Sprintf(`SELECT %s FROM %s LIMIT %d`, list, from, size), nil,
			func(st *sqlite3.Stmt) error { add(st, 0); return nil })
	default:
		var lo, hi int64
		err = each(c, `SELECT min(rowid), max(rowid) FROM `+from, nil, func(st *sqlite3.Stmt) error {
			lo, hi = st.ColumnInt64(0), st.ColumnInt64(1)
			return nil
		})
		if err != nil {
			break
		}
		seen := map[int64]bool{}
		per := max(size/sampleChunks, 1)
		stride := (float64(hi-lo) + 1) / sampleChunks
		// Each run starts at a random point of its stride, so that data
		// periodic in the rowid does not alias with the stride. The seed is
		// fixed: the same table gives the same sample, and the same advice.
		rng := rand.New(rand.NewPCG(uint64(len(t.name)), 0x5eed))
		q := fmt.Sprintf(`SELECT rowid, %s FROM %s WHERE rowid >= ? ORDER BY rowid LIMIT %d`, list, from, per)
		for i := range sampleChunks {
			start := lo + int64(stride*float64(i)+rng.Float64()*max(stride-float64(per), 0))
			err = each(c, q, []any{start}, func(st *sqlite3.Stmt) error {
				if id := st.ColumnInt64(0); !seen[id] {
					seen[id] = true
					add(st, 1)
				}
				return nil
			})
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("advise: sample the rows of %q: %w", t.name, err)
	}
	return s, nil
}

// distinct estimates the number of distinct values of each prefix of cols
// (cols[:1], cols[:2], ...) in the whole table.
func (s *sample) distinct(cols []int) []int64 {
	var b strings.Builder
	for _, c := range cols {
		b.WriteString(strconv.Itoa(c))
		b.WriteByte(',')
	}
	if d, ok := s.cache[b.String()]; ok {
		return d
	}
	out := make([]int64, len(cols))
	group := make([]uint32, s.n)
	freq := make([]int32, s.n)
	for k, c := range cols {
		// Rows with equal values in cols[:k+1] share a group id, numbered
		// densely from 0.
		next := make(map[uint64]uint32, s.n)
		clear(freq)
		for i := range s.n {
			key := uint64(group[i])<<32 | uint64(s.ids[c][i])
			id, ok := next[key]
			if !ok {
				id = uint32(len(next))
				next[key] = id
			}
			group[i] = id
			freq[id]++
		}
		out[k] = s.estimate(freq[:len(next)])
	}
	s.cache[b.String()] = out
	return out
}

// estimate scales the distinct count of a sample to the table with the
// guaranteed-error estimator of Charikar et al.: values seen once in the sample
// stand for sqrt(N/n) values each, values seen more often for themselves.
func (s *sample) estimate(freq []int32) int64 {
	d := int64(len(freq))
	if s.full || s.n == 0 {
		return max(d, 1)
	}
	var once int64
	for _, f := range freq {
		if f == 1 {
			once++
		}
	}
	est := int64(math.Sqrt(float64(s.rows)/float64(s.n))*float64(once)) + d - once
	return min(max(est, d, 1), max(s.rows, 1))
}

// statLine renders a sqlite_stat1 stat for an index on cols of a table of
// rows rows: the row count, then the average number of rows per distinct
// value of each prefix of the key.
func statLine(rows int64, distinct []int64, unique bool) string {
	rows = max(rows, 1)
	var b strings.Builder
	b.WriteString(strconv.FormatInt(rows, 10))
	for i, d := range distinct {
		avg := (rows + d/2) / max(d, 1)
		if avg < 1 || (unique && i == len(distinct)-1) {
			avg = 1
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(avg, 10))
	}
	return b.String()
}

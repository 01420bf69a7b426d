package rewrite

import (
	"strings"

	"github.com/quantumleap/qlsqlite/internal/advise"
)

// A cost is what EXPLAIN QUERY PLAN tells about the work a plan does, in the
// terms the advisor judges index advice by (internal/advise), plus two that
// rewrites change: correlated subqueries, which run again for every row of
// the outer query, and the constraints a SEARCH applies through its index.
type cost struct {
	scans      int // SCAN rows, and SEARCHes through an automatic index (built by a scan each run)
	btrees     int // USE TEMP B-TREE rows: sorts for ORDER BY, GROUP BY, DISTINCT
	correlated int // CORRELATED ... SUBQUERY rows
	terms      int // the index constraints of every SEARCH: (a=? AND b>?) is 2
}

func costOf(p advise.Plan) cost {
	var c cost
	for _, r := range p {
		d := r.Detail
		switch {
		case strings.HasPrefix(d, "SCAN "):
			if d != "SCAN CONSTANT ROW" {
				c.scans++
			}
		case strings.HasPrefix(d, "SEARCH "):
			if strings.Contains(d, " AUTOMATIC ") {
				c.scans++
				continue
			}
			if i := strings.LastIndex(d, " ("); i >= 0 && strings.HasSuffix(d, ")") {
				c.terms += strings.Count(d[i:], " AND ") + 1
			}
		case strings.HasPrefix(d, "USE TEMP B-TREE"):
			c.btrees++
		case strings.HasPrefix(d, "CORRELATED "):
			c.correlated++
		}
	}
	return c
}

// cheaper reports whether a plan of cost a does less than one of cost b: no
// more scans, temporary b-trees or correlated subqueries and fewer of one of
// them (a scan became a search, a sort disappeared, a subquery no longer
// runs per row), or as many of each and more index constraints (a search
// that narrows its range further).
func (a cost) cheaper(b cost) bool {
	if a.scans > b.scans || a.btrees > b.btrees || a.correlated > b.correlated {
		return false
	}
	if a.scans < b.scans || a.btrees < b.btrees || a.correlated < b.correlated {
		return true
	}
	return a.terms > b.terms
}

// lines renders p as the sqlite3 shell does, one line per row.
func lines(p advise.Plan) []string {
	if len(p) == 0 {
		return nil
	}
	return strings.Split(p.String(), "\n")
}

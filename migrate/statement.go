package migrate

import (
	"strings"

	"github.com/quantumleap/qlsqlite/internal/sqllex"
)

// firstStatement returns the first statement of script, for a message
// about a statement SQLite could not prepare (and so could not delimit):
// up to the semicolon that ends it, as sqlite3_complete finds it. A
// semicolon inside a string, a quoted name or a comment ends nothing; in
// CREATE TRIGGER, only the "; END ;" that closes the body does. Without
// such a semicolon it is the rest of the script.
func firstStatement(script string) string {
	toks := sqllex.Tokens(script)
	word := func(i int, w string) bool {
		return i >= 0 && i < len(toks) && toks[i].Kind == sqllex.Word && strings.EqualFold(toks[i].Text, w)
	}
	semi := func(i int) bool {
		return i >= 0 && i < len(toks) && toks[i].Kind == sqllex.Punct && toks[i].Text == ";"
	}
	start := 0
	for semi(start) { // the empty statements SQLite skips
		start++
	}
	trigger := word(start, "CREATE") &&
		(word(start+1, "TRIGGER") || (word(start+1, "TEMP") || word(start+1, "TEMPORARY")) && word(start+2, "TRIGGER"))
	for i := start; i < len(toks); i++ {
		if !semi(i) || trigger && !(word(i-1, "END") && semi(i-2)) {
			continue
		}
		return trimStatement(script[:toks[i].End()])
	}
	return trimStatement(script)
}

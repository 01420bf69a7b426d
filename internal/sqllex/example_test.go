package sqllex_test

import (
	"fmt"

	"github.com/quantumleap/qlsqlite/internal/sqllex"
)

func ExampleTokens() {
	for _, t := range sqllex.Tokens(`SELECT "a b" FROM t -- comment
		WHERE x = ?1 AND y LIKE 'it''s%'`) {
		fmt.Printf("%d %q at %d\n", t.Kind, t.Text, t.Pos)
	}
	// Output:
	// 0 "SELECT" at 0
	// 1 "\"a b\"" at 7
	// 0 "FROM" at 13
	// 0 "t" at 18
	// 0 "WHERE" at 33
	// 0 "x" at 39
	// 4 "=" at 41
	// 3 "?1" at 43
	// 0 "AND" at 46
	// 0 "y" at 50
	// 0 "LIKE" at 52
	// 2 "'it''s%'" at 57
}

package qlsqlite

import "strings"

// querySummary is what OpenTelemetry's database conventions want to know
// about a statement: its operation (db.operation.name) and, when it reads or
// writes exactly one table, that table (db.collection.name).
type querySummary struct {
	operation  string // "SELECT", "INSERT", ...; "" for a script of several statements
	collection string // "" unless the statement targets exactly one table
}

// text is the low-cardinality summary (db.query.summary), also the span
// name: "SELECT trades", "COMMIT", or "" when nothing is known.
func (s querySummary) text() string {
	if s.collection != "" {
		return s.operation + " " + s.collection
	}
	return s.operation
}

// summarize reads query's operation and single target table. It never
// fails: what it cannot tell is left empty.
func summarize(query string) querySummary {
	var toks []token
	l := lexer{s: query}
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		toks = append(toks, t)
	}
	for len(toks) > 0 && toks[len(toks)-1].text == ";" {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 0 || toks[0].kind != tokWord {
		return querySummary{}
	}
	for _, t := range toks {
		if t.text == ";" {
			return querySummary{} // several statements: no single operation
		}
	}
	op := strings.ToUpper(toks[0].text)
	rest := toks[1:]
	if op == "WITH" {
		// The operation is the first top-level statement keyword after the
		// common table expressions, whose bodies are in parentheses.
		op = ""
		depth := 0
		for i, t := range rest {
			switch t.text {
			case "(":
				depth++
			case ")":
				depth--
			}
			if depth == 0 && t.kind == tokWord {
				switch up := strings.ToUpper(t.text); up {
				case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "VALUES":
					op, rest = up, rest[i+1:]
				}
			}
			if op != "" {
				break
			}
		}
		if op == "" {
			return querySummary{operation: "WITH"}
		}
	}
	s := querySummary{operation: op}
	switch op {
	case "SELECT":
		s.collection = selectTarget(rest)
	case "INSERT", "REPLACE":
		s.collection = targetAfter(rest, "INTO")
	case "UPDATE":
		s.collection = targetAfter(rest, "")
	case "DELETE":
		s.collection = targetAfter(rest, "FROM")
	}
	return s
}

// targetAfter returns the table named after keyword (or first, when keyword
// is empty), skipping "OR <conflict>" as in INSERT OR REPLACE INTO t.
func targetAfter(toks []token, keyword string) string {
	i := 0
	if i+1 < len(toks) && strings.EqualFold(toks[i].text, "OR") {
		i += 2
	}
	if keyword != "" {
		if i >= len(toks) || !strings.EqualFold(toks[i].text, keyword) {
			return ""
		}
		i++
	}
	name, _ := tableName(toks[i:])
	return name
}

// selectTarget returns the one table a SELECT reads, or "" when it reads
// several (a join, a comma list, a compound SELECT) or none.
func selectTarget(toks []token) string {
	depth := 0
	from := -1
	for i, t := range toks {
		switch t.text {
		case "(":
			depth++
			continue
		case ")":
			depth--
			continue
		}
		if depth != 0 || t.kind != tokWord {
			continue
		}
		switch strings.ToUpper(t.text) {
		case "FROM":
			if from >= 0 {
				return ""
			}
			from = i + 1
		case "JOIN", "UNION", "INTERSECT", "EXCEPT":
			return ""
		}
	}
	if from < 0 {
		return ""
	}
	name, n := tableName(toks[from:])
	if name == "" {
		return ""
	}
	// Past the table and its alias, a comma means a second table.
	rest := toks[from+n:]
	if len(rest) > 0 && strings.EqualFold(rest[0].text, "AS") {
		rest = rest[1:]
	}
	if len(rest) > 0 && (rest[0].kind == tokWord && !sqliteKeywords[strings.ToUpper(rest[0].text)] || rest[0].kind == tokQuoted) {
		rest = rest[1:] // the alias
	}
	if len(rest) > 0 && rest[0].text == "," {
		return ""
	}
	return name
}

// tableName reads [schema.]table at the start of toks, unquoted, and says
// how many tokens it took. A parenthesis (a subquery) is no table.
func tableName(toks []token) (string, int) {
	ident := func(t token) (string, bool) {
		switch t.kind {
		case tokWord:
			if sqliteKeywords[strings.ToUpper(t.text)] {
				return "", false
			}
			return t.text, true
		case tokQuoted:
			q := t.text
			if len(q) >= 2 {
				q = q[1 : len(q)-1]
			}
			return q, true
		}
		return "", false
	}
	if len(toks) == 0 {
		return "", 0
	}
	name, ok := ident(toks[0])
	if !ok {
		return "", 0
	}
	if len(toks) >= 3 && toks[1].text == "." {
		if table, ok := ident(toks[2]); ok {
			return name + "." + table, 3
		}
	}
	return name, 1
}

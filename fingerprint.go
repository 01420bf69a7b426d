package qlsqlite

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// A Fingerprint identifies a query up to its literal values, the way
// PostgreSQL's pg_stat_statements does: queries that differ only in
// literals, parameter style, whitespace, comments, the case of keywords or
// the length of an IN list share one.
type Fingerprint struct {
	// ID is a stable hash of Text (FNV-1a, 64 bits, in hex): the same query
	// shape gets the same ID in every process and version of qlsqlite that
	// normalizes it to the same Text.
	ID string
	// Text is the normalized, readable form: literals and parameters become
	// "?", keywords are upper case, whitespace is single spaces, comments are
	// gone, and IN (?, ?, ?) lists become IN (?).
	Text string
}

// FingerprintOf normalizes query. It never fails: text it cannot lex is
// kept as it is, so every input has a fingerprint, and the fingerprint of a
// fingerprint's Text is that fingerprint.
func FingerprintOf(query string) Fingerprint {
	text := normalize(query)
	h := fnv.New64a()
	h.Write([]byte(text))
	return Fingerprint{ID: strconv.FormatUint(h.Sum64(), 16), Text: text}
}

// String returns the fingerprint's readable form.
func (f Fingerprint) String() string { return f.Text }

// tokenKind classifies a lexical token.
type tokenKind uint8

const (
	tokWord    tokenKind = iota // keyword or identifier
	tokQuoted                   // "identifier", `identifier`, [identifier]
	tokLiteral                  // 'string', x'blob', 12, 1.5e3, 0x1F
	tokParam                    // ?, ?NNN, :name, @name, $name
	tokPunct                    // operators and punctuation
)

type token struct {
	kind tokenKind
	text string
}

// lexer splits SQL into tokens, skipping whitespace and comments. It
// accepts any input: what is not SQL comes out as punctuation.
type lexer struct {
	s string
	i int
}

func (l *lexer) next() (token, bool) {
	s := l.s
	for l.i < len(s) {
		c := s[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.i++
		case c == '-' && l.i+1 < len(s) && s[l.i+1] == '-':
			if j := strings.IndexByte(s[l.i:], '\n'); j >= 0 {
				l.i += j + 1
			} else {
				l.i = len(s)
			}
		case c == '/' && l.i+1 < len(s) && s[l.i+1] == '*':
			if j := strings.Index(s[l.i+2:], "*/"); j >= 0 {
				l.i += j + 4
			} else {
				l.i = len(s)
			}
		default:
			return l.token(), true
		}
	}
	return token{}, false
}

func (l *lexer) token() token {
	s, start := l.s, l.i
	c := s[start]
	switch {
	case c == '\'':
		l.i = closeQuote(s, start, '\'')
		return token{tokLiteral, s[start:l.i]}
	case (c == 'x' || c == 'X') && start+1 < len(s) && s[start+1] == '\'':
		l.i = closeQuote(s, start+1, '\'')
		return token{tokLiteral, s[start:l.i]}
	case c == '"' || c == '`':
		l.i = closeQuote(s, start, c)
		return token{tokQuoted, s[start:l.i]}
	case c == '[':
		if j := strings.IndexByte(s[start:], ']'); j >= 0 {
			l.i = start + j + 1
		} else {
			l.i = len(s)
		}
		return token{tokQuoted, s[start:l.i]}
	case isDigit(c) || c == '.' && start+1 < len(s) && isDigit(s[start+1]):
		l.i = scanNumber(s, start)
		return token{tokLiteral, s[start:l.i]}
	case c == '?':
		l.i = start + 1
		for l.i < len(s) && isDigit(s[l.i]) {
			l.i++
		}
		return token{tokParam, s[start:l.i]}
	case (c == ':' || c == '@' || c == '$') && start+1 < len(s) && isIdent(s[start+1]):
		l.i = start + 1
		for l.i < len(s) && isIdent(s[l.i]) {
			l.i++
		}
		return token{tokParam, s[start:l.i]}
	case isIdentStart(c):
		l.i = start + 1
		for l.i < len(s) && isIdent(s[l.i]) {
			l.i++
		}
		return token{tokWord, s[start:l.i]}
	}
	// Operators: the longest of these that matches, else one byte.
	for _, op := range [...]string{"->>", "->", "<=", ">=", "<>", "!=", "==", "||", "<<", ">>"} {
		if strings.HasPrefix(s[start:], op) {
			l.i = start + len(op)
			return token{tokPunct, op}
		}
	}
	l.i = start + 1
	return token{tokPunct, s[start:l.i]}
}

// closeQuote returns the index after the quote that closes the one at
// start; a doubled quote is an escaped one.
func closeQuote(s string, start int, q byte) int {
	for i := start + 1; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s)
}

func scanNumber(s string, i int) int {
	if s[i] == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') {
		i += 2
		for i < len(s) && (isDigit(s[i]) || 'a' <= s[i]|0x20 && s[i]|0x20 <= 'f' || s[i] == '_') {
			i++
		}
		return i
	}
	for i < len(s) && (isDigit(s[i]) || s[i] == '_') {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && (isDigit(s[i]) || s[i] == '_') {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			i = j
			for i < len(s) && isDigit(s[i]) {
				i++
			}
		}
	}
	return i
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' || c == '_' || c >= 0x80 }
func isIdent(c byte) bool      { return isIdentStart(c) || isDigit(c) || c == '$' }

// normalize returns the fingerprint text of query.
func normalize(query string) string {
	var toks []token
	l := lexer{s: query}
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		switch t.kind {
		case tokLiteral, tokParam:
			t = token{tokParam, "?"}
			// A sign before a number is part of the literal when it cannot be
			// a binary operator: x = -1 and x = 1 share a fingerprint.
			for n := len(toks); n > 0 && (toks[n-1].text == "-" || toks[n-1].text == "+") && (n == 1 || !isOperand(toks[n-2])); n-- {
				toks = toks[:n-1]
			}
		case tokWord:
			if up := strings.ToUpper(t.text); sqliteKeywords[up] {
				t.text = up
			}
		}
		toks = append(toks, t)
		toks = collapseInList(toks)
	}
	var sb strings.Builder
	sb.Grow(len(query))
	for i, t := range toks {
		if i > 0 && spaceBetween(toks[i-1], t) {
			sb.WriteByte(' ')
		}
		sb.WriteString(t.text)
	}
	return sb.String()
}

// isOperand reports whether t ends an operand, so that a following sign is
// a binary operator.
func isOperand(t token) bool {
	switch t.kind {
	case tokParam, tokQuoted:
		return true
	case tokWord:
		return !sqliteKeywords[t.text] || t.text == "NULL" || t.text == "TRUE" || t.text == "FALSE" ||
			t.text == "CURRENT_TIMESTAMP" || t.text == "CURRENT_DATE" || t.text == "CURRENT_TIME"
	}
	return t.text == ")"
}

// collapseInList turns IN (?, ?, ..., ?) into IN (?) as the closing
// parenthesis arrives.
func collapseInList(toks []token) []token {
	n := len(toks)
	if n < 5 || toks[n-1].text != ")" || toks[n-2].kind != tokParam {
		return toks
	}
	i := n - 2
	for i >= 2 && toks[i-1].text == "," && toks[i-2].kind == tokParam {
		i -= 2
	}
	if i == n-2 || i < 2 || toks[i-1].text != "(" || toks[i-2].text != "IN" {
		return toks
	}
	return append(toks[:i+1], toks[n-1])
}

// spaceBetween says whether the normalized text puts a space between a and b.
func spaceBetween(a, b token) bool {
	if a.kind == tokPunct && (a.text == "(" || a.text == ".") {
		return false
	}
	if b.kind == tokPunct && (b.text == ")" || b.text == "," || b.text == "." || b.text == ";") {
		return false
	}
	if b.text == "(" && a.kind == tokWord && !sqliteKeywords[a.text] {
		return false // a function call: count(*)
	}
	return true
}

// mayChangeSchema reports whether query might change what a prepared
// statement means: a statement beginning with CREATE, DROP, ALTER, ATTACH,
// DETACH, PRAGMA, VACUUM or REINDEX, anywhere in a script.
func mayChangeSchema(query string) bool {
	l := lexer{s: query}
	start := true
	for {
		t, ok := l.next()
		if !ok {
			return false
		}
		if start && t.kind == tokWord {
			switch strings.ToUpper(t.text) {
			case "CREATE", "DROP", "ALTER", "ATTACH", "DETACH", "PRAGMA", "VACUUM", "REINDEX":
				return true
			}
		}
		start = t.text == ";"
	}
}

// sqliteKeywords are SQLite's keywords (https://sqlite.org/lang_keywords.html),
// upper case.
var sqliteKeywords = func() map[string]bool {
	const list = `ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT
BEFORE BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT
CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE
DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE
EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS
HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS
ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL
NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY
RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING
RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION
TRIGGER TRUE FALSE UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE
WINDOW WITH WITHOUT`
	m := make(map[string]bool, 160)
	for _, k := range strings.Fields(list) {
		m[k] = true
	}
	return m
}()

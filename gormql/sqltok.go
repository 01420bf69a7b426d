package gormql

import "strings"

// tokKind classifies the tokens of SQLite's SQL that the dialector needs to
// tell apart: it never evaluates SQL, it only finds the parts of a
// statement (column definitions, constraint names, bind parameters) without
// being fooled by quotes, comments or nested parentheses.
type tokKind uint8

const (
	tokWord   tokKind = iota + 1 // a bare identifier or keyword
	tokQuoted                    // an identifier in "double quotes", `backticks` or [brackets]
	tokString                    // a 'string literal'
	tokBlob                      // a blob literal, X'cafe'
	tokNumber                    // a numeric literal
	tokParam                     // a bind parameter: ?, ?7, :name, @name, $name
	tokPunct                     // anything else, one byte at a time
)

// token is one token of a statement: its kind and where it is. Whitespace
// and comments are not tokens; the text between tokens keeps them.
type token struct {
	kind       tokKind
	start, end int // byte offsets into the statement
	text       string
}

// is reports whether the token is the bare keyword kw (case-insensitive).
func (t token) is(kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

// isPunct reports whether the token is the punctuation c.
func (t token) isPunct(c byte) bool {
	return t.kind == tokPunct && t.text[0] == c
}

// isName reports whether the token can name something: an identifier,
// quoted or bare, or a string literal (SQLite accepts 'x' where a name is
// expected, for compatibility).
func (t token) isName() bool {
	return t.kind == tokWord || t.kind == tokQuoted || t.kind == tokString
}

// name returns what the token names, without quotes.
func (t token) name() string {
	switch t.kind {
	case tokQuoted:
		switch t.text[0] {
		case '"':
			return unquote(t.text, '"')
		case '`':
			return unquote(t.text, '`')
		default: // [name]: no escapes
			return strings.TrimSuffix(t.text[1:], "]")
		}
	case tokString:
		return unquote(t.text, '\'')
	}
	return t.text
}

// unquote strips the quote q from both ends of s and undoubles it inside.
func unquote(s string, q byte) string {
	s = s[1:]
	if len(s) > 0 && s[len(s)-1] == q {
		s = s[:len(s)-1]
	}
	return strings.ReplaceAll(s, string([]byte{q, q}), string(q))
}

// tokenize splits a statement into tokens. It follows SQLite's lexical rules
// closely enough to find keywords, names, literals and parameters; an
// unterminated quote or comment runs to the end of the input, as SQLite would
// report it.
func tokenize(sql string) []token {
	var toks []token
	for i := 0; i < len(sql); {
		c := sql[i]
		start := i
		var kind tokKind
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			if end := strings.Index(sql[i+2:], "*/"); end >= 0 {
				i += 2 + end + 2
			} else {
				i = len(sql)
			}
			continue
		case c == '\'':
			i = skipQuoted(sql, i, '\'')
			kind = tokString
		case c == '"' || c == '`':
			i = skipQuoted(sql, i, c)
			kind = tokQuoted
		case c == '[':
			if end := strings.IndexByte(sql[i:], ']'); end >= 0 {
				i += end + 1
			} else {
				i = len(sql)
			}
			kind = tokQuoted
		case (c == 'x' || c == 'X') && i+1 < len(sql) && sql[i+1] == '\'':
			i = skipQuoted(sql, i+1, '\'')
			kind = tokBlob
		case isIdentStart(c):
			for i < len(sql) && isIdentPart(sql[i]) {
				i++
			}
			kind = tokWord
		case isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			i = skipNumber(sql, i)
			kind = tokNumber
		case c == '?':
			i++
			for i < len(sql) && isDigit(sql[i]) {
				i++
			}
			kind = tokParam
		case (c == ':' || c == '@' || c == '$') && i+1 < len(sql) && isIdentPart(sql[i+1]):
			i++
			for i < len(sql) && isIdentPart(sql[i]) {
				i++
			}
			kind = tokParam
		default:
			i++
			kind = tokPunct
		}
		toks = append(toks, token{kind: kind, start: start, end: i, text: sql[start:i]})
	}
	return toks
}

// skipQuoted returns the offset just past the quoted text that starts at
// sql[i] == q, where a doubled q is an escaped q.
func skipQuoted(sql string, i int, q byte) int {
	for i++; i < len(sql); i++ {
		if sql[i] == q {
			if i+1 < len(sql) && sql[i+1] == q {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(sql)
}

// skipNumber returns the offset just past the numeric literal at sql[i]:
// decimal with optional fraction and exponent, or hexadecimal.
func skipNumber(sql string, i int) int {
	if sql[i] == '0' && i+1 < len(sql) && (sql[i+1] == 'x' || sql[i+1] == 'X') {
		i += 2
		for i < len(sql) && (isDigit(sql[i]) || strings.IndexByte("abcdefABCDEF_", sql[i]) >= 0) {
			i++
		}
		return i
	}
	for i < len(sql) && (isDigit(sql[i]) || sql[i] == '.' || sql[i] == '_') {
		i++
	}
	if i < len(sql) && (sql[i] == 'e' || sql[i] == 'E') {
		j := i + 1
		if j < len(sql) && (sql[j] == '+' || sql[j] == '-') {
			j++
		}
		if j < len(sql) && isDigit(sql[j]) {
			for i = j; i < len(sql) && isDigit(sql[i]); i++ {
			}
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// quoteIdent quotes an identifier for SQLite: double quotes, with any double
// quote inside doubled.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteString quotes a string literal for SQLite.
func quoteString(s string) string {
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// group returns the index of the token that closes the parenthesis opened
// at toks[i], or len(toks) if it is never closed.
func group(toks []token, i int) int {
	depth := 0
	for ; i < len(toks); i++ {
		switch {
		case toks[i].isPunct('('):
			depth++
		case toks[i].isPunct(')'):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(toks)
}

// mentions reports whether any token names name (SQLite identifiers are
// case-insensitive). String literals do not count: they are values.
func mentions(toks []token, name string) bool {
	for _, t := range toks {
		if (t.kind == tokWord || t.kind == tokQuoted) && strings.EqualFold(t.name(), name) {
			return true
		}
	}
	return false
}

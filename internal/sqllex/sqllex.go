// Package sqllex splits SQLite SQL into tokens. It is the one lexer of the
// module: query fingerprints, span names and the writer gate read statements
// through it, and so do the query rewriting rules.
//
// It accepts any input and never fails: what is not SQL comes out as
// punctuation, and an unterminated string or comment runs to the end.
package sqllex

import "strings"

// Kind classifies a token.
type Kind uint8

// The token kinds.
const (
	Word    Kind = iota // keyword or identifier
	Quoted              // "identifier", `identifier`, [identifier]
	Literal             // 'string', x'blob', 12, 1.5e3, 0x1F
	Param               // ?, ?NNN, :name, @name, $name
	Punct               // operators and punctuation
)

// A Token is one lexical token of a statement.
type Token struct {
	Kind Kind
	Text string // the token as written
	Pos  int    // byte offset of Text in the statement
}

// End is the byte offset just past the token.
func (t Token) End() int { return t.Pos + len(t.Text) }

// Tokens returns every token of s, in order.
func Tokens(s string) []Token {
	var out []Token
	for i := 0; ; {
		t, next, ok := Next(s, i)
		if !ok {
			return out
		}
		out = append(out, t)
		i = next
	}
}

// Next returns the token that starts at or after byte offset i of s,
// skipping whitespace and comments, and the offset just past it; ok is false
// at the end of s.
func Next(s string, i int) (t Token, next int, ok bool) {
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(s)
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if j := strings.Index(s[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(s)
			}
		default:
			t, next = token(s, i)
			return t, next, true
		}
	}
	return Token{}, i, false
}

func token(s string, start int) (Token, int) {
	c := s[start]
	tok := func(k Kind, end int) (Token, int) { return Token{k, s[start:end], start}, end }
	switch {
	case c == '\'':
		return tok(Literal, closeQuote(s, start, '\''))
	case (c == 'x' || c == 'X') && start+1 < len(s) && s[start+1] == '\'':
		return tok(Literal, closeQuote(s, start+1, '\''))
	case c == '"' || c == '`':
		return tok(Quoted, closeQuote(s, start, c))
	case c == '[':
		if j := strings.IndexByte(s[start:], ']'); j >= 0 {
			return tok(Quoted, start+j+1)
		}
		return tok(Quoted, len(s))
	case IsDigit(c) || c == '.' && start+1 < len(s) && IsDigit(s[start+1]):
		return tok(Literal, scanNumber(s, start))
	case c == '?':
		i := start + 1
		for i < len(s) && IsDigit(s[i]) {
			i++
		}
		return tok(Param, i)
	case (c == ':' || c == '@' || c == '$') && start+1 < len(s) && IsIdent(s[start+1]):
		i := start + 1
		for i < len(s) && IsIdent(s[i]) {
			i++
		}
		return tok(Param, i)
	case IsIdentStart(c):
		i := start + 1
		for i < len(s) && IsIdent(s[i]) {
			i++
		}
		return tok(Word, i)
	}
	// Operators: the longest of these that matches, else one byte.
	for _, op := range [...]string{"->>", "->", "<=", ">=", "<>", "!=", "==", "||", "<<", ">>"} {
		if strings.HasPrefix(s[start:], op) {
			return tok(Punct, start+len(op))
		}
	}
	return tok(Punct, start+1)
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
		for i < len(s) && (IsDigit(s[i]) || 'a' <= s[i]|0x20 && s[i]|0x20 <= 'f' || s[i] == '_') {
			i++
		}
		return i
	}
	for i < len(s) && (IsDigit(s[i]) || s[i] == '_') {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && (IsDigit(s[i]) || s[i] == '_') {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && IsDigit(s[j]) {
			i = j
			for i < len(s) && IsDigit(s[i]) {
				i++
			}
		}
	}
	return i
}

// IsDigit reports whether c is an ASCII digit.
func IsDigit(c byte) bool { return '0' <= c && c <= '9' }

// IsIdentStart reports whether an unquoted identifier may begin with c.
func IsIdentStart(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' || c == '_' || c >= 0x80 }

// IsIdent reports whether an unquoted identifier may go on with c.
func IsIdent(c byte) bool { return IsIdentStart(c) || IsDigit(c) || c == '$' }

// Unquote returns the name an identifier token stands for: a quoted one
// without its quotes (doubled quotes undone), a word as it is.
func Unquote(t Token) string {
	s := t.Text
	if t.Kind != Quoted || len(s) < 2 {
		return s
	}
	switch s[0] {
	case '[':
		return strings.TrimSuffix(s[1:], "]")
	case '"', '`':
		q := s[:1]
		if strings.HasSuffix(s, q) {
			s = s[1 : len(s)-1]
		} else {
			s = s[1:]
		}
		return strings.ReplaceAll(s, q+q, q)
	}
	return s
}

// IsKeyword reports whether word, in any case, is one of SQLite's keywords.
func IsKeyword(word string) bool { return keywords[strings.ToUpper(word)] }

// Keywords returns SQLite's keywords (https://sqlite.org/lang_keywords.html),
// upper case, in a map of its own.
func Keywords() map[string]bool {
	m := make(map[string]bool, len(keywords))
	for k := range keywords {
		m[k] = true
	}
	return m
}

var keywords = func() map[string]bool {
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

package qlsqlite

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/quantumleap/qlsqlite/internal/sqllex"
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

// tokenKind classifies a lexical token (see [sqllex.Kind]).
type tokenKind uint8

const (
	tokWord    = tokenKind(sqllex.Word)    // keyword or identifier
	tokQuoted  = tokenKind(sqllex.Quoted)  // "identifier", `identifier`, [identifier]
	tokLiteral = tokenKind(sqllex.Literal) // 'string', x'blob', 12, 1.5e3, 0x1F
	tokParam   = tokenKind(sqllex.Param)   // ?, ?NNN, :name, @name, $name
	tokPunct   = tokenKind(sqllex.Punct)   // operators and punctuation
)

type token struct {
	kind tokenKind
	text string
}

// lexer splits SQL into tokens with the module's one lexer,
// internal/sqllex, skipping whitespace and comments. It accepts any input:
// what is not SQL comes out as punctuation.
type lexer struct {
	s string
	i int
}

func (l *lexer) next() (token, bool) {
	t, i, ok := sqllex.Next(l.s, l.i)
	l.i = i
	return token{tokenKind(t.Kind), t.Text}, ok
}

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
var sqliteKeywords = sqllex.Keywords()

package rewrite

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// likePrefix: col LIKE 'abc%' (or GLOB 'abc*') becomes
//
//	(col >= 'abc' AND col < 'abd') AND col LIKE 'abc%'
//
// SQLite's own LIKE optimisation does this only with an index whose
// collation matches the operator's case sensitivity: NOCASE for the default
// case-insensitive LIKE, BINARY for GLOB or under PRAGMA
// case_sensitive_like (and, on a column of numeric affinity, only for a
// prefix that cannot be read as a number). It leaves out the common case of
// a case-insensitive LIKE on a BINARY index whose prefix has no letter at
// all, such as timestamp LIKE '2026-06%', where case cannot matter.
//
// Proof: the prefix is the pattern's text before its first wildcard (LIKE:
// % and _, with the ESCAPE character honoured; GLOB: *, ? and [). A value
// the pattern matches starts with the prefix, character for character when
// the comparison is case-sensitive or the prefix has no ASCII letter
// (SQLite's LIKE folds ASCII letters only), so it sorts at or after the
// prefix and before the prefix with its last character incremented, in
// BINARY order (UTF-8 byte order is code point order) and in NOCASE order
// (the rule declines when the last character or its successor is an ASCII
// letter, where folding would move the bound). A prefix with letters under
// a case-insensitive LIKE matches several ranges, and the rule declines.
// LIKE and GLOB read a number as text, and a NUMERIC column can hold
// numbers, which sort before every text: a second range, every value below
// the empty string, keeps them, when the prefix could begin a number's text
// ('2026-' cannot, '2026' can). A BLOB never matches LIKE or GLOB in SQLite
// 3.54; the rule checks that on the connection, and where a blob would
// match (another build) it adds a third range, from the empty blob on, since
// blobs sort after every text. The original condition stays as a filter for the rest of the
// pattern. On a column of numeric affinity, a bound that reads as a number
// ('2026') would itself be converted to one, and the range would select
// numbers instead of text: the rule declines. Only literal patterns are
// rewritten; collations other than
// BINARY and NOCASE, and an application's like() or glob(), make the rule
// decline.
func likePrefix(q *stmt) []candidate {
	if !q.sch.likeOK {
		return nil
	}
	var out []candidate
	for _, c := range q.cores() {
		for _, n := range conds(c) {
			n = unparen(n)
			if n.kind != nLike || n.not || n.op != "LIKE" && n.op != "GLOB" {
				continue
			}
			cr := tableCol(n.args[0])
			pat, ok := stringLit(n.args[1])
			if cr == nil || cr.col < 0 || !ok {
				continue
			}
			esc := rune(-1)
			if len(n.args) == 3 {
				e, ok := stringLit(n.args[2])
				if !ok || utf8.RuneCountInString(e) != 1 {
					continue
				}
				esc, _ = utf8.DecodeRuneInString(e)
			}
			prefix, exact := likeLiteralPrefix(pat, n.op, esc)
			caseless := n.op == "LIKE" && q.sch.likeCI
			if prefix == "" || caseless && hasASCIILetter(prefix) {
				continue
			}
			coll := cr.column().coll
			if coll != "BINARY" && coll != "NOCASE" {
				continue
			}
			next, ok := successor(prefix, coll == "NOCASE")
			if !ok || cr.column().aff.numeric() && (looksNumeric(prefix) || looksNumeric(next)) {
				continue // the column's affinity would compare the bound as a number
			}
			ct := q.t.node(unparen(n.args[0]))
			rng := ct + " >= " + quoteText(prefix) + " AND " + ct + " < " + quoteText(next)
			if exact { // no wildcard: a text value it matches is the prefix itself
				rng = ct + " = " + quoteText(prefix)
			}
			_, number, blob := cr.table().valueTypes(cr.col)
			ranges := []string{rng}
			var kept []string
			if number && numberPrefix(prefix) {
				ranges = append(ranges, ct+" < ''")
				kept = append(kept, "numbers (\"OR "+ct+" < ''\")")
			}
			if blob && (n.op == "LIKE" && q.sch.likeBlob || n.op == "GLOB" && q.sch.globBlob) {
				ranges = append(ranges, ct+" >= x''")
				kept = append(kept, "BLOBs (\"OR "+ct+" >= x''\")")
			}
			why := fmt.Sprintf("SQLite's own LIKE optimisation does not apply to %s here (it needs an index in the collation matching %s's case sensitivity: NOCASE for a case-insensitive LIKE); every value %s matches starts with %s, so it lies in the range, and the original condition stays as a filter",
				describe(cr), n.op, q.t.node(n), quoteText(prefix))
			cand := candidate{rule: RuleLikePrefix}
			if len(kept) > 0 {
				cand.variants = append(cand.variants, variant{
					sql: q.replace(n, q.implied(c, n, cr, ranges)), equivalent: true,
					note: why + "; the range also keeps the " + strings.Join(kept, " and ") + " that " + n.op + " reads as text",
				})
				cand.variants = append(cand.variants, variant{
					sql: q.replace(n, q.implied(c, n, cr, ranges[:1])), compare: true,
					note: why + fmt.Sprintf(". A hint: equivalent only while %s holds text and NULLs only (%s reads a number or a BLOB as text; the schema does not keep them out)", describe(cr), n.op),
				})
			} else {
				cand.variants = append(cand.variants, variant{sql: q.replace(n, q.implied(c, n, cr, ranges)), equivalent: true, note: why})
			}
			out = append(out, cand)
		}
	}
	return out
}

// stringLit returns the value of a string literal node.
func stringLit(n *node) (string, bool) {
	n = unparen(n)
	if n == nil || n.kind != nLiteral || len(n.name) < 2 || n.name[0] != '\'' || n.name[len(n.name)-1] != '\'' {
		return "", false
	}
	return strings.ReplaceAll(n.name[1:len(n.name)-1], "''", "'"), true
}

// likeLiteralPrefix returns the text pattern matches literally before its
// first wildcard, and whether the pattern is nothing but that text.
func likeLiteralPrefix(pattern, op string, esc rune) (string, bool) {
	var b strings.Builder
	escaped := false
	for _, r := range pattern {
		switch {
		case escaped:
			escaped = false
		case op == "LIKE" && r == esc:
			escaped = true
			continue
		case op == "LIKE" && (r == '%' || r == '_'):
			return b.String(), false
		case op == "GLOB" && (r == '*' || r == '?' || r == '['):
			return b.String(), false
		}
		b.WriteRune(r)
	}
	if escaped {
		return "", false // a pattern ending in its escape character matches nothing
	}
	return b.String(), true
}

func hasASCIILetter(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return 'a' <= r|0x20 && r|0x20 <= 'z' }) >= 0
}

func isASCIILetter(r rune) bool { return 'a' <= r|0x20 && r|0x20 <= 'z' }

// successor returns s with its last character incremented: the least
// string greater than every string that starts with s.
func successor(s string, nocase bool) (string, bool) {
	last, size := utf8.DecodeLastRuneInString(s)
	if last == utf8.RuneError || last == 0 {
		return "", false
	}
	next := last + 1
	if next >= 0xD800 && next <= 0xDFFF {
		next = 0xE000
	}
	if next > utf8.MaxRune || nocase && (isASCIILetter(last) || isASCIILetter(next)) {
		return "", false
	}
	return s[:len(s)-size] + string(next), true
}

// looksNumeric reports whether NUMERIC affinity turns text s into a number:
// a decimal integer or real literal, spaces around it allowed.
func looksNumeric(s string) bool {
	s = strings.Trim(s, " \t\n\v\f\r")
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits := 0
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// numberPrefix reports whether s could begin the text SQLite makes of a
// number: -?digits[.digits][e[+-]digits], or Inf.
func numberPrefix(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if strings.HasPrefix("Inf", s[i:]) {
		return true
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == len(s) {
		return true
	}
	if i == start {
		return false
	}
	if s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
	}
	if i < len(s) && s[i] == 'e' {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}

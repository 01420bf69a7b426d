package gormql

import (
	"fmt"
	"strings"
)

// tableDDL is a CREATE TABLE statement, as SQLite keeps it in
// sqlite_schema, taken apart into its definitions so that a table rebuild
// can change one of them and keep the others exactly as written.
type tableDDL struct {
	items   []tableItem // column definitions and table constraints, in order
	suffix  string      // what follows the closing parenthesis: STRICT, WITHOUT ROWID
	dropped []string    // columns dropped: the indexes that read them go too
}

// tableItem is one definition between the parentheses of a CREATE TABLE.
type tableItem struct {
	sql        string // the definition as written
	column     string // the column it defines; "" for a table constraint
	constraint string // for a table constraint, the name given with CONSTRAINT
	kind       string // for a table constraint: PRIMARY, UNIQUE, CHECK or FOREIGN
}

// parseCreateTable takes a CREATE TABLE statement apart.
func parseCreateTable(sql string) (*tableDDL, error) {
	toks := tokenize(sql)
	if len(toks) < 3 || !toks[0].is("CREATE") {
		return nil, fmt.Errorf("not a CREATE TABLE statement: %q", sql)
	}
	if toks[1].is("VIRTUAL") {
		return nil, fmt.Errorf("a virtual table cannot be rebuilt: %q", sql)
	}
	open := -1
	for i, t := range toks {
		if t.isPunct('(') {
			open = i
			break
		}
	}
	if open < 0 {
		return nil, fmt.Errorf("CREATE TABLE without column definitions: %q", sql)
	}
	end := group(toks, open)
	if end == len(toks) {
		return nil, fmt.Errorf("unbalanced parentheses in %q", sql)
	}
	ddl := &tableDDL{suffix: sql[toks[end].end:]}
	for _, part := range splitTopLevel(toks[open+1 : end]) {
		if len(part) == 0 {
			return nil, fmt.Errorf("empty definition in %q", sql)
		}
		item := tableItem{sql: sql[part[0].start:part[len(part)-1].end]}
		first := part[0]
		switch {
		case first.is("CONSTRAINT"):
			if len(part) < 3 {
				return nil, fmt.Errorf("incomplete constraint %q", item.sql)
			}
			item.constraint = part[1].name()
			item.kind = strings.ToUpper(part[2].text)
		case first.is("PRIMARY"), first.is("UNIQUE"), first.is("CHECK"), first.is("FOREIGN"):
			item.kind = strings.ToUpper(first.text)
		case first.isName():
			item.column = first.name()
		default:
			return nil, fmt.Errorf("unexpected definition %q", item.sql)
		}
		ddl.items = append(ddl.items, item)
	}
	return ddl, nil
}

// splitTopLevel splits tokens at the commas outside parentheses.
func splitTopLevel(toks []token) [][]token {
	var parts [][]token
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.isPunct('('):
			depth++
		case t.isPunct(')'):
			depth--
		case t.isPunct(',') && depth == 0:
			parts = append(parts, toks[start:i])
			start = i + 1
		}
	}
	return append(parts, toks[start:])
}

// create returns the CREATE TABLE statement for a table called name.
func (d *tableDDL) create(name string) string {
	defs := make([]string, len(d.items))
	for i, it := range d.items {
		defs[i] = it.sql
	}
	return "CREATE TABLE " + quoteIdent(name) + " (" + strings.Join(defs, ",") + ")" + d.suffix
}

// columnIndex returns the index of the definition of column name, or -1.
func (d *tableDDL) columnIndex(name string) int {
	for i, it := range d.items {
		if it.column != "" && strings.EqualFold(it.column, name) {
			return i
		}
	}
	return -1
}

// columns returns the names of the stored columns, those a rebuild copies:
// generated columns are computed, never inserted.
func (d *tableDDL) columns() []string {
	var cols []string
	for _, it := range d.items {
		if it.column != "" && !parseColumnDef(it.sql).generated() {
			cols = append(cols, it.column)
		}
	}
	return cols
}

// addColumn adds a column definition after the last one (SQLite wants
// column definitions before table constraints).
func (d *tableDDL) addColumn(def tableItem) {
	at := 0
	for i, it := range d.items {
		if it.column != "" {
			at = i + 1
		}
	}
	d.items = append(d.items[:at], append([]tableItem{def}, d.items[at:]...)...)
}

// dropColumn removes the definition of column name and the table
// constraints on it (a UNIQUE or FOREIGN KEY over it, a CHECK that reads
// it). It refuses to drop a primary key column.
func (d *tableDDL) dropColumn(name string) error {
	i := d.columnIndex(name)
	if i < 0 {
		return fmt.Errorf("no column %q", name)
	}
	if parseColumnDef(d.items[i].sql).has("PRIMARY") {
		return fmt.Errorf("column %q is the primary key", name)
	}
	kept := make([]tableItem, 0, len(d.items))
	for j, it := range d.items {
		if j == i {
			continue
		}
		if it.column == "" && constraintMentions(it, name) {
			if it.kind == "PRIMARY" {
				return fmt.Errorf("column %q is part of the primary key", name)
			}
			continue
		}
		kept = append(kept, it)
	}
	d.items = kept
	d.dropped = append(d.dropped, name)
	return nil
}

// autoIncrement reports whether a column is declared AUTOINCREMENT.
func (d *tableDDL) autoIncrement() bool {
	for _, it := range d.items {
		if it.column != "" && parseColumnDef(it.sql).autoIncrement() {
			return true
		}
	}
	return false
}

// constraintMentions reports whether a table constraint is over column:
// the column list of a PRIMARY KEY, UNIQUE or FOREIGN KEY (its own columns,
// not the parent's), or anything a CHECK reads.
func constraintMentions(it tableItem, column string) bool {
	toks := tokenize(it.sql)
	if it.constraint != "" {
		toks = toks[2:] // CONSTRAINT name
	}
	if it.kind == "CHECK" {
		return mentions(toks, column)
	}
	for i, t := range toks {
		if t.isPunct('(') {
			return mentions(toks[i:group(toks, i)], column)
		}
	}
	return false
}

// hasConstraint reports whether a constraint called name is defined, on
// the table or on one of its columns.
func (d *tableDDL) hasConstraint(name string) bool {
	for _, it := range d.items {
		if it.column == "" {
			if strings.EqualFold(it.constraint, name) {
				return true
			}
			continue
		}
		for _, c := range parseColumnDef(it.sql).constraints {
			if strings.EqualFold(c.name, name) {
				return true
			}
		}
	}
	return false
}

// setConstraint adds the table constraint sql called name, replacing one
// of that name.
func (d *tableDDL) setConstraint(name, sql string) {
	item := tableItem{sql: sql, constraint: name}
	if toks := tokenize(sql); len(toks) > 2 && toks[0].is("CONSTRAINT") {
		item.kind = strings.ToUpper(toks[2].text)
	}
	for i, it := range d.items {
		if it.column == "" && strings.EqualFold(it.constraint, name) {
			d.items[i] = item
			return
		}
	}
	d.items = append(d.items, item)
}

// dropConstraint removes the constraint called name, on the table or on a
// column, and reports whether there was one.
func (d *tableDDL) dropConstraint(name string) bool {
	for i, it := range d.items {
		if it.column == "" && strings.EqualFold(it.constraint, name) {
			d.items = append(d.items[:i], d.items[i+1:]...)
			return true
		}
	}
	for i, it := range d.items {
		if it.column == "" {
			continue
		}
		def := parseColumnDef(it.sql)
		if def.drop(func(c columnConstraint) bool { return strings.EqualFold(c.name, name) }) {
			d.items[i].sql = def.String()
			return true
		}
	}
	return false
}

// dropUnique removes what makes column unique on its own: UNIQUE on its
// definition, and unnamed table constraints UNIQUE over it alone. It
// reports whether there was any.
func (d *tableDDL) dropUnique(column string) bool {
	dropped := false
	kept := d.items[:0]
	for _, it := range d.items {
		if it.column != "" && strings.EqualFold(it.column, column) {
			def := parseColumnDef(it.sql)
			if def.drop(func(c columnConstraint) bool { return c.kind == "UNIQUE" }) {
				it.sql = def.String()
				dropped = true
			}
		}
		if it.column == "" && it.kind == "UNIQUE" && it.constraint == "" && uniqueOver(it, column) {
			dropped = true
			continue
		}
		kept = append(kept, it)
	}
	d.items = kept
	return dropped
}

// uniqueOver reports whether a UNIQUE table constraint is over column alone.
func uniqueOver(it tableItem, column string) bool {
	toks := tokenize(it.sql)
	for i, t := range toks {
		if t.isPunct('(') {
			inner := toks[i+1 : group(toks, i)]
			return len(inner) == 1 && inner[0].isName() && strings.EqualFold(inner[0].name(), column)
		}
	}
	return false
}

// columnDef is a column definition taken apart: name, declared type, and
// the column constraints in order.
type columnDef struct {
	nameSQL     string // the name as written
	typ         string // the declared type as written; "" if none
	constraints []columnConstraint
}

// columnConstraint is one column constraint, with the CONSTRAINT name
// that introduces it, if any.
type columnConstraint struct {
	name string // given with CONSTRAINT
	kind string // PRIMARY, NOT (NULL), NULL, UNIQUE, CHECK, DEFAULT, COLLATE, REFERENCES or GENERATED
	sql  string // as written, CONSTRAINT name included
}

// constraintKeywords are the keywords that begin a column constraint.
var constraintKeywords = map[string]bool{
	"CONSTRAINT": true, "PRIMARY": true, "NOT": true, "NULL": true, "UNIQUE": true,
	"CHECK": true, "DEFAULT": true, "COLLATE": true, "REFERENCES": true,
	"GENERATED": true, "AS": true,
}

// parseColumnDef takes a column definition apart. It follows the grammar at
// https://sqlite.org/syntax/column-def.html: a keyword inside a constraint
// (NOT DEFERRABLE and SET NULL in REFERENCES, AS in GENERATED ALWAYS AS, the
// NULL of DEFAULT NULL) does not begin a new one.
func parseColumnDef(sql string) columnDef {
	toks := tokenize(sql)
	var def columnDef
	if len(toks) == 0 {
		return def
	}
	def.nameSQL = toks[0].text

	i := 1
	typeStart, typeEnd := -1, -1
	for i < len(toks) {
		t := toks[i]
		if t.kind == tokWord && constraintKeywords[strings.ToUpper(t.text)] {
			break
		}
		if t.isPunct('(') && typeStart >= 0 {
			typeEnd = group(toks, i)
			i = typeEnd + 1
			break
		}
		if !t.isName() {
			break
		}
		if typeStart < 0 {
			typeStart = i
		}
		typeEnd = i
		i++
	}
	if typeStart >= 0 {
		last := min(typeEnd, len(toks)-1)
		def.typ = sql[toks[typeStart].start:toks[last].end]
	}

	var (
		cur       *columnConstraint
		curStart  int
		valueEnds = -1 // DEFAULT's value runs up to this token
	)
	flush := func(end int) {
		if cur != nil {
			cur.sql = strings.TrimSpace(sql[curStart:end])
			def.constraints = append(def.constraints, *cur)
			cur = nil
		}
	}
	for i < len(toks) {
		t := toks[i]
		if t.isPunct('(') {
			i = group(toks, i) + 1
			continue
		}
		kw := ""
		if t.kind == tokWord {
			kw = strings.ToUpper(t.text)
		}
		begins := constraintKeywords[kw] && i > valueEnds
		if begins && cur != nil {
			switch {
			case cur.kind == "": // CONSTRAINT name, then what it is
				cur.kind = kind(kw)
				begins = false
			case kw == "NULL" && toks[i-1].is("NOT"),
				cur.kind == "REFERENCES" && kw == "NOT" && i+1 < len(toks) && toks[i+1].is("DEFERRABLE"),
				cur.kind == "REFERENCES" && (kw == "NULL" || kw == "DEFAULT") && toks[i-1].is("SET"),
				cur.kind == "GENERATED" && kw == "AS":
				begins = false
			}
		}
		if begins {
			flush(t.start)
			cur, curStart = &columnConstraint{}, t.start
			if kw == "CONSTRAINT" {
				if i+1 < len(toks) {
					cur.name = toks[i+1].name()
				}
				i += 2
				continue
			}
			cur.kind = kind(kw)
			if kw == "DEFAULT" {
				valueEnds = i + 1
				if valueEnds < len(toks) && (toks[valueEnds].isPunct('+') || toks[valueEnds].isPunct('-')) {
					valueEnds++
				}
			}
		} else if cur != nil && cur.kind == "" {
			cur.kind = kind(kw)
		}
		i++
	}
	flush(len(sql))
	return def
}

// kind names a column constraint by its first keyword; AS is the short
// form of GENERATED ALWAYS AS.
func kind(kw string) string {
	if kw == "AS" {
		return "GENERATED"
	}
	return kw
}

// has reports whether the column has a constraint of this kind.
func (c columnDef) has(kind string) bool {
	for _, cc := range c.constraints {
		if cc.kind == kind {
			return true
		}
	}
	return false
}

// generated reports whether the column is computed (GENERATED ALWAYS AS).
func (c columnDef) generated() bool { return c.has("GENERATED") }

// autoIncrement reports whether the column is declared PRIMARY KEY
// AUTOINCREMENT.
func (c columnDef) autoIncrement() bool {
	for _, cc := range c.constraints {
		if cc.kind == "PRIMARY" && mentions(tokenize(cc.sql), "AUTOINCREMENT") {
			return true
		}
	}
	return false
}

// drop removes the constraints for which match is true and reports whether
// there were any.
func (c *columnDef) drop(match func(columnConstraint) bool) bool {
	kept := c.constraints[:0]
	for _, cc := range c.constraints {
		if !match(cc) {
			kept = append(kept, cc)
		}
	}
	dropped := len(kept) != len(c.constraints)
	c.constraints = kept
	return dropped
}

// String returns the definition.
func (c columnDef) String() string {
	var b strings.Builder
	b.WriteString(c.nameSQL)
	if c.typ != "" {
		b.WriteString(" ")
		b.WriteString(c.typ)
	}
	for _, cc := range c.constraints {
		b.WriteString(" ")
		b.WriteString(cc.sql)
	}
	return b.String()
}

// retype returns the definition of a column called name with the type and
// constraints of full (the output of FullDataTypeOf: a type, NOT NULL, a
// DEFAULT, possibly PRIMARY KEY) and the other constraints of the old
// definition: UNIQUE, CHECK, COLLATE, REFERENCES, GENERATED, and PRIMARY
// KEY unless full has its own.
func retype(old, name, full string) string {
	def := parseColumnDef(old)
	fullHasPK := mentions(tokenize(full), "PRIMARY")
	def.drop(func(c columnConstraint) bool {
		switch c.kind {
		case "NOT", "NULL", "DEFAULT":
			return true
		case "PRIMARY":
			return fullHasPK
		}
		return false
	})
	def.nameSQL, def.typ = quoteIdent(name), strings.TrimSpace(full)
	return def.String()
}

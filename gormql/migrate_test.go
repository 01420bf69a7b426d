package gormql_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/quantumleap/qlsqlite/gormql"
)

// The models of a small shop: every kind of relation GORM has.
type Company struct {
	ID   uint
	Name string `gorm:"unique"`
}

type User struct {
	ID        uint
	Name      string `gorm:"not null;index"`
	Email     string `gorm:"uniqueIndex"`
	Age       int    `gorm:"check:age_checker,age >= 0"`
	CompanyID *uint
	Company   Company    // belongs to
	Profile   Profile    // has one
	Orders    []Order    `gorm:"constraint:OnDelete:CASCADE"` // has many
	Languages []Language `gorm:"many2many:user_languages"`    // many to many
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

type Profile struct {
	ID     uint
	UserID uint
	Bio    string
}

type Order struct {
	ID     uint
	UserID uint
	Amount float64
	Note   string `gorm:"default:'none'"`
}

type Language struct {
	Code string `gorm:"primaryKey"`
	Name string
}

func TestAutoMigrateRelations(t *testing.T) {
	db, log := open(t)
	if err := db.AutoMigrate(&User{}, &Profile{}, &Order{}); err != nil {
		t.Fatal(err)
	}
	tables, err := db.Migrator().GetTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"companies", "users", "profiles", "orders", "languages", "user_languages"} {
		if !slices.Contains(tables, want) {
			t.Errorf("tables %v: no %s", tables, want)
		}
	}

	for _, tc := range []struct {
		table string
		want  []foreignKey
	}{
		{"users", []foreignKey{{"companies", "company_id", "id", "NO ACTION"}}}, // belongs to
		{"profiles", []foreignKey{{"users", "user_id", "id", "NO ACTION"}}},     // has one
		{"orders", []foreignKey{{"users", "user_id", "id", "CASCADE"}}},         // has many
		{"user_languages", []foreignKey{{"languages", "language_code", "code", "NO ACTION"}, // many to many
			{"users", "user_id", "id", "NO ACTION"}}},
	} {
		got := foreignKeys(t, db, tc.table)
		slices.SortFunc(got, func(a, b foreignKey) int { return strings.Compare(a.Table, b.Table) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("foreign keys of %s: %v, want %v", tc.table, got, tc.want)
		}
	}

	m := db.Migrator()
	if !m.HasIndex(&User{}, "idx_users_name") || !m.HasIndex(&User{}, "Email") || !m.HasIndex(&User{}, "idx_users_deleted_at") {
		t.Error("users is missing an index")
	}
	if !m.HasConstraint(&User{}, "age_checker") || !m.HasConstraint(&Company{}, "uni_companies_name") {
		t.Error("a constraint is missing")
	}
	if !m.HasConstraint(&User{}, "Orders") || !m.HasConstraint(&User{}, "Company") {
		t.Error("a relation's foreign key is missing")
	}

	// The schema matches the models: a second AutoMigrate reads it and
	// changes nothing.
	log.take()
	if err := db.AutoMigrate(&User{}, &Profile{}, &Order{}); err != nil {
		t.Fatal(err)
	}
	if w := writes(log.take()); len(w) > 0 {
		t.Errorf("AutoMigrate of an unchanged schema wrote:\n%s", strings.Join(w, "\n"))
	}
}

// Account is a parent table whose invoices go with it (ON DELETE CASCADE):
// the table a careless rebuild empties its children's tables through.
type Account struct {
	ID       uint
	Name     string    `gorm:"index"`
	Code     string    `gorm:"unique"`
	Invoices []Invoice `gorm:"constraint:OnDelete:CASCADE"`
}

type Invoice struct {
	ID        uint
	AccountID uint
	Total     float64
}

// accountV2 is Account with Name NOT NULL and a default, and a new column.
type accountV2 struct {
	ID       uint
	Name     string    `gorm:"index;not null;default:anonymous"`
	Code     string    `gorm:"unique"`
	Region   string    `gorm:"not null;default:eu"`
	Invoices []Invoice `gorm:"foreignKey:AccountID;constraint:OnDelete:CASCADE"`
}

func (accountV2) TableName() string { return "accounts" }

// seedAccounts makes 3 accounts with 4 invoices each, and an account 4 that
// is deleted again, so that AUTOINCREMENT has a counter above the rows.
func seedAccounts(t *testing.T, db *gorm.DB) {
	t.Helper()
	if err := db.AutoMigrate(&Account{}, &Invoice{}); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"ann", "bob", "cyd"} {
		a := Account{Name: name, Code: name + "-code"}
		for j := range 4 {
			a.Invoices = append(a.Invoices, Invoice{Total: float64(10*i + j)})
		}
		if err := db.Create(&a).Error; err != nil {
			t.Fatal(err)
		}
	}
	last := Account{Name: "dan", Code: "dan-code"}
	if err := db.Create(&last).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(&last).Error; err != nil {
		t.Fatal(err)
	}
}

// checkAccounts checks that the rebuild lost nothing: all 12 invoices, their
// foreign key with its CASCADE, foreign keys on everywhere, and the
// AUTOINCREMENT counter; then that the cascade still works.
func checkAccounts(t *testing.T, db *gorm.DB) {
	t.Helper()
	if n := count(t, db, "SELECT count(*) FROM invoices"); n != 12 {
		t.Fatalf("%d invoices after the rebuild, want 12", n)
	}
	if n := count(t, db, "SELECT count(*) FROM invoices WHERE account_id NOT IN (SELECT id FROM accounts)"); n != 0 {
		t.Errorf("%d invoices lost their account", n)
	}
	if fks := foreignKeys(t, db, "invoices"); len(fks) != 1 || fks[0].Table != "accounts" || fks[0].OnDelete != "CASCADE" {
		t.Errorf("invoices' foreign key after the rebuild: %v", fks)
	}
	for i, on := range foreignKeysOnAll(t, db) {
		if !on {
			t.Errorf("connection %d went back to the pool with foreign keys off", i)
		}
	}
	if !db.Migrator().HasIndex(&Account{}, "idx_accounts_name") {
		t.Error("the index on accounts.name is gone")
	}
	next := accountRow{Name: "eve"}
	if err := db.Create(&next).Error; err != nil {
		t.Fatal(err)
	}
	if next.ID != 5 {
		t.Errorf("new account got id %d, want 5: the AUTOINCREMENT counter was lost and id 4 reused", next.ID)
	}
	var ann accountRow
	if err := db.Where("name = ?", "ann").First(&ann).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(&ann).Error; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM invoices"); n != 8 {
		t.Errorf("%d invoices after deleting an account, want 8: ON DELETE CASCADE no longer works", n)
	}
}

// accountRow is what every version of accounts has.
type accountRow struct {
	ID   uint
	Name string
}

func (accountRow) TableName() string { return "accounts" }

func TestAlterColumnKeepsChildRows(t *testing.T) {
	db, log := open(t)
	seedAccounts(t, db)
	mustExec(t, db, "ANALYZE")
	stats := func() []string {
		var s []string
		db.Raw(`SELECT coalesce(idx, '-') || ' ' || stat FROM sqlite_stat1 WHERE tbl = 'accounts'
			UNION ALL SELECT idx || ' ' || hex(sample) FROM sqlite_stat4 WHERE tbl = 'accounts' ORDER BY 1`).Scan(&s)
		return s
	}
	before := stats()
	if len(before) < 4 {
		t.Fatalf("ANALYZE left %v", before)
	}
	log.take()

	if err := db.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Fatal(err)
	}
	stmts := log.take()
	if !slices.ContainsFunc(stmts, func(s string) bool { return strings.HasPrefix(s, `CREATE TABLE "_gormql_new_accounts"`) }) {
		t.Errorf("AlterColumn did not rebuild the table:\n%s", strings.Join(stmts, "\n"))
	}

	cols, err := db.Migrator().ColumnTypes(&accountV2{})
	if err != nil {
		t.Fatal(err)
	}
	name := cols[slices.IndexFunc(cols, func(c gorm.ColumnType) bool { return c.Name() == "name" })]
	nullable, _ := name.Nullable()
	dflt, hasDefault := name.DefaultValue()
	if nullable || !hasDefault || dflt != "anonymous" {
		t.Errorf("name after AlterColumn: nullable %v, default %q (%v); want NOT NULL DEFAULT 'anonymous'", nullable, dflt, hasDefault)
	}
	if !db.Migrator().HasConstraint(&Account{}, "uni_accounts_code") {
		t.Error("the unique constraint on code is gone")
	}
	if after := stats(); !slices.Equal(after, before) {
		t.Errorf("the planner's statistics changed:\n%v\n%v", before, after)
	}
	checkAccounts(t, db)
}

func TestDropColumnKeepsChildRows(t *testing.T) {
	db, log := open(t)
	seedAccounts(t, db)
	log.take()

	// code has a UNIQUE constraint: SQLite's DROP COLUMN refuses it, so the
	// table is rebuilt without it.
	if err := db.Migrator().DropColumn(&Account{}, "Code"); err != nil {
		t.Fatal(err)
	}
	stmts := log.take()
	if !slices.ContainsFunc(stmts, func(s string) bool { return strings.HasPrefix(s, `CREATE TABLE "_gormql_new_accounts"`) }) {
		t.Errorf("DropColumn did not rebuild the table:\n%s", strings.Join(stmts, "\n"))
	}
	if db.Migrator().HasColumn(&Account{}, "Code") {
		t.Error("code is still there")
	}
	if db.Migrator().HasConstraint(&Account{}, "uni_accounts_code") {
		t.Error("the unique constraint on the dropped column is still there")
	}
	type account struct {
		ID   uint
		Name string
	}
	var got []account
	if err := db.Table("accounts").Order("id").Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	if want := []account{{1, "ann"}, {2, "bob"}, {3, "cyd"}}; !slices.Equal(got, want) {
		t.Errorf("accounts after DropColumn: %v, want %v", got, want)
	}

	// A column without constraints goes with SQLite's own DROP COLUMN.
	if err := db.Migrator().AddColumn(&accountV2{}, "Region"); err != nil {
		t.Fatal(err)
	}
	log.take()
	if err := db.Migrator().DropColumn(&accountV2{}, "Region"); err != nil {
		t.Fatal(err)
	}
	if stmts := log.take(); slices.ContainsFunc(stmts, func(s string) bool { return strings.Contains(s, "_gormql_new_") }) {
		t.Errorf("dropping a plain column rebuilt the table:\n%s", strings.Join(stmts, "\n"))
	}
	checkAccounts(t, db)
}

func TestAddColumn(t *testing.T) {
	db, log := open(t)
	seedAccounts(t, db)
	log.take()

	// NOT NULL with a constant default: SQLite's ADD COLUMN.
	if err := db.Migrator().AddColumn(&accountV2{}, "Region"); err != nil {
		t.Fatal(err)
	}
	if stmts := log.take(); slices.ContainsFunc(stmts, func(s string) bool { return strings.Contains(s, "_gormql_new_") }) {
		t.Errorf("adding a column with a constant default rebuilt the table:\n%s", strings.Join(stmts, "\n"))
	}
	var regions []string
	if err := db.Table("accounts").Order("id").Pluck("region", &regions).Error; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(regions, []string{"eu", "eu", "eu"}) {
		t.Errorf("regions %v, want the default for every row", regions)
	}

	// A default that is not a constant: SQLite refuses ADD COLUMN, so the
	// table is rebuilt and every row gets the default.
	type accountV3 struct {
		ID     uint
		Joined time.Time `gorm:"not null;default:CURRENT_TIMESTAMP"`
	}
	v3 := db.Table("accounts")
	if err := v3.Migrator().AddColumn(&accountV3{}, "Joined"); err != nil {
		t.Fatal(err)
	}
	if stmts := log.take(); !slices.ContainsFunc(stmts, func(s string) bool { return strings.Contains(s, "_gormql_new_") }) {
		t.Errorf("adding a column with CURRENT_TIMESTAMP did not rebuild the table:\n%s", strings.Join(stmts, "\n"))
	}
	var joined []time.Time
	if err := db.Table("accounts").Pluck("joined", &joined).Error; err != nil {
		t.Fatal(err)
	}
	for _, j := range joined {
		if time.Since(j) > time.Hour || time.Since(j) < -time.Hour {
			t.Errorf("joined = %v, want about now", j)
		}
	}
	checkAccounts(t, db)
}

func TestRenameColumnFollowsForeignKeys(t *testing.T) {
	db, _ := open(t)
	seedAccounts(t, db)
	if err := db.Migrator().RenameColumn(&Account{}, "id", "account_no"); err != nil {
		t.Fatal(err)
	}
	if fks := foreignKeys(t, db, "invoices"); len(fks) != 1 || fks[0].To != "account_no" {
		t.Errorf("invoices' foreign key after renaming its parent column: %v", fks)
	}
	if n := count(t, db, "SELECT count(*) FROM invoices JOIN accounts ON invoices.account_id = accounts.account_no"); n != 12 {
		t.Errorf("%d invoices joined to their account, want 12", n)
	}
	if err := db.Migrator().RenameColumn(&Account{}, "name", "title"); err != nil {
		t.Fatal(err)
	}
	if !db.Migrator().HasColumn(&Account{}, "title") || db.Migrator().HasColumn(&Account{}, "name") {
		t.Error("name was not renamed to title")
	}
}

func TestRebuildRefusesBrokenForeignKeys(t *testing.T) {
	db, _ := open(t)
	seedAccounts(t, db)

	// Notes refer to accounts, but the table was made without the foreign
	// key, and one note's account does not exist.
	type Note struct {
		ID        uint
		AccountID uint
		Account   Account
		Text      string
	}
	nofk := db.Session(&gorm.Session{})
	nofk.Config.DisableForeignKeyConstraintWhenMigrating = true
	if err := nofk.AutoMigrate(&Note{}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "INSERT INTO notes (account_id, text) VALUES (1, 'fine'), (99, 'orphan')")

	err := db.Migrator().CreateConstraint(&Note{}, "Account")
	if err == nil {
		t.Fatal("adding a foreign key that a row breaks succeeded")
	}
	if !strings.Contains(err.Error(), "foreign key") {
		t.Errorf("error %q does not say a foreign key is broken", err)
	}
	if db.Migrator().HasConstraint(&Note{}, "Account") {
		t.Error("the failed rebuild left the constraint in place")
	}
	if n := count(t, db, "SELECT count(*) FROM notes"); n != 2 {
		t.Errorf("%d notes after the failed rebuild, want 2", n)
	}
	for i, on := range foreignKeysOnAll(t, db) {
		if !on {
			t.Errorf("connection %d has foreign keys off after a failed rebuild", i)
		}
	}

	// Without the orphan, it works.
	mustExec(t, db, "DELETE FROM notes WHERE account_id = 99")
	if err := db.Migrator().CreateConstraint(&Note{}, "Account"); err != nil {
		t.Fatal(err)
	}
	if !db.Migrator().HasConstraint(&Note{}, "Account") {
		t.Error("no foreign key after CreateConstraint")
	}
	if err := db.Create(&Note{AccountID: 42}).Error; !errors.Is(err, gorm.ErrForeignKeyViolated) {
		t.Errorf("a note for a missing account: %v, want gorm.ErrForeignKeyViolated", err)
	}

	// An invoice that lost its account before the change (written with
	// foreign keys off) does not stop a change that breaks nothing.
	err = db.Connection(func(c *gorm.DB) error {
		return errors.Join(c.Exec("PRAGMA foreign_keys = OFF").Error,
			c.Exec("INSERT INTO invoices (account_id, total) VALUES (404, 1)").Error,
			c.Exec("PRAGMA foreign_keys = ON").Error)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Errorf("a change that breaks no foreign key, with an older orphan: %v", err)
	}
	if n := count(t, db, "SELECT count(*) FROM invoices WHERE account_id = 404"); n != 1 {
		t.Errorf("the orphan invoice is gone (%d)", n)
	}
}

func TestAlterColumnFailureChangesNothing(t *testing.T) {
	db, _ := open(t)
	seedAccounts(t, db)
	mustExec(t, db, "UPDATE accounts SET name = NULL WHERE id = 2")

	// NOT NULL cannot hold: the copy fails and the rebuild rolls back.
	if err := db.Migrator().AlterColumn(&accountV2{}, "Name"); err == nil {
		t.Fatal("making a column with a NULL NOT NULL succeeded")
	}
	cols, err := db.Migrator().ColumnTypes(&Account{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if c.Name() == "name" {
			if nullable, _ := c.Nullable(); !nullable {
				t.Error("name became NOT NULL although the rebuild failed")
			}
		}
	}
	if n := count(t, db, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '_gormql_new_%'"); n != 0 {
		t.Error("the failed rebuild left its new table behind")
	}
	mustExec(t, db, "UPDATE accounts SET name = 'bob' WHERE id = 2")
	checkAccounts(t, db)
}

func TestRebuildInTransaction(t *testing.T) {
	db, _ := open(t)
	seedAccounts(t, db)

	// Inside a transaction foreign keys cannot be turned off: rebuilding a
	// table that others reference is refused, and nothing is lost.
	err := db.Transaction(func(tx *gorm.DB) error {
		return tx.Migrator().AlterColumn(&accountV2{}, "Name")
	})
	if err == nil || !strings.Contains(err.Error(), "invoices") {
		t.Fatalf("rebuilding a referenced table in a transaction: %v, want a refusal naming invoices", err)
	}
	if n := count(t, db, "SELECT count(*) FROM invoices"); n != 12 {
		t.Fatalf("%d invoices after the refusal, want 12", n)
	}

	// A table nothing references can be rebuilt there, and the rebuild is
	// undone with the transaction.
	type invoiceV2 struct {
		ID        uint
		AccountID uint
		Total     float64 `gorm:"not null;default:0"`
	}
	tx := db.Table("invoices").Begin()
	if err := tx.Migrator().AlterColumn(&invoiceV2{}, "Total"); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Rollback().Error; err != nil {
		t.Fatal(err)
	}
	cols, err := db.Migrator().ColumnTypes(&Invoice{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if c.Name() == "total" {
			if nullable, _ := c.Nullable(); !nullable {
				t.Error("the rolled-back rebuild stuck")
			}
		}
	}
	checkAccounts(t, db)
}

func TestRebuildOnGivenConnection(t *testing.T) {
	db, _ := open(t)
	seedAccounts(t, db)
	err := db.Connection(func(conn *gorm.DB) error {
		if err := conn.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
			return err
		}
		var on bool
		if err := conn.Raw("PRAGMA foreign_keys").Row().Scan(&on); err != nil {
			return err
		}
		if !on {
			t.Error("foreign keys are off on the connection after the rebuild")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, db)
}

func TestRebuildWithPreparedStatements(t *testing.T) {
	db, _ := openWith(t, gormql.Config{}, &gorm.Config{PrepareStmt: true})
	seedAccounts(t, db)
	if err := db.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Fatal(err)
	}
	checkAccounts(t, db)
	err := db.Transaction(func(tx *gorm.DB) error {
		return tx.Table("invoices").Migrator().AlterColumn(&struct {
			ID    uint
			Total float64 `gorm:"not null;default:0"`
		}{}, "Total")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A rebuild's statements run under Config.MigrateTimeout, not qlsqlite's
// short default deadline, when the caller's context has no deadline.
func TestRebuildDeadline(t *testing.T) {
	db, log := openWith(t, gormql.Config{MigrateTimeout: 7 * time.Hour}, &gorm.Config{})
	seedAccounts(t, db)
	log.take()
	start := time.Now()
	if err := db.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Fatal(err)
	}
	stmts, deadlines := log.takeDeadlines()
	checked := 0
	for i, s := range stmts {
		if strings.HasPrefix(s, "PRAGMA foreign_keys = ON") {
			break // cleaning up has a deadline of its own
		}
		checked++
		if deadlines[i].Before(start.Add(6 * time.Hour)) {
			t.Errorf("%s ran with deadline %v, want MigrateTimeout's", s, deadlines[i])
		}
	}
	if checked < 10 {
		t.Errorf("only %d statements before the cleanup:\n%s", checked, strings.Join(stmts, "\n"))
	}

	// A caller's own deadline wins.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.WithContext(ctx).Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Fatal(err)
	}
	want, _ := ctx.Deadline()
	stmts, deadlines = log.takeDeadlines()
	for i, s := range stmts {
		if strings.HasPrefix(s, "CREATE TABLE") && !deadlines[i].Equal(want) {
			t.Errorf("%s ran with deadline %v, want the caller's %v", s, deadlines[i], want)
		}
	}
}

func TestAddUniqueColumn(t *testing.T) {
	db, log := open(t)
	seedAccounts(t, db)
	type accountV4 struct {
		ID    uint
		Name  string `gorm:"index"`
		Code  string `gorm:"unique"`
		Email string `gorm:"unique"`
	}
	v4 := db.Table("accounts")
	if err := v4.AutoMigrate(&accountV4{}); err != nil {
		t.Fatal(err)
	}
	if !v4.Migrator().HasConstraint(&accountV4{}, "uni_accounts_email") {
		t.Error("the new unique column has no unique constraint")
	}
	log.take()
	if err := v4.AutoMigrate(&accountV4{}); err != nil {
		t.Fatal(err)
	}
	if w := writes(log.take()); len(w) > 0 {
		t.Errorf("the second AutoMigrate wrote:\n%s", strings.Join(w, "\n"))
	}
	mustExec(t, db, "UPDATE accounts SET email = name")
	if err := db.Exec("UPDATE accounts SET email = 'same'").Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
		t.Errorf("duplicate emails: %v", err)
	}
	checkAccounts(t, db)
}

func TestDropTableKeepsOtherTablesRows(t *testing.T) {
	// The hazard, shown with plain SQL: with foreign keys on, SQLite
	// empties a parent table before dropping it, and the cascade takes the
	// child table's rows with it.
	plain, _ := open(t)
	seedAccounts(t, plain)
	mustExec(t, plain, "DROP TABLE accounts")
	if n := count(t, plain, "SELECT count(*) FROM invoices"); n != 0 {
		t.Fatalf("plain DROP TABLE left %d invoices: the hazard is not there to guard against", n)
	}

	db, _ := open(t)
	seedAccounts(t, db)
	if err := db.Migrator().DropTable(&Account{}); err != nil {
		t.Fatal(err)
	}
	if db.Migrator().HasTable(&Account{}) {
		t.Error("accounts is still there")
	}
	if n := count(t, db, "SELECT count(*) FROM invoices"); n != 12 {
		t.Errorf("%d invoices after dropping accounts, want all 12", n)
	}
	for i, on := range foreignKeysOnAll(t, db) {
		if !on {
			t.Errorf("connection %d went back to the pool with foreign keys off", i)
		}
	}

	// Dropping both, in either order, drops the child first.
	if err := db.AutoMigrate(&Account{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrator().DropTable(&Account{}, &Invoice{}); err != nil {
		t.Fatal(err)
	}
	if tables, _ := db.Migrator().GetTables(); len(tables) != 0 {
		t.Errorf("tables left: %v", tables)
	}

	// In a transaction, dropping a referenced table alone is refused.
	seedAccounts(t, db)
	err := db.Transaction(func(tx *gorm.DB) error { return tx.Migrator().DropTable(&Account{}) })
	if err == nil || !strings.Contains(err.Error(), "invoices") {
		t.Errorf("dropping a referenced table in a transaction: %v", err)
	}
	err = db.Transaction(func(tx *gorm.DB) error { return tx.Migrator().DropTable(&Invoice{}, &Account{}) })
	if err != nil {
		t.Errorf("dropping parent and child in a transaction: %v", err)
	}
}

func TestRebuildDryRun(t *testing.T) {
	db, log := open(t)
	seedAccounts(t, db)
	log.take()
	dry := db.Session(&gorm.Session{DryRun: true})
	if err := dry.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Fatal(err)
	}
	stmts := log.take()
	if !slices.ContainsFunc(stmts, func(s string) bool { return strings.HasPrefix(s, `CREATE TABLE "_gormql_new_accounts"`) }) {
		t.Errorf("the dry run did not show the rebuild:\n%s", strings.Join(stmts, "\n"))
	}
	cols, err := db.Migrator().ColumnTypes(&Account{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if _, ok := c.DefaultValue(); c.Name() == "name" && ok {
			t.Error("the dry run changed the table")
		}
	}
}

func TestRebuildKeepsViewsAndTriggers(t *testing.T) {
	db, _ := open(t)
	seedAccounts(t, db)
	if err := db.Migrator().CreateView("big_invoices", gorm.ViewOption{
		Query: db.Model(&Invoice{}).Select("account_id, total").Where("total > ?", 20),
	}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `CREATE VIEW account_names AS SELECT name FROM accounts`)
	mustExec(t, db, `CREATE TABLE audit (what TEXT)`)
	mustExec(t, db, `CREATE TRIGGER account_added AFTER INSERT ON accounts BEGIN INSERT INTO audit VALUES (new.name); END`)

	if err := db.Migrator().AlterColumn(&accountV2{}, "Name"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "SELECT count(*) FROM big_invoices"); n != 3 { // 21, 22, 23
		t.Errorf("big_invoices has %d rows, want 3", n)
	}
	if n := count(t, db, "SELECT count(*) FROM account_names"); n != 3 {
		t.Errorf("account_names has %d rows, want 3", n)
	}
	mustExec(t, db, "INSERT INTO accounts (name, code) VALUES ('fay', 'fay-code')")
	if n := count(t, db, "SELECT count(*) FROM audit WHERE what = 'fay'"); n != 1 {
		t.Error("the trigger on accounts did not survive the rebuild")
	}

	// Dropping a column a view reads would break the view: refused.
	if err := db.Migrator().DropColumn(&Account{}, "Name"); err == nil || !strings.Contains(err.Error(), "account_names") {
		t.Errorf("dropping a column a view reads: %v, want an error naming the view", err)
	}
	if !db.Migrator().HasColumn(&Account{}, "Name") {
		t.Error("name was dropped although its view broke")
	}
}

// accountVarchar and accountText declare the type of accounts.name, and so
// does accountNocase, through its field type's GormDBDataType; Account
// leaves it to the dialector (text).
type accountVarchar struct {
	ID   uint
	Name string `gorm:"index;type:varchar(40)"`
	Code string `gorm:"unique"`
}

func (accountVarchar) TableName() string { return "accounts" }

type accountText struct {
	ID   uint
	Name string `gorm:"index;type:text"`
	Code string `gorm:"unique"`
}

func (accountText) TableName() string { return "accounts" }

type accountNocase struct {
	ID   uint
	Name nocaseName `gorm:"index"`
	Code string     `gorm:"unique"`
}

func (accountNocase) TableName() string { return "accounts" }

// nocaseName is a string whose column type its GormDBDataType writes out.
type nocaseName string

// GormDBDataType implements GORM's GormDBDataTypeInterface.
func (nocaseName) GormDBDataType(*gorm.DB, *schema.Field) string { return "text collate nocase" }

// A type the model writes out is the column's declared type: changing it
// rebuilds the table once, keeping its rows and the rows that reference it
// (ON DELETE CASCADE). A type left to the dialector is met by any name
// SQLite stores the same way. Each AutoMigrate of an unchanged model writes
// nothing.
func TestDeclaredTypeChange(t *testing.T) {
	db, log := open(t)
	seedAccounts(t, db)
	nameType := func() string {
		t.Helper()
		cols, err := db.Migrator().ColumnTypes(&Account{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cols {
			if c.Name() == "name" {
				typ, _ := c.ColumnType()
				return typ
			}
		}
		t.Fatal("no column name")
		return ""
	}
	steps := []struct {
		model    any
		rebuilds int
		typ      string
	}{
		{&accountVarchar{}, 1, "varchar(40)"}, // text declared varchar(40)
		{&accountVarchar{}, 0, "varchar(40)"},
		{&Account{}, 0, "varchar(40)"}, // a string field: varchar is SQLite's text
		{&accountText{}, 1, "text"},    // varchar(40) declared text
		{&accountText{}, 0, "text"},
		{&Account{}, 0, "text"},
		{&accountVarchar{}, 1, "varchar(40)"},
		{&accountNocase{}, 1, "text"}, // varchar(40) declared by GormDBDataType
		{&accountNocase{}, 0, "text"},
	}
	log.take()
	for i, s := range steps {
		if err := db.AutoMigrate(s.model); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		stmts := log.take()
		if n := accountsRebuilds(stmts); n != s.rebuilds {
			t.Errorf("step %d, AutoMigrate(%T): %d rebuilds, want %d:\n%s", i, s.model, n, s.rebuilds, strings.Join(stmts, "\n"))
		}
		if s.rebuilds == 0 {
			if w := writes(stmts); len(w) > 0 {
				t.Errorf("step %d, AutoMigrate(%T) of an unchanged model wrote:\n%s", i, s.model, strings.Join(w, "\n"))
			}
		}
		if typ := nameType(); !strings.EqualFold(typ, s.typ) { // SQLite writes TEXT, its own name, in capitals
			t.Errorf("step %d, AutoMigrate(%T): name is %s, want %s", i, s.model, typ, s.typ)
		}
		log.take()
	}
	checkAccounts(t, db)
}

// accountsRebuilds counts the rebuilds of accounts among stmts.
func accountsRebuilds(stmts []string) int {
	n := 0
	for _, s := range stmts {
		if strings.HasPrefix(s, `CREATE TABLE "_gormql_new_accounts"`) {
			n++
		}
	}
	return n
}

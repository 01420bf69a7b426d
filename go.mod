module github.com/quantumleap/qlsqlite

go 1.26

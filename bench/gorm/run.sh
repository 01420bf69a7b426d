#!/usr/bin/env bash
# Compares GORM's SQLite dialectors in one process and prints the table:
# gormql (qlsqlite), gorm.io/driver/sqlite (mattn, cgo) and glebarez/sqlite
# (modernc), seven workloads, GORM's PrepareStmt off and on, interleaved
# rounds, medians and ratios to mattn.
#
#   bench/gorm/run.sh                                  # 5 rounds of 1 s per measurement
#   ROUNDS=9 bench/gorm/run.sh -workloads first,find20
#   bench/gorm/run.sh -dialectors gormql -prepare off -cpuprofile cpu.out
#
# Arguments go to the program (bench/gorm/main.go; -h lists them). It needs
# cgo (a C compiler) for mattn/go-sqlite3, which is built to register as
# "mattn": its default name, "sqlite3", is ncruces's too, and database/sql
# panics when a name is registered twice. The table also goes to
# bench/gorm/results/<date>.txt.
set -euo pipefail
cd "$(dirname "$0")"

bin=$(mktemp -d)/gormbench
mkdir -p results
out=results/$(date -u +%Y%m%dT%H%M%SZ).txt
trap 'rm -rf "$(dirname "$bin")"; [ -s "$out" ] || rm -f "$out"' EXIT
CGO_ENABLED=1 go build -ldflags '-X github.com/mattn/go-sqlite3.driverName=mattn' -o "$bin" .

"$bin" -rounds "${ROUNDS:-5}" -benchtime "${BENCHTIME:-1s}" "$@" | tee "$out"
echo "(also in bench/gorm/$out)" >&2

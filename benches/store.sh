#!/usr/bin/env bash
# Issue 17: storing decisions against the offline core, in one run.
#
#   bash benches/store.sh                  # 100k claims, this tree's release binary
#   BASE=path/to/old/priorauth bash benches/store.sh   # + the same figures for another binary
#   PERF_BIG=1 bash benches/store.sh       # + 1M claims stored on SQLite
#   NEW=path/to/priorauth bash benches/store.sh        # that binary instead of building one
#
# For each binary it prints, beside the offline run of the same file:
#   - `adjudicate --auths A --format ndjson F` (offline: parse, decide, write);
#   - `adjudicate --db sqlite://… --commit --format ndjson F` and the same on
#     PostgreSQL (the authorizations imported first, not timed here);
#   - bytes per stored claim: growth of the database over the commit run
#     divided by the claims (SQLite: file size after the closing checkpoint;
#     PostgreSQL: pg_database_size), so the authorizations are not counted;
#   - `import auths` of a 1M-row CSV (made here) into a fresh database;
#   - peak RSS of each process (GNU time's %M).
# Knobs: N (claims, default 100000), PERF_DIR (inputs, default
# /tmp/priorauth-perf), PRIORAUTH_TEST_PG (PostgreSQL server URL),
# SKIP_PG=1, AUTHS_BIG (rows of the import CSV, default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
PG=${PRIORAUTH_TEST_PG:-postgres://postgres@127.0.0.1:5432}
AUTHS_BIG=${AUTHS_BIG:-1000000}
SHARED=${SHARED:-../shared}
mkdir -p "$PERF_DIR"
say() { echo "== $*" >&2; }

if [ -z "${NEW:-}" ]; then
  cargo build --release --bin priorauth >&2
  NEW=${CARGO_TARGET_DIR:-target}/release/priorauth
fi

F=$PERF_DIR/p$N.x12
A=$PERF_DIR/p$N-auths.csv
BIG=$PERF_DIR/auths-$AUTHS_BIG.csv
[ -s "$F" ] || { say "generating $F"; python3 "$SHARED/peers/gen837.py" "$N" "$F" --seed 1; }
[ -s "$A" ] || { say "writing $A"; "$NEW" parse "$F" | python3 benches/mkauths.py >"$A"; }
[ -s "$BIG" ] || {
  say "writing $BIG"
  python3 benches/mkbigauths.py "$AUTHS_BIG" >"$BIG"
}
BYTES=$(stat -c %s "$F")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run LABEL CMD...: wall seconds and peak RSS (MB) of CMD, stdout discarded.
run() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    echo "$label failed:" >&2; cat "$TMP/err" >&2; exit 1; }
  read -r SECS RSS_KB <"$TMP/time"
  RSS=$((RSS_KB / 1024))
}
pgdb() { # fresh database NAME on the server: prints its URL
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "$PG/$1"
}
pgsize() { psql -qtA "$PG/$1" -c "SELECT pg_database_size(current_database())"; }
row() { # what binary secs offline_secs bytes_per_claim rss
  awk -v what="$1" -v bin="$2" -v s="$3" -v off="$4" -v bpc="$5" -v rss="$6" -v n="$N" -v bytes="$BYTES" 'BEGIN {
    ratio = off > 0 ? sprintf("%.2fx", s / off) : "-";
    printf "| %s | %s | %.2f | %s | %.1f | %.0f | %s | %s |\n", what, bin, s, ratio, bytes / 1e6 / s, n / s, bpc, rss }'
}

echo "| what | binary | seconds | × offline | MB/s | claims/s | bytes/claim | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for pair in "new:$NEW" ${BASE:+"base:$BASE"}; do
  name=${pair%%:*}; bin=${pair#*:}
  run offline "$bin" adjudicate --auths "$A" --format ndjson "$F"
  OFF=$SECS
  row "offline, $N claims" "$name" "$SECS" 0 - "$RSS"

  db=$TMP/$name.db
  "$bin" import auths "$A" --database "sqlite://$db" >/dev/null
  before=$(stat -c %s "$db")
  run sqlite "$bin" adjudicate --db "sqlite://$db" --commit --format ndjson "$F"
  after=$(stat -c %s "$db")
  row "stored, SQLite, $N claims" "$name" "$SECS" "$OFF" $(((after - before) / N)) "$RSS"

  if [ -z "${SKIP_PG:-}" ]; then
    url=$(pgdb "priorauth_bench_$name")
    "$bin" import auths "$A" --database "$url" >/dev/null
    before=$(pgsize "priorauth_bench_$name")
    lsn=$(psql -qtA "$url" -c "SELECT pg_current_wal_lsn()")
    run postgres "$bin" adjudicate --db "$url" --commit --format ndjson "$F"
    after=$(pgsize "priorauth_bench_$name")
    wal=$(psql -qtA "$url" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn')::bigint")
    row "stored, PostgreSQL, $N claims" "$name" "$SECS" "$OFF" $(((after - before) / N)) "$RSS"
    # Where a stored claim's bytes are (tables and indexes, TOAST
    # included), and the WAL the commit run wrote (the whole server's).
    psql -qtA -F ' ' "$url" -c "SELECT c.relname, (CASE WHEN c.relkind = 'r' THEN pg_table_size(c.oid) ELSE pg_relation_size(c.oid) END) / $N FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') AND c.relname ~ '^(claims|line_decisions|consumption_ledger)' ORDER BY 2 DESC" |
      awk -v bin="$name" -v wal="$wal" -v n="$N" '{ printf "| PostgreSQL bytes/claim: %s | %s | | | | | %s | |\n", $1, bin, $2 } END { printf "| PostgreSQL WAL written per claim | %s | | | | | %d | |\n", bin, wal / n }' >>"$TMP/pg-detail"
  fi

  run import "$bin" import auths "$BIG" --database "sqlite://$TMP/$name-auths.db"
  awk -v s="$SECS" -v r="$AUTHS_BIG" -v rss="$RSS" -v bin="$name" 'BEGIN {
    printf "| import auths, %d rows, SQLite | %s | %.2f | - | - | %.0f rows/s | - | %s |\n", r, bin, s, r / s, rss }'

  if [ -n "${PERF_BIG:-}" ]; then
    F1=$PERF_DIR/p1m.x12
    A1=$PERF_DIR/p1m-auths.csv
    [ -s "$F1" ] || python3 "$SHARED/peers/gen837.py" 1000000 "$F1" --seed 1
    [ -s "$A1" ] || "$NEW" parse "$F1" | python3 benches/mkauths.py >"$A1"
    run offline1m "$bin" adjudicate --auths "$A1" --format ndjson "$F1"
    OFF1=$SECS
    db=$TMP/$name-1m.db
    "$bin" import auths "$A1" --database "sqlite://$db" >/dev/null
    before=$(stat -c %s "$db")
    run sqlite1m "$bin" adjudicate --db "sqlite://$db" --commit --format ndjson "$F1"
    after=$(stat -c %s "$db")
    N_SAVE=$N; N=1000000; BYTES_SAVE=$BYTES; BYTES=$(stat -c %s "$F1")
    row "offline, 1M claims" "$name" "$OFF1" 0 - "-"
    row "stored, SQLite, 1M claims" "$name" "$SECS" "$OFF1" $(((after - before) / N)) "$RSS"
    N=$N_SAVE; BYTES=$BYTES_SAVE
    rm -f "$db"*
  fi
  rm -f "$TMP"/*.db*
done
[ -s "$TMP/pg-detail" ] && cat "$TMP/pg-detail"
exit 0

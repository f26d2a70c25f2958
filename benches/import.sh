#!/usr/bin/env bash
# Issue 17, point 1: `import auths` of a 1M-row CSV, new binary beside a
# baseline binary, run alternately (this kind of VM has noisy neighbours).
#
#   BASE=path/to/old/priorauth bash benches/import.sh
#   NEW=path/to/priorauth BASE=… RUNS=5 bash benches/import.sh
#
# For each binary and store it prints the median wall seconds, CPU seconds
# of the process (user + system: what a loaded machine inflates least) and
# peak RSS (GNU time's %M) of RUNS runs of:
#   - `import auths BIG.csv` into a fresh database (1M new numbers);
#   - the same file again into that database (1M numbers replaced: the
#     upsert path, units used on file kept when higher).
# The offline baseline of an import is reading and checking the same file
# without a store: `adjudicate --auths BIG.csv` of an empty 837 (the CSV
# read into the in-memory book), printed as the first rows.
# Knobs: ROWS (default 1000000), PERF_DIR (default /tmp/priorauth-perf),
# PRIORAUTH_TEST_PG (PostgreSQL server URL), SKIP_PG=1, RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-3}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
PG=${PRIORAUTH_TEST_PG:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$PERF_DIR"
if [ -z "${NEW:-}" ]; then
  cargo build --release --bin priorauth >&2
  NEW=${CARGO_TARGET_DIR:-target}/release/priorauth
fi
BIG=$PERF_DIR/auths-$ROWS.csv
[ -s "$BIG" ] || {
  echo "== writing $BIG" >&2
  python3 benches/mkbigauths.py "$ROWS" >"$BIG"
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# An 837 with no claims: the offline run is the CSV read alone.
printf 'ISA*00*          *00*          *ZZ*S              *ZZ*R              *260101*1200*^*00501*000000001*0*P*:~IEA*0*000000001~' >"$TMP/empty.x12"

# timed KEY CMD...: appends "secs rss_mb cpu_secs" of CMD to $TMP/KEY.
timed() {
  local key=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$TMP/time" "$@" >/dev/null 2>"$TMP/err" || {
    echo "$key failed:" >&2; cat "$TMP/err" >&2; exit 1; }
  awk '{ printf "%s %d %.2f\n", $1, $2 / 1024, $3 + $4 }' "$TMP/time" >>"$TMP/$key"
}
pgdb() {
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "$PG/$1"
}
for run in $(seq "$RUNS"); do
  for pair in "new:$NEW" ${BASE:+"base:$BASE"}; do
    name=${pair%%:*}; bin=${pair#*:}
    echo "== run $run, $name" >&2
    timed "$name-offline" "$bin" adjudicate --auths "$BIG" --format ndjson "$TMP/empty.x12"
    db=$TMP/$name.db
    rm -f "$db"*
    timed "$name-sqlite" "$bin" import auths "$BIG" --database "sqlite://$db"
    timed "$name-sqlite-again" "$bin" import auths "$BIG" --database "sqlite://$db"
    rm -f "$db"*
    if [ -z "${SKIP_PG:-}" ]; then
      url=$(pgdb "priorauth_import_$name")
      timed "$name-pg" "$bin" import auths "$BIG" --database "$url"
      timed "$name-pg-again" "$bin" import auths "$BIG" --database "$url"
      psql -q "$PG/postgres" -c "DROP DATABASE priorauth_import_$name" >/dev/null
    fi
  done
done

# median KEY: "secs rss cpu" medians of the runs in $TMP/KEY.
median() {
  local k
  for k in 1 2 3; do
    sort -n -k$k "$TMP/$1" | awk -v k=$k '{ v[NR] = $k } END { printf "%s ", v[int((NR + 1) / 2)] }'
  done
  echo
}
echo "| import of $ROWS rows | binary | median wall s (of $RUNS) | × offline | rows/s | CPU s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for name in new ${BASE:+base}; do
  read -r off _ _ < <(median "$name-offline")
  for what in offline sqlite sqlite-again pg pg-again; do
    [ -s "$TMP/$name-$what" ] || continue
    read -r secs rss cpu < <(median "$name-$what")
    case $what in
      offline) label="offline: adjudicate --auths, an empty 837 (CSV read, checked, book built)" ;;
      sqlite) label="SQLite, fresh database" ;;
      sqlite-again) label="SQLite, same file again (all replaced)" ;;
      pg) label="PostgreSQL, fresh database" ;;
      pg-again) label="PostgreSQL, same file again (all replaced)" ;;
    esac
    awk -v l="$label" -v b="$name" -v s="$secs" -v off="$off" -v r="$ROWS" -v rss="$rss" -v cpu="$cpu" -v what="$what" 'BEGIN {
      ratio = what == "offline" ? "-" : sprintf("%.2fx", s / off);
      printf "| %s | %s | %.2f | %s | %.0f | %.2f | %s |\n", l, b, s, ratio, r / s, cpu, rss }'
  done
done

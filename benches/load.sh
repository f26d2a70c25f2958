#!/usr/bin/env bash
# The claims service under load, on loopback, on SQLite and PostgreSQL:
#  1. single-claim submissions (POST /v1/claims, 2 lines, 1 needing PA, citing
#     one of 1000 authorizations) at a fixed rate: throughput and
#     p50/p90/p99/max latency (benches/loadgen.rs);
#  2. a 100k-claim batch end to end (POST /v1/batches until state done):
#     seconds, claims/s, MB/s and the server's peak RSS.
#
# usage: benches/load.sh
#   RATE=1000 SECONDS_=20 CONNECTIONS=32   the fixed-rate run
#   BACKENDS="sqlite postgres"             which stores
#   PG=postgres://postgres@127.0.0.1:5432  PostgreSQL server (a database is created and dropped)
#   PERF_DIR=/tmp/priorauth-perf           generated files and logs (shared with perf.sh)
#   SHARED=../shared                       where gen837.py lives
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-1000}
SECONDS_=${SECONDS_:-20}
CONNECTIONS=${CONNECTIONS:-32}
BACKENDS=${BACKENDS:-sqlite postgres}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
SHARED=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/priorauth-target}
mkdir -p "$PERF_DIR/logs"
say() { printf '%s\n' "$*" >&2; }

say "building priorauth and the load generator (release)"
cargo build --release --quiet --bin priorauth
cargo bench --quiet --bench loadgen --no-run 2>/dev/null
PRIORAUTH=$CARGO_TARGET_DIR/release/priorauth

if [ ! -s "$PERF_DIR/p100k.x12" ]; then
  say "generating p100k.x12 (100k claims)"
  python3 "$SHARED/peers/gen837.py" 100000 "$PERF_DIR/p100k.x12.tmp" --seed 1
  mv "$PERF_DIR/p100k.x12.tmp" "$PERF_DIR/p100k.x12"
fi
if [ ! -s "$PERF_DIR/p100k-auths.csv" ]; then
  "$PRIORAUTH" parse "$PERF_DIR/p100k.x12" | python3 benches/mkauths.py >"$PERF_DIR/p100k-auths.csv"
fi
# The 1000 authorizations (of 1000 members) the load generator's claims cite
# (unlimited units).
LOAD_AUTH=$( echo "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status"
  for i in $(seq 0 999); do printf 'LA%06d,M%08d,1234567893,70551,,0,2026-01-01,2026-12-31,approved\n' "$i" "$i"; done )

SERVER_PID=
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
trap stop_server EXIT

# start_server URL: starts priorauth serve on a free port; sets BASE.
start_server() {
  local log=$PERF_DIR/logs/serve-$1.log
  PRIORAUTH_LOG=warn PRIORAUTH_DATA_DIR=$PERF_DIR/batches "$PRIORAUTH" serve --bind 127.0.0.1:0 --database "$2" >"$PERF_DIR/logs/serve.out" 2>"$log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    BASE=$(sed -n 's/^listening on //p' "$PERF_DIR/logs/serve.out" | head -1)
    [ -n "$BASE" ] && return 0
    sleep 0.1
  done
  say "server did not start:"; cat "$log" >&2; exit 1
}

ROWS=()
for backend in $BACKENDS; do
  case $backend in
    sqlite)
      rm -rf "$PERF_DIR/load-sqlite"; mkdir -p "$PERF_DIR/load-sqlite"
      URL="sqlite://$PERF_DIR/load-sqlite/priorauth.db" ;;
    postgres)
      psql "$PG/postgres" -qc 'DROP DATABASE IF EXISTS priorauth_load WITH (FORCE)' -c 'CREATE DATABASE priorauth_load' >/dev/null
      URL="$PG/priorauth_load" ;;
    *) say "unknown backend $backend"; exit 2 ;;
  esac
  # A payer-side intake client (the generated 100k file bills under many
  # NPIs) and its token; every call below carries it.
  creds=$("$PRIORAUTH" clients add --name "load test intake" --any-npi --scope claims:submit claims:read auths:write --json --database "$URL")
  start_server "$backend" "$URL"
  TOKEN=$(python3 -c 'import json,sys,urllib.request,urllib.parse
c=json.loads(sys.argv[1])
body=urllib.parse.urlencode({"grant_type":"client_credentials","client_id":c["client_id"],"client_secret":c["client_secret"]}).encode()
print(json.load(urllib.request.urlopen(sys.argv[2]+"/oauth/token",body))["access_token"])' "$creds" "$BASE")
  export PRIORAUTH_TOKEN=$TOKEN
  AUTH="Authorization: Bearer $TOKEN"
  curl -sf -X POST -H "$AUTH" -H 'Content-Type: text/csv' --data-binary "$LOAD_AUTH" "$BASE/v1/authorizations/import" >/dev/null
  curl -sf -X POST -H "$AUTH" -H 'Content-Type: text/csv' --data-binary @"$PERF_DIR/p100k-auths.csv" "$BASE/v1/authorizations/import" >/dev/null

  say "[$backend] warm-up, then $RATE req/s for ${SECONDS_}s over $CONNECTIONS connections"
  cargo bench --quiet --bench loadgen -- "$BASE" 200 2 8 fixtures/x12/load-single.x12 >/dev/null
  line=$(cargo bench --quiet --bench loadgen -- "$BASE" "$RATE" "$SECONDS_" "$CONNECTIONS" fixtures/x12/load-single.x12)
  say "  $line"
  ROWS+=("| $backend | POST /v1/claims at $RATE/s | $line |")

  say "[$backend] 100k-claim batch"
  bytes=$(stat -c %s "$PERF_DIR/p100k.x12")
  t0=$(date +%s.%N)
  id=$(curl -sf -X POST -H "$AUTH" -H 'Content-Type: application/edi-x12' --data-binary @"$PERF_DIR/p100k.x12" "$BASE/v1/batches" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    state=$(curl -sf -H "$AUTH" "$BASE/v1/batches/$id" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["state"], b["claims_done"], b["claims_total"])')
    case $state in done*|failed*) break ;; esac
    sleep 0.05
  done
  t1=$(date +%s.%N)
  rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' /proc/$SERVER_PID/status)
  results=$(curl -sf -H "$AUTH" "$BASE/v1/batches/$id/results" | wc -l)
  secs=$(echo "$t1 - $t0" | bc -l)
  line=$(printf 'state=%s seconds=%.2f claims/s=%.0f MB/s=%.1f results=%s peak_rss_mb=%s' \
    "$state" "$secs" "$(echo "100000 / $secs" | bc -l)" "$(echo "$bytes / 1000000 / $secs" | bc -l)" "$results" "$rss")
  say "  $line"
  ROWS+=("| $backend | 100k-claim batch ($((bytes / 1000000)) MB) | $line |")
  stop_server
done

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "priorauth $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| store | load | result |"
  echo "|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$PERF_DIR/load-results.md"

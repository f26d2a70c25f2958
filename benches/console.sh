#!/usr/bin/env bash
# Server time of every console page and the claim search with many stored
# claims (issue 16: p95 <= 50 ms at volume), on SQLite and PostgreSQL.
#
# usage: benches/console.sh
#   CLAIMS=100000          claims generated (gen837.py --seed 1) and stored
#   REQS=40                requests per page (after 3 warm-up requests)
#   STORES="sqlite postgres"
#   PG=postgres://postgres@127.0.0.1:5432   server for the PostgreSQL run
#   BENCH_DIR=/tmp/priorauth-console-bench  files, databases, logs
#   SHARED=../shared       where peers/gen837.py is
#   PRIORAUTH=path         a built binary (default: cargo build --release)
#   NO_AUTHS=1             store without authorizations (every PA line
#                          denied): mkauths.py reads the whole file's JSON,
#                          too much memory at 1M claims
#
# For each store: a fresh database; the file's authorizations (mkauths.py:
# 3 of 4 cited numbers on file) and claims stored with `priorauth
# adjudicate --database URL --auths A.csv --commit`; then `priorauth serve`
# on a free loopback port with JSON logs, a staff user signed in through
# the console, and benches/console_pages.py timing each page from the
# server's own per-request log line (latency_us). On PostgreSQL the
# statistics are gathered (ANALYZE) after the load, as autovacuum does on a
# live server. Databases are kept in
# $BENCH_DIR and reused when CLAIMS has not changed (delete them to start
# over). Requests go to 127.0.0.1 only, one at a time, a bounded count.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLAIMS=${CLAIMS:-100000}
REQS=${REQS:-40}
STORES=${STORES:-sqlite postgres}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BENCH_DIR=${BENCH_DIR:-/tmp/priorauth-console-bench}
SHARED=${SHARED:-../shared}
mkdir -p "$BENCH_DIR"
say() { printf '%s\n' "$*" >&2; }

if [ -z "${PRIORAUTH:-}" ]; then
  say "building priorauth --release"
  cargo build --release --quiet --bin priorauth
  PRIORAUTH=${CARGO_TARGET_DIR:-$ROOT/target}/release/priorauth
fi
FILE=$BENCH_DIR/claims-$CLAIMS.x12
AUTHS=$BENCH_DIR/auths-$CLAIMS.csv
if [ ! -s "$FILE" ]; then
  say "generating $CLAIMS claims"
  python3 "$SHARED/peers/gen837.py" "$CLAIMS" "$FILE.tmp" --seed 1
  mv "$FILE.tmp" "$FILE"
fi
if [ "${NO_AUTHS:-0}" = 1 ]; then
  AUTHS=$BENCH_DIR/no-auths.csv
  echo "number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status" >"$AUTHS"
elif [ ! -s "$AUTHS" ]; then
  "$PRIORAUTH" parse "$FILE" | python3 benches/mkauths.py >"$AUTHS.tmp"
  mv "$AUTHS.tmp" "$AUTHS"
fi

for store in $STORES; do
  dir=$BENCH_DIR/$store-$CLAIMS
  mkdir -p "$dir"
  case $store in
    sqlite) url="sqlite://$dir/priorauth.db" ;;
    postgres)
      name="priorauth_console_bench_$CLAIMS"
      url="$PG/$name" ;;
    *) say "unknown store $store"; exit 2 ;;
  esac
  if [ ! -e "$dir/stored" ]; then
    if [ "$store" = postgres ]; then
      psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    else
      rm -f "$dir"/priorauth.db*
    fi
    say "$store: storing $CLAIMS claims"
    start=$(date +%s.%N)
    "$PRIORAUTH" adjudicate --database "$url" --auths "$AUTHS" --commit --format ndjson "$FILE" >/dev/null
    end=$(date +%s.%N)
    printf '%s: stored %s claims in %.1f s\n' "$store" "$CLAIMS" "$(echo "$end - $start" | bc)" | tee "$dir/store-time" >&2
    # PostgreSQL plans from statistics, which autovacuum gathers in a
    # while on a live server; gathered now, as it would have by then.
    [ "$store" = postgres ] && psql "$url" -qc ANALYZE
    password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    printf '%s' "$password" >"$dir/password"
    printf '%s' "$password" | "$PRIORAUTH" users add --database "$url" --username bench \
      --role claims:read claims:submit rules:write auths:write admin --password-stdin >/dev/null
    "$PRIORAUTH" clients add --database "$url" --name "console bench reader" --scope claims:read --json >"$dir/client.json"
    touch "$dir/stored"
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log=$dir/serve.log
  : >"$log"
  PRIORAUTH_LOG_FORMAT=json PRIORAUTH_LOG=info PRIORAUTH_DATA_DIR=$dir \
    "$PRIORAUTH" serve --database "$url" --bind "127.0.0.1:$port" >>"$log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  base=http://127.0.0.1:$port
  for _ in $(seq 1 100); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$dir/client.json")
  secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$dir/client.json")
  token=$(curl -sf -u "$id:$secret" -d grant_type=client_credentials "$base/oauth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  echo
  echo "## $store, $CLAIMS claims stored ($(cat "$dir/store-time" | sed 's/.*in //'))"
  echo
  python3 benches/console_pages.py "$base" "$log" bench "$(cat "$dir/password")" "$token" "$REQS"
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  trap - EXIT
done

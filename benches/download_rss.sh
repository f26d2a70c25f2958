#!/usr/bin/env bash
# Peak RSS of `priorauth serve` while clients download a stored batch's
# results at once (issue 15 point 3: memory independent of batch size).
# For each size it stores a batch (POST /v1/batches until done; the server's
# peak and held RSS are reported), restarts the server, then runs
# $DOWNLOADS concurrent downloads of its 835 and then of its NDJSON, each to
# /dev/null, and reports the server's RSS before, its peak during (VmHWM,
# reset through /proc/PID/clear_refs before each round) and after, with the
# bytes and seconds of each round.
#
# usage: benches/download_rss.sh
#   SIZES="100000 300000 1000000"          batch sizes (claims), files from gen837.py --seed 1
#   DOWNLOADS=4                            concurrent downloads per round
#   BACKEND=sqlite                         or postgres (PG=postgres://postgres@127.0.0.1:5432)
#   PERF_DIR=/tmp/priorauth-perf           generated files and logs (shared with perf.sh)
#   SHARED=../shared                       where gen837.py lives
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-100000 300000 1000000}
DOWNLOADS=${DOWNLOADS:-4}
BACKEND=${BACKEND:-sqlite}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
SHARED=${SHARED:-../shared}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/priorauth-target}
mkdir -p "$PERF_DIR/logs"
say() { printf '%s\n' "$*" >&2; }

say "building priorauth (release)"
cargo build --release --quiet --bin priorauth
PRIORAUTH=$CARGO_TARGET_DIR/release/priorauth

SERVER_PID=
stop_server() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
trap stop_server EXIT

rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.0f", k / 1024}'; }

# start_server: priorauth serve on $URL, a free port; sets SERVER_PID, BASE, AUTH.
start_server() {
  PRIORAUTH_LOG=warn PRIORAUTH_DATA_DIR=$PERF_DIR/rss-batches PRIORAUTH_BATCH_DOWNLOADS=$DOWNLOADS \
    "$PRIORAUTH" serve --bind 127.0.0.1:0 --database "$URL" >"$PERF_DIR/logs/rss-serve.out" 2>>"$PERF_DIR/logs/rss-serve-$n.log" &
  SERVER_PID=$!
  BASE=
  for _ in $(seq 1 100); do
    BASE=$(sed -n 's/^listening on //p' "$PERF_DIR/logs/rss-serve.out" | head -1)
    [ -n "$BASE" ] && break
    sleep 0.1
  done
  [ -n "$BASE" ] || { say "server did not start"; cat "$PERF_DIR/logs/rss-serve-$n.log" >&2; exit 1; }
  TOKEN=$(python3 -c 'import json,sys,urllib.request,urllib.parse
c=json.loads(sys.argv[1])
body=urllib.parse.urlencode({"grant_type":"client_credentials","client_id":c["client_id"],"client_secret":c["client_secret"]}).encode()
print(json.load(urllib.request.urlopen(sys.argv[2]+"/oauth/token",body))["access_token"])' "$creds" "$BASE")
  AUTH="Authorization: Bearer $TOKEN"
}

ROWS=()
for n in $SIZES; do
  case $n in
    100000) name=p100k.x12 ;;
    300000) name=p300k.x12 ;;
    1000000) name=p1m.x12 ;;
    *) name=p$n.x12 ;;
  esac
  file=$PERF_DIR/$name
  if [ ! -s "$file" ]; then
    say "generating $name ($n claims)"
    python3 "$SHARED/peers/gen837.py" "$n" "$file.tmp" --seed 1
    mv "$file.tmp" "$file"
  fi
  case $BACKEND in
    sqlite)
      rm -rf "$PERF_DIR/rss-$n"; mkdir -p "$PERF_DIR/rss-$n"
      URL="sqlite://$PERF_DIR/rss-$n/priorauth.db" ;;
    postgres)
      psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS priorauth_rss WITH (FORCE)" -c "CREATE DATABASE priorauth_rss" >/dev/null
      URL="$PG/priorauth_rss" ;;
    *) say "unknown backend $BACKEND"; exit 2 ;;
  esac
  creds=$("$PRIORAUTH" clients add --name "rss bench" --any-npi --scope claims:submit claims:read --json --database "$URL")
  start_server

  say "[$n] storing the batch ($(($(stat -c %s "$file") / 1000000)) MB)"
  t0=$(date +%s.%N)
  id=$(curl -sf -X POST -H "$AUTH" -H 'Content-Type: application/edi-x12' --data-binary @"$file" "$BASE/v1/batches" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  while :; do
    state=$(curl -sf -H "$AUTH" "$BASE/v1/batches/$id" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(b["state"])')
    case $state in done|failed) break ;; esac
    sleep 1
  done
  [ "$state" = done ] || { say "batch $state"; exit 1; }
  stored=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
  stored_peak=$(mb "$(rss_kb "$SERVER_PID" VmHWM)")
  stored_after=$(mb "$(rss_kb "$SERVER_PID" VmRSS)")
  say "[$n] stored in ${stored}s, server peak while storing $stored_peak MB, $stored_after MB after"
  ROWS+=("| $BACKEND | $n | storing the batch | $(($(stat -c %s "$file") / 1000000)) MB | ${stored} s | - | $stored_peak | $stored_after | - |")
  # The downloads on a fresh process (as on another instance, or a day
  # later): what they cost, not what storing the batch left behind.
  stop_server
  start_server

  for format in 835 ndjson; do
    before=$(rss_kb "$SERVER_PID" VmRSS)
    echo 5 >"/proc/$SERVER_PID/clear_refs"   # VmHWM := VmRSS
    t0=$(date +%s.%N)
    pids=()
    for i in $(seq 1 "$DOWNLOADS"); do
      curl -sf -H "$AUTH" -o /dev/null -w '%{http_code} %{size_download}\n' \
        "$BASE/v1/batches/$id/results?format=$format" >"$PERF_DIR/logs/rss-dl-$i" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
    peak=$(rss_kb "$SERVER_PID" VmHWM)
    sleep 2
    after=$(rss_kb "$SERVER_PID" VmRSS)
    codes=$(cut -d' ' -f1 "$PERF_DIR"/logs/rss-dl-* | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
    bytes=$(awk '{print $2; exit}' "$PERF_DIR/logs/rss-dl-1")
    line="| $BACKEND | $n | $DOWNLOADS × $format | $(awk -v b="$bytes" 'BEGIN {printf "%.0f", b / 1e6}') MB each | ${secs} s | $(mb "$before") | **$(mb "$peak")** | $(mb "$after") | ${codes% } |"
    say "$line"
    ROWS+=("$line")
    rm -f "$PERF_DIR"/logs/rss-dl-*
  done
  stop_server
  [ "$BACKEND" = sqlite ] && rm -rf "$PERF_DIR/rss-$n" "$PERF_DIR/rss-batches"
done

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "priorauth $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "| store | claims | downloads | size | seconds | RSS before MB | peak RSS MB | RSS after MB | answers |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$PERF_DIR/download-rss.md"

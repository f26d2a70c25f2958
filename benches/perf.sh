#!/usr/bin/env bash
# Whole-process throughput and peak memory of `priorauth parse --summary`,
# side by side with the peer tools, on synthetic 837P files.
#
# usage: benches/perf.sh
#   PERF_DIR=/tmp/priorauth-perf  generated files, peer harness, raw logs
#   PERF_BIG=1                    also the 1M-claim file (~550 MB) for the RSS point
#   RUNS=3                        runs per row; the table shows the median
#   SKIP_PEERS=1                  priorauth and the I/O floor only
#   VENV=.venv-peers              Python peers (created from ../shared/peers/requirements.txt)
#   SHARED=../shared              where gen837.py and the peers' README live
#
# Everything generated stays under $PERF_DIR; nothing is written to the repo
# except the venv ($VENV, gitignored). The Rust peers (x12-types 0.12, edi 0.4)
# are built in a throwaway cargo project that this script writes at run time:
# edi is GPL-3.0, so it is never a dependency of priorauth, only of that harness.
# Wall time is measured around each process (ns clock); peak RSS is GNU time's %M.
# Seconds, MB/s, claims/s and RSS are medians of $RUNS runs; "best-run MB/s" is
# the fastest run (this kind of VM has noisy neighbours: runs differ by up to 1.5x).
# The table is printed and also written to $PERF_DIR/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${SHARED:-../shared}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
VENV=${VENV:-.venv-peers}
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/priorauth-target}
mkdir -p "$PERF_DIR/logs"
[ -d "$SHARED/peers" ] || { echo "perf.sh: $SHARED/peers not found (set SHARED)" >&2; exit 2; }
SHARED=$(cd "$SHARED" && pwd)
GEN=$SHARED/peers/gen837.py

say() { printf '%s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------
if ! /usr/bin/time -f '%M' true >/dev/null 2>&1; then
  say "installing GNU time"
  { apt-get update -qq && apt-get install -y -qq time; } >&2
fi
[ -f "$GEN" ] || { say "missing $GEN"; exit 2; }

# --- inputs ------------------------------------------------------------------
# gen NAME CLAIMS [gen837 options]: generated once, reused by later runs.
gen() {
  local name=$1 n=$2 out=$PERF_DIR/$1
  shift 2
  if [ ! -s "$out" ]; then
    say "generating $name ($n claims) ..."
    python3 "$GEN" "$n" "$out.tmp" --seed 1 "$@"
    mv "$out.tmp" "$out"
  fi
}
gen p500-a1.x12 500                                  # pyx12 has maps for X222A1 only
gen p500-a2.x12 500 --version 005010X222A2           # linuxforhealth-x12 models X222A2 only
gen p10k.x12 10000
gen p20k.x12 20000
gen p20k-noauth.x12 20000 --line-auth-rate 0         # no REF*G1 in 2400: x12-types rejects two REFs there
[ "${PERF_BIG:-0}" = 1 ] && gen p1m.x12 1000000
gen p100k.x12 100000                                 # the issue-3 CLI target: 100k claims

# --- builds ------------------------------------------------------------------
say "building priorauth --release"
cargo build --release --quiet --bin priorauth
PRIORAUTH=$CARGO_TARGET_DIR/release/priorauth

if [ "${SKIP_PEERS:-0}" != 1 ]; then
  PEERS=$PERF_DIR/peers-rs
  mkdir -p "$PEERS/src/bin"
  cat >"$PEERS/Cargo.toml" <<'EOF'
[package]
name = "peers-rs"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
x12-types = "0.12"
edi = "0.4"

[profile.release]
codegen-units = 4

[workspace]
EOF
  cat >"$PEERS/src/bin/x12types.rs" <<'EOF'
// x12-types 0.12: the whole file into typed 837 structs (nom).
use x12_types::util::Parser;
use x12_types::v005010::{Transmission, _837};
fn main() {
    let path = std::env::args().nth(1).expect("usage: x12types FILE");
    let text = std::fs::read_to_string(path).expect("read");
    match Transmission::<_837>::parse(&text) {
        Ok((rest, t)) => {
            let claims: usize = t.functional_group.iter()
                .flat_map(|g| g.segments.iter())
                .flat_map(|s| s.loop_2000.iter())
                .map(|l| l.loop_2300.len())
                .sum();
            println!("claims={claims} unparsed_bytes={}", rest.len());
        }
        Err(e) => {
            let msg = format!("{e:?}");
            eprintln!("parse error: {}", msg.get(..200).unwrap_or(&msg));
            std::process::exit(1);
        }
    }
}
EOF
  cat >"$PEERS/src/bin/edi.rs" <<'EOF'
// edi 0.4 (GPL-3.0, benchmark peer only): generic tokenizer into envelopes
// and segments; claims counted as CLM segments.
fn main() {
    let path = std::env::args().nth(1).expect("usage: edi FILE");
    let text = std::fs::read_to_string(path).expect("read");
    match edi::parse(&text) {
        Ok(doc) => {
            let claims = doc.interchanges.iter()
                .flat_map(|i| i.functional_groups.iter())
                .flat_map(|g| g.transactions.iter())
                .flat_map(|t| t.segments.iter())
                .filter(|s| s.segment_abbreviation == "CLM")
                .count();
            println!("claims={claims}");
        }
        Err(e) => {
            eprintln!("parse error: {e:?}");
            std::process::exit(1);
        }
    }
}
EOF
  echo 'fn main() {}' >"$PEERS/src/main.rs"
  say "building the Rust peers (x12-types 0.12, edi 0.4) in $PEERS"
  (cd "$PEERS" && CARGO_TARGET_DIR="$PEERS/target" cargo build --release --quiet --bins)
  X12TYPES=$PEERS/target/release/x12types
  EDI=$PEERS/target/release/edi

  if [ ! -x "$VENV/bin/x12valid" ] || [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV for pyx12 and linuxforhealth-x12"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$SHARED/peers/requirements.txt" >&2
  fi
  VENV=$(cd "$VENV" && pwd)
  cat >"$PERF_DIR/lfh_count.py" <<'EOF'
import sys
from linuxforhealth.x12.io import X12ModelReader
claims = 0
with X12ModelReader(sys.argv[1]) as r:
    for m in r.models():
        for a in m.loop_2000a:
            for b in a.loop_2000b:
                claims += len(b.loop_2300 or [])
                for c in (b.loop_2000c or []):
                    claims += len(c.loop_2300 or [])
print(f"claims={claims}")
EOF
fi

# --- measuring ---------------------------------------------------------------
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ROWS=()
# measure TOOL FILE CLAIMS CHECK -- CMD...
#   Runs CMD $RUNS times in a scratch folder; CHECK is an awk regex the output of
#   the first run must match (what the tool said about the file), else the row
#   is marked. Exit codes are logged, not judged (x12valid exits 1 on success).
measure() {
  local tool=$1 file=$2 claims=$3 check=$4
  shift 5
  local path=$PERF_DIR/$file bytes secs=() rss=() log i t0 t1 ok
  bytes=$(stat -c %s "$path")
  log=$PERF_DIR/logs/$(echo "$tool-$file" | tr -c 'A-Za-z0-9.\n-' '_').log
  : >"$log"
  for ((i = 1; i <= RUNS; i++)); do
    local scratch
    scratch=$(mktemp -d "$PERF_DIR/run.XXXXXX")
    local input=$path
    if [ "${IN_SCRATCH:-0}" = 1 ]; then  # for tools that write beside their input
      cp "$path" "$scratch/$file"
      input=$scratch/$file
    fi
    t0=$(date +%s%N)
    (cd "$scratch" && /usr/bin/time -f '%M' -o "$scratch/.rss" "$@" "$input" >"$scratch/.out" 2>&1) || true
    t1=$(date +%s%N)
    secs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}')")
    rss+=("$(grep -Eo '^[0-9]+$' "$scratch/.rss" | tail -1)")
    { echo "== run $i: ${secs[-1]} s, ${rss[-1]} KB"; head -c 2000 "$scratch/.out"; echo; } >>"$log"
    [ "$i" = 1 ] && cp "$scratch/.out" "$PERF_DIR/logs/last.out"
    rm -rf "$scratch"
  done
  if [ -z "$check" ]; then ok=-
  elif grep -Eq -- "$check" "$PERF_DIR/logs/last.out"; then ok=ok
  else ok="CHECK FAILED (see $log)"; fi
  local s r best
  s=$(printf '%s\n' "${secs[@]}" | median)
  best=$(printf '%s\n' "${secs[@]}" | sort -g | head -1)
  r=$(printf '%s\n' "${rss[@]}" | median)
  ROWS+=("$(awk -v tool="$tool" -v file="$file" -v b="$bytes" -v s="$s" -v r="$r" -v c="$claims" -v ok="$ok" -v best="$best" 'BEGIN {
      mb = b / 1e6; if (s <= 0) s = 0.0001; if (best <= 0) best = 0.0001
      cps = (c == "-") ? "-" : sprintf("%.0f", c / s)
      printf "| %s | %s | %.1f | %.3f | %.1f | %.1f | %s | %.1f | %s |", tool, file, mb, s, mb / s, mb / best, cps, r / 1024, ok }')")
  say "${ROWS[-1]}"
}

claims_re() { echo "\"claims\":$1[,}]"; }

cat "$PERF_DIR"/*.x12 >/dev/null   # warm the page cache: every row reads from memory
# shellcheck disable=SC2016  # $0 is expanded by the inner sh: it is the file
measure "cat > /dev/null (I/O floor)" p20k.x12 - '' -- sh -c 'cat "$0" >/dev/null'
if [ "${PERF_BIG:-0}" = 1 ]; then
  # shellcheck disable=SC2016
  measure "cat > /dev/null (I/O floor)" p1m.x12 - '' -- sh -c 'cat "$0" >/dev/null'
fi
measure priorauth p500-a1.x12 500 "$(claims_re 500)" -- "$PRIORAUTH" parse --summary
measure priorauth p10k.x12 10000 "$(claims_re 10000)" -- "$PRIORAUTH" parse --summary
measure priorauth p20k.x12 20000 "$(claims_re 20000)" -- "$PRIORAUTH" parse --summary
measure priorauth p20k-noauth.x12 20000 "$(claims_re 20000)" -- "$PRIORAUTH" parse --summary
if [ "${PERF_BIG:-0}" = 1 ]; then
  measure priorauth p1m.x12 1000000 "$(claims_re 1000000)" -- "$PRIORAUTH" parse --summary
fi
# Adjudication end to end: authorizations for 3 of 4 REF*G1 numbers in the
# file (the rest are "not on file"), written once from priorauth's own parse.
if [ ! -s "$PERF_DIR/p100k-auths.csv" ]; then
  say "writing authorizations for p100k ..."
  "$PRIORAUTH" parse "$PERF_DIR/p100k.x12" | python3 benches/mkauths.py >"$PERF_DIR/p100k-auths.csv"
fi
measure "priorauth adjudicate --format ndjson" p100k.x12 100000 '"claim_id"' -- "$PRIORAUTH" adjudicate --auths "$PERF_DIR/p100k-auths.csv" --format ndjson
measure "priorauth adjudicate --format json" p100k.x12 100000 '"rule_set"' -- "$PRIORAUTH" adjudicate --auths "$PERF_DIR/p100k-auths.csv"
if [ "${SKIP_PEERS:-0}" != 1 ]; then
  measure "edi 0.4" p20k.x12 20000 '^claims=20000$' -- "$EDI"
  measure "x12-types 0.12" p20k-noauth.x12 20000 '^claims=20000 ' -- "$X12TYPES"
  IN_SCRATCH=1 measure "pyx12 4.0.0 x12valid" p500-a1.x12 500 ': OK$' -- "$VENV/bin/x12valid"
  measure "linuxforhealth-x12 0.57" p500-a2.x12 500 '^claims=500$' -- "$VENV/bin/python" "$PERF_DIR/lfh_count.py"
fi

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "priorauth $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'), $(rustc --version), $(date -u +%Y-%m-%dT%H:%MZ), median of $RUNS runs"
  echo
  echo "| tool | file | MB | seconds | MB/s | best-run MB/s | claims/s | peak RSS MB | output check |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$PERF_DIR/results.md"

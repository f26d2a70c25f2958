#!/usr/bin/env bash
# Issue 19: the rule-change impact replay on a 100k-claim store.
#
#   bash benches/replay.sh              # SQLite and PostgreSQL, this tree's release binary
#   SKIP_PG=1 bash benches/replay.sh    # SQLite only
#   NEW=path/to/priorauth bash benches/replay.sh
#
# The store is the one benches/store.sh builds (the generated file and its
# authorizations imported, then `adjudicate --db … --commit`), kept in
# PERF_DIR between runs. Each replay is run RUNS times (default 3) and the
# median wall time printed with the claims per second, for two candidates:
#   - the set in force itself (every claim decided twice, nothing changes);
#   - the set in force with one more rule: office visits 99211-99215 need
#     prior authorization (many lines go not_required -> denied).
# The report of the last candidate's last run is printed too.
# Knobs: N (claims, default 100000), PERF_DIR (default /tmp/priorauth-perf),
# PRIORAUTH_TEST_PG (PostgreSQL server URL), PG_DB (its database, default
# priorauth_replay_N; one a binary when comparing record layouts),
# SKIP_PG=1, RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
RUNS=${RUNS:-3}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
PG=${PRIORAUTH_TEST_PG:-postgres://postgres@127.0.0.1:5432}
SHARED=${SHARED:-../shared}
mkdir -p "$PERF_DIR"
say() { echo "== $*" >&2; }

if [ -z "${NEW:-}" ]; then
  cargo build --release --bin priorauth >&2
  NEW=${CARGO_TARGET_DIR:-target}/release/priorauth
fi

F=$PERF_DIR/p$N.x12
A=$PERF_DIR/p$N-auths.csv
[ -s "$F" ] || { say "generating $F"; python3 "$SHARED/peers/gen837.py" "$N" "$F" --seed 1; }
[ -s "$A" ] || { say "writing $A"; "$NEW" parse "$F" | python3 benches/mkauths.py >"$A"; }

SQLITE=$PERF_DIR/replay-$N.db
if [ ! -s "$SQLITE" ]; then
  say "storing $N claims in $SQLITE"
  "$NEW" import auths "$A" --database "sqlite://$SQLITE" >/dev/null
  "$NEW" adjudicate --db "sqlite://$SQLITE" --commit --format ndjson "$F" >/dev/null
fi
STORES=("sqlite:sqlite://$SQLITE")
if [ -z "${SKIP_PG:-}" ]; then
  name=${PG_DB:-priorauth_replay_$N}
  url=$PG/$name
  if [ "$(psql -qtA "$url" -c 'SELECT COUNT(*) FROM claims' 2>/dev/null || echo 0)" != "$N" ]; then
    say "storing $N claims in $url"
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    "$NEW" import auths "$A" --database "$url" >/dev/null
    "$NEW" adjudicate --db "$url" --commit --format ndjson "$F" >/dev/null
    # Statistics as autovacuum would have gathered them by now.
    psql -q "$url" -c ANALYZE
  fi
  STORES+=("postgres:$url")
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
same=$TMP/same.toml
visits=$TMP/visits.toml
cp fixtures/rules/hap-5.1.toml "$same"
sed 's/^version = "2026.11"/version = "2026.11-visits"/' fixtures/rules/hap-5.1.toml >"$visits"
printf '\n[[rule]]\nid = "X-OFFICE-VISITS"\nsection = "9.1"\ntitle = "Office visits"\ncodes = ["99211-99215"]\neffective = "2020-01-01"\n' >>"$visits"

echo "| store | candidate | claims | lines changed | median s | claims/s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for store in "${STORES[@]}"; do
  label=${store%%:*}; url=${store#*:}
  for cand in "$same" "$visits"; do
    : >"$TMP/times"
    for _ in $(seq "$RUNS"); do
      /usr/bin/time -f "%e %M" -o "$TMP/time" "$NEW" replay --rules "$cand" --database "$url" >"$TMP/report.json" 2>"$TMP/err" || {
        cat "$TMP/err" >&2; exit 1; }
      cat "$TMP/time" >>"$TMP/times"
    done
    claims=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["claims"], r["lines_changed"])' "$TMP/report.json")
    sort -n "$TMP/times" | awk -v n="$RUNS" -v label="$label" -v cand="$(basename "$cand" .toml)" -v c="$claims" '
      { s[NR] = $1; m[NR] = $2 }
      END { split(c, cc, " "); med = s[int((n + 1) / 2)];
            printf "| %s | %s | %d | %d | %.2f | %.0f | %d |\n", label, cand, cc[1], cc[2], med, cc[1] / med, m[int((n + 1) / 2)] / 1024 }'
  done
done
say "the last report (PostgreSQL when it ran, else SQLite), as a table:"
"$NEW" replay --rules "$visits" --format table --database "$url" >&2

#!/usr/bin/env bash
# Trains the zstd dictionary of stored claims' binary facts
# (src/store/facts-v2.dict; src/store/record.rs says how records use it).
#
#   bash benches/mkdict.sh                 # writes $PERF_DIR/facts.dict
#   OUT=src/store/facts-v3.dict bash benches/mkdict.sh
#
# It stores the generated 100k-claim file (gen837.py --seed 1) with this
# tree's release binary, takes the facts frame of 20,000 random records,
# decompresses each with the dictionary it was written with, trains a
# 16 KB dictionary on half of them and prints the mean compressed size of
# the other half with the new dictionary and with the one in use.
# A new dictionary needs a new record version (record.rs): records
# written with the old one must still read.
# Needs: python3, the zstd command line tool.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
PERF_DIR=${PERF_DIR:-/tmp/priorauth-perf}
SHARED=${SHARED:-../shared}
OUT=${OUT:-$PERF_DIR/facts.dict}
IN_USE=src/store/facts-v2.dict
mkdir -p "$PERF_DIR"

cargo build --release --bin priorauth >&2
BIN=${CARGO_TARGET_DIR:-target}/release/priorauth
F=$PERF_DIR/p$N.x12
[ -s "$F" ] || python3 "$SHARED/peers/gen837.py" "$N" "$F" --seed 1
DB=$PERF_DIR/mkdict-$N.db
rm -f "$DB" "$DB-wal" "$DB-shm"
"$BIN" adjudicate --db "sqlite://$DB" --commit --format ndjson "$F" >/dev/null

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/frames" "$TMP/raw" "$TMP/new" "$TMP/old"
python3 - "$DB" "$TMP/frames" <<'PY'
import sqlite3, struct, sys
db, out = sys.argv[1], sys.argv[2]
rows = sqlite3.connect(db).execute(
    "SELECT body FROM claims WHERE substr(body, 1, 1) = x'02' ORDER BY random() LIMIT 20000")
for i, (body,) in enumerate(rows):
    n = struct.unpack("<I", body[1:5])[0]
    if n:
        open(f"{out}/{i}.zst", "wb").write(body[5:5 + n])
PY
(cd "$TMP/frames" && zstd -q -d -D "$OLDPWD/$IN_USE" --output-dir-flat ../raw ./*.zst)
ls "$TMP/raw" | sort | awk 'NR % 2' | sed "s|^|$TMP/raw/|" >"$TMP/train"
ls "$TMP/raw" | sort | awk '!(NR % 2)' | sed "s|^|$TMP/raw/|" >"$TMP/test"
xargs zstd -q --train --maxdict=16384 -o "$OUT" <"$TMP/train"
mean() { python3 -c 'import os,sys; s=[os.path.getsize(os.path.join(sys.argv[1], f)) for f in os.listdir(sys.argv[1])]; print(round(sum(s)/len(s), 1))' "$1"; }
xargs zstd -q -1 --no-check -D "$OUT" --output-dir-flat "$TMP/new" <"$TMP/test"
xargs zstd -q -1 --no-check -D "$IN_USE" --output-dir-flat "$TMP/old" <"$TMP/test"
echo "facts of $(wc -l <"$TMP/test") claims: raw $(mean "$TMP/raw") bytes, $(mean "$TMP/new") with $OUT, $(mean "$TMP/old") with $IN_USE"

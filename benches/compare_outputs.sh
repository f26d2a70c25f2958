#!/usr/bin/env bash
# Byte-for-byte comparison of two priorauth binaries' answers on one file,
# in every output format (json, ndjson, table, 999, 835, 277ca) of
# `adjudicate`, plus `parse` JSON and the 999 of `parse`. X12 answers carry
# the time they were made and a control number from the clock; those are
# replaced by placeholders (the same rule for both binaries) before the
# comparison, nothing else is.
#
# usage: benches/compare_outputs.sh OLD_BINARY NEW_BINARY FILE.x12 AUTHS.csv [OUT_DIR]
set -euo pipefail
old=$1 new=$2 file=$3 auths=$4 out=${5:-/tmp/priorauth-compare}
mkdir -p "$out"
# Replaces ISA09/ISA10/ISA13 values (and the same date, time and control
# number wherever they recur: GS, BHT, DTM, BPR, TRN) with placeholders.
normalize() {
  python3 - "$1" <<'PY'
import re, sys
data = open(sys.argv[1], encoding="latin-1").read()
if data.startswith("ISA"):
    sep = data[3]
    isa = data[:106].split(sep)
    yymmdd, hhmm, ctl = isa[9], isa[10], isa[13]
    for old, new in [("20" + yymmdd, "CCYYMMDD"), (yymmdd, "YYMMDD"), (hhmm, "HHMM"),
                     (ctl, "CONTROL"), (str(int(ctl)), "CONTROL")]:
        data = data.replace(old, new)
sys.stdout.write(data)
PY
}
status=0
run() {
  local name=$1; shift
  "$old" "$@" >"$out/$name.old" 2>/dev/null || true
  "$new" "$@" >"$out/$name.new" 2>/dev/null || true
  normalize "$out/$name.old" >"$out/$name.old.n"
  normalize "$out/$name.new" >"$out/$name.new.n"
  if cmp -s "$out/$name.old.n" "$out/$name.new.n"; then
    printf '%-18s identical (%s bytes)\n' "$name" "$(wc -c <"$out/$name.new")"
  else
    printf '%-18s DIFFERENT\n' "$name"; status=1
  fi
}
run parse.json parse "$file"
run parse.999 parse --format 999 "$file"
for f in json ndjson table 999 835 277ca; do
  run "adjudicate.$f" adjudicate --auths "$auths" --format "$f" "$file"
done
exit $status

#!/usr/bin/env bash
# Seeds and runs one cargo-fuzz target on the stable toolchain.
#
# usage: fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
#   TARGET   parse_837 | lexer | x278 | rules_toml | auths_csv | access_tokens
#   SECONDS  -max_total_time (default 600)
#
# Each target gets its own -max_len and dictionary (below); MAX_LEN=N
# overrides the length. The interesting X12 structure (envelope, loops,
# the first claims) is in the first few KB, and libFuzzer's speed falls
# with the input length, so 4096 bytes for the parsers and 1024 for tokens.
#
# FUZZ_SANITIZER=none builds without AddressSanitizer (cargo fuzz
# --sanitizer none): the targets are safe Rust, ASan finds little there,
# and it slows every execution (8-20 times here: fuzz/README.md); a
# separate build.
#
# cargo-fuzz passes -Z flags (sanitizer, coverage) that only nightly accepts;
# RUSTC_BOOTSTRAP=1 lets the stable compiler take them. The fuzz build gets
# its own target dir so its sanitizer flags never invalidate the shared cache.
# One process, one job (libFuzzer default; -jobs=N would fork and log to
# ./fuzz-N.log). Crashes land in fuzz/artifacts/<target>/ (gitignored): copy one worth
# keeping to fixtures/fuzz-regressions/ with a note.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
secs=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
case $target in
  parse_837|lexer|x278) len=4096; dict=fuzz/x12.dict ;;
  rules_toml)      len=4096; dict=fuzz/rules.dict ;;
  auths_csv)       len=4096; dict=fuzz/auths.dict ;;
  access_tokens)   len=1024; dict=fuzz/tokens.dict ;;
  *) echo "run.sh: unknown target $target" >&2; exit 2 ;;
esac
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/priorauth-fuzz-target}
bash fuzz/seed.sh "$target"
mkdir -p "fuzz/artifacts/$target"
exec cargo fuzz run --fuzz-dir fuzz ${FUZZ_SANITIZER:+--sanitizer "$FUZZ_SANITIZER"} \
  "$target" "fuzz/corpus/$target" -- \
  -max_total_time="$secs" -max_len="${MAX_LEN:-$len}" -dict="$dict" \
  -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "$@"

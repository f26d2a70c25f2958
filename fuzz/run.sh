#!/usr/bin/env bash
# Seeds and runs one cargo-fuzz target on the stable toolchain.
#
# usage: fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
#   TARGET   parse_837 | lexer | rules_toml | auths_csv | access_tokens
#   SECONDS  -max_total_time (default 600)
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
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/priorauth-fuzz-target}
bash fuzz/seed.sh "$target"
mkdir -p "fuzz/artifacts/$target"
exec cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
  -max_total_time="$secs" -max_len="${MAX_LEN:-65536}" \
  $( [ "${target}" = parse_837 ] || [ "${target}" = lexer ] && echo -dict=fuzz/x12.dict ) -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "$@"

#!/usr/bin/env bash
# Refreshes the committed seeds fuzz/seeds/<target>/ from the (gitignored)
# corpus fuzz/corpus/<target>/: libFuzzer's -merge=1 keeps the inputs that
# together reach the corpus's coverage; of those KEEP files (default 40),
# evenly spread over the sizes (every n-th by size, from tiny fragments to
# -max_len), are kept, so git holds a few dozen files per target.
#
# usage: fuzz/minimise.sh [target...]   (default: every target)
# Needs the fuzz build of fuzz/run.sh (same FUZZ_TARGET_DIR and FUZZ_SANITIZER).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=${KEEP:-40}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_837 lexer x278 auths_csv rules_toml access_tokens)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/priorauth-fuzz-target}
for t in "${targets[@]}"; do
  case $t in access_tokens) len=1024 ;; *) len=4096 ;; esac
  [ -d "fuzz/corpus/$t" ] || { echo "minimise.sh: no fuzz/corpus/$t" >&2; continue; }
  tmp=$(mktemp -d)
  cargo fuzz cmin --fuzz-dir fuzz ${FUZZ_SANITIZER:+--sanitizer "$FUZZ_SANITIZER"} \
    "$t" "fuzz/corpus/$t" -- -max_len="$len" >/dev/null 2>&1 || true
  # cmin merged the corpus in place; take its smallest $keep files
  find "fuzz/corpus/$t" -type f -size -"$((len + 1))"c -printf '%s %p\n' | sort -n >"$tmp.list"
  n=$(wc -l <"$tmp.list"); step=$(( n > keep ? (n + keep - 1) / keep : 1 ))
  awk -v s="$step" 'NR % s == 1 || s == 1' "$tmp.list" | while read -r _ f; do cp "$f" "$tmp/$(sha1sum "$f" | cut -c1-16)"; done
  rm -f "$tmp.list"
  rm -rf "fuzz/seeds/$t"; mkdir -p "fuzz/seeds/$t"; cp "$tmp"/* "fuzz/seeds/$t/" 2>/dev/null || true
  rm -rf "$tmp"
  echo "minimise.sh: fuzz/seeds/$t: $(find "fuzz/seeds/$t" -type f | wc -l) files, $(du -sk "fuzz/seeds/$t" | cut -f1) KiB (corpus after cmin: $(find "fuzz/corpus/$t" -type f | wc -l))"
done

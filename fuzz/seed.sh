#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ (gitignored) with seed inputs, at run time:
#   - the committed, minimised seeds fuzz/seeds/<target>/* (every target)
#   - the repo's own fixtures/x12/*.x12 and fixtures/fuzz-regressions/*
#   - the public X12 samples in ../shared/corpus (sibling of the repo), when present
#   - a few small synthetic 837Ps from ../shared/peers/gen837.py, when present
# Nothing from ../shared is copied into the repository itself.
#
# usage: fuzz/seed.sh [target...]      (default: parse_837 lexer)
set -euo pipefail
cd "$(dirname "$0")/.."                      # repo root
SHARED=${SHARED:-../shared}
MAX_SEED=${MAX_SEED:-65536}                  # bytes; larger samples only slow the fuzzer
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_837 lexer)

for t in "${targets[@]}"; do
  dir=fuzz/corpus/$t
  mkdir -p "$dir"
  n0=$(find "$dir" -type f | wc -l)
  copy() {  # copy FILE under a name derived from its content, so reruns add nothing twice
    local f=$1 h
    [ "$(stat -c %s "$f")" -le "$MAX_SEED" ] || return 0
    h=$(sha1sum "$f" | cut -c1-16)
    cp -n "$f" "$dir/seed-$h" 2>/dev/null || true
  }
  if [ -d "fuzz/seeds/$t" ]; then
    for f in "fuzz/seeds/$t"/*; do [ -f "$f" ] && copy "$f"; done
  fi
  case $t in
    rules_toml) for f in fixtures/rules/*.toml; do copy "$f"; done
                echo "seed.sh: $dir: $n0 -> $(find "$dir" -type f | wc -l) inputs"; continue ;;
    auths_csv)  for f in fixtures/auths/*.csv; do copy "$f"; done
                echo "seed.sh: $dir: $n0 -> $(find "$dir" -type f | wc -l) inputs"; continue ;;
    access_tokens)  # JWT-shaped strings, Basic credentials, scope lists
                printf '%s' 'eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSIsImtpZCI6ImFiYyJ9.eyJpc3MiOiJwcmlvcmF1dGgiLCJhdWQiOiJwcmlvcmF1dGgiLCJzdWIiOiJwYV8xIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2ln' >"$dir/seed-jwt"
                printf '%s' 'eyJhbGciOiJIUzI1NiJ9.e30.' >"$dir/seed-hs"
                printf '%s' 'cGFfMTpzJTNBYw==' >"$dir/seed-basic"
                printf '%s' 'claims:submit claims:read admin' >"$dir/seed-scopes"
                echo "seed.sh: $dir: $n0 -> $(find "$dir" -type f | wc -l) inputs"; continue ;;
  esac
  for f in fixtures/x12/*.x12 fixtures/fuzz-regressions/*; do
    [ -f "$f" ] && case $f in *.md) ;; *) copy "$f" ;; esac
  done
  if [ -d "$SHARED/corpus" ]; then
    while IFS= read -r -d '' f; do copy "$f"; done < <(
      find "$SHARED/corpus" -type f ! -name '*.md' ! -name '*.json' -print0)
  else
    echo "seed.sh: $SHARED/corpus not found; seeding from fixtures only" >&2
  fi
  if [ -f "$SHARED/peers/gen837.py" ]; then
    tmp=$(mktemp -d)
    for args in "1 --seed 1" "3 --seed 2 --newlines" "7 --seed 3 --per-st 2" \
                "5 --seed 4 --line-auth-rate 0" "4 --seed 5 --version 005010X222A2"; do
      read -ra a <<<"$args"
      python3 "$SHARED/peers/gen837.py" "${a[0]}" "$tmp/g.x12" "${a[@]:1}" && copy "$tmp/g.x12"
    done
    rm -rf "$tmp"
  fi
  echo "seed.sh: $dir: $n0 -> $(find "$dir" -type f | wc -l) inputs"
done

#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after
# the other, and prints executions and exec/s per target (libFuzzer's
# -print_final_stats), so runs can be added up toward the 10 M executions
# per parser that issue 15 asks for.
#
# usage: fuzz/run-all.sh SECONDS [target...]
#   default targets: parse_837 lexer x278 auths_csv rules_toml access_tokens
# Logs: fuzz/artifacts/<target>/run-<UTC time>.log (gitignored).
# Exit status 1 when any target found a crash (or the run failed).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz/run-all.sh SECONDS [target...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_837 lexer x278 auths_csv rules_toml access_tokens)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
rows=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t"
  log=fuzz/artifacts/$t/run-$stamp.log
  echo "== $t: $secs s (log $log)"
  bash fuzz/run.sh "$t" "$secs" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/\1 edges, \2 features, \3 inputs/p')
  verdict=ok
  if [ $rc -ne 0 ]; then
    verdict="FAILED (exit $rc; see $log)"; status=1
    grep -E 'panicked|^SUMMARY|Test unit written' "$log" | head -5
  fi
  rows+=("$(printf '%-14s %12s execs %8s exec/s  %s  %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-}" "$verdict")")
done
echo "== fuzz summary ($secs s per target, $stamp)"
printf '%s\n' "${rows[@]}"
exit $status

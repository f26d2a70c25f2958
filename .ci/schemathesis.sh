#!/usr/bin/env bash
# Schemathesis (issue 15, point 5): the served API against openapi/openapi.yaml.
#
# A fresh `priorauth serve` on loopback with a fresh SQLite database (the
# bundled rules, fixtures/auths/sample.csv imported), then two runs of a
# pinned schemathesis:
#   1. a billing-system token (claims:submit claims:read, bound to NPI
#      1234567893, the billing NPI of fixtures/x12/837p-sample.x12);
#   2. an all-scope token (a client with every scope, any billing NPI).
# The billing run goes first: the admin run's stateful phase lists the
# clients and deletes what it finds, the billing client among them.
# Both get the checks not_a_server_error, status_code_conformance,
# content_type_conformance and response_schema_conformance, bounded by
# --max-examples per operation and --max-time per run.
#
# Real X12 bodies reach the success paths through the `example`s of the
# request bodies in openapi.yaml (the fixtures' 837P, 837I, CSV and TOML):
# the examples phase sends them as they are. .ci/schemathesis_hooks.py
# supplies the serializers for application/edi-x12, application/x12 and
# application/toml (schemathesis has none) and the bearer token, fetched
# with client credentials and refreshed every 20 s (a key rotation with
# retire_old, which the run may call, kills the tokens of the old key).
#
# The stateful phase: openapi.yaml declares no OpenAPI `links`;
# schemathesis 4 derives them itself (response fields and Location headers
# matched to the parameters of other operations: 32 links, 2 of them
# "inferred" from Location) and the phase runs on those: ~80-90 scenarios
# per run, 6 (billing) and 16 (admin) links covered. Declared links
# (POST /v1/batches -> GET /v1/batches/{id}, POST /v1/claims -> GET
# /v1/claims/{payer_claim_id}) would make it reach more; not done yet.
# application/x-ndjson answers (batch results) are not schema-checked:
# schemathesis has no deserializer for one object per line.
#
# Exit status: non-zero on any failure of either run (CI fails with it).
# The counts (test cases, requests, failures per check) are printed by
# schemathesis and summarised at the end from its JUnit reports.
#
# usage: .ci/schemathesis.sh          (from .ci/run, after cargo test)
# env:   ST_MAX_EXAMPLES (default 30), ST_MAX_TIME (seconds per run, 150),
#        PRIORAUTH_ST_VENV, CARGO_TARGET_DIR (as .ci/run sets it),
#        PRIORAUTH_BIN (a priorauth binary to use instead of building one)
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
ST_VENV="${PRIORAUTH_ST_VENV:-$HOME/.cache/priorauth-schemathesis-venv}"
if [ "$("$ST_VENV/bin/st" --version 2>/dev/null || true)" != "st, version $ST_VERSION" ]; then
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-30}
MAX_TIME=${ST_MAX_TIME:-150}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/priorauth-target}"
if [ -n "${PRIORAUTH_BIN:-}" ]; then
  bin=$PRIORAUTH_BIN
else
  cargo build --quiet --bin priorauth
  bin="$CARGO_TARGET_DIR/debug/priorauth"
fi

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="sqlite://$work/st.db"
unset PRIORAUTH_DATABASE_URL
"$bin" import auths fixtures/auths/sample.csv >/dev/null

all=$("$bin" clients add --name "schemathesis all scopes" --any-npi \
  --scope claims:submit claims:read rules:write auths:write admin --json)
billing=$("$bin" clients add --name "schemathesis billing system" --npi 1234567893 \
  --scope claims:submit claims:read --json)
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
PRIORAUTH_BIND="127.0.0.1:$port" PRIORAUTH_DATA_DIR="$work/data" PRIORAUTH_LOG=warn \
  "$bin" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; echo "serve died" >&2; exit 1; }
  sleep 0.2
done
curl -fs "$base/healthz" >/dev/null || { cat "$work/serve.log" >&2; echo "serve is not up" >&2; exit 1; }

token() {  # client JSON -> access token (client credentials, HTTP Basic)
  local id secret
  id=$(field "$1" client_id)
  secret=$(field "$1" client_secret)
  curl -fsS -u "$id:$secret" -d grant_type=client_credentials "$base/oauth/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
status=0
summary=()
for who in billing all; do
  token "${!who}" >/dev/null   # fails here, clearly, if the grant does not work
  export ST_BASE_URL=$base ST_CLIENT_ID ST_CLIENT_SECRET
  ST_CLIENT_ID=$(field "${!who}" client_id)
  ST_CLIENT_SECRET=$(field "${!who}" client_secret)
  echo "== schemathesis $ST_VERSION: $who token, --max-examples $MAX_EXAMPLES, --max-time $MAX_TIME s"
  t0=$(date +%s)
  rc=0
  PYTHONPATH=.ci SCHEMATHESIS_HOOKS=schemathesis_hooks \
  "$ST_VENV/bin/st" run openapi/openapi.yaml --url "$base" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" \
    --seed 15 --no-color --request-timeout 30 \
    --generation-database none \
    --report junit,har --report-dir "$work/report-$who" || rc=$?
  t1=$(date +%s)
  [ $rc -eq 0 ] || status=1
  requests=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["log"]["entries"]))' \
    "$(ls "$work/report-$who"/har-*.json | head -1)" 2>/dev/null || echo "?")
  failures=$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.iter("testcase")
n = f = 0
for c in cases:
    n += 1
    f += len(c.findall("failure")) + len(c.findall("error"))
print(f"{n} operations, {f} failing (failures or errors)")' "$(ls "$work/report-$who"/junit-*.xml | head -1)" 2>/dev/null || echo "?")
  summary+=("$who token: exit $rc, $requests requests, $failures, $((t1 - t0)) s")
done

if grep -q 'panicked' "$work/serve.log"; then
  echo "== the server panicked:" >&2; grep -A3 'panicked' "$work/serve.log" >&2; status=1
fi
echo "== schemathesis summary"
printf '  %s\n' "${summary[@]}"
exit $status

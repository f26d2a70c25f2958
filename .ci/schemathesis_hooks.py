"""Schemathesis hooks for .ci/schemathesis.sh (SCHEMATHESIS_HOOKS=schemathesis_hooks).

- Serializers for the text bodies openapi.yaml declares without a JSON
  schema behind them (X12, TOML): the generated or example string is sent
  as its UTF-8 bytes, so the examples (the fixtures' 837s, the rule TOML)
  reach the server as they are.
- The bearer token: fetched with client credentials (HTTP Basic) from the
  server under test, for the client in ST_CLIENT_ID / ST_CLIENT_SECRET,
  and fetched again every 20 seconds, so a signing-key rotation with
  `retire_old` (which rightly kills the tokens of the old key) or a
  token's end of life costs a few seconds of 401s, not the rest of the run.
"""

import base64
import json
import os
import urllib.parse
import urllib.request

import schemathesis


@schemathesis.serializer("application/edi-x12", "application/x12", "application/toml")
def text_body(ctx, value):
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


@schemathesis.auth(refresh_interval=20)
class ClientCredentials:
    def get(self, case, ctx):
        base = os.environ["ST_BASE_URL"]
        basic = base64.b64encode(
            (
                urllib.parse.quote(os.environ["ST_CLIENT_ID"], safe="")
                + ":"
                + urllib.parse.quote(os.environ["ST_CLIENT_SECRET"], safe="")
            ).encode()
        ).decode()
        request = urllib.request.Request(
            base + "/oauth/token",
            data=b"grant_type=client_credentials",
            headers={
                "Authorization": "Basic " + basic,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = "Bearer " + data

"""Times every console page and the claim search against a running
`priorauth serve` with many stored claims (driven by benches/console.sh).

Signs a staff user in through the console's own flow (authorization code
with PKCE, as a browser does: cookies and redirects), finds real values in
the store to search for (a CLM01, an NPI, a payer claim id, an
authorization number, a rule, a second page's cursor), then requests each
page REQS times, one at a time. Server time is the `latency_us` of the
request's log line (the service logs one JSON line per request, in order),
so the client's own time is not counted; the client's wall time is shown
beside it. Prints one row per page: p50 and p95 in milliseconds.

usage: console_pages.py BASE_URL LOG_FILE USER PASSWORD TOKEN [REQS]
(TOKEN: a claims:read bearer token for the /v1 searches.)
"""
import html.parser
import http.cookiejar
import json
import re
import sys
import time
import urllib.parse
import urllib.request

base, log_file, user, password, token = sys.argv[1:6]
reqs = int(sys.argv[6]) if len(sys.argv) > 6 else 40

jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


class Inputs(html.parser.HTMLParser):
    """The name/value of every input of the first form."""

    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def fetch(path, data=None, headers=None):
    req = urllib.request.Request(base + path, data=data, headers=headers or {})
    with opener.open(req, timeout=120) as r:
        return r.geturl(), r.read().decode("utf-8", "replace")


# Sign in: /console/signin -> /oauth/authorize (form) -> POST -> callback.
url, page = fetch("/console/signin?next=/console/claims")
assert "/oauth/authorize" in url, url
form = Inputs()
form.feed(page)
form.fields.update(username=user, password=password)
url, page = fetch("/oauth/authorize", urllib.parse.urlencode(form.fields).encode())
assert url.endswith("/console/claims"), (url, page[:500])


def api(path):
    _, body = fetch(path, headers={"Authorization": "Bearer " + token})
    return json.loads(body)


# Real values to look for, from the store itself.
newest = api("/v1/claims?limit=200")["claims"]
denied = [c for c in newest if c["status"] == "denied"] or newest
one = denied[0]
dec = json.loads(json.dumps(one["decision"]))
rule = next((l["rule"] for c in newest for l in c["decision"]["lines"] if l.get("rule")), "5.1.2-MRI")
auth = next(
    (l["authorization"] for c in newest for l in c["decision"]["lines"] if l.get("authorization") and l["decision"] == "approved"),
    None,
)
_, claims_page = fetch("/console/claims")
m = re.search(r'href="/console/claims\?([^"]*after=[^"]*)"', claims_page)
after = html.unescape(m.group(1)) if m else ""
day = one["received_at"][:10]

pages = [
    ("claims: newest", "/console/claims"),
    ("claims: next page", "/console/claims?" + after),
    ("claims: CLM01 alone", "/console/claims?claim_id=" + urllib.parse.quote(one["claim_id"])),
    ("claims: billing NPI", "/console/claims?billing_npi=" + one["billing_npi"]),
    ("claims: payer claim id", "/console/claims?payer_claim_id=" + one["payer_claim_id"]),
    ("claims: status=denied", "/console/claims?status=denied"),
    ("claims: status=pended", "/console/claims?status=pended"),
    ("claims: CARC 197", "/console/claims?carc=197"),
    ("claims: CARC CO-198", "/console/claims?carc=CO-198"),
    ("claims: CARC 18 (rare)", "/console/claims?carc=18"),
    ("claims: rule", "/console/claims?rule=" + urllib.parse.quote(rule)),
    ("claims: service dates", "/console/claims?service_from=2026-03-01&service_to=2026-03-31"),
    ("claims: received day", f"/console/claims?received_from={day}&received_to={day}"),
    ("claims: NPI + denied + CARC", f"/console/claims?billing_npi={one['billing_npi']}&status=denied&carc=197"),
    ("claim detail", "/console/claims/" + one["payer_claim_id"]),
    ("claim 835", "/console/claims/" + one["payer_claim_id"] + "/835.x12"),
    ("does it need PA?", "/console/check?code=70551&lob=commercial&date=2026-03-04"),
    ("authorizations", "/console/auths"),
    ("authorization detail", "/console/auths/" + urllib.parse.quote(auth) if auth else "/console/auths"),
    ("rules", "/console/rules"),
    ("batches", "/console/batches"),
    ("codes", "/console/codes?q=auth"),
    ("admin", "/console/admin"),
    ("audit log", "/console/admin/audit"),
    ("audit log: action", "/console/admin/audit?action=claim.read"),
    ("API GET /v1/claims?claim_id", "/v1/claims?claim_id=" + urllib.parse.quote(one["claim_id"])),
    ("API GET /v1/claims?carc=197", "/v1/claims?carc=197"),
    ("API GET /v1/claims?status=denied", "/v1/claims?status=denied"),
]


def log_lines(offset):
    with open(log_file, encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        out = []
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


def offset():
    with open(log_file, "rb") as f:
        f.seek(0, 2)
        return f.tell()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def latency(entry):
    f = entry.get("fields", entry)
    return f.get("latency_us")


print(f"| page | server p50 ms | server p95 ms | client p95 ms |")
print(f"|---|---:|---:|---:|")
worst = 0.0
for name, path in pages:
    headers = {"Authorization": "Bearer " + token} if path.startswith("/v1/") else {}
    for _ in range(3):  # warm the caches
        fetch(path, headers=headers)
    time.sleep(0.2)
    start = offset()
    wall = []
    for _ in range(reqs):
        t = time.perf_counter()
        fetch(path, headers=headers)
        wall.append((time.perf_counter() - t) * 1000)
    time.sleep(0.3)  # the last log lines
    got = [latency(e) for e in log_lines(start)]
    server = [x / 1000 for x in got if x is not None][-reqs:]
    if len(server) < reqs:
        raise SystemExit(f"{name}: {len(server)} log lines for {reqs} requests")
    p95 = pct(server, 95)
    worst = max(worst, p95)
    print(f"| {name} | {pct(server, 50):.1f} | {p95:.1f} | {pct(wall, 95):.1f} |", flush=True)
print(f"\nworst server p95: {worst:.1f} ms over {len(pages)} pages, {reqs} requests each")

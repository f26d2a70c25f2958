"""Authorizations for a generated 837: reads `priorauth parse` JSON on stdin
and writes the SPEC 2.3 CSV. 3 of 4 REF*G1 numbers get a record (the rest are
"not on file"), 1 in 10 of those is denied, units 1-5, dates 2020-2030. A
claim with a patient loop (a dependent, SPEC 3.1) gets its authorizations
for that patient: the patient_birth_date column names them."""
import json
import sys
import zlib

def claims(text):
    """The claims of `priorauth parse` JSON one at a time (a 1M-claim file's
    JSON is too big to load whole as Python objects)."""
    dec = json.JSONDecoder()
    i = text.index("[", text.index('"claims"')) + 1
    while True:
        while text[i] in " \n\r\t,":
            i += 1
        if text[i] == "]":
            return
        c, i = dec.raw_decode(text, i)
        yield c


print("number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date")
seen = set()
for c in claims(sys.stdin.read()):
    nums = list(c["prior_auths"]) + [a for l in c["lines"] for a in l["prior_auths"]]
    for n in nums:
        h = zlib.crc32(n.encode())
        if n in seen or h % 4 == 0:
            continue
        seen.add(n)
        status = "approved" if h % 10 else "denied"
        member, npi = c["subscriber"]["member_id"], c["billing_npi"]
        born = (c.get("patient") or {}).get("birth_date") or ""
        print(f"{n},{member},{npi},,{h % 5 + 1},0,2020-01-01,2030-12-31,{status},{born}")

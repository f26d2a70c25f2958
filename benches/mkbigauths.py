#!/usr/bin/env python3
"""Writes N generated authorization rows as an import CSV to stdout.

Member i // 2 (two rows a member), 5000 provider NPIs, two thirds with
codes, one in ten denied. benches/store.sh and benches/import.sh both
write $PERF_DIR/auths-N.csv with it, so they time the same file.

usage: python3 benches/mkbigauths.py N > auths-N.csv
"""
import sys

n = int(sys.argv[1])
w = sys.stdout.write
w("number,member_id,provider_npi,codes,units,units_used,start_date,end_date,status,patient_birth_date\n")
for i in range(n):
    w(f"BIG{i:08d},M{i // 2:09d},{1000000000 + i % 5000},{'70551|70553' if i % 3 else ''},{i % 5 + 1},0,2020-01-01,2030-12-31,{'approved' if i % 10 else 'denied'},\n")

#!/usr/bin/env python3
"""ratios.py — the upload/download targets of issue 12 from a `make bench`
result (tests/bench/results/wharf-<date>.jsonl), as paired ratios (median
over repeats of the per-repeat ratio, measured side by side):

  blob_upload_monolithic  wharf / distribution+nginx   target >= 2
  blob_upload_chunked     wharf / distribution+nginx   target >= 2
  blob_download           wharf / limit (nginx sendfile of the same file)   target >= 0.9
  (and blob_download_par8 for information)

  python3 tests/bench/ratios.py tests/bench/results/wharf-<date>.jsonl [--target wharf --ref distribution+nginx]

The harness's own table puts every target against the first one
(distribution) only; this prints the comparisons the issue asks for.
"""
import argparse
import json
import statistics
import sys


def paired(a, b):
    rs = [x / y for x, y in zip(a["runs"], b["runs"]) if x is not None and y]
    return statistics.median(rs) if rs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl")
    ap.add_argument("--target", default="wharf")
    ap.add_argument("--ref", default="distribution+nginx")
    a = ap.parse_args()
    m = {}
    for line in open(a.jsonl):
        r = json.loads(line)
        m[(r["target"], r["metric"])] = r
    rows = [("blob_upload_monolithic", a.ref, 2.0), ("blob_upload_chunked", a.ref, 2.0),
            ("blob_download", "limit", 0.9), ("blob_download_par8", "limit", None)]
    print(f"| metric | {a.target} MB/s | vs | their MB/s | paired ratio | target | met? |")
    print("|---|---|---|---|---|---|---|")
    for metric, other, goal in rows:
        x, y = m.get((a.target, metric)), m.get((other, metric))
        if not x or not y:
            print(f"| {metric} | – | {other} | – | – | {goal or ''} | missing |")
            continue
        r = paired(x, y)
        met = "" if goal is None else ("yes" if r is not None and r >= goal else "no")
        who = "nginx sendfile (limit)" if other == "limit" else other
        print(f"| {metric} | {x['median']:,.0f} | {who} | {y['median']:,.0f} | {r:.2f}× | "
              f"{'≥ %g×' % goal if goal else '–'} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The repository index against the reference (issue 17), with the shared
harness (BENCH_DIR: benchlib, listing.walk):

  catalog_walk_s   GET /v2/_catalog?n=PAGE following Link to the end
                   (listing.py's walk, as its catalog scenario measures it)
  api_first_s      GET /_wharf/api/repositories?n=100: the UI's first page
  api_walk_s       /_wharf/api/repositories?n=1000 following "next" to the end
  api_filter_s     /_wharf/api/repositories?filter=F&n=100
  search_label_s   /_wharf/api/search?q=bench.repo=<k> (one repository matches)
  search_tag_s     /_wharf/api/search?q=v1&n=100 (every repository matches)

Usage: catalog.py --out PREFIX --repeat N --page 100 --expect N NAME=URL [NAME=URL...]
Targets named ref* get the catalog walk only (they have no /_wharf/api).
"""
import argparse
import json
import os
import sys

BENCH = os.environ.get("BENCH_DIR") or "/work/shared/bench"
sys.path.insert(0, BENCH)
import benchlib as bl  # noqa: E402
import listing  # noqa: E402


def api_get(cl, url):
    r, data = cl.request("GET", url, expect=(200,))
    return json.loads(data)


def timed(fn):
    t0 = bl.now()
    out = fn()
    return bl.now() - t0, out


def api_walk(target, n):
    cl = bl.Client(target)
    try:
        url, seen = f"/_wharf/api/repositories?n={n}", 0
        while url:
            body = api_get(cl, url)
            seen += len(body["repositories"])
            nxt = body.get("next")
            url = f"/_wharf/api/repositories?n={n}&last={nxt}" if nxt else None
        return seen
    finally:
        cl.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--expect", type=int, required=True, help="repositories the registry holds")
    ap.add_argument("--label", default="1234", help="bench.repo label value searched")
    ap.add_argument("--filter", default="r0123", help="list filter")
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    res = bl.Results(a.out)
    for spec in a.targets:
        name, url = spec.split("=", 1)
        t = bl.Target(url, name=name)
        vals = {}
        for _ in range(a.repeat):
            dt, pages, n = listing.walk(t, f"/v2/_catalog?n={a.page}", "registry:catalog:*", "repositories")
            if n != a.expect:
                raise SystemExit(f"{name}: _catalog walk saw {n} repositories, expected {a.expect}")
            vals.setdefault("catalog_walk_s", []).append(dt)
            if name.startswith("ref"):
                continue
            cl = bl.Client(t)
            try:
                dt, body = timed(lambda: api_get(cl, "/_wharf/api/repositories?n=100"))
                assert len(body["repositories"]) == min(100, a.expect) and body["repositories"][0]["tags"] >= 1
                vals.setdefault("api_first_s", []).append(dt)
                dt, body = timed(lambda: api_get(cl, f"/_wharf/api/repositories?filter={a.filter}&n=100"))
                assert body["repositories"], "the filter matches nothing"
                vals.setdefault("api_filter_s", []).append(dt)
                dt, body = timed(lambda: api_get(cl, f"/_wharf/api/search?q=bench.repo%3D{a.label}"))
                assert len(body["repositories"]) == 1, body
                vals.setdefault("search_label_s", []).append(dt)
                dt, body = timed(lambda: api_get(cl, "/_wharf/api/search?q=v1&n=100"))
                assert len(body["repositories"]) == min(100, a.expect)
                vals.setdefault("search_tag_s", []).append(dt)
            finally:
                cl.close()
            dt, n = timed(lambda: api_walk(t, 1000))
            if n != a.expect:
                raise SystemExit(f"{name}: list walk saw {n} repositories, expected {a.expect}")
            vals.setdefault("api_walk_s", []).append(dt)
        for metric, v in vals.items():
            res.add(name, metric, "s", v, better="lower", repos=a.expect, page=a.page)
            bl.log(f"  {name}: {metric} median {sorted(v)[len(v) // 2] * 1000:.1f} ms ({len(v)} runs)")
    res.close()


if __name__ == "__main__":
    main()

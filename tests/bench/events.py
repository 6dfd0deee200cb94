#!/usr/bin/env python3
"""events.py — what raising notifications' events costs a push (issue 14:
at most 5%). Two registries that differ only in notifications (off: no
endpoint; on: an endpoint, so every push, mount, delete and pull appends an
event to the journal, fdatasync'ed for pushes) get the same work, side by
side, in interleaved rounds (the order rotates each round):

  push   --images images, --concurrency at a time, each: --layers new layers
         of --layer-kb KiB and a config (POST + PUT with the body each), then
         the manifest by tag; the round's wall time and every push's time
  pull   every image of the round: manifest GET by tag, then each layer GET

Reported per target: the median over rounds of the wall time and of the
per-push p50; and the median of the per-round ratios on/off (the comparison
to read: both ran side by side within the round). Writes PREFIX.md and
PREFIX.jsonl (--out). With --switch CMD, one registry serves both targets
and `CMD off` / `CMD on` switches its configuration before each turn (no
difference between two instances can then pass for the events' cost).

  python3 events.py --target off=http://127.0.0.1:5000 --target on=http://127.0.0.1:5001

Python standard library only; every request goes to the targets given."""
import argparse
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.parse

OCI_M = "application/vnd.oci.image.manifest.v1+json"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Conn:
    def __init__(self, base):
        self.host = urllib.parse.urlsplit(base).netloc
        self.c = http.client.HTTPConnection(self.host, timeout=120)

    def req(self, method, path, body=None, headers=None, want=None):
        h = dict(headers or {})
        if body is not None:
            h["Content-Length"] = str(len(body))
        try:
            self.c.request(method, path, body=body, headers=h)
            r = self.c.getresponse()
        except (http.client.HTTPException, OSError):
            self.c.close()
            self.c = http.client.HTTPConnection(self.host, timeout=120)
            self.c.request(method, path, body=body, headers=h)
            r = self.c.getresponse()
        data = r.read()
        if want and r.status != want:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
        return r, data


def put_blob(c, repo, data):
    r, _ = c.req("POST", f"/v2/{repo}/blobs/uploads/", b"", None, 202)
    loc = urllib.parse.urlsplit(r.getheader("Location"))
    p = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + sha(data)
    c.req("PUT", p, data, {"Content-Type": "application/octet-stream"}, 201)


def make_image(seed, layers, layer_kb):
    blobs = []
    base = os.urandom(1024)
    for i in range(layers):
        b = (base * layer_kb)[: layer_kb * 1024 - 32] + hashlib.sha256(f"{seed}/{i}".encode()).digest()
        blobs.append(b)
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    m = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_M,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(cfg), "digest": sha(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "size": len(b), "digest": sha(b)}
                   for b in blobs],
    }).encode()
    return blobs, cfg, m


def run_pushes(base, images, concurrency):
    """push every (repo, blobs, cfg, manifest); returns wall, per-push times"""
    times, errors = [], []
    lock = threading.Lock()
    it = iter(images)

    def worker():
        c = Conn(base)
        while True:
            with lock:
                img = next(it, None)
            if img is None:
                return
            repo, blobs, cfg, m = img
            t0 = time.perf_counter()
            try:
                for b in blobs:
                    put_blob(c, repo, b)
                put_blob(c, repo, cfg)
                c.req("PUT", f"/v2/{repo}/manifests/latest", m, {"Content-Type": OCI_M}, 201)
            except Exception as e:  # noqa: BLE001 - reported
                with lock:
                    errors.append(str(e))
                continue
            with lock:
                times.append(time.perf_counter() - t0)

    ths = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return time.perf_counter() - t0, times, errors


def run_pulls(base, images):
    c = Conn(base)
    t0 = time.perf_counter()
    for repo, blobs, cfg, m in images:
        c.req("GET", f"/v2/{repo}/manifests/latest", None, {"Accept": OCI_M}, 200)
        for b in blobs:
            c.req("GET", f"/v2/{repo}/blobs/{sha(b)}", None, None, 200)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", action="append", required=True, help="NAME=URL (two: off and on)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--layer-kb", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--out", default=None)
    ap.add_argument("--switch", default=None,
                    help="command run as `CMD NAME` before each target's turn (one registry whose "
                         "configuration is switched: both targets then have the same URL)")
    a = ap.parse_args()
    targets = [t.split("=", 1) for t in a.target]
    names = [n for n, _ in targets]
    res = {n: {"push_wall": [], "push_p50": [], "pull_wall": [], "errors": 0} for n in names}
    for rnd in range(a.rounds):
        order = targets[rnd % len(targets):] + targets[: rnd % len(targets)]
        for name, url in order:
            if a.switch:
                subprocess.run(a.switch + " " + name, shell=True, check=True)
            imgs = []
            for i in range(a.images):
                blobs, cfg, m = make_image(f"{name}/{rnd}/{i}/{time.time_ns()}", a.layers, a.layer_kb)
                imgs.append((f"bench/r{rnd}/i{i}", blobs, cfg, m))
            wall, times, errors = run_pushes(url, imgs, a.concurrency)
            res[name]["push_wall"].append(wall)
            res[name]["push_p50"].append(statistics.median(times) if times else float("nan"))
            res[name]["errors"] += len(errors)
            res[name]["pull_wall"].append(run_pulls(url, imgs))
            for e in errors[:3]:
                print(f"# {name}: {e}")
    off, on = names[0], names[1]
    ratio = lambda k: statistics.median(b / a_ for a_, b in zip(res[off][k], res[on][k]))  # noqa: E731
    lines = [
        f"{a.rounds} rounds; each: {a.images} images ({a.layers} layers of {a.layer_kb} KiB + config + "
        f"manifest by tag), {a.concurrency} pushes at a time, then every image pulled (manifest + layers)",
        "",
        f"| metric | {off} | {on} | {on} / {off} (median of per-round ratios) |",
        "|---|---|---|---|",
    ]
    out = []
    for k, label in (("push_wall", "push: round wall (s)"), ("push_p50", "push: one image p50 (s)"),
                     ("pull_wall", "pull: round wall (s)")):
        mo, mn, r = statistics.median(res[off][k]), statistics.median(res[on][k]), ratio(k)
        lines.append(f"| {label} | {mo:.3f} | {mn:.3f} | {r:.3f} ({(r - 1) * 100:+.1f}%) |")
        out.append({"metric": k, off: res[off][k], on: res[on][k], "ratio_median": r})
    lines.append(f"| errors | {res[off]['errors']} | {res[on]['errors']} | |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out + ".md", "w") as f:
            f.write(text + "\n")
        with open(a.out + ".jsonl", "w") as f:
            for o in out:
                f.write(json.dumps(o) + "\n")


if __name__ == "__main__":
    main()

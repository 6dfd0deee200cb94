#!/usr/bin/env python3
"""pushes.py — many concurrent large pushes while pulls go on.

For each target in turn (never two at once):
  1. push a pull image (one --pull-mb layer) for the pullers;
  2. start --pullers threads that pull it in a loop (GET manifest by tag,
     then GET the layer, body read and dropped; one keep-alive connection
     each) until every push has ended;
  3. start --pushes pushers at once, each into its own repository: a layer of
     --size-mb bytes, new content each time (a random buffer whose last 32
     bytes differ per push; the hash of the unchanging prefix is computed once,
     outside the timing), uploaded
       monolithic  POST, PUT <location>&digest= with the whole layer
       chunked     POST, PATCH <location> with Content-Range in --chunk-mb pieces, PUT ?digest=
       mixed       (default) the two in turn,
     then a small config blob and the manifest (PUT by tag);
  4. check every push: GET the manifest (same bytes) and HEAD the layer (its
     size); a push that failed or does not check out is an error;
  5. meanwhile sample, every 0.1 s from /proc, VmRSS of the registry's
     processes (--pool NAME=pidfile:PATH: a Wharf master and its workers, or
     pid:N) and of the front (--front: nginx/Apache master and children).

Reported per target: pushes completed and errors, wall time (first byte of
the first push to the end of the last) and aggregate MB/s (MB = 10^6 bytes),
per-push time p50/max, pulls completed and errors and manifest GET p50/p99
during the pushes, peak RSS: the pool's sum at one sample, the master, the
largest worker, the number of workers seen; the front's sum. Writes
PREFIX.md and PREFIX.jsonl (--out).

  python3 pushes.py --target wharf=http://127.0.0.1:5000 --pool wharf=pidfile:run/wharf.pid \\
                    --front wharf=pidfile:run/nginx.pid --target ref=http://127.0.0.1:5090 --pool ref=pid:1234

Python standard library only; every request goes to the targets given.
"""

import argparse
import collections
import hashlib
import http.client
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reglib as R  # noqa: E402

TAIL = 32


class Data:
    """One random buffer of `size` bytes; push k sends its prefix plus a
    32-byte tail of its own."""

    def __init__(self, size):
        self.size = size
        self.buf = bytearray(os.urandom(size))
        self.mv = memoryview(self.buf)
        self.prefix_hash = hashlib.sha256(self.mv[:size - TAIL])

    def variant(self, label):
        tail = hashlib.sha256(label.encode()).digest()[:TAIL]
        h = self.prefix_hash.copy()
        h.update(tail)
        return tail, "sha256:" + h.hexdigest()


def send_body(c, data, tail, start, end):
    """Bytes [start, end) of the variant (buffer prefix + tail)."""
    cut = data.size - TAIL
    if start < cut:
        c.sock.sendall(data.mv[start:min(end, cut)])
    if end > cut:
        c.sock.sendall(tail[max(0, start - cut):end - cut])


def upload(a, t, c, repo, data, tail, digest, mode, timeout):
    def req(method, url, headers, start, end):
        c.putrequest(method, t.split(url), skip_accept_encoding=True)
        for k, v in headers.items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(end - start))
        c.endheaders()
        if end > start:
            send_body(c, data, tail, start, end)
        r = c.getresponse()
        body = r.read()
        return r, body

    st, h, body = R.request(t, "POST", f"/v2/{repo}/blobs/uploads/", body=b"", c=c)
    if st != 202:
        raise RuntimeError(f"POST uploads -> {st} {body[:200]!r}")
    loc = h["location"]
    ct = {"Content-Type": "application/octet-stream"}
    if mode == "monolithic":
        r, body = req("PUT", R.with_query(loc, digest=digest), ct, 0, data.size)
        if r.status != 201:
            raise RuntimeError(f"PUT blob -> {r.status} {body[:200]!r}")
        return
    step = a.chunk_mb * R.MiB
    for start in range(0, data.size, step):
        end = min(data.size, start + step)
        r, body = req("PATCH", loc, dict(ct, **{"Content-Range": f"{start}-{end - 1}"}), start, end)
        if r.status != 202:
            raise RuntimeError(f"PATCH {start}-{end - 1} -> {r.status} {body[:200]!r}")
        loc = r.getheader("Location") or loc
    r, body = req("PUT", R.with_query(loc, digest=digest), {}, 0, 0)
    if r.status != 201:
        raise RuntimeError(f"PUT ?digest -> {r.status} {body[:200]!r}")


class Pusher(threading.Thread):
    def __init__(self, a, t, i, repo, data, mode, go):
        super().__init__(daemon=True)
        self.a, self.t, self.i, self.repo, self.data, self.mode, self.go = a, t, i, repo, data, mode, go
        self.tail, self.digest = data.variant(f"{repo}/{i}/{time.time_ns()}")
        self.cfg = R.config_blob(f"{repo} {i}")
        self.manifest = R.manifest(self.cfg, [(self.digest, data.size)])
        self.rec = {"push": i, "mode": mode, "repo": repo, "ok": False, "error": None}

    def run(self):
        self.go.wait()
        t0 = time.monotonic()
        self.rec["t_start"] = t0
        c = R.conn(self.t, self.a.timeout)
        stage = "layer"
        try:
            upload(self.a, self.t, c, self.repo, self.data, self.tail, self.digest, self.mode, self.a.timeout)
            stage = "config"
            R.put_blob(self.t, self.repo, self.cfg, timeout=self.a.timeout)
            stage = "manifest"
            R.put_manifest(self.t, self.repo, "latest", self.manifest, timeout=self.a.timeout)
            self.rec["ok"] = True
        except (socket.timeout, TimeoutError):
            self.rec["error"] = f"{stage}: timeout ({self.a.timeout:g} s)"
        except (OSError, http.client.HTTPException, RuntimeError, KeyError) as e:
            self.rec["error"] = f"{stage}: {type(e).__name__}: {e}"[:300]
        finally:
            c.close()
        self.rec["t_end"] = time.monotonic()
        self.rec["seconds"] = round(self.rec["t_end"] - t0, 3)


class Puller(threading.Thread):
    def __init__(self, a, t, repo, manifest, digest, size, done):
        super().__init__(daemon=True)
        self.a, self.t, self.repo, self.m, self.digest, self.size, self.done = a, t, repo, manifest, digest, size, done
        self.pulls, self.manifest_ms, self.errors = [], [], collections.Counter()

    def run(self):
        c = None
        buf = memoryview(bytearray(R.MiB))
        while not self.done.is_set():
            t0 = time.monotonic()
            try:
                if c is None:
                    c = R.conn(self.t, self.a.timeout)
                c.request("GET", f"/v2/{self.repo}/manifests/v1", headers={"Accept": R.ACCEPT})
                r = c.getresponse()
                body = r.read()
                self.manifest_ms.append((time.monotonic() - t0) * 1000)
                if r.status != 200 or body != self.m:
                    self.errors[f"manifest {r.status}"] += 1
                    c.close()
                    c = None
                    continue
                c.request("GET", f"/v2/{self.repo}/blobs/{self.digest}")
                r = c.getresponse()
                if r.status in (301, 302, 303, 307, 308):  # an object store's redirect
                    r.read()
                    st, _, body = R.request(self.t, "GET", r.getheader("Location"), timeout=self.a.timeout)
                    n = len(body)
                elif r.status != 200:
                    r.read()
                    self.errors[f"blob {r.status}"] += 1
                    continue
                else:
                    n = 0
                    while True:
                        k = r.readinto(buf)
                        if not k:
                            break
                        n += k
                if n != self.size:
                    self.errors["blob short"] += 1
                    c.close()
                    c = None
                    continue
                self.pulls.append(time.monotonic() - t0)
            except (socket.timeout, TimeoutError):
                self.errors["timeout"] += 1
                c and c.close()
                c = None
            except (OSError, http.client.HTTPException) as e:
                self.errors[type(e).__name__] += 1
                c and c.close()
                c = None
                time.sleep(0.05)
        if c:
            c.close()


def check(a, t, p):
    """The push's manifest is served as pushed and its layer has its size."""
    try:
        st, _, body = R.request(t, "GET", f"/v2/{p.repo}/manifests/latest", headers={"Accept": R.ACCEPT},
                                timeout=a.timeout)
        if st != 200 or body != p.manifest:
            return f"check: manifest GET {st}" + ("" if st != 200 else " (other bytes)")
        st, h, _ = R.request(t, "HEAD", f"/v2/{p.repo}/blobs/{p.digest}", timeout=a.timeout)
        if st != 200 or int(h.get("content-length", -1)) != p.data.size:
            return f"check: layer HEAD {st} length {h.get('content-length')}"
    except (OSError, http.client.HTTPException) as e:
        return f"check: {type(e).__name__}: {e}"
    return None


def run_target(a, t, run_id, data, out):
    log = R.log
    repo = R.bench_repo("push", run_id, t)
    rec = R.start_rec(run_id, t, pushes=a.pushes, size_mb=a.size_mb, mode=a.mode, chunk_mb=a.chunk_mb,
                      pullers=a.pullers, pull_mb=a.pull_mb)
    log(f"{t.name}: push the pull image ({a.pull_mb} MiB layer)")
    layer = os.urandom(a.pull_mb * R.MiB)
    m, ld = R.push_image(t, repo + "/pull", "v1", layer)
    del layer
    pool = R.ProcSampler(t.pool, a.rss_interval) if t.pool else None
    front = R.ProcSampler(t.front, a.rss_interval) if t.front else None
    for s in (pool, front):
        if s:
            s.start()
    time.sleep(0.3)  # the idle pool in the samples
    done, go = threading.Event(), threading.Event()
    pullers = [Puller(a, t, repo + "/pull", m, ld, a.pull_mb * R.MiB, done) for _ in range(a.pullers)]
    modes = ["monolithic", "chunked"]
    pushers = [Pusher(a, t, i, f"{repo}/p{i}", data, modes[i % 2] if a.mode == "mixed" else a.mode, go)
               for i in range(a.pushes)]
    for p in pullers + pushers:
        p.start()
    log(f"{t.name}: {a.pushes} pushes of {a.size_mb} MiB ({a.mode}) with {a.pullers} pullers")
    t0 = time.monotonic()
    go.set()
    deadline = t0 + a.timeout * 3
    last = t0
    for p in pushers:
        while p.is_alive() and time.monotonic() < deadline:
            p.join(1.0)
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                n = sum(1 for q in pushers if not q.is_alive())
                w = f", pool {pool.series[-1][1]} workers {pool.series[-1][2] / 1024:.0f} MiB" if pool and pool.series else ""
                log(f"{t.name}: t={last - t0:.0f}s {n}/{a.pushes} pushes ended{w}")
    wall = max((p.rec.get("t_end", time.monotonic()) for p in pushers), default=t0) - t0
    done.set()
    for p in pullers:
        p.join(a.timeout + 5)
    for s in (pool, front):
        if s:
            s.stop()
    for p in pushers:
        if p.is_alive():
            p.rec["error"] = "still running at the deadline"
        elif p.rec["ok"]:
            err = check(a, t, p)
            if err:
                p.rec["ok"], p.rec["error"] = False, err
    ok = [p.rec for p in pushers if p.rec["ok"]]
    errs = collections.Counter((p.rec["error"] or "?").split(" b'")[0][:120] for p in pushers if not p.rec["ok"])
    secs = [p.rec["seconds"] for p in pushers if "seconds" in p.rec]
    man_ms = [x for p in pullers for x in p.manifest_ms]
    perr = collections.Counter()
    for p in pullers:
        perr.update(p.errors)
    rec.update({
        "load_end": R.loadavg(), "ok": len(ok), "errors": a.pushes - len(ok), "error_kinds": dict(errs),
        "wall_s": round(wall, 2), "mb_s": round(len(ok) * data.size / 1e6 / wall, 1) if wall > 0 else None,
        "push_p50_s": R.pct(secs, 50), "push_max_s": max(secs, default=None),
        "pulls": sum(len(p.pulls) for p in pullers), "pull_errors": dict(perr),
        "pull_p50_s": R.pct([x for p in pullers for x in p.pulls], 50),
        "manifest_get_p50_ms": R.pct(man_ms, 50), "manifest_get_p99_ms": R.pct(man_ms, 99),
        "manifest_get_max_ms": max(man_ms, default=None),
        **R.pool_fields(t, pool),
        "front": front.report() if front else None,
        "pushes_raw": [{k: v for k, v in p.rec.items() if k not in ("t_start", "t_end")} for p in pushers],
    })
    out.record(rec)
    log(f"{t.name}: {len(ok)}/{a.pushes} pushes ok in {wall:.1f} s; pulls {rec['pulls']} "
        f"(errors {sum(perr.values())}); pool peak {rec['pool'] and rec['pool']['peak_sum_mib']} MiB")
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    R.target_args(ap, "NAME=pidfile:PATH or NAME=pid:N,N (registry processes + children)",
                  "NAME=pidfile:PATH or NAME=pid:N (web server + children)")
    ap.add_argument("--pushes", type=int, default=int(os.environ.get("PUSH_COUNT", 32)))
    ap.add_argument("--size-mb", type=int, default=int(os.environ.get("PUSH_MB", 64)))
    ap.add_argument("--mode", default=os.environ.get("PUSH_MODE", "mixed"), choices=["mixed", "monolithic", "chunked"])
    ap.add_argument("--chunk-mb", type=int, default=int(os.environ.get("PUSH_CHUNK_MB", 16)))
    ap.add_argument("--pullers", type=int, default=int(os.environ.get("PUSH_PULLERS", 4)))
    ap.add_argument("--pull-mb", type=int, default=int(os.environ.get("PUSH_PULL_MB", 16)))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("PUSH_TIMEOUT", 120)),
                    help="socket timeout of every request (s); the pushes get 3x this in all")
    ap.add_argument("--rss-interval", type=float, default=0.1)
    R.output_args(ap, "concurrent pushes while pulling")
    a = ap.parse_args()
    targets = R.targets_of(a)
    run_id = R.run_id_now()
    out = R.Output(a.out)
    load0 = R.loadavg()
    R.log(f"generating {a.size_mb} MiB of random data")
    data = Data(a.size_mb * R.MiB)
    recs = R.run_all(targets, lambda t: run_target(a, t, run_id, data, out), out)
    md = out.md
    R.md_head(out, a.title, run_id, load0)
    md(f"{a.pushes} concurrent pushes of one {a.size_mb} MiB layer each ({a.mode}"
       f"{f', {a.chunk_mb} MiB PATCHes' if a.mode != 'monolithic' else ''}) + config + manifest, each to its own "
       f"repository, while {a.pullers} clients pull a {a.pull_mb} MiB image in a loop. Wall time from the first "
       f"push's start to the last one's end; MB/s = completed layer bytes / wall (MB = 10^6 B). RSS: VmRSS from /proc "
       f"every {a.rss_interval:g} s; 'pool' = the registry's processes (Wharf: master + workers), summed at one sample; "
       f"'front' = the web server's master + workers. Targets run one after the other.", "")
    rows = []
    hdr = ["target", "pushes ok", "errors", "wall s", "MB/s", "push p50 / max s", "pulls (errors)",
           "manifest GET p50 / p99 ms", "pool peak MiB", "master MiB", "worker max MiB", "workers seen (max at once)",
           "front peak MiB"]
    for r in recs:
        if "error" in r:
            rows.append([r["target"], "ERROR: " + r["error"]] + [""] * (len(hdr) - 2))
            continue
        pl, fr, wh = r["pool"], r["front"], r.get("pool_kind") == "pidfile"
        rows.append([r["target"], f"{r['ok']}/{r['pushes']}", r["errors"], R.fmt(r["wall_s"]), R.fmt(r["mb_s"]),
                     f"{R.fmt(r['push_p50_s'])} / {R.fmt(r['push_max_s'])}",
                     f"{r['pulls']} ({sum(r['pull_errors'].values())})",
                     f"{R.fmt(r['manifest_get_p50_ms'])} / {R.fmt(r['manifest_get_p99_ms'])}",
                     R.fmt(pl["peak_sum_mib"]) if pl else "–",
                     R.fmt(pl["root_peak_mib"]) if pl and wh else "–",
                     R.fmt(pl["child_peak_max_mib"]) if pl and wh else "–",
                     f"{pl['children_seen']} ({pl['children_max']})" if pl and wh else "–",
                     R.fmt(fr["peak_sum_mib"]) if fr else "–"])
    for line in R.table(hdr, rows):
        md(line)
    md("")
    for r in recs:
        if "error" in r:
            continue
        md(f"- **{r['target']}** ({r['url']}; load {r['load_start']} → {r['load_end']}): "
           + (f"errors {r['error_kinds']}; " if r["errors"] else "no push error; ")
           + (f"pull errors {r['pull_errors']}; " if r["pull_errors"] else "no pull error; ")
           + f"pull p50 {R.fmt(r['pull_p50_s'], 2)} s, manifest GET max {R.fmt(r['manifest_get_max_ms'])} ms"
           + (f"; workers every 5 s: {r['pool_series']}; worker peak median {r['pool']['child_peak_median_mib']} MiB"
              if r.get("pool_kind") == "pidfile" and r["pool"] else ""))
    return R.done(out, a.out)


if __name__ == "__main__":
    sys.exit(main())

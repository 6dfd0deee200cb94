#!/usr/bin/env python3
"""slow.py — slow uploaders against a registry while a probe pulls manifests.

For each target in turn (never two at once):
  1. push a small image (the probe's manifest);
  2. idle baseline: the probe alone for --idle seconds;
  3. open --clients upload sessions (POST /v2/<repo>/blobs/uploads/);
  4. each client sends one upload body of --rate B/s x --seconds bytes,
     trickled at --rate bytes per second (--interval s between writes), from
     its own loopback address 127.0.0.(10+i) (48 CI jobs are 48 addresses; a
     per-address limit at the front must not see one client), with
       patch    PATCH <location>, Content-Length (docker's streamed layer, with a length)
       chunked  PATCH <location>, Transfer-Encoding: chunked (buildah/podman)
       put      PUT <location>&digest=..., Content-Length (monolithic upload)
       mix      the three in turn;
     a client whose body is complete waits up to --grace s for the answer,
     and after a 202 finishes the upload with PUT ?digest= (201 = completed);
  5. meanwhile the probe sends --probe-rate manifest GETs per second (by tag,
     a new connection each, from 127.0.0.2), open loop (one every 1/rate s,
     whatever the previous ones are doing); a GET that is not answered 200
     within --timeout s is a failure;
  6. with --pool NAME=pidfile:PATH (a Wharf master's pid file), the number of
     the master's child processes (workers) is sampled every 0.5 s.

A slow client is "cut" when the server answers or closes before its body is
complete (when: seconds after its first byte). Reported per target: probe
GET p50/p99/max (failures count at their elapsed time, >= --timeout) and
failures by kind, idle p50/p99, slow clients cut/answered/completed, pool
size over time. Writes PREFIX.md and PREFIX.jsonl (--out).

  python3 slow.py --target wharf=http://127.0.0.1:5000 --pool wharf=pidfile:run/wharf.pid \\
                  --target ref=http://127.0.0.1:5090 [--clients 48 --rate 2048 --seconds 60]

Python standard library only. Every request goes to the targets given
(loopback); every loop is bounded in time.
"""

import argparse
import collections
import json
import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reglib as R  # noqa: E402


def parse_status(raw):
    line = raw.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1]), line
    return None, line


class SlowClient(threading.Thread):
    def __init__(self, a, t, i, mode, location, source, start_at):
        super().__init__(daemon=True)
        self.a, self.t, self.i, self.mode = a, t, i, mode
        self.location, self.source, self.start_at = location, source, start_at
        n = int(a.rate * a.seconds)
        self.data = os.urandom(n)
        self.digest = R.sha(self.data)
        self.rec = {"client": i, "mode": mode, "source": source, "body_bytes": n, "sent": 0,
                    "cut": False, "cut_at_s": None, "cut_by": None, "answer": None,
                    "answer_after_body_s": None, "finalized": None, "error": None}

    def _headers(self):
        if self.mode == "put":
            method, url = "PUT", R.with_query(self.location, digest=self.digest)
        else:
            method, url = "PATCH", self.location
        h = [f"{method} {self.t.split(url)} HTTP/1.1", f"Host: {self.t.host}:{self.t.port}",
             "User-Agent: wharf-bench-slow", "Content-Type: application/octet-stream"]
        if self.mode == "chunked":
            h.append("Transfer-Encoding: chunked")
        else:
            h.append(f"Content-Length: {len(self.data)}")
        return method, ("\r\n".join(h) + "\r\n\r\n").encode()

    def _early(self, s, t_first):
        """The server spoke (or closed) before the body was complete."""
        self.rec["cut"] = True
        self.rec["cut_at_s"] = round(time.monotonic() - t_first, 2)
        try:
            s.settimeout(2)
            raw = s.recv(4096)
        except OSError as e:
            raw = b""
            self.rec["cut_by"] = type(e).__name__
            return
        if not raw:
            self.rec["cut_by"] = "closed"
            return
        st, line = parse_status(raw)
        self.rec["cut_by"] = line
        self.rec["answer"] = st

    def run(self):
        a, rec = self.a, self.rec
        try:
            method, head = self._headers()
            time.sleep(max(0.0, self.start_at - time.monotonic()))
            s = socket.create_connection((self.t.host, self.t.port), timeout=10,
                                         source_address=(self.source, 0) if self.source else None)
        except OSError as e:
            rec["error"] = f"connect: {type(e).__name__}: {e}"
            return
        try:
            self._trickle(s, method, head)
        except Exception as e:  # report, never kill the run
            rec["error"] = f"{type(e).__name__}: {e}"
        finally:
            s.close()

    def _trickle(self, s, method, head):
        a, rec = self.a, self.rec
        chunk = max(1, int(a.rate * a.interval))
        s.settimeout(10)
        s.sendall(head)
        t_first = time.monotonic()
        next_t = t_first
        sent, n = 0, len(self.data)
        while sent < n:
            wait = max(0.0, next_t - time.monotonic())
            r, _, _ = select.select([s], [], [], wait)
            if r:
                self._early(s, t_first)
                return
            piece = self.data[sent:sent + chunk]
            if self.mode == "chunked":
                piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
            try:
                s.sendall(piece)
            except socket.timeout:
                rec["cut"], rec["cut_by"] = True, "send blocked 10 s (server not reading)"
                rec["cut_at_s"] = round(time.monotonic() - t_first, 2)
                return
            except OSError as e:
                rec["cut"], rec["cut_by"] = True, type(e).__name__
                rec["cut_at_s"] = round(time.monotonic() - t_first, 2)
                return
            sent += min(chunk, n - sent)
            rec["sent"] = sent
            next_t += a.interval
        if self.mode == "chunked":
            s.sendall(b"0\r\n\r\n")
        t_body = time.monotonic()
        rec["body_s"] = round(t_body - t_first, 2)
        s.settimeout(a.grace)
        resp = R.http.client.HTTPResponse(s, method=method)
        try:
            resp.begin()
            resp.read()
        except (socket.timeout, TimeoutError):
            rec["answer"] = "timeout"
            return
        except (OSError, R.http.client.HTTPException) as e:
            rec["answer"] = type(e).__name__
            return
        rec["answer"] = resp.status
        rec["answer_after_body_s"] = round(time.monotonic() - t_body, 3)
        if self.mode != "put" and resp.status == 202:
            loc = resp.getheader("Location") or self.location
            try:
                st, _, _ = R.request(self.t, "PUT", R.with_query(loc, digest=self.digest), body=b"",
                                     timeout=a.grace, source=self.source)
                rec["finalized"] = st
            except OSError as e:
                rec["finalized"] = type(e).__name__
        elif self.mode == "put":
            rec["finalized"] = resp.status


class Probe(threading.Thread):
    """Open-loop manifest GETs: one every 1/rate s until stop(), each in its
    own thread on a new connection."""

    def __init__(self, a, t, repo, tag, want):
        super().__init__(daemon=True)
        self.a, self.t, self.path, self.want = a, t, f"/v2/{repo}/manifests/{tag}", want
        self.results = []  # (t_rel, ms, ok, what)
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self.threads = []

    def one(self, t_rel):
        a = self.a
        t0 = time.monotonic()
        what = "200"
        try:
            st, _, body = R.request(self.t, "GET", self.path, headers={"Accept": R.ACCEPT},
                                    timeout=a.timeout, source=a.probe_source)
            ok = st == 200 and body == self.want
            if st != 200:
                what = str(st)
            elif body != self.want:
                what = "wrong body"
        except (socket.timeout, TimeoutError):
            ok, what = False, "timeout"
        except (OSError, R.http.client.HTTPException) as e:
            ok, what = False, type(e).__name__
        ms = (time.monotonic() - t0) * 1000
        if ok and ms > a.timeout * 1000:
            ok, what = False, "timeout"
        with self.lock:
            self.results.append((round(t_rel, 3), round(ms, 2), ok, what))

    def run(self):
        t0 = time.monotonic()
        k = 0
        while not self._halt.is_set():
            due = t0 + k / self.a.probe_rate
            if self._halt.wait(max(0.0, due - time.monotonic())):
                break
            th = threading.Thread(target=self.one, args=(time.monotonic() - t0,), daemon=True)
            th.start()
            self.threads.append(th)
            k += 1

    def stop(self):
        self._halt.set()
        self.join()
        for th in self.threads:
            th.join(self.a.timeout + 5)


def summarize_probe(res, timeout):
    ms = [m for _, m, _, _ in res]
    fails = collections.Counter(w for _, _, ok, w in res if not ok)
    return {"n": len(res), "failed": sum(fails.values()), "fail_kinds": dict(fails),
            "p50_ms": R.pct(ms, 50), "p99_ms": R.pct(ms, 99), "max_ms": max(ms) if ms else None,
            "first_fail_s": min((t for t, _, ok, _ in res if not ok), default=None)}


def run_target(a, t, run_id, out):
    log = R.log
    rec = R.start_rec(run_id, t, clients=a.clients, rate=a.rate, seconds=a.seconds, mode=a.mode,
                      probe_rate=a.probe_rate, timeout=a.timeout)
    repo = R.bench_repo("slow", run_id, t)
    log(f"{t.name}: push the probe's image")
    m, _ = R.push_image(t, repo + "/probe", "v1", os.urandom(2048))
    sampler = R.ProcSampler(t.pool, 0.5) if t.pool else None
    if sampler:
        sampler.start()
    log(f"{t.name}: idle baseline {a.idle} s")
    p = Probe(a, t, repo + "/probe", "v1", m)
    p.start()
    time.sleep(a.idle)
    p.stop()
    idle = summarize_probe(p.results, a.timeout)
    log(f"{t.name}: idle p50 {R.fmt(idle['p50_ms'])} ms p99 {R.fmt(idle['p99_ms'])} ms; "
        f"opening {a.clients} upload sessions")
    modes = ["patch", "chunked", "put"]
    clients, post_fail = [], collections.Counter()
    for i in range(a.clients):
        mode = modes[i % 3] if a.mode == "mix" else a.mode
        src = a.probe_source and f"127.0.0.{10 + i % 240}"
        try:
            st, h, body = R.request(t, "POST", f"/v2/{repo}/up{i}/blobs/uploads/", body=b"", timeout=30)
            if st != 202 or "location" not in h:
                post_fail[str(st)] += 1
                continue
        except OSError as e:
            post_fail[type(e).__name__] += 1
            continue
        clients.append((i, mode, h["location"], src))
    t_start = time.monotonic() + 0.5
    sc = [SlowClient(a, t, i, mode, loc, src, t_start + (i / max(1, len(clients))) * min(2.0, a.interval * 4))
          for i, mode, loc, src in clients]
    for c in sc:
        c.start()
    time.sleep(max(0.0, t_start + 2.0 - time.monotonic()))  # every body has begun
    log(f"{t.name}: {len(sc)} slow clients trickling {a.rate} B/s for {a.seconds} s; probe {a.probe_rate}/s")
    t_from = (time.monotonic() - sampler.t0) if sampler else 0
    p = Probe(a, t, repo + "/probe", "v1", m)
    p.start()
    end = t_start + a.seconds
    last = time.monotonic()
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        if time.monotonic() - last >= 10:
            last = time.monotonic()
            with p.lock:
                r = list(p.results)
            s = summarize_probe(r, a.timeout)
            busy = f", pool {sampler.series[-1][1]} workers" if sampler and sampler.series else ""
            log(f"{t.name}: t={last - t_start:.0f}s GETs {s['n']} failed {s['failed']} "
                f"p99 {R.fmt(s['p99_ms'])} ms{busy}")
    p.stop()
    log(f"{t.name}: trickle over; waiting for the slow clients' answers (at most {a.grace:.0f} s + finish)")
    for c in sc:
        c.join(a.grace * 2 + 15)
    if sampler:
        sampler.stop()
    under = summarize_probe(p.results, a.timeout)
    cr = [c.rec for c in sc]
    cut = [c for c in cr if c["cut"]]
    answers = collections.Counter(str(c["answer"]) for c in cr if not c["cut"])
    finals = collections.Counter(str(c["finalized"]) for c in cr if c["finalized"] is not None)
    completed = sum(1 for c in cr if c["finalized"] == 201)
    errors = collections.Counter(c["error"] for c in cr if c["error"])
    rec.update({
        "load_end": R.loadavg(), "idle": idle, "under_load": under,
        "sessions_opened": len(clients), "post_failures": dict(post_fail),
        "slow_cut": len(cut), "slow_cut_at_s": sorted(c["cut_at_s"] for c in cut),
        "slow_cut_by": dict(collections.Counter(c["cut_by"] for c in cut)),
        "slow_answers": dict(answers), "slow_finalized": dict(finals), "uploads_completed": completed,
        "slow_errors": dict(errors),
        "answer_after_body_s_max": max((c["answer_after_body_s"] or 0 for c in cr), default=None),
        **R.pool_fields(t, sampler, t_from),
        "met": under["n"] > 0 and under["failed"] == 0 and (under["p99_ms"] or 0) <= a.target_p99,
        "probe_raw": p.results, "clients_raw": cr,
    })
    out.record(rec)
    log(f"{t.name}: GETs {under['n']} failed {under['failed']} p50 {R.fmt(under['p50_ms'])} "
        f"p99 {R.fmt(under['p99_ms'])} max {R.fmt(under['max_ms'])} ms; cut {len(cut)}; completed {completed}")
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    R.target_args(ap, "NAME=pidfile:PATH or NAME=pid:N: count its child processes",
                  "NAME=pidfile:PATH (accepted for symmetry with pushes.py; unused)")
    ap.add_argument("--clients", type=int, default=int(os.environ.get("SLOW_CLIENTS", 48)))
    ap.add_argument("--rate", type=float, default=float(os.environ.get("SLOW_RATE", 2048)), help="bytes/s per client")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SLOW_SECONDS", 60)))
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between two writes of a client")
    ap.add_argument("--mode", default=os.environ.get("SLOW_MODE", "patch"), choices=["patch", "chunked", "put", "mix"])
    ap.add_argument("--probe-rate", type=float, default=float(os.environ.get("SLOW_PROBE_RATE", 5)))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("SLOW_TIMEOUT", 5)))
    ap.add_argument("--idle", type=float, default=3.0, help="seconds of idle baseline")
    ap.add_argument("--grace", type=float, default=30.0, help="seconds a complete body waits for its answer")
    ap.add_argument("--target-p99", type=float, default=100.0, help="ms: the 'met' column")
    ap.add_argument("--one-address", action="store_true", help="every client from 127.0.0.1 (default: one address each)")
    R.output_args(ap, "slow uploaders vs manifest GETs")
    a = ap.parse_args()
    a.probe_source = None if a.one_address else "127.0.0.2"
    targets = R.targets_of(a, ("pool",))
    run_id = R.run_id_now()
    out = R.Output(a.out)
    load0 = R.loadavg()
    recs = R.run_all(targets, lambda t: run_target(a, t, run_id, out), out)
    md = out.md
    R.md_head(out, a.title, run_id, load0)
    md(f"{a.clients} clients, each one upload body ({a.mode}) of {int(a.rate * a.seconds)} bytes trickled at "
       f"{a.rate:.0f} B/s for {a.seconds:.0f} s, {'all from 127.0.0.1' if a.one_address else 'each from its own 127.0.0.x'}; "
       f"probe: {a.probe_rate:g} manifest GETs/s by tag (new connection each), failure = not 200 "
       f"within {a.timeout:g} s (failures count in the percentiles at their elapsed time). Targets run one after the other.", "")
    rows = []
    for r in recs:
        if "error" in r:
            rows.append([r["target"], "ERROR: " + r["error"]] + [""] * 8)
            continue
        u, i = r["under_load"], r["idle"]
        cut = f"{r['slow_cut']}" + (f" ({r['slow_cut_at_s'][0]:.0f}–{r['slow_cut_at_s'][-1]:.0f} s)" if r["slow_cut"] else "")
        pool = "–"
        if r["pool"] and r.get("pool_kind") == "pidfile":
            pool = f"{r['pool']['children_min']}–{r['pool']['children_max']}"
        rows.append([r["target"], f"{R.fmt(i['p50_ms'])} / {R.fmt(i['p99_ms'])}", u["n"], u["failed"],
                     R.fmt(u["p50_ms"]), R.fmt(u["p99_ms"]), R.fmt(u["max_ms"]),
                     cut, f"{r['uploads_completed']}/{r['sessions_opened']}", pool,
                     "yes" if r["met"] else "no"])
    for line in R.table(["target", "idle GET p50 / p99 ms", "GETs", "failed", "p50 ms", "p99 ms", "max ms",
                         "slow clients cut by the front (when)", "uploads completed", "pool workers (min–max)",
                         f"p99 ≤ {a.target_p99:g} ms, 0 failed"], rows):
        md(line)
    md("")
    for r in recs:
        if "error" in r:
            continue
        u = r["under_load"]
        md(f"- **{r['target']}** ({r['url']}; load {r['load_start']} → {r['load_end']}): "
           f"GET failures {json.dumps(u['fail_kinds']) if u['failed'] else 'none'}"
           + (f", first at {u['first_fail_s']:.1f} s" if u["failed"] else "")
           + f"; slow bodies answered {json.dumps(r['slow_answers'])}, finished {json.dumps(r['slow_finalized'])}"
           + (f", cut by {json.dumps(r['slow_cut_by'])}" if r["slow_cut"] else "")
           + (f", client errors {json.dumps(r['slow_errors'])}" if r["slow_errors"] else "")
           + (f", POST failures {json.dumps(r['post_failures'])}" if r["post_failures"] else "")
           + (f"; slowest answer {r['answer_after_body_s_max']:.2f} s after the body" if r["answer_after_body_s_max"] else "")
           + (f"; pool workers every 5 s: {r['pool_series']}" if r.get("pool_kind") == "pidfile" else "")
           + (f"; registry peak RSS {r['pool']['peak_sum_mib']} MiB" if r["pool"] else ""))
    return R.done(out, a.out)


if __name__ == "__main__":
    sys.exit(main())

"""reglib — small stdlib helpers shared by tests/bench/slow.py and pushes.py:
targets, one-shot HTTP requests (optionally from a chosen loopback source
address), a tiny image, percentiles, pool and memory sampling from /proc,
and the output files (PREFIX.md, PREFIX.jsonl).

No third-party modules: python3 standard library only.
"""

import hashlib
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
ACCEPT = ", ".join([
    OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
MiB = 1 << 20


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


class Target:
    """NAME=URL (http only), plus the optional pool/front process specs."""

    def __init__(self, spec):
        name, _, url = spec.partition("=")
        if not url:
            raise SystemExit(f"--target wants NAME=URL, not {spec!r}")
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http":
            raise SystemExit(f"--target {name}: only http:// URLs")
        self.name, self.url = name, url.rstrip("/")
        self.host, self.port = u.hostname, u.port or 80
        self.pool = None   # ProcSpec of the registry's processes
        self.front = None  # ProcSpec of the web server in front

    def split(self, url):
        """(path?query) of a URL or absolute path, relative to this target."""
        u = urllib.parse.urlsplit(urllib.parse.urljoin(self.url + "/", url))
        return (u.path or "/") + ("?" + u.query if u.query else "")


def with_query(url, **params):
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def conn(t, timeout, source=None):
    return http.client.HTTPConnection(t.host, t.port, timeout=timeout,
                                      source_address=(source, 0) if source else None)


def request(t, method, url, headers=None, body=None, timeout=30, source=None, c=None):
    """One request; a new connection unless c is given. Returns
    (status, headers dict lower-cased, body bytes)."""
    own = c is None
    if own:
        c = conn(t, timeout, source)
    try:
        c.request(method, t.split(url), body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            c.close()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def put_blob(t, repo, data, timeout=60, source=None):
    st, h, body = request(t, "POST", f"/v2/{repo}/blobs/uploads/", body=b"", timeout=timeout, source=source)
    if st != 202:
        raise RuntimeError(f"POST uploads -> {st} {body[:200]!r}")
    d = sha(data)
    st, _, body = request(t, "PUT", with_query(h["location"], digest=d), body=data,
                          headers={"Content-Type": "application/octet-stream"}, timeout=timeout, source=source)
    if st != 201:
        raise RuntimeError(f"PUT blob -> {st} {body[:200]!r}")
    return d


def config_blob(label):
    return json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                       "config": {"Labels": {"bench": label}}}, separators=(",", ":")).encode()


def manifest(config, layers):
    """layers: [(digest, size)]"""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_TAR, "digest": d, "size": n} for d, n in layers],
    }, separators=(",", ":")).encode()


def put_manifest(t, repo, tag, m, timeout=60, source=None):
    st, _, body = request(t, "PUT", f"/v2/{repo}/manifests/{tag}", body=m,
                          headers={"Content-Type": OCI_MANIFEST}, timeout=timeout, source=source)
    if st != 201:
        raise RuntimeError(f"PUT manifest -> {st} {body[:200]!r}")


def push_image(t, repo, tag, layer):
    """Config + one layer + manifest; returns (manifest bytes, layer digest)."""
    cfg = config_blob(f"{repo}:{tag}")
    put_blob(t, repo, cfg)
    ld = put_blob(t, repo, layer)
    m = manifest(cfg, [(ld, len(layer))])
    put_manifest(t, repo, tag, m)
    return m, ld


def pct(values, p):
    """p-th percentile (nearest rank) of values; None if empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def fmt(v, nd=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    return str(v)


# ---------------------------------------------------------------- processes

class ProcSpec:
    """A group of processes: pidfile:PATH (the pid read at each sample: a
    restarted master is followed) or pid:N[,N...], each with all its
    descendants."""

    def __init__(self, spec):
        self.spec = spec
        kind, _, val = spec.partition(":")
        if kind not in ("pidfile", "pid") or not val:
            raise SystemExit(f"process spec wants pidfile:PATH or pid:N,N, not {spec!r}")
        self.kind, self.val = kind, val

    def roots(self):
        if self.kind == "pid":
            return [int(x) for x in self.val.split(",") if x]
        try:
            with open(self.val) as f:
                return [int(f.read().split()[0])]
        except (OSError, ValueError, IndexError):
            return []


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree(roots):
    """[(pid, depth)] of the roots and all their descendants."""
    out, todo = [], [(r, 0) for r in roots]
    while todo:
        p, d = todo.pop()
        out.append((p, d))
        todo += [(c, d + 1) for c in children(p)]
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class ProcSampler(threading.Thread):
    """Samples a ProcSpec every `interval` s: number of processes below the
    roots (a pool's workers) and VmRSS of each (the group's sum at one
    sample, and each process's peak)."""

    def __init__(self, spec, interval=0.1):
        super().__init__(daemon=True)
        self.spec, self.interval = spec, interval
        self.t0 = time.monotonic()
        self.series = []  # (t, children count, rss sum KiB)
        self.peak_sum = 0
        self.peak = {}    # pid -> (depth, peak KiB)
        self._halt = threading.Event()

    def sample(self):
        procs = tree(self.spec.roots())
        total, n = 0, 0
        for pid, depth in procs:
            r = rss_kib(pid)
            if r is None:
                continue
            total += r
            n += depth > 0
            d, pk = self.peak.get(pid, (depth, 0))
            self.peak[pid] = (depth, max(pk, r))
        self.peak_sum = max(self.peak_sum, total)
        self.series.append((round(time.monotonic() - self.t0, 2), n, total))

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()
        self.sample()

    def report(self):
        roots = [p for p, (d, _) in self.peak.items() if d == 0]
        kids = [pk for p, (d, pk) in self.peak.items() if d > 0]
        counts = [n for _, n, _ in self.series]
        return {
            "peak_sum_mib": round(self.peak_sum / 1024, 1),
            "root_peak_mib": round(max((self.peak[p][1] for p in roots), default=0) / 1024, 1),
            "child_peak_max_mib": round(max(kids, default=0) / 1024, 1),
            "child_peak_median_mib": round((pct(kids, 50) or 0) / 1024, 1),
            "children_seen": len(kids),
            "children_min": min(counts, default=0),
            "children_max": max(counts, default=0),
        }

    def count_series(self, step=5.0, t_from=0.0):
        """'t:n' every `step` seconds (the max count within each step)."""
        out, cur, mx = [], None, 0
        for t, n, _ in self.series:
            if t < t_from:
                continue
            b = int((t - t_from) // step)
            if cur is None:
                cur = b
            if b != cur:
                out.append(f"{int(cur * step)}s:{mx}")
                cur, mx = b, 0
            mx = max(mx, n)
        if cur is not None:
            out.append(f"{int(cur * step)}s:{mx}")
        return " ".join(out)


# ---------------------------------------------------------------- output

class Output:
    def __init__(self, prefix):
        self.prefix = prefix
        self.lines = []
        if prefix:
            d = os.path.dirname(prefix)
            if d:
                os.makedirs(d, exist_ok=True)
            self.jf = open(prefix + ".jsonl", "w")
        else:
            self.jf = None

    def record(self, obj):
        if self.jf:
            self.jf.write(json.dumps(obj) + "\n")
            self.jf.flush()

    def md(self, *lines):
        for line in lines:
            print(line, flush=True)
            self.lines.append(line)

    def close(self):
        if self.jf:
            self.jf.close()
            with open(self.prefix + ".md", "w") as f:
                f.write("\n".join(self.lines) + "\n")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return out


# ---------------------------------------------------------------- one bench run
# What pushes.py and slow.py share around their run_target: the target
# arguments, the run over the targets in turn, a record's common fields and
# the report's head.

def target_args(ap, pool_help, front_help):
    ap.add_argument("--target", action="append", required=True, help="NAME=http://127.0.0.1:PORT (repeatable, run in turn)")
    ap.add_argument("--pool", action="append", default=[], help=pool_help)
    ap.add_argument("--front", action="append", default=[], help=front_help)


def output_args(ap, title):
    ap.add_argument("--title", default=title)
    ap.add_argument("--out", help="output prefix (PREFIX.md, PREFIX.jsonl)")


def targets_of(a, specs=("pool", "front")):
    """The --target list, with the --pool/--front (those named in specs) attached."""
    targets = [Target(s) for s in a.target]
    by = {t.name: t for t in targets}
    for attr in specs:
        for s in getattr(a, attr):
            n, _, spec = s.partition("=")
            if n not in by:
                raise SystemExit(f"--{attr} {n}: no such target")
            setattr(by[n], attr, ProcSpec(spec))
    return targets


def run_id_now():
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def start_rec(run_id, t, **params):
    return {"run": run_id, "target": t.name, "url": t.url, "load_start": loadavg(), **params}


def bench_repo(kind, run_id, t):
    return f"bench-{kind}/{run_id}/{t.name.replace('+', '-')}"


def pool_fields(t, sampler, t_from=0.0):
    """The record's pool fields: peak RSS/worker report, what the pool spec was, workers every 5 s."""
    return {"pool": sampler.report() if sampler else None, "pool_kind": t.pool.kind if t.pool else None,
            "pool_series": sampler.count_series(5.0, t_from) if sampler else None}


def run_all(targets, run, out):
    """run(t) for each target in turn; a target that fails is a record with its error."""
    recs = []
    for t in targets:
        try:
            recs.append(run(t))
        except Exception as e:
            log(f"{t.name}: FAILED: {type(e).__name__}: {e}")
            recs.append({"target": t.name, "error": f"{type(e).__name__}: {e}"})
            out.record(recs[-1])
    return recs


def md_head(out, title, run_id, load0):
    out.md(f"# {title}", "",
           f"Run {run_id} UTC on {os.uname().nodename} ({os.cpu_count()} CPUs); load average at start {load0}, "
           f"at end {loadavg()}.", "")


def done(out, prefix):
    out.close()
    if prefix:
        log(f"results: {prefix}.md")
    return 0

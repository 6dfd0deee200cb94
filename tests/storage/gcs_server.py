#!/usr/bin/python3
"""gcs_server.py — a small in-memory Google Cloud Storage for Wharf's tests.

No GCS emulator runs offline on these machines, so this one was written from
the JSON API documentation (cloud.google.com/storage/docs/json_api), standard
library only. It serves what the gcs driver uses, and checks what the real
service checks:

  POST /token                     the OAuth2 service-account flow: the JWT
                                  assertion's RS256 signature is verified
                                  with --pubkey (openssl CLI), and its iss,
                                  scope, aud, iat and exp; an access token is
                                  issued
  every other request             needs "Authorization: Bearer <token>" of a
                                  live token, else 401; --token-life N makes
                                  tokens die after N seconds while the answer
                                  still says expires_in 3600 (the client must
                                  refresh on 401)
  GET    /storage/v1/b/B/o        list: prefix, delimiter, maxResults,
                                  pageToken, startOffset; at most
                                  --page-size entries a page
  GET    /storage/v1/b/B/o/O      metadata; alt=media: the bytes (Range,
                                  generation, x-goog-generation)
  DELETE /storage/v1/b/B/o/O      ifGenerationMatch
  POST   /upload/storage/v1/b/B/o uploadType=media (ifGenerationMatch) or
                                  uploadType=resumable: a session URI in
                                  Location; PUT chunks to it with
                                  Content-Range (multiples of 256 KiB but the
                                  last; "bytes */*" asks the status: 308 and
                                  Range); DELETE cancels (499)
  POST   .../o/O/compose          at most 32 sources
  POST   .../o/S/rewriteTo/b/B/o/D  copies at most --rewrite-chunk bytes a
                                  call: done false and a rewriteToken until
                                  finished
  GET    /B/O?X-Goog-Signature=   a V4 signed URL (GOOG4-RSA-SHA256),
                                  verified, expiry checked

--flaky N: every Nth resumable chunk keeps only part of what it received
and answers 503, so the client must ask the session's status and resend.
Errors are GCS's JSON errors. State lives in memory; the port is written to
--port-file once listening.
"""
import argparse
import base64
import calendar
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUANTUM = 256 * 1024
LOCK = threading.Lock()
OBJECTS = {}  # (bucket, name) -> {"data": bytes, "gen": int, "updated": float}
SESSIONS = {}  # id -> {"bucket", "name", "data": bytearray, "done": bool}
TOKENS = {}  # token -> death time
GEN = [int(time.time() * 1000000)]
CHUNKS = [0]
STATS = {"tokens": 0, "401": 0, "pages": 0, "rewrite_tokens": 0, "broken_chunks": 0,
         "status_queries": 0, "compose": 0, "sessions": 0, "signed_urls": 0}
ARGS = None


def next_gen():
    GEN[0] += 1
    return GEN[0]


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rsa_verify(data, sig):
    """RSASSA-PKCS1-v1_5 SHA-256 with the public key, by the openssl CLI"""
    with tempfile.TemporaryDirectory() as d:
        dp, sp = os.path.join(d, "data"), os.path.join(d, "sig")
        with open(dp, "wb") as f:
            f.write(data)
        with open(sp, "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", ARGS.pubkey,
                            "-signature", sp, dp], capture_output=True)
        return r.returncode == 0


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def resource(bucket, name, o):
    return {"kind": "storage#object", "id": "%s/%s/%d" % (bucket, name, o["gen"]),
            "name": name, "bucket": bucket, "generation": str(o["gen"]),
            "metageneration": "1", "contentType": "application/octet-stream",
            "size": str(len(o["data"])), "updated": rfc3339(o["updated"]),
            "timeCreated": rfc3339(o["updated"]),
            "md5Hash": base64.b64encode(hashlib.md5(o["data"]).digest()).decode()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if ARGS.verbose:
            sys.stderr.write("gcs_server: " + (fmt % a) + "\n")

    # -------------------------------------------------------------- replies

    def reply(self, code, body=b"", ctype="application/json; charset=UTF-8", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        if int(self.headers.get("Content-Length") or 0) and not getattr(self, "body_read", False):
            # a request body left unread (an early 401, a refused upload)
            # would be parsed as the next request: close instead
            self.send_header("Connection", "close")
            self.close_connection = True
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or code not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def error(self, code, reason, message):
        self.reply(code, {"error": {"code": code, "message": message, "errors": [
            {"domain": "global", "reason": reason, "message": message}]}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.body_read = True
        if n > 1 << 30:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    # -------------------------------------------------------------- auth

    def authorized(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Bearer "):
            STATS["401"] += 1
            self.error(401, "required", "Login Required")
            return False
        with LOCK:
            death = TOKENS.get(h[7:])
        if death is None or death < time.time():
            STATS["401"] += 1
            self.error(401, "authError", "Invalid Credentials")
            return False
        return True

    def token(self):
        form = urllib.parse.parse_qs(self.body().decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return self.reply(400, {"error": "unsupported_grant_type"})
        parts = (form.get("assertion") or [""])[0].split(".")
        try:
            hdr = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
        except Exception:
            return self.reply(400, {"error": "invalid_grant", "error_description": "bad JWT"})
        now = time.time()
        aud = "http://%s/token" % self.headers.get("Host", "")
        why = None
        if hdr.get("alg") != "RS256":
            why = "alg"
        elif not rsa_verify((parts[0] + "." + parts[1]).encode(), sig):
            why = "Invalid JWT Signature."
        elif ARGS.email and claims.get("iss") != ARGS.email:
            why = "iss"
        elif "https://www.googleapis.com/auth/devstorage.read_write" not in \
                str(claims.get("scope", "")).split():
            why = "scope"
        elif claims.get("aud") != aud:
            why = "aud %r, want %r" % (claims.get("aud"), aud)
        elif not (claims.get("iat", 0) <= now + 60 and claims.get("exp", 0) > now
                  and claims["exp"] - claims["iat"] <= 3600):
            why = "iat/exp"
        if why:
            return self.reply(400, {"error": "invalid_grant", "error_description": why})
        tok = "ya29." + secrets.token_urlsafe(48)
        with LOCK:
            TOKENS[tok] = now + (ARGS.token_life or 3600)
            STATS["tokens"] += 1
        self.reply(200, {"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})

    # -------------------------------------------------------------- dispatch

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        q = {k: v[0] for k, v in q.items()}
        raw = u.path
        if raw == "/token" and self.command == "POST":
            return self.token()
        if raw == "/_stats" and self.command == "GET":  # what the tests exercised
            return self.reply(200, STATS)
        if raw == "/_names" and self.command == "GET":  # every object name, for layout checks
            with LOCK:
                return self.reply(200, sorted("%s/%s" % k for k in OBJECTS))
        if "X-Goog-Signature" in q:
            return self.signed(u, q)
        if not self.authorized():
            return None
        seg = raw.split("/")
        # /storage/v1/b/B/o[/O[/compose | /rewriteTo/b/B2/o/D]]
        if raw.startswith("/upload/storage/v1/b/"):
            bucket = urllib.parse.unquote(seg[5])
            return self.upload(bucket, q)
        if not raw.startswith("/storage/v1/b/") or len(seg) < 6 or seg[5] != "o":
            return self.error(404, "notFound", "Not Found")
        bucket = urllib.parse.unquote(seg[4])
        if len(seg) == 6 or (len(seg) == 7 and seg[6] == ""):
            if self.command == "GET":
                return self.list(bucket, q)
            return self.error(405, "methodNotAllowed", "method")
        name = urllib.parse.unquote(seg[6])
        if len(seg) == 7:
            if self.command == "GET":
                return self.get(bucket, name, q)
            if self.command == "DELETE":
                return self.delete(bucket, name, q)
        if len(seg) == 8 and seg[7] == "compose" and self.command == "POST":
            return self.compose(bucket, name)
        if len(seg) == 12 and seg[7] == "rewriteTo" and self.command == "POST":
            return self.rewrite(bucket, name, urllib.parse.unquote(seg[9]),
                                urllib.parse.unquote(seg[11]), q)
        return self.error(404, "notFound", "Not Found")

    def handle_any(self):
        self.body_read = False
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    # -------------------------------------------------------------- objects

    def cond(self, q, o):
        """ifGenerationMatch: True when it holds (0: the object must be absent)"""
        if "ifGenerationMatch" not in q:
            return True
        want = int(q["ifGenerationMatch"])
        return (o is None and want == 0) or (o is not None and o["gen"] == want)

    def get(self, bucket, name, q):
        with LOCK:
            o = OBJECTS.get((bucket, name))
        if o is None or ("generation" in q and int(q["generation"]) != o["gen"]):
            return self.error(404, "notFound", "No such object: %s/%s" % (bucket, name))
        if q.get("alt") != "media":
            return self.reply(200, resource(bucket, name, o))
        data, size = o["data"], len(o["data"])
        hdrs = {"x-goog-generation": str(o["gen"]), "Accept-Ranges": "bytes"}
        rng = self.headers.get("Range")
        if rng:
            try:
                unit, spec = rng.split("=", 1)
                a, b = spec.split("-", 1)
                a = int(a)
                b = int(b) if b else size - 1
                assert unit == "bytes" and a >= 0 and b >= a
            except Exception:
                return self.error(400, "invalid", "bad Range")
            if a >= size:
                hdrs["Content-Range"] = "bytes */%d" % size
                return self.error(416, "requestedRangeNotSatisfiable",
                                  "The requested range cannot be satisfied.")
            b = min(b, size - 1)
            hdrs["Content-Range"] = "bytes %d-%d/%d" % (a, b, size)
            return self.reply(206, data[a:b + 1], "application/octet-stream", hdrs)
        self.reply(200, data, "application/octet-stream", hdrs)

    def delete(self, bucket, name, q):
        with LOCK:
            o = OBJECTS.get((bucket, name))
            if o is None:
                return self.error(404, "notFound", "No such object: %s/%s" % (bucket, name))
            if not self.cond(q, o):
                return self.error(412, "conditionNotMet", "Precondition Failed")
            del OBJECTS[(bucket, name)]
        self.reply(204)

    def store(self, bucket, name, data, q):
        """the new object, or None when ifGenerationMatch failed"""
        with LOCK:
            if not self.cond(q, OBJECTS.get((bucket, name))):
                return None
            o = {"data": bytes(data), "gen": next_gen(), "updated": time.time()}
            OBJECTS[(bucket, name)] = o
            return o

    def upload(self, bucket, q):
        if "upload_id" in q:
            return self.session(q["upload_id"])
        if self.command != "POST":
            return self.error(405, "methodNotAllowed", "method")
        name = q.get("name")
        if not name:
            return self.error(400, "required", "Required parameter: name")
        if q.get("uploadType") == "media":
            o = self.store(bucket, name, self.body(), q)
            if o is None:
                return self.error(412, "conditionNotMet", "Precondition Failed")
            return self.reply(200, resource(bucket, name, o))
        if q.get("uploadType") == "resumable":
            self.body()
            sid = secrets.token_hex(16)
            STATS["sessions"] += 1
            with LOCK:
                SESSIONS[sid] = {"bucket": bucket, "name": name, "data": bytearray(),
                                 "done": None, "q": q}
            loc = "http://%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s" % (
                self.headers.get("Host"), urllib.parse.quote(bucket, safe=""), sid)
            return self.reply(200, b"", headers={"Location": loc})
        return self.error(400, "invalid", "uploadType")

    def session(self, sid):
        with LOCK:
            s = SESSIONS.get(sid)
        if s is None:
            self.body()
            return self.error(404, "notFound", "No such upload session")
        if self.command == "DELETE":
            with LOCK:
                SESSIONS.pop(sid, None)
            return self.reply(499, b"")
        if self.command != "PUT":
            return self.error(405, "methodNotAllowed", "method")
        body = self.body()
        cr = self.headers.get("Content-Range", "")
        if not cr.startswith("bytes "):
            return self.error(400, "invalid", "Content-Range required")
        rng, total = cr[6:].split("/", 1)
        total = None if total == "*" else int(total)

        def status():
            if s["done"] is not None:
                return self.reply(200, resource(s["bucket"], s["name"], s["done"]))
            n = len(s["data"])
            return self.reply(308, b"", headers={"Range": "bytes=0-%d" % (n - 1)} if n else {})

        if rng == "*":
            STATS["status_queries"] += 1
            if body:
                return self.error(400, "invalid", "a status query has no body")
            if total is not None and s["done"] is None:
                if total != len(s["data"]):
                    return self.error(400, "invalid", "total differs from the bytes held")
                return self.finish_session(s)
            return status()
        a, b = (int(x) for x in rng.split("-", 1))
        if b - a + 1 != len(body):
            return self.error(400, "invalid", "Content-Range does not match the body")
        if s["done"] is not None:
            return status()
        held = len(s["data"])
        if a > held:
            return self.error(400, "invalid", "the chunk starts past the bytes held")
        last = total is not None and b + 1 == total
        if not last and len(body) % QUANTUM:
            return self.error(400, "invalid", "a chunk but the last must be a multiple of 256 KiB")
        CHUNKS[0] += 1
        if ARGS.flaky and CHUNKS[0] % ARGS.flaky == 0 and len(body) > QUANTUM:
            # a broken upload: part of the chunk arrived
            keep = QUANTUM
            STATS["broken_chunks"] += 1
            with LOCK:
                del s["data"][a:]
                s["data"] += body[:keep]
            return self.error(503, "backendError", "try again")
        with LOCK:
            del s["data"][a:]  # a resent range replaces what was held past a
            s["data"] += body
        if last:
            return self.finish_session(s)
        return status()

    def finish_session(self, s):
        o = self.store(s["bucket"], s["name"], s["data"], s["q"])
        if o is None:
            return self.error(412, "conditionNotMet", "Precondition Failed")
        s["done"] = o
        self.reply(200, resource(s["bucket"], s["name"], o))

    def compose(self, bucket, dst):
        try:
            req = json.loads(self.body() or b"{}")
            srcs = [x["name"] for x in req["sourceObjects"]]
        except Exception:
            return self.error(400, "invalid", "bad compose request")
        if not srcs or len(srcs) > 32:
            return self.error(400, "invalid", "The number of source components must be 1 to 32.")
        with LOCK:
            parts = [OBJECTS.get((bucket, n)) for n in srcs]
            if any(p is None for p in parts):
                missing = srcs[parts.index(None)]
                return self.error(404, "notFound", "No such object: %s/%s" % (bucket, missing))
            STATS["compose"] += 1
            o = {"data": b"".join(p["data"] for p in parts), "gen": next_gen(),
                 "updated": time.time()}
            OBJECTS[(bucket, dst)] = o
        self.reply(200, resource(bucket, dst, o))

    def rewrite(self, bucket, src, dbucket, dst, q):
        self.body()
        with LOCK:
            o = OBJECTS.get((bucket, src))
        if o is None:
            return self.error(404, "notFound", "No such object: %s/%s" % (bucket, src))
        done = 0
        if "rewriteToken" in q:
            try:
                gen, done = (int(x) for x in base64.urlsafe_b64decode(q["rewriteToken"]).split(b":"))
            except Exception:
                return self.error(400, "invalid", "bad rewriteToken")
            if gen != o["gen"]:
                return self.error(412, "conditionNotMet", "the source changed")
        size = len(o["data"])
        done = min(size, done + ARGS.rewrite_chunk)
        r = {"kind": "storage#rewriteResponse", "totalBytesRewritten": str(done),
             "objectSize": str(size), "done": done >= size}
        if done < size:
            STATS["rewrite_tokens"] += 1
            r["rewriteToken"] = base64.urlsafe_b64encode(b"%d:%d" % (o["gen"], done)).decode()
            return self.reply(200, r)
        n = {"data": o["data"], "gen": next_gen(), "updated": time.time()}
        with LOCK:
            OBJECTS[(dbucket, dst)] = n
        r["resource"] = resource(dbucket, dst, n)
        self.reply(200, r)

    def list(self, bucket, q):
        prefix = q.get("prefix", "")
        delim = q.get("delimiter")
        start = q.get("startOffset", "")
        after = ""
        if q.get("pageToken"):
            after = base64.urlsafe_b64decode(q["pageToken"]).decode()
        maxr = min(int(q.get("maxResults") or 1000), ARGS.page_size)
        with LOCK:
            names = sorted(n for (b, n) in OBJECTS if b == bucket and n.startswith(prefix))
        entries = []  # (key, is_prefix), in name order, prefixes once
        seen = set()
        for n in names:
            if n < start:
                continue
            if delim:
                i = n.find(delim, len(prefix))
                if i >= 0:
                    p = n[:i + len(delim)]
                    if p not in seen:
                        seen.add(p)
                        entries.append((p, True))
                    continue
            entries.append((n, False))
        entries = [e for e in entries if e[0] > after]
        page, rest = entries[:maxr], entries[maxr:]
        items = []
        with LOCK:
            for k, isp in page:
                if not isp and (bucket, k) in OBJECTS:
                    items.append(resource(bucket, k, OBJECTS[(bucket, k)]))
        r = {"kind": "storage#objects"}
        if items:
            r["items"] = items
        pfx = [k for k, isp in page if isp]
        if pfx:
            r["prefixes"] = pfx
        if rest:
            STATS["pages"] += 1
            r["nextPageToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
        self.reply(200, r)

    # -------------------------------------------------------------- V4 signed URLs

    def signed(self, u, q):
        seg = u.path.split("/", 2)
        if len(seg) < 3:
            return self.error(400, "invalid", "bucket and object")
        bucket, name = urllib.parse.unquote(seg[1]), urllib.parse.unquote(seg[2])
        pairs = [p for p in u.query.split("&") if not p.startswith("X-Goog-Signature=")]
        try:
            date = q["X-Goog-Date"]
            expires = int(q["X-Goog-Expires"])
            signed = q["X-Goog-SignedHeaders"].split(";")
            scope = q["X-Goog-Credential"].split("/", 1)[1]
            sig = bytes.fromhex(q["X-Goog-Signature"])
        except Exception:
            return self.error(400, "invalid", "a malformed signed URL")
        # canonical query: the parameters sorted by encoded name (the client
        # sent them encoded and sorted; sort again rather than trust it)
        cq = "&".join(sorted(pairs))
        hdrs = "".join("%s:%s\n" % (h, " ".join((self.headers.get(h) or "").split()))
                       for h in sorted(signed))
        method = "GET" if self.command == "HEAD" else self.command
        canon = "\n".join([method, u.path, cq, hdrs, ";".join(sorted(signed)),
                           "UNSIGNED-PAYLOAD"])
        sts = "GOOG4-RSA-SHA256\n%s\n%s\n%s" % (date, scope,
                                                hashlib.sha256(canon.encode()).hexdigest())
        t = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        if time.time() > t + expires:
            return self.error(400, "expired", "Request has expired")
        if not rsa_verify(sts.encode(), sig):
            return self.error(403, "SignatureDoesNotMatch",
                              "The request signature we calculated does not match")
        STATS["signed_urls"] += 1
        with LOCK:
            o = OBJECTS.get((bucket, name))
        if o is None:
            return self.error(404, "notFound", "No such object")
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            size = len(o["data"])
            a = int(a)
            b = int(b) if b else size - 1
            if a >= size:
                return self.error(416, "requestedRangeNotSatisfiable", "range")
            b = min(b, size - 1)
            return self.reply(206, o["data"][a:b + 1], "application/octet-stream",
                              {"Content-Range": "bytes %d-%d/%d" % (a, b, size)})
        self.reply(200, o["data"], "application/octet-stream")


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--pubkey", required=True, help="PEM public key of the service account")
    p.add_argument("--email", help="the service account's client_email (iss)")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--token-life", type=int, default=0)
    p.add_argument("--rewrite-chunk", type=int, default=1 << 20)
    p.add_argument("--flaky", type=int, default=0)
    p.add_argument("--verbose", action="store_true")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    if ARGS.port_file:
        with open(ARGS.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

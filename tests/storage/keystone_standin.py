#!/usr/bin/python3
"""keystone_standin.py PORT SWIFT_ENDPOINT LOG — a tiny Keystone v3 stand-in
for tests/storage/swift_native.sh: POST /v3/auth/tokens with the password
method (user tester, password testing, domain Default, project test in
Default) answers 201 with X-Subject-Token set to a TempAuth token fetched from
Swift's /auth/v1.0 and a catalog whose object-store endpoints are Swift's
storage URL (public, region RegionOne) and a dead one (internal, and public in
RegionTwo), so that the endpoint choice is tested too. Every issued token is
appended to LOG. Anything else: 401 or 404."""
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SWIFT, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def tempauth():
    req = urllib.request.Request(SWIFT + "/auth/v1.0",
                                 headers={"X-Storage-User": "test:tester", "X-Storage-Pass": "testing"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path.rstrip("/") != "/v3/auth/tokens":
            return self.reply(404)
        n = int(self.headers.get("Content-Length") or 0)
        try:
            auth = json.loads(self.rfile.read(n))["auth"]
            ident = auth["identity"]
            user = ident["password"]["user"]
            proj = auth["scope"]["project"]
            ok = (ident["methods"] == ["password"] and user["name"] == "tester"
                  and user["password"] == "testing" and user["domain"].get("name") == "Default"
                  and proj["name"] == "test" and proj["domain"].get("name") == "Default")
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            return self.reply(401, b'{"error": {"code": 401}}')
        token, url = tempauth()
        with open(LOG, "a") as f:
            f.write(token + "\n")
        body = {"token": {
            "methods": ["password"], "project": {"id": "AUTH_test", "name": "test"},
            "catalog": [
                {"type": "identity", "endpoints": [
                    {"interface": "public", "region": "RegionOne", "url": "http://127.0.0.1:1/v3"}]},
                {"type": "object-store", "endpoints": [
                    {"interface": "internal", "region": "RegionOne", "url": "http://127.0.0.1:1/v1/x"},
                    {"interface": "public", "region": "RegionTwo", "url": "http://127.0.0.1:1/v1/y"},
                    {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
                     "url": url}]}]}}
        self.reply(201, json.dumps(body).encode(),
                   [("X-Subject-Token", token), ("Content-Type", "application/json")])


ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()

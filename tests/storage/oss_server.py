#!/usr/bin/python3
"""oss_server.py — a small local stand-in for Alibaba Cloud OSS, for the
driver suite (tests/storage/oss.sh). Standard library only.

It VERIFIES OSS signature V1 on every request, written from OSS's
documentation independently of lib/osssign.c: the Authorization header
"OSS <AccessKeyId>:<base64 HMAC-SHA1>" over VERB, Content-MD5, Content-Type,
Date, the x-oss-* headers and the resource "/bucket/key?subresources", with
the Date no more than 15 minutes off; or a signed URL (OSSAccessKeyId,
Expires, Signature), refused once expired. A bad signature gets OSS's 403
SignatureDoesNotMatch with the StringToSign it computed.

Operations (OSS's XML and error codes): PutObject, GetObject (Range; a range
past the end answers 200 with the whole object, as OSS does, unless
x-oss-range-behavior: standard asks for 416 InvalidRange; If-Match),
HeadObject, DeleteObject, DeleteMultipleObjects (Content-MD5 checked),
CopyObject (x-oss-copy-source), ListObjects (marker) and ListObjectsV2
(list-type=2, continuation-token, start-after), InitiateMultipartUpload,
UploadPart, UploadPartCopy (x-oss-copy-source-range),
CompleteMultipartUpload (parts >= 100 KB but the last), AbortMultipartUpload.
Addressing: path style (/bucket/key) or virtual host (Host: bucket.x).

usage: oss_server.py --port-file F --bucket B --akid ID --secret S [--port P]
Writes the bound port to F once it listens; runs until killed.
"""
import argparse
import base64
import email.utils
import hashlib
import hmac
import http.server
import os
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

SUBRESOURCES = {
    "acl", "uploads", "location", "cors", "logging", "website", "referer",
    "lifecycle", "delete", "append", "tagging", "objectMeta", "uploadId",
    "partNumber", "security-token", "position", "img", "style", "styleName",
    "replication", "replicationProgress", "replicationLocation", "cname",
    "bucketInfo", "comp", "qos", "live", "status", "vod", "startTime",
    "endTime", "symlink", "x-oss-process", "response-content-type",
    "x-oss-traffic-limit", "response-content-language", "response-expires",
    "response-cache-control", "response-content-disposition",
    "response-content-encoding", "udf", "udfName", "udfImage", "udfId",
    "udfImageDesc", "udfApplication", "udfApplicationLog", "restore",
    "callback", "callback-var", "qosInfo", "policy", "stat", "encryption",
    "versions", "versioning", "versionId", "requestPayment",
    "x-oss-request-payer", "sequential", "inventory", "inventoryId",
    "continuation-token", "asyncFetch", "worm", "wormId", "wormExtend",
}
MIN_PART = 100 * 1024
MAX_COPY = 1 << 30


class OssError(Exception):
    def __init__(self, status, code, message, **extra):
        super().__init__(code)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class Store:
    def __init__(self, bucket):
        self.bucket = bucket
        self.objects = {}  # key -> (data, etag, mtime)
        self.uploads = {}  # id -> {"key": k, "parts": {n: (data, etag)}}
        self.lock = threading.Lock()


def etag_of(data):
    return '"%s"' % hashlib.md5(data).hexdigest().upper()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def xml_doc(body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # ---------------------------------------------------------------- plumbing

    def send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        self.send_header("x-oss-request-id", uuid.uuid4().hex[:24].upper())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head and self.command != "HEAD":
            self.wfile.write(body)

    def send_error_xml(self, e):
        extra = "".join("<%s>%s</%s>" % (k, escape(str(v)), k) for k, v in e.extra.items())
        body = xml_doc("<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId>"
                       "<HostId>%s</HostId>%s</Error>" % (
                           e.code, escape(e.message), uuid.uuid4().hex[:24].upper(),
                           escape(self.headers.get("Host", "")), extra))
        self.send(e.status, body, {"Content-Type": "application/xml"})

    def read_body(self):
        n = self.headers.get("Content-Length")
        if n is not None:
            return self.rfile.read(int(n)) if int(n) else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def route(self):
        """bucket, key (decoded; "" for the bucket), query (list of pairs)"""
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(u.path)
        query = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
        host = self.headers.get("Host", "").split(":")[0]
        first = host.split(".")[0]
        if first == self.server.store.bucket and not host.replace(".", "").isdigit():
            return first, path[1:], query  # virtual host
        parts = path[1:].split("/", 1)
        return parts[0], parts[1] if len(parts) > 1 else "", query

    # ---------------------------------------------------------------- auth

    def string_to_sign(self, bucket, key, query, date):
        hdrs = {}
        for name, value in self.headers.items():
            ln = name.lower()
            if ln.startswith("x-oss-"):
                v = value.strip()
                hdrs[ln] = hdrs[ln] + "," + v if ln in hdrs else v
        canon_h = "".join("%s:%s\n" % (k, hdrs[k]) for k in sorted(hdrs))
        res = "/%s/%s" % (bucket, key) if bucket else "/"
        sub = sorted((k, v) for k, v in query if k in SUBRESOURCES)
        if sub:
            res += "?" + "&".join(k + ("=" + v if v else "") for k, v in sub)
        return "%s\n%s\n%s\n%s\n%s%s" % (self.command, self.headers.get("Content-MD5", ""),
                                         self.headers.get("Content-Type", ""), date, canon_h, res)

    def check_auth(self, bucket, key, query):
        q = dict(query)
        auth = self.headers.get("Authorization")
        signed_url = "Signature" in q or "OSSAccessKeyId" in q or "Expires" in q
        if auth and signed_url:
            raise OssError(400, "InvalidArgument",
                           "Authorization header method and query method can not be used together.")
        srv = self.server
        if signed_url:
            if not all(k in q for k in ("Signature", "OSSAccessKeyId", "Expires")):
                raise OssError(403, "AccessDenied", "Signature, OSSAccessKeyId and Expires are required.")
            if q["OSSAccessKeyId"] != srv.akid:
                raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
            if int(q["Expires"]) < time.time():
                raise OssError(403, "AccessDenied", "Request has expired.",
                               Expires=q["Expires"], ServerTime=iso(time.time()))
            rest = [(k, v) for k, v in query if k not in ("Signature", "OSSAccessKeyId", "Expires")]
            sts = self.string_to_sign(bucket, key, rest, q["Expires"])
            given = q["Signature"]
        else:
            if not auth:
                raise OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
            if not auth.startswith("OSS ") or ":" not in auth:
                raise OssError(400, "InvalidArgument", "Authorization header is invalid.")
            akid, given = auth[4:].rsplit(":", 1)
            if akid != srv.akid:
                raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
            date = self.headers.get("x-oss-date") or self.headers.get("Date")
            if not date:
                raise OssError(403, "AccessDenied", "OSS authentication requires a valid Date.")
            t = email.utils.parsedate_tz(date)
            if not t or abs(email.utils.mktime_tz(t) - time.time()) > 900:
                raise OssError(403, "RequestTimeTooSkewed",
                               "The difference between the request time and the current time is too large.")
            sts = self.string_to_sign(bucket, key, query, date)
        want = base64.b64encode(hmac.new(srv.secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
        if not hmac.compare_digest(want, given):
            srv.bad_signatures += 1
            sys.stderr.write("SignatureDoesNotMatch %s %s\n" % (self.command, self.path))
            sys.stderr.flush()
            raise OssError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.",
                           StringToSign=sts, SignatureProvided=given, OSSAccessKeyId=srv.akid)

    # ---------------------------------------------------------------- dispatch

    def handle_any(self):
        try:
            bucket, key, query = self.route()
            body = self.read_body() if self.command in ("PUT", "POST") else b""
            self.check_auth(bucket, key, query)
            st = self.server.store
            if bucket != st.bucket:
                raise OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)
            q = dict(query)
            with st.lock:
                self.dispatch(st, key, q, body)
        except OssError as e:
            self.send_error_xml(e)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any

    def dispatch(self, st, key, q, body):
        m = self.command
        if not key:
            if m == "GET":
                return self.list_objects(st, q)
            if m == "POST" and "delete" in q:
                return self.delete_multiple(st, body)
            raise OssError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        if m == "PUT" and "uploadId" in q:
            return self.upload_part(st, key, q, body)
        if m == "POST" and "uploads" in q:
            uid = uuid.uuid4().hex.upper()
            st.uploads[uid] = {"key": key, "parts": {}}
            return self.send(200, xml_doc(
                "<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>"
                "</InitiateMultipartUploadResult>" % (st.bucket, escape(key), uid)),
                {"Content-Type": "application/xml"})
        if m == "POST" and "uploadId" in q:
            return self.complete(st, key, q, body)
        if m == "DELETE" and "uploadId" in q:
            if st.uploads.pop(q["uploadId"], None) is None:
                raise OssError(404, "NoSuchUpload", "The specified upload does not exist.", UploadId=q["uploadId"])
            return self.send(204)
        if m == "PUT":
            src = self.headers.get("x-oss-copy-source")
            if src is not None:
                data = self.copy_source(st, src)
                if len(data) > MAX_COPY:
                    raise OssError(400, "FileTooLarge", "Copy source is larger than 1 GB.")
                et = etag_of(data)
                st.objects[key] = (data, et, time.time())
                return self.send(200, xml_doc("<CopyObjectResult><ETag>%s</ETag><LastModified>%s</LastModified>"
                                              "</CopyObjectResult>" % (escape(et), iso(time.time()))),
                                 {"Content-Type": "application/xml"})
            md5 = self.headers.get("Content-MD5")
            if md5 and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
                raise OssError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
            et = etag_of(body)
            st.objects[key] = (body, et, time.time())
            hdrs = {"ETag": et}
            sse = self.headers.get("x-oss-server-side-encryption")
            if sse:
                hdrs["x-oss-server-side-encryption"] = sse
            return self.send(200, b"", hdrs)
        if m in ("GET", "HEAD"):
            return self.get_object(st, key)
        if m == "DELETE":
            st.objects.pop(key, None)
            return self.send(204)
        raise OssError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    # ---------------------------------------------------------------- objects

    def copy_source(self, st, src):
        src = urllib.parse.unquote(src)
        parts = src.lstrip("/").split("/", 1)
        if len(parts) != 2 or parts[0] != st.bucket:
            raise OssError(400, "InvalidArgument", "Copy Source must mention the source bucket and key.")
        if parts[1] not in st.objects:
            raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=parts[1])
        return st.objects[parts[1]][0]

    def get_object(self, st, key):
        head = self.command == "HEAD"
        if key not in st.objects:
            if head:
                return self.send(404)
            raise OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        data, et, mt = st.objects[key]
        hdrs = {"ETag": et, "Last-Modified": email.utils.formatdate(mt, usegmt=True),
                "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        im = self.headers.get("If-Match")
        if im is not None and im.strip() != et:
            if head:
                return self.send(412)
            raise OssError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            n = len(data)
            try:
                first = int(a)
                last = int(b) if b else n - 1
                valid = first < n and first <= last
            except ValueError:
                valid = False
            if valid:
                last = min(last, n - 1)
                hdrs["Content-Range"] = "bytes %d-%d/%d" % (first, last, n)
                return self.send(206, data[first:last + 1], hdrs)
            if self.headers.get("x-oss-range-behavior", "").lower() == "standard":
                if head:
                    return self.send(416)
                raise OssError(416, "InvalidRange", "The requested range cannot be satisfied.")
            # OSS's own behaviour: an invalid range is ignored
        return self.send(200, data, hdrs)

    def delete_multiple(self, st, body):
        md5 = self.headers.get("Content-MD5")
        if not md5:
            raise OssError(400, "MissingArgument", "Missing Some Required Arguments.", ArgumentName="Content-MD5")
        if md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            raise OssError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.")
        quiet = (root.findtext("Quiet") or "").lower() == "true"
        keys = [o.findtext("Key") for o in root.findall("Object")]
        if len(keys) > 1000:
            raise OssError(400, "MalformedXML", "Too many objects to delete.")
        for k in keys:
            st.objects.pop(k, None)
        deleted = "" if quiet else "".join("<Deleted><Key>%s</Key></Deleted>" % escape(k) for k in keys)
        return self.send(200, xml_doc("<DeleteResult>%s</DeleteResult>" % deleted), {"Content-Type": "application/xml"})

    # ---------------------------------------------------------------- multipart

    def upload_part(self, st, key, q, body):
        up = st.uploads.get(q["uploadId"])
        if up is None or up["key"] != key:
            raise OssError(404, "NoSuchUpload", "The specified upload does not exist.", UploadId=q["uploadId"])
        try:
            n = int(q.get("partNumber", ""))
        except ValueError:
            n = 0
        if not 1 <= n <= 10000:
            raise OssError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000.")
        src = self.headers.get("x-oss-copy-source")
        if src is not None:
            data = self.copy_source(st, src)
            rng = self.headers.get("x-oss-copy-source-range")
            if rng:
                a, _, b = rng.replace("bytes=", "").partition("-")
                first, last = int(a), int(b)
                if first > last or last >= len(data):
                    raise OssError(400, "InvalidArgument", "The copy source range is invalid.")
                data = data[first:last + 1]
            et = etag_of(data)
            up["parts"][n] = (data, et)
            return self.send(200, xml_doc("<CopyPartResult><LastModified>%s</LastModified><ETag>%s</ETag>"
                                          "</CopyPartResult>" % (iso(time.time()), escape(et))),
                             {"Content-Type": "application/xml"})
        et = etag_of(body)
        up["parts"][n] = (body, et)
        return self.send(200, b"", {"ETag": et})

    def complete(self, st, key, q, body):
        up = st.uploads.get(q["uploadId"])
        if up is None or up["key"] != key:
            raise OssError(404, "NoSuchUpload", "The specified upload does not exist.", UploadId=q["uploadId"])
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.")
        parts = [(int(p.findtext("PartNumber")), (p.findtext("ETag") or "").strip()) for p in root.findall("Part")]
        if not parts:
            raise OssError(400, "MalformedXML", "The XML you provided was not well-formed.")
        prev = 0
        out = bytearray()
        md5s = b""
        for i, (n, et) in enumerate(parts):
            if n <= prev:
                raise OssError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
            prev = n
            have = up["parts"].get(n)
            if have is None or have[1].strip('"') != et.strip('"'):
                raise OssError(400, "InvalidPart", "One or more of the specified parts could not be found.",
                               PartNumber=n)
            if i + 1 < len(parts) and len(have[0]) < MIN_PART:
                raise OssError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.",
                               PartNumber=n)
            out += have[0]
            md5s += hashlib.md5(have[0]).digest()
        et = '"%s-%d"' % (hashlib.md5(md5s).hexdigest().upper(), len(parts))
        st.objects[key] = (bytes(out), et, time.time())
        del st.uploads[q["uploadId"]]
        return self.send(200, xml_doc("<CompleteMultipartUploadResult><Location>%s</Location><Bucket>%s</Bucket>"
                                      "<Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>" % (
                                          escape(key), st.bucket, escape(key), escape(et))),
                         {"Content-Type": "application/xml"})

    # ---------------------------------------------------------------- listing

    def list_objects(self, st, q):
        v2 = q.get("list-type") == "2"
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        try:
            maxk = int(q.get("max-keys", "100"))
        except ValueError:
            maxk = -1
        if not 0 <= maxk <= 1000:
            raise OssError(400, "InvalidArgument", "max-keys should be between 0 and 1000.")
        if v2:
            tok = q.get("continuation-token")
            if tok:
                try:
                    after = base64.b64decode(tok.encode(), validate=True).decode()
                except Exception:
                    raise OssError(400, "InvalidArgument", "The continuation token provided is incorrect.")
            else:
                after = q.get("start-after", "")
        else:
            after = q.get("marker", "")
        contents, prefixes, last, truncated = [], [], None, False
        for k in sorted(st.objects, key=lambda s: s.encode()):
            if not k.startswith(prefix) or k.encode() <= after.encode():
                continue
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[:i + len(delim)]
                    if cp.encode() <= after.encode() or (prefixes and prefixes[-1] == cp):
                        continue
                    if len(contents) + len(prefixes) == maxk:
                        truncated = True
                        break
                    prefixes.append(cp)
                    last = cp
                    continue
            if len(contents) + len(prefixes) == maxk:
                truncated = True
                break
            contents.append(k)
            last = k
        out = ["<ListBucketResult><Name>%s</Name><Prefix>%s</Prefix>" % (st.bucket, escape(prefix))]
        if v2:
            out.append("<StartAfter>%s</StartAfter>" % escape(q.get("start-after", "")))
        else:
            out.append("<Marker>%s</Marker>" % escape(after))
        out.append("<MaxKeys>%d</MaxKeys><Delimiter>%s</Delimiter><IsTruncated>%s</IsTruncated>" % (
            maxk, escape(delim), "true" if truncated else "false"))
        if truncated and last is not None:
            if v2:
                out.append("<NextContinuationToken>%s</NextContinuationToken>" %
                           base64.b64encode(last.encode()).decode())
            else:
                out.append("<NextMarker>%s</NextMarker>" % escape(last))
        for k in contents:
            data, et, mt = st.objects[k]
            out.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag><Type>Normal</Type>"
                       "<Size>%d</Size><StorageClass>Standard</StorageClass></Contents>" % (
                           escape(k), iso(mt), escape(et), len(data)))
        for p in prefixes:
            out.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(p))
        if v2:
            out.append("<KeyCount>%d</KeyCount>" % (len(contents) + len(prefixes)))
        out.append("</ListBucketResult>")
        return self.send(200, xml_doc("".join(out)), {"Content-Type": "application/xml"})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--akid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.store = Store(a.bucket)
    srv.akid, srv.secret, srv.verbose = a.akid, a.secret, a.verbose
    srv.bad_signatures = 0
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""fcgi_client.py SOCKET [NAME=VALUE ...] — one FastCGI request straight to
Wharf's socket (no web server in between: what a local process that can
reach the socket may send), body from stdin; prints the response (CGI
headers and body) to stdout. For tests that pass parameters no front would
pass (tests/e2e/t_bodyfile.sh)."""
import socket
import struct
import sys

BEGIN, END, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7


def record(rtype, content, rid=1):
    out = b""
    while True:
        chunk, content = content[:65535], content[65535:]
        pad = (8 - len(chunk) % 8) % 8
        out += struct.pack(">BBHHBx", 1, rtype, rid, len(chunk), pad) + chunk + b"\0" * pad
        if not content:
            return out


def nv(name, value):
    def ln(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    return ln(len(name)) + ln(len(value)) + name + value


def main():
    path = sys.argv[1]
    params = b""
    for arg in sys.argv[2:]:
        k, _, v = arg.partition("=")
        params += nv(k.encode(), v.encode())
    body = sys.stdin.buffer.read()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    msg = record(BEGIN, struct.pack(">HB5x", 1, 0))
    msg += record(PARAMS, params) + record(PARAMS, b"")
    if body:
        msg += record(STDIN, body)
    msg += record(STDIN, b"")
    s.sendall(msg)
    buf, out = b"", b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        while len(buf) >= 8:
            _, rtype, _, clen, pad = struct.unpack(">BBHHBx", buf[:8])
            if len(buf) < 8 + clen + pad:
                break
            content = buf[8:8 + clen]
            buf = buf[8 + clen + pad:]
            if rtype == STDOUT:
                out += content
            elif rtype == STDERR:
                sys.stderr.buffer.write(content)
            elif rtype == END:
                sys.stdout.buffer.write(out)
                return 0
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

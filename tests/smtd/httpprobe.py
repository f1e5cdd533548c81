#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# Malformed and hostile requests against smtd's metrics endpoint (test-smtd
# t_metrics): every case expects a status or a close, and a good scrape
# must still work after all of them. MAX_CLIENTS idle connections fill the
# endpoint (one more is closed at once) and smtd closes them itself after
# its 5 s request timeout. Prints "ok NAME" or "FAIL NAME: why" per case;
# exits 1 when any failed.
# Usage: httpprobe.py HOST PORT MAX_CLIENTS
import random
import socket
import sys
import time

HOST, PORT, MAXC = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
failed = 0


def report(name, good, why=""):
    global failed
    if good:
        print("ok", name)
    else:
        failed += 1
        print("FAIL %s: %s" % (name, why))


def conn():
    s = socket.create_connection((HOST, PORT), timeout=3)
    return s


def exchange(data, chunk=None, shut=True):
    """Send data (in chunks of chunk bytes), return all that comes back."""
    s = conn()
    try:
        if chunk:
            for i in range(0, len(data), chunk):
                s.sendall(data[i:i + chunk])
                time.sleep(0.002)
        else:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    except (ConnectionResetError, BrokenPipeError):
        return b"<reset>"
    finally:
        s.close()


def status(resp):
    if not resp.startswith(b"HTTP/1.1 "):
        return None
    try:
        return int(resp[9:12])
    except ValueError:
        return None


CASES = [
    ("get", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    ("get_bare_lf_query", b"GET /metrics?x=1 HTTP/1.0\n\n", 200),
    ("post", b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
    ("lowercase_method", b"get /metrics HTTP/1.1\r\n\r\n", 400),
    ("not_found", b"GET /admin HTTP/1.1\r\n\r\n", 404),
    ("prefix_path", b"GET /metricsX HTTP/1.1\r\n\r\n", 404),
    ("http2", b"GET /metrics HTTP/2.0\r\n\r\n", 505),
    ("no_version", b"GET /metrics\r\n\r\n", 400),
    ("absolute_uri", b"GET http://x/metrics HTTP/1.1\r\n\r\n", 400),
    ("tls_hello", bytes([0x16, 3, 1, 0, 0x40]) + b"\x01" * 60 + b"\n\n", 400),
    ("nul", b"GET /metr\x00ics HTTP/1.1\r\n\r\n", 400),
    ("header_no_colon", b"GET /metrics HTTP/1.1\r\nbroken\r\n\r\n", 400),
    ("header_folded", b"GET /metrics HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),
    ("oversize", b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 5000, 431),
    ("ctl_in_target", b"GET /met\x01rics HTTP/1.1\r\n\r\n", 400),
]

for name, req, want in CASES:
    r = exchange(req, shut=(want != 431))
    report(name, status(r) == want, "want %d, got %r" % (want, r[:60]))

r = exchange(b"GET /metrics HTTP/1.1\r\n\r\n", chunk=1)
report("one_byte_at_a_time", status(r) == 200, repr(r[:60]))

r = exchange(b"HEAD /metrics HTTP/1.1\r\n\r\n")
head, _, body = r.partition(b"\r\n\r\n")
report("head_no_body", status(r) == 200 and body == b""
       and b"Content-Length: " in head, repr(r[:200]))

r = exchange(b"GET /metrics HTTP/1.1\r\n")  # half-closed mid-request
report("half_closed_mid_request", r in (b"", b"<reset>"), repr(r[:60]))

r = exchange(b"GET /metrics HTTP/1.1\r\nAccept: application/"
             b"openmetrics-text; version=1.0.0\r\n\r\n")
report("openmetrics_negotiated",
       b"Content-Type: application/openmetrics-text" in r
       and r.endswith(b"# EOF\n"), repr(r[:120]) + repr(r[-20:]))

# random bytes, around and inside the request syntax
rnd = random.Random(14)
alphabet = b"GETHAD /metrics?HTTP/1.01\r\n: \x00\x7f\xff"
bad = 0
for i in range(150):
    n = rnd.randrange(0, 300)
    if i % 2:
        data = bytes(rnd.randrange(256) for _ in range(n))
    else:
        data = bytes(rnd.choice(alphabet) for _ in range(n))
    r = exchange(data)
    if r not in (b"", b"<reset>") and status(r) not in (200, 400, 404, 405,
                                                      431, 505):
        bad += 1
report("random_requests_get_a_status_or_a_close", bad == 0, "%d odd" % bad)

# fill every slot with an idle connection: the next one is closed at once
idle = [conn() for _ in range(MAXC)]
time.sleep(0.3)
extra = conn()
extra.settimeout(2)
try:
    got = extra.recv(100)
except ConnectionResetError:
    got = b""
except socket.timeout:
    got = b"<still open after 2 s>"
report("over_max_clients_closed_at_once", got == b"", repr(got))
extra.close()
# smtd closes the idle ones itself (request timeout 5 s)
t0 = time.time()
closed = 0
for s in idle:
    s.settimeout(max(0.1, 8 - (time.time() - t0)))
    try:
        if s.recv(100) == b"":
            closed += 1
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
took = time.time() - t0
report("idle_connections_closed_by_timeout", closed == MAXC and took < 7.5,
       "%d of %d closed in %.1f s" % (closed, MAXC, took))

r = exchange(b"GET /metrics HTTP/1.1\r\n\r\n")
report("scrape_after_all_that", status(r) == 200, repr(r[:60]))
sys.exit(1 if failed else 0)

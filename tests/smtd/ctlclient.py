#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# A control-socket client for tests/smtd/run.sh, run as root or (through
# setpriv) as an unprivileged user. Modes:
#   ctlclient.py SOCK req JSON...   one connection: each JSON request (without
#       "v" and "id": added) sent in turn; prints "CODE ERROR" or "ok" per
#       response (with its body when -b is the first JSON), then holds the
#       connection for $HOLD seconds (default 0), so that what it registered
#       stays in smtd's table meanwhile
#   ctlclient.py SOCK flood N SECS  N connections that send requests as fast
#       as the socket takes them and never read; prints how many were closed
#       by smtd
#   ctlclient.py SOCK conns N SECS  opens up to N idle connections, holds
#       them SECS seconds; prints "opened K closed-by-smtd C"
#   ctlclient.py tcp HOST PORT N SECS  N idle TCP connections to a handshake
#       port, held SECS seconds; prints "opened K"
#   ctlclient.py SOCK refuse SERVICE PORT SECS  serves SERVICE on SMT port
#       PORT and answers every "session" event with ack ok false, for SECS
#       seconds; prints "serving", then "refused N" at the end
import json
import os
import resource
import select
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def req(path, reqs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("r")
    body = False
    for i, r in enumerate(reqs, 1):
        if r == "-b":
            body = True
            continue
        o = json.loads(r)
        o["id"] = i
        o["v"] = 1
        s.sendall((json.dumps(o) + "\n").encode())
        while True:
            line = f.readline()
            if not line:
                print("closed")
                return
            m = json.loads(line)
            if m.get("id") == i and "event" not in m:
                break
        if m.get("ok"):
            print("ok " + line.strip() if body else "ok")
        else:
            print("%s %s" % (m.get("code"), m.get("error")))
        sys.stdout.flush()
    time.sleep(float(os.environ.get("HOLD", "0")))


def flood(path, n, secs):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        socks.append(s)
    line = b'{"op":"stats","id":1,"v":1}\n' * 64
    closed = set()
    end = time.time() + secs
    while time.time() < end and len(closed) < n:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.send(line)
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        time.sleep(0.001)
    print("closed %d of %d" % (len(closed), n))


def hold(n, secs, connect):
    """Up to n connections from connect() (None: no more), held secs."""
    raise_nofile(n)
    socks = []
    for _ in range(n):
        s = connect()
        if s is None:
            break
        socks.append(s)
    print("opened %d" % len(socks))
    sys.stdout.flush()
    time.sleep(secs)
    return socks


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    # a full backlog answers EAGAIN at once: retry for up to 0.5 s, then
    # smtd is taken not to accept any more
    end = time.time() + 0.5
    while True:
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            if time.time() > end:
                s.close()
                return None
            time.sleep(0.002)


def conns(path, n, secs):
    closed = 0
    for s in hold(n, secs, lambda: unix_connect(path)):
        # smtd sends nothing unasked: data (its refusal) or EOF means it
        # closed the connection
        try:
            s.recv(4096)
            closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print("closed-by-smtd %d" % closed)


def tcp_connect(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                      socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return None
    return s


def refuse(path, service, port, secs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("r")
    o = {"op": "serve", "service": service, "port": port, "id": 1, "v": 1}
    s.sendall((json.dumps(o) + "\n").encode())
    m = json.loads(f.readline())
    if not m.get("ok"):
        print("%s %s" % (m.get("code"), m.get("error")))
        return
    print("serving")
    sys.stdout.flush()
    n = 0
    end = time.time() + secs
    buf = b""
    while time.time() < end:
        if not select.select([s], [], [], 0.1)[0]:
            continue
        d = s.recv(65536)
        if not d:
            break
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            n += answer(s, json.loads(line))
    print("refused %d" % n)


def answer(s, m):
    """refuse(): ack a "session" event with ok false; 1 if it was one"""
    if m.get("event") != "session":
        return 0
    a = {"op": "ack", "push": m["push"], "ok": False,
         "error": "this test refuses every session", "v": 1}
    s.sendall((json.dumps(a) + "\n").encode())
    return 1


def tcp(host, port, n, secs):
    hold(n, secs, lambda: tcp_connect(host, port))


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "tcp":
        tcp(a[2], int(a[3]), int(a[4]), float(a[5]))
    elif a[2] == "req":
        req(a[1], a[3:])
    elif a[2] == "flood":
        flood(a[1], int(a[3]), float(a[4]))
    elif a[2] == "conns":
        conns(a[1], int(a[3]), float(a[4]))
    elif a[2] == "refuse":
        refuse(a[1], a[3], int(a[4]), float(a[5]))

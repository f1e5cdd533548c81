#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""RESP helper for test-proxy (tests/proxy/run.sh).

  resp.py gen SEED FILE         writes a pipeline of mixed commands (random
                                binary values up to 512 KiB, RESP3 replies
                                after HELLO 3, inline commands); prints the
                                number of replies it expects
  resp.py run ADDR N [FILE]     sends FILE (or stdin) on one connection to
                                ADDR (HOST:PORT or a Unix socket path; with
                                RESP_PAUSE=S or RESP_GO=FILE its first line,
                                then S seconds or until FILE exists), reads
                                N whole replies (or until EOF with N = -1),
                                writes the reply bytes to stdout, and
                                "EOF" on stderr when the server closed
  resp.py reset ADDR            a pipeline of large GETs, the connection
                                reset after the first reply byte
  resp.py loop ADDR SECS MODE OUT
                                for SECS seconds, over one connection at a
                                time (a new one when the proxy closed it):
                                MODE set: SET k:i v:i, then GET k:i, one at
                                a time; MODE get: pipelines of 32 GETs of a
                                key set first. Every reply must be the
                                right one, or smt-proxy's session-lost
                                error (then that connection ends). Writes
                                the acknowledged keys to OUT and prints a
                                JSON summary

Replies are cut by a RESP2/RESP3 parser of its own, written for this test
from the protocol description, independent of smt-proxy's framer.
"""
import json
import os
import random
import re
import socket
import struct
import sys
import time


def connect(addr):
    if "/" in addr:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(20)
    return s


def reply_end(b, off):
    """End offset of the reply at off, or None when incomplete."""
    need = 1
    while need:
        if off >= len(b):
            return None
        need -= 1
        t = chr(b[off])
        nl = b.find(b"\r\n", off)
        if nl < 0:
            return None
        head = b[off + 1:nl]
        off = nl + 2
        if t in "+-:,#(_":
            continue
        n = int(head)
        if t in "$!=":
            if n < 0:
                continue
            if off + n + 2 > len(b):
                return None
            off += n + 2
        elif t in "*~>%|":
            if n < 0:
                continue
            need += n * (2 if t in "%|" else 1) + (1 if t == "|" else 0)
        else:
            raise ValueError("bad reply type %r" % t)
    return off


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def gen(seed, path):
    rnd = random.Random(seed)
    out = [cmd("FLUSHALL")]
    sizes = [0, 1, 2, 13, 100, 1000, 4095, 16384, 65536, 200000, 524288]
    for i, n in enumerate(sizes):
        v = bytes(rnd.getrandbits(8) for _ in range(min(n, 4096)))
        v = (v * (n // max(len(v), 1) + 1))[:n]
        out.append(cmd("SET", "k%d" % i, v))
        out.append(cmd("GET", "k%d" % i))
        out.append(cmd("STRLEN", "k%d" % i))
    out.append(b"PING\r\n")  # inline
    out.append(b"ECHO  inline-words \r\n")
    out.append(cmd("MGET", "k1", "nokey", "k3"))
    out.append(cmd("INCRBY", "ctr", "-9223372036854775807"))
    out.append(cmd("INCR", "ctr"))
    out.append(cmd("RPUSH", "l", "a", "b\r\nc", ""))
    out.append(cmd("LRANGE", "l", "0", "-1"))
    out.append(cmd("HSET", "h", "f1", "v1", "f2", "v2"))
    out.append(cmd("SADD", "s", "x", "y"))
    out.append(cmd("ZADD", "z", "1.5", "m"))
    out.append(cmd("GET", "nokey"))
    out.append(cmd("NOSUCHCOMMAND", "x"))
    out.append(cmd("MULTI"))
    out.append(cmd("INCR", "ctr"))
    out.append(cmd("EXEC"))
    out.append(cmd("HELLO", "3"))
    out.append(cmd("HGETALL", "h"))  # map
    out.append(cmd("SMEMBERS", "s"))  # set
    out.append(cmd("ZSCORE", "z", "m"))  # double
    out.append(cmd("GET", "nokey"))  # RESP3 null
    out.append(cmd("EXISTS", "k1"))
    out.append(cmd("HELLO", "2"))
    out.append(cmd("DEL", "k0", "k1", "l"))
    # one batch whose replies (1.7 MB) take several parts, more than the
    # session's M (1 MiB) after the first: each part at most 64 KiB or
    # one reply
    out += [cmd("GET", "k10")] * 3 + [cmd("GET", "k9"), cmd("STRLEN", "k10")]
    with open(path, "wb") as f:
        f.write(b"".join(out))
    # HELLO replies name the server's connection id: the caller strips them
    print(len(out))


def run(addr, n, path):
    data = open(path, "rb").read() if path else sys.stdin.buffer.read()
    s = connect(addr)
    pause = float(os.environ.get("RESP_PAUSE", "0"))
    go = os.environ.get("RESP_GO")
    if pause or go:  # first line, a pause with the connection open
        nl = data.index(b"\n") + 1  # (or until the file RESP_GO is),
        s.sendall(data[:nl])  # the rest
        time.sleep(pause)
        while go and not os.path.exists(go):
            time.sleep(0.01)
        data = data[nl:]
    s.sendall(data)
    buf = b""
    off = 0
    got = 0
    eof = False
    while n < 0 or got < n:
        e = reply_end(buf, off)
        if e is not None:
            off = e
            got += 1
            continue
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            sys.stderr.write("TIMEOUT after %d replies\n" % got)
            break
        if not d:
            eof = True
            break
        buf += d
    if not eof and n >= 0:
        # a closing server: see whether EOF follows promptly
        s.settimeout(0.5)
        try:
            eof = s.recv(1) == b""
        except socket.timeout:
            pass
    # HELLO's map names the connection id, which differs per connection
    buf = re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:X\r\n", buf)
    sys.stdout.buffer.write(buf)
    sys.stdout.flush()
    if eof:
        sys.stderr.write("EOF\n")


def read_reply(s, buf):
    """One reply from s (buf: bytes already read): (reply, rest), or
    (None, b"") at EOF."""
    while True:
        end = reply_end(buf, 0) if buf else None
        if end is not None:
            return buf[:end], buf[end:]
        d = s.recv(1 << 16)
        if not d:
            return None, b""
        buf += d


def reset(addr):
    """SET a 300 kB value, then a pipeline of 6 GETs of it (one batch,
    answered in parts); after the first reply byte, the connection is
    reset (RST). Prints "reset" when it got that far."""
    s = connect(addr)
    s.sendall(cmd("SET", "rst", b"r" * 300000))
    r, buf = read_reply(s, b"")
    if r != b"+OK\r\n":
        sys.exit("SET said %r" % r)
    s.sendall(cmd("GET", "rst") * 6)
    if not buf:
        s.recv(1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("reset")


def loop(addr, secs, mode, out):
    lost = b"-ERR smt-proxy: SMT session lost"
    st = {"ok": 0, "lost": 0, "bad": 0, "conns": 0, "eof": 0, "first_bad": ""}
    acked = []
    deadline = time.time() + secs
    i = 0
    if mode == "get":
        s = connect(addr)
        s.sendall(cmd("SET", "g:key", "g:value"))
        read_reply(s, b"")
        s.close()
    while time.time() < deadline:
        s = connect(addr)
        st["conns"] += 1
        buf = b""
        alive = True
        while alive and time.time() < deadline:
            if mode == "set":
                k, v = "k:%d" % i, "v:%d:%s" % (i, "x" * (i % 200))
                i += 1
                s.sendall(cmd("SET", k, v) + cmd("GET", k))
                want = [b"+OK\r\n", b"$%d\r\n%s\r\n" % (len(v), v.encode())]
            else:
                s.sendall(cmd("GET", "g:key") * 32)
                want = [b"$7\r\ng:value\r\n"] * 32
            for j, w in enumerate(want):
                r, buf = read_reply(s, buf)
                if r is None:
                    st["eof"] += 1
                    alive = False
                    break
                if r == w:
                    st["ok"] += 1
                    if mode == "set" and j == 0:
                        acked.append((k, v))
                elif r.startswith(lost):
                    st["lost"] += 1
                else:
                    st["bad"] += 1
                    st["first_bad"] = st["first_bad"] or repr(r[:80])
        s.close()
    with open(out, "w") as f:
        for k, v in acked:
            f.write("%s %s\n" % (k, v))
    print(json.dumps(st))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]),
            sys.argv[4] if len(sys.argv) > 4 else None)
    elif sys.argv[1] == "reset":
        reset(sys.argv[2])
    elif sys.argv[1] == "loop":
        loop(sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit("usage: resp.py gen SEED FILE | run ADDR N [FILE] | "
                 "reset ADDR | loop ADDR SECS set|get OUT")

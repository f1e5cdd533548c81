#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# The timeline of smtd set-ups, from the "timeline" lines both smtds log at
# log_level debug (docs/smtd.md, "Where the time of a set-up goes"). Both
# smtds must run on one machine (one CLOCK_MONOTONIC): each client line is
# paired with the server line of the same service that started during it,
# and every step is printed as the median over all pairs, in microseconds
# after the client smtd took the connect request, with the step's own share.
# A 0-RTT set-up hands the keys over ("done") before its handshake ends; its
# client line's later steps pair it all the same.
# Usage: scripts/setup-timeline.py CLIENT_SMTD_LOG SERVER_SMTD_LOG [SERVICE]
#   SERVICE: only the set-ups of that service (e.g. bench.smt-udp-0rtt)
import re
import statistics
import sys

LINE = re.compile(r"timeline (\w+) (\S+) (\S+) t0=(\d+)(.*)")
STEPS = [  # (name in the table, role, mark)
    ("client: TCP connected", "c", "tcp"),
    ("client: ClientHello sent", "c", "flight"),
    ("server: connection accepted", "s", "start"),
    ("server: ClientHello in", "s", "flight"),
    ("client: handshake done (server verified)", "c", "tls"),
    ("client: SMT keys derived", "c", "keys"),
    ("client: Finished + PROPOSE sent", "c", "sent"),
    ("server: handshake done (client verified)", "s", "tls"),
    ("server: SMT keys derived", "s", "keys"),
    ("server: PROPOSE in", "s", "recv"),
    ("server: session pushed to the application", "s", "push"),
    ("server: the application's ack", "s", "ack"),
    ("server: ACCEPT sent", "s", "sent"),
    ("client: ACCEPT in", "c", "recv"),
    ("client: keys handed to the application", "c", "done"),
    # SMT-tickets (tkt.c): the HELLO / ACCEPT exchange
    ("client: HELLO sent", "c", "hello"),
    ("server: HELLO in", "s", "hello"),
    ("server: HELLO checked (client chain, signature), keys", "s", "checked"),
    ("server: epoch 1 taken by the application", "s", "epoch1"),
    ("client: epoch 1 taken by the application", "c", "epoch1"),
]


def parse(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            d = {"role": m.group(1), "svc": m.group(3), "t0": int(m.group(4)),
                 "start": 0}
            for k, v in re.findall(r"(\w+)=(-?\d+)", m.group(5)):
                d[k] = int(v)
            out.append(d)
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: setup-timeline.py CLIENT_SMTD_LOG SERVER_SMTD_LOG [SERVICE]")
    svc = sys.argv[3] if len(sys.argv) == 4 else None
    cli = [c for c in parse(sys.argv[1]) if c["role"] == "client" and "done" in c
           and svc in (None, c["svc"])]
    srv = [s for s in parse(sys.argv[2]) if s["role"] == "server" and "done" in s]
    pairs = []
    for c in cli:
        for s in srv:
            end = max(v for k, v in c.items() if k not in ("role", "svc", "t0"))
            if s["svc"] == c["svc"] and c["t0"] <= s["t0"] <= c["t0"] + end:
                pairs.append((c, s))
                break
    if not pairs:
        sys.exit("no client set-up with its server side in these logs")
    rows = []
    for name, role, mark in STEPS:
        v = []
        for c, s in pairs:
            if role == "c" and mark in c:
                v.append(c[mark])
            elif role == "s" and mark in s:
                v.append(s["t0"] - c["t0"] + s[mark])
        if v:
            rows.append((statistics.median(v), name))
    rows.sort()
    print("%d set-ups; medians in us after the client smtd took the request" % len(pairs))
    prev = 0
    for t, name in rows:
        print("%-44s %7.0f  (+%.0f)" % (name, t, t - prev))
        prev = t


main()

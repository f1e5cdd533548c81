#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""docs/protocol.md 6.4's test vectors from Python's hmac alone (an
implementation independent of OpenSSL): the early exporter of RFC 8446 7.5
on a fixed early_exporter_master_secret, the 1-RTT exporter on a fixed
exporter_master_secret, and section 6's key lines. Exits 1 on a mismatch."""
import hashlib
import hmac
import sys

H = hashlib.sha256


def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), H).digest()
        out += t
        i += 1
    return out[:n]


def expand_label(secret, label, ctx, n):
    lab = b"tls13 " + label
    info = n.to_bytes(2, "big") + bytes([len(lab)]) + lab + bytes([len(ctx)]) + ctx
    return expand(secret, info, n)


def exporter(secret, label, n):
    derived = expand_label(secret, label, H(b"").digest(), 32)
    return expand_label(derived, b"exporter", H(b"").digest(), n)


WANT = [
    (bytes(range(32)), b"EXPORTER-SMT early v1",
     "36a4c58170a0ce80ef62c2d14599503d9d56266192e7343b888c394a4dc654a8",
     ["154dcfc6218206cf5c9217fa7316aef1", "db456c5808ea93bb9a531a38",
      "71e58ec736a7fd4ea520dc901e95200f", "d559655c7a7afb14326dbc6e"]),
    (bytes(range(32, 64)), b"EXPORTER-SMT v1",
     "4cfc6d3f68a5860f324a4bea5371a0f89aa639f9737d5c5a1748b79bdc92deec",
     ["8e7109fef5c4060044e9b1b61ae413c9", "990674f37fed3ac48fdba0ca",
      "65367fc2470bf1989820554601f47dee", "d234992513bfd8936b4690dc"]),
]
LINES = [(b"smt c key", 16), (b"smt c iv", 12), (b"smt s key", 16), (b"smt s iv", 12)]
bad = 0
for secret, label, s_hex, keys in WANT:
    s = exporter(secret, label, 32)
    got = [s.hex()] + [expand_label(s, lab, b"", n).hex() for lab, n in LINES]
    if got != [s_hex] + keys:
        print("vectors.py: %s: got %s" % (label.decode(), got))
        bad = 1
print("vectors.py: %s" % ("MISMATCH" if bad else "6.4 vectors ok"))
sys.exit(bad)

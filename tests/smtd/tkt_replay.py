#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Replay an SMT-ticket HELLO (docs/protocol.md 6.3), as an attacker who
recorded one would: find the TCP stream to PORT in a pcap (Ethernet,
IPv4 or IPv6) whose payload starts with "SMT0", send its HELLO again to
HOST:PORT, and print the answer's type and REFUSE reason.
Usage: tkt_replay.py PCAP HOST PORT"""
import socket
import struct
import sys


def streams(path, port):
    data = open(path, "rb").read()
    if data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        sys.exit("not a little-endian pcap file")
    off, out = 24, {}
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        eth = struct.unpack_from("!H", pkt, 12)[0]
        if eth == 0x0800:
            ihl = (pkt[14] & 15) * 4
            if pkt[23] != 6:
                continue
            tcp = 14 + ihl
        elif eth == 0x86DD:
            if pkt[20] != 6:
                continue
            tcp = 14 + 40
        else:
            continue
        sport, dport = struct.unpack_from("!HH", pkt, tcp)
        if dport != port:
            continue
        doff = (pkt[tcp + 12] >> 4) * 4
        out[sport] = out.get(sport, b"") + pkt[tcp + doff:]
    return out


def main():
    pcap, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    hello = None
    for payload in streams(pcap, port).values():
        if payload[:4] == b"SMT0" and payload[5] == 1:
            n = struct.unpack_from("!H", payload, 6)[0]
            hello = payload[:n]
    if not hello:
        sys.exit("no HELLO in the capture")
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(hello)
    ans = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        ans += b
    if len(ans) < 8 or ans[:4] != b"SMT0":
        print("answer: none")
        return
    if ans[5] == 3:  # REFUSE: section 6.1's REFUSE after the header
        code = struct.unpack_from("!H", ans, 12)[0]
        print("answer: REFUSE code %d: %s" % (code, ans[14:].decode(errors="replace")))
    else:
        print("answer: type %d" % ans[5])


main()

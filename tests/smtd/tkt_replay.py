#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Replay an SMT-ticket HELLO (docs/protocol.md 6.3), as an attacker who
recorded one would: find the TCP stream to PORT in a pcap (Ethernet,
IPv4 or IPv6) whose payload starts with "SMT0", send its HELLO again to
HOST:PORT, and print the answer's type and REFUSE reason.
--flip-ticket-sig: the ticket inside the HELLO with the last byte of its
signature changed (a forged ticket). --shares: send nothing, print the
X25519 share of every HELLO and ACCEPT in the pcap, one a line.
Usage: tkt_replay.py [--flip-ticket-sig] PCAP HOST PORT
       tkt_replay.py --shares PCAP PORT"""
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
        if port not in (sport, dport):
            continue
        doff = (pkt[tcp + 12] >> 4) * 4
        key = (sport, dport)
        out[key] = out.get(key, b"") + pkt[tcp + doff:]
    return out


def shares(pcap, port):
    for payload in streams(pcap, port).values():
        if payload[:4] != b"SMT0":
            continue
        if payload[5] == 1:  # HELLO: random, time, then the share
            print("hello", payload[48:80].hex())
        elif payload[5] == 2:  # ACCEPT: the share after the header
            print("accept", payload[8:40].hex())


def main():
    args = sys.argv[1:]
    if args[0] == "--shares":
        shares(args[1], int(args[2]))
        return
    flip = args[0] == "--flip-ticket-sig"
    if flip:
        args = args[1:]
    pcap, host, port = args[0], args[1], int(args[2])
    hello = None
    for (_, dport), payload in streams(pcap, port).items():
        if dport == port and payload[:4] == b"SMT0" and payload[5] == 1:
            n = struct.unpack_from("!H", payload, 6)[0]
            hello = payload[:n]
    if not hello:
        sys.exit("no HELLO in the capture")
    if flip:  # the ticket's 3-byte length at 104, its signature last
        end = 107 + int.from_bytes(hello[104:107], "big")
        hello = hello[:end - 1] + bytes([hello[end - 1] ^ 1]) + hello[end:]
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

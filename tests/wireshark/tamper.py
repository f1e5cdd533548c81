#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# Rewrite SMT packets of a classic pcap of link type RAW (as smt-wire
# encode writes): tamper.py IN OUT OP...
#   set:N:MODS   change packet N (1-based, numbering of IN) in place
#   ins:N:MODS   insert a changed copy of packet N right after it
#   app:N:MODS   append a changed copy of packet N at the end
# MODS, separated by ':', apply to the SMT bytes (after the IP and UDP
# headers): OFF=HEX writes bytes at offset OFF, xor=OFF flips the low bit
# of byte OFF (negative: from the end), len=L cuts the SMT bytes to L,
# ipid=N sets the IPv4 ID (for IPID_OFF, docs/protocol.md 2.2).
# IP lengths, the IPv4 header checksum and the UDP length and checksum are
# recomputed, so only what was asked for changes.
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def split(pkt):
    """(ip header, udp header or b'', smt bytes)"""
    if pkt[0] >> 4 == 4:
        ihl = (pkt[0] & 15) * 4
        ip, rest, proto = pkt[:ihl], pkt[ihl:], pkt[9]
    else:
        ip, rest, proto = pkt[:40], pkt[40:], pkt[6]
    if proto == 17:
        return ip, rest[:8], rest[8:]
    return ip, b"", rest


def join(ip, udp, smt):
    ip = bytearray(ip)
    if udp:
        udp = bytearray(udp)
        struct.pack_into("!H", udp, 4, 8 + len(smt))
        struct.pack_into("!H", udp, 6, 0)
    l4 = bytes(udp) + smt
    if ip[0] >> 4 == 4:
        struct.pack_into("!H", ip, 2, len(ip) + len(l4))
        struct.pack_into("!H", ip, 10, 0)
        struct.pack_into("!H", ip, 10, csum(bytes(ip)))
        pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 17, len(l4))
    else:
        struct.pack_into("!H", ip, 4, len(l4))
        pseudo = bytes(ip[8:40]) + struct.pack("!IxxxB", len(l4), 17)
    if udp:
        c = csum(pseudo + l4) or 0xFFFF
        l4 = l4[:6] + struct.pack("!H", c) + l4[8:]
    return bytes(ip) + l4


def change(pkt, mods):
    ip, udp, smt = split(pkt)
    smt = bytearray(smt)
    for m in mods:
        k, v = m.split("=")
        if k == "ipid":
            ip = ip[:4] + struct.pack("!H", int(v)) + ip[6:]
        elif k == "len":
            del smt[int(v):]
        elif k == "xor":
            smt[int(v)] ^= 1
        else:
            b = bytes.fromhex(v)
            smt[int(k):int(k) + len(b)] = b
    return join(ip, udp, bytes(smt))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        d = f.read()
    if d[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack("<I", d[20:24])[0] != 101:
        sys.exit("tamper: %s is not a little-endian RAW pcap" % sys.argv[1])
    hdr, pkts, off = d[:24], [], 24
    while off + 16 <= len(d):
        n = struct.unpack("<I", d[off + 8:off + 12])[0]
        pkts.append((d[off:off + 8], d[off + 16:off + 16 + n]))
        off += 16 + n
    out = [[p] for p in pkts]  # per original packet: it and its inserts
    tail = []
    for op in sys.argv[3:]:
        kind, n, *mods = op.split(":")
        n = int(n) - 1
        ts, pkt = pkts[n]
        new = (ts, change(pkt, mods))
        if kind == "set":
            out[n][0] = new
        elif kind == "ins":
            out[n].append(new)
        elif kind == "app":
            tail.append(new)
        else:
            sys.exit("tamper: unknown operation " + op)
    with open(sys.argv[2], "wb") as f:
        f.write(hdr)
        for ts, pkt in [p for group in out for p in group] + tail:
            f.write(ts + struct.pack("<II", len(pkt), len(pkt)) + pkt)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
#
# Compare what the Wireshark dissector (scripts/wireshark/smt.lua, through
# `tshark -T fields`, see run.sh) shows for a capture with two independent
# references:
#   - the capture's own bytes, parsed here: every header field and control
#     body field of every SMT packet (docs/protocol.md 2 and 5);
#   - `smt-wire decode -j --dump DIR` of the same capture (libsmt with
#     OpenSSL): every message's status, app_len, record and packet counts
#     and its application bytes, every control packet's status and body,
#     and every dropped packet with its drop reason.
# Usage: compare.py PCAP TSHARK_TSV WIRE_JSON DUMP_DIR [--udp-ports RANGES]
#                   [--expect KEY=N ...]
# where KEY is ok (messages ok), complete, control, drops, or drop:REASON,
# each checked as a minimum so that a run that saw nothing cannot pass.
# Prints one line per mismatch and a summary; exit 1 on any mismatch.
import json
import os
import re
import struct
import sys

# tshark -e fields, in the order run.sh passes them
FIELDS = """frame.number smt.encap smt.flow smt.sport smt.dport smt.pkt_off
smt.seg_off smt.doff_ver smt.type smt.flags smt.csum smt.rec_idx smt.msg_id
smt.msg_len smt.granted smt.prio smt.epoch smt.pkt_idx smt.payload_len
smt.ctl.offset smt.ctl.length smt.ctl.prio smt.ack.count smt.ack.msg_id
smt.ctl_seq smt.ctl.status smt.drop smt.drop.violation smt.msg.status
smt.msg.app_len smt.msg.records smt.msg.packets smt.msg.inner_flags
smt.msg.data""".split()

TYPES = {0x10: "DATA", 0x11: "GRANT", 0x12: "RESEND", 0x13: "UNKNOWN",
         0x14: "BUSY", 0x17: "NEED_ACK", 0x18: "ACK"}

errors = []


def err(msg):
    errors.append(msg)
    if len(errors) <= 40:
        print("MISMATCH " + msg)


def in_ranges(port, ranges):
    return any(a <= port <= b for a, b in ranges)


def packets(path, ranges):
    """(frame number, encap, smt bytes) of every SMT packet: natively IP
    protocol 253; over UDP, with port ranges every datagram from or to
    them, else those with 40 bytes or more and doff_ver 0xA1"""
    with open(path, "rb") as f:
        d = f.read()
    magic = d[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("compare: %s is not a classic pcap" % path)
    link = struct.unpack(e + "I", d[20:24])[0]
    off, no = 24, 0
    while off + 16 <= len(d):
        incl = struct.unpack(e + "I", d[off + 8:off + 12])[0]
        pkt = d[off + 16:off + 16 + incl]
        off += 16 + incl
        no += 1
        if link == 1:  # Ethernet
            et = struct.unpack(">H", pkt[12:14])[0]
            pkt = pkt[14:] if et in (0x0800, 0x86DD) else b""
        elif link == 113:  # Linux cooked
            pkt = pkt[16:]
        elif link not in (101, 12, 228, 229):
            sys.exit("compare: link type %d not handled" % link)
        if not pkt:
            continue
        if pkt[0] >> 4 == 4:
            ihl = (pkt[0] & 15) * 4
            proto, l4 = pkt[9], pkt[ihl:struct.unpack(">H", pkt[2:4])[0]]
        elif pkt[0] >> 4 == 6:
            proto, l4 = pkt[6], pkt[40:40 + struct.unpack(">H", pkt[4:6])[0]]
        else:
            continue
        if proto == 17 and len(l4) >= 8:
            sp, dp = struct.unpack(">HH", l4[:4])
            if ranges:
                if in_ranges(sp, ranges) or in_ranges(dp, ranges):
                    yield no, "udp", l4[8:]
            elif len(l4) >= 48 and l4[8 + 12] == 0xA1:
                yield no, "udp", l4[8:]
        elif proto == 253:
            yield no, "ip", l4


def expected(smt):
    """the fields a reader of docs/protocol.md finds in these bytes"""
    if len(smt) < 40:
        return None
    h = struct.unpack(">HHIIBBHHHQIIBBH", smt[:40])
    f = {"smt.sport": h[0], "smt.dport": h[1], "smt.pkt_off": h[2],
         "smt.seg_off": h[3], "smt.doff_ver": h[4], "smt.type": h[5],
         "smt.flags": h[6], "smt.csum": h[7], "smt.rec_idx": h[8],
         "smt.msg_id": h[9], "smt.msg_len": h[10], "smt.granted": h[11],
         "smt.prio": h[12], "smt.epoch": h[13], "smt.pkt_idx": h[14]}
    t, n = h[5], len(smt)
    if t == 0x10:
        f["smt.payload_len"] = n - 40
    elif t == 0x11 and n >= 48:
        f["smt.ctl.offset"], f["smt.ctl.prio"] = struct.unpack(
            ">IB", smt[40:45])
    elif t == 0x12 and n >= 52:
        (f["smt.ctl.offset"], f["smt.ctl.length"],
         f["smt.ctl.prio"]) = struct.unpack(">IIB", smt[40:49])
    elif t == 0x18 and n >= 42:
        c = struct.unpack(">H", smt[40:42])[0]
        f["smt.ack.count"] = c
        if n == 66 + 8 * c:
            f["smt.ack.msg_id"] = ",".join(
                str(struct.unpack(">Q", smt[42 + 8 * i:50 + 8 * i])[0])
                for i in range(c))
    if t != 0x10 and n >= 64:
        f["smt.ctl_seq"] = struct.unpack(">Q", smt[n - 24:n - 16])[0]
    return f


def num(v):
    return int(v, 0) if v else None


def main():
    a = sys.argv[1:]
    if len(a) < 4:
        sys.exit(__doc__)
    pcap, tsv, wjson, dump = a[:4]
    expect = {}
    ranges = []
    i = 4
    while i < len(a):
        if a[i] == "--udp-ports":
            for r in a[i + 1].split(","):
                lo, _, hi = r.partition("-")
                ranges.append((int(lo), int(hi or lo)))
            i += 2
        elif a[i] == "--expect":
            k, v = a[i + 1].split("=")
            expect[k] = int(v)
            i += 2
        else:
            sys.exit("compare: unknown argument " + a[i])

    rows = {}
    with open(tsv) as f:
        for line in f:
            v = line.rstrip("\n").split("\t")
            if len(v) != len(FIELDS):
                err("tshark line with %d fields, want %d" % (len(v),
                                                             len(FIELDS)))
                continue
            r = dict(zip(FIELDS, v))
            if r["smt.encap"]:
                rows[int(r["frame.number"])] = r
    with open(wjson) as f:
        w = json.load(f)
    if "error" in w:
        print("compare: smt-wire decode failed: " + w["error"])
        sys.exit(1)

    # 1. every header and body field of every SMT packet, from the bytes
    nsmt = 0
    seen = set()
    for no, encap, smt in packets(pcap, ranges):
        seen.add(no)
        r = rows.get(no)
        if r is None:
            err("frame %d: SMT over %s, but the dissector shows nothing" %
                (no, encap))
            continue
        nsmt += 1
        if r["smt.encap"] != encap:
            err("frame %d: encap %s, want %s" % (no, r["smt.encap"], encap))
        exp = expected(smt)
        if exp is None:
            continue
        for k, want in exp.items():
            got = r[k] if k == "smt.ack.msg_id" else num(r[k])
            if got != want:
                err("frame %d: %s = %s, the bytes say %s" % (no, k, r[k],
                                                             want))
    for no in rows:
        if no not in seen:
            err("frame %d: the dissector shows SMT that is not" % no)

    # 2. drops: the same packets with the same reasons
    wd = {}
    for x in w["drops"]:
        if x["reason"] != "bad_udp_checksum":
            wd[x["packet"]] = (x["reason"], x["violation"])
    td = {}
    for no, r in rows.items():
        if r["smt.drop"]:
            td[no] = (r["smt.drop"],
                      r["smt.drop.violation"] in ("1", "True", "TRUE"))
    for no in sorted(set(wd) | set(td)):
        if wd.get(no) != td.get(no):
            err("frame %d: drop %s, smt-wire says %s" % (no, td.get(no),
                                                          wd.get(no)))

    # 3. control packets: status and body as smt-wire verified them
    nctl = 0
    for c in w["control"]:
        r = rows.get(c["packet"])
        if r is None:
            err("control packet %d missing" % c["packet"])
            continue
        nctl += 1
        got = (TYPES.get(num(r["smt.type"])), num(r["smt.msg_id"]),
               num(r["smt.ctl_seq"]), r["smt.ctl.status"])
        want = (c["type"], c["msg_id"], c["ctl_seq"], c["status"])
        if got != want:
            err("frame %d: control %s, smt-wire %s" % (c["packet"], got,
                                                       want))
        for k, fk in (("offset", "smt.ctl.offset"),
                      ("length", "smt.ctl.length"),
                      ("prio", "smt.ctl.prio")):
            if k in c and num(r[fk]) != c[k]:
                err("frame %d: %s %s, smt-wire %s" % (c["packet"], fk, r[fk],
                                                      c[k]))
        if "ids" in c and r["smt.ack.msg_id"] != ",".join(map(str,
                                                              c["ids"])):
            err("frame %d: ack ids %s, smt-wire %s" % (c["packet"],
                                                      r["smt.ack.msg_id"],
                                                      c["ids"]))

    # 4. messages: status, lengths, counts and the application bytes
    # smt-wire counts a message's packets to the end of the capture, the
    # dissector when it completes: add the later ones that reached it
    tm = {}
    dups = {}
    for no, r in rows.items():
        key = (r["smt.flow"], num(r["smt.msg_id"]), num(r["smt.epoch"]),
               r["smt.encap"])
        if key in tm and num(r["smt.type"]) == 0x10 and \
                r["smt.drop"] in ("", "duplicate"):
            dups[key] = dups.get(key, 0) + 1
        if r["smt.msg.status"]:
            if key in tm and tm[key]["smt.msg.status"] != "failed":
                err("frame %d: message %s completes twice" % (no, key))
            tm[key] = r
    dumps = {}
    if os.path.isdir(dump):
        for name in os.listdir(dump):
            m = re.match(r"^(.*)-(\d+)_(.*)-(\d+)_e(\d+)_m(\d+)\.bin$", name)
            if m:
                with open(os.path.join(dump, name), "rb") as f:
                    dumps[m.groups()] = f.read()
    count = {"ok": 0, "complete": 0}
    for m in w["messages"]:
        key = (m["flow"], m["msg_id"], m["epoch"], m["encap"])
        r = tm.pop(key, None)
        st = m["status"]
        if st not in ("ok", "complete"):
            if r is not None and r["smt.msg.status"] in ("ok", "complete"):
                err("message %s: %s here, smt-wire %s" % (key,
                                                          r["smt.msg.status"],
                                                          st))
            continue
        if r is None:
            err("message %s: smt-wire %s, the dissector never completes it"
                % (key, st))
            continue
        count[st] += 1
        pk = num(r["smt.msg.packets"]) + dups.get(key, 0)
        got = (r["smt.msg.status"], num(r["smt.msg.records"]), pk)
        want = (st, m["records"], m["packets"])
        if got != want:
            err("message %s: (status, records, packets) %s, smt-wire %s" %
                (key, got, want))
        if st != "ok":
            continue
        if num(r["smt.msg.app_len"]) != m["app_len"]:
            err("message %s: app_len %s, smt-wire %d" % (key,
                                                         r["smt.msg.app_len"],
                                                         m["app_len"]))
        if (num(r["smt.msg.inner_flags"]) == 1) != m["oneway"]:
            err("message %s: inner flags %s, smt-wire oneway %s" %
                (key, r["smt.msg.inner_flags"], m["oneway"]))
        dk = (m["src"], str(m["sport"]), m["dst"], str(m["dport"]),
              str(m["epoch"]), str(m["msg_id"]))
        data = bytes.fromhex(r["smt.msg.data"].replace(":", ""))
        if dk not in dumps:
            err("message %s: no smt-wire --dump file" % (key,))
        elif data != dumps[dk]:
            err("message %s: %d decrypted bytes differ from smt-wire's %d"
                % (key, len(data), len(dumps[dk])))
    for key, r in tm.items():
        if r["smt.msg.status"] in ("ok", "complete"):
            err("message %s: %s here, unknown to smt-wire" %
                (key, r["smt.msg.status"]))

    have = {"ok": count["ok"], "complete": count["complete"],
            "control": nctl, "drops": len(td)}
    for no, (reason, _) in td.items():
        have["drop:" + reason] = have.get("drop:" + reason, 0) + 1
    for k, v in expect.items():
        if have.get(k, 0) < v:
            err("expected at least %d %s, have %d" % (v, k, have.get(k, 0)))
    print("compare %s: %d SMT packets, %d messages ok, %d complete, %d "
          "control, %d drops (%s), %d mismatches" %
          (os.path.basename(pcap), nsmt, count["ok"], count["complete"],
           nctl, len(td), ",".join(sorted(set(x[0] for x in td.values()))),
           len(errors)))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()

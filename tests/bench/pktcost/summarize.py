#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Summary of a pktcost run (tests/bench/pktcost/run.sh) as Markdown.

Reads the key=value lines that run.sh collected (case headers, then the tx
and rx lines of each run; ping and pong lines) and prints, per case and
payload size, the median over the runs of each per-packet figure, and the
medians of the ping-pong runs. Exits nonzero when a case has no complete
run, so that a broken benchmark never looks like a result.
"""
import argparse
import os
import platform
import re
import statistics
import sys
import time

ORDER = ["raw:raw", "xsk:xsk", "raw:xsk", "xsk:raw", "pkt:raw", "udp:udp",
         "udp-gso:udp-gso"]


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def parse(path):
    runs, pings, pongs = {}, {}, {}
    cur = None
    with open(path) as f:
        for line in f:
            kv = fields(line)
            if line.startswith("case="):
                cur = {}
                runs.setdefault((kv["case"], int(kv["size"])), []).append(cur)
            elif line.startswith(("tx ", "rx ")) and cur is not None:
                cur[line[:2]] = {k: float(v) for k, v in kv.items()
                                 if k != "mode"}
            elif line.startswith("ping "):
                pings.setdefault(kv["mode"], []).append(kv)
            elif line.startswith("pong "):
                pongs.setdefault(kv["mode"], []).append(kv)
    return runs, pings, pongs


def per_run(r):
    """The per-packet figures of one run, in ns, or None if incomplete."""
    tx, rx = r.get("tx"), r.get("rx")
    if not tx or not rx or not tx["pkts"] or not rx["pkts"]:
        return None
    got = rx["pkts"]
    ours = tx["cpu_s"] + rx["cpu_s"] + rx["ksoftirqd_s"]
    other = max(0.0, rx["busy_s"] - ours) / (rx["secs"] * rx["ncpu"])
    return {
        "kpps": got / rx["secs"] / 1e3,
        "loss": 100.0 * rx["lost"] / (got + rx["lost"]),
        "tx": tx["cpu_s"] * 1e9 / tx["pkts"],
        "rx": rx["cpu_s"] * 1e9 / got,
        "ksirqd": rx["ksoftirqd_s"] * 1e9 / got,
        "total": ours * 1e9 / got,
        "sirq": rx["softirq_s"] * 1e9 / got,
        "other": 100.0 * other,
    }


def med(values):
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, required=True)
    ap.add_argument("--secs", type=float, required=True)
    ap.add_argument("--cpus", default="")
    ap.add_argument("log")
    a = ap.parse_args()
    runs, pings, pongs = parse(a.log)
    bad = []

    print("# pktcost: CPU time per packet over a veth, by socket type\n")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"kernel {platform.release()}, {os.cpu_count()} CPUs "
          f"(sender and receiver pinned: {a.cpus}); median of {a.reps} "
          f"runs of {a.secs:g} s each; `make bench-pktcost`.\n")
    print("Sender and receiver columns are each process's CPU time "
          "(getrusage) per packet it sent or received. Over a veth the "
          "receiving stack runs in softirq on the sender's CPU, in the "
          "sender's context, so the sender column includes most of the "
          "receive path; the softirq column is that part (machine-wide "
          "/proc/stat, tick-sampled, already inside the other columns). "
          "Total = (sender + receiver + ksoftirqd CPU) / packets received. "
          "Other load: busy CPU time of everything else on the machine "
          "during the window (approximate); large values mean a noisy "
          "run.\n")
    print("| case tx:rx | payload B | runs | rx kpps | loss % "
          "| sender ns/pkt | receiver ns/pkt | ksoftirqd ns/pkt "
          "| total ns/pkt (min-max) | softirq ns/pkt | other load % |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals = {}
    keys = sorted(runs, key=lambda k: (k[1], ORDER.index(k[0])
                                       if k[0] in ORDER else 99, k[0]))
    for case, size in keys:
        rs = [x for x in map(per_run, runs[(case, size)]) if x]
        if not rs:
            bad.append(f"{case} {size} B")
            continue
        m = {k: med([x[k] for x in rs]) for k in rs[0]}
        lo = min(x["total"] for x in rs)
        hi = max(x["total"] for x in rs)
        totals[(case, size)] = m["total"]
        print(f"| {case} | {size} | {len(rs)} | {m['kpps']:.0f} "
              f"| {m['loss']:.2f} | {m['tx']:.0f} | {m['rx']:.0f} "
              f"| {m['ksirqd']:.0f} | {m['total']:.0f} ({lo:.0f}-{hi:.0f}) "
              f"| {m['sirq']:.0f} | {m['other']:.0f} |")

    ratios = []
    for (case, size), t in sorted(totals.items(), key=lambda x: x[0][1]):
        base = totals.get(("raw:raw", size))
        if base and case != "raw:raw":
            ratios.append(f"{case} {size} B: {base / t:.2f}")
    if ratios:
        print("\nTotal CPU per packet of raw:raw divided by that of each "
              "case (higher: cheaper than raw sockets): "
              + "; ".join(ratios) + ".")

    if pings:
        print("\nPing-pong, one 64 B packet at a time (sender and echo "
              "pinned as above):\n")
        print("| mode | round trips | lost | p50 us | p90 us | p99 us "
              "| CPU us per round trip (ping + pong) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for mode in sorted(pings):
            ps = pings[mode]
            cpu = [float(p["cpu_us_per_rt"]) for p in ps]
            pong = med([float(p["cpu_us_per_pkt"])
                        for p in pongs.get(mode, [])])
            print(f"| {mode} | {sum(int(p['n']) for p in ps)} "
                  f"| {sum(int(p['lost']) for p in ps)} "
                  f"| {med([float(p['p50_us']) for p in ps]):.1f} "
                  f"| {med([float(p['p90_us']) for p in ps]):.1f} "
                  f"| {med([float(p['p99_us']) for p in ps]):.1f} "
                  f"| {med(cpu) + pong:.1f} |")
    if bad:
        print("\nNo complete run: " + ", ".join(bad) + ".")
        print("summarize: no complete run of " + ", ".join(bad),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

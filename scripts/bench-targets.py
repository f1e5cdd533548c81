#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Fills in the two rows of smt-bench's targets table (summary.md,
"### Targets (issue 12)") that one smt-bench run cannot judge:

- "2 threads per side": from the threads pass of a full run (its
  summary.md, "### Threads" table), when the main run had no threads test;
- "native IP (smt-ip): no regression": this run's smt-ip medians against
  those of a previous docs/performance.md (the one in the tree before
  make bench overwrites it): unloaded p50 at every size, RPC rate at every
  throughput point, 1 MiB goodput and the head-of-line small-RPC p99 at
  every loss. Each point scores old/new (times) or new/old (rates), so
  above 1 is better; the target is met when the geometric mean of the
  scores is at least 0.95 (single points on this shared machine move by
  20 % from run to run; the points worse by more than 20 % are listed).

Usage: bench-targets.py SUMMARY_MD [--threads THREADS_SUMMARY_MD]
                        [--baseline PERFORMANCE_MD]
Rewrites SUMMARY_MD in place; prints the two rows.
"""
import argparse
import math
import re
import sys

GEOMEAN_GOAL = 0.95
WORSE = 0.8  # a point scoring below this is listed


def first_table(text, heading):
    """The rows (lists of cells) of the first table after the first
    "### heading..." line, header row first."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("### " + heading):
            break
    else:
        return []
    rows = []
    for line in lines[i + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            if line.startswith("|---"):
                continue
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows


def column(rows, name):
    """Index of the first header cell starting with name, or None."""
    if not rows:
        return None
    for j, h in enumerate(rows[0]):
        if h.startswith(name):
            return j
    return None


def number(cell, part=0):
    """The part-th number of an "a / b" cell, None for "-"."""
    try:
        return float(cell.split("/")[part].strip())
    except (ValueError, IndexError):
        return None


def smt_ip_points(text):
    """{point name: (value, higher_is_better)} of smt-ip's medians."""
    pts = {}
    lat = first_table(text, "Unloaded latency")
    j = column(lat, "smt-ip p50")
    for r in lat[1:] if j is not None else []:
        v = number(r[j])
        if v:
            pts["p50 " + r[0]] = (v, False)
    tput = first_table(text, "Throughput by outstanding")
    j = column(tput, "smt-ip kRPC")
    for r in tput[1:] if j is not None else []:
        v = number(r[j])
        if v:
            pts["rate " + r[0].replace(", ", " x")] = (v, True)
    gp = first_table(text, "1 MiB requests")
    j = column(gp, "goodput")
    for r in gp[1:] if j is not None else []:
        if r[0] == "smt-ip":
            v = number(r[j])
            if v:
                pts["1 MiB goodput"] = (v, True)
    hol = first_table(text, "Head-of-line blocking")
    j = column(hol, "smt-ip p50")
    for r in hol[1:] if j is not None else []:
        v = number(r[j], 1)
        if v:
            pts["head-of-line p99 " + r[0].replace(" ", "")] = (v, False)
    return pts


def regression_row(summary, baseline):
    label = ("| native IP (smt-ip): no regression against the previous "
             "docs/performance.md")
    goal = "geomean >= %.2f" % GEOMEAN_GOAL
    m = re.search(r"on (\d{4}-\d\d-\d\dT\d\d:\d\d)", baseline or "")
    when = " (%s)" % m.group(1) if m else ""
    old = smt_ip_points(baseline or "")
    new = smt_ip_points(summary)
    scores = []
    for k, (nv, higher) in new.items():
        if k in old:
            ov = old[k][0]
            scores.append((k, nv / ov if higher else ov / nv))
    if not scores:
        return "%s | not measured%s | - | %s | - | - |" % (label, when, goal)
    g = math.exp(sum(math.log(s) for _, s in scores) / len(scores))
    worse = sorted((s, k) for k, s in scores if s < WORSE)
    listed = ", ".join("%s %.2f" % (k, s) for s, k in worse[:4])
    more = ", ..." if len(worse) > 4 else ""
    cell = "%.2f over %d points%s; %d worse by > 20 %%%s%s%s" % (
        g, len(scores), when, len(worse), ": " if worse else "", listed, more)
    verdict = "met" if g >= GEOMEAN_GOAL else "MISSED"
    return "%s | %s | - | %s | %s | - |" % (label, cell, goal, verdict)


def threads_row(threads_md, old_row):
    rows = first_table(threads_md, "Threads")
    j = column(rows, "2 / 1")
    c = column(rows, "ceiling")
    if j is None:
        return old_row
    cells, verdicts = [], []
    for tp in ("smt-ip", "smt-udp"):
        v = cap = None
        for r in rows[1:]:
            if r[0] == tp:
                v = number(r[j])
                cap = number(r[c]) if c is not None else None
        # the ceiling: what this machine's CPUs allow at one thread's CPU
        # per RPC (smt-bench's threads table says how it is computed)
        why = "; ceiling %.2f at 1 thread's CPU per RPC" % cap if cap else ""
        cells.append("%.2f (threads pass%s)" % (v, why) if v
                     else "not measured")
        verdicts.append(("met" if v >= 1.6 else "MISSED") if v else "-")
    return "| 2 threads per side: 64 B x32 RPC rate, 2 threads / 1 | %s | %s " \
        "| >= 1.60 | %s | %s |" % (cells[0], cells[1], verdicts[0],
                                   verdicts[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("summary")
    ap.add_argument("--threads")
    ap.add_argument("--baseline")
    a = ap.parse_args()
    summary = open(a.summary).read()
    baseline = open(a.baseline).read() if a.baseline else None
    threads = open(a.threads).read() if a.threads else None
    out = []
    for line in summary.splitlines():
        if line.startswith("| native IP (smt-ip): no regression"):
            line = regression_row(summary, baseline)
            print(line)
        elif (line.startswith("| 2 threads per side:") and threads and
              "not measured | not measured" in line):
            line = threads_row(threads, line)
            print(line)
        out.append(line)
    open(a.summary, "w").write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

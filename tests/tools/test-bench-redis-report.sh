#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# scripts/bench-redis-report.py on made-up rows: the fixed-rate (open-loop)
# rows get their own table and their own judged target row (met when every
# smt p50 is at most stunnel's and the rate was sustained; missed, with the
# point named, when a p50 is above or requests went unanswered), and they
# leave the closed-loop rows' verdict as it was. make test-proxy runs it.
# Usage: test-bench-redis-report.sh
set -u
REPORT_OK_WORD="ok  "
HERE=$(dirname "${BASH_SOURCE[0]}")
. "$HERE/../lib/report.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# closed loop: smt-udp beats stunnel at its one point (verdict met)
closed() {
	printf 'stunnel\t0\tGET\t32\t1\t64\t5000\t3.0\t15.0\t300.0\n'
	printf 'smt-udp\t0\tGET\t32\t1\t64\t25000\t0.8\t4.0\t50.0\n'
}
# fixed PATH LOSS P50 UNANSWERED: a fixed-rate GET row at 3000/s
fixed() {
	printf '%s\t%s\tFIXED-GET\t32\t3000\t64\t2990.0\t%s\t2.000\t150.0' "$1" "$2" "$3"
	printf '\t1.0\t5.0\t6.0\t15000\t%s\t%s\t0\t0\t0\t0.040\n' \
		$((15000 - $4)) "$4"
}
report() { # DIR: the report of the rows in DIR
	: >"$1/mixed.tsv"
	: >"$1/loss.txt"
	python3 "$HERE/../../scripts/bench-redis-report.py" "$1" 5000 1000 1 2 \
		7.0 5.68 now abc 2>&1
}
target_row() { grep '^| fixed rate (open loop, like-for-like)' | grep "| $1 |"; }
closed_row() { grep "^| >= stunnel's requests/s and <= its p50" | grep "| $1 |"; }

mkdir "$T/met" "$T/above" "$T/unans"
{ closed; fixed stunnel 0 0.400 0; fixed smt-udp 0 0.300 0; fixed stunnel 1 0.450 0; fixed smt-udp 1 0.380 0; } >"$T/met/rows.tsv"
{ closed; fixed stunnel 0 0.400 0; fixed smt-udp 0 0.300 0; fixed stunnel 1 0.300 0; fixed smt-udp 1 0.380 0; } >"$T/above/rows.tsv"
{ closed; fixed stunnel 0 0.400 0; fixed smt-udp 0 0.300 12; } >"$T/unans/rows.tsv"

out=$(report "$T/met")
if printf '%s\n' "$out" | grep -q '^### Fixed rate (open loop)' &&
	printf '%s\n' "$out" | grep -q '^| 1 % | GET | 32 | 3000 | .* | 0.84 | ? |'; then
	ok fixed_table_with_ratio
else
	bad fixed_table_with_ratio "$(printf '%s\n' "$out" | grep -A4 'Fixed rate' | head -8)"
fi
if printf '%s\n' "$out" | target_row smt-udp | grep -q '| \*\*met\*\* | - |'; then
	ok fixed_target_met
else
	bad fixed_target_met "$(printf '%s\n' "$out" | target_row smt-udp)"
fi

out=$(report "$T/above")
if printf '%s\n' "$out" | target_row smt-udp |
	grep -q '\*\*missed\*\* | 1% GET c32 3000/s: p50 0.380 > 0.300 ms |'; then
	ok fixed_target_missed_names_point
else
	bad fixed_target_missed_names_point "$(printf '%s\n' "$out" | target_row smt-udp)"
fi
# the closed-loop verdict is that of the closed-loop rows alone
if printf '%s\n' "$out" | closed_row smt-udp | grep -q '| \*\*met\*\* | - |'; then
	ok closed_loop_verdict_unchanged
else
	bad closed_loop_verdict_unchanged "$(printf '%s\n' "$out" | closed_row smt-udp)"
fi

out=$(report "$T/unans")
if printf '%s\n' "$out" | target_row smt-udp |
	grep -q '\*\*missed\*\* | 0% GET c32 3000/s: rate not sustained (.*12 unanswered' &&
	printf '%s\n' "$out" | grep -q '^| 0 % | GET | 32 | 3000 | .*lag 0.040 (!) |'; then
	ok fixed_unanswered_is_missed
else
	bad fixed_unanswered_is_missed "$(printf '%s\n' "$out" | grep -e 'like-for-like' -e '^| 0 % | GET | 32 | 3000')"
fi

echo "test-bench-redis-report: $pass passed, $fail failed${FAILED:+:$FAILED}"
[ "$fail" = 0 ]

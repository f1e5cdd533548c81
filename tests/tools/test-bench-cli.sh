#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# smt-bench client's options that need no server: --threads-pair C:S (the
# threads test at C client threads against the S-threaded service alone)
# takes two counts of 1..8, each at most --threads; anything else is refused
# with exit status 2 before any connection is tried.
# Usage: test-bench-cli.sh SMT_BENCH
set -u
BIN=${1:?usage: test-bench-cli.sh SMT_BENCH}
REPORT_OK_WORD="ok  "
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"

# refused NAME PATTERN ARGS...: exit status 2 and PATTERN in what it printed
refused() {
	local name=$1 pat=$2 out rc
	shift 2
	out=$("$BIN" client --server 192.0.2.1 --ca /dev/null "$@" 2>&1)
	rc=$?
	if [ $rc = 2 ] && printf '%s' "$out" | grep -Eq -- "$pat"; then
		ok "$name"
	else
		bad "$name" "exit $rc: $(printf '%s' "$out" | head -2)"
	fi
}

refused threads_pair_past_threads 'threads-pair 2:1: both at most --threads \(0\)' \
	--threads-pair 2:1
refused threads_pair_server_past_threads 'threads-pair 1:3: both at most --threads \(2\)' \
	--threads 2 --threads-pair 1:3
refused threads_pair_not_a_pair 'threads-pair 2: want C:S' --threads 2 --threads-pair 2
refused threads_pair_zero 'threads-pair 0:1: want C:S' --threads 2 --threads-pair 0:1
# accepted: it then fails to reach the (absent) server's control port, exit 1
out=$(timeout 20 "$BIN" client --server 127.0.0.1 --ca /dev/null --threads 2 \
	--threads-pair 2:1 --threads-only 2>&1)
rc=$?
if [ $rc != 2 ] && ! printf '%s' "$out" | grep -q -- '--threads-pair'; then
	ok threads_pair_accepted
else
	bad threads_pair_accepted "exit $rc: $(printf '%s' "$out" | head -2)"
fi

echo "test-bench-cli: $pass passed, $fail failed"
[ "$fail" = 0 ]

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# smt-echo keygen validates the session limits it writes (docs/protocol.md
# 6.1 and 7): M 1 .. 64 MiB, B 40 .. 56, and M small enough for B. A line
# it prints must be one that readers accept; what it refuses exits 2 with a
# message naming the option.
# Usage: tests/tools/test-echo-keygen.sh BUILD/bin/smt-echo
set -u
E=${1:-build/bin/smt-echo}
T=$(mktemp -d /tmp/smt-keygen-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
REPORT_QUIET_OK=1
. "$(dirname "${BASH_SOURCE[0]}")/../lib/report.sh"
A="--client 192.0.2.1:4001 --server 192.0.2.2:5000"

# refused ARGS... : exit 2, a message on stderr naming the option, no line
refused() {
	# shellcheck disable=SC2086
	"$E" keygen $A "$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ "$rc" = 2 ] && [ ! -s "$T/out" ] && grep -q -- "--max-msg\|--b" "$T/err"; then
		ok "keygen $*"
	else
		bad "keygen $*" "exit $rc, stdout '$(head -c 80 "$T/out")', stderr '$(cat "$T/err")'"
	fi
}

# accepted M FIELD ARGS...: exit 0, the line's M field is M
accepted() {
	local m=$1
	shift
	# shellcheck disable=SC2086
	if "$E" keygen $A "$@" >"$T/out" 2>"$T/err" &&
		[ "$(cut -d' ' -f9 "$T/out")" = "$m" ]; then
		ok "keygen $*"
	else
		bad "keygen $*" "$(cat "$T/err") $(cut -d' ' -f1-10 "$T/out")"
	fi
}

refused --max-msg 65M
refused --max-msg 67108865
refused --max-msg 0
refused --max-msg 2M --b 56
refused --b 39
refused --b 57
accepted 67108864 --max-msg 64M
accepted 1 --max-msg 1
accepted 1048568 --max-msg 1048568 --b 56
accepted 1048576
echo "test-echo-keygen: $pass passed, $fail failed"
[ "$fail" = 0 ]

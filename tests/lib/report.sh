# shellcheck shell=bash
# SPDX-License-Identifier: BSD-2-Clause
#
# One set of result helpers for the test scripts (tests/net, smtd, proxy,
# wireshark, quickstart, tools), sourced:
#   ok NAME [DETAIL]            a check passed
#   bad NAME DETAIL             a check failed; NAME is added to $FAILED
#   expect NAME PATTERN CMD...  ok when CMD's stdout and stderr match the
#                               extended regular expression PATTERN, else bad
#                               with the first lines CMD printed
# Counters: $pass and $fail (each script prints its own summary from them).
# How a result line looks, set before the first check:
#   REPORT_COLS=N     "PASS  NAME DETAIL" with NAME padded to N columns (a
#                     table: test-net, test-wireshark); without it
#                     "PASS NAME" and "FAIL NAME: DETAIL"
#   REPORT_OK_WORD    the word of a pass line (default PASS)
#   REPORT_QUIET_OK=1 a pass prints nothing
#   report_on_bad     a function the script may define, called with NAME
#                     after a failure line (test-net shows the check's log)
pass=0
fail=0
FAILED=""

ok() {
	pass=$((pass + 1))
	[ "${REPORT_QUIET_OK:-0}" = 1 ] && return 0
	if [ -n "${REPORT_COLS:-}" ]; then
		printf "%s  %-${REPORT_COLS}s %s\n" "${REPORT_OK_WORD:-PASS}" \
			"$1" "${2:-}"
	else
		echo "${REPORT_OK_WORD:-PASS} $1"
	fi
}

bad() {
	fail=$((fail + 1))
	FAILED="$FAILED $1"
	if [ -n "${REPORT_COLS:-}" ]; then
		printf "FAIL  %-${REPORT_COLS}s %s\n" "$1" "${2:-}"
	else
		echo "FAIL $1: ${2:-}"
	fi
	if declare -F report_on_bad >/dev/null; then
		report_on_bad "$1"
	fi
	return 0
}

expect() {
	local name=$1 pat=$2 out
	shift 2
	out=$("$@" 2>&1)
	if printf '%s\n' "$out" | grep -qE -- "$pat"; then
		ok "$name"
	else
		bad "$name" "'$*' said: $(printf '%s' "$out" | head -3)"
	fi
}

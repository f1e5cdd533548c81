#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Run Criterion test binaries one after the other, print each one's summary
# line ("Synthesis: ...") and a total, and exit nonzero when any test failed
# or crashed, when a binary exited nonzero, or when it printed no summary.
# Usage: run-tests.sh TIER BINARY...   (UNIT_JOBS sets Criterion's --jobs)
set -u

tier=$1
shift
if [ $# -eq 0 ]; then
	echo "$tier: FAIL: no test binaries found" >&2
	exit 1
fi
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/smt-$tier.XXXXXX")
trap 'rm -rf "$log_dir"' EXIT

tested=0 passing=0 failing=0 crashing=0 bad=""
for bin in "$@"; do
	name=${bin##*/bin/}
	log="$log_dir/$(echo "$name" | tr / _).log"
	"$bin" --jobs "${UNIT_JOBS:-2}" >"$log" 2>&1
	rc=$?
	# strip colours, keep the last summary line
	line=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep 'Synthesis:' | tail -n 1)
	# Criterion ignores how a test's child exits after it reported its
	# result, so a leak found at exit only shows in the output.
	san=$(grep -c -e 'ERROR: LeakSanitizer' -e 'ERROR: AddressSanitizer' \
		-e 'runtime error:' "$log")
	if [ "$san" -ne 0 ]; then
		echo "---- $name: $san sanitizer report(s)"
		[ "$rc" -ne 0 ] || rc=1
	fi
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		# Criterion's failure lines first: a failed assertion's
		# leak report (the test's memory, left at the abort) is
		# longer than the tail and hid them
		echo "---- $name (exit $rc) failures:"
		sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -v '^\[----\] *$' |
			grep -e '^\[----\]' -e '^\[FAIL\]' | head -n 40
		echo "---- $name (exit $rc) output:"
		sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -v '^\[----\] *$' | tail -n 80
		bad="$bad $name"
	fi
	if [ -z "$line" ]; then
		echo "  $name: no summary line (exit $rc)"
		continue
	fi
	echo "  $name: ${line#*Synthesis: }"
	num() { echo "$line" | sed -n "s/.*$1: \([0-9]*\).*/\1/p"; }
	tested=$((tested + $(num Tested)))
	passing=$((passing + $(num Passing)))
	failing=$((failing + $(num Failing)))
	crashing=$((crashing + $(num Crashing)))
done
echo "$tier total: Tested: $tested | Passing: $passing | Failing: $failing | Crashing: $crashing ($# binaries)"
if [ -n "$bad" ] || [ "$failing" -ne 0 ] || [ "$crashing" -ne 0 ] || [ "$tested" -eq 0 ]; then
	echo "$tier: FAIL:${bad:- failing tests}"
	exit 1
fi
echo "$tier: PASS"

#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Run each libFuzzer target for a bounded time from the committed corpus,
# print one summary line per target and fail on any finding (crash, leak,
# sanitizer report, timeout, out of memory).
# Usage: run-fuzz.sh FUZZ_DIR SECONDS TARGET...
set -u

dir=$1
secs=$2
shift 2
fail=""
for t in "$@"; do
	work="$dir/work/$t"
	art="$dir/artifacts"
	log="$dir/$t.log"
	mkdir -p "$work" "$art"
	"$dir/bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$art/$t-" "$work" "tests/fuzz/corpus/$t" \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	corp=$(echo "$done_line" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
	if [ "$rc" -ne 0 ]; then
		echo "---- $t (exit $rc):"
		grep -v '^#[0-9]' "$log" | tail -n 60
		fail="$fail $t"
		echo "  $t: FAIL after ${runs:-?} runs; reproduce: $dir/bin/$t $(ls -t "$art/$t-"* 2>/dev/null | head -n 1)"
	else
		echo "  $t: ${runs:-?} runs in ${secs}s, coverage ${cov:-?}, corpus ${corp:-?}: no findings"
	fi
done
if [ -n "$fail" ]; then
	echo "fuzz: FAIL:$fail"
	exit 1
fi
echo "fuzz: PASS ($# targets, ${secs}s each)"

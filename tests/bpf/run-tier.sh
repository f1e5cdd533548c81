#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Runs the test-bpf tier (or, with --bench, the BPF benchmark). Everything
# here needs root: loading BPF programs, netns, bpffs. Without root the tier
# prints SKIP loudly and exits 0, unless CI=true, where it is a failure.
# Usage: BUILD=dir tests/bpf/run-tier.sh
#        tests/bpf/run-tier.sh --bench BENCH_BIN XDP_PASS_OBJ BPF_DIR CSV
set -u
BUILD=${BUILD:-build}
here=$(dirname "$0")

if [ "$(id -u)" != 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "test-bpf: FAIL: needs root (CAP_BPF, CAP_NET_ADMIN) and CI=true" >&2
		exit 1
	fi
	echo "########################################################"
	echo "### SKIP test-bpf: needs root; nothing was tested.   ###"
	echo "########################################################"
	exit 0
fi

if [ "${1:-}" = --bench ]; then
	shift
	exec "$@"
fi

fail=
echo "== test-bpf: BPF_PROG_TEST_RUN fixtures"
"$BUILD/tests/bpf/test_bpf_run" || fail="$fail fixtures"
for t in load netns netns-udp; do
	if [ -x "$here/$t.sh" ]; then
		echo "== test-bpf: $t.sh"
		BUILD=$BUILD "$here/$t.sh" || fail="$fail $t"
	fi
done
if [ -n "$fail" ]; then
	echo "test-bpf: FAILED:$fail"
	exit 1
fi
echo "test-bpf: all passed"

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# scripts/smtd.service runs smtd with least privilege: its own user, no
# CAP_SYS_ADMIN or other capability beyond CAP_NET_RAW (native IP),
# CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON ([bpf]), and `systemd-analyze security` (offline, on
# the file itself) at or below 4.0 (it was 6.9 before the hardening). With
# CI=true a missing systemd-analyze is a failure.
# Usage: test-unit-hardening.sh [UNIT_FILE] [MAX_EXPOSURE]
set -u
UNIT=${1:-scripts/smtd.service}
MAX=${2:-4.0}
fail=0
ok() { echo "ok   $1"; }
bad() {
	echo "FAIL $1: $2"
	fail=$((fail + 1))
}

if grep -Eq '^User=smt$' "$UNIT" && grep -Eq '^Group=smt$' "$UNIT"; then
	ok unit_runs_as_user_smt
else
	bad unit_runs_as_user_smt "no User=smt / Group=smt in $UNIT"
fi
caps=$(grep -E '^(CapabilityBoundingSet|AmbientCapabilities)=' "$UNIT")
extra=$(echo "$caps" | sed 's/^[A-Za-z]*=//' | tr ' ' '\n' |
	grep -Ev '^(CAP_NET_RAW|CAP_NET_ADMIN|CAP_BPF|CAP_PERFMON|)$')
if [ -n "$caps" ] && [ -z "$extra" ]; then
	ok unit_capabilities_only_net_raw_net_admin_bpf_perfmon
else
	bad unit_capabilities_only_net_raw_net_admin_bpf_perfmon "${caps:-none set}; beyond: $extra"
fi

if ! command -v systemd-analyze >/dev/null; then
	if [ "${CI:-}" = true ]; then
		bad unit_exposure "systemd-analyze missing (Debian systemd)"
	else
		echo "SKIP unit_exposure: no systemd-analyze; NOT run"
	fi
	exit $((fail > 0))
fi
# The offline analysis names the unit after its file: copy it to smtd.service.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$UNIT" "$tmp/smtd.service"
out=$(systemd-analyze security --offline=true "$tmp/smtd.service" 2>&1)
level=$(echo "$out" | sed -n 's/.*Overall exposure level for smtd.service: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
	bad unit_exposure "systemd-analyze said: $(echo "$out" | tail -3)"
elif awk -v l="$level" -v m="$MAX" 'BEGIN { exit !(l <= m) }'; then
	ok "unit_exposure ($level <= $MAX)"
else
	bad unit_exposure "exposure $level > $MAX: $(echo "$out" | grep '✗' | head -5)"
fi
exit $((fail > 0))

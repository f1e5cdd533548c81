#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# bench-echo (make bench): smt-echo between two network namespaces over a
# veth pair, natively on IP (raw IP sockets, protocol 253) and over UDP
# (docs/protocol.md 1.1), one after the other (BENCH_ENCAPS="ip udp").
#  1. Unloaded latency by message size: one RPC at a time, request and
#     response of the same size; p50/p99/p99.9 and throughput.
#  2. Head-of-line test: 64 B RPCs (one at a time) alone, and next to two
#     1 MiB RPCs kept in flight on the same session, at 0, 1 and 2% loss
#     (smt_fault on both veth ends): small-RPC p50/p99 with and without the
#     large transfers.
# Prints tables and writes $BUILD/bench/echo_latency.csv and echo_hol.csv
# (first column: the encapsulation).
# Numbers from a shared 2-core VM: compare ratios, not absolute values.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/net/common.sh
net_need_root bench-echo
trap net_cleanup EXIT

OUT=$NET_BUILD/bench
mkdir -p "$OUT"
P=bench$$
SMALL_N=${BENCH_SMALL_N:-3000}

net_up "$P" || { echo "bench-echo: cannot build the netns topology" >&2; exit 1; }
NET_ECHO_BASE_OPTS=$NET_ECHO_OPTS
CSV=$OUT/echo_latency.csv
CSV2=$OUT/echo_hol.csv
echo "encap,size_bytes,rpcs,ok,p50_us,p90_us,p99_us,p999_us,rpc_per_s,mbit_per_s" >"$CSV"
echo "encap,loss_pct,background,small_rpcs_ok,small_p50_us,small_p99_us,small_p999_us,bg_1mib_ok,bg_p50_us" >"$CSV2"

# bench_run OUTFILE COUNT [client options]: one client run on a fresh session
bench_run() {
	local out=$1 count=$2
	shift 2
	# shellcheck disable=SC2086
	timeout -k 5 300 ip netns exec "$SMT_NS_CLIENT" "$NET_ECHO" client \
		--keylog "$NET_KL" --line $LINE --count "$count" -j -q \
		--encap "$E" "$@" >"$out" 2>"$out.err"
	local rc=$?
	LINE=$((LINE + 1))
	return $rc
}

# percentile of the foreground RPCs: first "KEY": of the JSON line
jn() { json_num "$1" "$2"; }

# The server takes the tier's options (NET_ECHO_OPTS) and the client only
# the encapsulation, as before.
for E in ${BENCH_ENCAPS:-ip udp}; do
	NET_ECHO_OPTS="$NET_ECHO_BASE_OPTS --encap $E"
	NET_FAULT_OPTS=""
	if [ "$E" = udp ] && "$NET_FAULT" --help 2>&1 | grep -q -- '--udp-ports'; then
		NET_FAULT_OPTS="--udp-ports $NET_UDP_PORTS"
	fi
	NET_KL=$NET_TMP/keys-$E.log
	net_keys "$NET_KL" 20 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4" || exit 1
	net_server "$SMT_NS_SERVER" "$NET_KL" "$NET_TMP/server-$E.json" || exit 1
	LINE=1
	echo
	echo "== smt-echo unloaded latency by size (veth, IPv4, 1 RPC in flight), encap $E"
	printf '%10s %7s %10s %10s %10s %10s %10s\n' size rpcs p50_us p99_us \
		p99.9_us rpc/s Mbit/s
	for s in 64 1024 16384 65536 262144 1048576; do
		n=$SMALL_N
		[ $s -ge 65536 ] && n=300
		[ $s -ge 1048576 ] && n=60
		f=$NET_TMP/lat_${E}_$s.json
		bench_run "$f" $n --size $s || echo "  (size $s: client exit $?; see below)"
		printf '%10s %7s %10s %10s %10s %10s %10s\n' $s "$(jn "$f" ok)" \
			"$(jn "$f" p50)" "$(jn "$f" p99)" "$(jn "$f" p999)" \
			"$(jn "$f" rpc_per_s)" "$(jn "$f" mbit_per_s)"
		echo "$E,$s,$n,$(jn "$f" ok),$(jn "$f" p50),$(jn "$f" p90),$(jn "$f" p99),$(jn "$f" p999),$(jn "$f" rpc_per_s),$(jn "$f" mbit_per_s)" >>"$CSV"
	done

	echo
	echo "== head-of-line: 64 B RPCs alone vs next to 2 x 1 MiB RPCs in flight, same session, encap $E"
	printf '%6s %-14s %8s %10s %10s %10s %8s %10s\n' loss background ok \
		p50_us p99_us p99.9_us bg_ok bg_p50_us
	for pct in 0 1 2; do
		if [ "$pct" != 0 ]; then
			net_fault "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT" $pct 0 &&
				net_fault "$SMT_NS_SERVER" "$SMT_DEV_SERVER" $pct 0 || {
				echo "bench-echo: cannot attach smt_fault" >&2
				exit 1
			}
		fi
		for bg in none 2x1MiB; do
			f=$NET_TMP/hol_${E}_${pct}_$bg.json
			if [ $bg = none ]; then
				bench_run "$f" $SMALL_N --size 64 --rpc-timeouts 500
			else
				bench_run "$f" $SMALL_N --size 64 --bg-size 1M \
					--bg-concurrency 2 --rpc-timeouts 500
			fi
			bgok=-
			bgp50=-
			if [ $bg != none ]; then
				# the "bg" object follows the foreground fields
				bgok=$(grep -o '"bg":{[^}]*' "$f" | grep -o '"ok":[0-9]*' | cut -d: -f2)
				bgp50=$(grep -o '"bg":{.*' "$f" | grep -o '"p50":[0-9.]*' | head -1 | cut -d: -f2)
			fi
			printf '%5s%% %-14s %8s %10s %10s %10s %8s %10s\n' $pct $bg \
				"$(jn "$f" ok)" "$(jn "$f" p50)" "$(jn "$f" p99)" \
				"$(jn "$f" p999)" "$bgok" "$bgp50"
			echo "$E,$pct,$bg,$(jn "$f" ok),$(jn "$f" p50),$(jn "$f" p99),$(jn "$f" p999),$bgok,$bgp50" >>"$CSV2"
		done
		if [ "$pct" != 0 ]; then
			"$NET_FAULT" -n "$SMT_NS_SERVER" stats "$SMT_DEV_SERVER" -j \
				>"$NET_TMP/fault_${E}_$pct.json"
			[ "$(json_num "$NET_TMP/fault_${E}_$pct.json" dropped_random)" -gt 0 ] 2>/dev/null ||
				echo "bench-echo: WARNING: smt_fault dropped no SMT packet at $pct% (encap $E): these rows are without loss"
		fi
		net_fault_off "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT"
		net_fault_off "$SMT_NS_SERVER" "$SMT_DEV_SERVER"
	done
	net_server_stop "$NET_SERVER_PID"
done
echo
echo "bench-echo: CSV in $CSV and $CSV2"

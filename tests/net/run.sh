#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test-net: SMT end to end with real smt-echo processes in network
# namespaces over veth (raw IP sockets, protocol 253). Every response is
# checked byte for byte by the client (its exit status and "bad" count);
# the server checks every oneway message. Scenarios: message sizes 0 B to
# 1 MiB and 8 MiB with M raised; 0/1/5/20% loss plus duplication in both
# directions (smt_fault BPF on both veth ends); 1000 concurrent RPCs;
# oneway messages; an ASan build of smt-echo under loss next to the normal
# server on the same host; IPv6 through a forwarding middlebox with loss
# injected there; a tcpdump capture decoded by `smt-wire decode --keylog`;
# AF_XDP transmit (--xsk-tx), 1000 RPCs, and an ASan client with it.
# Usage: BUILD=build tests/net/run.sh [SCENARIO...]   (NET_KEEP_TMP=1 keeps
# the logs). Needs root; under CI=true its absence is a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/net/common.sh
net_need_root test-net
trap net_cleanup EXIT

NET_ASAN_ECHO=${NET_ASAN_ECHO:-$NET_BUILD/net-asan/smt-echo}
NET_WIRE=$NET_BUILD/bin/smt-wire
P=net$$
PASS=0
FAIL=0
FAILED=""
ONLY=" $* "

want() { [ "$ONLY" = "  " ] || [[ "$ONLY" == *" $1 "* ]]; }

ok() {
	PASS=$((PASS + 1))
	printf 'PASS  %-22s %s\n' "$1" "$2"
}

bad() {
	FAIL=$((FAIL + 1))
	FAILED="$FAILED $1"
	printf 'FAIL  %-22s %s\n' "$1" "$2"
	[ -f "$NET_TMP/$1.err" ] && sed 's/^/      | /' "$NET_TMP/$1.err" | tail -15
}

# client NAME LINE COUNT [smt-echo client options]: runs one client in the
# client namespace; passes when it exits 0 and every RPC came back right.
client() {
	local name=$1 line=$2 count=$3 rc okn badn failn p50 p99 t0 t1
	shift 3
	t0=$(date +%s.%N)
	timeout -k 5 150 ip netns exec "$SMT_NS_CLIENT" ${NET_CLIENT_WRAP:-} \
		"${NET_CLIENT_BIN:-$NET_ECHO}" client --keylog "$NET_KL" \
		--line "$line" --count "$count" -j -q --stats $NET_ECHO_OPTS "$@" \
		>"$NET_TMP/$name.json" 2>"$NET_TMP/$name.err"
	rc=$?
	t1=$(date +%s.%N)
	okn=$(json_num "$NET_TMP/$name.json" ok)
	badn=$(json_num "$NET_TMP/$name.json" bad)
	failn=$(json_num "$NET_TMP/$name.json" failed)
	p50=$(json_num "$NET_TMP/$name.json" p50)
	p99=$(json_num "$NET_TMP/$name.json" p99)
	CLIENT_DETAIL="ok ${okn:-?}/$count bad ${badn:-?} failed ${failn:-?} p50 ${p50:-?}us p99 ${p99:-?}us ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")s)"
	[ "$rc" = 0 ] && [ "${okn:-x}" = "$count" ] && [ "${badn:-x}" = 0 ]
}

run_client() { # NAME LINE COUNT OPTIONS...
	local name=$1
	if client "$@"; then ok "$name" "$CLIENT_DETAIL"; else bad "$name" "$CLIENT_DETAIL"; fi
}

# ---- IPv4, client <-> server -------------------------------------------------
net_up "$P" || { echo "FAIL: cannot build the netns topology" >&2; exit 1; }
NET_KL=$NET_TMP/keys.log
# lines 1..15: M = 1 MiB; line 16: M = 8 MiB (one server holds them all)
net_keys "$NET_KL" 15 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4" || exit 1
"$NET_ECHO" keygen --client "$SMT_CLIENT_IP4:4016" \
	--server "$SMT_SERVER_IP4:5000" --max-msg 8M >>"$NET_KL" || exit 1
net_server "$SMT_NS_SERVER" "$NET_KL" "$NET_TMP/server.json" || exit 1
SERVER=$NET_SERVER_PID

want sizes && run_client sizes_0B_to_1MiB 1 32 -c 4 \
	--size 0,1,64,1439,1440,1441,4095,4096,4097,16383,16384,16385,65536,262144,1048575,1048576
want big && run_client size_8MiB_raised_M 16 4 -c 2 --size 8M,3M
want big && {
	# over M is refused at the sender, before anything is sent
	if timeout -k 5 30 ip netns exec "$SMT_NS_CLIENT" "$NET_ECHO" client \
		--keylog "$NET_KL" --line 2 --count 1 --size 1048577 -q \
		>"$NET_TMP/over_m.out" 2>&1; then
		bad over_M_refused "a 1 MiB + 1 request was accepted"
	elif grep -q "larger than the session's maximum" "$NET_TMP/over_m.out"; then
		ok over_M_refused "1048577 B > M: $(grep -m1 "larger than" "$NET_TMP/over_m.out")"
	else
		bad over_M_refused "$(tail -1 "$NET_TMP/over_m.out")"
	fi
}

line=3
for pct in 0 1 5 20; do
	want loss || break
	net_fault "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT" "$pct" "$pct" &&
		net_fault "$SMT_NS_SERVER" "$SMT_DEV_SERVER" "$pct" "$pct" || {
		bad "loss_dup_${pct}pct" "cannot attach smt_fault"
		continue
	}
	count=40
	[ "$pct" = 20 ] && count=24
	client "loss_dup_${pct}pct" $line $count -c 4 --size 64,4K,64K,1M \
		--rpc-timeouts 200
	crc=$?
	"$NET_FAULT" -n "$SMT_NS_SERVER" stats "$SMT_DEV_SERVER" -j \
		>"$NET_TMP/fault_$pct.json"
	seen=$(json_num "$NET_TMP/fault_$pct.json" seen)
	dropped=$(json_num "$NET_TMP/fault_$pct.json" dropped_random)
	dupd=$(json_num "$NET_TMP/fault_$pct.json" duplicated_random)
	detail="$CLIENT_DETAIL; server side injector: seen ${seen:-?} dropped ${dropped:-?} duplicated ${dupd:-?}"
	if [ $crc = 0 ] && [ "${seen:-0}" -gt 0 ] &&
		{ [ "$pct" = 0 ] || { [ "${dropped:-0}" -gt 0 ] && [ "${dupd:-0}" -gt 0 ]; }; }; then
		ok "loss_dup_${pct}pct" "$detail"
	else
		bad "loss_dup_${pct}pct" "$detail"
	fi
	net_fault_off "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT"
	net_fault_off "$SMT_NS_SERVER" "$SMT_DEV_SERVER"
	line=$((line + 1))
done

want conc && run_client concurrent_1000 7 3000 -c 1000 --size 64,1K
want oneway && run_client oneway 8 300 -c 16 --oneway --size 0,64,5000,300K

# ASan smt-echo, server and client, under 5% loss + duplication; its server
# shares the server host with the plain one (raw sockets see each other's
# packets: demultiplexed by port, counted as not ours).
if want asan; then
	if [ ! -x "$NET_ASAN_ECHO" ]; then
		bad asan_5pct "no ASan build at $NET_ASAN_ECHO"
	else
		AKL=$NET_TMP/asan-keys.log
		NET_SPORT=5001 net_keys "$AKL" 1 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
		NET_ECHO=$NET_ASAN_ECHO net_server "$SMT_NS_SERVER" "$AKL" \
			"$NET_TMP/asan-server.json"
		ASERVER=$NET_SERVER_PID
		net_fault "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT" 5 5
		net_fault "$SMT_NS_SERVER" "$SMT_DEV_SERVER" 5 5
		NET_KL_SAVE=$NET_KL
		NET_KL=$AKL
		NET_CLIENT_BIN=$NET_ASAN_ECHO client asan_5pct 1 30 -c 4 \
			--size 0,64,20K,300K,1M --rpc-timeouts 200
		crc=$?
		NET_KL=$NET_KL_SAVE
		net_fault_off "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT"
		net_fault_off "$SMT_NS_SERVER" "$SMT_DEV_SERVER"
		net_server_stop "$ASERVER"
		src=$?
		if [ $crc = 0 ] && [ $src = 0 ] &&
			! grep -q "ERROR: AddressSanitizer\|LeakSanitizer" \
				"$NET_TMP/asan_5pct.err" "$NET_TMP/asan-server.json.err"; then
			ok asan_5pct "$CLIENT_DETAIL; ASan server exit $src"
		else
			cat "$NET_TMP/asan-server.json.err" >>"$NET_TMP/asan_5pct.err"
			bad asan_5pct "$CLIENT_DETAIL; ASan server exit $src"
		fi
		unset ASAN_OPTIONS
	fi
fi

# A capture on the server's veth decodes cleanly with the key log.
if want capture; then
	if [ ! -x "$NET_WIRE" ]; then
		bad capture_decode "no $NET_WIRE"
	elif ! command -v tcpdump >/dev/null; then
		bad capture_decode "no tcpdump"
	else
		PCAP=$NET_TMP/capture.pcap
		ip netns exec "$SMT_NS_SERVER" tcpdump -i "$SMT_DEV_SERVER" -B 32768 -U --immediate-mode \
			-w "$PCAP" "ip proto 253 or ip6 proto 253" \
			>"$NET_TMP/tcpdump.out" 2>&1 &
		TCPD=$!
		NET_PIDS="$NET_PIDS $TCPD"
		sleep 1
		client capture_decode 9 12 -c 2 --size 0,64,20000,70000
		crc=$?
		sleep 1
		kill -INT $TCPD
		wait $TCPD 2>/dev/null
		"$NET_WIRE" decode "$PCAP" --keylog "$NET_KL" \
			>"$NET_TMP/decode.out" 2>&1
		drc=$?
		# 12 requests and their 12 responses, every one decrypted
		msgs=$(grep '^summary:' "$NET_TMP/decode.out" | grep -o ' ok [0-9]*' | cut -d' ' -f3)
		if [ $crc = 0 ] && [ $drc = 0 ] && [ "${msgs:-0}" = 24 ]; then
			ok capture_decode "$CLIENT_DETAIL; smt-wire decode exit 0, $(grep '^summary:' "$NET_TMP/decode.out")"
		else
			tail -20 "$NET_TMP/decode.out" >>"$NET_TMP/capture_decode.err"
			bad capture_decode "$CLIENT_DETAIL; smt-wire decode exit $drc, ${msgs:-?}/24 messages ok"
		fi
	fi
fi

# The client's check can fail: a server that flips one bit in every 4th
# response must make the client report exactly those as bad and exit 1.
if want corrupt; then
	CKL=$NET_TMP/corrupt-keys.log
	NET_SPORT=5002 net_keys "$CKL" 1 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	net_server "$SMT_NS_SERVER" "$CKL" "$NET_TMP/corrupt-server.json" \
		--corrupt-every 4
	CSERVER=$NET_SERVER_PID
	NET_KL_SAVE=$NET_KL
	NET_KL=$CKL
	client corrupt_detected 1 40 -c 1 --size 1,64,5000,70000
	crc=$?
	NET_KL=$NET_KL_SAVE
	net_server_stop "$CSERVER"
	cbad=$(json_num "$NET_TMP/corrupt_detected.json" bad)
	cok=$(json_num "$NET_TMP/corrupt_detected.json" ok)
	if [ $crc != 0 ] && [ "${cbad:-x}" = 10 ] && [ "${cok:-x}" = 30 ]; then
		ok corrupt_detected "client exit nonzero, bad ${cbad} ok ${cok} (1 in 4 corrupted)"
	else
		bad corrupt_detected "client bad ${cbad:-?} ok ${cok:-?} (want 10 and 30)"
	fi
fi

# AF_XDP transmit (--xsk-tx) on both sides: a server of its own (one XSK
# per interface queue host-wide, so only it uses one on the server side),
# 1000 RPCs of mixed sizes up to 1 MiB from the plain client, then an ASan
# client (the XSK, its UMEM and rings closed without a leak). Each side must
# have sent through the XSK (its counter > 0), and nothing may be lost. The
# neighbour tables are flushed first: the client's first packets must take
# the raw fallback (its counter > 0 too) until the kernel resolved the peer.
if want xsk; then
	ip -n "$SMT_NS_CLIENT" neigh flush all
	ip -n "$SMT_NS_SERVER" neigh flush all
	XKL=$NET_TMP/xsk-keys.log
	NET_SPORT=5003 net_keys "$XKL" 2 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	net_server "$SMT_NS_SERVER" "$XKL" "$NET_TMP/xsk-server.json" --xsk-tx
	XSERVER=$NET_SERVER_PID
	NET_KL_SAVE=$NET_KL
	NET_KL=$XKL
	client xsk_tx_1000 1 1000 -c 8 --xsk-tx \
		--size 0,1,64,1439,1441,4096,16385,65536,300000,1048576
	crc=$?
	xc=$(json_num "$NET_TMP/xsk_tx_1000.json" tx_xsk_packets)
	xf=$(json_num "$NET_TMP/xsk_tx_1000.json" tx_xsk_fallback)
	if [ $crc = 0 ] && [ "${xc:-0}" -gt 0 ] && [ "${xf:-0}" -gt 0 ]; then
		ok xsk_tx_1000 "$CLIENT_DETAIL; client xsk packets $xc, raw fallback ${xf:-?}"
	else
		bad xsk_tx_1000 "$CLIENT_DETAIL; client xsk packets ${xc:-?}, raw fallback ${xf:-?}"
	fi
	if [ -x "$NET_ASAN_ECHO" ]; then
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
		NET_CLIENT_BIN=$NET_ASAN_ECHO client xsk_tx_asan 2 60 -c 4 \
			--xsk-tx --size 0,64,20K,300K,1M
		crc=$?
		unset ASAN_OPTIONS
		xc=$(json_num "$NET_TMP/xsk_tx_asan.json" tx_xsk_packets)
		if [ $crc = 0 ] && [ "${xc:-0}" -gt 0 ] &&
			! grep -q "ERROR: AddressSanitizer\|LeakSanitizer" \
				"$NET_TMP/xsk_tx_asan.err"; then
			ok xsk_tx_asan "$CLIENT_DETAIL; client xsk packets $xc"
		else
			bad xsk_tx_asan "$CLIENT_DETAIL; client xsk packets ${xc:-?}"
		fi
	else
		bad xsk_tx_asan "no ASan build at $NET_ASAN_ECHO"
	fi
	NET_KL=$NET_KL_SAVE
	net_server_stop "$XSERVER"
	src=$?
	xs=$(json_num "$NET_TMP/xsk-server.json" tx_xsk_packets)
	if [ $src = 0 ] && [ "${xs:-0}" -gt 0 ]; then
		ok xsk_tx_server "exit 0, requests $(json_num "$NET_TMP/xsk-server.json" requests), xsk packets $xs, raw fallback $(json_num "$NET_TMP/xsk-server.json" tx_xsk_fallback)"
	else
		cat "$NET_TMP/xsk-server.json.err" >"$NET_TMP/xsk_tx_server.err"
		bad xsk_tx_server "exit $src, xsk packets ${xs:-?}"
	fi
fi

net_server_stop "$SERVER"
src=$?
bo=$(json_num "$NET_TMP/server.json" bad_oneways)
if [ $src = 0 ] && [ "${bo:-x}" = 0 ]; then
	ok server_v4 "exit 0, requests $(json_num "$NET_TMP/server.json" requests), oneways $(json_num "$NET_TMP/server.json" oneways) all verified, not-ours packets $(json_num "$NET_TMP/server.json" rx_no_endpoint)"
else
	bad server_v4 "exit $src, bad oneways ${bo:-?}"
fi

# ---- IPv6 through a forwarding middlebox, loss injected on the middlebox ----
if want v6; then
	P6=${P}m
	if net_up "$P6" --middlebox --v6; then
		NET_KL=$NET_TMP/keys6.log
		net_keys "$NET_KL" 2 "$SMT_CLIENT_IP6" "$SMT_SERVER_IP6"
		net_server "$SMT_NS_SERVER" "$NET_KL" "$NET_TMP/server6.json"
		S6=$NET_SERVER_PID
		run_client v6_middlebox 1 24 -c 4 --size 0,64,1420,1421,100K,1M
		net_fault "$SMT_NS_MB" "$SMT_DEV_MB_CLIENT" 5 5
		net_fault "$SMT_NS_MB" "$SMT_DEV_MB_SERVER" 5 5
		run_client v6_middlebox_5pct 2 24 -c 4 --size 64,16K,1M \
			--rpc-timeouts 200
		net_fault_off "$SMT_NS_MB" "$SMT_DEV_MB_CLIENT"
		net_fault_off "$SMT_NS_MB" "$SMT_DEV_MB_SERVER"
		net_server_stop "$S6" || bad server_v6 "exit $?"
	else
		bad v6_middlebox "cannot build the middlebox topology"
	fi
fi

echo "test-net: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test-net: SMT end to end with real smt-echo processes in network
# namespaces over veth, in both encapsulations: every scenario runs once
# natively on IP (raw sockets, protocol 253; names end in _ip) and once over
# UDP (docs/protocol.md 1.1; names end in _udp). Every response is checked
# byte for byte by the client (its exit status and "bad" count); the server
# checks every oneway message. Scenarios: message sizes 0 B to 1 MiB and
# 8 MiB with M raised; 0/1/5/20% loss plus duplication in both directions
# (smt_fault BPF on both veth ends); 1000 concurrent RPCs; oneway messages;
# an ASan build of smt-echo under loss next to the normal server on the
# same host; IPv6 through a forwarding middlebox with loss injected there;
# a tcpdump capture decoded by `smt-wire decode --keylog`; a server that
# corrupts responses. Native IP only: AF_XDP transmit (--xsk-tx), 1000 RPCs,
# and an ASan client with it (over UDP, --xsk-tx must be refused). UDP only: a server killed mid-run (the
# client's RPCs must fail within their timeout with SMT_E_UNREACHABLE, seen
# through ICMP port unreachable), and smt-echo server and client as the
# user nobody without any capability (byte-exact echo over UDP; native IP
# must be refused with the CAP_NET_RAW error).
# Usage: BUILD=build tests/net/run.sh [SCENARIO...]   (NET_KEEP_TMP=1 keeps
# the logs; NET_ENCAPS="ip udp" picks the encapsulations, in that order;
# NET_CAPTURE_DIR=DIR keeps the capture scenario's pcaps and key logs there).
# Scenarios: sizes big loss conc oneway asan capture corrupt flood xsk v6
# icmp nobody. Needs root; under CI=true its absence is a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/net/common.sh
net_need_root test-net
trap net_cleanup EXIT

NET_ASAN_ECHO=${NET_ASAN_ECHO:-$NET_BUILD/net-asan/smt-echo}
NET_WIRE=$NET_BUILD/bin/smt-wire
NET_ECHO_BASE_OPTS=$NET_ECHO_OPTS
P=net$$
REPORT_COLS=24
. tests/lib/report.sh
ONLY=" $* "
E=ip # the encapsulation of the pass that runs
# the unprivileged user of the nobody scenario, without any capability
NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all"

want() { [ "$ONLY" = "  " ] || [[ "$ONLY" == *" $1 "* ]]; }

# after a FAIL line: the check's log, when it has one
report_on_bad() {
	[ -f "$NET_TMP/$1.err" ] && sed 's/^/      | /' "$NET_TMP/$1.err" | tail -15
}

# client NAME LINE COUNT [smt-echo client options]: runs one client in the
# client namespace; passes when it exits 0 and every RPC came back right.
client() {
	local name=$1 line=$2 count=$3 rc okn badn failn p50 p99 t0 t1 enc
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
	enc=$(json_str "$NET_TMP/$name.json" encap)
	CLIENT_DETAIL="ok ${okn:-?}/$count bad ${badn:-?} failed ${failn:-?} p50 ${p50:-?}us p99 ${p99:-?}us encap ${enc:-?} ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")s)"
	# the client must also have run in the encapsulation of the pass
	[ "$rc" = 0 ] && [ "${okn:-x}" = "$count" ] && [ "${badn:-x}" = 0 ] &&
		[ "${enc:-x}" = "$E" ]
}

run_client() { # NAME LINE COUNT OPTIONS...
	local name=$1
	if client "$@"; then ok "$name" "$CLIENT_DETAIL"; else bad "$name" "$CLIENT_DETAIL"; fi
}

# The options that make the injector and the decoder see SMT over UDP. Both
# tools learn it from other work (smt-fault's and smt-wire's own changes);
# until they take UDP ports, the UDP loss and capture scenarios FAIL (the
# injector then sees no SMT packet, the decoder no message), which is right.
udp_tool_opts() {
	NET_FAULT_UDP=""
	NET_WIRE_UDP=""
	if "$NET_FAULT" --help 2>&1 | grep -q -- '--udp-ports'; then
		NET_FAULT_UDP="--udp-ports $NET_UDP_PORTS"
	fi
	if "$NET_WIRE" help 2>&1 | grep -q -- '--udp-ports'; then
		NET_WIRE_UDP="--udp-ports $NET_UDP_PORTS"
	fi
}

# ---- IPv4, client <-> server -------------------------------------------------
v4_scenarios() {
	local line pct count crc src seen dropped dupd detail
	NET_KL=$NET_TMP/keys-$E.log
	# lines 1..15: M = 1 MiB; line 16: M = 8 MiB (one server holds them all)
	net_keys "$NET_KL" 15 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4" || return 1
	"$NET_ECHO" keygen --client "$SMT_CLIENT_IP4:4016" \
		--server "$SMT_SERVER_IP4:5000" --max-msg 8M >>"$NET_KL" || return 1
	net_server "$SMT_NS_SERVER" "$NET_KL" "$NET_TMP/server-$E.json" || {
		bad "server_v4_$E" "the smt-echo server did not start"
		return 1
	}
	SERVER=$NET_SERVER_PID

	want sizes && run_client "sizes_0B_to_1MiB_$E" 1 32 -c 4 \
		--size 0,1,64,1431,1432,1433,1439,1440,1441,4095,4096,4097,16383,16384,16385,65536,262144,1048575,1048576
	want big && run_client "size_8MiB_raised_M_$E" 16 4 -c 2 --size 8M,3M
	want big && {
		# over M is refused at the sender, before anything is sent
		if timeout -k 5 30 ip netns exec "$SMT_NS_CLIENT" "$NET_ECHO" client \
			--keylog "$NET_KL" --line 2 --count 1 --size 1048577 -q \
			$NET_ECHO_OPTS >"$NET_TMP/over_m_$E.out" 2>&1; then
			bad "over_M_refused_$E" "a 1 MiB + 1 request was accepted"
		elif grep -q "larger than the session's maximum" "$NET_TMP/over_m_$E.out"; then
			ok "over_M_refused_$E" "1048577 B > M: $(grep -m1 "larger than" "$NET_TMP/over_m_$E.out")"
		else
			bad "over_M_refused_$E" "$(tail -1 "$NET_TMP/over_m_$E.out")"
		fi
	}

	line=3
	for pct in 0 1 5 20; do
		want loss || break
		net_fault "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT" "$pct" "$pct" &&
			net_fault "$SMT_NS_SERVER" "$SMT_DEV_SERVER" "$pct" "$pct" || {
			bad "loss_dup_${pct}pct_$E" "cannot attach smt_fault${NET_FAULT_OPTS:+ with $NET_FAULT_OPTS}"
			line=$((line + 1))
			continue
		}
		count=40
		[ "$pct" = 20 ] && count=24
		client "loss_dup_${pct}pct_$E" $line $count -c 4 --size 64,4K,64K,1M \
			--rpc-timeouts 200
		crc=$?
		"$NET_FAULT" -n "$SMT_NS_SERVER" stats "$SMT_DEV_SERVER" -j \
			>"$NET_TMP/fault_${pct}_$E.json"
		seen=$(json_num "$NET_TMP/fault_${pct}_$E.json" seen)
		dropped=$(json_num "$NET_TMP/fault_${pct}_$E.json" dropped_random)
		dupd=$(json_num "$NET_TMP/fault_${pct}_$E.json" duplicated_random)
		detail="$CLIENT_DETAIL; server side injector: seen ${seen:-?} dropped ${dropped:-?} duplicated ${dupd:-?}"
		[ "$E" = udp ] && [ "${seen:-0}" = 0 ] &&
			detail="$detail (smt_fault matched no SMT-over-UDP packet${NET_FAULT_OPTS:- and smt-fault has no --udp-ports option})"
		if [ $crc = 0 ] && [ "${seen:-0}" -gt 0 ] &&
			{ [ "$pct" = 0 ] || { [ "${dropped:-0}" -gt 0 ] && [ "${dupd:-0}" -gt 0 ]; }; }; then
			ok "loss_dup_${pct}pct_$E" "$detail"
		else
			bad "loss_dup_${pct}pct_$E" "$detail"
		fi
		net_fault_off "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT"
		net_fault_off "$SMT_NS_SERVER" "$SMT_DEV_SERVER"
		line=$((line + 1))
	done

	want conc && run_client "concurrent_1000_$E" 7 3000 -c 1000 --size 64,1K
	want oneway && run_client "oneway_$E" 8 300 -c 16 --oneway --size 0,64,5000,300K

	want asan && scenario_asan
	want capture && scenario_capture
	want corrupt && scenario_corrupt
	# AF_XDP transmit writes native IP packets itself: native IP only, and
	# over UDP it must be refused, and say why
	[ "$E" = ip ] && want xsk && scenario_xsk
	[ "$E" = udp ] && want xsk && scenario_xsk_refused
	[ "$E" = udp ] && want icmp && scenario_icmp
	[ "$E" = udp ] && want nobody && scenario_nobody

	net_server_stop "$SERVER"
	src=$?
	bo=$(json_num "$NET_TMP/server-$E.json" bad_oneways)
	if [ $src = 0 ] && [ "${bo:-x}" = 0 ] &&
		[ "$(json_str "$NET_TMP/server-$E.json" encap)" = "$E" ]; then
		ok "server_v4_$E" "exit 0, encap $E, requests $(json_num "$NET_TMP/server-$E.json" requests), oneways $(json_num "$NET_TMP/server-$E.json" oneways) all verified, not-ours packets $(json_num "$NET_TMP/server-$E.json" rx_no_endpoint)"
	else
		cp "$NET_TMP/server-$E.json.err" "$NET_TMP/server_v4_$E.err" 2>/dev/null
		bad "server_v4_$E" "exit $src, bad oneways ${bo:-?}, encap $(json_str "$NET_TMP/server-$E.json" encap)"
	fi
	# after the main server stopped: natively its raw socket would see
	# (and spend time on) every forged packet too
	want flood && scenario_flood
}

# ASan smt-echo, server and client, under 5% loss + duplication; its server
# shares the server host with the plain one (natively, raw sockets see each
# other's packets: demultiplexed by port, counted as not ours; over UDP the
# kernel demultiplexes by port).
scenario_asan() {
	local n=asan_5pct_$E crc src akl save
	if [ ! -x "$NET_ASAN_ECHO" ]; then
		bad "$n" "no ASan build at $NET_ASAN_ECHO"
		return
	fi
	akl=$NET_TMP/asan-keys-$E.log
	NET_SPORT=5001 net_keys "$akl" 1 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
	NET_ECHO=$NET_ASAN_ECHO net_server "$SMT_NS_SERVER" "$akl" \
		"$NET_TMP/asan-server-$E.json"
	ASERVER=$NET_SERVER_PID
	net_fault "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT" 5 5
	net_fault "$SMT_NS_SERVER" "$SMT_DEV_SERVER" 5 5
	save=$NET_KL
	NET_KL=$akl
	NET_CLIENT_BIN=$NET_ASAN_ECHO client "$n" 1 30 -c 4 \
		--size 0,64,20K,300K,1M --rpc-timeouts 200
	crc=$?
	NET_KL=$save
	net_fault_off "$SMT_NS_CLIENT" "$SMT_DEV_CLIENT"
	net_fault_off "$SMT_NS_SERVER" "$SMT_DEV_SERVER"
	net_server_stop "$ASERVER"
	src=$?
	if [ $crc = 0 ] && [ $src = 0 ] &&
		! grep -q "ERROR: AddressSanitizer\|LeakSanitizer" \
			"$NET_TMP/$n.err" "$NET_TMP/asan-server-$E.json.err"; then
		ok "$n" "$CLIENT_DETAIL; ASan server exit $src"
	else
		cat "$NET_TMP/asan-server-$E.json.err" >>"$NET_TMP/$n.err"
		bad "$n" "$CLIENT_DETAIL; ASan server exit $src"
	fi
	unset ASAN_OPTIONS
}

# A capture on the server's veth decodes cleanly with the key log.
scenario_capture() {
	local n=capture_decode_$E pcap filter tcpd crc drc msgs smtp encp
	if [ ! -x "$NET_WIRE" ]; then
		bad "$n" "no $NET_WIRE"
		return
	elif ! command -v tcpdump >/dev/null; then
		bad "$n" "no tcpdump"
		return
	fi
	pcap=$NET_TMP/capture-$E.pcap
	filter="ip proto 253 or ip6 proto 253"
	# the capture client's session: line 9, client port 4009, server 5000
	[ "$E" = udp ] && filter="udp port 5000"
	# A host capture sees a UDP GSO message before it is cut into
	# datagrams (as with TSO): turn segmentation offload off on both ends
	# so that the capture holds the datagrams a NIC would put on the wire.
	if [ "$E" = udp ]; then
		ip netns exec "$SMT_NS_CLIENT" ethtool -K "$SMT_DEV_CLIENT" tx-udp-segmentation off >/dev/null 2>&1
		ip netns exec "$SMT_NS_SERVER" ethtool -K "$SMT_DEV_SERVER" tx-udp-segmentation off >/dev/null 2>&1
	fi
	ip netns exec "$SMT_NS_SERVER" tcpdump -i "$SMT_DEV_SERVER" -B 32768 -U --immediate-mode \
		-w "$pcap" "$filter" >"$NET_TMP/tcpdump-$E.out" 2>&1 &
	tcpd=$!
	NET_PIDS="$NET_PIDS $tcpd"
	sleep 1
	client "$n" 9 12 -c 2 --size 0,64,20000,70000
	crc=$?
	sleep 1
	kill -INT $tcpd
	wait $tcpd 2>/dev/null
	if [ "$E" = udp ]; then
		ip netns exec "$SMT_NS_CLIENT" ethtool -K "$SMT_DEV_CLIENT" tx-udp-segmentation on >/dev/null 2>&1
		ip netns exec "$SMT_NS_SERVER" ethtool -K "$SMT_DEV_SERVER" tx-udp-segmentation on >/dev/null 2>&1
	fi
	# shellcheck disable=SC2086
	"$NET_WIRE" decode "$pcap" --keylog "$NET_KL" $NET_WIRE_OPTS \
		>"$NET_TMP/decode-$E.out" 2>&1
	drc=$?
	# test-wireshark dissects the same capture (tests/wireshark/run.sh)
	if [ -n "${NET_CAPTURE_DIR:-}" ]; then
		cp "$pcap" "$NET_CAPTURE_DIR/capture-$E.pcap"
		cp "$NET_KL" "$NET_CAPTURE_DIR/keys-$E.log"
	fi
	# 12 requests and their 12 responses, every one decrypted, and every
	# SMT packet seen in the encapsulation of the pass ("encap: ip N udp M")
	msgs=$(grep '^summary:' "$NET_TMP/decode-$E.out" | grep -o ' ok [0-9]*' | cut -d' ' -f3)
	smtp=$(grep '^summary:' "$NET_TMP/decode-$E.out" | grep -o ' smt [0-9]*' | cut -d' ' -f3)
	encp=$(grep '^encap:' "$NET_TMP/decode-$E.out" | grep -o " $E [0-9]*" | cut -d' ' -f3)
	if [ $crc = 0 ] && [ $drc = 0 ] && [ "${msgs:-0}" = 24 ] &&
		[ "${smtp:-0}" -gt 0 ] && [ "${encp:-x}" = "$smtp" ]; then
		ok "$n" "$CLIENT_DETAIL; smt-wire decode exit 0, $(grep '^summary:' "$NET_TMP/decode-$E.out"); $(grep '^encap:' "$NET_TMP/decode-$E.out")"
	else
		tail -20 "$NET_TMP/decode-$E.out" >>"$NET_TMP/$n.err"
		bad "$n" "$CLIENT_DETAIL; smt-wire decode${NET_WIRE_OPTS:+ $NET_WIRE_OPTS} exit $drc, ${msgs:-?}/24 messages ok, ${encp:-?} of ${smtp:-?} SMT packets in encap $E"
	fi
}

# The client's check can fail: a server that flips one bit in every 4th
# response must make the client report exactly those as bad and exit 1.
scenario_corrupt() {
	local n=corrupt_detected_$E ckl save crc cbad cok
	ckl=$NET_TMP/corrupt-keys-$E.log
	NET_SPORT=5002 net_keys "$ckl" 1 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	net_server "$SMT_NS_SERVER" "$ckl" "$NET_TMP/corrupt-server-$E.json" \
		--corrupt-every 4
	CSERVER=$NET_SERVER_PID
	save=$NET_KL
	NET_KL=$ckl
	client "$n" 1 40 -c 1 --size 1,64,5000,70000
	crc=$?
	NET_KL=$save
	net_server_stop "$CSERVER"
	cbad=$(json_num "$NET_TMP/$n.json" bad)
	cok=$(json_num "$NET_TMP/$n.json" ok)
	if [ $crc != 0 ] && [ "${cbad:-x}" = 10 ] && [ "${cok:-x}" = 30 ]; then
		ok "$n" "client exit nonzero, bad ${cbad} ok ${cok} (1 in 4 corrupted)"
	else
		bad "$n" "client bad ${cbad:-?} ok ${cok:-?} (want 10 and 30)"
	fi
}

# Forged flood (docs/protocol.md 3.4, "Amplification"; issue 17 item 9): a
# server of its own; genuine 64-byte RPCs (4 in flight) in rounds of 1.5 s,
# each followed by one (interleaved, so that the machine's other load hits
# both alike) while smt_craft sends 10,000 forged first packets per second
# of 1 MiB requests with random msg_ids, with the live session's addresses
# and ports. Each round has a session of its own (a new client starts at
# msg_id 2), and each flood round's forged packets carry that round's ports.
# Asserted:
#  - delivery: every client exits 0 with 0 failed and 0 bad RPCs, and the
#    server delivered exactly the requests the clients had answered (no
#    forged request delivered, none lost);
#  - the flood ran at >= 9,500 packets per second;
#  - the server's memory is bounded (VmRSS grows by less than 128 MiB);
# Reported, not asserted (speed is never asserted in a test: these
# machines are shared): the issue's bar, the median flood-round rate >=
# 80 % of the median unloaded one and the median p99 < 10x the unloaded
# one. Single 1.5 s rounds vary by +-30 % with the other load (seen:
# 16.7k..29.7k RPC/s unloaded in one run), so 5 pairs first and, when the
# bar is missed, 5 more pairs and the medians of all 10; the line says
# "bar met" or "bar missed". Measured: 85-91 % in quiet runs, 76 % once in
# a loaded CI run. Without the per-session budget for answers to
# provisional messages, each forged packet cost a GRANT and a RESEND
# (plus the peer's UNKNOWN): 77 % on native IP.
flood_round() { # NAME LINE FLOOD(0/1): one round
	local fpid= rc v
	if [ "$3" = 1 ]; then
		ip netns exec "$SMT_NS_CLIENT" "$NET_BUILD/tests/bpf/smt_craft" \
			flood "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4" $((4000 + $2)) \
			5003 10000 2.3 "$FPROTO" >"$NET_TMP/$1.flood" 2>&1 &
		fpid=$!
		sleep 0.3
	fi
	ip netns exec "$SMT_NS_CLIENT" "$NET_ECHO" client --keylog "$FKL" \
		--line "$2" --duration 1.5 -c 4 --size 64 -j -q $NET_ECHO_OPTS \
		>"$NET_TMP/$1.json" 2>"$NET_TMP/$1.err"
	rc=$?
	[ -n "$fpid" ] && wait "$fpid"
	[ "$rc" = 0 ] || FLOOD_CLIENT_RC="$FLOOD_CLIENT_RC $1:$rc"
	# a missing figure counts as a bad and a failed RPC
	v=$(json_num "$NET_TMP/$1.json" ok)
	FLOOD_OK=$((FLOOD_OK + ${v:-0}))
	v=$(json_num "$NET_TMP/$1.json" bad)
	FLOOD_BAD=$((FLOOD_BAD + ${v:-1}))
	v=$(json_num "$NET_TMP/$1.json" failed)
	FLOOD_FAILED=$((FLOOD_FAILED + ${v:-1}))
	if [ "$3" = 1 ]; then
		FLOOD_RATES+=("$(json_num "$NET_TMP/$1.json" rpc_per_s)")
		FLOOD_P99S+=("$(json_num "$NET_TMP/$1.json" p99)")
	else
		ROUND_RATES+=("$(json_num "$NET_TMP/$1.json" rpc_per_s)")
		ROUND_P99S+=("$(json_num "$NET_TMP/$1.json" p99)")
	fi
}
flood_rounds() { # NAME FIRST: 5 pairs (unloaded, flood) from round FIRST
	local r
	for r in $(seq "$2" $(($2 + 4))); do
		flood_round "$1-base$r" $((1 + 2 * r)) 0
		flood_round "$1-flood$r" $((2 + 2 * r)) 1
	done
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
flood_bar() { # prints the medians; true when the rate and p99 bar holds
	FB_BR=$(median "${ROUND_RATES[@]}")
	FB_BP=$(median "${ROUND_P99S[@]}")
	FB_FR=$(median "${FLOOD_RATES[@]}")
	FB_FP=$(median "${FLOOD_P99S[@]}")
	awk -v br="$FB_BR" -v bp="$FB_BP" -v fr="$FB_FR" -v fp="$FB_FP" \
		'BEGIN { exit !(br > 0 && fr >= 0.8 * br && fp < 10 * bp) }'
}
scenario_flood() {
	local n=forged_flood_$E craft=$NET_BUILD/tests/bpf/smt_craft fsrv
	local rss0 rss1 fout fl reqs rounds=5 detail good=1
	if [ ! -x "$craft" ]; then
		bad "$n" "$craft not built"
		return
	fi
	FKL=$NET_TMP/flood-keys-$E.log
	NET_SPORT=5003 net_keys "$FKL" 20 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	net_server "$SMT_NS_SERVER" "$FKL" "$NET_TMP/flood-server-$E.json" || {
		bad "$n" "the flood server did not start"
		return
	}
	fsrv=$NET_SERVER_PID
	FPROTO=${SMT_IPPROTO:-253}
	[ "$E" = udp ] && FPROTO=udp
	ROUND_RATES=() ROUND_P99S=() FLOOD_RATES=() FLOOD_P99S=()
	FLOOD_OK=0 FLOOD_BAD=0 FLOOD_FAILED=0 FLOOD_CLIENT_RC=
	rss0=$(awk '/VmRSS/ { print $2 }' "/proc/$fsrv/status")
	flood_rounds "$n" 0
	if ! flood_bar; then
		echo "  $n: bar missed on 5 pairs (unloaded $FB_BR, flood $FB_FR RPC/s; p99 $FB_BP, $FB_FP us): 5 more pairs"
		flood_rounds "$n" 5
		rounds=10
		flood_bar
	fi
	rss1=$(awk '/VmRSS/ { print $2 }' "/proc/$fsrv/status")
	fout=$NET_TMP/$n.flood
	cat "$NET_TMP/$n-flood"*.flood >"$fout"
	fl=$(awk '{ print $NF }' "$fout" | sort -g | head -1)
	net_server_stop "$fsrv"
	reqs=$(json_num "$NET_TMP/flood-server-$E.json" requests)
	detail="$rounds pairs: unloaded ${FB_BR} RPC/s p99 ${FB_BP} us (rounds ${ROUND_RATES[*]}; ${ROUND_P99S[*]}); under flood ${FB_FR} RPC/s ($(awk -v a="$FB_FR" -v b="$FB_BR" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }') %) p99 ${FB_FP} us (rounds ${FLOOD_RATES[*]}; ${FLOOD_P99S[*]}); RPCs ok $FLOOD_OK bad $FLOOD_BAD failed $FLOOD_FAILED${FLOOD_CLIENT_RC:+ client exits$FLOOD_CLIENT_RC}, server requests ${reqs:-?}; flood pps min ${fl:-?}; server VmRSS ${rss0} -> ${rss1} kB"
	[ -z "$FLOOD_CLIENT_RC" ] && [ "$FLOOD_BAD" = 0 ] &&
		[ "$FLOOD_FAILED" = 0 ] && [ "${reqs:-x}" = "$FLOOD_OK" ] ||
		good=0
	awk -v r0="$rss0" -v r1="$rss1" -v fl="${fl:-0}" \
		'BEGIN { exit !(r1 - r0 < 131072 && fl >= 9500) }' || good=0
	if flood_bar; then
		detail="$detail; bar met"
	else
		detail="$detail; bar missed (reported, not asserted)"
	fi
	if [ "$good" = 1 ]; then
		ok "$n" "$detail"
	else
		bad "$n" "$detail"
	fi
}

# AF_XDP transmit (--xsk-tx) on both sides: a server of its own (one XSK
# per interface queue host-wide, so only it uses one on the server side),
# 1000 RPCs of mixed sizes up to 1 MiB from the plain client, then an ASan
# client (the XSK, its UMEM and rings closed without a leak). Each side must
# have sent through the XSK (its counter > 0), and nothing may be lost. The
# neighbour tables are flushed first: the client's first packets must take
# the raw fallback (its counter > 0 too) until the kernel resolved the peer.
scenario_xsk() {
	local xkl save crc xc xf src xs
	ip -n "$SMT_NS_CLIENT" neigh flush all
	ip -n "$SMT_NS_SERVER" neigh flush all
	xkl=$NET_TMP/xsk-keys.log
	NET_SPORT=5003 net_keys "$xkl" 2 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	net_server "$SMT_NS_SERVER" "$xkl" "$NET_TMP/xsk-server.json" --xsk-tx
	XSERVER=$NET_SERVER_PID
	save=$NET_KL
	NET_KL=$xkl
	client xsk_tx_1000 1 1000 -c 8 --xsk-tx \
		--size 0,1,64,1439,1441,4096,16385,65536,300000,1048576
	crc=$?
	xc=$(json_num "$NET_TMP/xsk_tx_1000.json" tx_xsk_packets)
	xf=$(json_num "$NET_TMP/xsk_tx_1000.json" tx_xsk_fallback)
	if [ $crc = 0 ] && [ "${xc:-0}" -gt 0 ] && [ "${xf:-0}" -gt 0 ]; then
		ok xsk_tx_1000 "$CLIENT_DETAIL; client xsk packets $xc, raw fallback $xf"
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
	NET_KL=$save
	net_server_stop "$XSERVER"
	src=$?
	xs=$(json_num "$NET_TMP/xsk-server.json" tx_xsk_packets)
	if [ $src = 0 ] && [ "${xs:-0}" -gt 0 ]; then
		ok xsk_tx_server "exit 0, requests $(json_num "$NET_TMP/xsk-server.json" requests), xsk packets $xs, raw fallback $(json_num "$NET_TMP/xsk-server.json" tx_xsk_fallback)"
	else
		cat "$NET_TMP/xsk-server.json.err" >"$NET_TMP/xsk_tx_server.err"
		bad xsk_tx_server "exit $src, xsk packets ${xs:-?}"
	fi
}

# --xsk-tx with --encap udp: the endpoint is refused (EINVAL) with a reason.
scenario_xsk_refused() {
	local rc
	timeout -k 5 30 ip netns exec "$SMT_NS_SERVER" "$NET_ECHO" server \
		--keylog "$NET_KL" --port 5009 --xsk-tx -n 1 $NET_ECHO_OPTS \
		>"$NET_TMP/xsk_tx_refused_udp.err" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q "Invalid argument; --xsk-tx sends native IP" \
		"$NET_TMP/xsk_tx_refused_udp.err"; then
		ok xsk_tx_refused_udp "exit 1: $(head -1 "$NET_TMP/xsk_tx_refused_udp.err")"
	else
		bad xsk_tx_refused_udp "exit $rc"
	fi
}

# ICMP port unreachable for a UDP session: the server is killed (SIGKILL)
# while a client keeps 2 RPCs in flight. Its kernel answers the client's
# further packets with ICMP port unreachable; the client's RPCs must fail
# with SMT_E_UNREACHABLE (not hang, not a plain timeout) within the RPC
# timeout: at most rpc_timeouts + 1 RESEND timeouts of at most 16 times
# --resend-us each (the adaptive timeout's ceiling, docs/api.md), plus 1 s
# for a loaded host; and the endpoint must have counted the ICMP errors.
scenario_icmp() {
	local n=icmp_unreachable_udp ikl rc t_kill t_end code str ms icmp okn failn
	local rpct=20 resend=${NET_RESEND_US:-10000} bound_ms after
	ikl=$NET_TMP/icmp-keys.log
	NET_SPORT=5004 net_keys "$ikl" 1 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	net_server "$SMT_NS_SERVER" "$ikl" "$NET_TMP/icmp-server.json" || {
		bad "$n" "the smt-echo server did not start"
		return
	}
	ISERVER=$NET_SERVER_PID
	bound_ms=$(((rpct + 1) * 16 * resend / 1000 + 1000))
	# not -q: the client names the error of every failed RPC on stderr
	timeout -k 5 60 ip netns exec "$SMT_NS_CLIENT" "$NET_ECHO" client \
		--keylog "$ikl" --line 1 --duration 3 -c 2 --size 64,4K -j --stats \
		$NET_ECHO_OPTS --rpc-timeouts $rpct \
		>"$NET_TMP/$n.json" 2>"$NET_TMP/$n.err" &
	local cpid=$!
	NET_PIDS="$NET_PIDS $cpid"
	sleep 1
	kill -KILL "$ISERVER"
	wait "$ISERVER" 2>/dev/null
	t_kill=$(date +%s%N)
	wait $cpid
	rc=$?
	t_end=$(date +%s%N)
	after=$(((t_end - t_kill) / 1000000))
	okn=$(json_num "$NET_TMP/$n.json" ok)
	failn=$(json_num "$NET_TMP/$n.json" failed)
	code=$(json_num "$NET_TMP/$n.json" first_error)
	str=$(json_str "$NET_TMP/$n.json" first_error_str)
	ms=$(json_num "$NET_TMP/$n.json" first_error_ms)
	icmp=$(json_num "$NET_TMP/$n.json" rx_icmp_errors)
	local detail="exit $rc, ok ${okn:-?} before the kill, failed ${failn:-?}, first error ${code:-none} \"${str:-}\" after ${ms:-?} ms (bound $bound_ms ms), rx_icmp_errors ${icmp:-?}, client done $after ms after the kill"
	# 4109 = SMT_E_UNREACHABLE; the client ends 2 s after the kill at the
	# latest plus the in-flight RPCs' timeout
	if [ "$rc" = 1 ] && [ "${okn:-0}" -gt 0 ] && [ "${failn:-0}" -gt 0 ] &&
		[ "${code:-x}" = 4109 ] &&
		[[ "$str" == *"ICMP reported the peer's SMT port"* ]] &&
		grep -q "failed: RPC timed out: ICMP reported" "$NET_TMP/$n.err" &&
		awk -v m="${ms:-1e9}" -v b="$bound_ms" 'BEGIN { exit !(m <= b) }' &&
		[ "${icmp:-0}" -gt 0 ] && [ "$after" -le $((2000 + bound_ms)) ]; then
		ok "$n" "$detail"
	else
		bad "$n" "$detail"
	fi
}

# smt-echo server and client as nobody, no capability at all (setpriv: the
# bounding, inheritable and ambient sets empty), over UDP in test mode:
# every response checked byte for byte. Native IP as nobody must fail with
# the CAP_NET_RAW error instead.
scenario_nobody() {
	local nkl save crc src uid cap rc
	if ! command -v setpriv >/dev/null; then
		bad nobody_udp "no setpriv (util-linux)"
		return
	fi
	# nobody reads the key log (test keys) and runs the binary
	chmod 711 "$NET_TMP"
	nkl=$NET_TMP/nobody-keys.log
	NET_SPORT=5005 net_keys "$nkl" 2 "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4"
	chmod 644 "$nkl"
	NET_SERVER_WRAP=$NOBODY net_server "$SMT_NS_SERVER" "$nkl" \
		"$NET_TMP/nobody-server.json" || {
		bad nobody_udp "the smt-echo server did not start as nobody"
		return
	}
	NSERVER=$NET_SERVER_PID
	# ip netns exec and setpriv exec: the pid is smt-echo's
	uid=$(awk '/^Uid:/ { print $2 "/" $3 }' "/proc/$NSERVER/status" 2>/dev/null)
	cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$NSERVER/status" 2>/dev/null)
	save=$NET_KL
	NET_KL=$nkl
	NET_CLIENT_WRAP=$NOBODY client nobody_udp 1 200 -c 4 \
		--size 0,1,64,1432,1433,4096,65536,1048576
	crc=$?
	local detail=$CLIENT_DETAIL
	NET_CLIENT_WRAP=$NOBODY client nobody_udp_oneway 2 40 -c 4 --oneway \
		--size 0,64,5000,300K
	local orc=$?
	NET_KL=$save
	net_server_stop "$NSERVER"
	src=$?
	if [ $crc = 0 ] && [ $src = 0 ] && [ "$uid" = 65534/65534 ] &&
		[ "$cap" = 0000000000000000 ]; then
		ok nobody_udp "$detail; server uid $uid, CapEff $cap, exit 0"
	else
		cat "$NET_TMP/nobody-server.json.err" >>"$NET_TMP/nobody_udp.err" 2>/dev/null
		bad nobody_udp "$detail; server uid ${uid:-?} CapEff ${cap:-?} exit $src"
	fi
	if [ $orc = 0 ] && [ "$(json_num "$NET_TMP/nobody-server.json" bad_oneways)" = 0 ] &&
		[ "$(json_num "$NET_TMP/nobody-server.json" oneways)" = 40 ]; then
		ok nobody_udp_oneway "client exit 0, the server verified 40 oneways"
	else
		bad nobody_udp_oneway "client exit $orc, server oneways $(json_num "$NET_TMP/nobody-server.json" oneways) bad $(json_num "$NET_TMP/nobody-server.json" bad_oneways)"
	fi
	# the same, natively: refused for want of CAP_NET_RAW, and said so
	timeout -k 5 30 ip netns exec "$SMT_NS_SERVER" $NOBODY "$NET_ECHO" \
		server --keylog "$nkl" --encap ip -n 1 \
		>"$NET_TMP/nobody_ip_refused.err" 2>&1
	rc=$?
	if [ $rc = 1 ] && grep -q "CAP_NET_RAW" "$NET_TMP/nobody_ip_refused.err" &&
		grep -q -- "--encap udp" "$NET_TMP/nobody_ip_refused.err"; then
		ok nobody_ip_refused "exit 1: $(grep -m1 CAP_NET_RAW "$NET_TMP/nobody_ip_refused.err")"
	else
		bad nobody_ip_refused "exit $rc, no CAP_NET_RAW error"
	fi
	chmod 700 "$NET_TMP"
}

# ---- IPv6 through a forwarding middlebox, loss injected on the middlebox ----
v6_scenarios() {
	local kl s6
	kl=$NET_TMP/keys6-$E.log
	net_keys "$kl" 2 "$SMT_CLIENT_IP6" "$SMT_SERVER_IP6"
	net_server "$SMT_NS_SERVER" "$kl" "$NET_TMP/server6-$E.json" || {
		bad "v6_middlebox_$E" "the smt-echo server did not start"
		return
	}
	s6=$NET_SERVER_PID
	NET_KL=$kl
	run_client "v6_middlebox_$E" 1 24 -c 4 --size 0,64,1412,1413,1420,1421,100K,1M
	net_fault "$SMT_NS_MB" "$SMT_DEV_MB_CLIENT" 5 5
	net_fault "$SMT_NS_MB" "$SMT_DEV_MB_SERVER" 5 5
	run_client "v6_middlebox_5pct_$E" 2 24 -c 4 --size 64,16K,1M \
		--rpc-timeouts 200
	"$NET_FAULT" -n "$SMT_NS_MB" stats "$SMT_DEV_MB_SERVER" -j \
		>"$NET_TMP/fault6_$E.json"
	if [ "$(json_num "$NET_TMP/fault6_$E.json" dropped_random)" -gt 0 ] 2>/dev/null; then
		ok "v6_middlebox_injector_$E" "middlebox injector dropped $(json_num "$NET_TMP/fault6_$E.json" dropped_random) of $(json_num "$NET_TMP/fault6_$E.json" seen)"
	else
		bad "v6_middlebox_injector_$E" "the middlebox injector dropped nothing (seen $(json_num "$NET_TMP/fault6_$E.json" seen))"
	fi
	net_fault_off "$SMT_NS_MB" "$SMT_DEV_MB_CLIENT"
	net_fault_off "$SMT_NS_MB" "$SMT_DEV_MB_SERVER"
	net_server_stop "$s6" || bad "server_v6_$E" "exit $?"
}

# Both topologies are built once and serve both passes.
TOPO_VARS="SMT_NS_CLIENT SMT_NS_SERVER SMT_NS_MB SMT_DEV_CLIENT SMT_DEV_SERVER
	SMT_DEV_MB_CLIENT SMT_DEV_MB_SERVER SMT_CLIENT_IP4 SMT_SERVER_IP4
	SMT_CLIENT_IP6 SMT_SERVER_IP6"
topo_save() { # NAME: remember the topology netns_up described
	local v
	for v in $TOPO_VARS; do eval "TOPO_${1}_$v=\${$v}"; done
}
topo_load() { # NAME
	local v
	for v in $TOPO_VARS; do eval "$v=\${TOPO_${1}_$v}"; done
}
net_up "$P" || { echo "FAIL: cannot build the netns topology" >&2; exit 1; }
topo_save v4
HAVE_V6=0
if want v6; then
	if net_up "${P}m" --middlebox --v6; then
		topo_save v6
		HAVE_V6=1
	else
		bad v6_middlebox "cannot build the middlebox topology"
	fi
fi
T_ALL=$(date +%s)
for E in ${NET_ENCAPS:-ip udp}; do
	T0=$(date +%s)
	if [ "$E" = ip ]; then
		echo "== SMT natively on IP (protocol ${SMT_IPPROTO:-253})"
	else
		echo "== SMT over UDP"
	fi
	NET_ECHO_OPTS="$NET_ECHO_BASE_OPTS --encap $E"
	NET_FAULT_OPTS=""
	NET_WIRE_OPTS=""
	if [ "$E" = udp ]; then
		udp_tool_opts
		NET_FAULT_OPTS=$NET_FAULT_UDP
		NET_WIRE_OPTS=$NET_WIRE_UDP
	fi
	topo_load v4
	v4_scenarios
	if [ $HAVE_V6 = 1 ]; then
		topo_load v6
		v6_scenarios
	fi
	echo "== $E: $(($(date +%s) - T0)) s"
done

echo "test-net: $pass passed, $fail failed${FAILED:+ (failed:$FAILED)} in $(($(date +%s) - T_ALL)) s (encapsulations: ${NET_ENCAPS:-ip udp})"
[ "$fail" = 0 ]

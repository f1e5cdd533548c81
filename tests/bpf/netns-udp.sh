#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# netns scenarios for SMT over UDP (protocol.md 1.1), crafted by smt_craft
# (raw socket, UDP checksum set) and, when it is built, real smt-echo RPCs:
#
#   A (sender) --- M (forwarding box, mtp_inspect on m0 and m1) --- B
#
#   1. N messages over UDP, IPv4 and IPv6, through M: mtp watch reports
#      exactly N with the sizes, packet and record counts the sender used;
#      UDP outside the box's ranges is counted as non-SMT and reported never.
#   2. max message size: an oversize message over UDP is dropped whole (B
#      receives none of its packets), the others pass.
#   3. smt_xdp on B with the session filter: UDP to an unknown session is
#      dropped, a UDP session added with bpftool completes its messages,
#      a native message on the same ports does not match it.
#   4. smt-fault on B drops SMT over UDP on its --udp-ports and lets
#      everything pass with --udp-ports none.
#   5. smt-echo --encap udp through M: requests and responses reported.
# Pins go under a private SMT_BPF_PIN_DIR; namespaces (prefix bpfu) are
# removed on exit.
set -u
BUILD=${BUILD:-build}
CRAFT=$BUILD/tests/bpf/smt_craft
SMTCTL=$BUILD/bin/smtctl
FAULT=$BUILD/bin/smt-fault
p=bpfu$$
NA=${p}a NM=${p}m NB=${p}b
export SMT_BPF_PIN_DIR=/sys/fs/bpf/smt-test-nu$$
fail=0
out=$(mktemp -d)

cleanup() {
	rm -rf "/sys/fs/bpf/smt/fault/b1x$$"
	for n in "$NA" "$NM" "$NB"; do
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$SMT_BPF_PIN_DIR" "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=tests/bpf/lib.sh
. "$(dirname "$0")/lib.sh"

for f in "$CRAFT" "$SMTCTL" "$FAULT"; do
	[ -e "$f" ] || { echo "FAIL missing $f (run make)"; exit 1; }
done
mount | grep -q " /sys/fs/bpf type bpf" || mount -t bpf bpf /sys/fs/bpf

for n in "$NA" "$NM" "$NB"; do
	ip netns add "$n" || exit 1
	ns "$n" ip link set lo up
done
# b1 is renamed per run: smt-fault pins by device name.
ip link add a0 netns "$NA" type veth peer name m0 netns "$NM"
ip link add b1x$$ netns "$NB" type veth peer name m1 netns "$NM"
B1=b1x$$
ns "$NA" ip addr add 10.91.0.1/24 dev a0
ns "$NA" ip addr add fd91::1/64 dev a0 nodad
ns "$NM" ip addr add 10.91.0.254/24 dev m0
ns "$NM" ip addr add fd91::fe/64 dev m0 nodad
ns "$NM" ip addr add 10.92.0.254/24 dev m1
ns "$NM" ip addr add fd92::fe/64 dev m1 nodad
ns "$NB" ip addr add 10.92.0.1/24 dev "$B1"
ns "$NB" ip addr add fd92::1/64 dev "$B1" nodad
for l in "$NA a0" "$NM m0" "$NM m1" "$NB $B1"; do
	# shellcheck disable=SC2086
	set -- $l
	ns "$1" ip link set "$2" up
done
ns "$NA" ip route add default via 10.91.0.254
ns "$NA" ip -6 route add default via fd91::fe
ns "$NB" ip route add default via 10.92.0.254
ns "$NB" ip -6 route add default via fd92::fe
ns "$NM" sysctl -qw net.ipv4.ip_forward=1
ns "$NM" sysctl -qw net.ipv6.conf.all.forwarding=1
# Traffic that must reach no host (the non-SMT check) ends silently at M.
ns "$NM" ip route add blackhole 10.93.0.0/24

check "smtctl mtp attach dev m0 udp-ports 2000-2100" \
	ns "$NM" "$SMTCTL" mtp attach dev m0 udp-ports 2000-2100
check "smtctl mtp attach dev m1 (B's side)" ns "$NM" "$SMTCTL" mtp attach dev m1
check "smtctl mtp udp-ports shows the ranges" \
	test "$(ns "$NM" "$SMTCTL" mtp udp-ports)" = 2000-2100

# send SRC DST FIRST_ID SIZES [DPORT]: SMT over UDP from A, lines to $out/sent
send() {
	ns "$NA" "$CRAFT" send "$1" "$2" 1000 "${5:-2000}" "$4" "$3" udp \
		>"$out/sent"
}
start_watch() {
	ns "$NM" "$SMTCTL" -j mtp watch count "$1" timeout "${2:-10}" \
		>"$out/events" &
	wpid=$!
	sleep 0.3
}
start_recv() {
	ns "$NB" "$CRAFT" recv "$1" udp >"$out/recv" &
	rpid=$!
	sleep 0.3
}
# every line of $out/sent has a matching forwarded event
all_reported() {
	ok=0 n=0
	while read -r _ id _ _ _ wire _ recs _ pk; do
		n=$((n + 1))
		grep "\"msg_id\": *$id," "$out/events" |
			grep "\"msg_len\": *$wire," | grep "\"packets\": *$pk," |
			grep "\"records\": *$recs," |
			grep -q '"verdict": *"forward"' && ok=$((ok + 1)) ||
			echo "     no event for msg $id (len $wire, $pk packets, $recs records)"
	done <"$out/sent"
	[ "$ok" -eq "$n" ] && [ "$n" -gt 0 ]
}

echo "-- 1. messages over UDP through the middlebox, IPv4 and IPv6"
SIZES=100,1000,5000,16000,16500,40000,70000,8
start_watch 8
send 10.91.0.1 10.92.0.1 2 $SIZES
wait $wpid
check "IPv4: exactly 8 message events" eq "$(grep -c '"event"' "$out/events")" 8
check "IPv4: sizes, packets (1432 bytes each) and records as sent" all_reported
start_watch 3
send fd91::1 fd92::1 100 300,20000,3000 2050
wait $wpid
check "IPv6: sizes, packets and records as sent" all_reported
check "IPv6: events name the IPv6 addresses" \
	grep -q '"src": *"fd91::1"' "$out/events"
n0=$(ns "$NM" "$SMTCTL" -j mtp stats | jnum non_smt)
start_watch 1 2
send 10.91.0.1 10.93.0.1 200 5000 3000
wait $wpid
check "UDP outside the ranges: no event" eq "$(grep -c '"event"' "$out/events")" 0
# At least: neighbour discovery may be counted meanwhile.
n1=$(ns "$NM" "$SMTCTL" -j mtp stats | jnum non_smt)
check "UDP outside the ranges: counted as non-SMT (4 packets)" \
	test "$n1" -ge $((n0 + 4))

echo "-- 2. oversize message over UDP dropped whole"
check "mtp config max 50000" ns "$NM" "$SMTCTL" mtp config max 50000
start_recv 3
start_watch 3
send 10.91.0.1 10.92.0.1 300 1000,70000,2000
wait $wpid
wait $rpid
big_pk=$(awk '$2 == 302 { print $10 }' "$out/sent")
check "the 70000-byte message: drop_size, all $big_pk packets dropped" \
	sh -c "grep '\"msg_id\": *302,' $out/events | grep '\"verdict\": *\"drop_size\"' | grep -q '\"drops\": *$big_pk,'"
check "B received none of its packets" sh -c "! grep -q '^msg 302 ' $out/recv"
check "B received the other two messages whole" \
	sh -c "[ \"\$(awk '\$2 == 300 || \$2 == 304 { s += \$6 } END { print s }' $out/recv)\" -eq \
	\"\$(awk '\$2 == 300 || \$2 == 304 { s += \$10 } END { print s }' $out/sent)\" ]"
ns "$NM" "$SMTCTL" mtp config >/dev/null

echo "-- 3. smt_xdp on B: session filter over UDP"
check "smtctl prog attach dev $B1 udp-ports 2000 tc off" \
	ns "$NB" "$SMTCTL" prog attach dev "$B1" udp-ports 2000 tc off
counter() {
	v=$(ns "$NB" "$SMTCTL" -j flow stats | jnum "$1")
	echo "${v:-0}"
}
send 10.91.0.1 10.92.0.1 400 100,5000
check "unknown UDP session dropped (5 packets)" eq "$(counter unknown_session)" 5
# (peer 10.91.0.1, peer port 1000, local port 2000), encap udp, sess_id 9
KEY="0a 5b 00 01 00 00 00 00 00 00 00 00 00 00 00 00 04 01 03 e8 07 d0 00 00"
VAL="09 00 00 00 $(printf '00 %.0s' $(seq 44))"
# shellcheck disable=SC2086
check "bpftool map update sessions (UDP key)" \
	bpftool map update pinned "$SMT_BPF_PIN_DIR/maps/sessions" key hex $KEY value hex $VAL
send 10.91.0.1 10.92.0.1 410 100,5000,20000
check "three messages over UDP completed" eq "$(counter msg_done)" 3
ns "$NA" "$CRAFT" send 10.91.0.1 10.92.0.1 1000 2000 100 420 >/dev/null
check "a native message on the same ports misses the UDP session" \
	eq "$(counter unknown_session)" 6
ns "$NB" "$SMTCTL" prog detach dev "$B1"

echo "-- 4. smt-fault drops SMT over UDP"
check "smt-fault attach --udp-ports 2000 --drop 100" \
	"$FAULT" -n "$NB" attach "$B1" --udp-ports 2000 --drop 100
start_recv 2
send 10.91.0.1 10.92.0.1 500 1000,5000
wait $rpid
check "B's socket saw none of the 5 packets" grep -q '^total 0$' "$out/recv"
check "the injector saw and dropped 5" \
	sh -c "$FAULT -n $NB -j stats $B1 | grep -q '\"seen\":5,.*\"dropped_random\":5,'"
check "smt-fault stats shows the ranges" \
	sh -c "$FAULT -n $NB -j stats $B1 | grep -q '\"udp_ports\":\"2000\"'"
check "smt-fault set --udp-ports none" \
	"$FAULT" -n "$NB" set "$B1" --udp-ports none
start_recv 2
send 10.91.0.1 10.92.0.1 510 1000,5000
wait $rpid
check "with no ranges every UDP packet passes (5)" grep -q '^total 5$' "$out/recv"
"$FAULT" -n "$NB" detach "$B1" >/dev/null

echo "-- 5. smt-echo --encap udp through the middlebox"
ECHO=$BUILD/bin/smt-echo
if [ -x "$ECHO" ] && "$ECHO" --help 2>&1 | grep -q -- '--encap'; then
	"$ECHO" keygen --client 10.91.0.1:2010 --server 10.92.0.1:2011 \
		>"$out/keylog"
	ns "$NB" timeout 30 "$ECHO" server --encap udp --keylog "$out/keylog" \
		>/dev/null 2>"$out/echo-server" &
	epid=$!
	sleep 0.5
	ns "$NM" "$SMTCTL" mtp watch timeout 1 >/dev/null # older events
	start_watch 8
	ns "$NA" timeout 30 "$ECHO" client --encap udp --keylog "$out/keylog" \
		--size 100,5000,30000,200 --count 4 --concurrency 1 \
		--rpc-timeouts 3 -j >"$out/echo" 2>"$out/echo-client"
	wait $wpid
	kill $epid 2>/dev/null
	[ -n "${NU_DEBUG:-}" ] && cat "$out/events" "$out/echo"
	check "smt-echo --encap udp: 4 RPCs ok through the box" \
		grep -q '"sent":4,"ok":4,"failed":0,"bad":0' "$out/echo"
	check "4 requests seen by the box (A->B)" \
		eq "$(grep -c '"src": *"10.91.0.1".*"verdict": *"forward"' "$out/events")" 4
	check "4 responses seen by the box (B->A)" \
		eq "$(grep -c '"src": *"10.92.0.1".*"verdict": *"forward"' "$out/events")" 4
	check "every message event names encap udp" \
		eq "$(grep -c '"encap": *"udp"' "$out/events")" 8
elif [ "${CI:-}" = true ]; then
	check "smt-echo present (CI=true)" false
else
	echo "SKIP ##### smt-echo not built: RPCs over UDP not run #####"
fi

if [ "$fail" -ne 0 ]; then
	echo "netns-udp.sh: $fail check(s) FAILED"
	exit 1
fi
echo "netns-udp.sh: all checks passed"

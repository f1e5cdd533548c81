#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# netns scenarios with real traffic (crafted by smt_craft over raw sockets):
#
#   A (sender) --- M (forwarding box, mtp_inspect on m0) ===m1/m2=== B
#
#   1. N messages of mixed sizes through M: mtp watch reports exactly N
#      messages with the sizes, packet and record counts the sender used.
#   2. max message size: the oversize message is dropped whole (B receives
#      none of its packets), the others pass; with smt-echo the client sees
#      that RPC fail (timeout), not come back corrupted, and the others ok.
#   3. per-flow message rate limit drops whole messages.
#   4. per-message path choice over two next hops (m1, m2): B's receiver
#      sees every message on exactly one interface, and both are used.
#   5. cpumap steering (C -> D, smt_xdp on D): one session's messages
#      land on both CPUs, per the per-CPU counters of the cpumap program.
#   6. XSK steering: an AF_XDP socket (copy mode) on D receives them all.
# Pins go under a private SMT_BPF_PIN_DIR; namespaces are removed on exit.
set -u
BUILD=${BUILD:-build}
CRAFT=$BUILD/tests/bpf/smt_craft
SMTCTL=$BUILD/bin/smtctl
PASSOBJ=$BUILD/tests/bpf/xdp_pass.bpf.o
XSKRX=$BUILD/tests/bpf/xsk_rx
p=bpfns$$
NA=${p}a NM=${p}m NB=${p}b NC=${p}c ND=${p}d
export SMT_BPF_PIN_DIR=/sys/fs/bpf/smt-test-ns$$
fail=0
out=$(mktemp -d)

cleanup() {
	for n in "$NA" "$NM" "$NB" "$NC" "$ND"; do
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$SMT_BPF_PIN_DIR" "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=tests/bpf/lib.sh
. "$(dirname "$0")/lib.sh"

for f in "$CRAFT" "$SMTCTL" "$PASSOBJ" "$XSKRX"; do
	[ -e "$f" ] || { echo "FAIL missing $f (run make)"; exit 1; }
done
[ "$(nproc)" -ge 2 ] || echo "note: one CPU online; the cpumap check needs two"
mount | grep -q " /sys/fs/bpf type bpf" || mount -t bpf bpf /sys/fs/bpf

for n in "$NA" "$NM" "$NB" "$NC" "$ND"; do
	ip netns add "$n" || exit 1
	ns "$n" ip link set lo up
done
ip link add a0 netns "$NA" type veth peer name m0 netns "$NM"
ip link add b1 netns "$NB" type veth peer name m1 netns "$NM"
ip link add b2 netns "$NB" type veth peer name m2 netns "$NM"
ns "$NA" ip addr add 10.81.0.1/24 dev a0
ns "$NM" ip addr add 10.81.0.254/24 dev m0
ns "$NM" ip addr add 10.82.0.254/24 dev m1
ns "$NM" ip addr add 10.83.0.254/24 dev m2
ns "$NB" ip addr add 10.82.0.1/24 dev b1
ns "$NB" ip addr add 10.83.0.1/24 dev b2
ns "$NB" ip addr add 10.89.0.1/32 dev lo
for l in "$NA a0" "$NM m0" "$NM m1" "$NM m2" "$NB b1" "$NB b2"; do
	# shellcheck disable=SC2086
	set -- $l
	ns "$1" ip link set "$2" up
done
ns "$NA" ip route add 10.89.0.0/24 via 10.81.0.254
ns "$NM" sysctl -qw net.ipv4.ip_forward=1
ns "$NM" ip route add 10.89.0.0/24 via 10.82.0.1 dev m1
ns "$NB" ip route add 10.81.0.0/24 via 10.82.0.254
for k in all.rp_filter default.rp_filter b1.rp_filter b2.rp_filter; do
	ns "$NB" sysctl -qw net.ipv4.conf.$k=0
done
# Frames redirected into a veth are received only if its peer runs XDP.
ns "$NB" ip link set dev b1 xdp obj "$PASSOBJ" sec xdp
ns "$NB" ip link set dev b2 xdp obj "$PASSOBJ" sec xdp
ns "$NM" "$SMTCTL" mtp attach dev m0 || { echo "FAIL mtp attach"; exit 1; }

# send FIRST_ID SIZES: A -> B's service address, lines "msg ID ..." to $out/sent
send() {
	ns "$NA" "$CRAFT" send 10.81.0.1 10.89.0.1 1000 2000 "$2" "$1" >"$out/sent"
}
# start_recv SECONDS: B's receiver in the background
start_recv() {
	ns "$NB" "$CRAFT" recv "$1" >"$out/recv" &
	rpid=$!
	sleep 0.3
}
# start_watch COUNT: mtp events (JSON lines) in the background
start_watch() {
	ns "$NM" "$SMTCTL" -j mtp watch count "$1" timeout 10 >"$out/events" &
	wpid=$!
	sleep 0.3
}

echo "-- 1. N messages through the middlebox"
SIZES=100,1000,5000,16000,16500,40000,70000,200,33000,8,1,100000
N=12
start_watch $N
send 2 $SIZES
wait $wpid
check "exactly $N message events" eq "$(grep -c '"event"' "$out/events")" $N
ok=0
while read -r _ id _ _ _ wire _ recs _ pk; do
	grep "\"msg_id\": *$id," "$out/events" | grep "\"msg_len\": *$wire," |
		grep "\"packets\": *$pk," | grep "\"records\": *$recs," |
		grep -q '"verdict": *"forward"' && ok=$((ok + 1)) ||
		echo "     no matching event for msg $id (len $wire, $pk packets, $recs records)"
done <"$out/sent"
check "every message reported with its size, packets and records" eq $ok $N
check "flow counters: $N messages done" \
	eq "$(ns "$NM" "$SMTCTL" -j mtp stats | jnum msgs_done)" $N

echo "-- 1b. both directions: mtp_inspect on m0 and on m1 (B's side)"
# A second attach loads the program again over the same pinned maps
# (this once failed with EINVAL on the pinned devmap).
check "smtctl mtp attach dev m1 (the second interface)" \
	ns "$NM" "$SMTCTL" mtp attach dev m1
check "prog show: mtp_inspect on m0 and m1" sh -c \
	"[ \$(nsenter --net=/var/run/netns/$NM $SMTCTL prog show |
	      grep -c '^m[01] .*mtp_inspect') -eq 2 ]"
# B answers from its service address (smt-echo below).
ns "$NB" ip route replace 10.81.0.0/24 via 10.82.0.254 src 10.89.0.1
start_watch 5
send 40 300,3000,20000
ns "$NB" "$CRAFT" send 10.89.0.1 10.81.0.1 2000 1000 500,50000 60 \
	>>"$out/sent"
wait $wpid
dir_ok() { # SRC ID LEN: an event of that direction, msg_id and size
	grep "\"src\": *\"$1\"" "$out/events" | grep "\"msg_id\": *$2," |
		grep -q "\"msg_len\": *$3,"
}
ok=0
while read -r _ id _ _ _ wire _; do
	if [ "$id" -lt 60 ]; then src=10.81.0.1; else src=10.89.0.1; fi
	dir_ok $src "$id" "$wire" && ok=$((ok + 1)) ||
		echo "     no event from $src for msg $id (len $wire)"
done <"$out/sent"
check "crafted: 3 messages A->B seen on m0, 2 B->A seen on m1" eq $ok 5
if [ -x "$BUILD/bin/smt-echo" ]; then
	ECHO=$BUILD/bin/smt-echo
	"$ECHO" keygen --client 10.81.0.1:1003 --server 10.89.0.1:2003 \
		>"$out/keylog1b"
	ns "$NB" timeout 30 "$ECHO" server --keylog "$out/keylog1b" \
		>/dev/null 2>&1 &
	epid=$!
	sleep 0.5
	start_watch 12
	ns "$NA" timeout 30 "$ECHO" client --keylog "$out/keylog1b" \
		--size 100,5000,30000 --count 6 --concurrency 1 \
		--rpc-timeouts 3 -j >"$out/echo" 2>/dev/null
	wait $wpid
	kill $epid 2>/dev/null
	check "smt-echo: 6 RPCs ok through the box" \
		grep -q '"sent":6,"ok":6,"failed":0,"bad":0' "$out/echo"
	lens() { # SRC: the msg_len of that direction's events, sorted
		grep "\"src\": *\"$1\"" "$out/events" |
			grep -o '"msg_len": *[0-9]*' | grep -o '[0-9]*$' | sort -n |
			tr '\n' ' '
	}
	req=$(lens 10.81.0.1)
	rsp=$(lens 10.89.0.1)
	echo "     request sizes: $req; response sizes: $rsp"
	check "6 requests seen (A->B, m0)" eq "$(echo "$req" | wc -w)" 6
	check "6 responses seen (B->A, m1)" eq "$(echo "$rsp" | wc -w)" 6
	check "responses as long as the requests (an echo)" \
		test "$req" = "$rsp"
elif [ "${CI:-}" = true ]; then
	check "smt-echo present (CI=true)" false
else
	echo "SKIP ##### smt-echo not built: RPCs in both directions not run #####"
fi
check "smtctl mtp detach dev m1" ns "$NM" "$SMTCTL" mtp detach dev m1
check "m0 keeps its mtp_inspect" sh -c \
	"nsenter --net=/var/run/netns/$NM $SMTCTL prog show |
	 grep -q '^m0 .*mtp_inspect'"

echo "-- 2. oversize message dropped whole"
check "mtp config max 50000" ns "$NM" "$SMTCTL" mtp config max 50000
start_recv 3
start_watch 3
send 100 1000,70000,2000
wait $wpid
wait $rpid
big_pk=$(awk '$2 == 102 { print $10 }' "$out/sent")
check "the 70000-byte message: verdict drop_size, all $big_pk packets dropped" \
	sh -c "grep '\"msg_id\": *102,' $out/events | grep '\"verdict\": *\"drop_size\"' | grep -q '\"drops\": *$big_pk,'"
check "B received none of its packets" sh -c "! grep -q '^msg 102 ' $out/recv"
check "B received the other two messages whole" \
	sh -c "[ \"\$(awk '\$2 == 100 || \$2 == 104 { s += \$6 } END { print s }' $out/recv)\" -eq \
	\"\$(awk '\$2 == 100 || \$2 == 104 { s += \$10 } END { print s }' $out/sent)\" ]"
check "mtp_drops mb_oversize = $big_pk" \
	eq "$(ns "$NM" "$SMTCTL" -j mtp stats | jnum mb_oversize)" "$big_pk"

echo "-- 2b. the sender of the oversize message sees a failed RPC (smt-echo)"
ECHO=$BUILD/bin/smt-echo
if [ -x "$ECHO" ]; then
	# B answers from its service address; flow 1001 -> 2001 is new to M.
	ns "$NB" ip route replace 10.81.0.0/24 via 10.82.0.254 src 10.89.0.1
	"$ECHO" keygen --client 10.81.0.1:1001 --server 10.89.0.1:2001 >"$out/keylog"
	ns "$NB" timeout 30 "$ECHO" server --keylog "$out/keylog" >/dev/null 2>&1 &
	epid=$!
	sleep 0.5
	ns "$NA" timeout 30 "$ECHO" client --keylog "$out/keylog" \
		--size 1000,70000,2000 --count 3 --concurrency 1 \
		--rpc-timeouts 3 -j >"$out/echo" 2>/dev/null
	kill $epid 2>/dev/null
	check "RPCs of 1000 and 2000 bytes ok, the 70000-byte one failed, none corrupted" \
		grep -q '"sent":3,"ok":2,"failed":1,"bad":0' "$out/echo"
elif [ "${CI:-}" = true ]; then
	check "smt-echo present (CI=true)" false
else
	echo "SKIP ##### smt-echo not built: failed-RPC check not run #####"
fi

echo "-- 3. per-flow message rate limit"
check "mtp config rate 1 burst 2" ns "$NM" "$SMTCTL" mtp config rate 1 burst 2
ns "$NM" "$SMTCTL" mtp watch timeout 1 >/dev/null # drain older events
start_watch 5
send 300 3000,3000,3000,3000,3000
wait $wpid
check "2 messages forwarded, 3 dropped whole" \
	sh -c "[ \$(grep -c '\"verdict\": *\"forward\"' $out/events) -eq 2 ] &&
	       [ \$(grep -c '\"verdict\": *\"drop_rate\".*\"drops\": *3,' $out/events) -eq 3 ]"

echo "-- 4. per-message path choice over two next hops"
# ip, not /sys/class/net: nsenter keeps the host's sysfs.
mac() { ns "$NB" ip -o link show dev "$1" | grep -o 'link/ether [^ ]*' | cut -d' ' -f2; }
ifx() { ns "$NB" ip -o link show dev "$1" | cut -d: -f1; }
mac1=$(mac b1)
mac2=$(mac b2)
check "mtp config nexthop m1 nexthop m2" \
	ns "$NM" "$SMTCTL" mtp config nexthop m1 "$mac1" nexthop m2 "$mac2"
ix1=$(ifx b1)
ix2=$(ifx b2)
start_recv 4
send 400 5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000,5000
wait $rpid
check "20 messages received, each on exactly one interface" \
	sh -c "[ \$(grep -c '^msg ' $out/recv) -eq 20 ] &&
	       [ \$(awk '/^msg / { print \$2 }' $out/recv | sort -u | wc -l) -eq 20 ]"
check "every message arrived whole (4 packets)" \
	sh -c "! awk '/^msg / && \$6 != 4' $out/recv | grep -q ."
check "both paths used (ifindex $ix1 and $ix2)" \
	sh -c "grep -q 'ifindex $ix1 ' $out/recv && grep -q 'ifindex $ix2 ' $out/recv"
# The last 4 "msgs" are the next-hop table (SMT_MTP_MAX_NH entries).
check "next-hop counters add up to 20 messages" \
	eq "$(ns "$NM" "$SMTCTL" -j mtp stats | jnum msgs | tail -4 | awk "{ s += \$1 } END { print s }")" 20
ns "$NM" "$SMTCTL" mtp detach dev m0

echo "-- 5. cpumap steering spreads one session's messages over both CPUs"
ip link add c0 netns "$NC" type veth peer name d0 netns "$ND"
ns "$NC" ip addr add 10.85.0.1/24 dev c0
ns "$ND" ip addr add 10.85.0.2/24 dev d0
ns "$NC" ip link set c0 up
ns "$ND" ip link set d0 up
check "smtctl prog attach steer cpumap cpus 2 filter off" \
	ns "$ND" "$SMTCTL" prog attach dev d0 steer cpumap cpus 2 filter off tc off
ns "$NC" "$CRAFT" send 10.85.0.1 10.85.0.2 1000 2000 \
	"$(printf '3000,%.0s' $(seq 39))3000" 2 >/dev/null
sleep 0.5
ns "$ND" "$SMTCTL" -j flow stats percpu >"$out/percpu"
cm=$(grep -o '"cpumap_msgs": *\[[0-9, ]*\]' "$out/percpu" | grep -o '\[.*\]' | tr -d '[] ')
echo "     cpumap_msgs per CPU: $cm"
c0=$(echo "$cm" | cut -d, -f1)
c1=$(echo "$cm" | cut -d, -f2)
check "40 messages started on the cpumap CPUs" eq $((${c0:-0} + ${c1:-0})) 40
check "both CPUs got messages" sh -c "[ ${c0:-0} -gt 0 ] && [ ${c1:-0} -gt 0 ]"
check "40 messages completed" \
	eq "$(ns "$ND" "$SMTCTL" -j flow stats | jnum msg_done)" 40
ns "$ND" "$SMTCTL" prog detach dev d0

echo "-- 6. XSK steering: an AF_XDP socket receives the SMT packets"
check "smtctl prog attach steer xsk filter off" \
	ns "$ND" "$SMTCTL" prog attach dev d0 steer xsk filter off tc off
ns "$ND" "$XSKRX" d0 3 >"$out/xsk" 2>&1 &
xpid=$!
sleep 0.5
ns "$NC" "$CRAFT" send 10.85.0.1 10.85.0.2 1000 2000 100,5000,20000 200 >"$out/sent"
wait $xpid
want=$(awk '{ s += $10 } END { print s }' "$out/sent")
got=$(grep -o 'smt_data [0-9]*' "$out/xsk" | cut -d' ' -f2)
check "AF_XDP socket got all $want DATA packets" eq "${got:-0}" "$want"
check "redirect_xsk counted them" \
	eq "$(ns "$ND" "$SMTCTL" -j flow stats | jnum redirect_xsk)" "$want"
ns "$ND" "$SMTCTL" prog detach dev d0

if [ "$fail" -ne 0 ]; then
	echo "netns.sh: $fail check(s) FAILED"
	exit 1
fi
echo "netns.sh: all checks passed"

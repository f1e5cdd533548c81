#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Loading the SMT BPF objects three ways, each checked with real traffic over
# a veth pair between two network namespaces:
#   1. bpftool, through scripts/smt-bpf.sh (loadall + pinmaps, net attach,
#      pinned-map reuse across a reload, tc from a pinned program);
#   2. iproute2 (`ip link set dev X xdp obj ... sec xdp`, `tc filter add dev X
#      egress bpf da obj ...`), whose maps are unpinned: smtctl finds them
#      by name;
#   3. the skeleton library through `smtctl prog attach|show|detach`,
#      including the generic-mode fallback on a device without native XDP.
# SMT over UDP: the `udp_ports` map filled by smt-bpf.sh (bpftool) and by
# smtctl, a UDP session added by bpftool, crafted UDP traffic counted.
# Pins go under a private SMT_BPF_PIN_DIR; namespaces are removed on exit.
set -u
BUILD=${BUILD:-build}
OBJ=$BUILD/bpf
CRAFT=$BUILD/tests/bpf/smt_craft
SMTCTL=$BUILD/bin/smtctl
SCRIPT=scripts/smt-bpf.sh
NA=bpfld$$a
NB=bpfld$$b
export SMT_BPF_PIN_DIR=/sys/fs/bpf/smt-test-ld$$
fail=0
out=$(mktemp -d)

cleanup() {
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	rm -rf "$SMT_BPF_PIN_DIR" "$out"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

a() { nsenter --net=/var/run/netns/"$NA" "$@"; }
b() { nsenter --net=/var/run/netns/"$NB" "$@"; }
# shellcheck source=tests/bpf/lib.sh
. "$(dirname "$0")/lib.sh"
# Value of a counter by name from `smtctl -j flow stats` in B (0 if absent).
counter() {
	v=$(b "$SMTCTL" -j flow stats 2>/dev/null | grep -o "\"$1\": *[0-9]*" |
		grep -o '[0-9]*$')
	echo "${v:-0}"
}
eq() { [ "$1" -eq "$2" ] || { echo "     got $1, want $2"; return 1; }; }
ge() { [ "$1" -ge "$2" ] || { echo "     got $1, want >= $2"; return 1; }; }
send() { a "$CRAFT" send 10.77.0.1 10.77.0.2 "$@" >/dev/null; }

for f in "$CRAFT" "$SMTCTL" "$OBJ/smt_xdp.bpf.o" "$OBJ/smt_tc.bpf.o"; do
	[ -x "$f" ] || [ -r "$f" ] || { echo "FAIL missing $f (run make)"; exit 1; }
done
mount | grep -q " /sys/fs/bpf type bpf" || mount -t bpf bpf /sys/fs/bpf

ip netns add "$NA" && ip netns add "$NB" || exit 1
ip link add va netns "$NA" type veth peer name vb netns "$NB"
a ip addr add 10.77.0.1/24 dev va
b ip addr add 10.77.0.2/24 dev vb
a ip link set va up
b ip link set vb up
a ip link set lo up
b ip link set lo up

# Key of session (peer 10.77.0.1, peer port 1000, local port 2000), value
# with sess_id 7 (struct smt_session_key / smt_session_val, maps.h).
SKEY="0a 4d 00 01 00 00 00 00 00 00 00 00 00 00 00 00 04 00 03 e8 07 d0 00 00"
SVAL="07 00 00 00 $(printf '00 %.0s' $(seq 44))"
# The same session over UDP (encap byte 17 = SMT_KEY_ENCAP_UDP), sess_id 8.
SKEY_UDP="0a 4d 00 01 00 00 00 00 00 00 00 00 00 00 00 00 04 01 03 e8 07 d0 00 00"
SVAL_UDP="08 00 00 00 $(printf '00 %.0s' $(seq 44))"

echo "-- 1. bpftool via scripts/smt-bpf.sh"
check "smt-bpf.sh load smt_xdp" $SCRIPT load "$OBJ/smt_xdp.bpf.o"
check "smt-bpf.sh attach native on veth" b $SCRIPT attach smt_xdp vb native
check "ip link shows the XDP program" \
	sh -c "nsenter --net=/var/run/netns/$NB ip link show vb | grep -q 'prog/xdp.*smt_xdp'"
send 1000 2000 100,5000
check "unknown session dropped (5 packets)" eq "$(counter unknown_session)" 5
# shellcheck disable=SC2086
check "bpftool map update sessions" \
	bpftool map update pinned "$SMT_BPF_PIN_DIR/maps/sessions" key hex $SKEY value hex $SVAL
b "$SMTCTL" -j flow watch count 1 timeout 5 >"$out/watch" &
wpid=$!
sleep 0.5
send 1000 2000 100,5000 2
wait $wpid
check "two messages completed" eq "$(counter msg_done)" 2
check "flow watch -j printed a completion event" \
	grep -q '"event": *"complete".*"session": *7' "$out/watch"
check "flow list shows the session" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL -j flow list | grep -q '\"peer\": *\"10.77.0.1\"'"
check "smt-bpf.sh unload" $SCRIPT unload smt_xdp
check "smt-bpf.sh reload reuses pinned maps" \
	sh -c "$SCRIPT load $OBJ/smt_xdp.bpf.o | grep -q 'reuses pinned maps'"
check "reattach" b $SCRIPT attach smt_xdp vb
check "counters survived the reload" eq "$(counter msg_done)" 2
send 1000 2000 300 6
check "session still known after reload" eq "$(counter msg_done)" 3
check "smt-bpf.sh udp-ports 40000-40100,2000" \
	$SCRIPT udp-ports 40000-40100,2000
check "smtctl prog udp-ports reads them back" \
	test "$("$SMTCTL" prog udp-ports)" = 40000-40100,2000
u0=$(counter unknown_session)
send 1000 2000 100,5000 70 udp
check "SMT over UDP misses the native session (1 + 4 packets dropped)" \
	eq "$(counter unknown_session)" $((u0 + 5))
# shellcheck disable=SC2086
check "bpftool map update sessions (UDP session)" \
	bpftool map update pinned "$SMT_BPF_PIN_DIR/maps/sessions" key hex $SKEY_UDP value hex $SVAL_UDP
send 1000 2000 100,5000 72 udp
check "two messages over UDP completed" eq "$(counter msg_done)" 5
check "flow list shows the UDP session" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL -j flow list | grep -q '\"encap\": *\"udp\", *\"peer\": *\"10.77.0.1\"'"
n0=$(counter non_smt)
check "smt-bpf.sh udp-ports none" $SCRIPT udp-ports none
send 1000 2000 100 74 udp
check "no ranges: SMT over UDP not parsed" eq "$(counter msg_done)" 5
check "no ranges: SMT over UDP counted as non-SMT" ge "$(counter non_smt)" $((n0 + 1))
check "smt-bpf.sh detach" b $SCRIPT detach vb
check "no XDP left on vb" \
	sh -c "! nsenter --net=/var/run/netns/$NB ip link show vb | grep -q prog/xdp"
check "smt-bpf.sh load smt_tc" $SCRIPT load "$OBJ/smt_tc.bpf.o"
check "smt-bpf.sh attach-tc" a $SCRIPT attach-tc va
b timeout 5 tcpdump -l -n -v -c 1 -i vb ip proto 253 >"$out/tcpdump" 2>/dev/null &
tpid=$!
sleep 1
send 1000 2000 100 20
wait $tpid
check "egress DSCP EF (tos 0xb8) on a small message" grep -q "tos 0xb8" "$out/tcpdump"
a $SCRIPT detach va >/dev/null
$SCRIPT purge >/dev/null

echo "-- 2. iproute2"
check "ip link set xdp obj sec xdp" \
	b ip link set dev vb xdp obj "$OBJ/smt_xdp.bpf.o" sec xdp
send 1000 2000 100,100
check "drops counted in the ip-loaded program's map (found by name)" \
	eq "$(counter unknown_session)" 2
b ip link set dev vb xdp off
a tc qdisc add dev va clsact 2>/dev/null # smt-bpf.sh may have left it
check "tc filter add egress bpf da obj (no sec)" \
	a tc filter add dev va egress bpf da obj "$OBJ/smt_tc.bpf.o"
check "tc filter show lists smt_tc" \
	sh -c "nsenter --net=/var/run/netns/$NA tc filter show dev va egress | grep -q 'name smt_tc'"
send 1000 2000 100,20000 30
check "egress accounting (tx session, 2 messages)" \
	sh -c "nsenter --net=/var/run/netns/$NA $SMTCTL -j flow list | grep -q '\"dir\": *\"tx\".*\"msgs_started\": *2'"
a tc qdisc del dev va clsact

echo "-- 3. skeleton via smtctl"
check "smtctl prog attach dev vb" b "$SMTCTL" prog attach dev vb
check "prog show: smt_xdp native + smt_tc egress" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL -j prog show | grep -q 'xdpdrv.*smt_xdp' &&
	       nsenter --net=/var/run/netns/$NB $SMTCTL -j prog show | grep -q 'tc-egress.*smt_tc'"
check "programs pinned" test -e "$SMT_BPF_PIN_DIR/smt_xdp/smt_xdp"
send 1000 2000 100
check "filter on by default: unknown session dropped" eq "$(counter unknown_session)" 1
# shellcheck disable=SC2086
bpftool map update pinned "$SMT_BPF_PIN_DIR/maps/sessions" key hex $SKEY value hex $SVAL
send 1000 2000 100 40
check "session added by map update: message completed" eq "$(counter msg_done)" 1
# count 2: the completion of msg 40 above is still in the ring buffer.
b "$SMTCTL" -j flow watch count 2 timeout 5 evict 300 >"$out/evict" &
wpid=$!
sleep 0.3
send 1000 2000 5000:2 50
wait $wpid
check "incomplete message swept and reported as evicted (2 packets)" \
	grep -q '"event": *"evicted".*"msg_id": *50,.*"packets": *2,' "$out/evict"
check "smtctl prog detach" b "$SMTCTL" prog detach dev vb
check "prog show empty after detach" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL prog show | grep -q 'no SMT programs'"
# map_ids: the ids of the pinned maps, in name order
map_ids() {
	for f in "$SMT_BPF_PIN_DIR"/maps/*; do
		bpftool -j map show pinned "$f" | grep -o '"id":[0-9]*'
	done | tr '\n' ' '
}
ids=$(map_ids)
check "reattach reuses pinned maps (counter kept)" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL prog attach dev vb tc off && [ \$(nsenter --net=/var/run/netns/$NB $SMTCTL -j flow stats | grep -o '\"msg_done\": *[0-9]*' | grep -o '[0-9]*\$') -eq 1 ]"
same_ids() { [ -n "$ids" ] && [ "$ids" = "$(map_ids)" ]; }
check "reattach reuses every pinned map (same ids)" same_ids
b "$SMTCTL" prog detach dev vb
# A pin left by a build with another value layout is replaced, not fatal.
rm "$SMT_BPF_PIN_DIR/maps/messages"
bpftool map create "$SMT_BPF_PIN_DIR/maps/messages" type lru_hash key 40 \
	value 48 entries 16 name messages
check "a pinned map of an older layout is replaced on attach" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL prog attach dev vb tc off &&
	       bpftool -j map show pinned $SMT_BPF_PIN_DIR/maps/messages |
	       grep -q '\"bytes_value\":80,'"
b "$SMTCTL" prog detach dev vb
check "smtctl prog attach udp-ports writes udp_ports (sorted, merged)" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL prog attach dev vb tc off udp-ports 7000-7999,2000,8000 &&
	       [ \"\$($SMTCTL prog udp-ports)\" = 2000,7000-8000 ]"
b "$SMTCTL" prog detach dev vb
# Loopback has no native XDP (and this kernel has no dummy module).
b "$SMTCTL" prog attach dev lo tc off 2>"$out/note"
check "no native XDP on lo: generic fallback, and it says so" \
	grep -q "generic (skb) mode" "$out/note"
check "prog show: xdpgeneric on lo" \
	sh -c "nsenter --net=/var/run/netns/$NB $SMTCTL -j prog show | grep -q '\"lo\".*xdpgeneric'"
b "$SMTCTL" prog detach dev lo

if [ "$fail" -ne 0 ]; then
	echo "load.sh: $fail check(s) FAILED"
	exit 1
fi
echo "load.sh: all checks passed"

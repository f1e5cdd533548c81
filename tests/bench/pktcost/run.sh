#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Runner of the pktcost benchmark (make bench-pktcost). Creates two network
# namespaces joined by a veth pair with static neighbour entries, then, for
# each case SENDER:RECEIVER and payload size, runs the receiver pinned to
# one CPU and the sender pinned to another, PKTCOST_REPS times, and the
# raw and AF_XDP ping-pongs interleaved; summarize.py prints the medians
# and writes them to --out. The namespaces go away on every exit.
# Needs root; without it this is a loud SKIP, or a failure when CI=true.
#
# Usage: run.sh --bin PKTCOST --out FILE.md
# Environment (defaults): PKTCOST_CASES ("raw:raw xsk:xsk raw:xsk xsk:raw
# pkt:raw udp:udp udp-gso:udp-gso"), PKTCOST_SIZES ("64 1440"), PKTCOST_REPS (3), PKTCOST_SECS (2),
# PKTCOST_WARM (0.5), PKTCOST_PINGS (10000, 0 for none).
set -u

bin='' out=''
while [ $# -gt 0 ]; do
	case $1 in
	--bin) bin=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: $0 --bin PKTCOST --out FILE.md" >&2; exit 2 ;;
	esac
done
if [ -z "$bin" ] || [ -z "$out" ]; then
	echo "usage: $0 --bin PKTCOST --out FILE.md" >&2
	exit 2
fi
here=$(dirname "$0")

if [ "$(id -u)" != 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "bench-pktcost: FAIL: needs root (netns, raw sockets, XDP) and CI=true" >&2
		exit 1
	fi
	echo "#############################################################"
	echo "### SKIP bench-pktcost: needs root; nothing was measured. ###"
	echo "#############################################################"
	exit 0
fi
if [ ! -x "$bin" ]; then
	echo "bench-pktcost: $bin is missing; build it with make pktcost" >&2
	exit 1
fi

CASES=${PKTCOST_CASES:-raw:raw xsk:xsk raw:xsk xsk:raw pkt:raw udp:udp udp-gso:udp-gso}
SIZES=${PKTCOST_SIZES:-64 1440}
REPS=${PKTCOST_REPS:-3}
SECS=${PKTCOST_SECS:-2}
WARM=${PKTCOST_WARM:-0.5}
PINGS=${PKTCOST_PINGS:-10000}

# Sender and receiver on different CPUs when there are two.
CPU_TX=0
CPU_RX=$(($(nproc) > 1 ? 1 : 0))

NA=pktcost-a-$$ NB=pktcost-b-$$
VA=pcta$$ VB=pctb$$
IPA=192.0.2.1 IPB=192.0.2.2
work=$(mktemp -d /tmp/pktcost.XXXXXX)
bgpid=

cleanup() {
	[ -n "$bgpid" ] && kill "$bgpid" 2>/dev/null && wait "$bgpid" 2>/dev/null
	ip netns del "$NA" 2>/dev/null
	ip netns del "$NB" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if ! { ip netns add "$NA" && ip netns add "$NB" &&
	ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB" &&
	ip -n "$NA" addr add "$IPA/24" dev "$VA" &&
	ip -n "$NB" addr add "$IPB/24" dev "$VB" &&
	ip -n "$NA" link set "$VA" up && ip -n "$NB" link set "$VB" up &&
	ip -n "$NA" link set lo up && ip -n "$NB" link set lo up; }; then
	echo "bench-pktcost: could not set up namespaces $NA, $NB and veth $VA/$VB" >&2
	exit 1
fi
MACB=$(ip -n "$NB" -br link show "$VB" | awk '{print $3}')
MACA=$(ip -n "$NA" -br link show "$VA" | awk '{print $3}')
ip -n "$NA" neigh replace "$IPB" lladdr "$MACB" dev "$VA" nud permanent
ip -n "$NB" neigh replace "$IPA" lladdr "$MACA" dev "$VB" nud permanent

in_a() { ip netns exec "$NA" taskset -c "$CPU_TX" "$bin" "$@"; }
# Run in the background only: exec keeps $! the pid of pktcost itself.
in_b() { exec ip netns exec "$NB" taskset -c "$CPU_RX" "$bin" "$@"; }

# Waits until the background role writing $1 says it is ready.
wait_ready() {
	i=0
	while [ $i -lt 150 ]; do
		grep -q '^ready' "$1" 2>/dev/null && return 0
		kill -0 "$bgpid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# A run failed: says which, shows its output, stops its background role.
failed() {
	echo "bench-pktcost: FAILED $1:" >&2
	cat "$2" "$3" 2>/dev/null | grep -v '^ready' >&2
	kill "$bgpid" 2>/dev/null
	wait "$bgpid" 2>/dev/null
	fails=$((fails + 1))
}

log=$work/log
fails=0
echo "bench-pktcost: $CASES; sizes $SIZES; $REPS x ${SECS}s (+${WARM}s warm-up); CPUs tx $CPU_TX rx $CPU_RX"
for c in $CASES; do
	tx=${c%:*} rx=${c#*:}
	for size in $SIZES; do
		r=1
		while [ "$r" -le "$REPS" ]; do
			f=$work/$tx-$rx-$size-$r
			in_b rx --mode "$rx" --dev "$VB" --warm "$WARM" \
				--secs "$SECS" >"$f.rx" 2>&1 &
			bgpid=$!
			if wait_ready "$f.rx" &&
				in_a tx --mode "$tx" --dev "$VA" --src "$IPA" \
					--dst "$IPB" --dst-mac "$MACB" \
					--size "$size" --warm "$WARM" \
					--secs "$SECS" >"$f.tx" 2>&1 &&
				wait "$bgpid"; then
				echo "case=$c size=$size rep=$r" >>"$log"
				grep -h '^tx \|^rx ' "$f.tx" "$f.rx" >>"$log"
			else
				failed "$c size $size run $r" "$f.tx" "$f.rx"
			fi
			bgpid=
			printf '.'
			r=$((r + 1))
		done
	done
done
echo

r=1
while [ "$PINGS" -gt 0 ] && [ "$r" -le "$REPS" ]; do
	for m in raw xsk; do
		f=$work/pong-$m-$r
		in_b pong --mode "$m" --dev "$VB" >"$f" 2>&1 &
		bgpid=$!
		if wait_ready "$f" &&
			in_a ping --mode "$m" --dev "$VA" --src "$IPA" \
				--dst "$IPB" --dst-mac "$MACB" \
				--count "$PINGS" >"$f.ping" 2>&1; then
			kill -TERM "$bgpid"
			wait "$bgpid"
			grep -h '^ping \|^pong ' "$f.ping" "$f" >>"$log"
		else
			failed "ping-pong $m run $r" "$f.ping" "$f"
		fi
		bgpid=
	done
	r=$((r + 1))
done

mkdir -p "$(dirname "$out")"
cp "$log" "${out%.md}.log"
python3 "$here/summarize.py" --reps "$REPS" --secs "$SECS" \
	--cpus "tx $CPU_TX, rx $CPU_RX" "$log" >"$out" || fails=$((fails + 1))
cat "$out"
echo "bench-pktcost: wrote $out (raw lines: ${out%.md}.log)"
if [ "$fails" -gt 0 ]; then
	echo "bench-pktcost: FAILED: $fails run(s) failed (see above)" >&2
	exit 1
fi

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The smt demo (`make demo`): a client host, a middlebox and a server host
# in network namespaces (scripts/netns.sh). smtd runs on both hosts with
# test certificates (scripts/mkcerts.sh); the server's smtd attaches the
# host BPF programs and fills their session filter; the middlebox runs
# mtp_inspect, which sees message boundaries without keys. smt-echo then
# runs RPCs over a session that the two smtds set up with TLS 1.3, and the
# demo prints what smtctl shows on each box and the RPC latency summary.
# Everything is torn down at the end, also on failure or Ctrl-C.
# Usage: BUILD=dir scripts/demo.sh [RPC count]   (root; run `make` first)
set -u

BUILD=${BUILD:-build}
COUNT=${1:-3000}
SD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/smt-demo.XXXXXX")
chmod 755 "$SD_TMP"
P=demo$$
P=${P:0:12}
. tests/smtd/lib.sh

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (network namespaces, raw sockets, BPF)" >&2
	exit 1
fi
for b in smtd smtctl smt-echo; do
	if [ ! -x "$SD_BIN/$b" ]; then
		echo "demo: $SD_BIN/$b is missing; run make BUILD=$BUILD first" >&2
		exit 1
	fi
done

ECHO_PID=""
cleanup() {
	[ -n "$ECHO_PID" ] && kill "$ECHO_PID" 2>/dev/null
	sd_cleanup
	if [ -n "${MB_ATTACHED:-}" ]; then
		for dev in $SMT_DEV_MB_CLIENT $SMT_DEV_MB_SERVER; do
			SMT_BPF_PIN_DIR=/sys/fs/bpf/$P-mb nsenter \
				--net="/var/run/netns/$SMT_NS_MB" \
				"$SD_BIN/smtctl" prog detach dev "$dev" \
				>/dev/null 2>&1
		done
	fi
	rm -rf "/sys/fs/bpf/$P-srv" "/sys/fs/bpf/$P-mb"
	netns_down --prefix "$P"
	rm -rf "$SD_TMP"
	echo "== torn down: namespaces $P-*, smtd processes, BPF pins"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "topology: $P-client -- $P-mb (middlebox, forwarding) -- $P-server"
netns_up --prefix "$P" --middlebox >/dev/null || exit 1
sleep 0.3
echo "client $SMT_CLIENT_IP4   server $SMT_SERVER_IP4   middlebox $SMT_NS_MB"

step "certificates: test CA, host certificates naming echo.smt and kv.smt"
sd_certs "$SD_TMP/certs" || exit 1
ls "$SD_TMP/certs"/*.crt | xargs -n1 basename | tr '\n' ' '
echo

BPF=0
if [ -r "$BUILD/bpf/smt_xdp.bpf.o" ] && "$SD_BIN/smtctl" help 2>/dev/null |
	grep -q "prog"; then
	BPF=1
fi

step "smtd on the server host and on the client host"
if [ $BPF = 1 ]; then
	sd_conf server host "[bpf]
interface = $SMT_DEV_SERVER
xdp_mode = auto
session_filter = yes"
else
	sd_conf server host
fi
sd_conf client host2
sd_start server "$SMT_NS_SERVER" SMT_BPF_PIN_DIR="/sys/fs/bpf/$P-srv" || exit 1
sd_start client "$SMT_NS_CLIENT" || exit 1
grep -h "ready:\|BPF:" "$SD_TMP/server.log" "$SD_TMP/client.log" | sed 's/^/  /'

if [ $BPF = 1 ]; then
	# one interface: the client-to-server direction (requests); the
	# responses could be watched on the other one the same way
	step "middlebox: mtp_inspect on $SMT_DEV_MB_CLIENT (it holds no keys)"
	for dev in $SMT_DEV_MB_CLIENT; do
		if SMT_BPF_PIN_DIR=/sys/fs/bpf/$P-mb nsenter \
			--net="/var/run/netns/$SMT_NS_MB" "$SD_BIN/smtctl" \
			mtp attach dev "$dev"; then
			MB_ATTACHED=1
		else
			echo "  (mtp_inspect not attached to $dev)"
		fi
	done
fi

step "smt-echo server registers for echo.smt with the server's smtd"
SMT_CTL_SOCKET=$SD_TMP/server.sock ip netns exec "$SMT_NS_SERVER" \
	"$SD_BIN/smt-echo" server --service echo.smt --port 7000 \
	>"$SD_TMP/echo-server.out" 2>&1 &
ECHO_PID=$!
sleep 0.5
cat "$SD_TMP/echo-server.out" | sed 's/^/  /'

step "smt-echo client: $COUNT RPCs (64 B, 4 KiB, 64 KiB) over an smtd session"
SMT_CTL_SOCKET=$SD_TMP/client.sock ip netns exec "$SMT_NS_CLIENT" \
	"$SD_BIN/smt-echo" client --service echo.smt \
	--connect "$SMT_SERVER_IP4" --port 9000 -n "$COUNT" \
	-s 64,4K,64K -c 4 --rpc-timeouts 500 &
CLIENT=$!
sleep 0.3

step "smtctl session list (client host; the RPCs are running)"
sd_ctl client session list
step "smtctl session list (server host)"
sd_ctl server session list
step "smtctl peer list (server host)"
sd_ctl server peer list
wait $CLIENT
RC=$?

step "smtctl stats (server host: smtd, the applications, BPF drops by reason)"
SMT_BPF_PIN_DIR=/sys/fs/bpf/$P-srv sd_ctl server stats
if [ -n "${MB_ATTACHED:-}" ]; then
	step "smtctl mtp stats (middlebox: messages seen without keys)"
	SMT_BPF_PIN_DIR=/sys/fs/bpf/$P-mb nsenter \
		--net="/var/run/netns/$SMT_NS_MB" "$SD_BIN/smtctl" mtp stats
fi
step "smtctl service list (server host)"
sd_ctl server service list
exit $RC

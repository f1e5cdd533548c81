#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# The smt demo (`make demo`): a client host, a middlebox and a server host
# in network namespaces (scripts/netns.sh). smtd runs on both hosts with
# test certificates (scripts/mkcerts.sh) and attaches the host BPF programs
# (smt_xdp on ingress, smt_tc on egress) to its interface, filling their
# session filter as sessions come and go. The middlebox forwards and runs
# mtp_inspect on both of its interfaces: it holds no keys, yet sees every
# message start to end in both directions. smt-echo runs encrypted RPCs
# over two sessions that the two smtds set up with TLS 1.3, one per
# encapsulation: service echo.smt natively on IP (protocol 253) and service
# kv.smt over UDP (docs/protocol.md 1.1), while
# `smtctl flow watch` (both hosts) and `smtctl mtp watch` (middlebox)
# record message events. A few crafted packets of a session nobody set up
# show the session filter. Then the demo prints what smtctl shows on each
# box, the events and the RPC latency summary. Last act: Redis, unmodified,
# over SMT: redis-server behind smt-proxy on the server host, redis-cli
# through smt-proxy on the client host (service kv.smt over UDP), the
# requests seen as SMT messages at the middlebox and listed by smtctl proxy
# show. Everything is torn down at the end, also on failure or Ctrl-C.
# Usage: BUILD=dir scripts/demo.sh [RPC count]   (root; run `make` first)
set -u

BUILD=${BUILD:-build}
COUNT=${1:-3000}
SD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/smt-demo.XXXXXX")
chmod 755 "$SD_TMP"
P=demo$$
P=${P:0:12}
. tests/smtd/lib.sh
CRAFT=$BUILD/tests/bpf/smt_craft

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

BG_PIDS=""
cleanup() {
	local p
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null
	done
	sd_cleanup # smtd detaches its programs when it stops
	if [ -n "${MB_ATTACHED:-}" ]; then
		for dev in $SMT_DEV_MB_CLIENT $SMT_DEV_MB_SERVER; do
			on mb "$SD_BIN/smtctl" mtp detach dev "$dev" \
				>/dev/null 2>&1
		done
	fi
	rm -rf "/sys/fs/bpf/$P-client" "/sys/fs/bpf/$P-server" \
		"/sys/fs/bpf/$P-mb"
	netns_down --prefix "$P"
	rm -rf "$SD_TMP"
	echo "== torn down: namespaces $P-*, smtd and smtctl processes," \
		"BPF programs and pins"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}
# on HOST CMD...: run CMD in HOST's namespace with HOST's BPF pin dir.
# nsenter, not `ip netns exec`, which hides bpffs by remounting /sys.
on() {
	local host=$1
	shift
	SMT_BPF_PIN_DIR=/sys/fs/bpf/$P-$host \
		nsenter --net="/var/run/netns/$P-$host" "$@"
}
ctl() { # HOST smtctl arguments...: smtctl of that host's smtd and BPF maps
	local host=$1
	shift
	on "$host" "$SD_BIN/smtctl" -s "$SD_TMP/$host.sock" "$@"
}
indent() { sed 's/^/  /'; }
# jfield NAME: the values of NAME in JSON lines on stdin, one per line
jfield() { grep -o "\"$1\": *[^,}]*" | sed 's/^[^:]*: *//; s/"//g'; }
# summary FILE: count, directions and sizes of the events in FILE
summary() {
	local f=$1
	echo "  $(grep -c '"event"' "$f") events:" \
		"$(jfield event <"$f" | sort | uniq -c | awk '{ printf "%s %s  ", $1, $2 }')"
	if grep -q '"src"' "$f"; then
		# by flow: port 7000 is echo.smt (native IP), 7001 kv.smt (UDP)
		paste -d' ' <(jfield src <"$f") <(jfield sport <"$f") \
			<(jfield dst <"$f") <(jfield dport <"$f") \
			<(jfield msg_len <"$f") <(jfield records <"$f") \
			<(jfield duration_us <"$f") |
			awk '{ k = $1 ":" $2 " -> " $3 ":" $4; n[k]++; b[k] += $5;
			       r[k] += $6; if ($5 > mx[k]) mx[k] = $5; d[k] += $7
			       l[k] = "no service"
			       if ($2 == 7000 || $4 == 7000) l[k] = "echo.smt, native IP"
			       if ($2 == 7001 || $4 == 7001) l[k] = "kv.smt, over UDP" }
			     END { for (k in n) printf "  %s (%s): %d messages, %d bytes " \
				"(largest %d), %d records, mean %.0f us first to last packet\n",
				k, l[k], n[k], b[k], mx[k], r[k], d[k] / n[k] }' | sort
	else
		jfield local_port <"$f" | sort -n | uniq -c |
			awk '{ l = "?"
			       if ($2 == 7000 || $2 == 9000) l = "echo.smt, native IP"
			       if ($2 == 7001 || $2 == 9001) l = "kv.smt, over UDP"
			       printf "  local port %5d: %5d messages (%s)\n", $2, $1, l }'
		jfield msg_len <"$f" | sort -n | uniq -c |
			awk '{ printf "  msg_len %7d: %5d messages\n", $2, $1 }'
	fi
	echo "  the first 3:"
	head -3 "$f" | indent
}

step "topology: $P-client -- $P-mb (middlebox, forwarding) -- $P-server"
netns_up --prefix "$P" --middlebox >/dev/null || die "cannot build the topology"
sleep 0.3
echo "client $SMT_CLIENT_IP4 ($SMT_DEV_CLIENT)   server $SMT_SERVER_IP4" \
	"($SMT_DEV_SERVER)   middlebox $SMT_DEV_MB_CLIENT | $SMT_DEV_MB_SERVER"

step "certificates: test CA, host certificates naming echo.smt and kv.smt"
sd_certs "$SD_TMP/certs" || die "scripts/mkcerts.sh failed"
for c in "$SD_TMP/certs"/*.crt; do printf '%s ' "${c##*/}"; done
echo

# the UDP service (kv.smt) and its client's SMT port, both UDP ports
UDP_PORTS=7001,9001

BPF=0
if [ -r "$BUILD/bpf/smt_xdp.bpf.o" ] && "$SD_BIN/smtctl" help 2>/dev/null |
	grep -q "prog"; then
	BPF=1
else
	echo "demo: no BPF objects in $BUILD/bpf; the demo runs without them"
fi

step "smtd on the server host and on the client host"
bpf_conf() { # DEV: the [bpf] section of that host's smtd
	[ $BPF = 1 ] || return 0
	printf '[bpf]\ninterface = %s\nxdp_mode = auto\nsession_filter = yes\n' "$1"
}
# echo.smt natively on IP, kv.smt over UDP (smt.conf encap per service)
sd_conf server host echo_encap=ip kv_encap=udp "$(bpf_conf "$SMT_DEV_SERVER")"
sd_conf client host2 echo_encap=ip kv_encap=udp "$(bpf_conf "$SMT_DEV_CLIENT")"
sd_start server "$SMT_NS_SERVER" SMT_BPF_PIN_DIR="/sys/fs/bpf/$P-server" ||
	die "smtd did not start on the server host"
sd_start client "$SMT_NS_CLIENT" SMT_BPF_PIN_DIR="/sys/fs/bpf/$P-client" ||
	die "smtd did not start on the client host"
grep -h "ready:\|BPF:\|generic" "$SD_TMP/server.log" "$SD_TMP/client.log" |
	indent

if [ $BPF = 1 ]; then
	for h in server client; do
		step "smtctl prog show ($h host: attached by smtd)"
		ctl $h prog show | indent
	done

	step "middlebox: mtp_inspect on $SMT_DEV_MB_CLIENT and" \
		"$SMT_DEV_MB_SERVER (requests and responses; it holds no keys)"
	# SMT over UDP is recognised on configured UDP port ranges
	# (docs/protocol.md 1.1): the UDP service's port and its client's
	MB_UDP=""
	udp_kw=$(on mb "$SD_BIN/smtctl" mtp help 2>&1 | grep -o 'udp[_-]ports' | head -1)
	if [ -n "$udp_kw" ]; then
		MB_UDP="$udp_kw $UDP_PORTS"
		echo "  SMT over UDP on UDP ports $UDP_PORTS ($udp_kw)"
	else
		echo "  (this smtctl has no mtp attach udp_ports option: the" \
			"middlebox sees the native IP service only)"
	fi
	for dev in $SMT_DEV_MB_CLIENT $SMT_DEV_MB_SERVER; do
		# shellcheck disable=SC2086
		on mb "$SD_BIN/smtctl" mtp attach dev "$dev" $MB_UDP ||
			die "cannot attach mtp_inspect to $dev${MB_UDP:+ ($MB_UDP)}"
		MB_ATTACHED=1
	done
	on mb "$SD_BIN/smtctl" prog show | indent

	# One reader per ring buffer; each watcher flushes every line. No
	# shell function in between: $! must be smtctl itself (nsenter
	# execs it), so that SIGTERM reaches the watcher.
	step "event watchers: smtctl -j flow watch (both hosts)," \
		"smtctl -j mtp watch (middlebox), for the whole run"
	WATCH_PIDS=""
	for h in server client mb; do
		obj=flow
		[ $h = mb ] && obj=mtp
		SMT_BPF_PIN_DIR=/sys/fs/bpf/$P-$h \
			nsenter --net="/var/run/netns/$P-$h" \
			"$SD_BIN/smtctl" -j $obj watch >"$SD_TMP/watch-$h.json" \
			2>"$SD_TMP/watch-$h.err" &
		WATCH_PIDS="$WATCH_PIDS $!"
	done
	BG_PIDS="$BG_PIDS$WATCH_PIDS"
	sleep 0.3
	echo "  running: pids$WATCH_PIDS"
fi

step "smt-echo servers register with the server's smtd: echo.smt natively" \
	"on IP (SMT port 7000), kv.smt over UDP (UDP port 7001)"
SMT_CTL_SOCKET=$SD_TMP/server.sock ip netns exec "$SMT_NS_SERVER" \
	"$SD_BIN/smt-echo" server --service echo.smt --port 7000 --encap ip \
	>"$SD_TMP/echo-server.out" 2>&1 &
BG_PIDS="$BG_PIDS $!"
SMT_CTL_SOCKET=$SD_TMP/server.sock ip netns exec "$SMT_NS_SERVER" \
	"$SD_BIN/smt-echo" server --service kv.smt --port 7001 --encap udp \
	>"$SD_TMP/kv-server.out" 2>&1 &
KV_SERVER=$!
BG_PIDS="$BG_PIDS $!"
sleep 0.5
indent <"$SD_TMP/echo-server.out"
indent <"$SD_TMP/kv-server.out"

step "smt-echo clients: $COUNT RPCs (64 B, 4 KiB, 64 KiB) each over two smtd" \
	"sessions at once, echo.smt natively on IP and kv.smt over UDP"
SMT_CTL_SOCKET=$SD_TMP/client.sock ip netns exec "$SMT_NS_CLIENT" \
	"$SD_BIN/smt-echo" client --service echo.smt --encap ip \
	--connect "$SMT_SERVER_IP4" --port 9000 -n "$COUNT" \
	-s 64,4K,64K -c 4 --rpc-timeouts 500 >"$SD_TMP/echo-client.out" 2>&1 &
CLIENT=$!
SMT_CTL_SOCKET=$SD_TMP/client.sock ip netns exec "$SMT_NS_CLIENT" \
	"$SD_BIN/smt-echo" client --service kv.smt --encap udp \
	--connect "$SMT_SERVER_IP4" --port 9001 -n "$COUNT" \
	-s 64,4K,64K -c 4 --rpc-timeouts 500 >"$SD_TMP/kv-client.out" 2>&1 &
CLIENT_UDP=$!
BG_PIDS="$BG_PIDS $CLIENT $CLIENT_UDP"
sleep 0.3

step "smtctl session list (client host; the RPCs are running)"
ctl client session list | indent
step "smtctl session list (server host)"
ctl server session list | indent
if [ $BPF = 1 ]; then
	step "smtctl flow list (server host, from the BPF maps, mid-run)"
	ctl server flow list | indent
fi
wait $CLIENT
RC=$?
wait $CLIENT_UDP
RC_UDP=$?
echo
[ $RC = 0 ] || echo "demo: the smt-echo client of echo.smt (native IP) failed (exit $RC)"
[ $RC_UDP = 0 ] || echo "demo: the smt-echo client of kv.smt (over UDP) failed (exit $RC_UDP)"

if [ $BPF = 1 ] && [ -x "$CRAFT" ]; then
	step "a stranger: 3 crafted SMT messages to the server from port 5555," \
		"a session nobody set up"
	on client "$CRAFT" send "$SMT_CLIENT_IP4" "$SMT_SERVER_IP4" 5555 7000 \
		1000,3000,100 900 | indent
	sleep 0.3
	echo "  (the middlebox forwards them: they are well formed; the" \
		"server's smt_xdp drops them: unknown_session)"
fi

# ---- Redis over SMT through smt-proxy (kv.smt over UDP, port 7001) --------
redis_act() {
	local i before got
	step "Redis, unmodified: redis-server on the server host behind" \
		"smt-proxy (kv.smt over UDP, SMT port 7001, after smt-echo's" \
		"kv.smt server stops); redis-cli on the client host through a" \
		"client smt-proxy on 127.0.0.1:6380"
	kill "$KV_SERVER" 2>/dev/null
	wait "$KV_SERVER" 2>/dev/null
	nsenter --net="/var/run/netns/$SMT_NS_SERVER" redis-server --port 6379 \
		--bind 127.0.0.1 --save '' --appendonly no >"$SD_TMP/redis.log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	printf '%s\n' '[proxy redis]' 'role = server' 'service = kv.smt' \
		'port = 7001' 'backend = 127.0.0.1:6379' 'encap = udp' \
		"smtd_socket = $SD_TMP/server.sock" \
		"stats_file = $SD_TMP/proxy-s.json" \
		"control_socket = $SD_TMP/proxy-s.sock" >"$SD_TMP/proxy-s.conf"
	printf '%s\n' '[proxy redis]' 'role = client' 'service = kv.smt' \
		"connect = $SMT_SERVER_IP4" 'listen = 127.0.0.1:6380' \
		'encap = udp' "smtd_socket = $SD_TMP/client.sock" \
		"stats_file = $SD_TMP/proxy-c.json" \
		"control_socket = $SD_TMP/proxy-c.sock" >"$SD_TMP/proxy-c.conf"
	nsenter --net="/var/run/netns/$SMT_NS_SERVER" "$SD_BIN/smt-proxy" \
		-c "$SD_TMP/proxy-s.conf" >"$SD_TMP/proxy-s.log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	sleep 0.3
	nsenter --net="/var/run/netns/$SMT_NS_CLIENT" "$SD_BIN/smt-proxy" \
		-c "$SD_TMP/proxy-c.conf" >"$SD_TMP/proxy-c.log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
	for i in $(seq 50); do
		grep -q encap "$SD_TMP/proxy-c.log" 2>/dev/null && break
		sleep 0.1
	done
	indent <"$SD_TMP/proxy-s.log"
	indent <"$SD_TMP/proxy-c.log"
	before=$(cat "$SD_TMP/watch-mb.json" 2>/dev/null | wc -l)
	step "redis-cli -p 6380 (client host): SET, GET, INCR, 100 SETs piped"
	on client redis-cli -p 6380 SET greeting "hello over SMT" | indent
	got=$(on client redis-cli -p 6380 GET greeting)
	echo "  GET greeting -> $got"
	on client redis-cli -p 6380 INCR visits | sed 's/^/  INCR visits -> /'
	for i in $(seq 100); do printf 'SET k%d v%d\r\n' "$i" "$i"; done |
		on client redis-cli -p 6380 --pipe 2>&1 | tail -1 | indent
	if [ "$got" != "hello over SMT" ]; then
		echo "demo: redis-cli through smt-proxy read '$got'" >&2
		RC_REDIS=1
	fi
	step "smtctl proxy show (client host: counters, session, connections)"
	on client "$SD_BIN/smtctl" proxy show "$SD_TMP/proxy-c.sock" | indent
	step "smtctl proxy show (server host)"
	on server "$SD_BIN/smtctl" proxy show "$SD_TMP/proxy-s.sock" | indent
	if [ $BPF = 1 ] && [ -n "$MB_UDP" ]; then
		sleep 0.3
		tail -n +$((before + 1)) "$SD_TMP/watch-mb.json" |
			grep '"[ds]port":7001,' >"$SD_TMP/redis-mb.json"
		step "the middlebox (mtp_inspect, no keys) saw the Redis requests" \
			"and replies as $(wc -l <"$SD_TMP/redis-mb.json") SMT" \
			"message events on UDP port 7001; the first 4:"
		head -4 "$SD_TMP/redis-mb.json" | indent
		if ! grep -q '"dport":7001,' "$SD_TMP/redis-mb.json"; then
			echo "demo: the middlebox saw no Redis request" >&2
			RC_REDIS=1
		fi
	fi
}
RC_REDIS=0
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null &&
	[ -x "$SD_BIN/smt-proxy" ]; then
	redis_act
elif [ "${CI:-}" = true ]; then
	echo "demo: redis-server, redis-cli or smt-proxy missing (CI=true: a failure)" >&2
	RC_REDIS=1
else
	echo "demo: SKIP the Redis act: redis-server/redis-cli not installed" \
		"(scripts/setup-deps.sh)"
fi

step "smtctl peer list (server host)"
ctl server peer list | indent
step "smtctl service list (server host)"
ctl server service list | indent
for h in server client; do
	step "smtctl stats ($h host: smtd, the applications, BPF drops by reason)"
	ctl $h stats | indent
done

if [ $BPF = 1 ]; then
	step "smtctl flow list (server host, after the run)"
	ctl server flow list | indent
	step "smtctl mtp stats (middlebox: flows seen without keys)"
	on mb "$SD_BIN/smtctl" mtp stats | indent

	sleep 0.3 # the last events
	for p in $WATCH_PIDS; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	step "events: smtctl -j flow watch on the server host" \
		"(requests complete, seen by smt_xdp)"
	summary "$SD_TMP/watch-server.json"
	step "events: smtctl -j flow watch on the client host" \
		"(responses complete)"
	summary "$SD_TMP/watch-client.json"
	step "events: smtctl -j mtp watch on the middlebox (both directions)"
	summary "$SD_TMP/watch-mb.json"
	cat "$SD_TMP"/watch-*.err | indent
fi

step "RPC latency (smt-echo client of echo.smt, natively on IP)"
indent <"$SD_TMP/echo-client.out"
step "RPC latency (smt-echo client of kv.smt, over UDP)"
indent <"$SD_TMP/kv-client.out"
# both encapsulations must have done their job, each in its own, and the
# BPF programs (hosts and middlebox) must have seen the messages of both
for f in echo-client:ip kv-client:udp; do
	if ! grep -q "encap ${f#*:}\$" "$SD_TMP/${f%:*}.out"; then
		echo "demo: ${f%:*} did not run over ${f#*:}" >&2
		RC=1
	fi
done
if [ $BPF = 1 ]; then
	for port in 7000 7001; do
		if ! grep -q "\"local_port\":$port," "$SD_TMP/watch-server.json"; then
			echo "demo: smt_xdp on the server saw no message on port $port" >&2
			RC=1
		fi
		if [ $port = 7001 ] && [ -z "$MB_UDP" ]; then
			continue # this smtctl cannot give the box UDP ports
		fi
		if ! grep -q "\"dport\":$port," "$SD_TMP/watch-mb.json"; then
			echo "demo: mtp_inspect saw no message to port $port" >&2
			RC=1
		fi
	done
fi
[ $RC = 0 ] && [ $RC_UDP = 0 ] && [ $RC_REDIS = 0 ]

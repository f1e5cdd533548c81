#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# make bench-redis: Debian's redis-server measured with redis-benchmark in
# two network namespaces (scripts/netns.sh), over every path side by side:
#   tcp        plain TCP (the floor)
#   redis-tls  Redis's own TLS 1.3 (tls-port)
#   stunnel    stunnel on both hosts (TLS 1.3), Redis on localhost
#   smt-ip     smt-proxy on both hosts, SMT natively on IP
#   smt-udp    smt-proxy on both hosts, SMT over UDP
# Workloads: GET and SET of 64 B values with 1 and 32 parallel clients
# (redis-benchmark -c), not pipelined. Prints a Markdown table (requests
# per second, p50 and p99 in ms) and writes it to $BUILD/bench/redis.md.
# Not part of make test. Usage: BUILD=dir scripts/bench-redis.sh [-n N]
set -u

BUILD=${BUILD:-build}
N=20000
[ "${1:-}" = -n ] && N=$2
SD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-redis.XXXXXX")
chmod 755 "$SD_TMP"
P=br$$
P=${P:0:12}
. tests/smtd/lib.sh
PIDS=""
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	sd_cleanup
	# whatever still runs in our namespaces was started here: no process
	# may outlive the test holding the netns lock's file descriptor
	for ns in "$P-client" "$P-server"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	netns_down --prefix "$P"
	rm -rf "$SD_TMP"
}
trap cleanup EXIT

for b in redis-server redis-benchmark stunnel4; do
	command -v $b >/dev/null || {
		echo "bench-redis: $b missing (scripts/setup-deps.sh)" >&2
		exit 1
	}
done
sd_certs "$SD_TMP/certs" >/dev/null || exit 1
netns_up --prefix "$P" >/dev/null || exit 1
NSC=$SMT_NS_CLIENT
NSS=$SMT_NS_SERVER
SIP=$SMT_SERVER_IP4
inc() { nsenter --net="/var/run/netns/$NSC" "$@"; }
ins() { nsenter --net="/var/run/netns/$NSS" "$@"; }
bg() { # NETNS CMD...: in the background, remembered for cleanup ($! is
	# the program itself: nsenter execs it)
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" "$@" &
	PIDS="$PIDS $!"
}
C=$SD_TMP/certs

sd_conf client host2
sd_conf server host
sd_start client "$NSC" || exit 1
sd_start server "$NSS" || exit 1

# Redis: plain TCP on SIP:6379 and localhost, TLS 1.3 on SIP:6390
bg "$NSS" redis-server --port 6379 --bind "$SIP" 127.0.0.1 --save '' \
	--appendonly no --protected-mode no --tls-port 6390 \
	--tls-cert-file "$C/host.crt" --tls-key-file "$C/host.key" \
	--tls-ca-cert-file "$C/ca.crt" --tls-auth-clients no \
	--tls-protocols TLSv1.3 >"$SD_TMP/redis.log" 2>&1
# stunnel: client 127.0.0.1:6392 -> SIP:6391 -> 127.0.0.1:6379
cat >"$SD_TMP/st-s.conf" <<EOF
foreground = yes
pid =
[redis]
accept = $SIP:6391
connect = 127.0.0.1:6379
cert = $C/host.crt
key = $C/host.key
sslVersionMin = TLSv1.3
EOF
cat >"$SD_TMP/st-c.conf" <<EOF
foreground = yes
pid =
[redis]
client = yes
accept = 127.0.0.1:6392
connect = $SIP:6391
CAfile = $C/ca.crt
verifyChain = yes
checkHost = kv.smt
sslVersionMin = TLSv1.3
EOF
bg "$NSS" stunnel4 "$SD_TMP/st-s.conf" >"$SD_TMP/st-s.log" 2>&1
bg "$NSC" stunnel4 "$SD_TMP/st-c.conf" >"$SD_TMP/st-c.log" 2>&1

proxy_pair() { # ENCAP PORT: smt-proxy client on 127.0.0.1:PORT
	cat >"$SD_TMP/s-$1.conf" <<EOF
[proxy redis]
role = server
service = kv.smt
port = 7001
backend = 127.0.0.1:6379
encap = $1
smtd_socket = $SD_TMP/server.sock
stats_file = $SD_TMP/s-$1.json
EOF
	cat >"$SD_TMP/c-$1.conf" <<EOF
[proxy redis]
role = client
service = kv.smt
connect = $SIP
listen = 127.0.0.1:$2
encap = $1
smtd_socket = $SD_TMP/client.sock
stats_file = $SD_TMP/c-$1.json
EOF
	nsenter --net="/var/run/netns/$NSS" "$SD_BIN/smt-proxy" \
		-c "$SD_TMP/s-$1.conf" >"$SD_TMP/s-$1.log" 2>&1 &
	SPID=$!
	sleep 0.3
	nsenter --net="/var/run/netns/$NSC" "$SD_BIN/smt-proxy" \
		-c "$SD_TMP/c-$1.conf" >"$SD_TMP/c-$1.log" 2>&1 &
	CPID=$!
	PIDS="$PIDS $SPID $CPID"
	sleep 0.5
}

# run NAME ARGS...: one line per workload into $SD_TMP/rows
run() {
	local name=$1 c t out
	shift
	for c in 1 32; do
		out=$(inc redis-benchmark "$@" -t get,set -d 64 -c "$c" \
			-n "$N" --csv 2>/dev/null)
		for t in SET GET; do
			echo "$out" | tr -d '"' | awk -F, -v n="$name" -v c="$c" \
				-v t="$t" '$1 == t {
				printf "| %s | %s | %d | %.0f | %s | %s |\n",
					n, t, c, $2, $5, $7 }' >>"$SD_TMP/rows"
		done
	done
}

sleep 0.5
run tcp -h "$SIP" -p 6379
run redis-tls -h "$SIP" -p 6390 --tls --cacert "$C/ca.crt" --sni kv.smt
run stunnel -h 127.0.0.1 -p 6392
proxy_pair ip 6380
run smt-ip -h 127.0.0.1 -p 6380
kill -TERM $CPID $SPID
wait $CPID $SPID 2>/dev/null
proxy_pair udp 6381
run smt-udp -h 127.0.0.1 -p 6381

mkdir -p "$BUILD/bench"
{
	echo "| path | op | clients | requests/s | p50 ms | p99 ms |"
	echo "|---|---|---|---|---|---|"
	cat "$SD_TMP/rows"
} | tee "$BUILD/bench/redis.md"

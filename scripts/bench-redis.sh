#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# make bench-redis: Debian's redis-server measured with redis-benchmark in
# two network namespaces (scripts/netns.sh), over every path in one run:
#   tcp        plain TCP (the floor)
#   redis-tls  Redis's own TLS 1.3 (tls-port)
#   stunnel    stunnel on both hosts (TLS 1.3), Redis on localhost
#   smt-ip     smt-proxy on both hosts, SMT natively on IP
#   smt-udp    smt-proxy on both hosts, SMT over UDP
# Workloads, each at 0 % and 1 % loss (bpf/bench_loss.bpf.c, XDP on both
# veth ends, the program make bench uses; it drops TCP, UDP and SMT alike):
#   SET and GET of 64 B values with 1, 32 and 256 parallel clients, and 32
#   clients pipelining 16 requests each (redis-benchmark -c, -P);
#   mixed: 4 clients of small GETs while 2 clients SET 1 MiB values on
#   other connections (head-of-line), the GETs' latency distribution
#   written as a CDF (redis_cdf_<loss>.dat, redis_cdf.png);
#   fixed rate (open loop): smt-resp-load(1) offers every path the same
#   requests at the same times, 32 connections, GET and SET of 64 B at
#   $BENCH_REDIS_FIXED_RATE req/s in all (default 3000, Poisson
#   arrivals, one seed for all paths), each request timed from its
#   scheduled send time: points fixed:get:32:RATE and fixed:set:32:RATE,
#   in rounds that interleave the paths (BENCH_REDIS_FIXED_ROUNDS).
#   redis-benchmark's runs are closed loops: a client waits for its reply
#   before the next request, so a path whose clients stall (TCP's 200 ms
#   retransmission timeout under loss) is offered less load and its median
#   is that of the clients still running; the fixed-rate p50s are the
#   like-for-like comparison of medians between paths.
# CPU per request: utime + stime (/proc/PID/stat) of redis-server and the
# path's sidecars (stunnel, smt-proxy) during a run, divided by its
# requests; redis-benchmark and smtd (not on the data path) are left out,
# as is softirq time not charged to a process.
# Writes $BUILD/bench/redis/{rows.tsv,redis.md,*.dat,redis_cdf.png} and
# docs/performance-redis.md (+ docs/performance-redis-cdf.png): new tables,
# the hand-written notes below them kept; its first part in
# docs/performance.md (make bench includes it: the tables and the note on
# the latest run, scripts/redis-section.sh) is replaced in place.
# BENCH_REDIS_DOC=0 leaves docs/ alone. Not part of make test; run it under the netns lock.
# Usage: BUILD=dir scripts/bench-redis.sh [-n N]  (N: requests per 64 B
# run, default $BENCH_REDIS_N or 20000; 1 client under loss runs N/10)
# For work on one path (then BENCH_REDIS_DOC=0 keeps docs/ as it is):
#   BENCH_REDIS_PATHS="smt-udp stunnel"  only these paths
#   BENCH_REDIS_LOSS="0"                 only these loss rates (percent)
#   BENCH_REDIS_POINTS="set:32:16 mixed" only these runs (op:clients:pipeline;
#     fixed:OP:CLIENTS:RATE for fixed-rate runs at any rate)
#   BENCH_REDIS_FIXED_RATE=R  the fixed-rate points' rate (default 3000)
#   BENCH_REDIS_FIXED_SECS=S  seconds of each fixed-rate run after a 1 s
#     warm-up (default 5)
#   BENCH_REDIS_FIXED_ROUNDS=R  rounds of the fixed-rate points (default 3):
#     they run after the closed-loop runs of every path, each round every
#     path in turn (the paths' order rotating, smt-proxy started afresh),
#     and the report shows each point's medians over the rounds: one busy
#     minute of this shared host no longer decides a verdict
#   BENCH_REDIS_CLIENTS="1 4 32"  the client counts of the unpipelined runs
#     (default 1 32 256; the generated tables know only those)
#   BENCH_REDIS_OFFLOAD=off  the veth's TSO/GSO/GRO off, so bench_loss
#     drops 1 % of wire packets on every path (default: of buffers)
#   BENCH_REDIS_TIMEOUT=S  a redis-benchmark run still going after S
#     seconds (default 300) is stopped: its row reads 0 req/s (a wedged
#     path no longer hangs the run); the sidecars' and smtd's logs are
#     kept in $BUILD/bench/redis/logs/
#   BENCH_REDIS_PKTS=1  without perf: the SMT packets (and control
#     packets) each smt-proxy sent per request, and the receipts of
#     unanswered requests, the probes for responses and the tail-loss
#     probes the receipts saved (docs/engine.md Timers), printed after
#     each 1- and 32-client run
#   BENCH_REDIS_UNIX=0  the sidecar paths' two local hops over TCP on
#     127.0.0.1 (until 2026-12-07 08:40 the default). The default (1): over
#     Unix sockets, for stunnel and smt-proxy alike: redis-benchmark -s to
#     the client sidecar's Unix socket (smt-proxy's unix, stunnel's
#     accept), the server sidecar's backend Redis's unixsocket (smt-proxy's
#     backend, stunnel's connect); tcp and redis-tls have no local hop
#   BENCH_REDIS_BATCH=BYTES  the client smt-proxy's batch (request bytes
#     one SMT message may carry, smt-proxy(8); 0: one request per message;
#     default: smt-proxy's own)
#   BENCH_REDIS_PROFILE=DIR  each 1- and 32-client run of a sidecar path under
#     perf: system calls per request of each sidecar (perf stat of
#     raw_syscalls:sys_enter) into DIR/syscalls.tsv, and a perf record
#     (call graphs) per sidecar and run into DIR/*.data; for smt-proxy
#     also the SMT packets (and control packets) it sent per request;
#     the system calls are also counted by kind (epoll_wait, recvmmsg,
#     timerfd_settime, ...). BENCH_REDIS_PROFILE_HZ: perf record's
#     sampling rate (default 499)
set -u

BUILD=${BUILD:-build}
N=${BENCH_REDIS_N:-20000}
[ "${1:-}" = -n ] && N=$2
OUT=$BUILD/bench/redis
SD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-redis.XXXXXX")
chmod 755 "$SD_TMP"
PATHS=${BENCH_REDIS_PATHS:-tcp redis-tls stunnel smt-ip smt-udp}
LOSSES=${BENCH_REDIS_LOSS:-0 1}
PROF=${BENCH_REDIS_PROFILE:-}
PKTS=${BENCH_REDIS_PKTS:-}
[ -n "$PROF" ] && PKTS=1
POINTS=${BENCH_REDIS_POINTS:-}
RUN_TIMEOUT=${BENCH_REDIS_TIMEOUT:-300}
UNIX=${BENCH_REDIS_UNIX:-1}
P=br$$
P=${P:0:12}
PIN=/sys/fs/bpf/$P-loss
. tests/smtd/lib.sh
PIDS=""
T0=$(date +%s)
cleanup() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	# the sidecars' and smtd's logs, for a run that went wrong
	mkdir -p "$OUT/logs" && cp "$SD_TMP"/*.log "$OUT/logs/" 2>/dev/null
	[ -n "${SMT_NS_CLIENT:-}" ] && ip -n "$SMT_NS_CLIENT" link set dev "$SMT_DEV_CLIENT" xdpgeneric off 2>/dev/null
	[ -n "${SMT_NS_SERVER:-}" ] && ip -n "$SMT_NS_SERVER" link set dev "$SMT_DEV_SERVER" xdpgeneric off 2>/dev/null
	rm -rf "$PIN" "$PIN-maps"
	sd_cleanup
	sd_kill_netns "$P"
	netns_down --prefix "$P"
	rm -rf "$SD_TMP"
}
trap cleanup EXIT

for b in redis-server redis-benchmark redis-cli stunnel4 bpftool python3 "$BUILD/bin/smt-resp-load"; do
	command -v $b >/dev/null || {
		echo "bench-redis: $b missing (scripts/setup-deps.sh)" >&2
		exit 1
	}
done
[ -e "$BUILD/bpf/bench_loss.bpf.o" ] || {
	echo "bench-redis: $BUILD/bpf/bench_loss.bpf.o missing; run make" >&2
	exit 1
}
mkdir -p "$OUT"
rm -f "$OUT"/*.dat "$OUT"/rows.tsv "$OUT"/*.png
sd_certs "$SD_TMP/certs" >/dev/null || exit 1
netns_up --prefix "$P" >/dev/null || exit 1
NSC=$SMT_NS_CLIENT
NSS=$SMT_NS_SERVER
SIP=$SMT_SERVER_IP4
inc() { nsenter --net="/var/run/netns/$NSC" "$@"; }
# The veth pair passes GSO/TSO buffers whole (a TCP or UDP-GSO buffer of up
# to 64 KiB crosses as one packet), so bench_loss draws its 1 % per buffer
# for tcp, redis-tls, stunnel and smt-udp, and per packet for smt-ip (raw
# IP sockets send one packet at a time). BENCH_REDIS_OFFLOAD=off turns the
# veth's segmentation offloads off: every path's buffers are cut into
# wire packets before bench_loss, which then drops 1 % of packets on all.
if [ "${BENCH_REDIS_OFFLOAD:-on}" = off ]; then
	for ns in "$NSC:$SMT_DEV_CLIENT" "$NSS:$SMT_DEV_SERVER"; do
		nsenter --net="/var/run/netns/${ns%%:*}" ethtool -K "${ns#*:}" \
			tso off gso off gro off tx-udp-segmentation off >/dev/null || {
			echo "bench-redis: BENCH_REDIS_OFFLOAD=off: ethtool -K ${ns#*:} failed" >&2
			exit 1
		}
	done
fi
C=$SD_TMP/certs

# ---- loss: bench_loss on both veth ends, drop_ppm written into its .bss
bpftool prog load "$BUILD/bpf/bench_loss.bpf.o" "$PIN" type xdp \
	pinmaps "$PIN-maps" || exit 1
inc ip link set dev "$SMT_DEV_CLIENT" xdpgeneric pinned "$PIN" || exit 1
nsenter --net="/var/run/netns/$NSS" ip link set dev "$SMT_DEV_SERVER" xdpgeneric pinned "$PIN" || exit 1
BSS=$PIN-maps/$(ls "$PIN-maps" | grep bss)
BSS_SIZE=$(bpftool btf dump file "$BUILD/bpf/bench_loss.bpf.o" |
	sed -n "s/.*DATASEC '.bss' size=\([0-9]*\).*/\1/p")
PPM_OFF=$(bpftool btf dump file "$BUILD/bpf/bench_loss.bpf.o" |
	sed -n "s/.*offset=\([0-9]*\) size=4 (VAR 'drop_ppm').*/\1/p")
[ -n "$BSS_SIZE" ] && [ -n "$PPM_OFF" ] || {
	echo "bench-redis: cannot find drop_ppm in bench_loss's BTF" >&2
	exit 1
}
loss_set() { # PERCENT: the .bss rewritten (counters restart at 0)
	local ppm=$(($1 * 10000)) i v=""
	for i in $(seq 0 $((BSS_SIZE - 1))); do
		if [ "$i" -ge "$PPM_OFF" ] && [ "$i" -lt $((PPM_OFF + 4)) ]; then
			v="$v $(((ppm >> (8 * (i - PPM_OFF))) & 255))"
		else
			v="$v 0"
		fi
	done
	bpftool map update pinned "$BSS" key 0 0 0 0 value $v
}
loss_counts() { # "seen dropped"
	bpftool -j map dump pinned "$BSS" | python3 -c '
import json, sys
d = {}
for e in json.load(sys.stdin)[0]["formatted"]["value"][".bss"]:
    d.update(e)
print(d["seen"], d["dropped"])'
}
loss_set 0 || exit 1

sd_conf client host2
sd_conf server host
# M = 2 MiB: a 1 MiB SET (value plus RESP framing) is one SMT message
sed -i 's/^max_msg = 1M$/max_msg = 2M/' "$SD_TMP/client.conf" "$SD_TMP/server.conf"
sd_start client "$NSC" || exit 1
sd_start server "$NSS" || exit 1

bg() { # VAR NETNS CMD...: in the background, pid into VAR ($! is the
	# program itself: nsenter execs it)
	local var=$1 ns=$2
	shift 2
	nsenter --net="/var/run/netns/$ns" "$@" &
	PIDS="$PIDS $!"
	eval "$var=$!"
}

# Redis: plain TCP on SIP:6379 and localhost, TLS 1.3 on SIP:6390
bg REDIS "$NSS" redis-server --port 6379 --bind "$SIP" 127.0.0.1 --save '' \
	--appendonly no --protected-mode no --tls-port 6390 \
	--tls-cert-file "$C/host.crt" --tls-key-file "$C/host.key" \
	--tls-ca-cert-file "$C/ca.crt" --tls-auth-clients no \
	--tls-protocols TLSv1.3 --maxclients 2000 \
	--unixsocket "$SD_TMP/redis.sock" --unixsocketperm 777 >"$SD_TMP/redis.log" 2>&1
# stunnel: client 127.0.0.1:6392 -> SIP:6391 -> 127.0.0.1:6379 (with
# BENCH_REDIS_UNIX=1: st-c.sock -> SIP:6391 -> redis.sock)
ST_ACCEPT=127.0.0.1:6392 ST_CONNECT=127.0.0.1:6379
if [ "$UNIX" = 1 ]; then
	ST_ACCEPT=$SD_TMP/st-c.sock ST_CONNECT=$SD_TMP/redis.sock
fi
cat >"$SD_TMP/st-s.conf" <<EOT
foreground = yes
pid =
[redis]
accept = $SIP:6391
connect = $ST_CONNECT
cert = $C/host.crt
key = $C/host.key
sslVersionMin = TLSv1.3
EOT
cat >"$SD_TMP/st-c.conf" <<EOT
foreground = yes
pid =
[redis]
client = yes
accept = $ST_ACCEPT
connect = $SIP:6391
CAfile = $C/ca.crt
verifyChain = yes
checkHost = kv.smt
sslVersionMin = TLSv1.3
EOT
bg ST_S "$NSS" stunnel4 "$SD_TMP/st-s.conf" >"$SD_TMP/st-s.log" 2>&1
bg ST_C "$NSC" stunnel4 "$SD_TMP/st-c.conf" >"$SD_TMP/st-c.log" 2>&1

BACKEND=127.0.0.1:6379
[ "$UNIX" = 1 ] && BACKEND=$SD_TMP/redis.sock
proxy_pair() { # ENCAP PORT: smt-proxy client on 127.0.0.1:PORT
	cat >"$SD_TMP/s-$1.conf" <<EOT
[proxy redis]
role = server
service = kv.smt
port = 7001
backend = $BACKEND
encap = $1
max_frame = 2096000
smtd_socket = $SD_TMP/server.sock
stats_file = $SD_TMP/s-$1.json
EOT
	cat >"$SD_TMP/c-$1.conf" <<EOT
[proxy redis]
role = client
service = kv.smt
connect = $SIP
listen = 127.0.0.1:$2
unix = $SD_TMP/c-$1.sock
encap = $1
max_conns = 2000
max_frame = 2096000
smtd_socket = $SD_TMP/client.sock
stats_file = $SD_TMP/c-$1.json
${BENCH_REDIS_BATCH:+batch = $BENCH_REDIS_BATCH}
EOT
	bg SPID "$NSS" "$SD_BIN/smt-proxy" -c "$SD_TMP/s-$1.conf" \
		>"$SD_TMP/s-$1.log" 2>&1
	sleep 0.3
	bg CPID "$NSC" "$SD_BIN/smt-proxy" -c "$SD_TMP/c-$1.conf" \
		>"$SD_TMP/c-$1.log" 2>&1
	for i in $(seq 50); do
		grep -q encap "$SD_TMP/c-$1.log" && return 0
		sleep 0.1
	done
	echo "bench-redis: smt-proxy $1 did not start" >&2
	cat "$SD_TMP/c-$1.log" "$SD_TMP/s-$1.log" >&2
	exit 1
}

cpu_ticks() { # PID...: utime + stime, clock ticks
	local p s=0
	for p in "$@"; do
		s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $s
}
cpu_each() { # PID...: utime + stime of each, clock ticks, one per word
	local p
	for p in "$@"; do
		awk '{ printf "%d ", $14 + $15 }' "/proc/$p/stat" 2>/dev/null || printf '0 '
	done
}
HZ=$(getconf CLK_TCK)

PROF_SYSCALLS=$(printf 'syscalls:sys_enter_%s,' epoll_wait epoll_pwait epoll_pwait2 \
	epoll_ctl read write readv writev sendto recvfrom sendmsg recvmsg \
	sendmmsg recvmmsg timerfd_settime futex)
PROF_SYSCALLS=${PROF_SYSCALLS%,}
# prof_start LABEL / prof_stop N: with BENCH_REDIS_PROFILE, perf on the
# sidecars of this path (SIDECARS: "name:pid ...") while one run goes
PROF_PIDS=""
PROF_SMT="" # smt-proxy stats files: packets per request
prof_start() {
	local sc
	PROF_LABEL=$1
	PROF_PIDS=""
	PKTS_ON=""
	[ -n "$PKTS" ] && [ -n "${SIDECARS:-}" ] || return 0
	PKTS_ON=1
	[ -n "$PROF_SMT" ] && sleep 1.2 # the last run's counters written
	for f in $PROF_SMT; do
		smt_pkts "$f" >"$f.0"
	done
	[ -n "$PROF" ] || return 0
	for sc in $SIDECARS; do
		perf stat -x, -e raw_syscalls:sys_enter -e "$PROF_SYSCALLS" -p "${sc#*:}" \
			-o "$PROF/$1-${sc%:*}.stat" 2>/dev/null &
		PROF_PIDS="$PROF_PIDS $!"
		perf record -q -F ${BENCH_REDIS_PROFILE_HZ:-499} -g -p "${sc#*:}" \
			-o "$PROF/$1-${sc%:*}.data" >/dev/null 2>&1 &
		PROF_PIDS="$PROF_PIDS $!"
	done
	sleep 0.5
}
# smt_pkts FILE: "tx_packets tx_ctl receipts probes_saved tx_probes
# rx_dup_data" of an smt-proxy stats file (written every second; receipts:
# sent plus received; 0 from a build without them; rx_dup_data: DATA that
# brought nothing new, at the client proxy the spurious copies of
# responses its probes fetched)
smt_pkts() {
	python3 -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))["smt"]
    print(d["tx_packets"], d["tx_ctl"],
          d.get("tx_rcpts", 0) + d.get("rx_rcpts", 0),
          d.get("probes_saved", 0), d.get("tx_probes", 0),
          d.get("rx_dup_data", 0))
except Exception:
    print("0 0 0 0 0 0")' "$1"
}
prof_stop() { # N: requests of the run
	local sc c f a b r k q u a0 b0 r0 k0 q0 u0
	[ -n "$PKTS_ON" ] || return 0
	PKTS_ON=""
	if [ -n "$PROF_PIDS" ]; then
		kill -INT $PROF_PIDS 2>/dev/null
		wait $PROF_PIDS 2>/dev/null
	fi
	PROF_PIDS=""
	# packets per request of each smt-proxy (its stats file is written
	# every second: wait for the run's last one)
	[ -n "$PROF_SMT" ] && sleep 1.2
	for f in $PROF_SMT; do
		read -r a b r k q u <<<"$(smt_pkts "$f")"
		read -r a0 b0 r0 k0 q0 u0 <"$f.0"
		echo "    smt: $PROF_LABEL $(basename "$f" .json) $(awk -v a="$a" -v b="$b" -v a0="$a0" -v b0="$b0" -v n="$1" \
			-v r="$((r - r0))" -v k="$((k - k0))" -v q="$((q - q0))" \
			-v u="$((u - u0))" \
			'BEGIN { printf "%.2f packets (%.2f control) sent per request, receipts %d, probes %d (saved %d, %.4f per request), duplicate DATA in %d", (a - a0) / n, (b - b0) / n, r, q, k, q / n, u }')"
	done
	[ -n "$PROF" ] || return 0
	for sc in $SIDECARS; do
		c=$(sed -n 's/^\([0-9]*\),.*raw_syscalls:sys_enter.*/\1/p' \
			"$PROF/$PROF_LABEL-${sc%:*}.stat" 2>/dev/null)
		printf '%s\t%s\t%s\t%s\n' "$PROF_LABEL" "${sc%:*}" "${c:-?}" \
			"$(awk -v c="${c:-0}" -v n="$1" 'BEGIN { printf "%.2f", c / n }')" \
			>>"$PROF/syscalls.tsv"
		echo "    perf: ${sc%:*} ${c:-?} system calls, $(tail -1 "$PROF/syscalls.tsv" | cut -f4) per request:" \
			"$(awk -F, -v n="$1" '$3 ~ /syscalls:sys_enter_/ && $1 > 0 {
				sub(/syscalls:sys_enter_/, "", $3)
				printf "%s %.2f ", $3, $1 / n }' "$PROF/$PROF_LABEL-${sc%:*}.stat")"
	done
}

# bench PATH LOSS OP CLIENTS PIPELINE N -- redis-benchmark ARGS...
# One row into rows.tsv: path loss op clients pipeline size rps p50 p99
# cpu_us_per_request
bench() {
	local path=$1 loss=$2 op=$3 c=$4 pl=$5 n=$6 t0 t1 out rps lat
	shift 7
	[ "$c" != 256 ] && prof_start "$path-$loss-${op^^}-$c-$pl"
	local each0 each1
	t0=$(cpu_ticks $CPU_PIDS)
	each0=$(cpu_each $CPU_PIDS)
	out=$(inc timeout "$RUN_TIMEOUT" redis-benchmark "$@" -t "$op" -d 64 \
		-c "$c" -P "$pl" -n "$n" --precision 3 2>/dev/null | tr '\r' '\n')
	t1=$(cpu_ticks $CPU_PIDS)
	each1=$(cpu_each $CPU_PIDS)
	prof_stop "$n"
	rps=$(echo "$out" | sed -n 's/.*throughput summary: \([0-9.]*\) requests.*/\1/p')
	lat=$(echo "$out" | awk '/latency summary/ { getline; getline; print $3, $5 }')
	[ -n "$rps" ] || {
		rps=0
		lat="? ?"
	}
	printf '%s\t%s\t%s\t%s\t%s\t64\t%s\t%s\t%s\n' "$path" "$loss" \
		"${op^^}" "$c" "$pl" "$rps" "${lat// /	}" \
		"$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$n" \
			'BEGIN { printf "%.1f", t * 1e6 / hz / n }')" >>"$OUT/rows.tsv"
	echo "  $path loss $loss% ${op^^} c=$c P=$pl: $rps req/s, p50/p99 ${lat:-?} ms"
	# each process's share (redis, then the server and client sidecar)
	echo "    cpu us/req: $(paste -d' ' <(tr ' ' '\n' <<<"$each0") <(tr ' ' '\n' <<<"$each1") |
		awk -v hz="$HZ" -v n="$n" 'NF == 2 { printf "%.1f ", ($2 - $1) * 1e6 / hz / n }')(redis-server${SIDECARS:+, $SIDECARS})"
}

# mixed PATH LOSS -- ARGS: 4 clients GET 64 B while 2 clients SET 1 MiB
mixed() {
	local path=$1 loss=$2 big out rps="" lat sets glen
	shift 3
	# The GETs read key:__rand_int__ (redis-benchmark's key without -r),
	# set here to a 64 B value; the 1 MiB SETs write 4 other keys (-r 4:
	# key:000000000000 to key:000000000003), so a GET's reply is 64 B.
	# (Until 2026-12-06 both used key:__rand_int__: every GET after the
	# first SET read a 1 MiB value, and the head-of-line rows measured
	# 1 MiB GETs beside 1 MiB SETs.)
	inc redis-benchmark "$@" -t set -d 64 -c 1 -n 1 >/dev/null 2>&1
	nsenter --net="/var/run/netns/$NSC" redis-benchmark "$@" -t set \
		-d 1048576 -r 4 -c 2 -n 1000000 --precision 3 >"$SD_TMP/big.out" \
		2>/dev/null &
	big=$!
	sleep 0.5
	prof_start "$path-$loss-mixed"
	out=$(inc timeout "$RUN_TIMEOUT" redis-benchmark "$@" -t get -d 64 \
		-c 4 -n "$MIX_N" --precision 3 2>/dev/null | tr '\r' '\n')
	prof_stop "$MIX_N"
	# what the GETs read must still be the 64 B value
	glen=$(inc redis-cli "$@" strlen key:__rand_int__ 2>/dev/null)
	[ "$glen" = 64 ] || {
		echo "bench-redis: $path mixed: the GETs' key holds ${glen:-?} bytes, not 64: row marked" >&2
		rps=0
	}
	kill -TERM $big 2>/dev/null
	wait $big 2>/dev/null
	sets=$(tr '\r' '\n' <"$SD_TMP/big.out" | sed -n 's/^SET: rps=\([0-9.]*\).*/\1/p' | tail -1)
	[ "${rps:-}" = 0 ] || rps=$(echo "$out" | sed -n 's/.*throughput summary: \([0-9.]*\) requests.*/\1/p')
	lat=$(echo "$out" | awk '/latency summary/ { getline; getline; print $3, $5 }')
	echo "$out" | awk '/Latency by percentile/ { on = 1; next }
		on && /%/ { sub(/%/, "", $1); print $3, $1; next } on && !/%/ { on = 0 }' \
		>"$OUT/redis_cdf_${loss}_$path.dat"
	printf '%s\t%s\tGET+1MiB-SET\t4+2\t1\t64\t%s\t%s\t%s\n' "$path" \
		"$loss" "${rps:-0}" "${lat// /	}" "${sets:-?}" >>"$OUT/mixed.tsv"
	echo "  $path loss $loss% mixed: GET $rps req/s p50/p99 $lat ms; 1 MiB SETs ${sets:-?}/s"
}

# fixed PATH LOSS OP CLIENTS RATE -- redis-benchmark ARGS: smt-resp-load at
# RATE req/s over CLIENTS connections; one row into rows.tsv (op FIXED-OP,
# the rate in the pipeline column, achieved req/s in the rps column) with
# further columns: p90 p99.9 max (ms), sched answered unanswered errors bad
# late, lag p50 (ms: the generator's own delay from schedule to send)
fixed() {
	local path=$1 loss=$2 op=$3 c=$4 rate=$5 t0 t1 out a n host="" port="" args=()
	shift 6
	while [ $# -gt 0 ]; do # redis-benchmark's arguments, translated
		case $1 in
		-h) host=$2 && shift ;;
		-p) port=$2 && shift ;;
		-s) args+=(--unix "$2") && shift ;;
		--tls) args+=(--tls) ;;
		--cacert | --sni) args+=("$1" "$2") && shift ;;
		esac
		shift
	done
	[ -n "$host" ] && args+=(--host "$host:$port")
	prof_start "$path-$loss-fixed-${op^^}-$c-$rate"
	t0=$(cpu_ticks $CPU_PIDS)
	out=$(inc timeout "$RUN_TIMEOUT" "$BUILD/bin/smt-resp-load" "${args[@]}" \
		--op "$op" --conns "$c" --rate "$rate" --poisson --seed 16 \
		--duration "${BENCH_REDIS_FIXED_SECS:-5}" --warmup 1 2>"$SD_TMP/fixed.err")
	t1=$(cpu_ticks $CPU_PIDS)
	kv() { tr ' ' '\n' <<<"$out" | sed -n "s/^$1=//p"; }
	[ -n "$out" ] || {
		echo "bench-redis: $path fixed $op $c $rate: smt-resp-load printed nothing: $(head -2 "$SD_TMP/fixed.err")" >&2
		out="sched=1 achieved=0"
	}
	# packets and CPU per request over every request sent: the warm-up's,
	# and for GET the SETs of smt-resp-load's 1000 keys (its fill) too
	n=$(($(kv sched) + $(kv warmup) + 0))
	[ "$op" = get ] && n=$((n + 1000))
	prof_stop "$n"
	printf '%s\t%s\tFIXED-%s\t%s\t%s\t64\t%s\t%s\t%s\t%s' "$path" "$loss" "${op^^}" \
		"$c" "$rate" "$(kv achieved)" "$(kv p50_ms)" "$(kv p99_ms)" \
		"$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$n" \
			'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')" >>"$OUT/rows.tsv"
	for a in p90_ms p999_ms max_ms sched answered unanswered errors bad late lag_p50_ms; do
		printf '\t%s' "$(kv $a)" >>"$OUT/rows.tsv"
	done
	echo >>"$OUT/rows.tsv"
	echo "  $path loss $loss% fixed ${op^^} c=$c rate=$rate: $out"
}

MIX_N=$((N / 5))
# the fixed-rate points of this run: those BENCH_REDIS_POINTS names, or both
# at BENCH_REDIS_FIXED_RATE
FIXED=$(for p in $POINTS; do case $p in fixed:*) echo "$p" ;; esac; done)
[ -n "$POINTS" ] || FIXED="fixed:get:32:${BENCH_REDIS_FIXED_RATE:-3000} fixed:set:32:${BENCH_REDIS_FIXED_RATE:-3000}"
point() { [ -z "$POINTS" ] || case " $POINTS " in *" $1 "*) return 0 ;; esac; [ -z "$POINTS" ]; }
# all_runs PATH -- ARGS
all_runs() {
	local path=$1 loss c n
	shift
	for loss in $LOSSES; do
		loss_set "$loss"
		for c in ${BENCH_REDIS_CLIENTS:-1 32 256}; do
			n=$N
			[ "$loss" = 1 ] && [ "$c" = 1 ] && n=$((N / 10))
			point set:$c:1 && bench "$path" "$loss" set "$c" 1 "$n" -- "$@"
			point get:$c:1 && bench "$path" "$loss" get "$c" 1 "$n" -- "$@"
		done
		point set:32:16 && bench "$path" "$loss" set 32 16 $((N * 5)) -- "$@"
		point get:32:16 && bench "$path" "$loss" get 32 16 $((N * 5)) -- "$@"
		point mixed && mixed "$path" "$loss" -- "$@"
		echo "  $path loss $loss%: bench_loss seen/dropped $(loss_counts)"
		echo "$path $loss $(loss_counts)" >>"$OUT/loss.txt"
	done
	loss_set 0
}

rm -f "$OUT"/mixed.tsv "$OUT"/loss.txt
touch "$OUT"/rows.tsv "$OUT"/mixed.tsv "$OUT"/loss.txt
[ -n "$PROF" ] && mkdir -p "$PROF" && rm -f "$PROF"/syscalls.tsv
want() { case " $PATHS " in *" $1 "*) return 0 ;; esac; return 1; }
sleep 0.5
CPU_PIDS=$REDIS
SIDECARS=""
# fixed_runs PATH -- ARGS: the fixed-rate points of one round on PATH
fixed_runs() {
	local path=$1 loss f fo fc fr
	shift
	for loss in $LOSSES; do
		loss_set "$loss"
		for f in $FIXED; do
			IFS=: read -r _ fo fc fr <<<"$f"
			fixed "$path" "$loss" "$fo" "$fc" "$fr" -- "$@"
		done
	done
	loss_set 0
}

# on_path PATH RUNS: RUNS (all_runs or fixed_runs) on PATH with its
# arguments, its sidecars as CPU_PIDS; smt-proxy started for it and
# stopped after
on_path() {
	local path=$1 runs=$2 e
	CPU_PIDS=$REDIS
	SIDECARS=""
	PROF_SMT=""
	case $path in
	tcp) $runs tcp -h "$SIP" -p 6379 ;;
	redis-tls)
		$runs redis-tls -h "$SIP" -p 6390 --tls --cacert "$C/ca.crt" --sni kv.smt ;;
	stunnel)
		CPU_PIDS="$REDIS $ST_S $ST_C"
		SIDECARS="server:$ST_S client:$ST_C"
		if [ "$UNIX" = 1 ]; then
			$runs stunnel -s "$ST_ACCEPT"
		else
			$runs stunnel -h 127.0.0.1 -p 6392
		fi
		;;
	smt-ip | smt-udp)
		e=${path#smt-}
		local port=6380
		[ "$e" = udp ] && port=6381
		proxy_pair "$e" "$port"
		CPU_PIDS="$REDIS $SPID $CPID"
		SIDECARS="server:$SPID client:$CPID"
		PROF_SMT="$SD_TMP/c-$e.json $SD_TMP/s-$e.json"
		if [ "$UNIX" = 1 ]; then
			$runs "$path" -s "$SD_TMP/c-$e.sock"
		else
			$runs "$path" -h 127.0.0.1 -p "$port"
		fi
		kill -TERM "$CPID" "$SPID"
		wait "$CPID" "$SPID" 2>/dev/null
		;;
	esac
}

ORDER=""
for path in tcp redis-tls stunnel smt-ip smt-udp; do
	want "$path" && ORDER="$ORDER $path"
done
for path in $ORDER; do
	echo "bench-redis: $path"
	on_path "$path" all_runs
done
# the fixed-rate points: rounds, each over every path, the order rotating
ROUNDS=${BENCH_REDIS_FIXED_ROUNDS:-3}
[ -n "$FIXED" ] && for r in $(seq 1 "$ROUNDS"); do
	set -- $ORDER
	for _ in $(seq 2 "$r"); do
		set -- "${@:2}" "$1"
	done
	for path in "$@"; do
		echo "bench-redis: $path, fixed-rate round $r of $ROUNDS"
		on_path "$path" fixed_runs
	done
done
ELAPSED=$(($(date +%s) - T0))

# ---- report --------------------------------------------------------------
cat >"$SD_TMP/cdf.gp" <<EOT
set terminal pngcairo size 1000,500 font ",10" noenhanced
set output "$OUT/redis_cdf.png"
set multiplot layout 1,2 title "small GETs (4 clients) while 2 clients SET 1 MiB values: latency CDF (redis-benchmark, one run)\n$(git rev-parse --short HEAD 2>/dev/null), $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), $(nproc) CPUs, $MIX_N GETs per path"
set logscale x
set xlabel "GET latency, ms"
set ylabel "percent of GETs at or below"
set grid
set key bottom right
set yrange [0:100]
do for [loss in "0 1"] {
	set title loss . " % loss (bench_loss, both veth ends)"
	plot for [p in "tcp redis-tls stunnel smt-ip smt-udp"] \
		"$OUT/redis_cdf_".loss."_".p.".dat" using 1:2 with steps lw 2 title p
}
unset multiplot
EOT
command -v gnuplot >/dev/null && gnuplot "$SD_TMP/cdf.gp"

BENCH_REDIS_HOPS=$([ "$UNIX" = 1 ] && echo unix || echo tcp) \
	python3 scripts/bench-redis-report.py "$OUT" "$N" "$MIX_N" "$ELAPSED" "$(nproc)" \
	"$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')" \
	"$(stunnel4 -version 2>&1 | sed -n 's/^stunnel \([0-9.]*\).*/\1/p' | head -1)" \
	"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git rev-parse --short HEAD 2>/dev/null)" >"$OUT/redis.md"
cat "$OUT/redis.md"
if [ "${BENCH_REDIS_DOC:-1}" = 1 ]; then
	# The generated part ends with the targets table; what follows it in
	# the old file (the notes on earlier runs and measurements, written by
	# hand) is kept below the new tables.
	{
		cat "$OUT/redis.md"
		[ -f docs/performance-redis.md ] && awk '
			/^### Targets \(issue 16\)/ { t = 1; next }
			t && /^### / { keep = 1 }
			keep' docs/performance-redis.md | sed '1s/^/\n/'
	} >"$SD_TMP/performance-redis.md"
	mv "$SD_TMP/performance-redis.md" docs/performance-redis.md
	[ -f "$OUT/redis_cdf.png" ] && cp "$OUT/redis_cdf.png" docs/performance-redis-cdf.png
	# docs/performance.md holds its first part (make bench puts it there,
	# scripts/redis-section.sh): its Redis section is replaced in place,
	# up to "## Plots".
	if grep -q '^## Redis through smt-proxy' docs/performance.md &&
		grep -q '^## Plots' docs/performance.md; then
		"$(dirname "$0")/redis-section.sh" >"$SD_TMP/redis-section.md"
		awk -v f="$SD_TMP/redis-section.md" '
			/^## Redis through smt-proxy/ {
				while ((getline l < f) > 0) print l
				print ""; skip = 1; next }
			skip && /^## Plots/ { skip = 0 }
			!skip' docs/performance.md >"$SD_TMP/performance.md"
		mv "$SD_TMP/performance.md" docs/performance.md
	fi
fi
echo "bench-redis: ${ELAPSED}s, wrote $OUT/redis.md"
exit 0

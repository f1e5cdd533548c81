#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test-proxy: real Redis over SMT through smt-proxy, in network namespaces.
# A client host and a server host (scripts/netns.sh), smtd on each
# (tests/smtd/lib.sh), redis-server on the server host behind a server
# smt-proxy, a client smt-proxy on the client host; then, for each
# encapsulation (ip, udp):
#   pipeline   a pipeline of mixed commands (random binary values from 0 B
#              to 512 KiB, inline commands, MULTI/EXEC, RESP3 maps, sets,
#              doubles and nulls after HELLO 3, an error reply) through
#              the proxy, byte-exact against the same pipeline sent to
#              redis-server directly; also over the client's Unix socket
#   lossy      the pipeline again with 3 % of SMT packets dropped and 1 %
#              duplicated (smt_fault on both hosts): still byte-exact
#   window     the pipeline through a client proxy with send_window = 2
#   morewait   (udp) a batch's MORE that finds libsmt's request window
#              full waits and then goes: replies byte-exact
#   reset      a connection reset while its pipeline's replies come in
#              parts: the server proxy closes its backend connection
#   cli        redis-cli SET/GET of a random binary value (-x), PING
#   refused    SUBSCRIBE gets the documented RESP error, the connection
#              stays usable
#   malformed  a malformed and an oversized frame: a protocol error to that
#              client, then EOF; another connection open meanwhile is
#              unaffected
#   bench      redis-benchmark SET/GET 64 B, 8 clients, pipelined by 4:
#              completes; the proxy's counters agree (--stats)
#   smtctl     smtctl proxy show (both proxies' control sockets, -j and
#              text): counters, the session, a connection held open listed
#   refused    also MONITOR and a blocking pop (BLPOP) get their errors
#   lio        32 clients of redis-benchmark: both proxies' local reads and
#              writes go several to an io_uring_enter (counters); the
#              client proxy with SMT_PROXY_IO_URING=0 makes one system call
#              each and the pipeline stays byte-exact
#   sigterm    a request in progress (DEBUG SLEEP) when the client proxy
#              gets SIGTERM is answered, and the proxy exits 0
# then, once (udp):
#   smtd-restart  the server host's smtd restarted while two clients run
#              (SET+GET one at a time; pipelines of 32 GETs): sessions
#              survive smtd, so every reply is right and no session is lost
#   session-lost  the server proxy killed (-9) and started again while the
#              same clients run: the server smtd ends the session, the
#              client proxy sets up a new one; in-flight GETs are sent
#              again (retried > 0), in-flight SETs answered with the
#              session-lost error, never a wrong reply, and every SET
#              acknowledged before is in Redis
# Usage: BUILD=dir tests/proxy/run.sh   (from the repo root, as root)
set -u

BUILD=${BUILD:-build}
SD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/proxy-test.XXXXXX")
chmod 755 "$SD_TMP"
P=px$$
P=${P:0:12}
. tests/smtd/lib.sh
RESP="python3 tests/proxy/resp.py"

. tests/lib/report.sh

TEST_PIDS=""
cleanup() {
	for p in $TEST_PIDS; do kill -KILL "$p" 2>/dev/null; done
	sd_cleanup
	sd_kill_netns "$P"
	netns_down --prefix "$P"
	[ -n "${SD_KEEP_TMP:-}" ] || rm -rf "$SD_TMP"
}
trap cleanup EXIT

missing() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: test-proxy: $1 (CI=true: a missing capability fails)"
		exit 1
	fi
	echo "SKIP: test-proxy: $1; NOT run, NOT passed"
	exit 0
}
[ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1 ||
	missing "needs root (network namespaces, raw sockets)"
for b in redis-server redis-cli redis-benchmark python3; do
	command -v $b >/dev/null || missing "$b is not installed (scripts/setup-deps.sh)"
done
for b in smtd smtctl smt-proxy smt-fault; do
	[ -x "$SD_BIN/$b" ] || {
		echo "FAIL: $SD_BIN/$b is missing; build first"
		exit 1
	}
done

sd_certs "$SD_TMP/certs" || {
	echo "FAIL: scripts/mkcerts.sh"
	exit 1
}
netns_up --prefix "$P" >/dev/null || {
	echo "FAIL: scripts/netns.sh up"
	exit 1
}
NSC=$SMT_NS_CLIENT
NSS=$SMT_NS_SERVER
SIP=$SMT_SERVER_IP4
inc() { nsenter --net="/var/run/netns/$NSC" "$@"; }
ins() { nsenter --net="/var/run/netns/$NSS" "$@"; }

# Redis is service kv.smt (SMT port 7001) of lib.sh's configuration,
# which the test certificates name
sd_conf client host2
sd_conf server host
sd_start client "$NSC" || exit 1
sd_start server "$NSS" || exit 1

# started with nsenter directly (not through a shell function) so that $!
# is the server itself, which cleanup kills
nsenter --net="/var/run/netns/$NSS" redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no \
	--protected-mode no --enable-debug-command yes \
	--unixsocket "$SD_TMP/redis.sock" --unixsocketperm 777 \
	>"$SD_TMP/redis.log" 2>&1 &
TEST_PIDS="$TEST_PIDS $!"
for i in $(seq 50); do
	ins redis-cli -p 6379 PING >/dev/null 2>&1 && break
	sleep 0.1
done

# proxy_conf NAME ROLE ENCAP: $SD_TMP/NAME.pconf; the udp server proxy's
# backend is Redis's Unix socket, the ip one's its TCP port (check_backend)
proxy_conf() {
	local backend=127.0.0.1:6379
	[ "$3" = udp ] && backend=$SD_TMP/redis.sock
	if [ "$2" = client ]; then
		cat >"$SD_TMP/$1.pconf" <<EOF
[proxy redis]
role = client
service = kv.smt
connect = $SIP
listen = 127.0.0.1:6380
unix = $SD_TMP/redis-proxy.sock
encap = $3
framer = resp
smtd_socket = $SD_TMP/client.sock
stats_file = $SD_TMP/$1.json
control_socket = $SD_TMP/$1.sock
EOF
	else
		cat >"$SD_TMP/$1.pconf" <<EOF
[proxy redis]
role = server
service = kv.smt
port = 7001
backend = $backend
encap = $3
smtd_socket = $SD_TMP/server.sock
stats_file = $SD_TMP/$1.json
control_socket = $SD_TMP/$1.sock
EOF
	fi
}

# proxy_start NAME NETNS: starts smt-proxy, waits for its listener
# (PX_ENV: environment settings for it, e.g. SMT_PROXY_IO_URING=0)
proxy_start() {
	local name=$1
	nsenter --net="/var/run/netns/$2" env ${PX_ENV:-} "$SD_BIN/smt-proxy" -v \
		-c "$SD_TMP/$name.pconf" >>"$SD_TMP/$name.log" 2>&1 &
	eval "PX_${name//-/_}=$!"
	TEST_PIDS="$TEST_PIDS $!"
	for i in $(seq 50); do
		grep -q "encap" "$SD_TMP/$name.log" 2>/dev/null && return 0
		kill -0 "$(eval echo "\$PX_${name//-/_}")" 2>/dev/null || break
		sleep 0.1
	done
	echo "smt-proxy $name did not start:" >&2
	tail -5 "$SD_TMP/$name.log" >&2
	return 1
}

proxy_stop() { # NAME: SIGTERM and the exit status
	local pid
	pid=$(eval echo "\$PX_${1//-/_}")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
}

# pipe_exact ADDR: a new pipeline (resp.py gen; $PIPE_N replies) sent to
# redis-server directly and through the client proxy at ADDR; true when
# the replies are byte-exact. pipe_diff: where they differ.
pipe_exact() {
	PIPE_N=$($RESP gen $RANDOM "$SD_TMP/pipe.in")
	ins $RESP run 127.0.0.1:6379 "$PIPE_N" "$SD_TMP/pipe.in" \
		>"$SD_TMP/pipe.direct" 2>/dev/null
	inc $RESP run "$1" "$PIPE_N" "$SD_TMP/pipe.in" \
		>"$SD_TMP/pipe.proxy" 2>"$SD_TMP/pipe.err"
	[ -s "$SD_TMP/pipe.direct" ] &&
		cmp -s "$SD_TMP/pipe.direct" "$SD_TMP/pipe.proxy"
}
pipe_diff() {
	echo "$(cmp "$SD_TMP/pipe.direct" "$SD_TMP/pipe.proxy" 2>&1 | head -1) $(head -c 200 "$SD_TMP/pipe.err")"
}

check_pipeline() { # ENCAP
	if pipe_exact 127.0.0.1:6380; then
		ok "pipeline $1 ($PIPE_N replies, $(stat -c %s "$SD_TMP/pipe.proxy") bytes, byte-exact)"
	else
		bad "pipeline $1" "replies differ from redis-server's own: $(pipe_diff)"
	fi
	inc $RESP run "$SD_TMP/redis-proxy.sock" "$PIPE_N" "$SD_TMP/pipe.in" \
		>"$SD_TMP/pipe.unix" 2>/dev/null
	if cmp -s "$SD_TMP/pipe.direct" "$SD_TMP/pipe.unix"; then
		ok "pipeline $1 over the Unix socket"
	else
		bad "pipeline $1 unix" "replies differ"
	fi
}

# The same pipeline with 3 % of SMT packets dropped and 1 % duplicated on
# both hosts' ingress (smt_fault): requests and responses are retransmitted
# and delivered out of order, so the server proxy's per-connection ordering
# and the client proxy's reply order are what keep the bytes exact.
check_lossy() {
	local n d1 d2 dev ns
	n=$($RESP gen $RANDOM "$SD_TMP/pipe.in")
	ins $RESP run 127.0.0.1:6379 "$n" "$SD_TMP/pipe.in" \
		>"$SD_TMP/pipe.direct" 2>/dev/null
	for ns in "$NSC:$SMT_DEV_CLIENT" "$NSS:$SMT_DEV_SERVER"; do
		"$SD_BIN/smt-fault" -n "${ns%%:*}" attach "${ns#*:}" --drop 3 \
			--dup 1 >/dev/null || {
			bad "lossy pipeline $1" "cannot attach smt_fault"
			return
		}
	done
	inc $RESP run 127.0.0.1:6380 "$n" "$SD_TMP/pipe.in" \
		>"$SD_TMP/pipe.proxy" 2>"$SD_TMP/pipe.err"
	d1=$("$SD_BIN/smt-fault" -n "$NSC" stats "$SMT_DEV_CLIENT" -j |
		grep -o '"dropped_random":[0-9]*' | cut -d: -f2)
	d2=$("$SD_BIN/smt-fault" -n "$NSS" stats "$SMT_DEV_SERVER" -j |
		grep -o '"dropped_random":[0-9]*' | cut -d: -f2)
	"$SD_BIN/smt-fault" -n "$NSC" detach "$SMT_DEV_CLIENT" >/dev/null 2>&1
	"$SD_BIN/smt-fault" -n "$NSS" detach "$SMT_DEV_SERVER" >/dev/null 2>&1
	if [ $((${d1:-0} + ${d2:-0})) -gt 0 ] &&
		cmp -s "$SD_TMP/pipe.direct" "$SD_TMP/pipe.proxy"; then
		ok "lossy pipeline $1 (3 % drop, 1 % dup; dropped $d1 + $d2 packets): byte-exact"
	else
		bad "lossy pipeline $1" "dropped ${d1:-?} + ${d2:-?}; $(cmp "$SD_TMP/pipe.direct" "$SD_TMP/pipe.proxy" 2>&1 | head -1) $(head -c 200 "$SD_TMP/pipe.err")"
	fi
}

# another_client NAME ENCAP PORT LINE: a second client proxy NAME-ENCAP
# like c-ENCAP on 127.0.0.1:PORT (no Unix socket) with LINE added, started
another_client() {
	sed -e "s/^listen = .*/listen = 127.0.0.1:$3/" -e '/^unix = /d' \
		-e "s|c-$2|$1-$2|g" "$SD_TMP/c-$2.pconf" >"$SD_TMP/$1-$2.pconf"
	echo "$4" >>"$SD_TMP/$1-$2.pconf"
	proxy_start "$1-$2" "$NSC"
}

# The pipeline through a second client proxy whose send window holds 2
# SMT requests: sends wait for room (the connection's input), the replies
# are still byte-exact
check_window() {
	another_client w "$1" 6381 "send_window = 2" || {
		bad "send window $1" "client proxy did not start"
		return
	}
	if pipe_exact 127.0.0.1:6381; then
		ok "pipeline $1 through a send window of 2: byte-exact"
	else
		bad "send window $1" "$(pipe_diff)"
	fi
	proxy_stop "w-$1" || bad "send window $1" "exit status $?"
}

# A batch's MORE that finds no room to be sent waits, then goes (batch_part's
# -EAGAIN). send_window's count cannot refuse it (the part's own request has
# just left the window), libsmt's request window can: no request goes 4096
# past the oldest one unanswered. A client proxy with small batches; Redis
# paused for writes (a SET through the proxy stays unanswered: the oldest)
# and asleep for 3 s (DEBUG SLEEP, straight to Redis), meanwhile a batch of
# two 40 KiB GETs (its reply comes in two parts) and then 5000 messages of
# GETs on 10 connections are sent: the request window is full when the
# batch's first part arrives, so its MORE waits (more_waits) until the SET
# is answered. Every reply must be byte-exact or counted right.
check_more_wait() {
	local n=1000 st mw py pw pv pz="" i zs="" go=$SD_TMP/mw.go
	# 23-byte GETs two to a message, mw.v's two 26-byte ones one batch
	another_client m "$1" 6382 "batch = 56" || {
		bad "more-wait $1" "client proxy did not start"
		return
	}
	head -c 40000 /dev/urandom | ins redis-cli -p 6379 -x SET mw:big1 >/dev/null
	head -c 40000 /dev/urandom | ins redis-cli -p 6379 -x SET mw:big2 >/dev/null
	printf '*2\r\n$3\r\nGET\r\n$7\r\nmw:big1\r\n*2\r\n$3\r\nGET\r\n$7\r\nmw:big2\r\n' \
		>"$SD_TMP/mw.v"
	python3 -c 'import sys
sys.stdout.buffer.write(b"*2\r\n$3\r\nGET\r\n$4\r\nmw:z\r\n" * int(sys.argv[1]))' "$n" >"$SD_TMP/mw.z"
	ins redis-cli -p 6379 SET mw:z 1 >/dev/null
	ins $RESP run 127.0.0.1:6379 2 "$SD_TMP/mw.v" >"$SD_TMP/mw.v.direct"
	# the batch's connection open first (python starts slowly on a
	# loaded host), its requests sent when $go exists
	rm -f "$go"
	RESP_GO=$go inc $RESP run 127.0.0.1:6382 2 "$SD_TMP/mw.v" >"$SD_TMP/mw.v.proxy" 2>"$SD_TMP/mw.err" &
	pv=$!
	for i in $(seq 100); do
		"$SD_BIN/smtctl" -j proxy show "$SD_TMP/m-$1.sock" 2>/dev/null |
			grep -q '"connections":1,' && break
		sleep 0.1
	done
	ins redis-cli -p 6379 CLIENT PAUSE 8000 WRITE >/dev/null
	inc redis-cli -p 6382 SET mw:paused 1 >"$SD_TMP/mw.y" 2>&1 &
	py=$!
	sleep 0.3
	ins redis-cli -p 6379 DEBUG SLEEP 3 >/dev/null &
	pw=$!
	sleep 0.2
	touch "$go"
	sleep 0.3
	# 10 connections: 5000 messages, past the request window
	for i in $(seq 10); do
		inc redis-cli -p 6382 --pipe <"$SD_TMP/mw.z" >"$SD_TMP/mw.z.$i" 2>&1 &
		pz="$pz $!"
	done
	wait $py $pw $pv $pz
	for i in $(seq 10); do
		grep -q "errors: 0, replies: $n\$" "$SD_TMP/mw.z.$i" || zs="$zs $i"
	done
	sleep 1.2
	st=$("$SD_BIN/smt-proxy" -c "$SD_TMP/m-$1.pconf" --stats)
	mw=$(echo "$st" | python3 -c 'import json, sys; print(json.load(sys.stdin)["more_waits"])')
	if [ "${mw:-0}" -gt 0 ] && [ "$(cat "$SD_TMP/mw.y")" = OK ] && [ -z "$zs" ] &&
		cmp -s "$SD_TMP/mw.v.direct" "$SD_TMP/mw.v.proxy"; then
		ok "more-wait $1: a batch's MORE waited for the request window ($mw), replies byte-exact"
	else
		bad "more-wait $1" "more_waits ${mw:-?}, SET: $(cat "$SD_TMP/mw.y"); $(cmp "$SD_TMP/mw.v.direct" "$SD_TMP/mw.v.proxy" 2>&1 | head -1); GETs wrong on connections:${zs:- none} ($(tail -1 "$SD_TMP/mw.z.${zs##* }" 2>/dev/null | head -c 100)) $(head -c 200 "$SD_TMP/mw.err")"
	fi
	proxy_stop "m-$1" || bad "more-wait $1" "exit status $?"
}

# A client connection reset while its batch's replies come in parts: the
# server proxy's backend connection for it is closed (the batch waiting
# for a MORE that will not come is dropped), not kept forever
check_reset() {
	local out st i
	out=$(inc $RESP reset 127.0.0.1:6380 2>&1)
	for i in $(seq 30); do
		st=$("$SD_BIN/smtctl" -j proxy show "$SD_TMP/s-$1.sock")
		echo "$st" | python3 -c '
import json, sys
l = json.loads(sys.stdin.read())[0]["connection_list"]
sys.exit(0 if all(c["in_flight"] == 0 and c["state"] != "closing" for c in l) else 1)' && break
		sleep 0.1
	done
	if [ "$out" = reset ] && [ "$i" -lt 30 ]; then
		ok "reset mid-batch $1: the server proxy closed that backend connection"
	else
		bad "reset mid-batch $1" "$out; server: ${st:0:600}"
	fi
}

check_cli() {
	local v got
	head -c 3000 /dev/urandom >"$SD_TMP/val"
	got=$(inc redis-cli -p 6380 -x SET bin <"$SD_TMP/val")
	inc redis-cli -p 6380 --raw GET bin | head -c 3000 >"$SD_TMP/val.got"
	v=$(inc redis-cli -p 6380 PING)
	if [ "$got" = OK ] && [ "$v" = PONG ] &&
		cmp -s "$SD_TMP/val" "$SD_TMP/val.got"; then
		ok "redis-cli $1: SET -x / GET of 3000 random bytes, PING"
	else
		bad "redis-cli $1" "SET said '$got', PING '$v', value cmp: $(cmp "$SD_TMP/val" "$SD_TMP/val.got" 2>&1)"
	fi
}

# The backend connection is the configured kind: Redis flags a Unix
# socket client U (CLIENT INFO, asked through the proxy), a TCP one N.
check_backend() {
	local want=N info
	[ "$1" = udp ] && want=U
	info=$(inc redis-cli -p 6380 CLIENT INFO 2>&1)
	if [[ " $info " == *" flags=$want "* ]]; then
		ok "backend $1: Redis sees the server proxy's connection with flags=$want ($([ $want = U ] && echo Unix socket || echo TCP))"
	else
		bad "backend $1" "want flags=$want, CLIENT INFO said: ${info:0:200}"
	fi
}

check_refused() {
	local out want mon
	printf '*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\nPING\r\n' >"$SD_TMP/sub.in"
	out=$(inc $RESP run 127.0.0.1:6380 2 "$SD_TMP/sub.in" 2>&1 | od -c | tr -s ' ')
	want=$(printf -- '-ERR smt-proxy: SUBSCRIBE has no single reply or blocks without bound\r\n+PONG\r\n' | od -c | tr -s ' ')
	printf 'MONITOR\r\nBLPOP l 0\r\nXREAD BLOCK 0 STREAMS s $\r\nPING\r\n' >"$SD_TMP/mon.in"
	mon=$(inc $RESP run 127.0.0.1:6380 4 "$SD_TMP/mon.in" 2>&1 | tr -d '\r')
	if [ "$out" = "$want" ] && [ "$mon" = '-ERR smt-proxy: MONITOR has no single reply or blocks without bound
-ERR smt-proxy: BLPOP has no single reply or blocks without bound
-ERR smt-proxy: XREAD with BLOCK may wait without bound
+PONG' ]; then
		ok "SUBSCRIBE, MONITOR, BLPOP, XREAD BLOCK $1 refused with RESP errors, connection usable"
	else
		bad "refused $1" "got: $out / $mon"
	fi
}

check_smtctl() {
	local c s t
	# a connection held open while smtctl looks
	printf 'PING\r\nPING\r\n' >"$SD_TMP/hold.in"
	RESP_PAUSE=3 inc $RESP run 127.0.0.1:6380 2 "$SD_TMP/hold.in" \
		>/dev/null 2>&1 &
	for i in $(seq 25); do
		c=$("$SD_BIN/smtctl" -j proxy show "$SD_TMP/c-$1.sock")
		echo "$c" | grep -q '"connection_list":\[{' && break
		sleep 0.1
	done
	s=$("$SD_BIN/smtctl" -j proxy show "$SD_TMP/s-$1.sock")
	t=$("$SD_BIN/smtctl" proxy show "$SD_TMP/c-$1.sock")
	wait $!
	if echo "$c" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())[0]
l = d["connection_list"]
ok = d["role"] == "client" and d["session_up"] and d["requests"] >= 8000 \
    and d["session_setups"] == 1 and d["encap"] == sys.argv[1] and \
    len(l) >= 1 and all(c["state"] == "open" for c in l) and \
    l[0]["peer"].startswith("127.0.0.1:") and \
    d["smt"]["rpcs_ok"] >= 2000 and d["smt"]["tx_packets"] >= 2000 and \
    d["smt"]["rpcs_failed"] == 0 and d["smt"]["srtt_us"] > 0
sys.exit(0 if ok else 1)' "$1" && echo "$s" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())[0]
ok = d["role"] == "server" and d["requests"] >= 8000 and \
    len(d["connection_list"]) >= 1 and d["smt"]["rx_packets"] >= 2000
sys.exit(0 if ok else 1)' && echo "$t" | grep -q "^client connections:" &&
		echo "$t" | grep -q "^session_up: true"; then
		ok "smtctl proxy show $1: counters, session, connections (client and server)"
	else
		bad "smtctl proxy show $1" "client: $c server: $s text: $t"
	fi
}

check_malformed() {
	local out err other
	# a second client keeps a connection open meanwhile
	printf 'PING\r\nECHO still-here\r\n' >"$SD_TMP/other.in"
	RESP_PAUSE=1.5 inc $RESP run 127.0.0.1:6380 2 "$SD_TMP/other.in" \
		>"$SD_TMP/other.out" 2>/dev/null &
	sleep 0.3
	printf '*1\r\n$4\r\nPING\r\n*1\r\n%%4\r\nPING\r\n' >"$SD_TMP/bad.in"
	out=$(inc $RESP run 127.0.0.1:6380 -1 "$SD_TMP/bad.in" 2>"$SD_TMP/bad.err" | tr -d '\r')
	err=$(cat "$SD_TMP/bad.err")
	printf '*2\r\n$3\r\nGET\r\n$9999999\r\n' >"$SD_TMP/big.in"
	big=$(inc $RESP run 127.0.0.1:6380 -1 "$SD_TMP/big.in" 2>&1 | tr -d '\r')
	wait $!
	other=$(tr -d '\r' <"$SD_TMP/other.out")
	if [ "$out" = "+PONG
-ERR smt-proxy: Protocol error: malformed request" ] && [ "$err" = EOF ] &&
		[ "$big" = "-ERR smt-proxy: Protocol error: request larger than max_frame
EOF" ] && [ "$other" = '+PONG
$10
still-here' ]; then
		ok "malformed/oversized frame $1: error to that client, then closed; another client unaffected"
	else
		bad "malformed $1" "got '$out' '$err' / '$big' / other '$other'"
	fi
}

check_bench() {
	local out
	# -q prints progress lines ending in \r, then one result line each
	out=$(inc redis-benchmark -p 6380 -t set,get -n 4000 -c 8 -P 4 -d 64 -q 2>&1 |
		tr '\r' '\n' | grep -E '(SET|GET): [0-9.]+ requests per second')
	if echo "$out" | grep -q 'SET: ' && echo "$out" | grep -q 'GET: '; then
		ok "redis-benchmark $1: $(echo $out)"
	else
		bad "redis-benchmark $1" "$out"
	fi
}

check_stats() {
	local s
	sleep 1.2
	s=$("$SD_BIN/smt-proxy" -c "$SD_TMP/c-$1.pconf" --stats)
	if echo "$s" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
ok = d["requests"] >= 8000 and d["responses"] == d["requests"] and \
    d["rpc_failed"] == 0 and d["refused"] >= 1 and d["protocol_errors"] >= 2 \
    and d["batches"] >= 1 and d["parts"] >= 1
sys.exit(0 if ok else 1)'; then
		ok "counters $1: $s"
	else
		bad "counters $1" "$s"
	fi
}

# lio_ok FILE WANT: the local reads and writes of the proxy whose
# counters are FILE went through io_uring, several per system call
# (WANT=ring: local_calls at most 0.9 of local_ops), or one system call
# each (WANT=plain: io_uring false, local_calls == local_ops)
lio_ok() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ops, calls = d["local_ops"], d["local_calls"]
if sys.argv[2] == "ring":
    ok = d["io_uring"] and ops >= 1000 and calls <= 0.9 * ops
else:
    ok = not d["io_uring"] and ops >= 1000 and calls == ops
sys.exit(0 if ok else 1)' "$1" "$2"
}

# 32 clients without pipelining: each proxy's pass reads (and writes)
# several connections, in one io_uring_enter; then the client proxy again
# with SMT_PROXY_IO_URING=0: one read or send each, replies still
# byte-exact
check_lio() {
	local out s c
	out=$(inc redis-benchmark -p 6380 -t set,get -n 8000 -c 32 -d 64 -q 2>&1 |
		tr '\r' '\n' | grep -E '(SET|GET): [0-9.]+ requests per second')
	sleep 1.2
	s=$(cat "$SD_TMP/s-$1.json")
	c=$(cat "$SD_TMP/c-$1.json")
	if lio_ok "$SD_TMP/s-$1.json" ring && lio_ok "$SD_TMP/c-$1.json" ring; then
		ok "io_uring $1: local reads and writes batched: $(echo $out); server $(echo "$s" | grep -o '"local_ops":[0-9]*,"local_calls":[0-9]*'), client $(echo "$c" | grep -o '"local_ops":[0-9]*,"local_calls":[0-9]*')"
	else
		bad "io_uring $1" "$out; server $s; client $c"
	fi
	proxy_stop "c-$1"
	# (proxy_start waits for the log's start line: a new log)
	cat "$SD_TMP/c-$1.log" >>"$SD_TMP/c-$1.log.old"
	: >"$SD_TMP/c-$1.log"
	PX_ENV=SMT_PROXY_IO_URING=0 proxy_start "c-$1" "$NSC" || {
		bad "io_uring $1" "client proxy without io_uring did not start"
		return
	}
	inc redis-benchmark -p 6380 -t set,get -n 2000 -c 32 -d 64 -q >/dev/null 2>&1
	if pipe_exact 127.0.0.1:6380 && sleep 1.2 &&
		lio_ok "$SD_TMP/c-$1.json" plain; then
		ok "io_uring $1: SMT_PROXY_IO_URING=0: a system call each, pipeline byte-exact"
	else
		bad "io_uring $1 off" "$(pipe_diff); $(cat "$SD_TMP/c-$1.json")"
	fi
	proxy_stop "c-$1"
	cat "$SD_TMP/c-$1.log" >>"$SD_TMP/c-$1.log.old"
	: >"$SD_TMP/c-$1.log"
	proxy_start "c-$1" "$NSC" || bad "io_uring $1" "client proxy did not start again"
}

check_sigterm() {
	local rc out
	printf 'DEBUG SLEEP 7\r\n' | inc $RESP run 127.0.0.1:6380 1 \
		>"$SD_TMP/slow.out" 2>/dev/null &
	local cpid=$! i
	# SIGTERM once the request is in flight (the counters, written every
	# second, say so): a request not yet read would be refused by design.
	# Up to 6 s for the counters to show it (2 s, then 3.5 s, were too
	# short on a loaded host, where python alone took 0.8 s to start),
	# inside the request's 7 s.
	for i in $(seq 120); do
		grep -q '"outstanding":1,' "$SD_TMP/c-$1.json" && break
		sleep 0.05
	done
	proxy_stop "c-$1"
	rc=$?
	wait $cpid
	out=$(tr -d '\r' <"$SD_TMP/slow.out")
	if [ "$rc" = 0 ] && [ "$out" = "+OK" ]; then
		ok "SIGTERM $1: the request in progress was answered, exit 0"
	else
		bad "SIGTERM $1" "exit $rc, reply '$out'"
	fi
}

# clients_start SECS: the set and get loops (resp.py loop) in the background
clients_start() {
	inc $RESP loop 127.0.0.1:6380 "$1" set "$SD_TMP/acked" >"$SD_TMP/loop-set" 2>&1 &
	LOOP_SET=$!
	inc $RESP loop 127.0.0.1:6380 "$1" get "$SD_TMP/acked-get" >"$SD_TMP/loop-get" 2>&1 &
	LOOP_GET=$!
}

# acked_in_redis: every SET the set loop saw acknowledged, in Redis
acked_in_redis() {
	local n
	n=$(wc -l <"$SD_TMP/acked")
	[ "$n" -gt 0 ] || return 1
	awk '{ print "GET", $1 }' "$SD_TMP/acked" | ins redis-cli -p 6379 >"$SD_TMP/acked.got"
	awk '{ print $2 }' "$SD_TMP/acked" | cmp -s - "$SD_TMP/acked.got"
}

loop_field() { # FILE FIELD
	python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())[sys.argv[2]])' "$1" "$2" 2>/dev/null
}

check_sessions() {
	local st
	# 1. the server host's smtd restarts: sessions survive it
	clients_start 4
	sleep 1
	sd_stop server
	sd_start server "$NSS" || bad "smtd restart" "server smtd did not start again"
	wait $LOOP_SET $LOOP_GET
	st=$("$SD_BIN/smtctl" -j proxy show "$SD_TMP/c-udp.sock")
	if [ "$(loop_field "$SD_TMP/loop-set" bad)" = 0 ] &&
		[ "$(loop_field "$SD_TMP/loop-set" lost)" = 0 ] &&
		[ "$(loop_field "$SD_TMP/loop-get" bad)" = 0 ] &&
		[ "$(loop_field "$SD_TMP/loop-get" lost)" = 0 ] &&
		echo "$st" | grep -q '"sessions_lost":0,' && acked_in_redis; then
		ok "server smtd restarted mid-run: $(cat "$SD_TMP/loop-set") $(cat "$SD_TMP/loop-get"), no session lost, every acknowledged SET in Redis"
	else
		bad "server smtd restart" "set $(cat "$SD_TMP/loop-set") get $(cat "$SD_TMP/loop-get") proxy ${st:0:400}"
	fi
	# 2. the server proxy dies: a new session. Certainly in flight then:
	# a DEBUG SLEEP (may have run: the session-lost error) and a GET on
	# another connection that waits in Redis behind it (sent again)
	clients_start 6
	sleep 1.5
	printf 'DEBUG SLEEP 4\r\n' >"$SD_TMP/sleep.in"
	printf 'GET g:key\r\n' >"$SD_TMP/get.in"
	inc $RESP run 127.0.0.1:6380 -1 "$SD_TMP/sleep.in" >"$SD_TMP/sleep.out" 2>&1 &
	local sl=$!
	sleep 0.3
	inc $RESP run 127.0.0.1:6380 1 "$SD_TMP/get.in" >"$SD_TMP/get.out" 2>&1 &
	local gt=$! i
	# both in flight: two connections with one request each, unanswered
	for i in $(seq 30); do
		"$SD_BIN/smtctl" -j proxy show "$SD_TMP/c-udp.sock" | python3 -c '
import json, sys
l = json.loads(sys.stdin.read())[0]["connection_list"]
sys.exit(0 if sum(c["requests"] == 1 and c["pending"] == 1 for c in l) == 2 else 1)' && break
		sleep 0.1
	done
	kill -KILL "$PX_s_udp"
	wait "$PX_s_udp" 2>/dev/null
	sleep 0.5
	mv "$SD_TMP/s-udp.log" "$SD_TMP/s-udp.log.1"
	proxy_start s-udp "$NSS" || bad "session lost" "server proxy did not start again"
	wait $LOOP_SET $LOOP_GET $sl $gt
	st=$("$SD_BIN/smtctl" -j proxy show "$SD_TMP/c-udp.sock")
	if [ "$(loop_field "$SD_TMP/loop-set" bad)" = 0 ] &&
		[ "$(loop_field "$SD_TMP/loop-get" bad)" = 0 ] &&
		[ "$(tr -d '\r' <"$SD_TMP/get.out")" = '$7
g:value' ] &&
		grep -q '^-ERR smt-proxy: SMT session lost (the session was removed) before the reply; the request may or may not have run' "$SD_TMP/sleep.out" &&
		grep -q '^EOF' "$SD_TMP/sleep.out" &&
		[ "$(loop_field "$SD_TMP/loop-get" ok)" -gt 0 ] &&
		echo "$st" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())[0]
sys.exit(0 if d["session_up"] and d["sessions_lost"] >= 1 and
         d["session_setups"] >= 2 and d["retried"] >= 1 and
         d["lost_in_flight"] >= 1 else 1)' &&
		acked_in_redis; then
		ok "server proxy killed mid-run: new session; DEBUG SLEEP in flight got the session-lost error, a GET behind it was sent again; set $(cat "$SD_TMP/loop-set") get $(cat "$SD_TMP/loop-get"); $(echo "$st" | grep -o '"session_setups":[0-9]*,"sessions_lost":[0-9]*,"retried":[0-9]*,"lost_in_flight":[0-9]*'); every acknowledged SET in Redis"
	else
		bad "session lost" "set $(cat "$SD_TMP/loop-set") get $(cat "$SD_TMP/loop-get") sleep: $(cat "$SD_TMP/sleep.out") get: $(cat "$SD_TMP/get.out") proxy ${st:0:700}"
	fi
}

want() { [ -z "${PROXY_CHECKS:-}" ] || [[ " $PROXY_CHECKS " == *" $1 "* ]]; }

# PROXY_ENCAPS (default "ip udp") and PROXY_CHECKS (default all: a list
# of the check_ names above without the prefix) narrow a run down while
# developing.
for encap in ${PROXY_ENCAPS:-ip udp}; do
	proxy_conf "s-$encap" server "$encap"
	proxy_conf "c-$encap" client "$encap"
	proxy_start "s-$encap" "$NSS" || {
		bad "start $encap" "server proxy"
		continue
	}
	proxy_start "c-$encap" "$NSC" || {
		bad "start $encap" "client proxy"
		continue
	}
	want pipeline && check_pipeline "$encap"
	want lossy && check_lossy "$encap"
	want window && check_window "$encap"
	[ "$encap" = udp ] && want morewait && check_more_wait "$encap"
	want cli && check_cli "$encap"
	want backend && check_backend "$encap"
	want refused && check_refused "$encap"
	want malformed && check_malformed "$encap"
	want bench && check_bench "$encap"
	want stats && check_stats "$encap"
	want smtctl && check_smtctl "$encap"
	want lio && check_lio "$encap"
	# after the counters: its batch is never all answered
	want reset && check_reset "$encap"
	[ "$encap" = udp ] && want sessions && check_sessions
	want sigterm && check_sigterm "$encap"
	proxy_stop "s-$encap" || bad "server proxy $encap" "exit status $?"
done

echo "test-proxy: $pass passed, $fail failed"
[ "$fail" = 0 ]

#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Runs smt-bench between two network namespaces joined by a veth pair: the
# server in one, the client in the other, each pinned to its own core when
# there are two. SMT runs in both encapsulations side by side, natively on
# IP (transport smt, shown as smt-ip) and over UDP (smt-udp), against TLS
# 1.3 over TCP, TCP and UDP. Measures single-core AES-128-GCM with
# `openssl speed` in the same run, then writes CSV, JSON, the summary and
# PNG plots under BUILD/bench/ and, for a full run, regenerates
# docs/performance.md.
#
# Usage: scripts/bench.sh [--build DIR] [--quick | --smoke] [--pktcost MD]
#                         [--hog] [-- CLIENT-OPTS]
#   --quick   a short plan for development (docs/performance.md untouched)
#   --smoke   every transport runs a few RPCs of each workload; exits
#             nonzero if any transport fails (make test-bench)
#   --pktcost the tables of `make bench-pktcost` to put in the report
#   --hog     a competing CPU hog (a shell busy loop) pinned to every CPU
#             at the roles' nice level for the whole run (BENCH_HOG=1 too):
#             how SMT's busy polling fares under CPU contention (a full
#             run has a pass of its own with the hog for the loaded
#             tests; BENCH_HOGPASS=0 leaves it out, =1 adds it to --quick)
# Needs root. Without it: SKIP (exit 0), or FAIL when CI=true.
# BENCH_ENCAP: ip, udp or ip,udp (default): the encapsulations SMT runs in.
# BENCH_SMT_OPTS: SMT endpoint options for both roles (default
# "rpc_timeouts=5000 busy_poll_us=50": an RPC fails after ~10 s of silence,
# not ~100 ms, so that a loaded shared host does not fail RPCs that TCP
# would still finish; and while a message is arriving the endpoint polls
# 50 us for its next packet before it sleeps, as Homa does).
# Profiling: BENCH_CLIENT_WRAP / BENCH_SERVER_WRAP prefix the client / server
# command, e.g. BENCH_SERVER_WRAP="perf record -g -o /tmp/srv.data".
set -eu

BUILD=build
MODE=full
PKTCOST=
while [ $# -gt 0 ]; do
	case "$1" in
	--build) BUILD=$2; shift 2 ;;
	--quick) MODE=quick; shift ;;
	--smoke) MODE=smoke; shift ;;
	--pktcost) PKTCOST=$2; shift 2 ;;
	--hog) BENCH_HOG=1; shift ;;
	--) shift; break ;;
	-h|--help) sed -n "3,32p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

# Absolute, because paths under it go into smtd's config (control_socket
# must be absolute) and into processes started in other directories.
[ -d "$BUILD" ] || { echo "bench.sh: build directory $BUILD missing; run make BUILD=$BUILD first" >&2; exit 1; }
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bin/smt-bench
GP=scripts/bench-plot.gp
if [ "$MODE" = smoke ]; then OUT=$BUILD/bench-smoke; else OUT=$BUILD/bench; fi
TAG="bench.sh ($MODE)"

skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL $TAG: $1 (CI=true: a missing capability fails)" >&2
		exit 1
	fi
	echo "*** SKIP $TAG: $1 -- NOT a pass ***" >&2
	exit 0
}

[ "$(id -u)" = 0 ] || skip_or_fail "needs root (network namespaces, raw IP, XDP)"
command -v ip >/dev/null || skip_or_fail "needs iproute2 (ip)"
[ -x "$BIN" ] || { echo "bench.sh: $BIN missing; run make BUILD=$BUILD first" >&2; exit 1; }
[ -e "$BUILD/bpf/bench_loss.bpf.o" ] || { echo "bench.sh: $BUILD/bpf/bench_loss.bpf.o missing; run make" >&2; exit 1; }

# BENCH_ENCAP: the encapsulations SMT runs in (ip, udp or ip,udp; default
# both, side by side): smt-bench --encap on both roles.
ENCAP=${BENCH_ENCAP:-ip,udp}
case "$ENCAP" in
ip) TRANSPORTS=smt,quic,udp,tcp,tls ;;
udp) TRANSPORTS=smt-udp,quic,udp,tcp,tls ;;
ip,udp | udp,ip) TRANSPORTS=smt,smt-udp,quic,udp,tcp,tls ;;
*) echo "bench.sh: BENCH_ENCAP=$ENCAP: want ip, udp or ip,udp" >&2; exit 2 ;;
esac
if ! "$BIN" help | grep -q 'SMT is included'; then
	if [ "$MODE" = smoke ]; then
		echo "FAIL $TAG: $BIN was built without SMT (libsmt's engine missing)" >&2
		exit 1
	fi
	echo "bench.sh: WARNING: $BIN has no SMT; running the baselines only" >&2
	TRANSPORTS=quic,udp,tcp,tls
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.dat "$OUT"/*.png "$OUT"/raw.csv "$OUT"/summary.* "$OUT"/client.rc

ID=$$
NS_C=smtb${ID}c
NS_S=smtb${ID}s
IF_C=vb${ID}c
IF_S=vb${ID}s
ADDR_C=10.201.0.1
ADDR_S=10.201.0.2
SRV_PID=
SD_PIDS=
HOG_PIDS=
HB_PIN=

cleanup() {
	for p in $HOG_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $SD_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $SD_PIDS; do wait "$p" 2>/dev/null || true; done
	if [ -n "$SRV_PID" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
	# Whatever else still runs in the two hosts (an smtd or role started
	# by a pass that failed before its pid was kept) goes with them:
	# `ip netns del` alone leaves processes running, and a leftover smtd
	# held the caller's lock for half an hour once.
	for ns in "$NS_C" "$NS_S"; do
		left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
		[ -z "$left" ] || kill $left 2>/dev/null || true
	done
	ip netns del "$NS_C" 2>/dev/null || true
	ip netns del "$NS_S" 2>/dev/null || true
	[ -z "$HB_PIN" ] || rm -rf "$HB_PIN-srv" "$HB_PIN-cli"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_C"
ip netns add "$NS_S"
ip link add "$IF_C" type veth peer name "$IF_S"
ip link set "$IF_C" netns "$NS_C"
ip link set "$IF_S" netns "$NS_S"
ip -n "$NS_C" addr add $ADDR_C/24 dev "$IF_C"
ip -n "$NS_S" addr add $ADDR_S/24 dev "$IF_S"
for ns in "$NS_C" "$NS_S"; do ip -n "$ns" link set lo up; done
# TCP Fast Open for smtd's handshake connections, as docs/smtd.md asks of
# an operator (a new namespace starts at 1, client only); the TLS baseline
# does not ask for it. BENCH_TCP_FASTOPEN=1: smtd's set-ups without.
for ns in "$NS_C" "$NS_S"; do
	ip netns exec "$ns" sysctl -qw \
		net.ipv4.tcp_fastopen="${BENCH_TCP_FASTOPEN:-3}"
done
# BENCH_MTU: the veth MTU (default 1500); SMT sizes its packets to it.
MTU=${BENCH_MTU:-1500}
ip -n "$NS_C" link set "$IF_C" mtu "$MTU" up
ip -n "$NS_S" link set "$IF_S" mtu "$MTU" up

# A self-signed P-256 certificate for the TLS baseline and SMT keying.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=smt-bench -addext subjectAltName=DNS:smt-bench -days 2 \
	-keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null

# The "tls, mutual" set-up row: TLS/TCP with client certificates, a test CA
# and two P-256 leaves made as smtd's are (scripts/mkcerts.sh), so that
# "smtd full", a mutual handshake, has a baseline with its authentication.
# (An older smt-bench, e.g. a build compared A/B, has no such row.)
MTLS_SRV=
MTLS_CLI=
if "$BIN" server --help 2>&1 | grep -q -- --mtls-cert; then
	scripts/mkcerts.sh "$OUT/mtls" smt-bench >/dev/null
	CERT=client scripts/mkcerts.sh "$OUT/mtls" smt-bench >/dev/null
	MTLS_SRV="--mtls-cert $OUT/mtls/host.crt --mtls-key $OUT/mtls/host.key --mtls-ca $OUT/mtls/ca.crt"
	MTLS_CLI="--mtls-cert $OUT/mtls/client.crt --mtls-key $OUT/mtls/client.key --mtls-ca $OUT/mtls/ca.crt"
fi

# Client on CPU 0, server on CPU 1, when there are two.
PIN_C=
PIN_S=
# Both roles at nice -10 (BENCH_NICE): other work on a shared host then
# disturbs the measurement less; they sleep in poll(), never spin.
NICE="nice -n ${BENCH_NICE:--10}"
# BENCH_PIN=0 leaves both unpinned (a quick threads experiment).
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && [ "${BENCH_PIN:-1}" != 0 ]; then
	PIN_C="taskset -c 0"
	PIN_S="taskset -c 1"
fi
PIN_C="$NICE $PIN_C"
PIN_S="$NICE $PIN_S"
# --hog: one busy loop per CPU, as nice as the roles, for the whole run.
if [ "${BENCH_HOG:-0}" != 0 ]; then
	for cpu in $(seq 0 $(($(nproc) - 1))); do
		$NICE taskset -c "$cpu" sh -c 'while :; do :; done' &
		HOG_PIDS="$HOG_PIDS $!"
	done
	echo "bench.sh: CPU hogs on $(nproc) CPUs (pids$HOG_PIDS)"
fi

# Single-core AES-128-GCM, 16 KiB blocks (the record size), same run.
AES_KBPS=0
if [ "$MODE" != smoke ]; then
	secs=3; [ "$MODE" = quick ] && secs=1
	AES_KBPS=$($PIN_C openssl speed -elapsed -seconds $secs -bytes 16384 \
		-evp aes-128-gcm 2>/dev/null | awk '/^(AES-128-GCM|aes-128-gcm)/ { v=$NF } END { sub(/k$/, "", v); print v+0 }')
fi
AES_MBPS=$(awk -v k="$AES_KBPS" 'BEGIN { printf "%.1f", k / 1000 }')

# smtd on both hosts, when built: the set-up test also times SMT sessions
# that smtd sets up (smt_connect / smt_serve). BENCH_SMTD=0 leaves it out.
# Four services per encapsulation, one per kind of set-up (smt-bench
# --smtd-setups): bench.smt (resumption off: "smtd full"), bench.smt-resumed
# (TLS 1.3 resumption), bench.smt-0rtt (resumption with early data) and
# bench.smt-ticket (an SMT-ticket, docs/protocol.md 6.3, exported by the
# server smtd once the bench server serves it); the same for bench.smt-udp.
SMTD_SRV_ENV=
SMTD_ARGS=
CLIENT_SMTD_ARGS=
if [ "${BENCH_SMTD:-1}" != 0 ] && [ "$TRANSPORTS" != quic,udp,tcp,tls ] &&
	[ -x "$BUILD/bin/smtd" ] && [ -x "$BUILD/bin/smtctl" ]; then
	SD=$OUT/smtd
	rm -rf "$SD"
	mkdir -p "$SD"
	SD_NAMES=
	for b in bench.smt bench.smt-udp; do
		SD_NAMES="$SD_NAMES $b $b-resumed $b-0rtt $b-ticket"
	done
	# shellcheck disable=SC2086
	scripts/mkcerts.sh "$SD/certs" $SD_NAMES >/dev/null
	# shellcheck disable=SC2086
	CERT=host2 scripts/mkcerts.sh "$SD/certs" $SD_NAMES >/dev/null
	openssl genpkey -algorithm X25519 -out "$SD/tkt.key" 2>/dev/null
	mkdir -p "$SD/tickets"
	for h in srv cli; do
		cert=host
		[ $h = cli ] && cert=host2
		cat >"$SD/$h.conf" <<EOF
# smtd for smt-bench (written by scripts/bench.sh)
[smtd]
listen = 0.0.0.0
port = 7443
control_socket = $SD/$h.sock
log_level = ${BENCH_SMTD_LOG:-warning}
handshake_timeout = 5

[tls]
cert = $SD/certs/$cert.crt
key = $SD/certs/$cert.key
ca = $SD/certs/ca.crt
client_cert = require
ciphersuites = TLS_AES_128_GCM_SHA256

[defaults]
B = 48
max_msg = 1M
lifetime = 3600

EOF
		for b in bench.smt:7705:ip bench.smt-udp:7707:udp; do
			svc=${b%%:*}
			port=${b#*:}
			port=${port%:*}
			for k in :off -resumed:on -0rtt:0-rtt -ticket:off; do
				printf '\n[service %s%s]\nport = %s\nuids = 0\nencap = %s\nresumption = %s\n' \
					"$svc" "${k%:*}" "$port" "${b##*:}" "${k#*:}" >>"$SD/$h.conf"
				if [ "${k%:*}" = -ticket ] && [ $h = srv ]; then
					echo "ticket_key = $SD/tkt.key" >>"$SD/$h.conf"
				fi
			done
		done
		if [ $h = cli ]; then
			printf '\n[tickets]\ndir = %s/tickets\n' "$SD" >>"$SD/cli.conf"
		fi
	done
	sd_ok=1
	SD_PID_CLI=
	SD_PID_SRV=
	# Each smtd runs beside its host's role: pinned to the same CPU and
	# at the same nice, as the TLS baseline's handshakes run inside the
	# roles (nice, taskset and ip netns exec all exec: $! is smtd).
	for h in srv cli; do
		ns=$NS_S
		pin=$PIN_S
		[ $h = cli ] && ns=$NS_C && pin=$PIN_C
		# shellcheck disable=SC2086
		$pin ip netns exec "$ns" "$BUILD/bin/smtd" -f -c "$SD/$h.conf" \
			>"$SD/$h.log" 2>&1 &
		SD_PIDS="$SD_PIDS $!"
		if [ $h = cli ]; then SD_PID_CLI=$!; else SD_PID_SRV=$!; fi
		up=0
		for _ in $(seq 1 50); do
			if "$BUILD/bin/smtctl" -s "$SD/$h.sock" stats >/dev/null 2>&1; then
				up=1
				break
			fi
			sleep 0.1
		done
		if [ $up = 0 ]; then
			echo "bench.sh: smtd ($h) did not come up; see $SD/$h.log" >&2
			tail -5 "$SD/$h.log" >&2
			sd_ok=0
		fi
	done
	if [ $sd_ok = 1 ]; then
		SMTD_SRV_ENV="SMT_CTL_SOCKET=$SD/srv.sock"
		SMTD_ARGS="--smtd-service bench.smt --smtd-service-udp bench.smt-udp --smtd-setups all"
		CLIENT_SMTD_ARGS="--smtd-pids $SD_PID_CLI,$SD_PID_SRV"
	elif [ "$MODE" = smoke ]; then
		echo "FAIL $TAG: smtd is built but does not start" >&2
		exit 1
	else
		echo "bench.sh: WARNING: set-up through smtd not measured" >&2
	fi
fi

SMT_OPTS=
for o in ${BENCH_SMT_OPTS-rpc_timeouts=5000 busy_poll_us=50}; do SMT_OPTS="$SMT_OPTS --smt-opt $o"; done
[ "$MTU" = 1500 ] || SMT_OPTS="$SMT_OPTS --smt-opt mtu=$MTU"
[ "$TRANSPORTS" = quic,udp,tcp,tls ] || SMT_OPTS="$SMT_OPTS --encap $ENCAP"

# The smoke run has the threads test too (2 threads per side; a full run
# runs it in a pass of its own, unpinned, below).
SRV_MT=
[ "$MODE" = smoke ] && [ "$TRANSPORTS" != quic,udp,tcp,tls ] && SRV_MT="--threads 2"
# BENCH_SERVER_ARGS: more server options (e.g. "--threads 2" for a quick
# threads experiment with client options "--threads 2 --threads-only").
SRV_MT="$SRV_MT ${BENCH_SERVER_ARGS:-}"
# shellcheck disable=SC2086
nsenter --net=/var/run/netns/"$NS_S" env $SMTD_SRV_ENV $PIN_S ${BENCH_SERVER_WRAP:-} "$BIN" server $SMT_OPTS $SMTD_ARGS $SRV_MT $MTLS_SRV \
	--cert "$OUT/cert.pem" --key "$OUT/key.pem" --addr $ADDR_S \
	2>"$OUT/server.log" &
SRV_PID=$!

CLIENT_ARGS="$SMT_OPTS $SMTD_ARGS $CLIENT_SMTD_ARGS $MTLS_CLI --server $ADDR_S --ca $OUT/cert.pem --out $OUT --transports $TRANSPORTS --loss-if $IF_C --loss-if $IF_S@/var/run/netns/$NS_S --aes-MBps $AES_MBPS"
# Set-ups one at a time with 2 ms of idle between them (BENCH_SETUP_GAP_MS;
# 0: back to back, as before 2026-12-07): each set-up is timed alone, not
# behind the previous one's close on both hosts.
[ "$MODE" = smoke ] || CLIENT_ARGS="$CLIENT_ARGS --setup-gap-ms ${BENCH_SETUP_GAP_MS:-2}"
case "$MODE" in
quick) CLIENT_ARGS="$CLIENT_ARGS --quick" ;;
smoke) CLIENT_ARGS="$CLIENT_ARGS --smoke --verify -v ${SRV_MT}" ;;
esac
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$(date +%s)
rc=0
if [ -n "$SMTD_ARGS" ]; then
	# the tickets name the SMT ports the bench server holds: export them
	# once it serves every service, then the client smtd loads them
	want=4
	[ "$ENCAP" = ip ] || [ "$ENCAP" = udp ] || want=8
	for _ in $(seq 1 50); do
		[ "$("$BUILD/bin/smtctl" -s "$SD/srv.sock" -j service list | grep -o '"servers":1' | wc -l)" = $want ] && break
		sleep 0.1
	done
	for s in bench.smt-ticket bench.smt-udp-ticket; do
		[ "$ENCAP" = ip ] && [ $s = bench.smt-udp-ticket ] && continue
		[ "$ENCAP" = udp ] && [ $s = bench.smt-ticket ] && continue
		"$BUILD/bin/smtctl" -s "$SD/srv.sock" ticket export $s >"$SD/tickets/$s.ticket" ||
			echo "bench.sh: WARNING: no SMT-ticket for $s" >&2
	done
	kill -HUP "$SD_PID_CLI"
	sleep 0.5
fi
# shellcheck disable=SC2086
[ -n "$SMTD_ARGS" ] && export SMT_CTL_SOCKET="$SD/cli.sock"
{
	rc=0
	nsenter --net=/var/run/netns/"$NS_C" $PIN_C ${BENCH_CLIENT_WRAP:-} "$BIN" client $CLIENT_ARGS "$@" || rc=$?
	echo $rc >"$OUT/client.rc"
} | tee "$OUT/summary.txt"
rc=$(cat "$OUT/client.rc" 2>/dev/null || echo 1)
ELAPSED=$(( $(date +%s) - T0 ))
# The extra passes below run when the harness worked: smt-bench exits 1
# when test points failed (each is in the failures table and the exit
# status stays nonzero), which must not leave the later sections out.
PASSES=1
[ "$rc" = 0 ] || [ "$rc" = 1 ] || PASSES=0
if ! kill -0 "$SRV_PID" 2>/dev/null; then
	echo "FAIL $TAG: the smt-bench server died; see $OUT/server.log" >&2
	cat "$OUT/server.log" >&2
	rc=1
	PASSES=0
fi

# Extra passes of a full run, after the main tables, each with its own
# smt-bench server: extra_pass NAME MTU "SMT OPTIONS" "CLIENT ARGS".
# Sets PASS_ARGS (the client's arguments, for the report).
extra_pass() {
	kill "$SRV_PID" 2>/dev/null || true
	wait "$SRV_PID" 2>/dev/null || true
	ip -n "$NS_C" link set "$IF_C" mtu "$2"
	ip -n "$NS_S" link set "$IF_S" mtu "$2"
	# shellcheck disable=SC2086
	nsenter --net=/var/run/netns/"$NS_S" ${PASS_PIN_S-$PIN_S} "$BIN" server $3 ${PASS_SERVER_ARGS:-} \
		--cert "$OUT/cert.pem" --key "$OUT/key.pem" --addr $ADDR_S \
		2>"$OUT/server-$1.log" &
	SRV_PID=$!
	mkdir -p "$OUT/$1"
	PASS_ARGS="$3 --server $ADDR_S --ca $OUT/cert.pem --out $OUT/$1 --aes-MBps $AES_MBPS --hol-loss none --setup-count 0 $4"
	# shellcheck disable=SC2086
	if ! nsenter --net=/var/run/netns/"$NS_C" ${PASS_PIN_C-$PIN_C} "$BIN" client $PASS_ARGS >"$OUT/$1/summary.txt"; then
		echo "bench.sh: WARNING: the $1 pass failed; see $OUT/$1/summary.txt" >&2
		rc=1
	fi
	ELAPSED=$(( $(date +%s) - T0 ))
}

# SMT sending through AF_XDP (libsmt's xsk_tx option; full runs,
# BENCH_XSK=0 leaves it out): the targets' loaded and large-message tests
# again, SMT against TLS, at MTU 1500.
XSK=${BENCH_XSK:-1}
# Jumbo frames (BENCH_JUMBO=0 leaves it out): the large-message tests again
# at MTU 9000, SMT against TLS and TCP. At MTU 1500 SMT pays the kernel's
# per-packet cost of a raw socket about 45 times per 64 KiB, where TCP
# sends one GSO segment; this shows how much of the gap that is.
JUMBO=${BENCH_JUMBO:-9000}
# More than one core (BENCH_THREADS=0 leaves it out; default 2): 64 B
# RPCs, 32 outstanding per client thread, with 1 and with N threads per
# side (smt-bench --threads), both processes unpinned and at the same nice,
# so that N server and N client threads share the machine's cores.
THREADS=${BENCH_THREADS:-2}
if [ "$MODE" != full ] || [ "$TRANSPORTS" = quic,udp,tcp,tls ]; then
	XSK=0
	JUMBO=0
	THREADS=0
fi
[ "$ENCAP" = udp ] && XSK=0
# AF_XDP transmit writes native IP packets: SMT natively on IP only.
if [ "$XSK" != 0 ] && [ "$PASSES" = 1 ]; then
	echo "bench.sh: the loaded and large-message tests again, SMT sending through AF_XDP"
	extra_pass xsk "$MTU" "$SMT_OPTS --encap ip --smt-opt xsk_tx=1" \
		"--transports smt,tls --lat-sizes 64,16K,64K --tput-sizes 64,1K --loads 32"
	XSK_ARGS=$PASS_ARGS
fi
if [ "$JUMBO" != 0 ] && [ "$PASSES" = 1 ]; then
	echo "bench.sh: the large-message tests again at MTU $JUMBO"
	extra_pass jumbo "$JUMBO" "$SMT_OPTS --smt-opt mtu=$JUMBO" \
		"--transports smt,smt-udp,tls,tcp --lat-sizes 4K,16K,64K --tput-sizes 8K --loads 8"
	JUMBO_ARGS=$PASS_ARGS
fi

if [ "$THREADS" -gt 1 ] && [ "$PASSES" = 1 ]; then
	echo "bench.sh: the threads test, 1 and $THREADS threads per side (unpinned)"
	PASS_PIN_S=$NICE PASS_PIN_C=$NICE PASS_SERVER_ARGS="--threads $THREADS" \
		extra_pass threads "$MTU" "$SMT_OPTS" \
		"--transports $(echo "$TRANSPORTS" | sed 's/,udp//') --threads $THREADS --threads-only"
	THREADS_ARGS=$PASS_ARGS
fi

# CPU contention (issue 12 item 4; full runs, BENCH_HOGPASS=0 leaves it
# out, BENCH_HOGPASS=1 adds it to a quick run): the loaded tests again
# with a busy loop pinned to each CPU at the roles' nice level, so that
# each role gets about half a core and SMT's busy polling competes with
# it. Left out when the whole run is under --hog.
HOGPASS=${BENCH_HOGPASS:-}
if [ -z "$HOGPASS" ]; then
	HOGPASS=0
	[ "$MODE" = full ] && [ "$TRANSPORTS" != quic,udp,tcp,tls ] && HOGPASS=1
fi
{ [ "${BENCH_HOG:-0}" = 0 ] && [ "$MODE" != smoke ]; } || HOGPASS=0
if [ "$HOGPASS" != 0 ] && [ "$PASSES" = 1 ]; then
	echo "bench.sh: the loaded tests again under a CPU hog on every CPU"
	PASS_HOGS=
	for cpu in $(seq 0 $(($(nproc) - 1))); do
		$NICE taskset -c "$cpu" sh -c 'while :; do :; done' &
		PASS_HOGS="$PASS_HOGS $!"
	done
	HOG_PIDS="$HOG_PIDS $PASS_HOGS"
	extra_pass hog "$MTU" "$SMT_OPTS" \
		"--transports $(echo "$TRANSPORTS" | sed 's/,udp//; s/,quic//; s/,tcp//') --lat-sizes 64 --tput-sizes 64,1K,8K --loads 32 --goodput-secs 0"
	HOGPASS_ARGS=$PASS_ARGS
	for p in $PASS_HOGS; do kill "$p" 2>/dev/null || true; done
	for p in $PASS_HOGS; do wait "$p" 2>/dev/null || true; done
fi

# The host programs (issue 12 item 6; full runs with smtd, BENCH_HOSTBPF=0
# leaves it out): the loaded and 1 MiB tests once more with smtd on both
# hosts attaching smt_xdp and smt_tc to their veth ends ([bpf], the
# session filter on, so every SMT session comes from smtd), each point
# without and with the programs in the same round (the client detaches
# and re-attaches them between points with hostbpf.sh off|on).
# Sets HOSTBPF_ARGS.
hostbpf_pass() {
	HB_PIN=/sys/fs/bpf/smt-bench$ID
	for p in $SD_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $SD_PIDS; do wait "$p" 2>/dev/null || true; done
	SD_PIDS=
	mkdir -p "$OUT/hostbpf"
	for h in srv cli; do
		ns=$NS_S dev=$IF_S pin=$PIN_S
		[ $h = cli ] && ns=$NS_C dev=$IF_C pin=$PIN_C
		{
			cat "$SD/$h.conf"
			printf '\n[bpf]\ninterface = %s\nxdp_mode = auto\nsession_filter = yes\n' "$dev"
		} >"$SD/$h-bpf.conf"
		# nsenter, not `ip netns exec` (which remounts /sys): the pins
		# must be in the bpffs that hostbpf.sh's smtctl sees
		# shellcheck disable=SC2086
		SMT_BPF_PIN_DIR=$HB_PIN-$h $pin nsenter --net=/var/run/netns/"$ns" \
			"$BUILD/bin/smtd" -f -c "$SD/$h-bpf.conf" >"$SD/$h-bpf.log" 2>&1 &
		SD_PIDS="$SD_PIDS $!"
		n=0 # up to 5 s for smtd to attach them
		until "$BUILD/bin/smtctl" -s "$SD/$h.sock" -j stats 2>/dev/null |
			grep -q "\"bpf_attached\": *\"$dev\""; do
			n=$((n + 1))
			[ $n -lt 50 ] || {
				echo "bench.sh: WARNING: smtd ($h) did not attach its BPF programs; see $SD/$h-bpf.log" >&2
				tail -3 "$SD/$h-bpf.log" >&2
				return 1
			}
			sleep 0.1
		done
	done
	cat >"$OUT/hostbpf/hostbpf.sh" <<EOS
#!/bin/sh
# written by scripts/bench.sh: hostbpf.sh on|off attaches smt_xdp and
# smt_tc to both veth ends as smtd does (the same load, smtd's pinned maps)
# or detaches them
set -e
for side in srv:$NS_S:$IF_S cli:$NS_C:$IF_C; do
	h=\${side%%:*} rest=\${side#*:}
	ns=\${rest%%:*} dev=\${rest#*:}
	if [ "\$1" = on ]; then op="attach dev \$dev"; else op="detach dev \$dev"; fi
	SMT_BPF_PIN_DIR=$HB_PIN-\$h nsenter --net=/var/run/netns/\$ns \\
		"$BUILD/bin/smtctl" prog \$op >/dev/null
done
EOS
	chmod +x "$OUT/hostbpf/hostbpf.sh"
	PASS_PIN_S="env SMT_CTL_SOCKET=$SD/srv.sock $PIN_S" PASS_SERVER_ARGS="$SMTD_ARGS" \
		extra_pass hostbpf "$MTU" "$SMT_OPTS" \
		"--transports $(echo "$TRANSPORTS" | sed 's/,udp//; s/,quic//') --tput-sizes 64 --loads 32 --rounds ${BENCH_HOSTBPF_ROUNDS:-3} $SMTD_ARGS --smtd-sessions --pkts-if $IF_C --hostbpf $OUT/hostbpf/hostbpf.sh"
	HOSTBPF_ARGS=$PASS_ARGS
}
HOSTBPF=${BENCH_HOSTBPF:-1}
{ [ "$MODE" = full ] && [ -n "$SMTD_ARGS" ]; } || HOSTBPF=0
if [ "$HOSTBPF" != 0 ] && [ "$PASSES" = 1 ]; then
	echo "bench.sh: the loaded and 1 MiB tests again, smt_xdp and smt_tc attached by smtd and not"
	hostbpf_pass || HOSTBPF=0
fi

if [ -f "$OUT/latency.dat" ] && command -v gnuplot >/dev/null; then
	LOSSES=$(cd "$OUT" && ls hol_cdf_*.dat 2>/dev/null | sed 's/hol_cdf_\(.*\)\.dat/\1/' | sort -n | tr '\n' ' ')
	# What each plot is: run, rounds, and the SMT/TLS ratios it shows
	NROUNDS=$(awk -F, 'NR > 1 { r[$1] = 1 } END { print length(r) }' "$OUT/raw.csv")
	if [ "${NROUNDS:-0}" -gt 1 ]; then AGG="median of $NROUNDS rounds"; else AGG="1 round, no median"; fi
	META="make bench ($MODE), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M') UTC, host $(hostname), $AGG"
	# p50 SMT/UDP / TLS and SMT/IP / TLS per size (latency.dat: 2t = p50)
	LATR=$(awk '!/^#/ && $8 != "?" && $8 > 0 {
		u = ($10 != "?") ? sprintf("%.2f", $10 / $8) : "-"
		i = ($2 != "?") ? sprintf("%.2f", $2 / $8) : "-"
		q = ($10 != "?" && NF >= 12 && $12 != "?" && $12 > 0) ? sprintf("; %.2f", $10 / $12) : ""
		printf "%s%s B: %s/%s%s", sep, $1, u, i, q; sep = ", " }' "$OUT/latency.dat")
	# rate SMT/UDP / TLS at the most outstanding RPCs of each size
	THRR=$(awk '/^# size/ { sz = $3 } !/^#/ && NF { last[sz] = $0; if (!(sz in seen)) { seen[sz] = 1; order[++n] = sz } }
		END { for (k = 1; k <= n; k++) { split(last[order[k]], f, " ");
			r = (f[6] != "?" && f[5] != "?" && f[5] > 0) ? sprintf("%.2f", f[6] / f[5]) : "-"
			q = (f[6] != "?" && f[7] != "" && f[7] != "?" && f[7] > 0) ? sprintf("; %.2f", f[6] / f[7]) : ""
			printf "%s%s B x%s: %s%s", sep, order[k], f[1], r, q; sep = ", " } }' "$OUT/throughput.dat")
	if ! gnuplot -e "dir='$OUT'; losses='$LOSSES'; meta='$META'; agg='$AGG'; latratio='$LATR'; thrratio='$THRR'" \
		"$GP" 2>"$OUT/gnuplot.log"; then
		echo "bench.sh: gnuplot failed; see $OUT/gnuplot.log" >&2
		[ "$MODE" = smoke ] && rc=1
	fi
fi

# The targets table's rows that one smt-bench run cannot judge: 2 threads
# per side from the threads pass, native IP against the docs/performance.md
# in the tree before this run (BENCH_BASELINE: another one).
TARGETS_THREADS=
[ "$THREADS" -gt 1 ] && [ -f "$OUT/threads/summary.md" ] && TARGETS_THREADS="--threads $OUT/threads/summary.md"
BASELINE=${BENCH_BASELINE:-docs/performance.md}
if [ -f "$OUT/summary.md" ]; then
	# shellcheck disable=SC2086
	python3 scripts/bench-targets.py "$OUT/summary.md" $TARGETS_THREADS \
		${BASELINE:+--baseline "$BASELINE"} >"$OUT/targets.log" 2>&1 ||
		{ echo "bench.sh: scripts/bench-targets.py failed; see $OUT/targets.log" >&2; rc=1; }
fi

if [ "$MODE" = smoke ]; then
	# The targets table lists every target of issue 12, the native-IP
	# row judged (or "not measured") by bench-targets.py
	n=$(awk '/^### Targets \(issue 12\)/ { f = 1; next } f && /^###/ { f = 0 }
		f && /^\| / && !/^\| target / { n++ } END { print n + 0 }' "$OUT/summary.md")
	if [ "$n" != 16 ] || grep -q 'not judged by smt-bench' "$OUT/summary.md"; then
		echo "FAIL $TAG: the targets table of $OUT/summary.md has $n targets (want 16, each judged)" >&2
		rc=1
	fi
	# Every transport must have completed RPCs in the smoke run.
	for t in $(echo "$TRANSPORTS" | tr ',' ' '); do
		if ! awk -F, -v t="$t" '$3 == t && $8 > 0 && $19 == 0 { ok = 1 } END { exit !ok }' "$OUT/raw.csv"; then
			echo "FAIL $TAG: transport $t completed no RPC" >&2
			rc=1
		fi
	done
	# The threads test ran every transport but UDP with 2 threads per
	# side (QUIC: a connection per thread, a server reuseport group)
	for t in $(echo "$TRANSPORTS" | tr ',' ' '); do
		[ -n "$SRV_MT" ] && [ "$t" != udp ] || continue
		if ! awk -F, -v t="$t" '$2 == "threads" && $3 == t && $23 == 2 && $8 > 0 && $19 == 0 { ok = 1 } END { exit !ok }' "$OUT/raw.csv"; then
			echo "FAIL $TAG: threads test, 2 threads per side, over $t: no RPC" >&2
			rc=1
		fi
	done
	# The I/O instruments (bench.json): system calls per RPC, datagrams
	# per GSO send and per receive call of SMT over UDP's and QUIC's
	# clients in the throughput test
	if ! python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
for t in sys.argv[2].split(","):
    if t not in ("smt-udp", "quic"):
        continue
    r = [m for m in j["medians"] if m["transport"] == t and m["test"] == "throughput"]
    assert r, t + ": no throughput row"
    for m in r:
        assert m["syscalls_client_per_rpc"] > 0, (t, m["syscalls_client_per_rpc"])
        g = m["gso_segments_per_send"]
        assert g == 0 or g >= 1, (t, g)
        assert m["datagrams_per_rx_call"] > 0, (t, m["datagrams_per_rx_call"])' \
		"$OUT/bench.json" "$TRANSPORTS" 2>"$OUT/io.err"; then
		echo "FAIL $TAG: I/O counters in bench.json: $(tail -1 "$OUT/io.err")" >&2
		rc=1
	fi
	# bench.json (json-c) parses, with a median row per summary.csv row
	if ! python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
n = sum(1 for _ in open(sys.argv[2])) - 1
assert j["rounds"] >= 1 and len(j["medians"]) == n, (len(j["medians"]), n)' \
		"$OUT/bench.json" "$OUT/summary.csv" 2>"$OUT/json.err"; then
		echo "FAIL $TAG: bench.json: $(tail -1 "$OUT/json.err")" >&2
		rc=1
	fi
	if [ $rc = 0 ]; then
		echo "PASS $TAG: transports $TRANSPORTS ran every workload (${ELAPSED}s)"
	else
		echo "FAIL $TAG: see the messages above and $OUT/raw.csv" >&2
	fi
	exit $rc
fi
[ $rc = 0 ] || echo "bench.sh: WARNING: some points failed (exit $rc); see above and $OUT/raw.csv" >&2

# ---- docs/performance.md ------------------------------------------------------
DOC=docs/performance.md
[ "$MODE" = quick ] && DOC=$OUT/performance.md
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
OS=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || echo unknown)
KTLS=$(grep -h '^TLS:' "$OUT/summary.md" 2>/dev/null | head -1 || true)
CMD="make bench"
[ "$MODE" = quick ] && CMD="make bench QUICK=1"
{
	echo "# smt performance"
	echo
	echo "Generated by \`$CMD\` (scripts/bench.sh, smt-bench(1)) on $START;"
	echo "do not edit by hand: the next run overwrites it. Run time ${ELAPSED} s."
	echo
	echo "## Machine and method"
	echo
	echo "- $(nproc) CPUs ($CPU), kernel $(uname -r), $OS, $(openssl version)."
	echo "- Load average before the run: $LOAD_BEFORE (the cores are shared with other work, so expect noise)."
	[ "${BENCH_HOG:-0}" = 0 ] || echo "- A CPU hog (shell busy loop) on every CPU at the roles' nice level for the whole run (--hog)."
	echo "- Two network namespaces joined by one veth pair (MTU 1500); the server"
	echo "  pinned to CPU 1, the client to CPU 0, both at nice ${BENCH_NICE:--10}. One client"
	echo "  thread, one server thread (but in the section on more than one core)."
	echo "- Transports: SMT in both encapsulations, side by side in the same run:"
	echo "  smt-ip natively on IP (libsmt's raw IP backend, protocol 253) and"
	echo "  smt-udp over UDP (libsmt's UDP backend, docs/protocol.md 1.1: the UDP"
	echo "  ports are the SMT ports, 48 bytes of headers after IP instead of 40, so"
	echo "  8 bytes less payload per packet), each on an endpoint of its own on the"
	echo "  server; sessions keyed by"
	echo "  a TLS 1.3 handshake and the TLS exporter that the benchmark does itself;"
	echo "  the set-up test also times sessions from smtd when it is built), UDP (one datagram per message, no reliability beyond a 50 ms"
	echo "  resend of unanswered requests; runs only sizes that fit one datagram,"
	echo "  so not 1 MiB and not the head-of-line test), TCP (4-byte length"
	echo "  prefix, TCP_NODELAY), TLS 1.3 over TCP (OpenSSL, TLS_AES_128_GCM_SHA256,"
	echo "  P-256 certificate checked by name, same framing inside TLS) and QUIC"
	echo "  (ngtcp2 $(pkg-config --modversion libngtcp2 2>/dev/null || echo '?') with GnuTLS $(pkg-config --modversion gnutls 2>/dev/null || echo '?'), the same suite and certificate, one"
	echo "  bidirectional stream per RPC: what it does and does not do is in"
	echo "  \"The QUIC baseline\" below)."
	echo "- Every request starts with a 16-byte header (ID, response size); the"
	echo "  server echoes the request. TCP and TLS use one connection per client"
	echo "  thread; N outstanding RPCs means N requests pipelined on that connection,"
	echo "  answered in order. SMT keeps N requests outstanding on one session,"
	echo "  QUIC N streams on one connection."
	echo "- Loss: bpf/bench_loss.bpf.c (XDP on both veth ends) drops TCP, UDP and"
	echo "  SMT packets alike (SMT over UDP and QUIC among the UDP ones) with the given probability, only during the"
	echo "  head-of-line test. Attaching XDP to a veth turns off TSO/GSO on the"
	echo "  peer, so in that test TCP sends MTU-sized packets, as SMT always does."
	echo "- Interleaving: each round runs every test point once per transport, the"
	echo "  transports' order rotating each round; tables show medians over rounds."
	echo "- SMT busy-polls (endpoint option busy_poll_us, see docs/api.md): while a"
	echo "  message is arriving, its endpoint polls up to 50 us for the next packet"
	echo "  before it sleeps. TCP needs no such thing here: GSO/GRO hand it 64 KiB"
	echo "  at a time. The CPU columns include what the polling costs."
	echo "- $KTLS"
	echo "- Single-core AES-128-GCM measured in the same run:"
	echo "  \`openssl speed -elapsed -bytes 16384 -evp aes-128-gcm\` = $AES_MBPS MB/s."
	echo
	echo "Exact command lines:"
	echo
	echo '```'
	echo "$CMD"
	echo "smt-bench server$SMT_OPTS${SMTD_ARGS:+ $SMTD_ARGS} --mtls-cert mtls/host.crt --mtls-key mtls/host.key --mtls-ca mtls/ca.crt --cert cert.pem --key key.pem --addr $ADDR_S"
	echo "smt-bench client $CLIENT_ARGS $*" | sed "s|$OUT|\$(BUILD)/bench|g; s|$ID|<pid>|g; s|--smtd-pids [0-9,]*|--smtd-pids CLI,SRV|"
	echo '```'
	echo
	echo "## Results"
	cat "$OUT/summary.md"
	echo
	cat <<'EOT'
## The QUIC baseline: what it does and does not do

`smt-bench`'s `quic` transport (user/tools/smt-bench/quic.c) is written
on ngtcp2 0.12 with GnuTLS, the QUIC stack Debian 12 ships, as a QUIC
application would use it; nothing in it is slowed down on purpose, and
what it leaves out is listed here, so that the SMT/QUIC columns can be
judged.

What it does:
- TLS 1.3 inside QUIC v1, TLS_AES_128_GCM_SHA256 only, X25519 (then
  P-256) key exchange, the same P-256 certificate as TLS and SMT, checked
  by name ("smt-bench"); ALPN "smt-bench". Every packet is sealed with
  AES-128-GCM and its header protected (AES-ECB mask), as QUIC requires.
- One bidirectional stream per RPC: the request (the 16-byte header and
  the payload) with FIN, the echo back on the same stream. As many
  streams open at once as RPCs outstanding (1024 allowed, one more
  granted with MAX_STREAMS as each closes), on one connection.
- Flow control never limits: 4 MiB per stream, 64 MiB per connection,
  credit returned as soon as the data is read; the server grants 512
  more streams (MAX_STREAMS) each time 512 have closed.
- Congestion control: ngtcp2's CUBIC, with its pacing (cwnd / smoothed
  RTT x 1.25, released in bursts of the send quantum, 1 ms slack for the
  event loop) and RFC 9002 loss recovery (packet and time thresholds,
  PTO). One library default changed: the initial RTT is 10 ms, not 333
  ms, because ngtcp2 0.12 paces the handshake at it before it has an RTT
  sample (with 333 ms every set-up waited 26 ms for the client's
  Finished). Timers have millisecond resolution (the client's `poll`,
  the server's timerfd, like the libev loop of ngtcp2's examples).
- Packets: 1472-byte UDP payloads (MTU 1500, path MTU discovery off);
  small streams' frames packed together into one packet; streams sent
  round robin, a packet's worth each in turn, so that a 1 MiB stream
  does not starve a 64 B one behind it.
- System calls: a request with no other RPC in flight is sent at once;
  otherwise requests wait for the event loop's next flush, which packs
  every stream issued meanwhile and builds every packet the congestion
  window and pacing allow (up to 64), sent in one `sendmmsg`, cut into
  UDP GSO messages (`UDP_SEGMENT`, up to 44 packets each); receiving uses
  `recvmmsg` of 16 buffers with `UDP_GRO`, a coalesced buffer split by
  its segment size. bench.json's syscalls_client_per_rpc,
  gso_segments_per_send and datagrams_per_rx_call count them for QUIC as
  for SMT.
- Set-up: a full 1-RTT handshake per connection in the set-up test;
  "quic resumed" resumes the previous connection's session with its
  ticket and sends the first request as 0-RTT beside the Initial; the
  server checks it against replay (GnuTLS anti-replay, a table of the
  ClientHellos seen) and answers it in its first flight.
- Threads (the section on more than one core): `smt-bench server
  --threads N` runs N QUIC servers, one per server thread, whose UDP
  sockets form one reuseport group on one port; a classic BPF program
  steers each datagram by the first byte of its destination connection
  ID modulo N, and each thread issues only connection IDs that steer to
  it, so every packet of a connection reaches the thread that holds it
  (as QUIC-LB and the eBPF steering of production QUIC servers do). The
  client's first DCID is random but for that byte, which names its
  thread's server thread: one connection per thread on each side, as TLS
  and TCP have (connections handed to server threads in turn), and no
  datagram crosses threads. SMT over UDP shares one port the same way,
  but spreads one session's messages over every member.

What it does not do:
- No ACK_FREQUENCY frames (not in ngtcp2 0.12): ACKs follow ngtcp2's
  defaults, one per two ack-eliciting packets, max_ack_delay 25 ms.
- No hardware offload of QUIC's crypto (none exists here) and no
  kernel bypass; one thread per side, like every other transport here
  (but in the threads test).
- No ECN, no connection migration, no address validation (Retry), no
  stream priorities beyond round robin.
- BBR is not used (ngtcp2 0.12 has BBR and BBRv2; CUBIC is its default
  and the common choice).

EOT
	if [ "$XSK" != 0 ] && [ -f "$OUT/xsk/summary.md" ]; then
		echo "## SMT sending through AF_XDP (xsk_tx)"
		echo
		echo "Same run, at MTU 1500: SMT's endpoints with libsmt's opt-in AF_XDP"
		echo "transmit path (docs/api.md: copy mode, Ethernet and IP headers"
		echo "written by libsmt, past the kernel's routing, netfilter and"
		echo "qdiscs; receiving stays on the raw socket), SMT natively on IP"
		echo "(the path writes IP packets itself) against TLS. The"
		echo "targets above are judged on the default raw-socket path; its own"
		echo "targets table follows for comparison."
		echo
		echo '```'
		echo "smt-bench client $XSK_ARGS" | sed "s|$OUT|\$(BUILD)/bench|g; s|$ID|<pid>|g"
		echo '```'
		sed 's/^### Targets (issue 12), from the medians above/### The targets, on this pass/' "$OUT/xsk/summary.md"
		echo
	fi
	if [ "$JUMBO" != 0 ] && [ -f "$OUT/jumbo/summary.md" ]; then
		echo "## The large-message tests at MTU $JUMBO (jumbo frames)"
		echo
		echo "Same run, same machine, after the tables above: both veth ends at"
		echo "MTU $JUMBO, SMT packets sized to it, SMT in both encapsulations against TLS and TCP. The"
		echo "targets are judged at MTU 1500 above; this shows how much of SMT's"
		echo "large-message gap is the per-packet cost of raw sockets (TCP hands"
		echo "the stack one 64 KiB GSO segment at either MTU)."
		echo
		echo '```'
		echo "smt-bench client $JUMBO_ARGS" | sed "s|$OUT|\$(BUILD)/bench|g; s|$ID|<pid>|g"
		echo '```'
		# its own targets table would judge MTU $JUMBO: left out
		sed '/^### Targets/,$d' "$OUT/jumbo/summary.md"
		echo
	fi
	if [ "$THREADS" -gt 1 ] && [ -f "$OUT/threads/summary.md" ]; then
		echo "## More than one core: 1 and $THREADS threads per side"
		echo
		echo "Same run, after the tables above, at MTU $MTU: 64 B RPCs, 32"
		echo "outstanding per client thread. Unlike the tables above, neither"
		echo "process is pinned: the client's and the server's threads share"
		echo "the machine's $(nproc) cores. 1 thread per side runs against the"
		echo "server's single-threaded service; $THREADS threads per side against"
		echo "\`smt-bench server --threads $THREADS\`: TLS and TCP with a connection"
		echo "per client thread and a server thread per connection, SMT with a"
		echo "session per client thread, natively on IP a server endpoint (and"
		echo "thread) per session, over UDP one reuseport group of $THREADS endpoints"
		echo "on one port (smt_endpoint_open_group, docs/api.md), every session on"
		echo "every member, each member serving the messages of its lane; QUIC with"
		echo "a connection per client thread, one reuseport group of $THREADS sockets"
		echo "on one port steered by connection ID, a connection per server thread"
		echo "(\"The QUIC baseline\" above says how)."
		echo
		echo '```'
		echo "smt-bench server$SMT_OPTS --threads $THREADS --cert cert.pem --key key.pem --addr $ADDR_S"
		echo "smt-bench client $THREADS_ARGS" | sed "s|$OUT|\$(BUILD)/bench|g; s|$ID|<pid>|g"
		echo '```'
		sed '/^### Targets/,$d' "$OUT/threads/summary.md"
		echo
		cat <<'EOT'
How to read it on this machine: 1 thread per side is two busy threads
on two cores (plus softirq work, which a veth runs on the sending CPU);
2 threads per side is four on the same two. The second thread per side
can only add what the first one leaves: the time each thread waits for
the other side, and whatever other work on the machine leaves idle. At
a constant CPU per RPC the rate grows only with the CPU the benchmark
gets, so read the rate ratio together with the CPU per RPC columns
(what the group and its steering cost) and with the machine's idle
time. The "CPUs busy" and "ceiling" columns do that arithmetic: when
one thread per side already keeps, say, 1.7 of the 2 CPUs busy, two
threads per side at the same CPU per RPC can gain at most 2 / 1.7 =
1.18x, and the issue's target (2 threads >= 1.6x 1 thread) is out of
reach on this machine unless the CPU per RPC falls with more threads
(TCP's does: more segments per system call when four threads keep its
sockets full); a transport whose single thread leaves a CPU idle (a
ceiling of 2) has room to show it. The target needs two cores per side,
four in all, otherwise idle; "How it scales on paper" below goes to 16
cores and more.

### How it scales on paper, 16 cores and more

Per RPC, an SMT-over-UDP group member does the work of a single endpoint
plus a classic BPF run in the kernel (a dozen instructions per datagram)
and the lane computation again in user space; it shares no lock and no
cache line with the other members on the fast path, only two counters
per session raised once per request and per control packet. Datagrams
the kernel steered to the wrong member (a GRO or GSO buffer holding
several messages is steered by its first) cost a copy into the right
member's queue and at most one eventfd write per turn: with N members
and a sender that packs small messages of one size into one GSO buffer,
up to (N-1)/N of such a buffer moves once more, so GRO's saving shrinks
as N grows but the work stays per datagram, not per member. So the
group's rate should grow with members until a shared resource is full:
the NIC's receive queues and their interrupts (spread them with RSS so
that each member's core takes its own queue's softirq), the peer, or
memory bandwidth for 1 MiB messages (one copy in, one AEAD pass and one
copy out per byte). The per-session counters are the one shared write:
with 16 or more members hammering one session they become a contended
cache line per request; sessions spread over many peers do not share
them. TLS and TCP scale by connections, one per thread, which is what
smt-bench compares against; a single TCP connection cannot use two
cores for its byte stream, while one SMT session's messages spread over
all members of the group.

EOT
	fi
	if [ "$HOGPASS" != 0 ] && [ -f "$OUT/hog/summary.md" ]; then
		echo "## Under CPU contention: the loaded tests with a CPU hog on every CPU"
		echo
		echo "Same run, after the sections above, at MTU $MTU, pinned as the main"
		echo "tables: a shell busy loop pinned to each CPU at the roles' nice level"
		echo "for the whole pass, so the client and the server each get about half"
		echo "of their core and every wake-up waits for the scheduler to take the"
		echo "CPU from the hog. SMT's endpoints run with the same options as above"
		echo "(busy polling included: \`busy_poll_us\` in the command), so this shows"
		echo "whether polling for the next packet collapses when it competes for the"
		echo "CPU (issue 12 item 4). Compare SMT/TLS here with the same ratio in"
		echo "the main tables, not the absolute rates: a woken role waits for the"
		echo "scheduler to preempt the hog, so the loaded rates fall below half"
		echo "of theirs for every transport (unloaded, a CPU kept busy by the hog"
		echo "wakes faster than an idle one, so the 64 B p50 can come out lower)."
		echo
		echo '```'
		echo "smt-bench client $HOGPASS_ARGS" | sed "s|$OUT|\$(BUILD)/bench|g; s|$ID|<pid>|g"
		echo '```'
		sed '/^### Targets/,$d' "$OUT/hog/summary.md"
		echo
	fi
	if [ "$HOSTBPF" != 0 ] && [ -f "$OUT/hostbpf/summary.md" ]; then
		echo "## The host programs in the path: smt_xdp and smt_tc attached"
		echo
		echo "Same run, after the sections above, at MTU $MTU, pinned as the main"
		echo "tables: smtd on both hosts with \`[bpf] interface\` set to its veth end,"
		echo "so it attaches smt_xdp (XDP, native mode on a veth) and smt_tc (clsact"
		echo "egress) with the session filter on, and every SMT session of this pass"
		echo "is set up by smtd (\`smt-bench client --smtd-sessions\`: the filter"
		echo "passes only sessions smtd wrote into its map). Each point runs twice"
		echo "per round, the programs detached and attached again as smtd attaches"
		echo "them (\`smtctl prog detach\`, \`smtctl prog attach\`: the same load on"
		echo "smtd's pinned maps), the order alternating by round; SMT in both"
		echo "encapsulations against TLS and TCP, whose packets the programs parse"
		echo "and pass."
		echo
		echo '```'
		echo "smt-bench client $HOSTBPF_ARGS" | sed "s|$OUT|\$(BUILD)/bench|g; s|$ID|<pid>|g"
		echo '```'
		echo
		sed '/^TLS: /d' "$OUT/hostbpf/summary.md"
		echo
		cat <<'EOT'
What the rows mean. On a veth, attaching an XDP program to one end
takes the software GSO features off its peer (the veth driver does that
while an XDP program is attached), so with the programs
attached every packet crosses the veth at MTU size: TCP's 64 KiB
segments and SMT over UDP's GSO buffers are cut into MTU-sized packets
before the veth instead of crossing it whole (SMT over UDP's batches
of small messages too), and each of them runs smt_xdp on the way in
and smt_tc on the way out. The packets-per-RPC columns show how many
more packets there are; where they grow, the added CPU per RPC is
mostly that segmentation and the per-packet path behind it, not the
programs' instructions. SMT natively on IP sends one packet per skb
either way, so its rows (the 1 MiB one above all, hundreds of packets
per RPC) measure what the programs themselves cost per packet: both
runs, smt_tc on the way out and smt_xdp on the way in (parsing, the
session filter's hash lookup, per-session and per-message counters, a
ring-buffer event per completed message). `make bench-bpf` (docs/bpf.md)
times each program alone. A 64 B row's few packets per RPC put its
per-packet figure within this shared machine's noise (a negative value
is noise).

On a physical NIC this GSO effect does not exist: the sender's TSO or
GSO does not depend on what the receiver attaches, the wire carries
MTU-sized frames anyway, the driver runs XDP once per frame before the
stack builds an skb, and GRO runs after XDP (XDP_PASS), so the stack
above still receives coalesced buffers; smt_tc runs once per skb on the
way out, before a GSO skb is segmented. What stays is the per-frame
cost of smt_xdp (the 64 B figure above), and that drivers turn off
hardware LRO while an XDP program is attached (software GRO takes its
place) and need multi-buffer XDP for frames above about 3.5 KB.

EOT
	fi
	if [ -n "$PKTCOST" ] && [ -f "$PKTCOST" ]; then
		echo "## CPU per packet by socket type (make bench-pktcost)"
		echo
		echo "Measured just before the tables above, on the same machine."
		sed '1,/^$/d' "$PKTCOST"
		echo
	fi
	cat <<'EOT'
## Where SMT misses a target, and why

The tables above judge SMT over UDP (the mode issue 12 is steered by);
native IP is reported beside it. Compare ratios within one run, never
across runs on different hosts: the host under this VM has changed
between sessions (an AMD EPYC until 2026-12-06 about 18:00 UTC, an Intel
Xeon since, on which every transport's unloaded p50 is about twice the
EPYC's and the kernel transports' loaded rates are higher), and the
native-IP "no regression" row compares absolute figures with the
previous docs/performance.md, so after a change of host its verdict says
nothing about the code. Profiles: run the bench with
`BENCH_CLIENT_WRAP="perf record -g -o cli.data"` and
`BENCH_SERVER_WRAP=...`. Each point names the docs/engine.md or
docs/smtd.md section that has the measurement, with its command, time
and load.

- 32 outstanding at 64 B, 1 KiB and 8 KiB (docs/engine.md, "The pipeline
  bubble at 32 outstanding" and "Reads per RPC at 32 outstanding"). At
  64 B the client is on CPU about 86 % of the time (perf sched,
  2026-12-07), so the rate follows its CPU per RPC, 3.2 to 3.4 us
  against TLS's 4.2 to 4.4: 1.4x TLS needs about a fifth less. What is
  left per small RPC: the kernel's datagram path and waking the peer
  (about 15 % of each role; on this VM a wake-up costs the waker 15 to
  20 us of CPU), the timerfd (4 % of the client), AES-GCM through
  OpenSSL with its tag look-ups by parameter name (16 %), malloc and
  free (5 %). At 8 KiB AES-GCM is 42 % of either role, the same bytes
  TLS encrypts, so 1.4x there needs the rest of SMT's per-message cost
  halved (fewer, larger records; fewer copies). The timer lever
  (docs/engine.md "Timers at the wait", 2026-12-07): on this VM every
  programming of a kernel timer under a few ms ahead costs 10 to 20 us
  (a TSC-deadline write through the hypervisor), and the timerfd was set
  0.04 times per RPC and fired 0.01 times at x32, stalling the client in
  mid-turn so that the server ran dry and slept 4 times as often. Now a
  busy endpoint whose caller keeps time at its waits (smt-bench's
  default `caller_timers=1`, smt-proxy, an `smt_wait` caller) sets no
  timerfd; unloaded it keeps the timerfd, so that no wait carries a
  timeout of its own (cancelling it on the wake-up's path was
  `caller_timers`' 1.4-1.5x UDP p50). A/B against main on the EPYC
  host: 64 B x32 2.37 -> 3.02x TLS, 1 KiB 2.16 -> 2.55, 8 KiB 1.60 ->
  1.71, unloaded 64 B p50 1.08 -> 1.09x UDP.
- 1 MiB goodput (docs/engine.md, "1 MiB goodput over UDP"). Both roles
  are CPU-bound (client 86 %, server 93 % of the wall time). Per RPC:
  about 20 GRANTs, 19 `sendmmsg` and 24 `recvmmsg`; the client's time
  goes to the kernel's `sendmmsg` (29 %, its copy 12 %), memmove (18 %)
  and AES (29 %), the server's to `recvmmsg` (16.5 %), the GRANTs'
  `sendmmsg` (12 %) and AES (37 %). SMT's p50 is four RPCs queued
  (Little's law on the rows: libsmt takes all four outstanding requests
  at once), TLS's about two. Sealing the whole message in the send call
  (no copy) measured worse (the sealed MiB leaves the cache before the
  kernel copies it), and a larger grant window made the simulator's
  preemption test send DATA again. What TCP has and SMT over UDP lacks
  is 64 KiB per skb: the kernel module's GSO path, or a receive path
  with fewer user-space steps per datagram (about 150 us per MiB).
  How far 1.4x is at MTU 1500 on this veth, from the run of 2026-12-07
  03:23 (bench-pktcost udp-gso at 1440 B: 202 ns per packet for the
  sender, the veth's receive path included, and 153 for the receiver;
  AES-128-GCM 3870 MB/s on one core): a MiB is 728 packets, so the
  kernel alone costs the client about 147 us and the server about
  111 us per MiB, and AES 271 us each, a floor of about 420 us per MiB
  per role with nothing else done. 1.4x TLS's 1570 MB/s is 2198 MB/s,
  477 us per MiB with both roles busy all the time: everything else SMT
  does per MiB (records, GRANTs, ACKs, reassembly, the copy the sealing
  makes) would have to fit in about 60 us, where it takes about 530
  today. TCP itself moved 1781 MB/s in that run (1.13x TLS). The target
  needs fewer, larger packets (the kernel module's GSO path with TSO;
  the MTU 9000 section), not only a cheaper user-space path.
- Unloaded 16 and 64 KiB (docs/engine.md, "Unloaded 4 KiB to 64 KiB
  RPCs"). 4 KiB was an anomaly, fixed on 2026-12-07: multi-packet RPCs
  gave no round-trip sample, so the client's timerfd moved twice per RPC
  (about 14 us a call on this VM), and the ACK riding ahead of each
  request cost the server a second, empty read. 16 KiB is two records
  and leaves in two `sendmmsg` (11 datagrams and 1); 64 KiB takes 5
  `sendmmsg` and 5 to 8 `recvmmsg` per side; the receiver's decrypt is
  7 to 11 us a record, where TLS moves the same bytes through one TCP
  socket as a record stream. Since the run of 03:22 a message the
  unscheduled window covers whole sends its last, shortest record first,
  so the peer's wake-up starts before record 0 is sealed, and record 0
  then opens straight into the message's buffer (docs/engine.md "The
  last record first": in A/B runs 16 KiB 0.90 -> 0.74x TLS, 64 KiB
  0.94 -> 0.90x). Natively on IP the raw socket has no GSO
  or GRO: 75 to 90 `recvmmsg` per 64 KiB RPC.
- Head-of-line natively on IP (reported beside the UDP mode): a lost
  small request or response is recovered by the client's tail-loss
  probe (docs/engine.md, Timeouts rule 3); an instrumented build sorted
  the small RPCs slower than 1 ms and found most of them held by a
  server busy with the 1 MiB echoes' per-packet path (no loss), not
  waiting for loss recovery (docs/engine.md, Timers).
- 2 threads per side (the threads section: its "CPUs busy" and "ceiling"
  columns). With one thread per side SMT over UDP keeps both of this
  machine's CPUs busy (2026-12-07 11:21, EPYC host: 343 kRPC/s x (3.15 +
  2.75) us per RPC = 2.02 CPUs), so a second thread per side can only
  raise the rate by making each RPC cheaper: 1.6x needs 3.6 us per RPC
  for both sides together, 38 % less than one thread's 5.9. It adds 2.7
  us instead (227 kRPC/s, 4.6 / 4.0 us). Where that goes was measured
  with `smt-bench --threads-pair C:S` and perf stat / perf record on
  both roles (docs/engine.md "A second thread per side on 2 CPUs"). The
  server's rise is the group's: against one client thread it goes from
  2.75 to 4.85 us per RPC. Each member has half the work and sleeps more
  often (0.077 context switches per RPC against 0.010), and because
  every GSO buffer of requests holds both lanes, the member that reads
  it wakes the other through its eventfd (0.061 per RPC). The client's
  rise is mostly its second thread (two client threads against the
  single-threaded server: 3.15 to 4.12 us, 0.040 context switches per
  RPC against 0.001); the rest is replies coming back in two batches
  (8.6 instead of 15.1 datagrams per receive). libsmt and libcrypto add
  about 0.15 us per RPC per side; the rest is sleeping, waking and
  system calls, which on this guest re-enable interrupts through the
  hypervisor (`pvm_irq_enable` goes from 17 to 27 % of the server's
  samples). Two fixes were tried and not kept: skipping the hand-over
  wake-up while the target member is inside `smt_process()` saved only
  10 % of the writes, because the target is usually asleep; a
  speculative read for group members traded fewer `epoll_wait` calls for
  as many more empty `recvmmsg` calls. The target needs two otherwise
  idle cores per side.
- Set-up through smtd (docs/smtd.md, "Where the time of a set-up goes"
  and "The 0-RTT set-up"). "smtd full" is a mutual TLS 1.3 handshake
  between the smtds (the client's certificate too, which the tls row
  does not check; the row "tls, mutual" does: against it "smtd full"
  was 0.99-1.36x, median 1.22, in A/B runs of 2026-12-07 where it was
  1.36-2.09x plain TLS), one more round trip for the parameter exchange
  and four process hops; its CPU is OpenSSL's handshake on both sides.
  0-RTT: the client smtd builds its next ClientHello while idle
  (2026-12-07) and answers the application about 15 us after
  `connect()`; the server spends ~300 us of CPU from accepting the
  connection to handing the session over (docs/smtd.md "The 0-RTT
  server's CPU, profiled"), nearly all of it OpenSSL 3.0's PSK-with-ECDHE
  server handshake, which writes the server's whole first flight before
  `SSL_read_early_data` returns the early PROPOSE; the flight now waits
  corked until the application took epoch 0 and the server's `SSL` is
  made while idle (~60-80 us of CPU off the path, not visible in the
  first RPC beyond this host's noise). SMT-ticket 0-RTT (docs/smtd.md
  "SMT-ticket server: epoch 0 first"): the server now pushes epoch 0 before it makes
  epoch 1 and its ACCEPT, and the client's pooled key pairs carry their
  X25519 with the ticket's share; in A/B runs the first RPC went from
  0.86 to 0.60x TLS full; the client's HELLO signature now takes an
  ECDSA nonce made while idle (docs/smtd.md "The application's side of
  'ready', and the HELLO's signature": HELLO sent 122 -> 53 us after the
  connect, first RPC 0.99 -> 0.92x TLS 0-RTT's in the same runs). What is
  left on its path: the application's side of "ready" (~150 us: endpoint
  open, control hop, answer), the client's TCP connect, the server's
  ECDSA check of the HELLO (~150 us) and its X25519 (~80 us), both hosts'
  smtd and application sharing a CPU. Full and resumed, step by step (docs/smtd.md "Full and
  resumed set-ups, step by step", 2026-12-07): mutual authentication is
  most of "smtd full"'s gap, a like-for-like comparison the plain tls
  row does not make (with the server smtd's `client_cert = none`, 1.98x ->
  1.44-1.55x in the same A/B runs: the server's step after the client's
  Finished falls from ~350 to ~20 us); what is left is OpenSSL 3.0's
  server flight (~700 us with the client's steps), the parameter
  exchange and the application's side. Resumed waits for the server's
  flight (~380 us, inherent to a 1-RTT resumption) and then ~270 us for
  PROPOSE -> ACCEPT, which a client could skip with the ACCEPT it cached
  (not done: the application would lose a session whose new ACCEPT
  differs; it needs a docs/protocol.md 6.4 rule first). Resumed and full
  set-ups now send a ClientHello built ahead while smtd is idle
  (`TCP connected -> ClientHello sent` 110-240 -> 5-10 us).
- Against QUIC (issue 15; "The QUIC baseline" above): with RPCs
  outstanding QUIC packs the requests of one turn of its event loop into
  shared packets (one AEAD seal and one header-protection mask per
  ~1400-byte packet, not per message), so its CPU per small RPC is about
  half SMT's, where SMT seals and sends every message as a record and
  datagram of its own. Where SMT leads is the tail under loss: QUIC's
  probe timeout includes the peer's max_ack_delay (25 ms by ngtcp2's
  default), SMT's RESEND timers follow the measured round trip.

What would close more of it:
- The kernel module's GSO path: one super-packet per 16 KiB record,
  segmented in software or by a TSO NIC, which is what TCP gets. Built
  and tested in the QEMU tier, since this host cannot load modules.
- Sending through AF_XDP (`xsk_tx`, the section above), zero-copy AF_XDP
  on a NIC that supports it (none here), jumbo frames where the network
  has them (the MTU 9000 section).
- For set-up: a server that hands the session over from the early data
  before writing its flight (not possible through OpenSSL 3.0's API).

EOT
	# make bench-redis's section (scripts/bench-redis.sh): its tables and
	# the note on its latest run; the older notes stay in its own file
	[ -f docs/performance-redis.md ] && "$(dirname "$0")/redis-section.sh" && echo
	echo "## Plots"
	echo
	echo "Written by scripts/bench-plot.gp to \$(BUILD)/bench/ (not committed):"
	echo "latency.png (p50 and p99 by size), throughput.png (RPC rate by"
	echo "outstanding RPCs, one panel per size), hol_cdf.png (CDF of the small"
	echo "RPCs' latency in the head-of-line test, one panel per loss rate)."
	echo "Raw rows: raw.csv; medians: summary.csv and bench.json."
} >"$DOC.tmp"
mv "$DOC.tmp" "$DOC"
echo "bench.sh: wrote $OUT/{raw.csv,summary.csv,bench.json,summary.md,*.png} and $DOC (${ELAPSED}s)"
exit $rc

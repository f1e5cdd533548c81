# SPDX-License-Identifier: BSD-2-Clause
#
# Shared helpers of the netns scenarios (run.sh) and the echo benchmark
# (bench-echo.sh): topology through scripts/netns.sh, test-mode key logs
# made by `smt-echo keygen`, an smt-echo server in the server namespace,
# the fault injector on both veth ends. Sourced, not run.

NET_BUILD=${BUILD:-build}
NET_ECHO=${NET_ECHO:-$NET_BUILD/bin/smt-echo}
NET_FAULT=$NET_BUILD/bin/smt-fault
NET_TMP=$(mktemp -d "${TMPDIR:-/tmp}/smt-net.XXXXXX")
# Options for every smt-echo (server and client) of the tier. The RESEND
# timeout is raised from the engine's 2 ms because these machines are
# shared: at a load average of 12 on 2 cores, processes that do not run for
# several ms made timers fire and retransmissions (whole sent ranges)
# snowball into a collapse. The tier checks correctness, not timer tuning;
# NET_RESEND_US=2000 runs it with the engine's default (passes at load 5).
NET_ECHO_OPTS="--resend-us ${NET_RESEND_US:-10000}"
# SMT over UDP (docs/protocol.md 1.1): the UDP ports of the tier's sessions
# (client ports 4001.., server ports 5000..), which the injector and the
# capture decoder are told when they must recognise SMT over UDP.
NET_UDP_PORTS=${NET_UDP_PORTS:-4000-5999}
# Extra options of every `smt-fault attach` (run.sh sets them per pass).
NET_FAULT_OPTS=""
NET_PREFIXES=""
NET_PIDS=""

. scripts/netns.sh

# Root (CAP_NET_ADMIN, CAP_NET_RAW, BPF) or a loud SKIP; under CI a failure.
net_need_root() { # TIER
	if [ "$(id -u)" = 0 ]; then
		return 0
	fi
	if [ "${CI:-}" = true ]; then
		echo "FAIL: $1 needs root (netns, raw sockets, BPF) and CI=true" >&2
		exit 1
	fi
	echo "SKIP: $1 needs root (netns, raw sockets, BPF); NOT run, NOT passed" >&2
	exit 0
}

net_cleanup() {
	local p
	for p in $NET_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $NET_PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in $NET_PREFIXES; do
		netns_down --prefix "$p"
		# injector pins of interfaces that went away with the netns
		rm -rf /sys/fs/bpf/smt/fault/"$p"-* 2>/dev/null
	done
	[ -n "${NET_KEEP_TMP:-}" ] || rm -rf "$NET_TMP"
}

# net_up PREFIX [netns.sh up options]: builds a topology, tears it down on exit.
net_up() {
	local p=$1
	shift
	NET_PREFIXES="$NET_PREFIXES $p"
	netns_down --prefix "$p"
	netns_up --prefix "$p" "$@" >/dev/null || return 1
	# the veths start with no carrier delay, but IPv6 wants a moment
	sleep 0.2
}

# net_keys FILE N CLIENT_IP SERVER_IP [keygen options]: N SMT_SESSION lines,
# client ports 4001..4000+N, server port 5000 (or $NET_SPORT).
net_keys() {
	local f=$1 n=$2 cip=$3 sip=$4 i
	shift 4
	: >"$f"
	for i in $(seq 1 "$n"); do
		"$NET_ECHO" keygen --client "$(net_hp "$cip" $((4000 + i)))" \
			--server "$(net_hp "$sip" "${NET_SPORT:-5000}")" "$@" \
			>>"$f" || return 1
	done
}

net_hp() { # IP PORT -> IP:PORT or [IP6]:PORT
	case "$1" in
	*:*) echo "[$1]:$2" ;;
	*) echo "$1:$2" ;;
	esac
}

# net_server NS KEYLOG OUT [smt-echo options]: starts a server, waits for it.
net_server() {
	local ns=$1 kl=$2 out=$3 i
	shift 3
	ip netns exec "$ns" ${NET_SERVER_WRAP:-} "$NET_ECHO" server \
		--keylog "$kl" -j --stats \
		$NET_ECHO_OPTS "$@" \
		>"$out" 2>"$out.err" &
	NET_SERVER_PID=$!
	NET_PIDS="$NET_PIDS $NET_SERVER_PID"
	for i in $(seq 1 50); do
		grep -q "server on SMT port" "$out" 2>/dev/null && return 0
		kill -0 "$NET_SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "smt-echo server did not start:" >&2
	cat "$out" "$out.err" >&2
	return 1
}

# net_server_stop PID: SIGTERM, returns the server's exit status.
net_server_stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
}

# net_fault NS DEV DROP DUP: injector on one interface (percent), with
# $NET_FAULT_OPTS (e.g. the UDP ports of SMT over UDP).
net_fault() {
	"$NET_FAULT" -n "$1" detach "$2" >/dev/null 2>&1
	# shellcheck disable=SC2086
	"$NET_FAULT" -n "$1" attach "$2" --drop "$3" --dup "$4" \
		$NET_FAULT_OPTS >/dev/null
}

net_fault_off() { # NS DEV
	"$NET_FAULT" -n "$1" detach "$2" >/dev/null 2>&1
	return 0
}

# json_num FILE KEY: first numeric value of "KEY": in a JSON line.
json_num() {
	grep -o "\"$2\":[0-9.]*" "$1" | head -1 | cut -d: -f2
}

# json_str FILE KEY: first string value of "KEY": in a JSON line.
json_str() {
	grep -o "\"$2\":\"[^\"]*\"" "$1" | head -1 | cut -d'"' -f4
}

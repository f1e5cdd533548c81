# SPDX-License-Identifier: BSD-2-Clause
#
# Helpers shared by the smtd tests (tests/smtd/run.sh) and the demo
# (scripts/demo.sh): test certificates, smtd configurations, starting and
# stopping smtd in a network namespace, waiting for it. Sourced, not run.
# Needs BUILD (the build directory) and SD_TMP (a scratch directory).

SD_BIN=${BUILD:-build}/bin
SD_PIDS=""

. scripts/netns.sh

# sd_certs DIR: test CA, one host certificate per host, the broken ones.
sd_certs() {
	scripts/mkcerts.sh "$1" echo.smt kv.smt >/dev/null &&
		CERT=host2 scripts/mkcerts.sh "$1" echo.smt kv.smt >/dev/null &&
		CERT=host3 scripts/mkcerts.sh "$1" echo.smt kv.smt >/dev/null
}

# sd_conf NAME CERT [key = value lines for [smtd] and [tls] ...]: writes
# $SD_TMP/NAME.conf (control socket $SD_TMP/NAME.sock, handshake port
# $SD_PORT or 7443). Extra "section.key=value" arguments override;
# encap=LIST sets [smtd] encap, echo_encap= and kv_encap= a service's,
# echo_uids= the uids of echo.smt (default 0), echo_resume= its
# resumption policy (on, off, 0-rtt), tickets= [tls] lines for tickets.
sd_conf() {
	local name=$1 cert=$2 kv sec key val
	shift 2
	local ciphers="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
	local ca=$SD_TMP/certs/ca.crt port=${SD_PORT:-7443} cauth=require
	local level=info extra="" lifetime=3600 margin=60
	local encap="ip,udp" echo_encap="" kv_encap="" echo_uids=0
	local echo_resume="" tickets="" hto=5
	for kv in "$@"; do
		case "$kv" in
		ciphers=*) ciphers=${kv#*=} ;;
		ca=*) ca=${kv#*=} ;;
		port=*) port=${kv#*=} ;;
		client_cert=*) cauth=${kv#*=} ;;
		log_level=*) level=${kv#*=} ;;
		lifetime=*) lifetime=${kv#*=} ;;
		rekey_margin=*) margin=${kv#*=} ;;
		handshake_timeout=*) hto=${kv#*=} ;;
		encap=*) encap=${kv#*=} ;;
		echo_encap=*) echo_encap="encap = ${kv#*=}" ;;
		kv_encap=*) kv_encap="encap = ${kv#*=}" ;;
		echo_uids=*) echo_uids=${kv#*=} ;;
		echo_extra=*) echo_encap="$echo_encap
${kv#*=}" ;;
		echo_resume=*) echo_resume="resumption = ${kv#*=}" ;;
		ticket_*=*) tickets="$tickets${kv%%=*} = ${kv#*=}
" ;;
		*) extra="$extra$kv
" ;;
		esac
	done
	cat >"$SD_TMP/$name.conf" <<EOF
# smtd test configuration $name (written by tests/smtd/lib.sh)
[smtd]
listen = ::
port = $port
control_socket = $SD_TMP/$name.sock
log_level = $level
handshake_timeout = $hto
encap = $encap

[tls]
cert = $SD_TMP/certs/$cert.crt
key = $SD_TMP/certs/$cert.key
ca = $ca
client_cert = $cauth
ciphersuites = $ciphers
$tickets
[defaults]
B = 48
max_msg = 1M
lifetime = $lifetime
rekey_margin = $margin

[service echo.smt]
port = 7000
uids = $echo_uids
$echo_encap
$echo_resume

[service kv.smt]
port = 7001
uids = root
$kv_encap
$extra
EOF
}

# sd_start NAME NS [env assignments...]: smtd -f in namespace NS with
# $SD_TMP/NAME.conf, log in $SD_TMP/NAME.log; waits until it answers.
sd_start() {
	local name=$1 ns=$2 i
	shift 2
	# nsenter, not `ip netns exec`: that one remounts /sys, and smtd's
	# pinned BPF maps must live in the one bpffs that outlives smtd
	# SD_WRAP: a command smtd runs under, e.g. setpriv to another user
	env "$@" nsenter --net="/var/run/netns/$ns" ${SD_WRAP:-} "$SD_BIN/smtd" -f \
		-c "$SD_TMP/$name.conf" >>"$SD_TMP/$name.log" 2>&1 &
	eval "SD_PID_$name=$!"
	SD_PIDS="$SD_PIDS $!"
	for i in $(seq 1 50); do
		if "$SD_BIN/smtctl" -s "$SD_TMP/$name.sock" stats >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$(eval echo \$SD_PID_$name)" 2>/dev/null; then
			echo "smtd $name exited; its log:" >&2
			tail -5 "$SD_TMP/$name.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "smtd $name did not come up within 5 s" >&2
	return 1
}

# sd_stop NAME: SIGTERM, then wait for the exit.
sd_stop() {
	local pid
	pid=$(eval echo "\${SD_PID_$1:-}")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	eval "SD_PID_$1="
}

sd_ctl() { # NAME smtctl arguments...
	local name=$1
	shift
	"$SD_BIN/smtctl" -s "$SD_TMP/$name.sock" "$@"
}

# sd_kill_netns PREFIX [GRACE]: kills whatever still runs in PREFIX-client
# and PREFIX-server. Everything there was started by the caller, and no
# process may outlive a test holding the netns lock's file descriptor. With
# GRACE (seconds), SIGTERM first and SIGKILL GRACE later for what is left
# (an smtd that gets SIGTERM detaches its BPF programs and removes its pins).
sd_kill_netns() {
	local ns
	if [ -n "${2:-}" ]; then
		for ns in "$1-client" "$1-server"; do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -TERM 2>/dev/null
		done
		sleep "$2"
	fi
	for ns in "$1-client" "$1-server"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
}

sd_cleanup() {
	local p
	for p in $SD_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.3
	for p in $SD_PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
}

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Network-namespace harness for SMT: a client host and a server host joined
# by a veth pair, or through a forwarding middlebox host, each link with
# IPv4 and IPv6 addresses. For people and for tests (which source it).
#
#   scripts/netns.sh up [--middlebox] [--prefix P] [--v6] [--mtu N]
#   scripts/netns.sh down [--prefix P]         (always succeeds)
#   scripts/netns.sh exec [--prefix P] HOST CMD...   (HOST: client|server|mb)
#   scripts/netns.sh env [--prefix P] [--middlebox] [--v6]
#
# Namespaces are P-client, P-server (and P-mb); the interfaces are P-c0 (in
# the client), P-s0 (in the server), and with a middlebox P-mc / P-ms (in
# the middlebox, towards client / server). Default prefix: smt.
# `up` and `env` print shell assignments (SMT_NS_CLIENT, SMT_SERVER_IP, ...);
# SMT_SERVER_IP / SMT_CLIENT_IP are the IPv6 ones with --v6.
#
# Sourcing: `. scripts/netns.sh` defines netns_up, netns_down, netns_exec
# (same arguments) without running anything; netns_up also sets the SMT_*
# variables in the caller's shell. Pair it with
#   trap 'netns_down --prefix P' EXIT

_netns_parse() {
	NETNS_PREFIX=smt
	NETNS_MB=0
	NETNS_V6=0
	NETNS_MTU=1500
	NETNS_REST=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--prefix) NETNS_PREFIX="$2"; shift 2 ;;
		--prefix=*) NETNS_PREFIX="${1#*=}"; shift ;;
		--middlebox) NETNS_MB=1; shift ;;
		--v6) NETNS_V6=1; shift ;;
		--mtu) NETNS_MTU="$2"; shift 2 ;;
		*) NETNS_REST=("$@"); break ;;
		esac
	done
	if [ ${#NETNS_PREFIX} -gt 12 ]; then
		echo "netns.sh: prefix '$NETNS_PREFIX' is too long (max 12:" \
			"interface names are limited to 15 bytes)" >&2
		return 1
	fi
}

# Prints (and sets) the variables describing the topology.
_netns_vars() {
	local p=$NETNS_PREFIX
	SMT_NS_CLIENT=$p-client
	SMT_NS_SERVER=$p-server
	SMT_DEV_CLIENT=$p-c0
	SMT_DEV_SERVER=$p-s0
	if [ "$NETNS_MB" = 1 ]; then
		SMT_NS_MB=$p-mb
		SMT_DEV_MB_CLIENT=$p-mc
		SMT_DEV_MB_SERVER=$p-ms
		SMT_CLIENT_IP4=10.77.1.1
		SMT_SERVER_IP4=10.77.2.1
		SMT_CLIENT_IP6=fd77:1::1
		SMT_SERVER_IP6=fd77:2::1
	else
		SMT_NS_MB=
		SMT_DEV_MB_CLIENT=
		SMT_DEV_MB_SERVER=
		SMT_CLIENT_IP4=10.77.0.1
		SMT_SERVER_IP4=10.77.0.2
		SMT_CLIENT_IP6=fd77::1
		SMT_SERVER_IP6=fd77::2
	fi
	if [ "$NETNS_V6" = 1 ]; then
		SMT_CLIENT_IP=$SMT_CLIENT_IP6
		SMT_SERVER_IP=$SMT_SERVER_IP6
	else
		SMT_CLIENT_IP=$SMT_CLIENT_IP4
		SMT_SERVER_IP=$SMT_SERVER_IP4
	fi
	export SMT_NS_CLIENT SMT_NS_SERVER SMT_NS_MB SMT_DEV_CLIENT \
		SMT_DEV_SERVER SMT_DEV_MB_CLIENT SMT_DEV_MB_SERVER \
		SMT_CLIENT_IP4 SMT_SERVER_IP4 SMT_CLIENT_IP6 SMT_SERVER_IP6 \
		SMT_CLIENT_IP SMT_SERVER_IP
}

_netns_print() {
	local v
	for v in SMT_NS_CLIENT SMT_NS_SERVER SMT_NS_MB SMT_DEV_CLIENT \
		SMT_DEV_SERVER SMT_DEV_MB_CLIENT SMT_DEV_MB_SERVER \
		SMT_CLIENT_IP4 SMT_SERVER_IP4 SMT_CLIENT_IP6 SMT_SERVER_IP6 \
		SMT_CLIENT_IP SMT_SERVER_IP; do
		printf '%s=%s\n' "$v" "${!v}"
	done
}

_netns_link() { # NS_A DEV_A NS_B DEV_B
	ip link add "$2" netns "$1" mtu "$NETNS_MTU" type veth \
		peer name "$4" netns "$3" mtu "$NETNS_MTU" || return 1
	ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

_netns_addr() { # NS DEV IP4/len IP6/len
	ip -n "$1" addr add "$3" dev "$2" &&
		ip -n "$1" -6 addr add "$4" dev "$2" nodad
}

netns_down() {
	_netns_parse "$@" || return 0
	local n
	for n in client server mb; do
		ip netns del "$NETNS_PREFIX-$n" 2>/dev/null
	done
	return 0
}

netns_up() {
	_netns_parse "$@" || return 1
	_netns_vars
	local c=$SMT_NS_CLIENT s=$SMT_NS_SERVER m=$SMT_NS_MB n
	if [ "$(id -u)" != 0 ]; then
		echo "netns.sh: needs root (network namespaces, veth)" >&2
		return 1
	fi
	for n in "$c" "$s" $m; do
		if ip netns list | grep -qw "^$n"; then
			echo "netns.sh: namespace $n exists; run" \
				"'scripts/netns.sh down --prefix $NETNS_PREFIX'" >&2
			return 1
		fi
	done
	(
		for n in "$c" "$s" $m; do
			ip netns add "$n" && ip -n "$n" link set lo up || exit 1
			# no duplicate address detection: link-local addresses
			# would stay tentative for a second or two, and neighbour
			# discovery (so forwarding) waits for them
			ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
				net.ipv6.conf.default.accept_dad=0 || exit 1
			# TCP Fast Open as docs/smtd.md asks of an operator
			# (a new namespace starts at 1: client only)
			ip netns exec "$n" sysctl -qw net.ipv4.tcp_fastopen=3 ||
				exit 1
		done
		if [ "$NETNS_MB" = 1 ]; then
			_netns_link "$c" "$SMT_DEV_CLIENT" "$m" "$SMT_DEV_MB_CLIENT" &&
			_netns_link "$m" "$SMT_DEV_MB_SERVER" "$s" "$SMT_DEV_SERVER" &&
			_netns_addr "$c" "$SMT_DEV_CLIENT" 10.77.1.1/24 fd77:1::1/64 &&
			_netns_addr "$m" "$SMT_DEV_MB_CLIENT" 10.77.1.254/24 fd77:1::fe/64 &&
			_netns_addr "$m" "$SMT_DEV_MB_SERVER" 10.77.2.254/24 fd77:2::fe/64 &&
			_netns_addr "$s" "$SMT_DEV_SERVER" 10.77.2.1/24 fd77:2::1/64 &&
			ip -n "$c" route add default via 10.77.1.254 &&
			ip -n "$c" -6 route add default via fd77:1::fe &&
			ip -n "$s" route add default via 10.77.2.254 &&
			ip -n "$s" -6 route add default via fd77:2::fe &&
			ip netns exec "$m" sysctl -qw net.ipv4.ip_forward=1 \
				net.ipv6.conf.all.forwarding=1 || exit 1
		else
			_netns_link "$c" "$SMT_DEV_CLIENT" "$s" "$SMT_DEV_SERVER" &&
			_netns_addr "$c" "$SMT_DEV_CLIENT" 10.77.0.1/24 fd77::1/64 &&
			_netns_addr "$s" "$SMT_DEV_SERVER" 10.77.0.2/24 fd77::2/64 ||
			exit 1
		fi
	) || {
		echo "netns.sh: building the topology failed; tearing down" >&2
		netns_down --prefix "$NETNS_PREFIX"
		return 1
	}
	return 0
}

netns_exec() {
	_netns_parse "$@" || return 1
	set -- "${NETNS_REST[@]}"
	if [ $# -lt 2 ]; then
		echo "usage: netns.sh exec [--prefix P] client|server|mb CMD..." >&2
		return 2
	fi
	local host=$1
	shift
	case "$host" in
	client | server | mb) ;;
	*) echo "netns.sh: unknown host '$host' (client, server, mb)" >&2
		return 2 ;;
	esac
	ip netns exec "$NETNS_PREFIX-$host" "$@"
}

# Run as a command (not sourced)?
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	cmd=${1:-}
	[ $# -gt 0 ] && shift
	case "$cmd" in
	up)
		netns_up "$@" || exit 1
		_netns_print
		;;
	down) netns_down "$@" ;;
	exec) netns_exec "$@" ;;
	env) _netns_parse "$@" && _netns_vars && _netns_print ;;
	*)
		sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//'
		[ "$cmd" = help ] || [ "$cmd" = -h ] || exit 2
		;;
	esac
fi

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Runs README.md's quick start exactly as written: the indented lines
# between <!-- quickstart:NAME --> and <!-- /quickstart --> (NAME = both,
# server, client). Each host is a network namespace plus a private mount
# namespace in which /etc and /usr/local are overlays (writes land in a
# temporary folder, the real ones stay untouched) and /run is a new tmpfs:
# `make install`, /etc/smt/smt.conf, /run/smt/smtd.sock are each host's
# own, as on two machines. The server is 10.0.0.2, as README says. The one
# step between the blocks that README leaves to the operator (copying the
# CA to the client host) is done here with cp.
set -u
cd "$(dirname "$0")/../.."
REPO=$(pwd)
. tests/net/common.sh
net_need_root test-quickstart

P=qs
T=$(mktemp -d /tmp/smt-quickstart.XXXXXX)
. tests/lib/report.sh
. tests/smtd/lib.sh # sd_kill_netns
declare -A HOLDER

cleanup() {
	local h
	sd_kill_netns "$P" 0.3
	for h in server client; do
		ip netns del "$P-$h" 2>/dev/null
	done
	[ -n "${QS_KEEP_TMP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

block() { # NAME: README's lines of that block, indentation removed
	awk -v n="$1" '
		$0 == "<!-- quickstart:" n " -->" { on = 1; next }
		on && $0 == "<!-- /quickstart -->" { exit }
		on && /^    / { print substr($0, 5) }' README.md
}

for b in both server client; do
	if [ -z "$(block $b)" ]; then
		echo "FAIL: README.md has no quickstart:$b block" >&2
		exit 1
	fi
done

# two hosts on one link: client 10.0.0.1, server 10.0.0.2
cleanup_ns() { ip netns del "$P-server" 2>/dev/null; ip netns del "$P-client" 2>/dev/null; }
cleanup_ns
ip netns add "$P-server" && ip netns add "$P-client" &&
	ip link add "$P-c0" netns "$P-client" type veth peer name "$P-s0" netns "$P-server" &&
	ip -n "$P-client" addr add 10.0.0.1/24 dev "$P-c0" &&
	ip -n "$P-server" addr add 10.0.0.2/24 dev "$P-s0" &&
	for h in client server; do
		ip -n "$P-$h" link set lo up &&
			ip -n "$P-$h" link set "$P-${h:0:1}0" up || exit 1
	done || {
	echo "FAIL: cannot build the two namespace hosts" >&2
	exit 1
}

# Each host: a process that holds a private mount namespace inside the
# host's network namespace; every step enters both.
for h in server client; do
	mkdir -p "$T/$h"/{etc,etc.work,usr,usr.work}
	ip netns exec "$P-$h" unshare --mount --propagation private \
		sleep 100000 &
	HOLDER[$h]=$!
done
sleep 0.3
on() { # HOST CMD...: run in that host (both namespaces), repo as cwd
	local h=$1
	shift
	nsenter -t "${HOLDER[$h]}" -m -n --wd="$REPO" \
		env -i HOME=/root TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		BUILD="${BUILD:-build}" \
		WIRESHARK_LUA_DIR=/usr/local/lib/wireshark/plugins "$@"
}
# (make install puts the Wireshark dissector in Wireshark's Lua plugin
# folder under /usr/lib, outside the overlays: WIRESHARK_LUA_DIR keeps it
# in this host's /usr/local)
for h in server client; do
	on "$h" sh -c "
		mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/$h/etc,workdir=$T/$h/etc.work /etc &&
		mount -t overlay overlay -o lowerdir=/usr/local,upperdir=$T/$h/usr,workdir=$T/$h/usr.work /usr/local &&
		mount -t tmpfs tmpfs /run && rm -rf /etc/smt" || {
		echo "FAIL: private /etc, /usr/local, /run for $h" >&2
		exit 1
	}
done

run_block() { # HOST BLOCK: the lines, as one root shell would run them
	echo "== $1: README quickstart:$2"
	block "$2" | sed 's/^/   $ /'
	# BUILD keeps `make install` on this tree's build directory
	if on "$1" bash -e -o pipefail -c "$(block "$2")" \
		>"$T/$1-$2.out" 2>&1; then
		ok "quickstart_${1}_$2"
	else
		bad "quickstart_${1}_$2" "$(tail -5 "$T/$1-$2.out")"
	fi
}

run_block server both
run_block server server
# the operator's copy of the CA (README: scp -r /etc/smt/ca client:/etc/smt/)
on client sh -c "mkdir -p /etc/smt && cp -r $T/server/etc/smt/ca /etc/smt/"
run_block client both
run_block client client

out=$T/client-client.out
cat "$out"
if grep -qE '^smt-echo: 1000 RPCs? ok, 0 failed' "$out"; then
	ok quickstart_1000_rpcs
else
	bad quickstart_1000_rpcs "$(grep smt-echo: "$out" | tail -2)"
fi
if grep -q 'echo.example' "$out" && grep -qw udp "$out"; then
	ok quickstart_session_listed
else
	bad quickstart_session_listed "smtctl session list: $(tail -3 "$out")"
fi
# what make install put where README says
for f in /usr/local/bin/smtd /usr/local/bin/smt-certs /etc/smt/smt.conf \
	/usr/local/share/man/man8/smt-certs.8; do
	if on server test -e "$f"; then
		ok "installed_$(basename "$f")"
	else
		bad "installed_$(basename "$f")" "make install did not create $f"
	fi
done
echo "test-quickstart: $fail failed"
[ "$fail" -eq 0 ]

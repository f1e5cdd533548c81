#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# smt-bpf.sh: load and attach the SMT BPF objects with plain bpftool and tc,
# for operators who do not run smtd. Programs are pinned under
# $PIN/NAME/PROG, maps under $PIN/maps/MAP (PIN defaults to /sys/fs/bpf/smt;
# set SMT_BPF_PIN_DIR to move it). A reload reuses the maps already pinned,
# so counters and the sessions table survive it.
#
# Usage:
#   smt-bpf.sh load OBJ                    bpftool prog loadall OBJ $PIN/NAME pinmaps $PIN/maps
#   smt-bpf.sh attach NAME DEV [auto|native|generic]
#                                          bpftool net attach xdpdrv|xdpgeneric pinned $PIN/NAME/NAME dev DEV
#   smt-bpf.sh attach-tc DEV               tc clsact egress filter from the pinned smt_tc
#   smt-bpf.sh detach DEV                  remove XDP and the smt_tc egress filter from DEV
#   smt-bpf.sh unload NAME                 remove NAME's program pins (maps stay)
#   smt-bpf.sh purge                       remove every pin under $PIN (maps too)
#   smt-bpf.sh status [DEV]                what is loaded and attached
#   smt-bpf.sh udp-ports [MAP] [LIST|none] show or set the UDP port ranges of
#                                          SMT over UDP (MAP udp_ports, or
#                                          mtp_udp_ports on a middlebox)
# Examples:
#   scripts/smt-bpf.sh load build/bpf/smt_xdp.bpf.o
#   scripts/smt-bpf.sh attach smt_xdp eth0
#   scripts/smt-bpf.sh load build/bpf/smt_tc.bpf.o && scripts/smt-bpf.sh attach-tc eth0
#   scripts/smt-bpf.sh udp-ports 7000-7999,49152-65535
set -eu

PIN=${SMT_BPF_PIN_DIR:-/sys/fs/bpf/smt}
BPFTOOL=${BPFTOOL:-bpftool}
# Egress filter priority and handle, as smt_bpf.c uses them (0x5354, 0x534d54).
TC_PREF=21332
TC_HANDLE=0x534d54

die() {
	echo "smt-bpf: $*" >&2
	exit 1
}

usage() {
	sed -n '/^# Usage:/,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-2}"
}

mount_bpffs() {
	if ! mount | grep -q " /sys/fs/bpf type bpf"; then
		mount -t bpf bpf /sys/fs/bpf ||
			die "cannot mount bpffs on /sys/fs/bpf (are you root?)"
		echo "smt-bpf: mounted bpffs on /sys/fs/bpf"
	fi
	mkdir -p "$PIN/maps"
}

# Names of the maps an object defines (its .maps section symbols).
obj_maps() {
	llvm-objdump -t "$1" 2>/dev/null | awk '$4 == ".maps" { print $NF }' ||
		true
}

cmd_load() {
	obj=$1
	[ -r "$obj" ] || die "no object '$obj'; build it with make"
	name=$(basename "$obj" .bpf.o)
	mount_bpffs
	[ -e "$PIN/$name" ] && die "$name is already loaded at $PIN/$name; 'unload $name' first"
	# Reuse the maps already pinned; pin the others through a scratch dir
	# (bpftool's pinmaps refuses existing pins).
	reuse=
	for m in $(obj_maps "$obj"); do
		[ -e "$PIN/maps/$m" ] && reuse="$reuse map name $m pinned $PIN/maps/$m"
	done
	scratch="$PIN/loadtmp_$$"
	# shellcheck disable=SC2086
	$BPFTOOL prog loadall "$obj" "$PIN/$name" $reuse pinmaps "$scratch" ||
		die "bpftool could not load $obj (run with bpftool -d for the verifier log; a pinned map of an older layout is not reused: 'purge' removes the pins)"
	for f in "$scratch"/*; do
		[ -e "$f" ] || continue
		m=$(basename "$f")
		if [ -e "$PIN/maps/$m" ]; then rm -f "$f"; else mv "$f" "$PIN/maps/$m"; fi
	done
	rmdir "$scratch"
	[ -n "$reuse" ] && echo "smt-bpf: $name reuses pinned maps:$(echo "$reuse" | sed 's/ map name \([^ ]*\) pinned [^ ]*/ \1/g')"
	echo "smt-bpf: loaded $name: programs in $PIN/$name, maps in $PIN/maps"
}

cmd_attach() {
	name=$1 dev=$2 mode=${3:-auto}
	prog="$PIN/$name/$name"
	[ -e "$prog" ] || die "$prog is not pinned; run: $0 load build/bpf/$name.bpf.o"
	ip link show dev "$dev" >/dev/null 2>&1 || die "no interface '$dev'"
	case $mode in
	native | xdpdrv)
		$BPFTOOL net attach xdpdrv pinned "$prog" dev "$dev" overwrite ||
			die "cannot attach $name to $dev in native mode; try: $0 attach $name $dev generic"
		;;
	generic | xdpgeneric | skb)
		$BPFTOOL net attach xdpgeneric pinned "$prog" dev "$dev" overwrite ||
			die "cannot attach $name to $dev in generic mode"
		;;
	auto)
		if ! $BPFTOOL net attach xdpdrv pinned "$prog" dev "$dev" overwrite 2>/dev/null; then
			echo "smt-bpf: native XDP not available on $dev; attaching in generic (skb) mode, which is slower"
			$BPFTOOL net attach xdpgeneric pinned "$prog" dev "$dev" overwrite ||
				die "cannot attach $name to $dev"
		fi
		;;
	*) die "mode must be auto, native or generic" ;;
	esac
	echo "smt-bpf: $name attached to $dev"
}

cmd_attach_tc() {
	dev=$1
	prog="$PIN/smt_tc/smt_tc"
	[ -e "$prog" ] || die "$prog is not pinned; run: $0 load build/bpf/smt_tc.bpf.o"
	tc qdisc add dev "$dev" clsact 2>/dev/null || true
	tc filter replace dev "$dev" egress pref $TC_PREF handle $TC_HANDLE bpf da pinned "$prog" ||
		die "cannot attach smt_tc to $dev egress"
	echo "smt-bpf: smt_tc attached to $dev egress"
}

cmd_detach() {
	dev=$1
	$BPFTOOL net detach xdpdrv dev "$dev" 2>/dev/null || true
	$BPFTOOL net detach xdpgeneric dev "$dev" 2>/dev/null || true
	tc filter del dev "$dev" egress pref $TC_PREF 2>/dev/null || true
	echo "smt-bpf: detached XDP and the egress filter from $dev"
}

cmd_unload() {
	[ -d "$PIN/$1" ] || die "$1 is not loaded"
	rm -f "$PIN/$1"/*
	rmdir "$PIN/$1"
	echo "smt-bpf: unloaded $1 (maps stay in $PIN/maps)"
}

# Bytes of a 16- or 32-bit number in this machine's order, for bpftool.
le=$(printf '\001\000' | od -An -tu2 | tr -d ' ')
u16() {
	if [ "$le" = 1 ]; then echo "$(($1 & 255)) $(($1 >> 8))"; else echo "$(($1 >> 8)) $(($1 & 255))"; fi
}
u32() {
	if [ "$le" = 1 ]; then echo "$1 0 0 0"; else echo "0 0 0 $1"; fi
}

# udp-ports [MAP] [LIST]: the SMT_UDP_PORT_RANGES (16) entries of struct
# smt_udp_port_range {u16 lo, hi} (host order); lo == 0 ends the list.
cmd_udp_ports() {
	map=udp_ports
	case ${1:-} in udp_ports | mtp_udp_ports) map=$1; shift ;; esac
	path="$PIN/maps/$map"
	[ -e "$path" ] || die "$path is not pinned; load smt_xdp (or mtp_inspect) first"
	if [ $# -eq 0 ]; then
		$BPFTOOL map dump pinned "$path"
		return
	fi
	n=0 ranges=
	for r in $(echo "$1" | tr ',' ' '); do
		[ "$r" = none ] && continue
		lo=${r%-*} hi=${r#*-}
		case $lo$hi in *[!0-9]* | '') die "udp-ports: '$r' is not PORT or LO-HI" ;; esac
		if [ "$lo" -lt 1 ] || [ "$lo" -gt "$hi" ] || [ "$hi" -gt 65535 ]; then
			die "udp-ports: '$r' is not a range in 1..65535"
		fi
		n=$((n + 1))
		[ $n -le 16 ] || die "udp-ports: at most 16 ranges"
		ranges="$ranges $lo-$hi"
	done
	# The unused tail first, so that a shorter list never shows stale ranges.
	i=15
	while [ $i -ge $n ]; do
		# shellcheck disable=SC2046
		$BPFTOOL map update pinned "$path" key $(u32 $i) value 0 0 0 0
		i=$((i - 1))
	done
	i=0
	for r in $ranges; do
		# shellcheck disable=SC2046
		$BPFTOOL map update pinned "$path" key $(u32 $i) value $(u16 "${r%-*}") $(u16 "${r#*-}")
		i=$((i + 1))
	done
	echo "smt-bpf: $map = $1"
}

cmd_status() {
	echo "pinned programs:"
	for d in "$PIN"/*/; do
		[ -d "$d" ] && [ "$(basename "$d")" != maps ] && ls "$d" | sed "s|^|  $(basename "$d")/|"
	done
	echo "pinned maps:"
	ls "$PIN/maps" 2>/dev/null | sed 's/^/  /'
	if [ -n "${1:-}" ]; then
		$BPFTOOL net show dev "$1"
	else
		$BPFTOOL net show
	fi
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
load) [ $# -eq 1 ] || usage; cmd_load "$1" ;;
attach) [ $# -ge 2 ] || usage; cmd_attach "$@" ;;
attach-tc) [ $# -eq 1 ] || usage; cmd_attach_tc "$1" ;;
detach) [ $# -eq 1 ] || usage; cmd_detach "$1" ;;
unload) [ $# -eq 1 ] || usage; cmd_unload "$1" ;;
purge) rm -rf "$PIN"; echo "smt-bpf: removed $PIN" ;;
status) cmd_status "$@" ;;
udp-ports) cmd_udp_ports "$@" ;;
help | -h | --help) usage 0 ;;
*) usage ;;
esac

# SPDX-License-Identifier: BSD-2-Clause
#
# Helpers the BPF netns scripts (netns.sh, netns-udp.sh, load.sh) source:
# running a command in a named netns without remounting /sys (bpffs stays
# visible, unlike `ip netns exec`), and one-line checks that count failures
# in $fail.

ns() { # NETNS CMD...
	n=$1
	shift
	nsenter --net=/var/run/netns/"$n" "$@"
}
check() { # DESCRIPTION CMD...: prints ok/FAIL, counts failures in $fail
	desc=$1
	shift
	if "$@"; then
		echo "ok   $desc"
	else
		echo "FAIL $desc"
		fail=$((fail + 1))
	fi
}
eq() { [ "$1" -eq "$2" ] || { echo "     got $1, want $2"; return 1; }; }
jnum() { grep -o "\"$1\": *[0-9]*" | grep -o '[0-9]*$'; } # KEY < JSON

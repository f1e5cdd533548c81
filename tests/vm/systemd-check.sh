#!/bin/busybox sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Run by systemd (PID 1) in the guest of scripts/vm-systemd.sh as
# smt-check.service: starts smtd with the installed, hardened
# smtd.service and checks what the unit promises (smtd(8) PRIVILEGES).
# Prints PASS/FAIL lines and "SMT-VM-RESULT: PASS|FAIL", then powers off.
export PATH=/usr/local/bin:/usr/bin:/usr/sbin
UNIT=/etc/systemd/system/smtd.service
# CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_PERFMON (38), CAP_BPF (39)
CAPS_WANT=000000c000003000
. /smt/check.sh
field() { # NAME: the value of NAME: in smtd's /proc status
	sed -n "s/^$1:[[:space:]]*//p" "/proc/$pid/status" | tr -s '\t' ' '
}
caps_of_unit() { # the unit's AmbientCapabilities, sorted
	sed -n 's/^AmbientCapabilities=//p' "$UNIT" | tr ' ' '\n' | sort | tr '\n' ' '
}

echo "  systemd $(systemctl --version | head -1 | cut -d' ' -f2) is PID 1: $(cat /proc/1/comm)"
mount | grep -q ' /sys/fs/bpf ' || mount -t bpf bpf /sys/fs/bpf
check unit_lists_the_expected_capabilities \
	[ "$(caps_of_unit)" = "CAP_BPF CAP_NET_ADMIN CAP_NET_RAW CAP_PERFMON " ]
check systemctl_start_smtd systemctl start smtd
check smtd_active [ "$(systemctl is-active smtd)" = active ]
pid=$(systemctl show -p MainPID --value smtd)
echo "  smtd MainPID $pid"
st=/proc/$pid/status
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "$st" ]; then
	grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "$st" |
		sed 's/^/  /'
	check smtd_runs_as_user_smt [ "$(field Uid)" = "998 998 998 998" ]
	check smtd_group_smt [ "$(field Gid)" = "998 998 998 998" ]
	check smtd_effective_caps_are_the_units [ "$(field CapEff)" = $CAPS_WANT ]
	check smtd_permitted_caps_are_the_units [ "$(field CapPrm)" = $CAPS_WANT ]
	check smtd_bounding_set_is_the_units [ "$(field CapBnd)" = $CAPS_WANT ]
	check smtd_no_new_privs [ "$(field NoNewPrivs)" = 1 ]
	check smtd_seccomp_filter [ "$(field Seccomp)" = 2 ]
	# ProtectSystem=strict: / is read-only in smtd's mount namespace
	check smtd_root_read_only \
		sh -c "awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | tail -1 | grep -q '^ro'"
else
	echo "FAIL smtd_main_pid ($pid)"
	ok=0
fi
check runtime_dir_owned_by_smt [ "$(ls -ld /run/smt | awk '{ print $3 }')" = smt ]
check smtctl_reaches_smtd sh -c 'smtctl session list >/tmp/sl.out 2>&1'
sed 's/^/  /' /tmp/sl.out
check systemctl_reload_smtd systemctl reload smtd
sleep 1
check smtd_same_pid_after_reload \
	[ "$(systemctl show -p MainPID --value smtd)" = "$pid" ]
check smtd_active_after_reload [ "$(systemctl is-active smtd)" = active ]
check systemctl_stop_smtd systemctl stop smtd
check smtd_inactive_after_stop [ "$(systemctl is-active smtd)" = inactive ]
if [ $ok = 1 ]; then
	echo "SMT-VM-RESULT: PASS"
else
	systemctl status smtd --no-pager 2>&1 | head -20 | sed 's/^/  /'
	echo "SMT-VM-RESULT: FAIL"
fi
sync
poweroff -f

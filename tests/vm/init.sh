#!/bin/busybox sh
# SPDX-License-Identifier: BSD-2-Clause
#
# /init of the smt VM-tier guest (scripts/vm-run.sh builds the initramfs):
# loads Debian's tls/veth/crypto modules and smt.ko, then
#  1. kernel-sent messages from netns a reach a libsmt receiver in netns b
#     over veth, decrypted and byte-exact, every cipher, 0 B .. 1 MiB;
#  2. every packet the module sent equals libsmt's packet for the same
#     keys and message (checked by the receiver on its raw socket);
#  3. libsmt-sealed records are decrypted by the kernel's own TLS_RX;
#  4. device TLS TX offload: with tls_offload=1, messages leave through the
#     test-only device pair of smt_tlsdev.ko (NETIF_F_HW_TLS_TX, tlsdev_ops,
#     encrypts plaintext records in its transmit like a NIC), reach the
#     libsmt receiver byte-exact and identical to libsmt's packets, with
#     one device context per AES-GCM message, ChaCha20 in software, a
#     served resync, every context deleted; a refusing device turns the
#     offload off and the message still arrives;
#  5. smt.ko and smt_tlsdev.ko unload cleanly (/dev/smt and
#     /proc/net/smt_stat gone, every session freed, no oops or warning in
#     dmesg).
# Prints PASS/FAIL lines and a final "SMT-VM-RESULT: PASS|FAIL", powers off.

/bin/busybox mkdir -p /usr/bin /usr/sbin /usr/local/bin
/bin/busybox --install -s
export PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
# busybox sh prefers its own applets to PATH: name iproute2 explicitly.
IP=/bin/ip.iproute2
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /var/run
ln -sfn /run/netns /var/run/netns 2>/dev/null

. /smt/check.sh
stat_of() {
	sed -n "s/^$1 //p" /proc/net/smt_stat
}

echo
echo "SMT-VM: guest up, kernel $(uname -r), uptime $(cut -d" " -f1 /proc/uptime) s"
echo 10000 >/proc/sys/net/core/netdev_max_backlog
echo 67108864 >/proc/sys/net/core/rmem_max
for m in tls veth gcm ghash_generic ctr chacha20poly1305 chacha_generic \
	poly1305_generic; do
	modprobe "$m" || echo "FAIL modprobe $m"
done

check "insmod smt.ko" insmod /smt/smt.ko
check "/dev/smt is a character device" test -c /dev/smt
check "/proc/net/smt_stat readable" test -r /proc/net/smt_stat

$IP link set lo up
$IP netns add a && $IP netns add b &&
	$IP link add va netns a type veth peer name vb netns b &&
	$IP -n a addr add 10.99.0.1/24 dev va && $IP -n a link set va up &&
	$IP -n b addr add 10.99.0.2/24 dev vb && $IP -n b link set vb up &&
	$IP -n a link set lo up && $IP -n b link set lo up &&
	$IP -n a addr add fd00:99::1/64 dev va nodad &&
	$IP -n b addr add fd00:99::2/64 dev vb nodad
check "netns a/b with veth" test $? -eq 0
check "/proc/net/smt_stat in netns b" $IP netns exec b test -r /proc/net/smt_stat

# Kernel sender in netns a, libsmt receiver in netns b; $1 names the pass,
# $2 is the receiver's address, $3 "6" for IPv6. With KSEND_SPLIT="F:N ..."
# one sender per message range runs at the same time (the receiver takes
# SMT_VM_MSGS, which should cover them all).
kernel_to_libsmt() {
	t0=$(date +%s)
	rm -f /tmp/ready /tmp/ksend.log
	$IP netns exec b /smt/smt-vm-test recv /tmp/ready "$3" >/tmp/recv.log 2>&1 &
	rpid=$!
	for _ in $(seq 100); do
		[ -e /tmp/ready ] && break
		sleep 0.1
	done
	if [ -n "${KSEND_SPLIT:-}" ]; then
		kpids=
		for r in $KSEND_SPLIT; do
			SMT_VM_MSGS=$r $IP netns exec a /smt/smt-vm-test ksend \
				"$2" >"/tmp/ksend.$r.log" 2>&1 &
			kpids="$kpids $!"
		done
		krc=0
		for p in $kpids; do
			wait "$p" || krc=1
		done
		for r in $KSEND_SPLIT; do
			cat "/tmp/ksend.$r.log" >>/tmp/ksend.log
		done
	else
		$IP netns exec a /smt/smt-vm-test ksend "$2" >/tmp/ksend.log 2>&1
		krc=$?
	fi
	wait $rpid
	rrc=$?
	sed "s/^\(PASS\|FAIL\) /\1 [$1] /" /tmp/ksend.log /tmp/recv.log
	grep -q '^FAIL' /tmp/ksend.log /tmp/recv.log && ok=0
	check "[$1] kernel sender exit 0" test $krc -eq 0
	check "[$1] libsmt receiver exit 0" test $rrc -eq 0
	echo "SMT-VM: kernel->libsmt [$1] took $(($(date +%s) - t0)) s"
}

kernel_to_libsmt "GSO at veth" 10.99.0.2
kernel_to_libsmt "IPv6" fd00:99::2 6
echo 1 >/sys/module/smt/parameters/gso_in_module
seg0=$(stat_of gso_segments)
kernel_to_libsmt "GSO in module" 10.99.0.2
check "gso_in_module segmented records" test "$(stat_of gso_segments)" -gt "$seg0"
echo 0 >/sys/module/smt/parameters/gso_in_module

# Malformed packets reach netns b; the module counts them by drop reason.
$IP netns exec a /smt/smt-vm-test bad 10.99.0.2
sleep 0.2
check "module counted short_header" test "$(stat_of short_header)" = 1
check "module counted bad_doff_ver" test "$(stat_of bad_doff_ver)" = 1
check "module counted unknown_type" test "$(stat_of unknown_type)" = 1

t0=$(date +%s)
/smt/smt-vm-test ktls >/tmp/ktls.log 2>&1
krc=$?
cat /tmp/ktls.log
check "kTLS cross-check exit 0" test $krc -eq 0
echo "SMT-VM: kTLS cross-check took $(($(date +%s) - t0)) s"

# ---- device TLS TX offload through smt_tlsdev.ko ----------------------------
mount -t debugfs debugfs /sys/kernel/debug
TLSDEV=/sys/kernel/debug/smt_tlsdev/stats
dev_of() {
	sed -n "s/^$1 //p" $TLSDEV
}
# delta NAME: growth of smt's counter NAME since snap_smt
snap_smt() {
	cp /proc/net/smt_stat /tmp/smt_stat.0
}
delta() {
	echo $(($(stat_of "$1") - $(sed -n "s/^$1 //p" /tmp/smt_stat.0)))
}
check "insmod smt_tlsdev.ko" insmod /smt/smt_tlsdev.ko
$IP link set tlsa netns a && $IP link set tlsb netns b &&
	$IP -n a addr add 10.98.0.1/24 dev tlsa && $IP -n a link set tlsa up &&
	$IP -n b addr add 10.98.0.2/24 dev tlsb && $IP -n b link set tlsb up &&
	$IP -n a addr add fd00:98::1/64 dev tlsa nodad &&
	$IP -n b addr add fd00:98::2/64 dev tlsb nodad
check "tlsa/tlsb in netns a/b" test $? -eq 0
check "smt_tlsdev stats in debugfs" test -r $TLSDEV
echo 1 >/sys/module/smt/parameters/tls_offload
echo 1 >/sys/module/smt_tlsdev/parameters/resync_test
snap_smt
kernel_to_libsmt "TLS offload" 10.98.0.2
kernel_to_libsmt "TLS offload IPv6" fd00:98::2 6
# Contexts go once their last packet is freed, from a work item.
for _ in $(seq 50); do
	[ "$(dev_of ctx_deleted)" = "$(dev_of ctx_added)" ] &&
		[ "$(delta tls_offload_ctx_freed)" = "$(dev_of ctx_added)" ] && break
	sleep 0.1
done
echo "SMT-VM: smt_tlsdev: $(tr '\n' ' ' <$TLSDEV)"
echo "SMT-VM: smt offload deltas: ctx_added $(delta tls_offload_ctx_added)" \
	"ctx_freed $(delta tls_offload_ctx_freed)" \
	"records $(delta tls_offload_records)" \
	"fallbacks $(delta tls_offload_fallbacks)" \
	"resyncs $(delta tls_offload_resyncs) msgs $(delta msgs_sent)"
check "tls_offload still on" \
	test "$(cat /sys/module/smt/parameters/tls_offload)" = Y
check "offload contexts added (smt $(delta tls_offload_ctx_added) = device $(dev_of ctx_added))" \
	test "$(dev_of ctx_added)" -gt 0 -a \
	"$(delta tls_offload_ctx_added)" = "$(dev_of ctx_added)"
check "tls_offload_records ($(delta tls_offload_records)) > 0, = records the device sealed ($(dev_of records))" \
	test "$(delta tls_offload_records)" -gt 0 -a \
	"$(delta tls_offload_records)" = "$(dev_of records)"
check "device encrypted packets ($(dev_of packets_encrypted))" \
	test "$(dev_of packets_encrypted)" -gt 0
check "ChaCha20 fell back to software ($(delta tls_offload_fallbacks)), never offered to the device" \
	test "$(delta tls_offload_fallbacks)" -gt 0 -a "$(dev_of ctx_refused)" = 0
check "every message offloaded or fallen back" \
	test $(($(delta tls_offload_ctx_added) + $(delta tls_offload_fallbacks))) \
	= "$(delta msgs_sent)"
check "tls_dev_del as often as tls_dev_add ($(dev_of ctx_deleted))" \
	test "$(dev_of ctx_deleted)" = "$(dev_of ctx_added)"
check "smt freed every context ($(delta tls_offload_ctx_freed))" \
	test "$(delta tls_offload_ctx_freed)" = "$(delta tls_offload_ctx_added)"
check "resyncs served ($(delta tls_offload_resyncs) = device $(dev_of resyncs)), none wrong" \
	test "$(dev_of resyncs)" -gt 0 -a "$(dev_of resync_bad)" = 0 -a \
	"$(delta tls_offload_resyncs)" = "$(dev_of resyncs)"
check "device stream errors 0" test "$(dev_of errors)" = 0

# Two senders at once, AES-GCM-128 and AES-GCM-256 messages: contexts of
# both live on the device together, their records interleaved.
snap_smt
add0=$(dev_of ctx_added)
export SMT_VM_MSGS=0:20 KSEND_SPLIT="0:10 10:10"
kernel_to_libsmt "TLS offload, 2 senders" 10.98.0.2
unset SMT_VM_MSGS KSEND_SPLIT
for _ in $(seq 50); do
	[ "$(dev_of ctx_deleted)" = "$(dev_of ctx_added)" ] && break
	sleep 0.1
done
echo "SMT-VM: smt_tlsdev: $(tr '\n' ' ' <$TLSDEV)"
check "2 senders: 20 contexts ($(($(dev_of ctx_added) - add0))), all deleted, no stream error" \
	test $(($(dev_of ctx_added) - add0)) = 20 -a \
	"$(delta tls_offload_ctx_added)" = 20 -a \
	"$(delta tls_offload_ctx_freed)" = 20 -a \
	"$(dev_of ctx_deleted)" = "$(dev_of ctx_added)" -a "$(dev_of errors)" = 0

# A device that refuses the context: software for that message, offload
# turned off. Message 6 of the table is AES-GCM-128, 40000 B.
echo 0 >/sys/module/smt_tlsdev/parameters/resync_test
echo 1 >/sys/module/smt_tlsdev/parameters/refuse_add
snap_smt
export SMT_VM_MSGS=6:1
kernel_to_libsmt "offload refused" 10.98.0.2
unset SMT_VM_MSGS
check "refusal: device refused 1, smt fell back once" \
	test "$(dev_of ctx_refused)" = 1 -a "$(delta tls_offload_fallbacks)" = 1
check "refusal turned tls_offload off" \
	test "$(cat /sys/module/smt/parameters/tls_offload)" = N
echo 0 >/sys/module/smt_tlsdev/parameters/refuse_add

echo "SMT-VM: /proc/net/smt_stat:"
sed 's/^/  /' /proc/net/smt_stat | grep -v ' 0$'
added=$(stat_of sessions_added)
removed=$(stat_of sessions_removed)
check "sessions added ($added) all removed ($removed)" \
	test -n "$added" -a "$added" = "$removed" -a "$added" -gt 0
check "messages sent counted" test "$(stat_of msgs_sent)" -gt 0
check "no send errors" test "$(stat_of send_errors)" = 0

$IP netns del a
$IP netns del b
check "rmmod smt" rmmod smt
check "rmmod smt_tlsdev" rmmod smt_tlsdev
check "tlsa/tlsb gone" sh -c "! grep -q tls /proc/net/dev"
check "/proc/net/smt_stat gone" test ! -e /proc/net/smt_stat
check "/dev/smt gone" test ! -e /dev/smt
check "insmod smt.ko ipproto=0 refused" sh -c '! insmod /smt/smt.ko ipproto=0 2>/dev/null'
check "insmod smt.ko ipproto=254" insmod /smt/smt.ko ipproto=254
check "ipproto=254 shown in sysfs" \
	test "$(cat /sys/module/smt/parameters/ipproto)" = 254
check "rmmod smt (ipproto=254)" rmmod smt
if dmesg | grep -E 'BUG:|Oops|WARNING:|Call Trace|refcount_t|leak'; then
	echo "FAIL dmesg clean"
	ok=0
else
	echo "PASS dmesg clean (no oops, warning or leak report)"
fi
dmesg | grep -i 'smt' | sed 's/^/  dmesg: /'

if [ $ok = 1 ] && ! grep -q '^FAIL' /tmp/ktls.log; then
	echo "SMT-VM-RESULT: PASS"
else
	echo "SMT-VM-RESULT: FAIL"
fi
poweroff -f

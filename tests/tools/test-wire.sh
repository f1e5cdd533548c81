#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test-wire: smt-wire against docs/protocol.md.
#   - round trips: encode, then decode with a keylog and --dump gives back
#     the input byte for byte (3 ciphers x B 40/48/56 x MTU 1500/9000 x
#     sizes 0..1 MiB, plus IPv6, the server direction, epochs, R = 4096,
#     the --size pattern, and Ethernet/VLAN/SLL/SLL2 captures);
#   - tampered captures: decode exits 1 and names the drop reason;
#   - bad arguments: a clear message naming the option, exit 2;
#   - golden: hand-checked header bytes and a committed SHA-256 of the packet
#     bytes of one fixed encoding.
# Usage: SMT_WIRE=build/bin/smt-wire tests/tools/test-wire.sh
set -u

W=${SMT_WIRE:-build/bin/smt-wire}
if [ ! -x "$W" ]; then
	echo "test-wire: $W not built; run make first" >&2
	exit 1
fi
T=$(mktemp -d /tmp/smt-wire-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL $1: $2"
}

KC=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
IC=a0a1a2a3a4a5a6a7a8a9aaab
KS=f0e0d0c0b0a0908070605040302010000f0e0d0c0b0a09080706050403020100
IS=0b0a09080706050403020100
CLI=192.0.2.1
SRV=192.0.2.2

keylen() {
	case "$1" in TLS_AES_128_GCM_SHA256) echo 32 ;; *) echo 64 ;; esac
}

# keylog FILE CIPHER B M [EPOCH] [CLIENT SERVER] [CPORT SPORT]
keylog() {
	local n
	n=$(keylen "$2")
	echo "SMT_SESSION ${6:-$CLI} ${8:-40000} ${7:-$SRV} ${9:-7000} $2 $3" \
		"${5:-0} $4 0 ${KC:0:$n} $IC ${KS:0:$n} $IS" >"$1"
}

# --- pcap helpers (classic pcap, little-endian, as smt-wire writes) -------
u32le() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# "offset length" of every packet's data in a pcap
pkts() {
	local f=$1 off=24 size len
	size=$(stat -c %s "$f")
	while [ "$off" -lt "$size" ]; do
		len=$(u32le "$f" $((off + 8)))
		echo "$((off + 16)) $len"
		off=$((off + 16 + len))
	done
}

# pkt_at FILE I: file offset of packet I's data (0-based)
pkt_at() { pkts "$1" | sed -n "$(($2 + 1))p" | cut -d' ' -f1; }

# hex2bin HEX: the bytes (coreutils and the shell only, no xxd)
hex2bin() {
	# shellcheck disable=SC2059
	printf "$(printf '%s' "$1" | sed 's/../\\x&/g')"
}

# hexdump FILE OFFSET COUNT: the bytes as one lowercase hex string
hexdump() { od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# poke FILE OFFSET HEX: overwrite bytes
poke() {
	hex2bin "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc \
		status=none
}

# flip FILE OFFSET: invert one byte
flip() {
	local b
	b=$(hexdump "$1" "$2" 1)
	poke "$1" "$2" "$(printf '%02x' $((0x$b ^ 0xff)))"
}

le32hex() {
	printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
		$(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}

# relink IN OUT LINKTYPE HEADERHEX: every packet behind a link header
relink() {
	local in=$1 out=$2 lt=$3 hdr=$4 hl=$((${#4} / 2)) o l
	{
		head -c 20 "$in"
		hex2bin "$(le32hex "$lt")"
		pkts "$in" | while read -r o l; do
			hex2bin "0000000000000000$(le32hex $((l + hl)))$(le32hex $((l + hl)))"
			hex2bin "$hdr"
			tail -c +$((o + 1)) "$in" | head -c "$l"
		done
	} >"$out"
}

# keep FILE OUT I...: a pcap with only the listed packets, in that order
keep() {
	local in=$1 out=$2 i o l
	shift 2
	head -c 24 "$in" >"$out"
	for i in "$@"; do
		read -r o l < <(pkts "$in" | sed -n "$((i + 1))p")
		tail -c +$((o - 15)) "$in" | head -c $((l + 16)) >>"$out"
	done
}

enc() { "$W" encode --key "${KC:0:32}" --iv "$IC" "$@" 2>"$T/enc.err"; }

# --- round trips ------------------------------------------------------------
for n in 0 1 1391 16384 100000 1048568 1048576; do
	head -c "$n" /dev/urandom >"$T/in.$n"
done

# rt NAME CIPHER B MTU SIZE [extra encode args...]: round trip with keys
rt() {
	local name=$1 c=$2 B=$3 mtu=$4 n=$5 n_hex
	shift 5
	n_hex=$(keylen "$c")
	rm -rf "$T/dump" && mkdir "$T/dump"
	keylog "$T/kl" "$c" "$B" 1048576
	[ "$B" = 56 ] && keylog "$T/kl" "$c" "$B" 1048568
	if ! "$W" encode --cipher "$c" --key "${KC:0:$n_hex}" --iv "$IC" \
		--bits "$B" --msg-id 6 --mtu "$mtu" --in "$T/in.$n" \
		--out "$T/rt.pcap" "$@" 2>"$T/enc.err"; then
		bad "$name" "encode failed: $(cat "$T/enc.err")"
		return
	fi
	if ! "$W" decode "$T/rt.pcap" --keylog "$T/kl" --dump "$T/dump" \
		>"$T/dec.out"; then
		bad "$name" "decode failed: $(grep -v '^msg' "$T/dec.out" | head -3)"
		return
	fi
	if ! grep -q " status ok app_len $n\( oneway\)\?\$" "$T/dec.out"; then
		bad "$name" "no ok message of $n bytes: $(head -2 "$T/dec.out")"
		return
	fi
	if ! cmp -s "$T/in.$n" "$T/dump/"*_m6.bin; then
		bad "$name" "decrypted bytes differ from the input"
		return
	fi
	ok
}

for c in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 \
	TLS_CHACHA20_POLY1305_SHA256; do
	for B in 40 48 56; do
		for mtu in 1500 9000; do
			for n in 0 1 1391 16384 100000 1048576; do
				# B = 56 allows 256 records: M <= 1048568
				[ "$B" = 56 ] && [ "$n" = 1048576 ] && n=1048568
				rt "roundtrip $c B=$B mtu=$mtu size=$n" \
					"$c" "$B" "$mtu" "$n"
			done
		done
	done
done
rt "roundtrip record-size 4096" TLS_AES_128_GCM_SHA256 48 1500 100000 \
	--record-size 4096
rt "roundtrip oneway" TLS_AES_128_GCM_SHA256 48 1500 1391 --oneway
grep -q " app_len 1391 oneway" "$T/dec.out" && ok ||
	bad "roundtrip oneway" "ONEWAY flag not reported"

# Server to client direction: decoded with s_key/s_iv.
keylog "$T/kl" TLS_AES_256_GCM_SHA384 48 1048576
mkdir -p "$T/d2"
"$W" encode --cipher aes256gcm --key "$KS" --iv "$IS" --src "$SRV:7000" \
	--dst "$CLI:40000" --msg-id 7 --in "$T/in.100000" \
	--out "$T/s.pcap" 2>/dev/null &&
	"$W" decode "$T/s.pcap" --keylog "$T/kl" --dump "$T/d2" >/dev/null &&
	cmp -s "$T/in.100000" "$T/d2/"*_m7.bin && ok ||
	bad "roundtrip server direction" "s_key decode failed"

# IPv6, epoch 3, a second keylog line of another epoch in the same file.
keylog "$T/kl6" TLS_CHACHA20_POLY1305_SHA256 48 1048576 3 2001:db8::1 \
	2001:db8::2 4000 5000
keylog "$T/kl6b" TLS_CHACHA20_POLY1305_SHA256 48 1048576 2 2001:db8::1 \
	2001:db8::2 4000 5000
cat "$T/kl6b" >>"$T/kl6"
mkdir -p "$T/d6"
"$W" encode --cipher chacha20poly1305 --key "$KC" --iv "$IC" --epoch 3 \
	--src "[2001:db8::1]:4000" --dst "[2001:db8::2]:5000" \
	--in "$T/in.100000" --out "$T/v6.pcap" 2>/dev/null &&
	"$W" decode "$T/v6.pcap" --keylog "$T/kl6" --dump "$T/d6" \
		>"$T/v6.out" &&
	cmp -s "$T/in.100000" "$T/d6/"*e3_m2.bin &&
	grep -q "^msg \[2001:db8::1\]:4000 > \[2001:db8::2\]:5000 msg_id 2 epoch 3" \
		"$T/v6.out" && ok ||
	bad "roundtrip ipv6 epoch 3" "$(head -3 "$T/v6.out" 2>/dev/null)"
# 1420-byte payloads at MTU 1500 over IPv6 (section 3).
[ "$(pkts "$T/v6.pcap" | head -1 | cut -d' ' -f2)" = 1500 ] &&
	[ "$(pkts "$T/v6.pcap" | wc -l)" = 74 ] &&
	ok || bad "ipv6 packet sizes" "$(pkts "$T/v6.pcap" | head -2)"

# --size N: byte i is i mod 251.
keylog "$T/kl" TLS_AES_128_GCM_SHA256 48 1048576
perl -e 'print map { chr($_ % 251) } 0 .. 99999' >"$T/pattern"
rm -rf "$T/dump" && mkdir "$T/dump"
enc --size 100000 --out "$T/p.pcap" &&
	"$W" decode "$T/p.pcap" --keylog "$T/kl" --dump "$T/dump" >/dev/null &&
	cmp -s "$T/pattern" "$T/dump/"*_m2.bin && ok ||
	bad "--size pattern" "decoded bytes are not i mod 251"

# Keyless decode checks layout only and reports the message as complete.
"$W" decode "$T/p.pcap" >"$T/nk.out" &&
	grep -q "msg_len 100162 records 7 packets 74 status complete" \
		"$T/nk.out" && ok ||
	bad "decode without keys" "$(head -2 "$T/nk.out")"

# JSON output.
"$W" decode -j "$T/p.pcap" --keylog "$T/kl" >"$T/j.out" &&
	grep -q '"status": "ok"' "$T/j.out" && grep -q '"ok": true' "$T/j.out" &&
	grep -q '"app_len": 100000' "$T/j.out" && ok ||
	bad "decode -j" "$(head -5 "$T/j.out")"

# Captures with a link layer: Ethernet + one VLAN tag, SLL, SLL2.
relink "$T/p.pcap" "$T/eth.pcap" 1 \
	0200000000020200000000018100002a0800
relink "$T/p.pcap" "$T/sll.pcap" 113 00000001000602000000000100000800
relink "$T/p.pcap" "$T/sll2.pcap" 276 \
	0800000000000002000100000602000000000001
for f in eth sll sll2; do
	"$W" decode "$T/$f.pcap" --keylog "$T/kl" >"$T/$f.out" &&
		grep -q "status ok app_len 100000" "$T/$f.out" && ok ||
		bad "decode $f capture" "$(tail -2 "$T/$f.out")"
done

# Other IP protocols are ignored; --proto selects ours.
enc --size 1000 --proto 99 --out "$T/p99.pcap" &&
	"$W" decode "$T/p99.pcap" >"$T/p99.out" &&
	grep -q "smt 0 ignored 1 " "$T/p99.out" &&
	"$W" decode --proto 99 "$T/p99.pcap" --keylog "$T/kl" |
	grep -q "status ok" && ok || bad "--proto" "$(cat "$T/p99.out")"

# Exact duplicates are not violations; reordering is fine.
keep "$T/p.pcap" "$T/dup.pcap" 73 $(seq 0 73) 3 3
"$W" decode "$T/dup.pcap" --keylog "$T/kl" >"$T/dup.out" &&
	grep -q "packets 77 duplicates 3 status ok" "$T/dup.out" && ok ||
	bad "duplicates and reordering" "$(head -2 "$T/dup.out")"

# --- tampered captures --------------------------------------------------------
# expect_drop NAME PCAP REASON [decode args]: exit 1 and REASON named
expect_drop() {
	local name=$1 pcap=$2 reason=$3 rc
	shift 3
	"$W" decode "$pcap" "$@" >"$T/t.out" 2>&1
	rc=$?
	if [ "$rc" != 1 ]; then
		bad "$name" "exit $rc, want 1: $(tail -3 "$T/t.out")"
	elif ! grep -q "drops $reason [1-9]" "$T/t.out"; then
		bad "$name" "no '$reason' drop: $(tail -4 "$T/t.out")"
	else
		ok
	fi
}

# p.pcap: 100000 bytes: content 100008 in 6 records of 16384 content
# bytes (16406 on the wire, 12 packets each) and one of 1704 (1726 on the
# wire, 2 packets); msg_len 100162, 74 packets.
P1=$(pkt_at "$T/p.pcap" 1) # second packet of record 0
S1=$((P1 + 20))            # its SMT header

cp "$T/p.pcap" "$T/x.pcap" && flip "$T/x.pcap" $((S1 + 40 + 100))
expect_drop "ciphertext bit flip" "$T/x.pcap" record_auth_failed \
	--keylog "$T/kl"
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 12)) a2
expect_drop "doff_ver" "$T/x.pcap" bad_doff_ver
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 13)) 15
expect_drop "reserved type" "$T/x.pcap" unknown_type
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 20)) 0000000000000001
expect_drop "msg_id 1" "$T/x.pcap" bad_msg_id
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 20)) 0000800000000000
expect_drop "msg_id >= 2^(B-1)" "$T/x.pcap" bad_msg_id
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 28)) 7fffffff
expect_drop "msg_len over max_wire" "$T/x.pcap" msg_len_over_max
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 8)) 00001000
expect_drop "seg_off > pkt_off" "$T/x.pcap" seg_off_after_pkt_off
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $(($(pkt_at "$T/p.pcap" 0) + 6)) 2000
expect_drop "IPv4 fragment" "$T/x.pcap" ip_fragment
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $(($(pkt_at "$T/p.pcap" 0) + 60)) 16
expect_drop "record header type, no keys" "$T/x.pcap" bad_record_header
# msg_len of one packet differs from the others'.
cp "$T/p.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((S1 + 28)) 00010000
expect_drop "msg_len mismatch, no keys" "$T/x.pcap" msg_len_mismatch
# A packet gives record 1 another seg_off than its other packets do.
# (rec_idx 0 elsewhere than 0 is caught statelessly: the second packet of
# record 1 claims seg_off 16000, which is plausible alone.)
cp "$T/p.pcap" "$T/x.pcap"
P13=$(($(pkt_at "$T/p.pcap" 13) + 20))
poke "$T/x.pcap" $((P13 + 8)) 00003e80
expect_drop "seg_off mismatch, no keys" "$T/x.pcap" seg_off_mismatch
# A duplicate with different bytes at offsets already received.
keep "$T/p.pcap" "$T/x.pcap" $(seq 0 73) 5
flip "$T/x.pcap" $(($(pkt_at "$T/x.pcap" 74) + 60 + 7))
expect_drop "bytes mismatch, no keys" "$T/x.pcap" bytes_mismatch
# Keys for another port, another epoch.
keylog "$T/klp" TLS_AES_128_GCM_SHA256 48 1048576 0 $CLI $SRV 40001 7000
expect_drop "unknown session" "$T/p.pcap" unknown_session --keylog "$T/klp"
keylog "$T/kle" TLS_AES_128_GCM_SHA256 48 1048576 1
expect_drop "no keys for the epoch" "$T/p.pcap" no_epoch_keys \
	--keylog "$T/kle"
# Wrong key: every record fails.
sed 's/ 000102030405/ 100102030405/' "$T/kl" >"$T/klw"
expect_drop "wrong key" "$T/p.pcap" record_auth_failed --keylog "$T/klw"
# A record moved to another message: message 4 made of message 2's bytes.
cp "$T/p.pcap" "$T/x.pcap"
for o in $(pkts "$T/p.pcap" | cut -d' ' -f1); do
	poke "$T/x.pcap" $((o + 40)) 0000000000000004
done
expect_drop "record moved to another msg_id" "$T/x.pcap" \
	record_auth_failed --keylog "$T/kl"

# Last packet lost: incomplete, exit 1.
keep "$T/p.pcap" "$T/x.pcap" $(seq 0 72)
"$W" decode "$T/x.pcap" --keylog "$T/kl" >"$T/t.out"
[ $? = 1 ] && grep -q "status incomplete" "$T/t.out" && ok ||
	bad "lost last packet" "$(head -2 "$T/t.out")"
"$W" decode "$T/x.pcap" >"$T/t.out"
[ $? = 1 ] && grep -q "status incomplete" "$T/t.out" && ok ||
	bad "lost last packet, no keys" "$(head -2 "$T/t.out")"

# A capture cut off inside a pcap record: what precedes is checked, exit 1.
head -c 5000 "$T/p.pcap" >"$T/x.pcap"
"$W" decode "$T/x.pcap" >"$T/t.out" 2>"$T/t.err"
[ $? = 1 ] && grep -q "file ends inside the record after packet 3" \
	"$T/t.err" && grep -q "^summary: packets 3 " "$T/t.out" && ok ||
	bad "capture cut short" "$(cat "$T/t.err" "$T/t.out" | head -3)"

# Truncation (section 3): last record dropped, msg_len lowered to where
# record 5 ends. Every remaining record verifies; app_len does not match.
keep "$T/p.pcap" "$T/x.pcap" $(seq 0 71)
for o in $(pkts "$T/x.pcap" | cut -d' ' -f1); do
	poke "$T/x.pcap" $((o + 48)) "$(printf '%08x%08x' $((6 * 16406)) \
		$((6 * 16406)))"
done
expect_drop "truncation" "$T/x.pcap" truncated --keylog "$T/kl"

# --- control packets (section 5) ------------------------------------------------
# The server grants and acknowledges (s_key), the client asks for a resend
# (c_key); each verifies under its sender's direction key.
ctl() { # OUT DIRECTION(c|s) encode-args...
	local out=$1 d=$2
	shift 2
	if [ "$d" = s ]; then
		"$W" encode --key "${KS:0:32}" --iv "$IS" --src "$SRV:7000" \
			--dst "$CLI:40000" --out "$out" "$@" 2>/dev/null
	else
		enc --out "$out" "$@"
	fi
}
# cat_pcap OUT IN...: one capture of the packets of several
cat_pcap() {
	local out=$1
	shift
	head -c 24 "$1" >"$out"
	for f in "$@"; do tail -c +25 "$f" >>"$out"; done
}
ctl "$T/g1.pcap" s --type grant --msg-id 2 --offset 50000 --prio 5 --ctl-seq 1
ctl "$T/a2.pcap" s --type ack --ids 3,5,7 --ctl-seq 2
ctl "$T/r1.pcap" c --type resend --msg-id 9 --offset 10 --length 20 --ctl-seq 1
ctl "$T/n3.pcap" s --type need_ack --msg-id 11 --ctl-seq 3
ctl "$T/b4.pcap" s --type busy --msg-id 4 --ctl-seq 4
ctl "$T/u5.pcap" s --type unknown --msg-id 6 --ctl-seq 5
cat_pcap "$T/c.pcap" "$T/p.pcap" "$T/g1.pcap" "$T/a2.pcap" "$T/r1.pcap" \
	"$T/n3.pcap" "$T/b4.pcap" "$T/u5.pcap"
"$W" decode "$T/c.pcap" --keylog "$T/kl" >"$T/c.out" &&
	[ "$(grep -c '^ctl .* status ok$' "$T/c.out")" = 6 ] &&
	grep -q "GRANT msg_id 2 ctl_seq 1 offset 50000 prio 5 status ok" \
		"$T/c.out" &&
	grep -q "ACK msg_id 0 ctl_seq 2 ids 3,5,7 status ok" "$T/c.out" &&
	grep -q "RESEND msg_id 9 ctl_seq 1 offset 10 prio 0 length 20" \
		"$T/c.out" && ok || bad "control packets verify" "$(cat "$T/c.out")"
"$W" decode "$T/c.pcap" >"$T/c.out" &&
	[ "$(grep -c ' status unverified$' "$T/c.out")" = 6 ] && ok ||
	bad "control packets without keys" "$(head -3 "$T/c.out")"
cat_pcap "$T/x.pcap" "$T/g1.pcap" "$T/a2.pcap" "$T/g1.pcap"
expect_drop "replayed control packet" "$T/x.pcap" control_replay \
	--keylog "$T/kl"
cp "$T/g1.pcap" "$T/x.pcap" && flip "$T/x.pcap" $((24 + 16 + 20 + 71))
expect_drop "forged control tag" "$T/x.pcap" control_auth_failed \
	--keylog "$T/kl"
cp "$T/g1.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((24 + 16 + 20 + 40)) 0000ffff
expect_drop "GRANT offset changed" "$T/x.pcap" control_auth_failed \
	--keylog "$T/kl"
"$W" encode --key "${KC:0:32}" --iv "$IC" --src "$SRV:7000" \
	--dst "$CLI:40000" --type grant --msg-id 2 --out "$T/x.pcap" 2>/dev/null
expect_drop "GRANT under the other direction's key" "$T/x.pcap" \
	control_auth_failed --keylog "$T/kl"
cp "$T/a2.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((24 + 16 + 20 + 40)) 0004
expect_drop "ACK count does not match its length" "$T/x.pcap" \
	bad_control_length
cp "$T/a2.pcap" "$T/x.pcap" && poke "$T/x.pcap" $((24 + 16 + 20 + 40)) 0000
expect_drop "ACK count 0" "$T/x.pcap" bad_ack_count

# --- bad arguments ------------------------------------------------------------
# badarg NAME EXPECTED-TEXT ARGS...: exit 2, the text on stderr, no output
badarg() {
	local name=$1 want=$2 rc
	shift 2
	rm -f "$T/bad.pcap"
	"$W" "$@" >"$T/b.out" 2>"$T/b.err"
	rc=$?
	if [ "$rc" != 2 ]; then
		bad "bad argument: $name" "exit $rc, want 2"
	elif ! grep -qF -- "$want" "$T/b.err"; then
		bad "bad argument: $name" "stderr lacks '$want': $(cat "$T/b.err")"
	elif [ -e "$T/bad.pcap" ]; then
		bad "bad argument: $name" "wrote an output file anyway"
	else
		ok
	fi
}
E=(encode --size 10 --out "$T/bad.pcap")
badarg "hex digit" "--key: 'g' at position 3 is not a hex digit" \
	"${E[@]}" --key 00g1 --iv "$IC"
badarg "odd hex" "--key: odd number of hex digits" \
	"${E[@]}" --key 000 --iv "$IC"
badarg "AES-256 key of 16 bytes" \
	"--key: 16 bytes given, but TLS_AES_256_GCM_SHA384 needs a 32-byte key" \
	"${E[@]}" --cipher aes256gcm --key "${KC:0:32}" --iv "$IC"
badarg "AES-128 key of 32 bytes" \
	"--key: 32 bytes given, but TLS_AES_128_GCM_SHA256 needs a 16-byte key" \
	"${E[@]}" --key "$KC" --iv "$IC"
badarg "ChaCha key of 16 bytes" "needs a 32-byte key" \
	"${E[@]}" --cipher TLS_CHACHA20_POLY1305_SHA256 --key "${KC:0:32}" \
	--iv "$IC"
badarg "IV length" "--iv: 11 bytes given, 12 bytes (24 hex digits) needed" \
	"${E[@]}" --key "${KC:0:32}" --iv "${IC:0:22}"
badarg "missing key" "--key is required" "${E[@]}" --iv "$IC"
badarg "unknown cipher" "--cipher: unknown cipher 'aes-512'" \
	"${E[@]}" --cipher aes-512 --key "${KC:0:32}" --iv "$IC"
badarg "B = 39" "--bits: B = 39 is out of range" \
	"${E[@]}" --bits 39 --key "${KC:0:32}" --iv "$IC"
badarg "B = 57" "--bits: B = 57 is out of range" \
	"${E[@]}" --bits 57 --key "${KC:0:32}" --iv "$IC"
badarg "B not a number" "--bits: 'x' is not a number" \
	"${E[@]}" --bits x --key "${KC:0:32}" --iv "$IC"
badarg "decode B = 60" "--bits: B = 60 is out of range" \
	decode "$T/p.pcap" --bits 60
badarg "msg-id 1" "--msg-id: 1 is out of range for B = 48" \
	"${E[@]}" --msg-id 1 --key "${KC:0:32}" --iv "$IC"
badarg "msg-id 2^47" "--msg-id: 140737488355328 is out of range" \
	"${E[@]}" --msg-id 140737488355328 --key "${KC:0:32}" --iv "$IC"
badarg "oneway response" "--oneway: msg_id 3 is odd" \
	"${E[@]}" --msg-id 3 --oneway --key "${KC:0:32}" --iv "$IC"
badarg "record size" "--record-size: '100' is not in 4096..16384" \
	"${E[@]}" --record-size 100 --key "${KC:0:32}" --iv "$IC"
badarg "mtu too small" "--mtu: 64 is too small" \
	"${E[@]}" --mtu 64 --key "${KC:0:32}" --iv "$IC"
badarg "bad address" "--src: '300.1.1.1' is not an IPv4 or IPv6 address" \
	"${E[@]}" --src 300.1.1.1:5 --dst "$SRV:1" --key "${KC:0:32}" --iv "$IC"
badarg "v6 without brackets" "--dst: '2001:db8::1:5' has no port; write IPv6 addresses with brackets" \
	"${E[@]}" --src "$CLI:5" --dst 2001:db8::1:5 --key "${KC:0:32}" \
	--iv "$IC"
badarg "missing port" "--src: '192.0.2.1' has no port" \
	"${E[@]}" --src "$CLI" --dst "$SRV:1" --key "${KC:0:32}" --iv "$IC"
badarg "mixed families" "both addresses must be IPv4 or both IPv6" \
	"${E[@]}" --src "$CLI:1" --dst "[::1]:1" --key "${KC:0:32}" --iv "$IC"
badarg "only --src" "--src/--dst: give both or neither" \
	"${E[@]}" --src "$CLI:1" --key "${KC:0:32}" --iv "$IC"
badarg "unreadable input" "--in: cannot read '$T/nonexistent'" \
	encode --in "$T/nonexistent" --out "$T/bad.pcap" --key "${KC:0:32}" \
	--iv "$IC"
badarg "both --in and --size" "give exactly one of --in FILE and --size N" \
	"${E[@]}" --in "$T/in.1" --key "${KC:0:32}" --iv "$IC"
badarg "size suffix" "--size: '10X' is not a size" \
	encode --size 10X --out "$T/bad.pcap" --key "${KC:0:32}" --iv "$IC"
badarg "too many records for B" "more than the 256 that B = 56 allows" \
	encode --size 1M --bits 56 --record-size 4096 --out "$T/bad.pcap" \
	--key "${KC:0:32}" --iv "$IC"
badarg "unwritable output" "--out: cannot create '$T/no/dir/x.pcap'" \
	encode --size 1 --out "$T/no/dir/x.pcap" --key "${KC:0:32}" --iv "$IC"
badarg "unreadable pcap" "cannot read '$T/nonexistent'" \
	decode "$T/nonexistent"
badarg "not a pcap" "'$T/in.1391' is not a pcap file" decode "$T/in.1391"
badarg "unreadable keylog" "--keylog: cannot read '$T/nonexistent'" \
	decode "$T/p.pcap" --keylog "$T/nonexistent"
echo "SMT_SESSION 192.0.2.1 40000 192.0.2.2 7000 TLS_AES_128_GCM_SHA256 48 0 1048576 0 00 $IC 00 $IS" >"$T/klbad"
badarg "bad keylog line" "--keylog: $T/klbad line 1: bad" \
	decode "$T/p.pcap" --keylog "$T/klbad"
badarg "dump dir" "--dump: '$T/nodir' is not a directory" \
	decode "$T/p.pcap" --dump "$T/nodir"
badarg "control type" "--type: unknown packet type 'nack'" \
	encode --type nack --out "$T/bad.pcap" --key "${KC:0:32}" --iv "$IC"
badarg "ACK without ids" "--ids: an ACK lists 1..32 msg_ids" \
	encode --type ack --out "$T/bad.pcap" --key "${KC:0:32}" --iv "$IC"
badarg "ACK with 33 ids" "--ids: at most 32 msg_ids fit in one ACK" \
	encode --type ack --ids "$(seq -s, 2 2 66)" --out "$T/bad.pcap" \
	--key "${KC:0:32}" --iv "$IC"
badarg "control with --size" "--in/--size: a GRANT packet carries no" \
	"${E[@]}" --type grant --key "${KC:0:32}" --iv "$IC"
badarg "no pcap" "decode: give the pcap file" decode
badarg "unknown command" "unknown command 'frobnicate'" frobnicate
"$W" decode -j "$T/nonexistent" >"$T/b.out" 2>/dev/null
[ $? = 2 ] && grep -q '"error": *"cannot read' "$T/b.out" && ok ||
	bad "error as JSON" "$(cat "$T/b.out")"
"$W" --help | grep -q "smt-wire encode" && "$W" help | grep -q "decode PCAP" &&
	ok || bad "help" "no usage text"

# --- golden -------------------------------------------------------------------
# One fixed encoding: AES-128-GCM, key 00..0f, IV a0..ab, B 48, msg_id 2,
# --size 20000 (byte i = i mod 251), R 16384, MTU 1500, 192.0.2.1:40000 >
# 192.0.2.2:7000, proto 253, epoch 0. Content 20008 = records of 16384 and
# 3624 content bytes, so record lengths 16401 (0x4011) and 3641 (0x0e39),
# records of 16406 and 3646 wire bytes, msg_len 20052 (0x4e54). Payloads
# min(record left, 1500 - 20 - 40 = 1440): record 0 in 11 x 1440 + 566,
# record 1 in 1440 + 1440 + 766: 15 packets.
# The headers below were derived by hand from docs/protocol.md sections 2
# and 3 (IPv4: DF, TTL 64, ID 0, checksum computed by hand for packet 0);
# the SHA-256 over all packet bytes (IP header to end, packets back to back)
# was computed once from this implementation after those headers matched,
# and the wire stream was cross-checked then against an independent AES-GCM
# (Python cryptography) built from protocol.md section 3.
# It pins the ciphertext too, so any change in nonce, AAD, record framing or
# packetisation shows up here even when encode and decode change together.
GOLDEN_SHA=82f8f4446e82150dd33de73b584031650e616fa3a5676cc488e662d85bc47684
enc --size 20000 --out "$T/g.pcap"
hdr() { # packet I, first N bytes, as hex
	hexdump "$T/g.pcap" "$(pkt_at "$T/g.pcap" "$1")" "$2"
}
check_hdr() { # packet I, expected hex (spaces ignored)
	local i=$1 want
	shift
	want=$(echo "$*" | tr -d ' ')
	[ "$(hdr "$i" "$((${#want} / 2))")" = "$want" ] && ok ||
		bad "golden packet $i header" "got $(hdr "$i" $((${#want} / 2)))"
}
[ "$(pkts "$T/g.pcap" | wc -l)" = 15 ] && ok ||
	bad "golden packet count" "$(pkts "$T/g.pcap" | wc -l)"
# IPv4: 45 00 total-length, ID 0, DF, TTL 64, proto 253, checksum, addrs.
# SMT: sport dport pkt_off seg_off doff_ver type flags csum rec_idx msg_id
#      msg_len granted prio epoch pkt_idx; then the record header if any.
# packet 0: starts record 0
check_hdr 0 4500 05dc 0000 4000 40fd b021 c000 0201 c000 0202 \
	9c40 1b58 00000000 00000000 a1 10 0000 0000 0000 0000000000000002 \
	00004e54 00004e54 00 00 0000 \
	17 03 03 4011
# packet 11: last of record 0, pkt_off 15840, 566 bytes, pkt_idx 11
check_hdr 11 4500 0272 0000 4000 40fd b38b c000 0201 c000 0202 \
	9c40 1b58 00003de0 00000000 a1 10 0000 0000 0000 0000000000000002 \
	00004e54 00004e54 00 00 000b
# packet 12: pkt_off = seg_off = 16406, rec_idx 1, record header 0e39
check_hdr 12 4500 05dc 0000 4000 40fd b021 c000 0201 c000 0202 \
	9c40 1b58 00004016 00004016 a1 10 0000 0000 0001 0000000000000002 \
	00004e54 00004e54 00 00 0000 \
	17 03 03 0e39
# packet 14: last, pkt_off 19286, 766 bytes, pkt_idx 2
check_hdr 14 4500 033a 0000 4000 40fd b2c3 c000 0201 c000 0202 \
	9c40 1b58 00004b56 00004016 a1 10 0000 0000 0001 0000000000000002 \
	00004e54 00004e54 00 00 0002
sha=$(pkts "$T/g.pcap" | while read -r o l; do
	tail -c +$((o + 1)) "$T/g.pcap" | head -c "$l"
done | sha256sum | cut -d' ' -f1)
[ "$sha" = "$GOLDEN_SHA" ] && ok ||
	bad "golden SHA-256 of packet bytes" "got $sha"

echo "test-wire: $pass passed, $fail failed"
[ "$fail" = 0 ]

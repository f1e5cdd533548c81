#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# test-wireshark: the Lua dissector scripts/wireshark/smt.lua under tshark,
# checked against published cipher vectors, against the bytes of the
# captures and against `smt-wire decode` (libsmt, OpenSSL) of the same
# captures (tests/wireshark/compare.py):
#   - vectors: the plain-Lua AES-GCM and ChaCha20-Poly1305 (vectors.lua);
#   - encoded: smt-wire encode captures in both encapsulations, IPv4 and
#     IPv6, all three ciphers, B 40/48/56 with msg_id at the top of its
#     range, epochs 63 and 200, record sizes 4096 and 16384, one-record
#     boundaries, ONEWAY, both directions' keys, every control type;
#     decoded with and without the key log;
#   - tampered: one capture per encapsulation with packets broken on
#     purpose, and one with authentic packets of wrong content sealed
#     again by forge.lua, so that the dissector must name the drop reason
#     smt-wire names at the same packet (the tier expects 28 reasons);
#   - netns: the capture_decode scenario of test-net (smt-echo over veth,
#     tcpdump, both encapsulations), decoded with its key log, the UDP one
#     with the port-range preference instead of the heuristic.
# Usage: SMT_WIRE=build/bin/smt-wire BUILD=build tests/wireshark/run.sh
# (WS_NET=0 skips the netns part; it needs root and takes the netns lock
# of the caller). Under CI=true a missing tshark is a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1

W=${SMT_WIRE:-build/bin/smt-wire}
LUA=${WS_LUA:-$PWD/scripts/wireshark/smt.lua}
HERE=tests/wireshark
if ! command -v tshark >/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: test-wireshark needs tshark (scripts/setup-deps.sh installs it) and CI=true" >&2
		exit 1
	fi
	echo "SKIP: test-wireshark needs tshark; NOT run, NOT passed" >&2
	exit 0
fi
if [ ! -x "$W" ]; then
	echo "test-wireshark: $W not built; run make first" >&2
	exit 1
fi
T=$(mktemp -d /tmp/smt-wireshark.XXXXXX)
trap '[ -n "${WS_KEEP:-}" ] || rm -rf "$T"' EXIT
REPORT_COLS=22
. tests/lib/report.sh
T0=$(date +%s)

# tshark for the tier: its own HOME (no personal preferences or plugins),
# and when `make install` put a copy of smt.lua into the global Lua plugin
# folder, that copy hidden (a private mount namespace binds /dev/null over
# it), so that the tree's smt.lua is what runs (a second copy is inert)
GLOBAL_LUA=$(tshark -G folders 2>/dev/null | sed -n 's/^Global Lua Plugins:[[:space:]]*//p')
HIDE=()
if [ -n "$GLOBAL_LUA" ] && [ -e "$GLOBAL_LUA/smt.lua" ]; then
	if [ "$(id -u)" = 0 ]; then
		# shellcheck disable=SC2016
		HIDE=(unshare -m sh -c 'mount --bind /dev/null "$0" && exec "$@"'
			"$GLOBAL_LUA/smt.lua")
		echo "NOTE  $GLOBAL_LUA/smt.lua is installed; hidden from this tier's tshark"
	else
		bad installed_copy "$GLOBAL_LUA/smt.lua would be tested instead of the tree's (run as root, or remove it)"
	fi
fi
mkdir -p "$T/home"
tsh() { HOME=$T/home XDG_CONFIG_HOME=$T/home/.config "${HIDE[@]}" tshark "$@"; }

FIELDS=$(python3 -c "import sys; sys.path.insert(0, '$HERE'); import compare; print(' '.join('-e ' + f for f in compare.FIELDS))")

# ts PCAP OUT [tshark options]: the dissector's fields, one line per frame
ts() {
	local pcap=$1 out=$2
	shift 2
	# shellcheck disable=SC2086
	tsh -n -r "$pcap" -X lua_script:"$LUA" \
		-o udp.try_heuristic_first:TRUE "$@" -T fields \
		-E separator=/t -E occurrence=a -E aggregator=, $FIELDS \
		>"$out" 2>"$out.err"
}

# check NAME PCAP KEYLOG|- WIRE_OPTS TSHARK_OPTS COMPARE_OPTS...: decode the
# capture with smt-wire and tshark and compare (WIRE_OPTS and TSHARK_OPTS
# are word lists)
check() {
	local name=$1 pcap=$2 kl=$3 wopts=$4 topts=$5 out
	shift 5
	local kw=() kt=()
	if [ "$kl" != - ]; then
		kw=(--keylog "$kl")
		kt=(-o "smt.keylog_file:$kl")
	fi
	mkdir -p "$T/$name.dump"
	# shellcheck disable=SC2086
	"$W" decode "$pcap" "${kw[@]}" -j --dump "$T/$name.dump" $wopts \
		>"$T/$name.json" 2>"$T/$name.wire.err"
	# shellcheck disable=SC2086
	if ! ts "$pcap" "$T/$name.tsv" "${kt[@]}" $topts; then
		bad "$name" "tshark failed: $(head -3 "$T/$name.tsv.err")"
		return
	fi
	if grep -qi "lua.*error\|error.*lua" "$T/$name.tsv.err"; then
		bad "$name" "Lua error: $(grep -i lua "$T/$name.tsv.err" | head -3)"
		return
	fi
	if out=$(python3 $HERE/compare.py "$pcap" "$T/$name.tsv" "$T/$name.json" \
		"$T/$name.dump" "$@" 2>&1); then
		ok "$name" "$(echo "$out" | tail -1)"
	else
		bad "$name" "$(echo "$out" | tail -1)"
		echo "$out" | head -20 | sed 's/^/      | /'
	fi
}

# ---- vectors ------------------------------------------------------------
"$W" encode --key 000102030405060708090a0b0c0d0e0f --iv a0a1a2a3a4a5a6a7a8a9aaab \
	--size 1 --out "$T/one.pcap" 2>/dev/null
out=$(tsh -n -r "$T/one.pcap" -X lua_script:"$LUA" \
	-X lua_script:"$PWD/$HERE/vectors.lua" 2>&1 | grep -a '^FAIL\|^vectors:')
if echo "$out" | grep -q '^vectors: [1-9][0-9]* passed, 0 failed'; then
	ok vectors "$out"
else
	bad vectors "${out:-no output from vectors.lua}"
fi

# ---- make install-wireshark: loaded as a plugin, without -X --------------
H=$T/plugin-home
make --no-print-directory -s install-wireshark \
	WIRESHARK_LUA_DIR="$H/.local/lib/wireshark/plugins" >/dev/null 2>&1
out=$(HOME=$H XDG_CONFIG_HOME=$H/.config "${HIDE[@]}" tshark -n -r "$T/one.pcap" 2>&1 |
	grep -a 'SMT.*DATA msg_id=2')
if [ -n "$out" ]; then
	ok plugin "installed as $H/.local/lib/wireshark/plugins/smt.lua:$out"
else
	bad plugin "make install-wireshark: tshark did not load the dissector"
fi

# ---- encoded captures ---------------------------------------------------
KC=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
IC=a0a1a2a3a4a5a6a7a8a9aaab
KS=f0e0d0c0b0a0908070605040302010000f0e0d0c0b0a09080706050403020100
IS=0b0a09080706050403020100
KL=$T/keys.log
: >"$KL"
N=0
PCAPS=()

klen() { case "$1" in aes128gcm) echo 32 ;; *) echo 64 ;; esac; }
iana() {
	case "$1" in
	aes128gcm) echo TLS_AES_128_GCM_SHA256 ;;
	aes256gcm) echo TLS_AES_256_GCM_SHA384 ;;
	*) echo TLS_CHACHA20_POLY1305_SHA256 ;;
	esac
}

# session CIPHER B EPOCH CLIENT CPORT SERVER SPORT ENCAP [M]: sets the
# context of the following enc calls and writes its key log line
session() {
	S_C=$1 S_B=$2 S_E=$3 S_CA=$4 S_CP=$5 S_SA=$6 S_SP=$7 S_ENC=$8
	local n
	n=$(klen "$S_C")
	echo "SMT_SESSION $S_CA $S_CP $S_SA $S_SP $(iana "$S_C") $S_B $S_E ${9:-1048576} 0 ${KC:0:$n} $IC ${KS:0:$n} $IS" >>"$KL"
}
hp() { case "$1" in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac; }

# enc c|s encode-args...: one capture from the client (c) or server (s)
enc() {
	local dir=$1 n key iv src dst
	shift
	n=$(klen "$S_C")
	N=$((N + 1))
	if [ "$dir" = c ]; then
		key=${KC:0:$n} iv=$IC src=$(hp "$S_CA" "$S_CP") dst=$(hp "$S_SA" "$S_SP")
	else
		key=${KS:0:$n} iv=$IS src=$(hp "$S_SA" "$S_SP") dst=$(hp "$S_CA" "$S_CP")
	fi
	if ! "$W" encode --cipher "$S_C" --key "$key" --iv "$iv" --bits "$S_B" \
		--epoch "$S_E" --src "$src" --dst "$dst" --encap "$S_ENC" "$@" \
		--out "$T/e$N.pcap" 2>"$T/enc.err"; then
		bad encode "smt-wire encode $*: $(cat "$T/enc.err")"
		return
	fi
	PCAPS+=("$T/e$N.pcap")
}

session aes128gcm 48 0 192.0.2.1 40001 192.0.2.2 7000 ip
enc c --msg-id 2 --size 0
enc c --msg-id 4 --size 1
enc c --msg-id 6 --size 20000
enc s --msg-id 7 --size 100
enc c --msg-id 8 --size 16376 # content 16384: exactly one record
enc c --msg-id 10 --size 16377 # one byte into a second record
enc c --type grant --msg-id 7 --ctl-seq 1 --offset 1000 --prio 5
enc c --type resend --msg-id 7 --ctl-seq 2 --offset 10 --length 20 --prio 7
enc c --type ack --ctl-seq 3 --ids 7,9,11
enc s --type need_ack --msg-id 7 --ctl-seq 1
session aes256gcm 56 0 192.0.2.1 40002 192.0.2.2 7001 udp 1048568 # B 56's largest M
enc s --msg-id 36028797018963967 --size 70000 # 2^55 - 1: B = 56's last
enc c --msg-id 2 --size 9000 --record-size 4096 --oneway
enc s --type busy --msg-id 36028797018963967 --ctl-seq 1
enc s --type unknown --msg-id 4 --ctl-seq 2
enc c --type ack --ctl-seq 1 --ids "$(seq -s, 3 2 65)" # 32 ids
session chacha20poly1305 40 200 2001:db8::1 40003 2001:db8::2 7002 ip
enc c --msg-id 549755813886 --size 40000 --mtu 9000 # 2^39 - 2
enc s --msg-id 549755813887 --size 5 --mtu 9000
enc s --type grant --msg-id 549755813886 --ctl-seq 9223372036854775807 --offset 7 --prio 0
session chacha20poly1305 48 63 2001:db8::1 40004 2001:db8::2 7003 udp
enc c --msg-id 2 --size 33000 --record-size 4096
enc s --msg-id 3 --size 0
enc c --type resend --msg-id 3 --ctl-seq 5 --offset 0 --length 0 --prio 7
session aes128gcm 48 1 192.0.2.1 40005 192.0.2.2 7004 udp
enc c --msg-id 2 --size 1432 # one full UDP packet of payload
ENC=$T/encoded.pcap
mergecap -F pcap -a -w "$ENC" "${PCAPS[@]}"
check encoded "$ENC" "$KL" "" "" --expect ok=13 --expect control=9
# without keys: layouts only, control packets unverified; B is 48 then, so
# the packets of msg_id 2^55 - 1 are bad_msg_id
check encoded_nokeys "$ENC" - "" "" --expect complete=12 --expect control=9 \
	--expect drop:bad_msg_id=50

# ---- tampered captures: the drop reasons --------------------------------
PCAPS=()
N=100
session aes128gcm 48 0 192.0.2.1 41000 192.0.2.2 7000 ip
enc c --msg-id 2 --size 20000    # 1-15: a ciphertext byte flipped
enc c --msg-id 4 --size 20000    # 16-30: another byte for one offset
enc c --msg-id 6 --size 100      # 31: then sent again
enc c --msg-id 8 --size 3000     # 32-34: another msg_len in 33
enc c --msg-id 10000 --size 1    # 35: moves the request window
enc c --msg-id 12 --size 1       # 36: below it now
enc c --type grant --msg-id 3 --ctl-seq 1 --offset 9 --prio 1 # 37, duplicated, replayed
enc c --type resend --msg-id 3 --ctl-seq 2 --offset 9 --length 9 --prio 1 # 38
enc c --type ack --ctl-seq 3 --ids 5 # 39
enc c --msg-id 10002 --size 3000 # 40-42: 41 and 42 as IPID_OFF templates
mergecap -F pcap -a -w "$T/base-ip.pcap" "${PCAPS[@]}"
python3 $HERE/tamper.py "$T/base-ip.pcap" "$T/tampered-ip.pcap" \
	set:3:xor=100 ins:17:xor=60 app:31 set:33:28=00000bb9 \
	app:37 app:37:40=0000ffff set:38:xor=-1 \
	app:31:12=a2 app:31:13=15 app:31:20=0000000000000000 \
	app:31:28=ffffffff app:2:8=000007d0 app:2:18=0001 app:12:4=00003dE1 \
	app:31:len=30 app:31:len=40 app:31:len=43 app:31:40=16 \
	app:31:0=a411 app:31:37=05 app:37:len=70 app:39:40=0000 \
	app:31:14=0002 app:2:28=000007d0 \
	set:41:4=00000000:14=0002:38=05a0:ipid=1 \
	set:42:4=00000000:14=0002:38=05a0:ipid=2 \
	|| bad tamper "tamper.py failed"
# With keys, smt-wire (libsmt) and the dissector decrypt a record's bytes
# as they come in order (protocol.md 3.4), so the tampered copy of bytes
# already taken is a duplicate, not bytes_mismatch (rule 9 compares only
# bytes still held); the keyless check below still sees the mismatch.
check tampered_ip "$T/tampered-ip.pcap" "$KL" "" "" --expect ok=4 \
	--expect drop:record_auth_failed=1 \
	--expect drop:duplicate=3 --expect drop:msg_len_mismatch=1 \
	--expect drop:request_replay=1 --expect drop:control_replay=1 \
	--expect drop:control_auth_failed=1 \
	--expect drop:bad_doff_ver=1 --expect drop:unknown_type=1 \
	--expect drop:bad_msg_id=1 --expect drop:msg_len_over_max=1 \
	--expect drop:seg_off_after_pkt_off=1 --expect drop:bad_rec_idx=1 \
	--expect drop:past_record=1 --expect drop:short_header=1 \
	--expect drop:empty_payload=1 --expect drop:short_record_start=1 \
	--expect drop:bad_record_header=1 --expect drop:unknown_session=1 \
	--expect drop:no_epoch_keys=1 --expect drop:bad_control_length=1 \
	--expect drop:bad_ack_count=1 --expect drop:past_msg_len=1
# without keys: what a keyless receiver can check
check tampered_ip_nokeys "$T/tampered-ip.pcap" - "" "" \
	--expect drop:bytes_mismatch=1 --expect drop:msg_len_mismatch=1 \
	--expect drop:past_record=1

# authentic packets with wrong contents, sealed again by forge.lua
PCAPS=()
session aes128gcm 48 0 192.0.2.1 41000 192.0.2.2 7000 ip
enc c --msg-id 14 --size 10 # 1: app_len 5
enc c --msg-id 16 --size 10 # 2: inner flags 2
enc c --msg-id 18 --size 10 # 3: inner content type 0x16
enc c --type grant --msg-id 3 --ctl-seq 5 --offset 9 --prio 1 # 4: prio 9
enc c --msg-id 20 --size 10 # 5: nothing changed
mergecap -F pcap -a -w "$T/base-forge.pcap" "${PCAPS[@]}"
out=$(tsh -n -r "$T/base-forge.pcap" -X lua_script:"$LUA" \
	-X lua_script:"$PWD/$HERE/forge.lua" \
	-X "lua_script2:$T/base-forge.pcap" -X "lua_script2:$T/forged.pcap" \
	-X lua_script2:TLS_AES_128_GCM_SHA256 -X "lua_script2:${KC:0:32}" \
	-X "lua_script2:$IC" -X lua_script2:48 \
	-X lua_script2:rec:1:0=00000005 -X lua_script2:rec:2:4=00000002 \
	-X lua_script2:rec:3:18=16 -X lua_script2:ctl:4:44=09 2>&1 |
	grep -a '^forge:')
# then the failed message again (reassembled afresh, fails again) and the
# good one again (a duplicate)
if [ "$out" = "forge: 4 packets rewritten" ] &&
	python3 $HERE/tamper.py "$T/forged.pcap" "$T/forged2.pcap" app:1 app:5; then
	check forged "$T/forged2.pcap" "$KL" "" "" --expect ok=1 \
		--expect drop:truncated=2 --expect drop:bad_inner=2 \
		--expect drop:bad_control_fields=1 --expect drop:duplicate=1
else
	bad forged "forge.lua: ${out:-no output}"
fi

PCAPS=()
session aes256gcm 48 0 192.0.2.1 41001 192.0.2.2 7000 udp
enc c --msg-id 2 --size 3000
mergecap -F pcap -a -w "$T/base-udp.pcap" "${PCAPS[@]}"
python3 $HERE/tamper.py "$T/base-udp.pcap" "$T/tampered-udp.pcap" \
	app:1:0=a412 app:1:14=0002 app:1:len=20 ||
	bad tamper "tamper.py failed"
check tampered_udp "$T/tampered-udp.pcap" "$KL" "" "" \
	--expect ok=1 --expect drop:udp_port_mismatch=1 \
	--expect drop:ipid_off_on_ipv6=1
check tampered_udp_ports "$T/tampered-udp.pcap" "$KL" "--udp-ports 7000" \
	"-o smt.udp_ports:7000 -o smt.udp_heur:FALSE" \
	--udp-ports 7000 --expect ok=1 --expect drop:short_header=1

# ---- captures of the netns tests ------------------------------------------
if [ "${WS_NET:-1}" = 1 ]; then
	mkdir -p "$T/net"
	if ! BUILD=${BUILD:-build} NET_CAPTURE_DIR=$T/net NET_ASAN_ECHO=/nonexistent \
		tests/net/run.sh capture >"$T/net.out" 2>&1; then
		bad netns_capture "tests/net/run.sh capture failed: $(grep FAIL "$T/net.out" | head -3)"
	fi
	if grep -q "^SKIP" "$T/net.out"; then
		echo "SKIP  netns captures: $(grep '^SKIP' "$T/net.out")"
	else
		for E in ip udp; do
			if [ ! -s "$T/net/capture-$E.pcap" ]; then
				bad "netns_$E" "no capture from tests/net/run.sh capture"
				continue
			fi
		done
		[ -s "$T/net/capture-ip.pcap" ] &&
			check netns_ip "$T/net/capture-ip.pcap" "$T/net/keys-ip.log" "" "" \
				--expect ok=24 --expect control=1
		[ -s "$T/net/capture-udp.pcap" ] &&
			check netns_udp "$T/net/capture-udp.pcap" "$T/net/keys-udp.log" \
				"--udp-ports 4000-5999" \
				"-o smt.udp_ports:4000-5999 -o smt.udp_heur:FALSE" \
				--udp-ports 4000-5999 --expect ok=24 --expect control=1
	fi
fi

echo "test-wireshark: $pass passed, $fail failed${FAILED:+ (failed:$FAILED)} in $(($(date +%s) - T0)) s"
[ "$fail" = 0 ]

#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Known-answer values of the SMT-ticket key schedule (docs/protocol.md 6.3),
# computed here with the openssl command line only (X25519 with pkeyutl,
# HKDF with `openssl kdf`, HMAC with dgst), independently of smtd's C code.
# Prints "name hex" lines for both hashes; test_ticket compares smtd's
# derivation with tests/smtd/vectors/smt-ticket-kat.txt, and test-smtd
# checks that this script still prints exactly that file.
# Usage: tests/smtd/ticket-kat.sh > tests/smtd/vectors/smt-ticket-kat.txt
set -eu

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

seq_hex() { # FIRST COUNT: bytes FIRST, FIRST+1, ... as hex
	i=0
	while [ $i -lt "$2" ]; do
		printf '%02x' $((($1 + i) % 256))
		i=$((i + 1))
	done
}

# stdin to stdout (coreutils and bash only, no xxd)
hex2bin() {
	local h
	h=$(cat)
	# shellcheck disable=SC2059
	printf "$(printf '%s' "$h" | sed 's/../\\x&/g')"
}
bin2hex() { od -An -v -tx1 | tr -d ' \n'; }

# an X25519 private key as PKCS#8 DER (RFC 8410)
x_key() { # NAME PRIVHEX
	printf '302e020100300506032b656e04220420%s' "$2" | hex2bin >"$tmp/$1.der"
	openssl pkey -inform DER -in "$tmp/$1.der" -pubout -out "$tmp/$1.pub"
}

x_pub_hex() { # NAME: the raw 32-byte public key
	openssl pkey -pubin -in "$tmp/$1.pub" -outform DER | tail -c 32 | bin2hex
}

x_dh() { # PRIV PEER
	openssl pkeyutl -derive -keyform DER -inkey "$tmp/$1.der" \
		-peerkey "$tmp/$2.pub" | bin2hex
}

kdf_hex() { openssl kdf "$@" HKDF | tr -d ':\n' | tr 'A-F' 'a-f'; }

extract() { # MD SALTHEX IKMHEX LEN
	kdf_hex -keylen "$4" -kdfopt "digest:$1" -kdfopt mode:EXTRACT_ONLY \
		-kdfopt "hexsalt:$2" -kdfopt "hexkey:$3"
}

expand_label() { # MD SECRETHEX LABEL CTXHEX LEN
	full="tls13 $3"
	info=$(printf '%04x%02x' "$5" ${#full})
	info="$info$(printf '%s' "$full" | bin2hex)"
	info="$info$(printf '%02x' $((${#4} / 2)))$4"
	kdf_hex -keylen "$5" -kdfopt "digest:$1" -kdfopt mode:EXPAND_ONLY \
		-kdfopt "hexkey:$2" -kdfopt "hexinfo:$info"
}

hash_hex() { # MD HEX...: hash of the concatenation
	md=$1
	shift
	printf '%s' "$*" | tr -d ' ' | hex2bin |
		openssl dgst "-$(echo "$md" | tr 'A-Z' 'a-z')" -binary | bin2hex
}

hmac_hex() { # MD KEYHEX DATAHEX
	printf '%s' "$3" | hex2bin |
		openssl dgst "-$(echo "$1" | tr 'A-Z' 'a-z')" -mac HMAC \
			-macopt "hexkey:$2" -binary | bin2hex
}

c_priv=$(seq_hex 1 32)
s_lt_priv=$(seq_hex 33 32)
s_eph_priv=$(seq_hex 65 32)
x_key c "$c_priv"
x_key slt "$s_lt_priv"
x_key seph "$s_eph_priv"
T=$(printf 'an SMT-ticket stands here' | bin2hex)
CH=$(printf 'SMT0 HELLO bytes' | bin2hex)
SH=$(printf 'SMT0 ACCEPT bytes' | bin2hex)

echo "c_priv $c_priv"
echo "s_lt_priv $s_lt_priv"
echo "s_eph_priv $s_eph_priv"
echo "c_pub $(x_pub_hex c)"
echo "s_lt_pub $(x_pub_hex slt)"
echo "s_eph_pub $(x_pub_hex seph)"
echo "T $T"
echo "CH $CH"
echo "SH $SH"
dh_lt=$(x_dh c slt)
dh_eph=$(x_dh c seph)
[ "$dh_lt" = "$(x_dh slt c)" ] || { echo "X25519 not symmetric" >&2; exit 1; }
echo "dh_lt $dh_lt"
echo "dh_eph $dh_eph"
for md in SHA256 SHA384; do
	hl=32
	[ $md = SHA384 ] && hl=48
	zero=$(seq_hex 0 0)
	i=0
	while [ $i -lt $hl ]; do zero="${zero}00"; i=$((i + 1)); done
	es=$(extract $md "$zero" "$dh_lt" $hl)
	s0=$(expand_label $md "$es" "smt tkt early" "$(hash_hex $md "$T" "$CH")" $hl)
	des=$(expand_label $md "$es" "smt tkt derived" "" $hl)
	hs=$(extract $md "$des" "$dh_eph" $hl)
	th=$(hash_hex $md "$T" "$CH" "$SH")
	s1=$(expand_label $md "$hs" "smt tkt fs" "$th" $hl)
	fk=$(expand_label $md "$hs" "smt tkt finished" "" $hl)
	echo "$md.es $es"
	echo "$md.s0 $s0"
	echo "$md.s1 $s1"
	echo "$md.finished $(hmac_hex $md "$fk" "$th")"
	echo "$md.tag $(expand_label $md "$hs" "smt tkt tag" "" 8)"
done

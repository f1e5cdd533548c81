#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
#
# Record-layer benchmark: libsmt's smt_record_seal/open against OpenSSL's
# own figure for the same cipher and record size, measured in the same run.
#
#   scripts/bench-record.sh [path/to/smt-recbench]     (make bench-record)
#
# smt side: smt-recbench, median of 5 runs of 200 ms CPU time each.
# OpenSSL side: `openssl speed -aead -evp <cipher> -bytes <n> -seconds 1`
# (and -decrypt for open): -aead makes speed run the TLS-like sequence (new
# nonce, 13 bytes of AAD, encrypt, tag) that one record costs, like ours.
# Both divide by CPU time. Ratio = smt / openssl; the target (issue 2) is at
# least 0.85 at 16 KiB. BENCH_STRICT=1 makes a missed target exit 1.
#
# Column evp: the same record sealed by a bare EVP loop inside smt-recbench
# (nonce, 5-byte AAD, content || 0x17, final, tag), the floor for any TLS 1.3
# record through EVP. It is there because OpenSSL 3.0's `speed -aead` for
# chacha20-poly1305 reports small-record rates that no full per-record
# sequence reaches (about 4x the evp column at 64 B here), so small-size
# ChaCha ratios against openssl understate smt; smt/evp shows the layer's
# own overhead.
set -euo pipefail

BIN=${1:-build/bin/smt-recbench}
SIZES=${BENCH_SIZES:-64 1024 16384}
TARGET=0.85

if [ ! -x "$BIN" ]; then
	echo "bench-record: $BIN not found; build it with 'make'" >&2
	exit 2
fi
if ! command -v openssl >/dev/null; then
	echo "bench-record: openssl not found; run scripts/setup-deps.sh" >&2
	exit 2
fi

ossl_name() {
	case "$1" in
	TLS_AES_128_GCM_SHA256) echo aes-128-gcm ;;
	TLS_AES_256_GCM_SHA384) echo aes-256-gcm ;;
	TLS_CHACHA20_POLY1305_SHA256) echo chacha20-poly1305 ;;
	esac
}

# bytes/s from openssl speed's machine-readable "+F:n:NAME:bytes_per_s".
ossl_speed() { # cipher size [-decrypt]
	openssl speed -mr -aead ${3:-} -evp "$1" -bytes "$2" -seconds 1 \
		2>/dev/null | awk -F: '/^\+F:/ { v = $4 } END { print v + 0 }'
}

echo "record-layer throughput, MB/s = 10^6 content bytes per CPU second"
echo "openssl: $(openssl version)"
printf '%-28s %5s %-4s %9s %9s %6s %9s %6s\n' cipher size op smt openssl ratio \
	evp smt/evp
missed=0
for cipher in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 \
	TLS_CHACHA20_POLY1305_SHA256; do
	osn=$(ossl_name "$cipher")
	smt_out=$("$BIN" --cipher "$cipher" --sizes "${SIZES// /,}")
	for size in $SIZES; do
		for op in seal open; do
			smt=$(awk -v s="$size" -v o="$op" \
				'$2 == o && $3 == s { print $4 }' <<<"$smt_out")
			evp=$(awk -v s="$size" -v o="evp-$op" \
				'$2 == o && $3 == s { print $4 }' <<<"$smt_out")
			flag=
			[ "$op" = open ] && flag=-decrypt
			ossl=$(ossl_speed "$osn" "$size" $flag)
			line=$(awk -v c="$cipher" -v s="$size" -v o="$op" \
				-v a="$smt" -v b="$ossl" -v e="${evp:-0}" \
				-v t="$TARGET" 'BEGIN {
				r = b > 0 ? a / b : 0
				note = ""
				if (s == 16384 && r < t) note = "  < target"
				ev = e > 0 ? sprintf("%9.1f %6.2f", e / 1e6, a / e) \
					: sprintf("%9s %6s", "-", "-")
				printf "%-28s %5d %-4s %9.1f %9.1f %6.2f %s%s\n",
					c, s, o, a / 1e6, b / 1e6, r, ev, note }')
			echo "$line"
			case "$line" in *"< target"*) missed=$((missed + 1)) ;; esac
		done
	done
done
if [ "$missed" -eq 0 ]; then
	echo "target: every 16 KiB ratio >= $TARGET: met"
else
	echo "target: $missed 16 KiB ratio(s) below $TARGET: missed"
	[ "${BENCH_STRICT:-0}" = 1 ] && exit 1
fi
exit 0

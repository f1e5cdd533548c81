/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the fuzz targets and their seed generator agree on: the fixed key,
 * IV and session limits the targets decrypt under, and the input framing of
 * fuzz_msg_decode (a sequence of 2-byte big-endian lengths, each followed by
 * that many packet bytes; a zero length asks the reassembly to discard its
 * provisional state, as two RESEND timeouts without progress would).
 */
#ifndef SMT_FUZZ_COMMON_H
#define SMT_FUZZ_COMMON_H

#include <stdint.h>

#include "codec.h"

#define FUZZ_CIPHER SMT_CIPHER_AES_128_GCM
#define FUZZ_B 48
#define FUZZ_M 65536
#define FUZZ_P 256

static const uint8_t fuzz_key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
				     0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
				     0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t fuzz_iv[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
				    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};

static inline struct smt_limits fuzz_limits(void)
{
	struct smt_limits l = {FUZZ_B, FUZZ_M, FUZZ_P};

	return l;
}

/* fuzz_pkt_parse input: byte 0 bit 0 = IPv6; bytes 1-2 the IPv4 ID; then
 * the SMT bytes of one packet. */
#define FUZZ_PKT_PREFIX 3

#endif /* SMT_FUZZ_COMMON_H */

/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Big-endian loads and stores of unaligned byte strings, for the fields of
 * formats that are not C structs (control trailers, SMT-tickets, HELLOs).
 */
#ifndef SMT_BYTES_H
#define SMT_BYTES_H

#include <stdint.h>

static inline uint32_t smt_get_be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t smt_get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint64_t smt_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void smt_put_be16(uint8_t *p, uint32_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static inline void smt_put_be24(uint8_t *p, uint32_t v)
{
	p[0] = v >> 16;
	p[1] = v >> 8;
	p[2] = v;
}

static inline void smt_put_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v;
}

#endif /* SMT_BYTES_H */

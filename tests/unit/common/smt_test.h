/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helpers shared by the unit tests: hex decoding for inline known-answer
 * vectors, a seeded deterministic RNG, and turning an encoded message into
 * its DATA packets (optionally shuffled and duplicated) and back, opening
 * an endpoint or skipping without CAP_NET_RAW.
 */
#ifndef SMT_TEST_H
#define SMT_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "libsmt.h"

/* Decode hex (whitespace ignored) into out; aborts the test on bad input or
 * overflow. Returns the byte count. */
size_t th_hex(const char *hex, uint8_t *out, size_t max);

/* xorshift64*: deterministic, seeded per test. */
uint64_t th_rand(uint64_t *state);
void th_fill(uint8_t *buf, size_t n, uint64_t seed);

/* A message's DATA packets, each in its own malloc'd buffer. */
struct th_pkts {
	size_t n;
	uint8_t **pkt;
	uint32_t *len;
};

/* Cut m into packets of at most max_payload payload bytes (t may be NULL). */
void th_packetize(const struct smt_wire_msg *m, uint32_t max_payload,
		  const struct smt_data_tmpl *t, struct th_pkts *out);
/* Shuffle the packets; then append ndup duplicates of random packets. */
void th_shuffle_dup(struct th_pkts *p, size_t ndup, uint64_t seed);
void th_pkts_free(struct th_pkts *p);

/* Make an AEAD with key bytes seed, seed+1, ... and IV likewise. */
struct smt_aead *th_aead(enum smt_cipher c, uint8_t seed);

/*
 * Feed packets through smt_pkt_parse and smt_rx_msg_add. Returns the first
 * nonzero parse/add drop reason that is not accepted, SMT_RX_DONE when the
 * message completed, or SMT_RX_MORE. Drop counts per reason go to drops
 * (array of SMT_DROP_MAX) when given.
 */
int th_feed(struct smt_rx_msg *m, struct smt_aead *rx,
	    const struct smt_limits *l, const struct th_pkts *p,
	    unsigned int *drops);

/* Opens an endpoint with o; without CAP_NET_RAW skips the test loudly, or
 * fails it under CI=true. */
struct smt_endpoint *th_ep_open(const struct smt_endpoint_opts *o);

/* Session parameters for a peer at 127.0.0.1:peer_port, AES-128-GCM, keys
 * and IVs derived from key_seed (both sides of a session use one seed). */
void th_loopback_params(struct smt_session_params *p, uint16_t peer_port,
			bool tls_client, uint8_t key_seed);
/* Joins endpoints a (the TLS client) and b with one session each way. */
void th_join(struct smt_endpoint *a, struct smt_endpoint *b, uint8_t key_seed,
	     uint32_t *sa, uint32_t *sb);

/*
 * Runs endpoints a and b (smt_wait 1 ms each) until a has a message for
 * smt_recv, which fills *a_msg; b answers every request with its bytes
 * XOR 0x5a. Fails the test after ms milliseconds.
 */
void th_pump_until(struct smt_endpoint *a, struct smt_endpoint *b,
		   struct smt_msg *a_msg, unsigned int ms);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t th_mono_ms(void);
/* CLOCK_MONOTONIC in nanoseconds. */
int64_t th_mono_ns(void);
/* Open timerfds of this process; with periodic_ms, only those set to
 * repeat every periodic_ms (/proc/self/fd, fdinfo). */
int th_timerfds(unsigned int periodic_ms);

#endif /* SMT_TEST_H */

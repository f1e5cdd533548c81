/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smt-proxy framers: where a request (client to server) or a response
 * (server to client) ends in a byte stream. Pure functions over a buffer
 * that holds the start of the stream; no I/O, no allocation, so that the
 * unit tests and the fuzzer drive them directly.
 *
 *   resp   Redis protocol: multibulk and inline commands; replies of every
 *          RESP2 and RESP3 type (nested arrays, maps, sets, attributes,
 *          pushes, big numbers, doubles, booleans, verbatim strings, bulk
 *          errors).
 *   lines  one message per line, ending in "\n" (both directions).
 *   len32  a 4-byte big-endian length, then that many bytes.
 */
#ifndef SMT_PROXY_FRAMER_H
#define SMT_PROXY_FRAMER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum framer_kind {
	FRAMER_RESP = 1,
	FRAMER_LINES = 2,
	FRAMER_LEN32 = 3,
};

/* Results below 0: */
#define FRAMER_ERR_PROTO (-1) /* malformed */
#define FRAMER_ERR_BIG (-2) /* a frame larger than the limit */

/* Redis's own bound on an inline command and on a multibulk count line. */
#define FRAMER_RESP_INLINE_MAX (64 * 1024)

/* What the resp request framer learned about a command. */
#define FRAMER_NAME_MAX 24
struct framer_req {
	unsigned int nargs; /* 0: an empty inline line (Redis ignores it) */
	char name[FRAMER_NAME_MAX]; /* first argument, upper case, cut */
	char sub[FRAMER_NAME_MAX]; /* second argument, upper case, cut */
	int has_block; /* some argument is BLOCK (XREAD ... BLOCK ms) */
	unsigned char kind; /* the command's kind in framer.c's table,
			       looked up once when the request is cut */
};

/* "resp", "lines", "len32" -> kind; 0 when unknown. */
enum framer_kind framer_parse(const char *name);
const char *framer_name(enum framer_kind k);

/*
 * One request at the start of buf[0..len): its length (> 0), 0 when more
 * bytes are needed, or FRAMER_ERR_*. max bounds the frame; info (may be
 * NULL) is filled for resp.
 */
ssize_t framer_request(enum framer_kind k, const uint8_t *buf, size_t len,
		       size_t max, struct framer_req *info);
/* One response at the start of buf, the same results. */
ssize_t framer_response(enum framer_kind k, const uint8_t *buf, size_t len,
			size_t max);

/*
 * For a resp command: why smt-proxy refuses it (a command without exactly
 * one reply: SUBSCRIBE, MONITOR, blocking pops, ...), or NULL.
 */
const char *framer_resp_refusal(const struct framer_req *info);

/*
 * What a resp command does, for a request whose SMT session died before
 * its reply: READONLY ones (GET, MGET, EXISTS, PING, ...) are sent again
 * on the new session; STATEFUL ones (SELECT, AUTH, HELLO, MULTI, WATCH,
 * CLIENT, ...) tie the connection to its backend connection, which a new
 * session does not have; every other command may write (WRITE).
 */
enum framer_cmd_class {
	FRAMER_CMD_WRITE = 0,
	FRAMER_CMD_READONLY = 1,
	FRAMER_CMD_STATEFUL = 2,
};
enum framer_cmd_class framer_resp_class(const struct framer_req *info);

#endif

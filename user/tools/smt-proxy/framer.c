// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-proxy framers (see framer.h). Every parser restarts from the start
 * of the buffer on each call: a partial frame costs a re-scan, which skips
 * bulk strings by their length, so the cost stays small against the copy.
 */
#include "framer.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Length lines ("$123", "*4") are short; anything longer is malformed. */
#define LEN_LINE_MAX 24
/* Redis's proto-max-bulk-len default and its multibulk count bound. */
#define RESP_BULK_MAX (512LL * 1024 * 1024)
#define RESP_ARGS_MAX (1024LL * 1024)

enum framer_kind framer_parse(const char *name)
{
	if (!strcmp(name, "resp"))
		return FRAMER_RESP;
	if (!strcmp(name, "lines"))
		return FRAMER_LINES;
	if (!strcmp(name, "len32"))
		return FRAMER_LEN32;
	return 0;
}

const char *framer_name(enum framer_kind k)
{
	switch (k) {
	case FRAMER_RESP:
		return "resp";
	case FRAMER_LINES:
		return "lines";
	case FRAMER_LEN32:
		return "len32";
	}
	return "?";
}

/*
 * The end of the CRLF-terminated line that starts at off: the offset after
 * "\r\n", 0 when it is not complete yet, FRAMER_ERR_PROTO when it is longer
 * than lmax or holds a bare "\r".
 */
static ssize_t line_end(const uint8_t *b, size_t len, size_t off, size_t lmax)
{
	size_t i;

	for (i = off; i < len; i++) {
		if (i - off > lmax)
			return FRAMER_ERR_PROTO;
		if (b[i] == '\r') {
			if (i + 1 >= len)
				return 0;
			return b[i + 1] == '\n' ? (ssize_t)(i + 2)
						: FRAMER_ERR_PROTO;
		}
	}
	return len - off > lmax ? FRAMER_ERR_PROTO : 0;
}

/* Signed decimal of b[from..to) (to excludes "\r\n"); -1 when malformed. */
static int parse_int(const uint8_t *b, size_t from, size_t to, long long *out)
{
	long long v = 0;
	int neg = 0;

	if (from < to && b[from] == '-') {
		neg = 1;
		from++;
	}
	if (from >= to || to - from > 19)
		return -1;
	for (; from < to; from++) {
		if (b[from] < '0' || b[from] > '9' ||
		    v > (LLONG_MAX - (b[from] - '0')) / 10)
			return -1;
		v = v * 10 + (b[from] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

/* A length line "Xnnn\r\n" at off: its end or 0 / FRAMER_ERR_PROTO. */
static ssize_t len_line(const uint8_t *b, size_t len, size_t off, long long *v)
{
	ssize_t e = line_end(b, len, off, LEN_LINE_MAX);

	if (e <= 0)
		return e;
	if (parse_int(b, off + 1, (size_t)e - 2, v))
		return FRAMER_ERR_PROTO;
	return e;
}

static void copy_upper(char *dst, const uint8_t *src, size_t n)
{
	size_t i;

	if (n > FRAMER_NAME_MAX - 1)
		n = FRAMER_NAME_MAX - 1;
	for (i = 0; i < n; i++)
		dst[i] = (char)toupper(src[i]);
	dst[n] = 0;
}

static void note_arg(struct framer_req *info, unsigned int i, const uint8_t *a,
		     size_t n)
{
	if (!info)
		return;
	if (i == 0)
		copy_upper(info->name, a, n);
	else if (i == 1)
		copy_upper(info->sub, a, n);
	if (n == 5 && !strncasecmp((const char *)a, "BLOCK", 5))
		info->has_block = 1;
}

static ssize_t check_max(ssize_t r, size_t max)
{
	return r > 0 && (size_t)r > max ? FRAMER_ERR_BIG : r;
}

/* "*N\r\n" then N bulk strings "$L\r\n<L bytes>\r\n". */
static ssize_t resp_multibulk(const uint8_t *b, size_t len, size_t max,
			      struct framer_req *info)
{
	long long n, l, i;
	ssize_t e = len_line(b, len, 0, &n);
	size_t off;

	if (e <= 0)
		return e;
	/* Redis ignores "*0" and "*-1" silently: no reply, so refuse them */
	if (n <= 0 || n > RESP_ARGS_MAX)
		return FRAMER_ERR_PROTO;
	off = (size_t)e;
	for (i = 0; i < n; i++) {
		if (off >= len)
			return off > max ? FRAMER_ERR_BIG : 0;
		if (b[off] != '$')
			return FRAMER_ERR_PROTO;
		e = len_line(b, len, off, &l);
		if (e <= 0)
			return e;
		if (l < 0 || l > RESP_BULK_MAX)
			return FRAMER_ERR_PROTO;
		off = (size_t)e;
		if ((size_t)l + 2 > max || off + (size_t)l + 2 > max)
			return FRAMER_ERR_BIG;
		if (off + (size_t)l + 2 > len)
			return 0;
		if (b[off + l] != '\r' || b[off + l + 1] != '\n')
			return FRAMER_ERR_PROTO;
		note_arg(info, (unsigned int)i, b + off, (size_t)l);
		off += (size_t)l + 2;
	}
	if (info)
		info->nargs = (unsigned int)n;
	return check_max((ssize_t)off, max);
}

/* An inline command: one line ending in "\n" (a "\r" before it is part of
 * the end), words separated by blanks. Quotes are left to Redis; only the
 * first two words are looked at. */
static ssize_t resp_inline(const uint8_t *b, size_t len, size_t max,
			   struct framer_req *info)
{
	const uint8_t *nl = memchr(b, '\n', len);
	size_t end, i, w0;
	unsigned int words = 0;

	if (!nl)
		return len > FRAMER_RESP_INLINE_MAX
			       ? FRAMER_ERR_PROTO
			       : (len > max ? FRAMER_ERR_BIG : 0);
	end = (size_t)(nl - b);
	if (end > FRAMER_RESP_INLINE_MAX)
		return FRAMER_ERR_PROTO;
	for (i = 0; i < end;) {
		while (i < end && isspace(b[i]))
			i++;
		if (i >= end)
			break;
		w0 = i;
		while (i < end && !isspace(b[i]))
			i++;
		note_arg(info, words, b + w0, i - w0);
		words++;
	}
	if (info)
		info->nargs = words;
	return check_max((ssize_t)end + 1, max);
}

static unsigned char cmd_kind(const char *name);

/* A request, and the kind of its command (one table look-up per request:
 * framer_resp_refusal and framer_resp_class read info->kind). */
static ssize_t resp_request(const uint8_t *b, size_t len, size_t max,
			    struct framer_req *info)
{
	ssize_t r;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!len)
		return 0;
	if (b[0] == '*')
		r = resp_multibulk(b, len, max, info);
	else
		r = resp_inline(b, len, max, info);
	if (r > 0 && info && info->nargs)
		info->kind = cmd_kind(info->name);
	return r;
}

/*
 * One reply of any RESP2/RESP3 type. Aggregates are counted, not recursed
 * into: `need` is the number of elements still to read, so nesting depth
 * costs nothing. An attribute ("|") is followed by the reply it annotates.
 */
static ssize_t resp_response(const uint8_t *b, size_t len, size_t max)
{
	unsigned long long need = 1;
	long long n;
	size_t off = 0;
	ssize_t e;

	while (need) {
		if (off >= len)
			return off > max ? FRAMER_ERR_BIG : 0;
		if (off > max)
			return FRAMER_ERR_BIG;
		need--;
		switch (b[off]) {
		case '+': /* simple string */
		case '-': /* simple error */
		case ':': /* integer */
		case ',': /* double */
		case '#': /* boolean */
		case '(': /* big number */
		case '_': /* null */
			e = line_end(b, len, off, max);
			if (e <= 0)
				return e ? e : (len > max ? FRAMER_ERR_BIG : 0);
			if (b[off] == ':' && parse_int(b, off + 1, e - 2, &n))
				return FRAMER_ERR_PROTO;
			off = (size_t)e;
			break;
		case '$': /* bulk string */
		case '!': /* bulk error */
		case '=': /* verbatim string */
			e = len_line(b, len, off, &n);
			if (e <= 0)
				return e;
			if (n == -1 && b[off] == '$') { /* RESP2 null */
				off = (size_t)e;
				break;
			}
			if (n < 0 || n > RESP_BULK_MAX)
				return FRAMER_ERR_PROTO;
			off = (size_t)e;
			if (off + (size_t)n + 2 > max)
				return FRAMER_ERR_BIG;
			if (off + (size_t)n + 2 > len)
				return 0;
			if (b[off + n] != '\r' || b[off + n + 1] != '\n')
				return FRAMER_ERR_PROTO;
			off += (size_t)n + 2;
			break;
		case '*': /* array */
		case '~': /* set */
		case '>': /* push */
		case '%': /* map */
		case '|': /* attribute */
			e = len_line(b, len, off, &n);
			if (e <= 0)
				return e;
			if (n == -1 && b[off] == '*') { /* RESP2 null array */
				off = (size_t)e;
				break;
			}
			if (n < 0 || n > RESP_BULK_MAX)
				return FRAMER_ERR_PROTO;
			if (b[off] == '%' || b[off] == '|')
				n *= 2;
			need += (unsigned long long)n;
			if (b[off] == '|')
				need++; /* the reply it annotates */
			off = (size_t)e;
			break;
		default: /* streamed "?" aggregates included: Redis sends none */
			return FRAMER_ERR_PROTO;
		}
	}
	return check_max((ssize_t)off, max);
}

static ssize_t lines_frame(const uint8_t *b, size_t len, size_t max)
{
	const uint8_t *nl = memchr(b, '\n', len < max ? len : max);

	if (nl)
		return nl - b + 1;
	return len >= max ? FRAMER_ERR_BIG : 0;
}

static ssize_t len32_frame(const uint8_t *b, size_t len, size_t max)
{
	uint64_t n;

	if (len < 4)
		return 0;
	n = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 |
	    b[3];
	if (n + 4 > max)
		return FRAMER_ERR_BIG;
	return len >= n + 4 ? (ssize_t)(n + 4) : 0;
}

ssize_t framer_request(enum framer_kind k, const uint8_t *buf, size_t len,
		       size_t max, struct framer_req *info)
{
	switch (k) {
	case FRAMER_RESP:
		return resp_request(buf, len, max, info);
	case FRAMER_LINES:
		return lines_frame(buf, len, max);
	case FRAMER_LEN32:
		return len32_frame(buf, len, max);
	}
	return FRAMER_ERR_PROTO;
}

ssize_t framer_response(enum framer_kind k, const uint8_t *buf, size_t len,
			size_t max)
{
	switch (k) {
	case FRAMER_RESP:
		return resp_response(buf, len, max);
	case FRAMER_LINES:
		return lines_frame(buf, len, max);
	case FRAMER_LEN32:
		return len32_frame(buf, len, max);
	}
	return FRAMER_ERR_PROTO;
}

/*
 * The commands the proxy treats apart, sorted by name (strcmp order: one
 * bsearch per request, not a scan of every list): refused ones (no single
 * reply, or they may wait without bound), XREAD and XREADGROUP (refused
 * with BLOCK), CLIENT (connection state; refused with REPLY or TRACKING),
 * read-only ones (sent again on a new session when the first one's fate
 * is unknown) and those whose effect lives in the connection (the server
 * proxy's backend connection of this client connection). Every other
 * command may write.
 */
enum cmd_kind {
	CMD_OTHER = 0,
	CMD_REFUSED,
	CMD_XREAD,
	CMD_CLIENT,
	CMD_READONLY,
	CMD_STATEFUL,
};
static const struct cmd {
	const char *name;
	unsigned char kind;
} cmds[] = {
	{"ASKING", CMD_STATEFUL},      {"AUTH", CMD_STATEFUL},
	{"BLMOVE", CMD_REFUSED},       {"BLMPOP", CMD_REFUSED},
	{"BLPOP", CMD_REFUSED},	       {"BRPOP", CMD_REFUSED},
	{"BRPOPLPUSH", CMD_REFUSED},   {"BZMPOP", CMD_REFUSED},
	{"BZPOPMAX", CMD_REFUSED},     {"BZPOPMIN", CMD_REFUSED},
	{"CLIENT", CMD_CLIENT},	       {"DBSIZE", CMD_READONLY},
	{"DISCARD", CMD_STATEFUL},     {"ECHO", CMD_READONLY},
	{"EXEC", CMD_STATEFUL},	       {"EXISTS", CMD_READONLY},
	{"GET", CMD_READONLY},	       {"GETRANGE", CMD_READONLY},
	{"HELLO", CMD_STATEFUL},       {"HEXISTS", CMD_READONLY},
	{"HGET", CMD_READONLY},	       {"HGETALL", CMD_READONLY},
	{"HKEYS", CMD_READONLY},       {"HLEN", CMD_READONLY},
	{"HMGET", CMD_READONLY},       {"HVALS", CMD_READONLY},
	{"LINDEX", CMD_READONLY},      {"LLEN", CMD_READONLY},
	{"LRANGE", CMD_READONLY},      {"MGET", CMD_READONLY},
	{"MONITOR", CMD_REFUSED},      {"MULTI", CMD_STATEFUL},
	{"PING", CMD_READONLY},	       {"PSUBSCRIBE", CMD_REFUSED},
	{"PSYNC", CMD_REFUSED},	       {"PTTL", CMD_READONLY},
	{"PUNSUBSCRIBE", CMD_REFUSED}, {"READONLY", CMD_STATEFUL},
	{"READWRITE", CMD_STATEFUL},   {"RESET", CMD_STATEFUL},
	{"SCARD", CMD_READONLY},       {"SELECT", CMD_STATEFUL},
	{"SISMEMBER", CMD_READONLY},   {"SMEMBERS", CMD_READONLY},
	{"SSUBSCRIBE", CMD_REFUSED},   {"STRLEN", CMD_READONLY},
	{"SUBSCRIBE", CMD_REFUSED},    {"SUNSUBSCRIBE", CMD_REFUSED},
	{"SYNC", CMD_REFUSED},	       {"TTL", CMD_READONLY},
	{"TYPE", CMD_READONLY},	       {"UNSUBSCRIBE", CMD_REFUSED},
	{"UNWATCH", CMD_STATEFUL},     {"WAIT", CMD_REFUSED},
	{"WAITAOF", CMD_REFUSED},      {"WATCH", CMD_STATEFUL},
	{"XLEN", CMD_READONLY},	       {"XRANGE", CMD_READONLY},
	{"XREAD", CMD_XREAD},	       {"XREADGROUP", CMD_XREAD},
	{"ZCARD", CMD_READONLY},       {"ZRANGE", CMD_READONLY},
	{"ZRANK", CMD_READONLY},       {"ZSCORE", CMD_READONLY},
};

static int cmd_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cmd *)elem)->name);
}

static unsigned char cmd_kind(const char *name)
{
	const struct cmd *c = bsearch(name, cmds,
				      sizeof(cmds) / sizeof(cmds[0]),
				      sizeof(cmds[0]), cmd_cmp);

	return c ? c->kind : CMD_OTHER;
}

const char *framer_resp_refusal(const struct framer_req *info)
{
	switch ((enum cmd_kind)info->kind) {
	case CMD_REFUSED:
		return "has no single reply or blocks without bound";
	case CMD_XREAD:
		return info->has_block ? "with BLOCK may wait without bound"
				       : NULL;
	case CMD_CLIENT:
		return !strcmp(info->sub, "REPLY") ||
				       !strcmp(info->sub, "TRACKING")
			       ? "changes how many replies follow"
			       : NULL;
	default:
		return NULL;
	}
}

enum framer_cmd_class framer_resp_class(const struct framer_req *info)
{
	switch ((enum cmd_kind)info->kind) {
	case CMD_READONLY:
		return FRAMER_CMD_READONLY;
	case CMD_STATEFUL:
	case CMD_CLIENT:
		return FRAMER_CMD_STATEFUL;
	default:
		return FRAMER_CMD_WRITE;
	}
}

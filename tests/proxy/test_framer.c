// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of smt-proxy's framers (user/tools/smt-proxy/framer.c):
 * every RESP2/RESP3 reply type, nesting, attributes, inline and multibulk
 * commands, pipelines, every cut point of a frame (0 = need more, never a
 * wrong length), malformed and oversized frames, lines and len32.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "framer.h"

#define BIG (1 << 20)

static ssize_t resp_resp(const char *s)
{
	return framer_response(FRAMER_RESP, (const uint8_t *)s, strlen(s), BIG);
}

/* The whole frame gives its length; every proper prefix gives 0. */
static void whole_and_prefixes(enum framer_kind k, int request, const char *s,
			       size_t len)
{
	ssize_t want = (ssize_t)len, r;
	size_t cut;

	for (cut = 0; cut <= len; cut++) {
		r = request ? framer_request(k, (const uint8_t *)s, cut, BIG,
					     NULL)
			    : framer_response(k, (const uint8_t *)s, cut, BIG);
		cr_assert_eq(r, cut == len ? want : 0,
			     "'%.*s' cut at %zu of %zu: %zd", (int)len, s, cut,
			     len, r);
	}
}

Test(framer, resp_every_reply_type)
{
	static const char *const replies[] = {
		"+OK\r\n",
		"-ERR unknown command\r\n",
		":0\r\n",
		":-9223372036854775807\r\n",
		"$0\r\n\r\n",
		"$-1\r\n",
		"$5\r\nhe\r\nl\r\n", /* CRLF inside a bulk string */
		"*-1\r\n",
		"*0\r\n",
		"*2\r\n$1\r\na\r\n:2\r\n",
		"*2\r\n*2\r\n:1\r\n*1\r\n+x\r\n*0\r\n", /* nested */
		"_\r\n",
		",3.14\r\n",
		",inf\r\n",
		"#t\r\n",
		"(3492890328409238509324850943850943825024385\r\n",
		"!21\r\nSYNTAX invalid syntax\r\n",
		"=15\r\ntxt:Some string\r\n",
		"%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n:2\r\n",
		"~3\r\n+a\r\n+b\r\n+c\r\n",
		">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n",
		/* an attribute, then the reply it belongs to */
		"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n"
		":9\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		whole_and_prefixes(FRAMER_RESP, 0, replies[i],
				   strlen(replies[i]));
}

Test(framer, resp_pipelined_replies_one_at_a_time)
{
	const char *s = "+OK\r\n$3\r\nfoo\r\n*1\r\n:1\r\n";

	cr_assert_eq(resp_resp(s), 5);
	cr_assert_eq(resp_resp(s + 5), 9);
	cr_assert_eq(resp_resp(s + 14), 8);
}

Test(framer, resp_deep_nesting_costs_no_stack)
{
	static char b[4 * 100000 + 8];
	size_t n = 0, i;

	for (i = 0; i < 100000; i++) {
		memcpy(b + n, "*1\r\n", 4);
		n += 4;
	}
	memcpy(b + n, ":1\r\n", 4);
	n += 4;
	cr_assert_eq(framer_response(FRAMER_RESP, (uint8_t *)b, n, 1 << 21),
		     (ssize_t)n);
}

Test(framer, resp_malformed_replies)
{
	static const char *const bad[] = {
		"?x\r\n",  "$abc\r\n", "$-2\r\n",	    "$3\r\nabcd\r\n",
		"*-2\r\n", ":12a\r\n", "+a\rb\r\n",	    "$3\r\nabc\n\n",
		"%-1\r\n", "$?\r\n",   "*2\r\n:1\r\n@\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(resp_resp(bad[i]), FRAMER_ERR_PROTO, "%s", bad[i]);
}

Test(framer, resp_reply_over_the_limit)
{
	const char *s = "$100\r\n";

	cr_assert_eq(
		framer_response(FRAMER_RESP, (const uint8_t *)s, strlen(s), 64),
		FRAMER_ERR_BIG);
	/* a complete reply of exactly the limit is fine, one more is not */
	cr_assert_eq(
		framer_response(FRAMER_RESP, (const uint8_t *)"+OK\r\n", 5, 5),
		5);
	cr_assert_eq(
		framer_response(FRAMER_RESP, (const uint8_t *)"+OK\r\n", 5, 4),
		FRAMER_ERR_BIG);
}

Test(framer, resp_requests)
{
	struct framer_req info;
	const char *mb = "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$4\r\nv\r\nv\r\n";
	const char *inl = "  ping   \r\n";

	whole_and_prefixes(FRAMER_RESP, 1, mb, strlen(mb));
	cr_assert_eq(framer_request(FRAMER_RESP, (const uint8_t *)mb,
				    strlen(mb), BIG, &info),
		     (ssize_t)strlen(mb));
	cr_assert_eq(info.nargs, 3);
	cr_assert_str_eq(info.name, "SET");
	cr_assert_str_eq(info.sub, "K");
	cr_assert_eq(framer_request(FRAMER_RESP, (const uint8_t *)inl,
				    strlen(inl), BIG, &info),
		     (ssize_t)strlen(inl));
	cr_assert_eq(info.nargs, 1);
	cr_assert_str_eq(info.name, "PING");
	/* an empty inline line: Redis sends nothing back, nargs 0 */
	cr_assert_eq(framer_request(FRAMER_RESP, (const uint8_t *)" \r\n", 3,
				    BIG, &info),
		     3);
	cr_assert_eq(info.nargs, 0);
	/* pipelined: one request at a time */
	cr_assert_eq(framer_request(FRAMER_RESP,
				    (const uint8_t *)"PING\r\nPING\r\n", 12,
				    BIG, NULL),
		     6);
}

Test(framer, resp_bad_requests)
{
	static const char *const bad[] = {
		"*0\r\n",
		"*-1\r\n",
		"*1\r\n:1\r\n",
		"*1\r\n$-1\r\n",
		"*1\r\n$2\r\nabc\r\n",
		"*x\r\n",
		"*1\r\n%4\r\nPING\r\n",
	};
	static char longline[FRAMER_RESP_INLINE_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(framer_request(FRAMER_RESP,
					    (const uint8_t *)bad[i],
					    strlen(bad[i]), BIG, NULL),
			     FRAMER_ERR_PROTO, "%s", bad[i]);
	memset(longline, 'a', sizeof(longline));
	cr_assert_eq(framer_request(FRAMER_RESP, (uint8_t *)longline,
				    sizeof(longline), BIG, NULL),
		     FRAMER_ERR_PROTO);
	/* a bulk argument larger than max is refused before it arrives */
	cr_assert_eq(framer_request(FRAMER_RESP,
				    (const uint8_t *)"*2\r\n$3\r\nGET\r\n"
						     "$9999999\r\n",
				    23, 1000, NULL),
		     FRAMER_ERR_BIG);
}

Test(framer, resp_refusals)
{
	static const char *const no[] = {
		"SUBSCRIBE a\n",
		"psubscribe a\n",
		"MONITOR\n",
		"BLPOP l 0\n",
		"brpop l 5\n",
		"BZPOPMIN z 0\n",
		"XREAD BLOCK 0 STREAMS s $\n",
		"CLIENT REPLY OFF\n",
		"client tracking on\n",
		"WAIT 1 0\n",
	};
	static const char *const yes[] = {
		"GET a\n",	  "XREAD COUNT 1 STREAMS s 0\n",
		"CLIENT ID\n",	  "LPOP l\n",
		"PUBLISH ch m\n",
	};
	struct framer_req info;
	size_t i;

	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		framer_request(FRAMER_RESP, (const uint8_t *)no[i],
			       strlen(no[i]), BIG, &info);
		cr_assert_not_null(framer_resp_refusal(&info), "%s", no[i]);
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		framer_request(FRAMER_RESP, (const uint8_t *)yes[i],
			       strlen(yes[i]), BIG, &info);
		cr_assert_null(framer_resp_refusal(&info), "%s", yes[i]);
	}
}

Test(framer, lines_and_len32)
{
	const uint8_t l32[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0};
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};

	whole_and_prefixes(FRAMER_LINES, 1, "hello world\n", 12);
	whole_and_prefixes(FRAMER_LINES, 0, "\n", 1);
	cr_assert_eq(framer_request(FRAMER_LINES, (const uint8_t *)"aaaa", 4, 4,
				    NULL),
		     FRAMER_ERR_BIG);
	whole_and_prefixes(FRAMER_LEN32, 1, (const char *)l32, 7);
	cr_assert_eq(framer_response(FRAMER_LEN32, l32, sizeof(l32), BIG), 7);
	cr_assert_eq(framer_request(FRAMER_LEN32, huge, 4, BIG, NULL),
		     FRAMER_ERR_BIG);
	cr_assert_eq(framer_parse("len32"), FRAMER_LEN32);
	cr_assert_eq(framer_parse("http"), 0);
}

/* Which requests a new session may carry again (docs/man/smt-proxy.8,
 * SESSIONS): reads yes, writes and connection state no. */
Test(framer, resp_classes)
{
	static const struct {
		const char *cmd;
		enum framer_cmd_class c;
	} t[] = {
		{"GET a\n", FRAMER_CMD_READONLY},
		{"*2\r\n$4\r\nmget\r\n$1\r\na\r\n", FRAMER_CMD_READONLY},
		{"PING\n", FRAMER_CMD_READONLY},
		{"SET a b\n", FRAMER_CMD_WRITE},
		{"INCR a\n", FRAMER_CMD_WRITE},
		{"GETDEL a\n", FRAMER_CMD_WRITE},
		{"LPOP l\n", FRAMER_CMD_WRITE},
		{"select 1\n", FRAMER_CMD_STATEFUL},
		{"MULTI\n", FRAMER_CMD_STATEFUL},
		{"HELLO 3\n", FRAMER_CMD_STATEFUL},
		{"CLIENT SETNAME x\n", FRAMER_CMD_STATEFUL},
	};
	struct framer_req info;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_gt(framer_request(FRAMER_RESP,
					    (const uint8_t *)t[i].cmd,
					    strlen(t[i].cmd), BIG, &info),
			     0, "%s", t[i].cmd);
		cr_assert_eq(framer_resp_class(&info), t[i].c, "%s", t[i].cmd);
	}
}

/* Each of names[0..n) is refused (or not) and of class c. */
static void check_cmds(const char *const *names, size_t n, int refused,
		       enum framer_cmd_class c)
{
	struct framer_req info;
	char line[64];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s x\n", names[i]);
		framer_request(FRAMER_RESP, (const uint8_t *)line, strlen(line),
			       BIG, &info);
		cr_assert_eq(framer_resp_refusal(&info) != NULL, refused, "%s",
			     line);
		cr_assert_eq(framer_resp_class(&info), c, "%s", line);
	}
}

/* Every command the man page names (docs/man/smt-proxy.8: Refused
 * commands, SESSIONS) is found in the framer's sorted table: one out of
 * strcmp order there would make bsearch miss it (or others). */
Test(framer, resp_every_listed_command_is_found)
{
	static const char *const refused[] = {
		"SUBSCRIBE",	"PSUBSCRIBE",	"SSUBSCRIBE", "UNSUBSCRIBE",
		"PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR",    "SYNC",
		"PSYNC",	"BLPOP",	"BRPOP",      "BRPOPLPUSH",
		"BLMOVE",	"BLMPOP",	"BZPOPMIN",   "BZPOPMAX",
		"BZMPOP",	"WAIT",		"WAITAOF",
	};
	static const char *const readonly[] = {
		"GET",	   "MGET",    "EXISTS", "STRLEN",   "GETRANGE",
		"TTL",	   "PTTL",    "TYPE",	"HGET",	    "HMGET",
		"HGETALL", "HEXISTS", "HLEN",	"HKEYS",    "HVALS",
		"LRANGE",  "LLEN",    "LINDEX", "SMEMBERS", "SISMEMBER",
		"SCARD",   "ZRANGE",  "ZSCORE", "ZCARD",    "ZRANK",
		"XRANGE",  "XLEN",    "PING",	"ECHO",	    "DBSIZE",
	};
	static const char *const stateful[] = {
		"SELECT", "AUTH",    "HELLO",	 "MULTI",     "WATCH",
		"CLIENT", "RESET",   "READONLY", "READWRITE", "ASKING",
		"EXEC",	  "DISCARD", "UNWATCH",
	};
	check_cmds(refused, sizeof(refused) / sizeof(refused[0]), 1,
		   FRAMER_CMD_WRITE);
	check_cmds(readonly, sizeof(readonly) / sizeof(readonly[0]), 0,
		   FRAMER_CMD_READONLY);
	check_cmds(stateful, sizeof(stateful) / sizeof(stateful[0]), 0,
		   FRAMER_CMD_STATEFUL);
}

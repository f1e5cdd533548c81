// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of smtd's pure parts: the session-parameter message of
 * docs/protocol.md 6.1 (params.c: encoding, decoding, the set-up rule of
 * section 6) and the configuration loader (config.c: values, defaults and
 * errors with file:line). Run by `make test-smtd`, no root needed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "keys.h"
#include "smtd.h"

/* config.c logs nothing, but smtd.h declares the logger; main.c is not
 * linked here */
int smtd_log_level;
bool smtd_log_syslog;
void smtd_log(int level, const char *fmt, ...)
{
}

static const struct {
	unsigned int B;
	uint32_t M;
	bool ok;
} rule[] = {
	{56, 1048568, true}, /* 256 records: the largest M at B = 56 */
	{56, 1048569, false},
	{52, 16777208, true}, /* 2^12 records */
	{52, 16777209, false},
	{48, 64u << 20, true}, /* 16385 records < 2^16 */
	{40, 64u << 20, true},
	{39, 1024, false}, /* B out of range */
	{57, 1024, false},
	{48, 0, false},
	{48, (64u << 20) + 1, false},
};

Test(smt_params_check, rule_table)
{
	const char *why = NULL;
	size_t i;

	for (i = 0; i < sizeof(rule) / sizeof(rule[0]); i++) {
		int r = smt_params_check(rule[i].B, rule[i].M, 0, &why);

		cr_expect_eq(r == 0, rule[i].ok, "B=%u M=%u: got %d", rule[i].B,
			     rule[i].M, r);
	}
	cr_expect_neq(smt_params_check(48, 1024, 16384, &why), 0,
		      "P must be <= 16383");
}

/* Golden PROPOSEs: a REKEY one, and an IN_USE one (docs/protocol.md 6.4
 * gives its bytes); each encodes to its bytes and decodes back. */
Test(smt_params_encode, propose_layout)
{
	static const struct {
		struct smt_params p;
		uint8_t want[24];
	} cases[] = {
		{{.type = SMT_PARAMS_PROPOSE,
		  .client_port = 9000,
		  .B = 48,
		  .epoch = 3,
		  .ipproto = 253,
		  .flags = SMT_PARAMS_F_REKEY,
		  .server_port = 7000,
		  .max_msg = 1 << 20,
		  .max_pad = 255,
		  .hs_port = 7443,
		  .lifetime_s = 3600},
		 {0x01, 0x01, 0x00, 0x18, 0x23, 0x28, 0x1b, 0x58,
		  0x30, 0x03, 0xfd, 0x01, 0x00, 0x10, 0x00, 0x00,
		  0x00, 0xff, 0x1d, 0x13, 0x00, 0x00, 0x0e, 0x10}},
		{{.type = SMT_PARAMS_PROPOSE,
		  .client_port = 9000,
		  .B = 48,
		  .ipproto = 17,
		  .flags = SMT_PARAMS_F_IN_USE,
		  .server_port = 7000,
		  .max_msg = 1 << 20,
		  .hs_port = 7443,
		  .lifetime_s = 3600},
		 {0x01, 0x01, 0x00, 0x18, 0x23, 0x28, 0x1b, 0x58,
		  0x30, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x00,
		  0x00, 0x00, 0x1d, 0x13, 0x00, 0x00, 0x0e, 0x10}},
	};
	uint8_t buf[SMT_PARAMS_REFUSE_MAX];
	struct smt_params q;
	const char *why = NULL;
	size_t i, used = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(smt_params_encode(&cases[i].p, buf), 24);
		cr_expect_arr_eq(buf, cases[i].want, 24, "case %zu", i);
		cr_assert_eq(
			smt_params_decode(cases[i].want, 24, &q, &used, &why),
			0, "case %zu: %s", i, why);
		cr_expect_eq(q.flags, cases[i].p.flags);
		cr_expect_eq(q.server_port, 7000);
	}
}

Test(smt_params_decode, roundtrip)
{
	struct smt_params p = {.type = SMT_PARAMS_ACCEPT,
			       .client_port = 1,
			       .server_port = 65535,
			       .B = 40,
			       .ipproto = 17,
			       .max_msg = 123456,
			       .lifetime_s = 0xfffffff0},
			  q;
	uint8_t buf[SMT_PARAMS_REFUSE_MAX];
	const char *why = NULL;
	size_t n = smt_params_encode(&p, buf), used = 0;

	cr_assert_eq(smt_params_decode(buf, n, &q, &used, &why), 0);
	cr_expect_eq(used, n);
	cr_expect_eq(q.type, p.type);
	cr_expect_eq(q.client_port, 1);
	cr_expect_eq(q.server_port, 65535);
	cr_expect_eq(q.B, 40);
	cr_expect_eq(q.max_msg, 123456);
	cr_expect_eq(q.lifetime_s, 0xfffffff0);
}

Test(smt_params_encode, close_layout)
{
	struct smt_params p = {.type = SMT_PARAMS_CLOSE,
			       .client_port = 9000,
			       .server_port = 7000,
			       .B = 48, /* not part of a CLOSE */
			       .tag = {1, 2, 3, 4, 5, 6, 7, 0xff}},
			  q;
	static const uint8_t want[24] = {
		0x01, 0x04, 0x00, 0x18, 0x23, 0x28, 0x1b, 0x58,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xff,
	};
	uint8_t buf[SMT_PARAMS_REFUSE_MAX];
	const char *why = NULL;
	size_t used = 0;

	cr_assert_eq(smt_params_encode(&p, buf), 24);
	cr_expect_arr_eq(buf, want, 24);
	cr_assert_eq(smt_params_decode(buf, 24, &q, &used, &why), 0);
	cr_expect_eq(used, 24);
	cr_expect_eq(q.type, SMT_PARAMS_CLOSE);
	cr_expect_eq(q.client_port, 9000);
	cr_expect_eq(q.server_port, 7000);
	cr_expect_arr_eq(q.tag, p.tag, 8);
	buf[20] = 1; /* reserved */
	cr_expect_eq(smt_params_decode(buf, 24, &q, &used, &why), -EPROTO);
	buf[20] = 0;
	buf[3] = 23;
	cr_expect_eq(smt_params_decode(buf, 24, &q, &used, &why), -EPROTO);
}

Test(smt_params_decode, refuse_with_reason)
{
	struct smt_params p = {.type = SMT_PARAMS_REFUSE, .code = 2}, q;
	uint8_t buf[SMT_PARAMS_REFUSE_MAX];
	const char *why = NULL;
	size_t n, used;

	strcpy(p.reason, "service echo.smt is not served");
	n = smt_params_encode(&p, buf);
	cr_assert_eq(n, 6 + strlen(p.reason));
	cr_assert_eq(smt_params_decode(buf, n, &q, &used, &why), 0);
	cr_expect_eq(q.code, 2);
	cr_expect_str_eq(q.reason, p.reason);
}

Test(smt_params_decode, refuse_reason_control_bytes_replaced)
{
	/* a REFUSE whose reason would forge a log line, hide text behind a
	 * NUL and send a terminal escape; UTF-8 (é) passes */
	static const uint8_t msg[] = {1,   3,	 0,    6 + 12, 0,      3,
				      'a', '\n', 'F',  0,      '\x1b', '[',
				      '2', 'J',	 0xc3, 0xa9,   0x7f,   'z'};
	struct smt_params q;
	const char *why = NULL;
	size_t used;

	cr_assert_eq(smt_params_decode(msg, sizeof(msg), &q, &used, &why), 0);
	cr_expect_eq(used, sizeof(msg));
	cr_expect_str_eq(q.reason, "a?F??[2J\xc3\xa9?z");
}

Test(smt_params_decode, partial_needs_more)
{
	struct smt_params p = {.type = SMT_PARAMS_PROPOSE}, q;
	uint8_t buf[SMT_PARAMS_REFUSE_MAX];
	const char *why = NULL;
	size_t used, k;

	smt_params_encode(&p, buf);
	for (k = 0; k < 24; k++)
		cr_expect_eq(smt_params_decode(buf, k, &q, &used, &why),
			     -EAGAIN, "%zu bytes", k);
}

Test(smt_params_decode, malformed_rejected)
{
	struct smt_params p = {.type = SMT_PARAMS_PROPOSE}, q;
	uint8_t buf[SMT_PARAMS_REFUSE_MAX], bad[SMT_PARAMS_REFUSE_MAX];
	const char *why = NULL;
	size_t used;
	static const struct {
		int off;
		uint8_t val;
	} cases[] = {
		{0, 2}, /* version */
		{1, 9}, /* type */
		{3, 23}, /* length */
		{11, 0x10}, /* unknown flag */
		{11, 0x06}, /* EARLY_KEYS without E0 (length 24) */
		{1, 5}, /* type after CLOSE */
	};
	size_t i;

	smt_params_encode(&p, buf);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, buf, 24);
		bad[cases[i].off] = cases[i].val;
		why = NULL;
		cr_expect_eq(smt_params_decode(bad, 24, &q, &used, &why),
			     -EPROTO, "byte %d = %u", cases[i].off,
			     cases[i].val);
		cr_expect_not_null(why);
	}
	bad[0] = 1;
	bad[1] = SMT_PARAMS_REFUSE;
	bad[2] = 0;
	bad[3] = 5; /* shorter than its header */
	cr_expect_eq(smt_params_decode(bad, 24, &q, &used, &why), -EPROTO);
}

/* docs/protocol.md 6.3: a PROPOSE with EARLY_KEYS carries E0 */
Test(smt_params_decode, early_keys_round_trip)
{
	struct smt_params p = {.type = SMT_PARAMS_PROPOSE,
			       .client_port = 9,
			       .server_port = 7000,
			       .B = 48,
			       .flags = SMT_PARAMS_F_EARLY |
					SMT_PARAMS_F_EARLY_KEYS,
			       .max_msg = 1024,
			       .e0_len = 48},
			  q;
	uint8_t buf[SMT_PARAMS_REFUSE_MAX];
	const char *why = NULL;
	size_t n, used = 0, i;

	for (i = 0; i < 48; i++)
		p.e0[i] = i + 1;
	n = smt_params_encode(&p, buf);
	cr_assert_eq(n, 72);
	cr_expect_eq(buf[3], 72);
	cr_assert_eq(smt_params_decode(buf, n, &q, &used, &why), 0, "%s", why);
	cr_expect_eq(used, 72);
	cr_expect_eq(q.e0_len, 48);
	cr_expect(!memcmp(q.e0, p.e0, 48));
	cr_expect_eq(smt_params_decode(buf, 71, &q, &used, &why), -EAGAIN);
	buf[11] = SMT_PARAMS_F_EARLY; /* E0 without EARLY_KEYS */
	cr_expect_eq(smt_params_decode(buf, n, &q, &used, &why), -EPROTO);
	buf[11] = SMT_PARAMS_F_EARLY | SMT_PARAMS_F_EARLY_KEYS;
	buf[1] = SMT_PARAMS_ACCEPT; /* only a PROPOSE carries E0 */
	cr_expect_eq(smt_params_decode(buf, n, &q, &used, &why), -EPROTO);
	buf[1] = SMT_PARAMS_PROPOSE;
	buf[3] = 24 + 40; /* neither 32 nor 48 */
	cr_expect_eq(smt_params_decode(buf, n, &q, &used, &why), -EPROTO);
}

/* Writes text to a temporary file; returns its path (static). */
static const char *conf_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	strcpy(path, "/tmp/smtd-unit-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

Test(smtd_config_load, defaults_and_values)
{
	static struct smtd_config c;
	char err[2048];
	const char *p = conf_file("[tls]\ncert = /dev/null\nkey = /dev/null\n"
				  "ca = /dev/null\n[service echo.smt]\n"
				  "uids = 0, root, 4242\n[service kv.smt]\n"
				  "port = 7001\n");

	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	cr_expect_eq(c.listen_port, 7443);
	cr_expect_eq(c.ipproto, 253);
	cr_expect_eq(c.B, 48);
	cr_expect_eq(c.max_msg, 1u << 20);
	cr_expect_str_eq(c.ctl_path, "/run/smt/smtd.sock");
	cr_assert_eq(c.nservices, 2);
	cr_expect_eq(c.services[0].nuids, 3);
	cr_expect_eq(c.services[0].uids[2], 4242);
	cr_expect(smtd_service_uid_ok(&c.services[0], 4242));
	cr_expect_not(smtd_service_uid_ok(&c.services[0], 4243));
	cr_expect(smtd_service_uid_ok(&c.services[1], 0), "root always");
	cr_expect_eq(smtd_service_find(&c, "kv.smt")->port, 7001);
	cr_expect_null(smtd_service_find(&c, "nope.smt"));
}

Test(smtd_config_load, errors_name_file_and_line)
{
	static struct smtd_config c;
	char err[4096], want[256];
	const char *p = conf_file("[smtd]\nport = 0\n[tls]\ncert = /dev/null\n"
				  "key = /dev/null\nca = /dev/null\n"
				  "[defaults]\nB = 56\nmax_msg = 2M\n"
				  "[service Upper]\n[bogus]\n");

	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL);
	unlink(p);
	snprintf(want, sizeof(want), "%s:2: port: '0' is not a TCP port", p);
	cr_expect(strstr(err, want) != NULL, "missing [%s] in:\n%s", want, err);
	snprintf(want, sizeof(want), "%s:10: [service Upper]", p);
	cr_expect(strstr(err, want) != NULL, "missing [%s] in:\n%s", want, err);
	snprintf(want, sizeof(want), "%s:11: unknown section [bogus]", p);
	cr_expect(strstr(err, want) != NULL, "missing [%s] in:\n%s", want, err);
	cr_expect(strstr(err, "B = 56 with max_msg = 2097152") != NULL, "%s",
		  err);
}

#define TLS_OK "[tls]\ncert = /dev/null\nkey = /dev/null\nca = /dev/null\n"

/* docs/protocol.md 6.4: resumed_handover = finished (default) | accept;
 * anything else refused with the line and the values allowed */
Test(smtd_config_load, resumed_handover)
{
	static const struct {
		const char *line;
		int ret;
		bool accept;
	} cases[] = {
		{"", 0, false},
		{"resumed_handover = accept\n", 0, true},
		{"resumed_handover = finished\n", 0, false},
		{"resumed_handover = wait\n", -EINVAL, false},
	};
	static struct smtd_config c;
	char err[2048], text[256], want[256];
	const char *p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), TLS_OK "[service a.smt]\n%s",
			 cases[i].line);
		p = conf_file(text);
		cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)),
			     cases[i].ret, "%s: %s", cases[i].line, err);
		unlink(p);
		if (!cases[i].ret)
			cr_expect_eq(c.services[0].handover_accept,
				     cases[i].accept, "%s", cases[i].line);
	}
	snprintf(want, sizeof(want),
		 "%s:6: resumed_handover: 'wait' is not one of finished, "
		 "accept",
		 p);
	cr_expect(strstr(err, want) != NULL, "missing [%s] in:\n%s", want, err);
}

Test(smtd_config_load, encap_per_service_and_global)
{
	static struct smtd_config c;
	char err[2048];
	/* [smtd] encap after the services still sets their default */
	const char *p = conf_file(TLS_OK "[service a.smt]\nencap = udp\n"
					 "[service b.smt]\n"
					 "[service c.smt]\nencap = ip udp\n"
					 "[service d.smt]\nencap = udp,ip\n"
					 "[smtd]\nencap = ip\n");

	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	cr_expect_eq(c.encaps, SMTD_ENCAPS_IP);
	cr_expect_eq(smtd_service_find(&c, "a.smt")->encaps, SMTD_ENCAPS_UDP);
	cr_expect_eq(smtd_service_find(&c, "b.smt")->encaps, SMTD_ENCAPS_IP,
		     "a service without encap takes [smtd] encap");
	cr_expect_eq(smtd_service_find(&c, "c.smt")->encaps, SMTD_ENCAPS_ALL);
	cr_expect_eq(smtd_service_find(&c, "d.smt")->encaps, SMTD_ENCAPS_ALL);
	cr_expect_str_eq(smtd_encaps_str(SMTD_ENCAPS_ALL), "ip,udp");
	cr_expect_str_eq(smtd_encaps_str(SMTD_ENCAPS_UDP), "udp");

	p = conf_file(TLS_OK "[service a.smt]\n");
	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	cr_expect_eq(c.encaps, SMTD_ENCAPS_ALL, "default: both");
	cr_expect_eq(c.services[0].encaps, SMTD_ENCAPS_ALL);
}

Test(smtd_config_load, encap_and_ipproto_errors_say_what_to_write)
{
	static struct smtd_config c;
	char err[4096], want[256];
	static const char *const bad_encap[] = {"tcp", ",", "udp,quic", "IP"};
	static const char *const bad_proto[] = {"17", "6", "0"};
	const char *p;
	size_t i;

	for (i = 0; i < sizeof(bad_encap) / sizeof(bad_encap[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text),
			 TLS_OK "[service a.smt]\nencap = %s\n", bad_encap[i]);
		p = conf_file(text);
		cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL,
			     "encap = %s accepted", bad_encap[i]);
		unlink(p);
		snprintf(want, sizeof(want),
			 "%s:6: encap: '%s' is not a list of encapsulations; "
			 "write ip (native IP), udp (SMT over UDP) or ip,udp",
			 p, bad_encap[i]);
		cr_expect(strstr(err, want) != NULL, "missing [%s] in:\n%s",
			  want, err);
	}
	for (i = 0; i < sizeof(bad_proto) / sizeof(bad_proto[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), TLS_OK "[smtd]\nipproto = %s\n",
			 bad_proto[i]);
		p = conf_file(text);
		cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL,
			     "ipproto = %s accepted", bad_proto[i]);
		unlink(p);
		cr_expect(strstr(err, "for SMT over UDP write encap = udp") !=
				  NULL,
			  "ipproto = %s: %s", bad_proto[i], err);
	}
}

/* smtd_encap_check: what a server answers a PROPOSE's ipproto */
Test(smtd_encap_check, accept_only_what_is_allowed_and_served)
{
	static const struct {
		uint8_t ipproto;
		unsigned int allowed, served;
		int ok;
		const char *why; /* expected reason (substring) when refused */
	} t[] = {
		{253, SMTD_ENCAPS_ALL, SMTD_ENCAPS_IP, 1, NULL},
		{17, SMTD_ENCAPS_ALL, SMTD_ENCAPS_UDP, 1, NULL},
		{17, SMTD_ENCAPS_ALL, SMTD_ENCAPS_ALL, 1, NULL},
		{253, SMTD_ENCAPS_ALL, SMTD_ENCAPS_ALL, 1, NULL},
		{17, SMTD_ENCAPS_ALL, SMTD_ENCAPS_IP, 0,
		 "service echo.smt is served over native IP (protocol 253) "
		 "only"},
		{253, SMTD_ENCAPS_ALL, SMTD_ENCAPS_UDP, 0,
		 "service echo.smt is served over UDP only"},
		{17, SMTD_ENCAPS_IP, SMTD_ENCAPS_ALL, 0,
		 "service echo.smt is not served over UDP: smt.conf allows ip"},
		{253, SMTD_ENCAPS_UDP, SMTD_ENCAPS_ALL, 0,
		 "service echo.smt is not served over native IP (protocol 253): "
		 "smt.conf allows udp"},
		{17, SMTD_ENCAPS_ALL, SMTD_ENCAPS_IP, 0, "over native IP"},
		/* an application in an encapsulation the file no longer allows
		 * (after a reload) serves nothing */
		{253, SMTD_ENCAPS_IP, SMTD_ENCAPS_UDP, 0,
		 "its applications use udp, which smt.conf does not allow"},
		{254, SMTD_ENCAPS_ALL, SMTD_ENCAPS_ALL, 0,
		 "IP protocol 254 is neither this host's native protocol 253 "
		 "nor 17"},
		{6, SMTD_ENCAPS_ALL, SMTD_ENCAPS_ALL, 0, "IP protocol 6"},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum smt_encap e = SMT_ENCAP_DEFAULT;
		char why[200] = "";
		int r = smtd_encap_check("echo.smt", t[i].ipproto, 253,
					 t[i].allowed, t[i].served, &e, why,
					 sizeof(why));

		if (t[i].ok) {
			cr_expect_eq(r, 0, "case %zu: %s", i, why);
			cr_expect_eq(e,
				     t[i].ipproto == 17 ? SMT_ENCAP_UDP
							: SMT_ENCAP_IP,
				     "case %zu", i);
		} else {
			cr_expect_eq(r, -EPROTONOSUPPORT, "case %zu", i);
			cr_expect(strstr(why, t[i].why) != NULL,
				  "case %zu: [%s] not in [%s]", i, t[i].why,
				  why);
		}
	}
}

/* ---- the metrics endpoint's request parser (metrics_http.c) ---------- */

static int mreq(const char *s, bool *om, bool *head)
{
	return smtd_metrics_request(s, strlen(s), om, head);
}

Test(smtd_metrics_request, statuses)
{
	static const struct {
		const char *req;
		int st;
	} c[] = {
		{"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"GET /metrics HTTP/1.0\n\n", 200},
		{"GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200},
		{"HEAD /metrics HTTP/1.1\r\n\r\n", 200},
		{"GET /metrics HTTP/1.1\r\n", 0}, /* read more */
		{"GET /metr", 0},
		{"", 0},
		{"\r\n\r\n", 400},
		{"POST /metrics HTTP/1.1\r\n\r\n", 405},
		{"PUT /x HTTP/1.1\r\n\r\n", 405}, /* method before path */
		{"GET / HTTP/1.1\r\n\r\n", 404},
		{"GET /metrics/ HTTP/1.1\r\n\r\n", 404},
		{"GET /metrics HTTP/2.0\r\n\r\n", 505},
		{"GET /metrics HTTP/1.2\r\n\r\n", 505},
		{"GET /metrics HTTP/1.10\r\n\r\n", 400},
		{"GET /metrics HTTP/1.1 x\r\n\r\n", 400},
		{"GET  /metrics HTTP/1.1\r\n\r\n", 400},
		{"GET metrics HTTP/1.1\r\n\r\n", 400},
		{"GET /metrics\r\n\r\n", 400},
		{"GETTTTTTTTTTTTTTTT /metrics HTTP/1.1\r\n\r\n", 400},
		{"GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n", 400},
		{"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", 400},
		{"GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
		{"GET /m\x7f HTTP/1.1\r\n\r\n", 400},
	};
	bool om, head;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		cr_expect_eq(mreq(c[i].req, &om, &head), c[i].st,
			     "%zu: '%s' gives %d", i, c[i].req,
			     mreq(c[i].req, &om, &head));
	cr_expect_eq(mreq("HEAD /metrics HTTP/1.1\r\n\r\n", &om, &head), 200);
	cr_expect(head);
	cr_expect_eq(smtd_metrics_request("GET /m\0 HTTP/1.1\r\n\r\n", 21, &om,
					  &head),
		     400, "a NUL byte anywhere");
}

Test(smtd_metrics_request, accept_openmetrics)
{
	bool om, head;

	cr_expect_eq(mreq("GET /metrics HTTP/1.1\r\nHost: x\r\nACCEPT: "
			  "application/openmetrics-text;version=1.0.0,"
			  "text/plain;q=0.5\r\n\r\n",
			  &om, &head),
		     200);
	cr_expect(om);
	cr_expect_eq(mreq("GET /metrics HTTP/1.1\r\nX-Accept: application/"
			  "openmetrics-text\r\n\r\n",
			  &om, &head),
		     200);
	cr_expect_not(om, "only the Accept field counts");
	cr_expect_eq(mreq("GET /metrics HTTP/1.1\r\n\r\nAccept: application/"
			  "openmetrics-text\r\n\r\n",
			  &om, &head),
		     200);
	cr_expect_not(om, "nothing after the empty line counts");
}

Test(smtd_metrics_request, size_limit_edges)
{
	static char buf[SMTD_METRICS_REQ_MAX + 1];
	const char *start = "GET /metrics HTTP/1.1\r\nX: ";
	bool om, head;
	size_t n = strlen(start);

	memset(buf, 'a', sizeof(buf));
	memcpy(buf, start, n);
	/* the largest complete request fits exactly */
	memcpy(buf + SMTD_METRICS_REQ_MAX - 4, "\r\n\r\n", 4);
	cr_expect_eq(
		smtd_metrics_request(buf, SMTD_METRICS_REQ_MAX, &om, &head),
		200);
	/* one byte short of its end: incomplete until the limit, then 431 */
	memset(buf + SMTD_METRICS_REQ_MAX - 4, 'a', 4);
	cr_expect_eq(
		smtd_metrics_request(buf, SMTD_METRICS_REQ_MAX - 1, &om, &head),
		0);
	cr_expect_eq(
		smtd_metrics_request(buf, SMTD_METRICS_REQ_MAX, &om, &head),
		431);
}

Test(smtd_config_load, metrics_section)
{
	static struct smtd_config c;
	char err[2048];
	const char *p = conf_file(TLS_OK "[metrics]\nlisten = [::1]:9470\n"
					 "max_session_series = 0\n");

	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	cr_expect_str_eq(c.metrics_listen, "[::1]:9470");
	cr_expect_eq(c.metrics_addr.ss_family, AF_INET6);
	cr_expect_eq(c.metrics_max_sessions, 0);
	cr_expect_eq(c.metrics_max_clients, 8);
	p = conf_file(TLS_OK);
	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	cr_expect_str_eq(c.metrics_listen, "", "off by default");
	cr_expect_eq(c.metrics_max_sessions, 100);
	p = conf_file(TLS_OK "[metrics]\nlisten = localhost:9470\n"
			     "max_clients = 65\nmax_session_series = -1\n");
	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL);
	unlink(p);
	cr_expect(strstr(err, "listen: 'localhost:9470' is not ADDRESS:PORT"),
		  "%s", err);
	cr_expect(strstr(err, "max_clients: '65' is not 1..64"), "%s", err);
	cr_expect(strstr(err, "max_session_series: '-1'"), "%s", err);
	p = conf_file(TLS_OK "[metrics]\nlisten = 127.0.0.1\n");
	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL,
		     "a port is needed");
	unlink(p);
}

/* smt.conf sizes go through util_parse_size: the bound is checked before
 * the suffix multiplies, so 2^64 + 1M does not wrap to 1M */
Test(smtd_config_load, size_suffix_does_not_wrap)
{
	static struct smtd_config c;
	char err[2048];
	const char *p = conf_file(TLS_OK "[defaults]\n"
					 "max_msg = 17592186044417M\n");

	cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL,
		     "accepted as max_msg %u", c.max_msg);
	unlink(p);
	p = conf_file(TLS_OK "[defaults]\nmax_msg = 1.5M\nmax_pad = 1K\n");
	cr_assert_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	cr_expect_eq(c.max_msg, 3u << 19);
	cr_expect_eq(c.max_pad, 1024);
	p = conf_file(TLS_OK "[defaults]\nmax_msg = 64M\n");
	cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	unlink(p);
	p = conf_file(TLS_OK "[defaults]\nmax_msg = 65537K\n");
	cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL,
		     "one K over 64M");
	unlink(p);
}

/* ---- docs/protocol.md 6.4: the 0-RTT and 1-RTT exporters' test vectors ---- */

/* HKDF-Expand-Label (RFC 8446 7.1) with OpenSSL's HKDF in expand-only mode,
 * the HkdfLabel built here rather than by libsmt */
static void expand_label(const uint8_t *secret, const char *label,
			 const uint8_t *ctx, size_t ctx_len, uint8_t *out,
			 size_t n)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
	uint8_t info[300];
	size_t ll = 6 + strlen(label), il = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	OSSL_PARAM p[5];

	info[il++] = n >> 8;
	info[il++] = n;
	info[il++] = ll;
	memcpy(info + il, "tls13 ", 6);
	memcpy(info + il + 6, label, ll - 6);
	il += ll;
	info[il++] = ctx_len;
	memcpy(info + il, ctx, ctx_len);
	il += ctx_len;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256",
						0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, 32);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, il);
	p[3] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[4] = OSSL_PARAM_construct_end();
	cr_assert_eq(EVP_KDF_derive(k, out, n, p), 1);
	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
}

/* TLS-Exporter(label, "", 32) of RFC 8446 7.5 on a given (early) exporter
 * master secret */
static void exporter(const uint8_t *ems, const char *label, uint8_t *out)
{
	uint8_t empty[32], derived[32];

	cr_assert_eq(EVP_Digest("", 0, empty, NULL, EVP_sha256(), NULL), 1);
	expand_label(ems, label, empty, 32, derived, 32);
	expand_label(derived, "exporter", empty, 32, out, 32);
}

static void unhex(const char *h, uint8_t *out)
{
	size_t i;

	for (i = 0; h[2 * i]; i++) {
		unsigned int v;

		sscanf(h + 2 * i, "%2x", &v);
		out[i] = v;
	}
}

static void expect_hex(const uint8_t *b, const char *want, const char *what)
{
	uint8_t w[64];
	size_t n = strlen(want) / 2;

	unhex(want, w);
	cr_expect(!memcmp(b, w, n), "%s differs from docs/protocol.md 6.4",
		  what);
}

Test(resumption, exporter_vectors)
{
	static const struct {
		uint8_t first; /* the master secret is first, first + 1, ... */
		const char *label, *S, *ck, *civ, *sk, *siv;
	} v[] = {
		{0, "EXPORTER-SMT early v1",
		 "36a4c58170a0ce80ef62c2d14599503d9d56266192e7343b888c394a4dc654a8",
		 "154dcfc6218206cf5c9217fa7316aef1", "db456c5808ea93bb9a531a38",
		 "71e58ec736a7fd4ea520dc901e95200f",
		 "d559655c7a7afb14326dbc6e"},
		{32, "EXPORTER-SMT v1",
		 "4cfc6d3f68a5860f324a4bea5371a0f89aa639f9737d5c5a1748b79bdc92deec",
		 "8e7109fef5c4060044e9b1b61ae413c9", "990674f37fed3ac48fdba0ca",
		 "65367fc2470bf1989820554601f47dee",
		 "d234992513bfd8936b4690dc"},
	};
	size_t i, j;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t ems[32], S[32];
		struct smt_keys k;

		for (j = 0; j < sizeof(ems); j++)
			ems[j] = v[i].first + j;
		exporter(ems, v[i].label, S);
		expect_hex(S, v[i].S, v[i].label);
		/* section 6's lines, once by libsmt, once here */
		cr_assert_eq(smt_keys_derive(SMT_CIPHER_AES_128_GCM, S, 32, &k),
			     0);
		expect_hex(k.c_key, v[i].ck, "c_key");
		expect_hex(k.c_iv, v[i].civ, "c_iv");
		expect_hex(k.s_key, v[i].sk, "s_key");
		expect_hex(k.s_iv, v[i].siv, "s_iv");
		expand_label(S, "smt s iv", NULL, 0, ems, 12);
		expect_hex(ems, v[i].siv, "s_iv (HKDF here)");
		smt_keys_wipe(&k);
	}
}

/* ---- [tls] ticket_keys: the shared ticket-key file (smt.conf(5)) ---- */

/* A key line: byte i of the 80 is (seed + i) & 0xff, in lower case hex. */
static void stek_hex(char *out, unsigned int seed)
{
	for (int i = 0; i < 80; i++)
		sprintf(out + 2 * i, "%02x", (seed + i) & 0xff);
}

static int stek_parse_str(const char *text, struct smtd_stek_key *k, int *n,
			  char *err, size_t len)
{
	return smtd_stek_parse(text, strlen(text), k, n, err, len);
}

Test(stek, one_or_two_keys_comments_and_case)
{
	struct smtd_stek_key k[SMTD_STEK_KEYS];
	char a[161], b[161], text[512], err[256] = "";
	int n = 0;

	stek_hex(a, 1);
	stek_hex(b, 0x90);
	snprintf(text, sizeof(text), "%s", a); /* no newline at the end */
	cr_assert_eq(stek_parse_str(text, k, &n, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(n, 1);
	cr_expect_eq(k[0].name[0], 1);
	cr_expect_eq(k[0].name[15], 16);
	cr_expect_eq(k[0].aes[0], 17);
	cr_expect_eq(k[0].hmac[31], 80);
	for (char *p = b; *p; p++) /* upper case is hex too */
		if (*p >= 'a')
			*p -= 'a' - 'A';
	snprintf(text, sizeof(text), "# current, previous\n\n%s\n#\n%s\n", a,
		 b);
	cr_assert_eq(stek_parse_str(text, k, &n, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(n, 2);
	cr_expect_eq(k[0].name[0], 1, "the first key line is the current key");
	cr_expect_eq(k[1].name[0], 0x90);
	cr_expect_eq(k[1].hmac[31], (0x90 + 79) & 0xff);
}

/* text is refused with a message that contains want and no key digits;
 * the keys are wiped */
static void stek_refused(const char *text, const char *want)
{
	struct smtd_stek_key k[SMTD_STEK_KEYS];
	static const struct smtd_stek_key zero[SMTD_STEK_KEYS];
	char err[256] = "";
	int n = -1;

	memset(k, 0xa5, sizeof(k));
	cr_expect_eq(stek_parse_str(text, k, &n, err, sizeof(err)), -EINVAL,
		     "accepted: %s", want);
	cr_expect(strstr(err, want) != NULL, "[%s] not in [%s]", want, err);
	cr_expect(strstr(err, "0102030405") == NULL, "key digits in [%s]", err);
	cr_expect(!memcmp(k, zero, sizeof(k)), "keys not wiped: %s", want);
	cr_expect_eq(n, -1);
}

Test(stek, malformed_files_refused_with_reasons)
{
	char a[161], b[161], text[1024];

	stek_hex(a, 1);
	stek_hex(b, 0x90);
	stek_refused("", "no key");
	stek_refused("# only a comment\n\n", "no key");
	snprintf(text, sizeof(text), "%.159s\n", a);
	stek_refused(text, "line 1 has 159 characters, a key is 160 hex");
	snprintf(text, sizeof(text), "#\n%s0\n", a);
	stek_refused(text, "line 2 has 161 characters");
	snprintf(text, sizeof(text), "%s\r\n", a);
	stek_refused(text, "line 1 ends in a carriage return (CRLF)");
	snprintf(text, sizeof(text), " %.159s\n", a);
	stek_refused(text, "line 1: ' ' at position 1 is not a hex digit");
	snprintf(text, sizeof(text), "%.40sg%s\n", a, a + 41);
	stek_refused(text, "line 1: 'g' at position 41 is not a hex digit");
	snprintf(text, sizeof(text), "0x%s\n", a + 2); /* no prefix either */
	stek_refused(text, "line 1: 79 bytes given, 80 bytes");
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", a, b, a);
	stek_refused(text, "line 3: a third key");
	memcpy(b, a, 32); /* the same name, other keys */
	snprintf(text, sizeof(text), "%s\n%s\n", a, b);
	stek_refused(text, "both keys have the same name");
	memset(text, '0', 160);
	text[160] = 0;
	stek_refused(text, "line 1 is an all-zero key");
}

Test(stek, file_mode_type_and_size_checked)
{
	struct smtd_stek_key k[SMTD_STEK_KEYS];
	char a[162], err[256];
	struct stat st;
	const char *p;
	int n;

	stek_hex(a, 1);
	strcat(a, "\n");
	p = conf_file(a); /* mkstemp: 0600 */
	cr_assert_eq(smtd_stek_read(p, k, &n, &st, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(n, 1);
	cr_expect_eq(st.st_size, 161);
	cr_assert_eq(chmod(p, 0640), 0);
	cr_expect_eq(smtd_stek_read(p, k, &n, NULL, err, sizeof(err)), -EPERM);
	cr_expect(strstr(err, "mode 0640 lets group or others at it") != NULL,
		  "%s", err);
	cr_assert_eq(chmod(p, 0602), 0);
	cr_expect_eq(smtd_stek_read(p, k, &n, NULL, err, sizeof(err)), -EPERM);
	unlink(p);
	cr_expect_eq(smtd_stek_read(p, k, &n, NULL, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "cannot open it") != NULL, "%s", err);
	cr_expect_eq(smtd_stek_read("/tmp", k, &n, NULL, err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "not a regular file") != NULL, "%s", err);
	{
		/* 4096 bytes: a comment line, then the key line */
		static char big[4098];

		memset(big, '#', 4096 - 162);
		big[4096 - 162] = '\n';
		memcpy(big + 4096 - 161, a, 161);
		cr_assert_eq(strlen(big), 4096);
		p = conf_file(big);
		cr_expect_eq(smtd_stek_read(p, k, &n, NULL, err, sizeof(err)),
			     0, "%s", err);
		unlink(p);
		memmove(big + 1, big, 4096); /* one byte more */
		cr_assert_eq(strlen(big), 4097);
		p = conf_file(big);
		cr_expect_eq(smtd_stek_read(p, k, &n, NULL, err, sizeof(err)),
			     -EINVAL);
		cr_expect(strstr(err, "larger than 4096 bytes") != NULL, "%s",
			  err);
		unlink(p);
	}
}

Test(smtd_config_load, ticket_keys_checked)
{
	static struct smtd_config c;
	char err[2048], text[512], want[512], key[162], kp[64];
	const char *p;

	stek_hex(key, 7);
	strcat(key, "\n");
	snprintf(kp, sizeof(kp), "%s", conf_file(key));
	cr_assert_eq(chmod(kp, 0644), 0);
	snprintf(text, sizeof(text), TLS_OK "ticket_keys = %s\n", kp);
	p = conf_file(text);
	cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: [tls] ticket_keys = %s: mode 0644", p,
		 kp);
	cr_expect(strstr(err, want) != NULL, "missing [%s] in:\n%s", want, err);
	cr_assert_eq(chmod(kp, 0600), 0);
	cr_expect_eq(smtd_config_load(p, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(c.tls_ticket_keys, kp);
	unlink(kp);
	unlink(p);
}

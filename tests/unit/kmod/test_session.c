// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod/smt_session.c and smt_stats.c against the mock:
 * parameter checks as a table, the per-file session table (ids, removal,
 * teardown that frees every key and namespace reference) and the
 * /proc/net/smt_stat text. Device TLS offload: test_tls_offload.c.
 */
#include <criterion/criterion.h>

#include "kmod_test.h"

TestSuite(kmod_session, .fini = kt_leak_check);

struct param_case {
	const char *name;
	void (*mutate)(struct smt_kmod_session *p);
	int want;
};

static void m_none(struct smt_kmod_session *p)
{
}
static void m_inet6(struct smt_kmod_session *p)
{
	p->family = AF_INET6;
}
static void m_packet(struct smt_kmod_session *p)
{
	p->family = AF_PACKET;
}
static void m_inet6_mtu84(struct smt_kmod_session *p)
{
	p->family = AF_INET6;
	p->mtu = 84;
}
static void m_inet6_mtu85(struct smt_kmod_session *p)
{
	p->family = AF_INET6;
	p->mtu = 85;
}
static void m_inet6_peer_v4_part_zero(struct smt_kmod_session *p)
{
	/* An IPv6 peer is all 16 bytes: ::a00:2 style tail still counts. */
	p->family = AF_INET6;
	memset(p->peer_addr, 0, 4);
	p->peer_addr[15] = 1;
}
static void m_b39(struct smt_kmod_session *p)
{
	p->B = 39;
}
static void m_b57(struct smt_kmod_session *p)
{
	p->B = 57;
}
static void m_b56(struct smt_kmod_session *p)
{
	p->B = 56; /* 1 MiB needs 257 records of 4096: more than 2^8 */
}
static void m_b55(struct smt_kmod_session *p)
{
	p->B = 55;
}
static void m_r4095(struct smt_kmod_session *p)
{
	p->rec_size = 4095;
}
static void m_r16385(struct smt_kmod_session *p)
{
	p->rec_size = 16385;
}
static void m_r4096(struct smt_kmod_session *p)
{
	p->rec_size = 4096;
}
static void m_lport0(struct smt_kmod_session *p)
{
	p->local_port = 0;
}
static void m_peer0(struct smt_kmod_session *p)
{
	memset(p->peer_addr, 0, sizeof(p->peer_addr));
}
static void m_mtu64(struct smt_kmod_session *p)
{
	p->mtu = 64;
}
static void m_mtu65(struct smt_kmod_session *p)
{
	p->mtu = 65;
}
static void m_pad(struct smt_kmod_session *p)
{
	p->pad1 = 1;
}

static const struct param_case param_cases[] = {
	{"defaults", m_none, 0},
	{"AF_INET6", m_inet6, 0},
	{"AF_PACKET", m_packet, -EAFNOSUPPORT},
	{"IPv6 mtu 84", m_inet6_mtu84, -EINVAL},
	{"IPv6 mtu 85", m_inet6_mtu85, 0},
	{"IPv6 peer ::1", m_inet6_peer_v4_part_zero, 0},
	{"B 39", m_b39, -EINVAL},
	{"B 57", m_b57, -EINVAL},
	{"B 56 with M 1 MiB", m_b56, -EINVAL},
	{"B 55", m_b55, 0},
	{"R 4095", m_r4095, -EINVAL},
	{"R 16385", m_r16385, -EINVAL},
	{"R 4096", m_r4096, 0},
	{"local port 0", m_lport0, -EINVAL},
	{"peer 0.0.0.0", m_peer0, -EINVAL},
	{"mtu 64", m_mtu64, -EINVAL},
	{"mtu 65", m_mtu65, 0},
	{"padding set", m_pad, -EINVAL},
};

Test(kmod_session, smt_ksession_params_check__table)
{
	for (size_t i = 0; i < sizeof(param_cases) / sizeof(param_cases[0]);
	     i++) {
		struct smt_kmod_session p;

		kt_params(&p, TLS_CIPHER_AES_GCM_128);
		param_cases[i].mutate(&p);
		cr_expect_eq(smt_ksession_params_check(&p, 253),
			     param_cases[i].want, "%s", param_cases[i].name);
	}
}

Test(kmod_session, smt_ksession_add__ids_increase_and_defaults_apply)
{
	struct smt_ksession_table t;
	struct smt_kmod_session p;
	struct net net = {0};
	struct smt_ksession *s;
	int a, b;

	smt_ksession_table_init(&t);
	kt_params(&p, TLS_CIPHER_AES_GCM_128);
	a = smt_ksession_add(&t, &net, &p, 253);
	kt_params(&p, TLS_CIPHER_CHACHA20_POLY1305);
	p.ipproto = 200;
	b = smt_ksession_add(&t, &net, &p, 253);
	cr_assert_gt(a, 0);
	cr_assert_eq(b, a + 1);
	cr_expect_eq(net.refs, 2);
	s = smt_ksession_find(&t, a);
	cr_assert_not_null(s);
	cr_expect_eq(s->ipproto, 253);
	cr_expect_eq(s->B, 48);
	cr_expect_eq(s->rec_size, 16384);
	cr_expect_eq(smt_ksession_find(&t, b)->ipproto, 200);
	cr_expect_eq(smt_stat_get(SMT_CNT_SESSIONS_ADDED), 2);
	smt_ksession_table_destroy(&t);
	cr_expect_eq(net.refs, 0, "namespace references dropped");
	cr_expect_eq(smt_stat_get(SMT_CNT_SESSIONS_REMOVED), 2);
}

Test(kmod_session, smt_ksession_add__bad_key_adds_nothing)
{
	struct smt_ksession_table t;
	struct smt_kmod_session p;
	struct net net = {0};

	smt_ksession_table_init(&t);
	kt_params(&p, TLS_CIPHER_AES_GCM_128);
	p.crypto.info.version = TLS_1_2_VERSION;
	cr_expect_eq(smt_ksession_add(&t, &net, &p, 253), -EINVAL);
	mock_fail_alloc_aead = true;
	kt_params(&p, TLS_CIPHER_AES_GCM_128);
	cr_expect_eq(smt_ksession_add(&t, &net, &p, 253), -ENOENT);
	cr_expect_eq(t.count, 0);
	cr_expect_eq(net.refs, 0);
	smt_ksession_table_destroy(&t);
}

Test(kmod_session, smt_ksession_del__removes_once)
{
	struct smt_ksession_table t;
	struct smt_kmod_session p;
	struct net net = {0};
	int id;

	smt_ksession_table_init(&t);
	kt_params(&p, TLS_CIPHER_AES_GCM_256);
	id = smt_ksession_add(&t, &net, &p, 253);
	cr_assert_gt(id, 0);
	cr_expect_eq(smt_ksession_del(&t, id), 0);
	cr_expect_eq(smt_ksession_del(&t, id), -ENOENT);
	cr_expect_null(smt_ksession_find(&t, id));
	cr_expect_eq(mock_tfms, 0, "transform freed on removal");
	cr_expect_eq(net.refs, 0);
	smt_ksession_table_destroy(&t);
}

Test(kmod_session, smt_stats_format__counters_then_drop_names)
{
	char buf[4096];
	int n;

	smt_stat_add(SMT_CNT_MSGS_SENT, 3);
	smt_stat_drop(SMT_DROP_BAD_VERSION);
	smt_stat_drop(SMT_DROP_BAD_VERSION);
	n = smt_stats_format(buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_expect_eq((size_t)n, strlen(buf));
	cr_expect(strncmp(buf, "sessions_added 0\n", 17) == 0);
	cr_expect_not_null(strstr(buf, "\nmsgs_sent 3\n"));
	cr_expect_not_null(strstr(buf, "\nbad_doff_ver 2\n"));
	cr_expect_not_null(strstr(buf, "\nno_memory 0\n"));
	cr_expect_null(strstr(buf, "none "), "reason 0 is not a drop");
}

Test(kmod_session, smt_stats_format__short_buffer_is_enospc)
{
	char buf[64];

	cr_expect_eq(smt_stats_format(buf, sizeof(buf)), -ENOSPC);
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sessions of the smt module: each open /dev/smt file holds a table of the
 * sessions added through it (addresses, ports, B, protocol number, record
 * size, sending key). Parameters are checked against docs/protocol.md
 * sections 4, 6 and 7 before a key is set up. Removing a session, or closing
 * the file, frees its transform and wipes every copy of the key with
 * memzero_explicit().
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <net/net_namespace.h>
#endif

static bool smt_all_zero(const u8 *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/**
 * smt_ksession_params_check() - check SMT_IOC_SESSION_ADD parameters.
 * @p:             parameters from userspace (defaults not yet applied)
 * @default_proto: module's protocol number, used when p->ipproto is 0
 *
 * Return: 0, -EAFNOSUPPORT for a family other than AF_INET and AF_INET6,
 * or -EINVAL.
 */
int smt_ksession_params_check(const struct smt_kmod_session *p,
			      u8 default_proto)
{
	unsigned int B = p->B ? p->B : SMT_B_DEFAULT;
	u32 R = p->rec_size ? p->rec_size : SMT_REC_MAX_CONTENT;
	u64 recs = SMT_MAX_RECORDS(SMT_KMOD_MAX_MSG);
	u32 iphlen = p->family == AF_INET6 ? SMT_IPV6_HDR_LEN
					   : SMT_IPV4_HDR_LEN;

	if (p->family != AF_INET && p->family != AF_INET6)
		return -EAFNOSUPPORT;
	if (p->pad0 || p->pad1)
		return -EINVAL;
	if (B < SMT_B_MIN || B > SMT_B_MAX)
		return -EINVAL;
	/* Section 6: M must fit in the record indexes B leaves. */
	if (recs > smt_rec_idx_limit(B))
		return -EINVAL;
	if (R < SMT_REC_MIN_CONTENT || R > SMT_REC_MAX_CONTENT)
		return -EINVAL;
	if (p->mtu && p->mtu < iphlen + SMT_HDR_LEN + SMT_REC_START_MIN)
		return -EINVAL;
	if (!p->local_port || !p->peer_port)
		return -EINVAL;
	if (smt_all_zero(p->peer_addr, p->family == AF_INET6 ? 16 : 4))
		return -EINVAL;
	if (!p->ipproto && !default_proto)
		return -EINVAL;
	return 0;
}

/**
 * smt_ksession_table_init() - empty table for a newly opened file.
 * @t: table
 */
void smt_ksession_table_init(struct smt_ksession_table *t)
{
	mutex_init(&t->lock);
	INIT_LIST_HEAD(&t->sessions);
	t->next_id = 1;
	t->count = 0;
}

static void smt_ksession_free(struct smt_ksession *s)
{
	smt_kaead_destroy(&s->tx);
	memzero_explicit(&s->crypto, sizeof(s->crypto));
	if (s->net)
		put_net(s->net);
	kfree_sensitive(s);
	smt_stat_add(SMT_CNT_SESSIONS_REMOVED, 1);
}

/**
 * smt_ksession_add() - add a session to a file's table.
 * @t:             the file's table
 * @net:           namespace whose routes the session's packets take
 * @p:             parameters; the caller wipes its copy of the key after
 * @default_proto: module's protocol number
 *
 * Return: the new session id (> 0) or a negative errno.
 */
int smt_ksession_add(struct smt_ksession_table *t, struct net *net,
		     const struct smt_kmod_session *p, u8 default_proto)
{
	struct smt_ksession *s;
	int err;

	err = smt_ksession_params_check(p, default_proto);
	if (err)
		return err;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->ipproto = p->ipproto ? p->ipproto : default_proto;
	s->B = p->B ? p->B : SMT_B_DEFAULT;
	s->epoch = p->epoch;
	s->sport = p->local_port;
	s->dport = p->peer_port;
	s->rec_size = p->rec_size ? p->rec_size : SMT_REC_MAX_CONTENT;
	s->mtu = p->mtu;
	s->family = p->family;
	if (p->family == AF_INET6) {
		memcpy(&s->saddr6, p->local_addr, 16);
		memcpy(&s->daddr6, p->peer_addr, 16);
	} else {
		memcpy(&s->saddr, p->local_addr, 4);
		memcpy(&s->daddr, p->peer_addr, 4);
	}
	memcpy(&s->crypto, &p->crypto, sizeof(s->crypto));
	err = smt_kaead_init(&s->tx, &s->crypto);
	if (err) {
		memzero_explicit(&s->crypto, sizeof(s->crypto));
		kfree_sensitive(s);
		return err;
	}
	s->net = get_net(net);
	smt_stat_add(SMT_CNT_SESSIONS_ADDED, 1);

	mutex_lock(&t->lock);
	if (t->count >= SMT_KMOD_MAX_SESSIONS || t->next_id > INT_MAX) {
		mutex_unlock(&t->lock);
		smt_ksession_free(s);
		return -ENOSPC;
	}
	s->id = t->next_id++;
	list_add_tail(&s->link, &t->sessions);
	t->count++;
	mutex_unlock(&t->lock);
	return s->id;
}

/**
 * smt_ksession_find() - look a session up by id; caller holds t->lock.
 * @t:  table
 * @id: session id
 *
 * Return: the session or NULL.
 */
struct smt_ksession *smt_ksession_find(struct smt_ksession_table *t, u32 id)
{
	struct smt_ksession *s;

	list_for_each_entry (s, &t->sessions, link)
		if (s->id == id)
			return s;
	return NULL;
}

/**
 * smt_ksession_del() - remove a session and wipe its keys.
 * @t:  table
 * @id: session id
 *
 * Return: 0 or -ENOENT.
 */
int smt_ksession_del(struct smt_ksession_table *t, u32 id)
{
	struct smt_ksession *s;

	mutex_lock(&t->lock);
	s = smt_ksession_find(t, id);
	if (s) {
		list_del(&s->link);
		t->count--;
	}
	mutex_unlock(&t->lock);
	if (!s)
		return -ENOENT;
	smt_ksession_free(s);
	return 0;
}

/**
 * smt_ksession_table_destroy() - free every session of a closing file.
 * @t: table
 */
void smt_ksession_table_destroy(struct smt_ksession_table *t)
{
	struct smt_ksession *s, *tmp;

	mutex_lock(&t->lock);
	list_for_each_entry_safe (s, tmp, &t->sessions, link) {
		list_del(&s->link);
		smt_ksession_free(s);
	}
	t->count = 0;
	mutex_unlock(&t->lock);
	mutex_destroy(&t->lock);
}

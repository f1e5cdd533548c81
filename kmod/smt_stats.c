// SPDX-License-Identifier: GPL-2.0-only
/*
 * Counters of the smt module and /proc/net/smt_stat: the module's own
 * counters (SMT_KMOD_COUNTERS in smt_impl.h), then one line per drop reason
 * of include/smt/drop.h with the same printable names every other component
 * uses ("name value" per line). The counters are global to the module; the
 * file appears in every network namespace.
 */
#include "smt_impl.h"

#ifndef SMT_KMOD_MOCK
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#endif

static atomic64_t smt_counters[SMT_CNT_MAX];
static atomic64_t smt_drops[SMT_DROP_MAX];

static const char *const smt_counter_names[SMT_CNT_MAX] = {
#define SMT_KMOD_CNT_NAME(name, str) [SMT_CNT_##name] = str,
	SMT_KMOD_COUNTERS(SMT_KMOD_CNT_NAME)
#undef SMT_KMOD_CNT_NAME
};

/**
 * smt_stat_add() - add @n to counter @c.
 * @c: counter
 * @n: amount
 */
void smt_stat_add(enum smt_kmod_counter c, u64 n)
{
	if (c < SMT_CNT_MAX)
		atomic64_add(n, &smt_counters[c]);
}

/**
 * smt_stat_drop() - count one drop for reason @r.
 * @r: drop reason of include/smt/drop.h
 */
void smt_stat_drop(enum smt_drop_reason r)
{
	if (r < SMT_DROP_MAX)
		atomic64_inc(&smt_drops[r]);
}

/**
 * smt_stat_get() - current value of counter @c.
 * @c: counter
 *
 * Return: the value, 0 for an unknown counter.
 */
u64 smt_stat_get(enum smt_kmod_counter c)
{
	return c < SMT_CNT_MAX ? atomic64_read(&smt_counters[c]) : 0;
}

/**
 * smt_stat_drop_get() - drops counted for reason @r.
 * @r: drop reason
 *
 * Return: the count, 0 for an unknown reason.
 */
u64 smt_stat_drop_get(enum smt_drop_reason r)
{
	return r < SMT_DROP_MAX ? atomic64_read(&smt_drops[r]) : 0;
}

/**
 * smt_stat_reset() - zero every counter (unit tests).
 */
void smt_stat_reset(void)
{
	int i;

	for (i = 0; i < SMT_CNT_MAX; i++)
		atomic64_set(&smt_counters[i], 0);
	for (i = 0; i < SMT_DROP_MAX; i++)
		atomic64_set(&smt_drops[i], 0);
}

/**
 * smt_stats_format() - the text of /proc/net/smt_stat.
 * @buf: out
 * @len: room in @buf
 *
 * Return: bytes written (without the NUL), or -ENOSPC when @buf is short.
 */
int smt_stats_format(char *buf, size_t len)
{
	size_t used = 0;
	int i, n;

	for (i = 0; i < SMT_CNT_MAX + SMT_DROP_MAX; i++) {
		const char *name;
		u64 v;

		if (i < SMT_CNT_MAX) {
			name = smt_counter_names[i];
			v = smt_stat_get(i);
		} else {
			if (i - SMT_CNT_MAX == SMT_DROP_NONE)
				continue;
			name = smt_drop_name(i - SMT_CNT_MAX);
			v = smt_stat_drop_get(i - SMT_CNT_MAX);
		}
		n = snprintf(buf + used, len - used, "%s %llu\n", name,
			     (unsigned long long)v);
		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += n;
	}
	return (int)used;
}

#ifndef SMT_KMOD_MOCK
#define SMT_STATS_BUF 4096

static int smt_stat_show(struct seq_file *seq, void *v)
{
	char *buf = kmalloc(SMT_STATS_BUF, GFP_KERNEL);
	int n;

	if (!buf)
		return -ENOMEM;
	n = smt_stats_format(buf, SMT_STATS_BUF);
	if (n > 0)
		seq_write(seq, buf, n);
	kfree(buf);
	return n < 0 ? n : 0;
}

static int __net_init smt_stats_net_init(struct net *net)
{
	if (!proc_create_net_single(SMT_KMOD_PROC_STAT, 0444, net->proc_net,
				    smt_stat_show, NULL))
		return -ENOMEM;
	return 0;
}

static void __net_exit smt_stats_net_exit(struct net *net)
{
	remove_proc_entry(SMT_KMOD_PROC_STAT, net->proc_net);
}

static struct pernet_operations smt_stats_net_ops = {
	.init = smt_stats_net_init,
	.exit = smt_stats_net_exit,
};

/**
 * smt_stats_init() - create /proc/net/smt_stat in every namespace.
 *
 * Return: 0 or a negative errno.
 */
int smt_stats_init(void)
{
	BUILD_BUG_ON(sizeof(struct smt_hdr) != SMT_HDR_LEN);
	return register_pernet_subsys(&smt_stats_net_ops);
}

/**
 * smt_stats_exit() - remove /proc/net/smt_stat everywhere.
 */
void smt_stats_exit(void)
{
	unregister_pernet_subsys(&smt_stats_net_ops);
}
#endif

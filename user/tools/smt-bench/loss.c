// SPDX-License-Identifier: BSD-2-Clause
/*
 * Loss injection for the head-of-line test: loads bpf/bench_loss.bpf.c once
 * and attaches it (XDP, native mode, falling back to generic) to the veth of
 * each host, entering the peer's network namespace with setns() for the
 * interfaces named "IF@/var/run/netns/NAME". Both hosts drop with the same
 * probability, set through the skeleton's mapped .bss between test points.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "bench_loss.skel.h"

#define MAX_IFS 8

static struct bench_loss *skel;
static struct {
	char ns[256];
	int ifindex;
	__u32 flags;
} att[MAX_IFS];
static int n_att;

/* Runs fn in network namespace ns ("" = this one); 0 or -errno. */
static int in_netns(const char *ns, int (*fn)(void *), void *arg)
{
	int self = -1, tgt = -1, ret;

	if (!ns[0])
		return fn(arg);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	tgt = open(ns, O_RDONLY | O_CLOEXEC);
	if (self < 0 || tgt < 0 || setns(tgt, CLONE_NEWNET)) {
		ret = -errno;
		goto out;
	}
	ret = fn(arg);
	if (setns(self, CLONE_NEWNET))
		ret = -errno; /* cannot happen with a valid fd; be loud */
out:
	if (self >= 0)
		close(self);
	if (tgt >= 0)
		close(tgt);
	return ret;
}

struct att_arg {
	const char *ifname;
	int idx;
};

static int do_attach(void *p)
{
	struct att_arg *a = p;
	int fd = bpf_program__fd(skel->progs.bench_loss);
	int ifindex = if_nametoindex(a->ifname);
	int ret;

	if (!ifindex)
		return -ENODEV;
	att[a->idx].ifindex = ifindex;
	att[a->idx].flags = XDP_FLAGS_DRV_MODE;
	ret = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
	if (ret) {
		att[a->idx].flags = XDP_FLAGS_SKB_MODE;
		ret = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, NULL);
	}
	return ret;
}

static int do_detach(void *p)
{
	int i = *(int *)p;

	return bpf_xdp_detach(att[i].ifindex, att[i].flags, NULL);
}

int loss_attach(char *const *ifaces, int n, char *err, size_t err_len)
{
	int ret;

	if (n > MAX_IFS) {
		snprintf(err, err_len, "at most %d loss interfaces", MAX_IFS);
		return -EINVAL;
	}
	if (!skel) {
		skel = bench_loss__open_and_load();
		if (!skel) {
			ret = -errno;
			snprintf(err, err_len,
				 "cannot load bench_loss.bpf.o: %s (needs root "
				 "and BPF support)",
				 strerror(-ret));
			return ret;
		}
		skel->bss->keep_port = BENCH_BASE_PORT + PORT_CTL;
	}
	for (n_att = 0; n_att < n; n_att++) {
		const char *at = strchr(ifaces[n_att], '@');
		char name[IF_NAMESIZE + 1];
		struct att_arg a = {.ifname = name, .idx = n_att};
		size_t len = at ? (size_t)(at - ifaces[n_att])
				: strlen(ifaces[n_att]);

		if (len > IF_NAMESIZE) {
			snprintf(err, err_len, "interface name too long: %s",
				 ifaces[n_att]);
			loss_detach();
			return -EINVAL;
		}
		memcpy(name, ifaces[n_att], len);
		name[len] = 0;
		snprintf(att[n_att].ns, sizeof(att[n_att].ns), "%s",
			 at ? at + 1 : "");
		ret = in_netns(att[n_att].ns, do_attach, &a);
		if (ret) {
			snprintf(err, err_len,
				 "cannot attach XDP loss program to %s: %s",
				 ifaces[n_att], strerror(-ret));
			loss_detach();
			return ret;
		}
	}
	return 0;
}

int loss_set(uint32_t ppm)
{
	if (!skel)
		return -ENOENT;
	skel->bss->drop_ppm = ppm;
	skel->bss->seen = 0;
	skel->bss->dropped = 0;
	return 0;
}

void loss_counts(uint64_t *seen, uint64_t *dropped)
{
	*seen = skel ? skel->bss->seen : 0;
	*dropped = skel ? skel->bss->dropped : 0;
}

void loss_detach(void)
{
	for (int i = n_att - 1; i >= 0; i--)
		in_netns(att[i].ns, do_detach, &i);
	n_att = 0;
}

// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt_bpf: load, attach, pin and read the SMT BPF programs (see smt_bpf.h).
 * Programs come from the skeletons that the build generates from
 * bpf/NAME.bpf.c; maps are pinned by name under SMT_PIN_MAPS and reused by
 * libbpf when a compatible pin exists, so sessions and counters survive a
 * daemon restart. XDP attaches through netlink and stays attached after the
 * process exits; programs are pinned too so that bpftool can find them.
 * The UDP port ranges of SMT over UDP are parsed, fitted into the
 * SMT_UDP_PORT_RANGES entries of their array map and written here too.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "smt_bpf.h"
#include "smt_xdp.skel.h"
#include "smt_tc.skel.h"
#include "mtp_inspect.skel.h"

/* Options structs are set up by hand, not with LIBBPF_OPTS, so that
 * cppcheck (make check) can parse this file without libbpf's headers. */
/* The egress filter's handle and priority: distinctive ("SMT", "ST") so that
 * attaching never replaces an operator's filter; scripts/smt-bpf.sh uses the
 * same pair. */
#define TC_HANDLE 0x534d54
#define TC_PRIO 0x5354
#define CPUMAP_QSIZE 2048

/* Libraries do not print: libbpf's messages only with SMT_BPF_DEBUG set. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (!getenv("SMT_BPF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void quiet_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

/* SMT_BPF_PIN_DIR moves the pins (tests run beside a live install). */
static const char *pin_root(void)
{
	const char *p = getenv("SMT_BPF_PIN_DIR");

	return p && *p ? p : SMT_PIN_DIR;
}

int smt_bpf_mount(void)
{
	char maps[256];
	struct statfs st;

	if (statfs(SMT_BPFFS, &st) || st.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", SMT_BPFFS, "bpf", 0, NULL))
			return -errno;
	}
	snprintf(maps, sizeof(maps), "%s/maps", pin_root());
	if (mkdir(pin_root(), 0700) && errno != EEXIST)
		return -errno;
	if (mkdir(maps, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static bool is_devmap(const struct bpf_map *m)
{
	enum bpf_map_type t = bpf_map__type(m);

	return t == BPF_MAP_TYPE_DEVMAP || t == BPF_MAP_TYPE_DEVMAP_HASH;
}

/*
 * Look at the pin of map m before libbpf does. A pin of another layout (an
 * older build: type, key, value, size or flags differ) is removed, so that
 * libbpf creates and pins a new map instead of failing the load; that
 * map's counters start again. A compatible devmap is reused by hand: the
 * kernel adds BPF_F_RDONLY_PROG to every devmap it creates, so the pin's
 * flags never equal the definition's and libbpf before 1.3 refuses it
 * ("parameter mismatch", -EINVAL): the second load of mtp_inspect (its
 * second interface) failed that way. Returns 1 when reused here, 0 when
 * libbpf should reuse or create the map, or -errno.
 */
static int pin_check(struct bpf_map *m, const char *path)
{
	uint32_t mask = is_devmap(m) ? ~(uint32_t)BPF_F_RDONLY_PROG : ~0u;
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info);
	int fd, err = 0;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
	} else if (info.type != bpf_map__type(m) ||
		   info.key_size != bpf_map__key_size(m) ||
		   info.value_size != bpf_map__value_size(m) ||
		   info.max_entries != bpf_map__max_entries(m) ||
		   (info.map_flags & mask) != (bpf_map__map_flags(m) & mask)) {
		if (unlink(path))
			err = -errno;
	} else if (is_devmap(m)) {
		err = bpf_map__reuse_fd(m, fd);
		if (!err)
			err = 1;
	}
	close(fd); /* reuse_fd holds its own duplicate */
	return err;
}

/* Point every non-internal map of obj at its pin under SMT_PIN_MAPS. */
static int pin_maps_setup(struct bpf_object *obj)
{
	struct bpf_map *m;
	char path[256];
	int err;

	bpf_object__for_each_map(m, obj)
	{
		if (bpf_map__is_internal(m))
			continue;
		snprintf(path, sizeof(path), "%s/maps/%s", pin_root(),
			 bpf_map__name(m));
		err = pin_check(m, path);
		if (err < 0)
			return err;
		if (err > 0)
			continue; /* reused; already pinned */
		err = bpf_map__set_pin_path(m, path);
		if (err)
			return err;
	}
	return 0;
}

/* Pin prog as SMT_PIN_DIR/obj/prog (bpftool loadall's layout). */
static int pin_prog(const char *objname, struct bpf_program *prog)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_root(), objname);
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s/%s", pin_root(), objname,
		 bpf_program__name(prog));
	unlink(path); /* replace an older pin */
	return bpf_program__pin(prog, path);
}

int smt_bpf_unpin_prog(const char *name)
{
	char path[256];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", pin_root(), name);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char p[512];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		unlink(p);
	}
	closedir(d);
	return rmdir(path) ? -errno : 0;
}

static int xdp_attach(int ifindex, int fd, enum smt_bpf_xdp_mode mode,
		      const char *ifname, char *msg, size_t msg_len)
{
	int err;

	if (msg && msg_len)
		msg[0] = 0;
	if (mode != SMT_BPF_XDP_GENERIC) {
		err = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
		if (!err || mode == SMT_BPF_XDP_NATIVE)
			return err;
		if (msg)
			snprintf(
				msg, msg_len,
				"native XDP on %s failed (%s); attached in generic (skb) mode, which is slower",
				ifname, strerror(-err));
	}
	return bpf_xdp_attach(ifindex, fd, XDP_FLAGS_SKB_MODE, NULL);
}

static int udp_ports_write(int fd, const struct smt_udp_port_range *r,
			   unsigned int n)
{
	uint32_t i;

	if (n > SMT_UDP_PORT_RANGES)
		return -E2BIG;
	/* Entries past the new end first, so a shorter list never shows a
	 * stale tail; a packet in between may see old and new ranges mixed. */
	for (i = SMT_UDP_PORT_RANGES; i-- > 0;) {
		struct smt_udp_port_range v = {0, 0};

		if (i < n)
			v = r[i];
		if (bpf_map_update_elem(fd, &i, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

int smt_bpf_host_attach(const struct smt_bpf_host_opts *o, char *msg,
			size_t msg_len)
{
	struct smt_xdp_config cfg = {.flags = SMT_XDP_CFG_VALID};
	struct smt_xdp *xs = NULL;
	struct smt_tc *ts = NULL;
	uint32_t zero = 0, i, n_cpus = o->n_cpus;
	int ifindex, err;

	quiet_libbpf();
	if (msg && msg_len)
		msg[0] = 0;
	ifindex = if_nametoindex(o->ifname);
	if (!ifindex)
		return -ENODEV;
	err = smt_bpf_mount();
	if (err)
		return err;
	if (!n_cpus)
		n_cpus = online_cpus();
	if (n_cpus > SMT_MAX_CPUS)
		n_cpus = SMT_MAX_CPUS;

	xs = smt_xdp__open();
	if (!xs)
		return -errno;
	if (o->ipproto)
		xs->rodata->smt_ipproto = o->ipproto;
	xs->rodata->smt_filter = !o->no_filter;
	xs->rodata->smt_steer = o->steer;
	xs->rodata->smt_n_cpus = n_cpus;
	err = pin_maps_setup(xs->obj);
	if (!err)
		err = smt_xdp__load(xs);
	if (err)
		goto out;

	/* The runtime config wins over rodata; reused maps may hold old. */
	if (!o->no_filter)
		cfg.flags |= SMT_XDP_CFG_FILTER;
	cfg.steer = o->steer;
	cfg.n_cpus = n_cpus;
	cfg.hs_port = o->hs_port;
	err = bpf_map_update_elem(bpf_map__fd(xs->maps.xdp_config), &zero, &cfg,
				  BPF_ANY);
	if (err)
		goto out;
	if (o->udp_ports) {
		err = udp_ports_write(bpf_map__fd(xs->maps.udp_ports),
				      o->udp_ports, o->n_udp_ports);
		if (err)
			goto out;
	}
	if (o->steer == SMT_STEER_CPUMAP) {
		for (i = 0; i < n_cpus; i++) {
			struct bpf_cpumap_val v = {.qsize = CPUMAP_QSIZE};

			v.bpf_prog.fd = bpf_program__fd(xs->progs.smt_cpumap);
			err = bpf_map_update_elem(bpf_map__fd(xs->maps.cpu_map),
						  &i, &v, BPF_ANY);
			if (err)
				goto out;
		}
	}
	err = xdp_attach(ifindex, bpf_program__fd(xs->progs.smt_xdp), o->mode,
			 o->ifname, msg, msg_len);
	if (err)
		goto out;
	err = pin_prog("smt_xdp", xs->progs.smt_xdp);
	if (!err)
		err = pin_prog("smt_xdp", xs->progs.smt_cpumap);
	if (err || o->no_tc)
		goto out;

	ts = smt_tc__open();
	if (!ts) {
		err = -errno;
		goto out;
	}
	if (o->ipproto)
		ts->rodata->smt_ipproto = o->ipproto;
	err = pin_maps_setup(ts->obj);
	if (!err)
		err = smt_tc__load(ts);
	if (!err) {
		struct bpf_tc_hook hook = {.sz = sizeof(struct bpf_tc_hook),
					   .ifindex = ifindex,
					   .attach_point = BPF_TC_EGRESS};
		struct bpf_tc_opts topts = {
			.sz = sizeof(struct bpf_tc_opts),
			.handle = TC_HANDLE,
			.priority = TC_PRIO,
			.flags = BPF_TC_F_REPLACE,
			.prog_fd = bpf_program__fd(ts->progs.smt_tc)};

		err = bpf_tc_hook_create(&hook);
		if (err == -EEXIST)
			err = 0;
		if (!err)
			err = bpf_tc_attach(&hook, &topts);
	}
	if (!err)
		err = pin_prog("smt_tc", ts->progs.smt_tc);
out:
	smt_tc__destroy(ts);
	smt_xdp__destroy(xs);
	return err;
}

int smt_bpf_mb_attach(const char *ifname, enum smt_bpf_xdp_mode mode,
		      uint8_t ipproto, char *msg, size_t msg_len)
{
	struct mtp_inspect *ms;
	int ifindex, err;

	quiet_libbpf();
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return -ENODEV;
	err = smt_bpf_mount();
	if (err)
		return err;
	ms = mtp_inspect__open();
	if (!ms)
		return -errno;
	if (ipproto)
		ms->rodata->smt_ipproto = ipproto;
	err = pin_maps_setup(ms->obj);
	if (!err)
		err = mtp_inspect__load(ms);
	if (!err)
		err = xdp_attach(ifindex,
				 bpf_program__fd(ms->progs.mtp_inspect), mode,
				 ifname, msg, msg_len);
	if (!err)
		err = pin_prog("mtp_inspect", ms->progs.mtp_inspect);
	mtp_inspect__destroy(ms);
	return err;
}

static int prog_name_by_id(uint32_t id, char *name, size_t len)
{
	struct bpf_prog_info info = {0};
	uint32_t ilen = sizeof(info);
	int fd, err;

	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &ilen);
	close(fd);
	if (err)
		return err;
	snprintf(name, len, "%s", info.name);
	return 0;
}

static bool smt_prog_name(const char *n)
{
	return !strcmp(n, "smt_xdp") || !strcmp(n, "mtp_inspect") ||
	       !strcmp(n, "smt_tc");
}

int smt_bpf_detach(const char *ifname)
{
	struct bpf_xdp_query_opts q = {.sz = sizeof(struct bpf_xdp_query_opts)};
	char name[32];
	int ifindex, err = 0;

	quiet_libbpf();
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return -ENODEV;
	if (!bpf_xdp_query(ifindex, 0, &q)) {
		if (q.drv_prog_id &&
		    !prog_name_by_id(q.drv_prog_id, name, sizeof(name)) &&
		    smt_prog_name(name))
			err = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
		if (q.skb_prog_id &&
		    !prog_name_by_id(q.skb_prog_id, name, sizeof(name)) &&
		    smt_prog_name(name) && !err)
			err = bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL);
	}
	{
		struct bpf_tc_hook hook = {.sz = sizeof(struct bpf_tc_hook),
					   .ifindex = ifindex,
					   .attach_point = BPF_TC_EGRESS};
		struct bpf_tc_opts topts = {.sz = sizeof(struct bpf_tc_opts),
					    .handle = TC_HANDLE,
					    .priority = TC_PRIO};

		if (!bpf_tc_query(&hook, &topts) &&
		    !prog_name_by_id(topts.prog_id, name, sizeof(name)) &&
		    smt_prog_name(name)) {
			topts.prog_id = 0;
			topts.prog_fd = 0;
			topts.flags = 0;
			if (!err)
				err = bpf_tc_detach(&hook, &topts);
		}
	}
	return err;
}

static int add_attached(struct smt_bpf_attached *out, int max, int n,
			const char *ifname, int ifindex, const char *kind,
			uint32_t id)
{
	char name[32];

	if (!id || prog_name_by_id(id, name, sizeof(name)) ||
	    !smt_prog_name(name))
		return n;
	if (n < max) {
		snprintf(out[n].ifname, sizeof(out[n].ifname), "%s", ifname);
		out[n].ifindex = ifindex;
		snprintf(out[n].kind, sizeof(out[n].kind), "%s", kind);
		out[n].prog_id = id;
		snprintf(out[n].prog_name, sizeof(out[n].prog_name), "%s",
			 name);
	}
	return n + 1;
}

int smt_bpf_list_attached(struct smt_bpf_attached *out, int max)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int n = 0;

	quiet_libbpf();
	if (!ifs)
		return -errno;
	for (i = ifs; i->if_index; i++) {
		struct bpf_xdp_query_opts q = {
			.sz = sizeof(struct bpf_xdp_query_opts)};
		struct bpf_tc_hook hook = {.sz = sizeof(struct bpf_tc_hook),
					   .ifindex = i->if_index,
					   .attach_point = BPF_TC_EGRESS};
		struct bpf_tc_opts topts = {.sz = sizeof(struct bpf_tc_opts),
					    .handle = TC_HANDLE,
					    .priority = TC_PRIO};

		if (!bpf_xdp_query(i->if_index, 0, &q)) {
			n = add_attached(out, max, n, i->if_name, i->if_index,
					 "xdpdrv", q.drv_prog_id);
			n = add_attached(out, max, n, i->if_name, i->if_index,
					 "xdpgeneric", q.skb_prog_id);
		}
		if (!bpf_tc_query(&hook, &topts))
			n = add_attached(out, max, n, i->if_name, i->if_index,
					 "tc-egress", topts.prog_id);
	}
	if_freenameindex(ifs);
	return n;
}

int smt_bpf_map_fd(const char *name)
{
	char path[256];
	uint32_t id = 0, best = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/maps/%s", pin_root(), name);
	fd = bpf_obj_get(path);
	if (fd >= 0)
		return fd;
	/* out of descriptors, no permission...: say so, not "no such map" */
	if (errno != ENOENT)
		return -errno;
	while (!bpf_map_get_next_id(id, &id)) {
		struct bpf_map_info info = {0};
		uint32_t len = sizeof(info);

		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strncmp(info.name, name, sizeof(info.name)))
			best = id;
		close(fd);
	}
	if (!best)
		return -ENOENT;
	fd = bpf_map_get_fd_by_id(best);
	return fd < 0 ? -errno : fd;
}

int smt_bpf_session_add(const struct smt_session_key *k,
			const struct smt_session_val *v)
{
	int fd = smt_bpf_map_fd(SMT_MAP_SESSIONS), err;

	if (fd < 0)
		return fd;
	err = bpf_map_update_elem(fd, k, v, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

int smt_bpf_session_del(const struct smt_session_key *k)
{
	int fd = smt_bpf_map_fd(SMT_MAP_SESSIONS), err;

	if (fd < 0)
		return fd;
	err = bpf_map_delete_elem(fd, k) ? -errno : 0;
	close(fd);
	return err;
}

int smt_bpf_read_counters(const char *map, uint64_t *out, unsigned int n,
			  uint64_t *per_cpu, unsigned int *ncpu)
{
	int nc = libbpf_num_possible_cpus(), fd, c;
	uint64_t *v;
	uint32_t i;

	if (nc <= 0)
		return nc ? nc : -EINVAL;
	fd = smt_bpf_map_fd(map);
	if (fd < 0)
		return fd;
	v = calloc(nc, sizeof(*v));
	if (!v) {
		close(fd);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, v))
			memset(v, 0, nc * sizeof(*v));
		for (c = 0; c < nc; c++) {
			out[i] += v[c];
			if (per_cpu)
				per_cpu[i * nc + c] = v[c];
		}
	}
	if (ncpu)
		*ncpu = nc;
	free(v);
	close(fd);
	return 0;
}

static void sess_stats_sum(const struct smt_sess_stats *v, int nc,
			   struct smt_sess_stats *sum)
{
	int c;

	memset(sum, 0, sizeof(*sum));
	for (c = 0; c < nc; c++) {
		sum->packets += v[c].packets;
		sum->bytes += v[c].bytes;
		sum->ctl_packets += v[c].ctl_packets;
		sum->msgs_started += v[c].msgs_started;
		sum->msgs_completed += v[c].msgs_completed;
		sum->drops += v[c].drops;
		sum->dup_packets += v[c].dup_packets;
	}
}

/* Open map and allocate one per-CPU value of elem bytes a CPU into *v:
 * the fd, or -errno (nothing to free then). */
static int percpu_open(const char *map, size_t elem, int *nc, void **v)
{
	int fd;

	*nc = libbpf_num_possible_cpus();
	if (*nc <= 0)
		return -EINVAL;
	fd = smt_bpf_map_fd(map);
	if (fd < 0)
		return fd;
	*v = calloc(*nc, elem);
	if (!*v) {
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

int smt_bpf_sess_stats_get(const char *map, const struct smt_session_key *k,
			   struct smt_sess_stats *sum)
{
	struct smt_sess_stats *v;
	int nc, fd, err = 0;

	memset(sum, 0, sizeof(*sum));
	fd = percpu_open(map, sizeof(*v), &nc, (void **)&v);
	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, k, v))
		err = -errno;
	else
		sess_stats_sum(v, nc, sum);
	free(v);
	close(fd);
	return err;
}

int smt_bpf_walk_sess_stats(const char *map, smt_bpf_sess_cb cb, void *ctx)
{
	struct smt_session_key k, *prev = NULL;
	struct smt_sess_stats *v, sum;
	int nc, fd, err = 0;

	fd = percpu_open(map, sizeof(*v), &nc, (void **)&v);
	if (fd < 0)
		return fd;
	while (!err && !bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		sess_stats_sum(v, nc, &sum);
		err = cb(&k, &sum, ctx);
	}
	free(v);
	close(fd);
	return err < 0 ? err : 0;
}

int smt_bpf_walk_messages(const char *map, smt_bpf_msg_cb cb, void *ctx)
{
	struct smt_msg_key k, *prev = NULL;
	struct smt_msg_state m;
	int fd, err = 0;

	fd = smt_bpf_map_fd(map);
	if (fd < 0)
		return fd;
	while (!err && !bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		if (!bpf_map_lookup_elem(fd, &k, &m))
			err = cb(&k, &m, ctx);
	}
	close(fd);
	return err < 0 ? err : 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int smt_bpf_sweep_messages(uint64_t max_age_ns, smt_bpf_event_cb cb, void *ctx)
{
	struct smt_msg_key k, *prev = NULL, *stale = NULL;
	uint64_t now = mono_ns();
	struct smt_msg_state m;
	int fd, n = 0, cap = 0, i;

	fd = smt_bpf_map_fd(SMT_MAP_MESSAGES);
	if (fd < 0)
		return fd;
	/* Collect first: deleting while walking restarts the walk. */
	while (!bpf_map_get_next_key(fd, prev, &k)) {
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &m) ||
		    m.state != SMT_MSG_OPEN || now - m.last_ns < max_age_ns)
			continue;
		if (n == cap) {
			void *p = realloc(stale, (cap ? cap * 2 : 64) *
							 sizeof(*stale));

			if (!p)
				break;
			stale = p;
			cap = cap ? cap * 2 : 64;
		}
		stale[n++] = k;
	}
	for (i = 0; i < n; i++) {
		struct smt_msg_event ev = {.kind = SMT_EV_EVICTED};

		if (bpf_map_lookup_elem(fd, &stale[i], &m) ||
		    bpf_map_delete_elem(fd, &stale[i]))
			continue;
		ev.family = stale[i].sess.family;
		ev.encap = stale[i].sess.encap;
		ev.path = m.cpu;
		ev.sess_id = m.sess_id;
		memcpy(ev.saddr, stale[i].sess.addr, 16);
		ev.sport = stale[i].sess.peer_port;
		ev.dport = stale[i].sess.local_port;
		ev.epoch = stale[i].epoch;
		ev.msg_id = stale[i].msg_id;
		ev.msg_len = m.msg_len;
		ev.bytes = m.bytes;
		ev.packets = m.packets;
		ev.records = m.records;
		ev.first_ns = m.first_ns;
		ev.last_ns = m.last_ns;
		if (cb)
			cb(&ev, ctx);
	}
	free(stale);
	close(fd);
	return n;
}

struct watch_ctx {
	smt_bpf_event_cb cb;
	void *ctx;
};

static int watch_handler(void *ctx, void *data, size_t len)
{
	struct watch_ctx *w = ctx;
	struct smt_msg_event ev;

	if (len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	return w->cb(&ev, w->ctx);
}

int smt_bpf_watch(const char *map, smt_bpf_event_cb cb, void *ctx,
		  int timeout_ms, volatile bool *stop)
{
	struct watch_ctx w = {.cb = cb, .ctx = ctx};
	uint64_t end = timeout_ms >= 0
			       ? mono_ns() + (uint64_t)timeout_ms * 1000000ull
			       : 0;
	struct ring_buffer *rb;
	int fd, err = 0;

	fd = smt_bpf_map_fd(map);
	if (fd < 0)
		return fd;
	rb = ring_buffer__new(fd, watch_handler, &w, NULL);
	if (!rb) {
		err = -errno;
		close(fd);
		return err;
	}
	while (!(stop && *stop)) {
		err = ring_buffer__poll(rb, 100);
		if (err == -EINTR) {
			err = 0;
			continue;
		}
		if (err < 0)
			break;
		err = 0;
		if (end && mono_ns() >= end)
			break;
	}
	ring_buffer__free(rb);
	close(fd);
	return err > 0 ? 0 : err;
}

int smt_bpf_mb_configure(const struct smt_mtp_config *cfg)
{
	uint32_t zero = 0, i;
	int fd, err = 0;

	fd = smt_bpf_map_fd(SMT_MAP_MTP_CONFIG);
	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(fd, &zero, cfg, BPF_ANY))
		err = -errno;
	close(fd);
	if (err || !cfg->n_nh)
		return err;
	fd = smt_bpf_map_fd(SMT_MAP_MTP_PORTS);
	if (fd < 0)
		return fd;
	for (i = 0; i < cfg->n_nh && i < SMT_MTP_MAX_NH && !err; i++) {
		uint32_t ifx = cfg->nh[i].ifindex;

		if (bpf_map_update_elem(fd, &i, &ifx, BPF_ANY))
			err = -errno;
	}
	close(fd);
	return err;
}

const char *smt_bpf_stat_name(unsigned int idx)
{
	switch (idx) {
#define SMT_BPF_STAT_CASE(name, num, str, desc) \
	case num:                               \
		return str;
		SMT_XDP_STATS(SMT_BPF_STAT_CASE)
#undef SMT_BPF_STAT_CASE
	}
	return "unknown";
}

int smt_bpf_udp_ports_parse(const char *s, struct smt_udp_port_range *r,
			    unsigned int max, unsigned int *n)
{
	const char *p = s;

	if (!strcmp(s, "none"))
		return 0;
	while (*p) {
		unsigned long lo, hi;
		char *end;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		errno = 0;
		lo = strtoul(p, &end, 10);
		if (end == p || errno)
			return -EINVAL;
		hi = lo;
		p = end;
		if (*p == '-') {
			hi = strtoul(++p, &end, 10);
			if (end == p || errno)
				return -EINVAL;
			p = end;
		}
		if (*p && *p != ',' && *p != ' ')
			return -EINVAL;
		if (!lo || lo > hi || hi > 65535)
			return -EINVAL;
		if (*n >= max)
			return -E2BIG;
		r[*n].lo = lo;
		r[*n].hi = hi;
		(*n)++;
	}
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct smt_udp_port_range *x = a, *y = b;

	return (int)x->lo - (int)y->lo;
}

unsigned int smt_bpf_udp_ports_fit(struct smt_udp_port_range *r,
				   unsigned int *n)
{
	unsigned int i, k, added = 0;

	if (!*n)
		return 0;
	qsort(r, *n, sizeof(*r), range_cmp);
	for (i = 1, k = 0; i < *n; i++) {
		if ((uint32_t)r[i].lo <= (uint32_t)r[k].hi + 1) {
			if (r[i].hi > r[k].hi)
				r[k].hi = r[i].hi;
		} else {
			r[++k] = r[i];
		}
	}
	*n = k + 1;
	while (*n > SMT_UDP_PORT_RANGES) {
		unsigned int best = 0, gap, bgap = UINT32_MAX;

		for (i = 0; i + 1 < *n; i++) {
			gap = r[i + 1].lo - r[i].hi - 1;
			if (gap < bgap) {
				bgap = gap;
				best = i;
			}
		}
		added += bgap;
		r[best].hi = r[best + 1].hi;
		memmove(&r[best + 1], &r[best + 2],
			(*n - best - 2) * sizeof(*r));
		(*n)--;
	}
	return added;
}

void smt_bpf_udp_ports_format(const struct smt_udp_port_range *r,
			      unsigned int n, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;

	if (!len)
		return;
	buf[0] = 0;
	if (!n) {
		snprintf(buf, len, "none");
		return;
	}
	for (i = 0; i < n && off < len; i++) {
		int w;

		if (r[i].lo == r[i].hi)
			w = snprintf(buf + off, len - off, "%s%u", i ? "," : "",
				     r[i].lo);
		else
			w = snprintf(buf + off, len - off, "%s%u-%u",
				     i ? "," : "", r[i].lo, r[i].hi);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

int smt_bpf_udp_ports_set(const char *map, const struct smt_udp_port_range *r,
			  unsigned int n)
{
	int fd = smt_bpf_map_fd(map), err;

	if (fd < 0)
		return fd;
	err = udp_ports_write(fd, r, n);
	close(fd);
	return err;
}

int smt_bpf_udp_ports_get(const char *map, struct smt_udp_port_range *r,
			  unsigned int *n)
{
	int fd = smt_bpf_map_fd(map);
	uint32_t i;

	if (fd < 0)
		return fd;
	*n = 0;
	for (i = 0; i < SMT_UDP_PORT_RANGES; i++) {
		struct smt_udp_port_range v;

		if (bpf_map_lookup_elem(fd, &i, &v) || !v.lo)
			break;
		r[(*n)++] = v;
	}
	close(fd);
	return 0;
}

// SPDX-License-Identifier: BSD-2-Clause
/*
 * smt-fault: attach, configure and detach the SMT fault injector
 * (bpf/smt_fault.bpf.c) on one interface, optionally inside a network
 * namespace, in one command:
 *
 *   smt-fault -n NETNS attach DEV --drop 5 --dup 1
 *
 * Maps and program are pinned under /sys/fs/bpf/smt/fault/DEV/, so later
 * `set`, `rule`, `stats` and `detach` commands find them. TC (clsact
 * ingress, the default) can drop and duplicate; XDP only drops. The map
 * layout is include/smt/fault.h. SMT over UDP (protocol.md 1.1) is matched
 * on the UDP port ranges of --udp-ports (map udp_ports; every port unless
 * told otherwise) as well as native SMT. See docs/api.md ("Fault
 * injection").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <smt/fault.h>
#include <smt/wire.h>

#include <json-c/json.h>

#include "opts.h"
#include "util.h"
#include "smt_bpf.h"
#include "smt_fault.skel.h"

#define PIN_ROOT "/sys/fs/bpf/smt/fault"
#define BPF_FS_MAGIC_NUM 0xcafe4a11
#define TC_HANDLE 0x534d
#define TC_PRIO 0x534d
/* By default every UDP datagram that passes checks 3 and 4 of protocol.md
 * 1.1 is SMT: a test netns carries no other UDP with 0xA1 at byte 12. */
#define UDP_PORTS_DEFAULT "1-65535"

enum mode { MODE_TC_INGRESS, MODE_TC_EGRESS, MODE_XDP };

struct args {
	const char *netns;
	const char *dev;
	enum mode mode;
	bool json;
	int ipproto;
	double drop, dup; /* percent, < 0 = leave as is */
	bool types_set;
	__u32 type_mask;
	const char *udp_ports; /* NULL: leave as is (attach: the default) */
	struct smt_fault_rule rule;
};

static const struct {
	const char *name;
	__u8 type;
} type_names[] = {
	{"data", SMT_TYPE_DATA},     {"grant", SMT_TYPE_GRANT},
	{"resend", SMT_TYPE_RESEND}, {"unknown", SMT_TYPE_UNKNOWN},
	{"busy", SMT_TYPE_BUSY},     {"need_ack", SMT_TYPE_NEED_ACK},
	{"ack", SMT_TYPE_ACK},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smt-fault [-n NETNS] [-j] COMMAND DEV [OPTIONS]\n"
		"commands:\n"
		"  attach DEV [--tc|--tc-egress|--xdp] [--ipproto N] [SETTINGS]\n"
		"  set DEV SETTINGS        change probabilities / types\n"
		"  rule DEV drop|dup [--type T] [--msg-id N] [--pkt-off N]\n"
		"                  [--nth N] [--count N]   add an exact rule\n"
		"  clear DEV               remove rules, probabilities to 0\n"
		"  stats DEV               print what the injector did\n"
		"  detach DEV              detach and unpin\n"
		"settings: --drop PCT --dup PCT (percent of SMT packets, e.g. 0.5)\n"
		"          --types data,grant,resend,unknown,busy,need_ack,ack\n"
		"          --udp-ports LIST  UDP ports of SMT over UDP, e.g.\n"
		"                  7000-7999,49152-65535, or none (default " UDP_PORTS_DEFAULT
		")\n"
		"-n NETNS runs in /var/run/netns/NETNS (keeps this bpffs).\n"
		"Pins live in " PIN_ROOT
		"/DEV. TC duplicates; XDP only drops.\n");
}

static int parse_type(const char *s, __u8 *t)
{
	char *end;
	unsigned long v;
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (!strcmp(s, type_names[i].name)) {
			*t = type_names[i].type;
			return 0;
		}
	}
	v = strtoul(s, &end, 0);
	if (*end || v > 255)
		return -1;
	*t = v;
	return 0;
}

/*
 * Option callbacks (see opts.h). A bad value fails without a message: the
 * usage text follows.
 */
static int opt_type(const struct tool_opt *opt, char *arg, char *err,
		    size_t err_len)
{
	return parse_type(arg, opt->dst);
}

/* --types LIST: names or numbers, comma-separated, into a __u32 mask */
static int opt_types(const struct tool_opt *opt, char *arg, char *err,
		     size_t err_len)
{
	char *tok, *save = NULL;
	__u32 *mask = opt->dst;
	__u8 t;

	*mask = 0;
	for (tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (parse_type(tok, &t) < 0)
			return -1;
		*mask |= SMT_FAULT_TYPE_BIT(t);
	}
	return 0;
}

/* A percentage 0..100 (optionally with '%') into a double. */
static int opt_pct(const struct tool_opt *opt, char *arg, char *err,
		   size_t err_len)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || (*end && strcmp(end, "%")) || v < 0 || v > 100)
		return -1;
	*(double *)opt->dst = v;
	return 0;
}

/* An IP protocol number 1..255 into an int. */
static int opt_ipproto(const struct tool_opt *opt, char *arg, char *err,
		       size_t err_len)
{
	int *p = opt->dst;

	*p = atoi(arg);
	return *p < 1 || *p > 255 ? -1 : 0;
}

static int enter_netns(const char *name)
{
	char path[256];
	int fd;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "smt-fault: cannot open netns %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "smt-fault: cannot enter netns %s: %s\n", path,
			strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int ensure_bpffs(void)
{
	struct statfs sf;

	if (statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC_NUM)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL) < 0) {
		fprintf(stderr,
			"smt-fault: bpffs is not mounted and mounting it "
			"failed: %s; run: mount -t bpf bpf /sys/fs/bpf\n",
			strerror(errno));
		return -1;
	}
	return 0;
}

static void pin_path(char *buf, size_t len, const char *dev, const char *obj)
{
	snprintf(buf, len, PIN_ROOT "/%s/%s", dev, obj);
}

static int open_pinned(const char *dev, const char *obj)
{
	char path[256];
	int fd;

	pin_path(path, sizeof(path), dev, obj);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fprintf(stderr,
			"smt-fault: no injector on %s (%s: %s); run "
			"`smt-fault attach %s` first (same netns)\n",
			dev, path, strerror(errno), dev);
	return fd;
}

/* Write --udp-ports (or on attach the default) into the ports map fd. */
static int apply_udp_ports(int fd, const struct args *a, bool fresh)
{
	struct smt_udp_port_range r[128];
	unsigned int n = 0;
	__u32 i;
	int err;

	if (!a->udp_ports && !fresh)
		return 0;
	err = smt_bpf_udp_ports_parse(
		a->udp_ports ? a->udp_ports : UDP_PORTS_DEFAULT, r, 128, &n);
	if (err)
		return err;
	smt_bpf_udp_ports_fit(r, &n);
	for (i = 0; i < SMT_UDP_PORT_RANGES; i++) {
		struct smt_udp_port_range v = {0, 0};

		if (i < n)
			v = r[i];
		if (bpf_map_update_elem(fd, &i, &v, 0) < 0)
			return -errno;
	}
	return 0;
}

static int apply_settings(int cfg_fd, const struct args *a, bool fresh)
{
	struct smt_fault_cfg cfg = {0};
	__u32 zero = 0;

	if (!fresh && bpf_map_lookup_elem(cfg_fd, &zero, &cfg) < 0)
		return -errno;
	if (a->drop >= 0)
		cfg.drop_ppm = (__u32)(a->drop * 10000.0 + 0.5);
	if (a->dup >= 0)
		cfg.dup_ppm = (__u32)(a->dup * 10000.0 + 0.5);
	if (a->types_set)
		cfg.type_mask = a->type_mask;
	if (a->ipproto >= 0)
		cfg.ipproto = a->ipproto;
	else if (fresh)
		cfg.ipproto = SMT_IPPROTO_BUILD;
	if (bpf_map_update_elem(cfg_fd, &zero, &cfg, 0) < 0)
		return -errno;
	return 0;
}

static int cmd_attach(struct args *a, int ifindex)
{
	struct smt_fault *skel;
	struct bpf_program *prog;
	char dir[256], path[256];
	int err;

	skel = smt_fault__open_and_load();
	if (!skel) {
		fprintf(stderr, "smt-fault: cannot load the BPF program: %s\n",
			strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), PIN_ROOT "/%s", a->dev);
	mkdir("/sys/fs/bpf/smt", 0700);
	mkdir(PIN_ROOT, 0700);
	if (mkdir(dir, 0700) < 0 && errno == EEXIST) {
		fprintf(stderr,
			"smt-fault: %s exists: already attached to %s? run "
			"`smt-fault detach %s` first\n",
			dir, a->dev, a->dev);
		err = 1;
		goto out;
	}
	err = apply_settings(bpf_map__fd(skel->maps.smt_fault_cfg), a, true);
	if (!err)
		err = apply_udp_ports(bpf_map__fd(skel->maps.smt_fault_ports),
				      a, true);
	if (err) {
		fprintf(stderr, "smt-fault: cannot write settings: %s\n",
			strerror(-err));
		goto fail_unpin;
	}
	prog = a->mode == MODE_XDP	    ? skel->progs.smt_fault_xdp
	       : a->mode == MODE_TC_INGRESS ? skel->progs.smt_fault_tc_ingress
					    : skel->progs.smt_fault_tc_egress;
	pin_path(path, sizeof(path), a->dev, "cfg");
	err = bpf_map__pin(skel->maps.smt_fault_cfg, path);
	pin_path(path, sizeof(path), a->dev, "rules");
	err = err ?: bpf_map__pin(skel->maps.smt_fault_rules, path);
	pin_path(path, sizeof(path), a->dev, "stats");
	err = err ?: bpf_map__pin(skel->maps.smt_fault_stats, path);
	pin_path(path, sizeof(path), a->dev, "udp_ports");
	err = err ?: bpf_map__pin(skel->maps.smt_fault_ports, path);
	pin_path(path, sizeof(path), a->dev, "prog");
	err = err ?: bpf_program__pin(prog, path);
	if (err) {
		fprintf(stderr, "smt-fault: cannot pin under %s: %s\n", dir,
			strerror(-err));
		goto fail_unpin;
	}
	if (a->mode == MODE_XDP) {
		err = bpf_xdp_attach(ifindex, bpf_program__fd(prog),
				     XDP_FLAGS_DRV_MODE, NULL);
		if (err)
			fprintf(stderr,
				"smt-fault: cannot attach XDP to %s in native "
				"mode: %s; try --tc\n",
				a->dev, strerror(-err));
	} else {
		/* what DECLARE_LIBBPF_OPTS expands to, spelled out */
		struct bpf_tc_hook hook = {.sz = sizeof(hook),
					   .ifindex = ifindex};
		struct bpf_tc_opts opts = {.sz = sizeof(opts),
					   .handle = TC_HANDLE,
					   .priority = TC_PRIO,
					   .prog_fd = bpf_program__fd(prog)};

		hook.attach_point = a->mode == MODE_TC_INGRESS ? BPF_TC_INGRESS
							       : BPF_TC_EGRESS;
		err = bpf_tc_hook_create(&hook);
		if (err == -EEXIST)
			err = 0;
		err = err ?: bpf_tc_attach(&hook, &opts);
		if (err)
			fprintf(stderr,
				"smt-fault: cannot attach TC filter to %s: %s\n",
				a->dev, strerror(-err));
	}
	if (err)
		goto fail_unpin;
	printf("smt-fault: attached to %s (%s), drop %.4g%% dup %.4g%%\n",
	       a->dev,
	       a->mode == MODE_XDP	    ? "xdp"
	       : a->mode == MODE_TC_INGRESS ? "tc ingress"
					    : "tc egress",
	       a->drop > 0 ? a->drop : 0, a->dup > 0 ? a->dup : 0);
	err = 0;
	goto out;
fail_unpin:
	err = 1;
	bpf_object__unpin_maps(skel->obj, NULL);
	pin_path(path, sizeof(path), a->dev, "prog");
	unlink(path);
	rmdir(dir);
out:
	smt_fault__destroy(skel);
	return err;
}

static int cmd_detach(struct args *a, int ifindex)
{
	char path[256];
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info), id = 0;
	int fd, i, rc = 0;
	static const char *const objs[] = {"cfg", "rules", "stats", "udp_ports",
					   "prog"};

	fd = open_pinned(a->dev, "prog");
	if (fd < 0)
		return 1;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		info.id = 0;
	close(fd);
	if (bpf_xdp_query_id(ifindex, 0, &id) == 0 && id && id == info.id)
		bpf_xdp_detach(ifindex, 0, NULL);
	for (i = 0; i < 2; i++) {
		struct bpf_tc_hook hook = {.sz = sizeof(hook),
					   .ifindex = ifindex};
		struct bpf_tc_opts opts = {.sz = sizeof(opts),
					   .handle = TC_HANDLE,
					   .priority = TC_PRIO};

		hook.attach_point = i ? BPF_TC_EGRESS : BPF_TC_INGRESS;
		if (bpf_tc_query(&hook, &opts) == 0 &&
		    opts.prog_id == info.id) {
			opts.prog_id = 0;
			opts.prog_fd = 0;
			opts.flags = 0;
			if (bpf_tc_detach(&hook, &opts) < 0)
				rc = 1;
		}
	}
	for (i = 0; i < 5; i++) {
		pin_path(path, sizeof(path), a->dev, objs[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), PIN_ROOT "/%s", a->dev);
	rmdir(path);
	if (!rc)
		printf("smt-fault: detached from %s\n", a->dev);
	return rc;
}

static int cmd_set(struct args *a)
{
	int fd = open_pinned(a->dev, "cfg"), err;

	if (fd < 0)
		return 1;
	err = apply_settings(fd, a, false);
	close(fd);
	if (!err && a->udp_ports) {
		fd = open_pinned(a->dev, "udp_ports");
		if (fd < 0)
			return 1;
		err = apply_udp_ports(fd, a, false);
		close(fd);
	}
	if (err) {
		fprintf(stderr, "smt-fault: cannot update settings: %s\n",
			strerror(-err));
		return 1;
	}
	return 0;
}

static int cmd_rule(struct args *a)
{
	struct smt_fault_rule r;
	__u32 i;
	int fd = open_pinned(a->dev, "rules");

	if (fd < 0)
		return 1;
	for (i = 0; i < SMT_FAULT_MAX_RULES; i++) {
		if (bpf_map_lookup_elem(fd, &i, &r) < 0 || r.action)
			continue;
		if (bpf_map_update_elem(fd, &i, &a->rule, 0) < 0)
			break;
		close(fd);
		printf("smt-fault: rule %u added on %s\n", i, a->dev);
		return 0;
	}
	close(fd);
	fprintf(stderr,
		"smt-fault: no free rule slot on %s (max %d); run "
		"`smt-fault clear %s`\n",
		a->dev, SMT_FAULT_MAX_RULES, a->dev);
	return 1;
}

static int cmd_clear(struct args *a)
{
	struct smt_fault_rule r = {0};
	__u32 i;
	int fd = open_pinned(a->dev, "rules");

	if (fd < 0)
		return 1;
	for (i = 0; i < SMT_FAULT_MAX_RULES; i++)
		bpf_map_update_elem(fd, &i, &r, 0);
	close(fd);
	a->drop = 0;
	a->dup = 0;
	a->types_set = true;
	a->type_mask = 0;
	return cmd_set(a);
}

static int cmd_stats(struct args *a)
{
	struct smt_fault_stats st = {0};
	struct smt_fault_cfg cfg = {0};
	struct smt_udp_port_range r[SMT_UDP_PORT_RANGES];
	char ports[SMT_UDP_PORT_RANGES * 12 + 8];
	unsigned int n = 0;
	__u32 zero = 0, i;
	int fd, cfd;

	fd = open_pinned(a->dev, "stats");
	if (fd < 0)
		return 1;
	cfd = open_pinned(a->dev, "cfg");
	if (cfd < 0) {
		close(fd);
		return 1;
	}
	bpf_map_lookup_elem(fd, &zero, &st);
	bpf_map_lookup_elem(cfd, &zero, &cfg);
	close(fd);
	close(cfd);
	/* An injector pinned by an older build has no ports map: none. */
	pin_path(ports, sizeof(ports), a->dev, "udp_ports");
	fd = bpf_obj_get(ports);
	for (i = 0; fd >= 0 && i < SMT_UDP_PORT_RANGES; i++) {
		if (bpf_map_lookup_elem(fd, &i, &r[n]) < 0 || !r[n].lo)
			break;
		n++;
	}
	if (fd >= 0)
		close(fd);
	smt_bpf_udp_ports_format(r, n, ports, sizeof(ports));
	if (a->json) {
		json_object *o = json_object_new_object();

		/* json-c escapes the device name (any bytes an interface has) */
		json_object_object_add(o, "dev",
				       json_object_new_string(a->dev));
		json_object_object_add(
			o, "drop_pct",
			json_object_new_double(cfg.drop_ppm / 10000.0));
		json_object_object_add(
			o, "dup_pct",
			json_object_new_double(cfg.dup_ppm / 10000.0));
		json_object_object_add(o, "udp_ports",
				       json_object_new_string(ports));
#define FAULT_JSON_U64(f) \
	json_object_object_add(o, #f, json_object_new_uint64(st.f))
		FAULT_JSON_U64(seen);
		FAULT_JSON_U64(passed);
		FAULT_JSON_U64(dropped_random);
		FAULT_JSON_U64(duplicated_random);
		FAULT_JSON_U64(dropped_rule);
		FAULT_JSON_U64(duplicated_rule);
		FAULT_JSON_U64(dup_failed);
		FAULT_JSON_U64(dup_unsupported);
#undef FAULT_JSON_U64
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return 0;
	}
	printf("%s: drop %.4g%% dup %.4g%% udp ports %s\n"
	       "  seen %llu passed %llu\n"
	       "  dropped random %llu rule %llu\n"
	       "  duplicated random %llu rule %llu (failed %llu, "
	       "unsupported under xdp %llu)\n",
	       a->dev, cfg.drop_ppm / 10000.0, cfg.dup_ppm / 10000.0, ports,
	       st.seen, st.passed, st.dropped_random, st.dropped_rule,
	       st.duplicated_random, st.duplicated_rule, st.dup_failed,
	       st.dup_unsupported);
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	const struct tool_opt opts[] = {
		OPT_STR("netns", 'n', &a->netns),
		OPT_FLAG("json", 'j', &a->json),
		OPT_SET("tc", 'T', &a->mode, MODE_TC_INGRESS),
		OPT_SET("tc-egress", 'E', &a->mode, MODE_TC_EGRESS),
		OPT_SET("xdp", 'X', &a->mode, MODE_XDP),
		OPT_FN("ipproto", 'p', &a->ipproto, opt_ipproto),
		OPT_FN("drop", 'd', &a->drop, opt_pct),
		OPT_FN("dup", 'u', &a->dup, opt_pct),
		OPT_FN("types", 't', &a->type_mask, opt_types,
		       .seen = &a->types_set),
		OPT_STR("udp-ports", 'U', &a->udp_ports),
		OPT_FN("type", 'y', &a->rule.type, opt_type),
		OPT_STRTOU("msg-id", 'm', &a->rule.msg_id),
		OPT_STRTOU("pkt-off", 'o', &a->rule.pkt_off),
		OPT_STRTOU("nth", 'N', &a->rule.nth),
		OPT_STRTOU("count", 'c', &a->rule.count),
		OPT_HELP("help", 'h'),
	};
	char err[TOOL_OPTS_ERR_LEN];
	int ret;

	ret = tool_opts_parse(argc, argv, "+n:jh", opts, TOOL_OPTS_N(opts), err,
			      sizeof(err));
	if (ret == TOOL_OPTS_HELP) {
		usage(stdout);
		exit(0);
	}
	return ret ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct args a = {.ipproto = -1, .drop = -1, .dup = -1};
	const char *cmd = NULL;
	int ifindex, argi;

	if (util_version_arg(argc, argv, "smt-fault"))
		return 0;
	a.rule.pkt_off = SMT_FAULT_ANY_OFF;
	/* global options, then COMMAND DEV, then command options */
	if (parse_args(argc, argv, &a) < 0 || optind + 2 > argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	a.dev = argv[optind + 1];
	argi = optind + 2;
	if (!strcmp(cmd, "rule")) {
		if (argi >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[argi], "drop"))
			a.rule.action = SMT_FAULT_DROP;
		else if (!strcmp(argv[argi], "dup"))
			a.rule.action = SMT_FAULT_DUP;
		else {
			fprintf(stderr,
				"smt-fault: rule action must be drop "
				"or dup, not '%s'\n",
				argv[argi]);
			return 2;
		}
		argi++;
	}
	optind = 1;
	if (parse_args(argc - argi + 1, argv + argi - 1, &a) < 0 ||
	    optind != argc - argi + 1) {
		usage(stderr);
		return 2;
	}
	if (a.udp_ports) {
		struct smt_udp_port_range r[128];
		unsigned int n = 0;

		if (smt_bpf_udp_ports_parse(a.udp_ports, r, 128, &n)) {
			fprintf(stderr,
				"smt-fault: --udp-ports '%s' is not a list of "
				"ports and ranges like 7000-7999,49152-65535 "
				"(or none)\n",
				a.udp_ports);
			return 2;
		}
	}
	if (a.netns && enter_netns(a.netns) < 0)
		return 1;
	if (ensure_bpffs() < 0)
		return 1;
	libbpf_set_print(NULL);
	ifindex = if_nametoindex(a.dev);
	if (!ifindex) {
		fprintf(stderr, "smt-fault: no interface %s%s%s\n", a.dev,
			a.netns ? " in netns " : "", a.netns ? a.netns : "");
		return 1;
	}
	if (!strcmp(cmd, "attach"))
		return cmd_attach(&a, ifindex);
	if (!strcmp(cmd, "detach"))
		return cmd_detach(&a, ifindex);
	if (!strcmp(cmd, "set"))
		return cmd_set(&a);
	if (!strcmp(cmd, "rule"))
		return cmd_rule(&a);
	if (!strcmp(cmd, "clear"))
		return cmd_clear(&a);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(&a);
	fprintf(stderr, "smt-fault: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}

/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smt_bpf: the small libbpf-based library that smtd and smtctl use to run the
 * SMT BPF programs: mount bpffs, load the programs through their generated
 * skeletons with maps pinned under SMT_PIN_MAPS (reused when already pinned,
 * so counters and sessions survive restarts), attach XDP (native first,
 * generic as a fallback, and say so) and TC clsact egress, detach, edit the
 * `sessions` map, read counters, walk messages, consume ring-buffer events
 * and configure the middlebox, and set the UDP port ranges on which the
 * programs recognise SMT over UDP. Functions return 0 or -errno and never print;
 * where a caller should tell the operator something (a fallback), they fill
 * a message buffer. The environment variable SMT_BPF_PIN_DIR moves the pin
 * root (default SMT_PIN_DIR; maps under ROOT/maps), for tests.
 */
#ifndef SMT_BPF_H
#define SMT_BPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <smt/drop.h>
#include <smt/maps.h>

#define SMT_BPF_MSG_LEN 256

enum smt_bpf_xdp_mode {
	SMT_BPF_XDP_AUTO = 0, /* native, then generic with a message */
	SMT_BPF_XDP_NATIVE,
	SMT_BPF_XDP_GENERIC,
};

/* Mount bpffs at /sys/fs/bpf when missing and create the smt pin dirs. */
int smt_bpf_mount(void);

/* Options of smt_bpf_host_attach(). */
struct smt_bpf_host_opts {
	const char *ifname;
	enum smt_bpf_xdp_mode mode;
	uint8_t ipproto; /* 0: the build default */
	bool no_filter; /* accept packets of unknown sessions */
	uint32_t steer; /* SMT_STEER_* */
	uint32_t n_cpus; /* SMT_STEER_CPUMAP: CPUs 0..n-1; 0: all online */
	bool no_tc; /* skip the TC egress program */
	/* smtd's handshake TCP port: with the filter on, DATA of no session
	 * from an address that just sent TCP to it passes (`pending`,
	 * docs/bpf.md); 0: none */
	uint16_t hs_port;
	/* `udp_ports` to write (at most SMT_UDP_PORT_RANGES, see
	 * smt_bpf_udp_ports_fit); NULL: keep what the map holds */
	const struct smt_udp_port_range *udp_ports;
	unsigned int n_udp_ports;
};

/*
 * Load smt_xdp (and smt_tc) with pinned maps, attach them to o->ifname and
 * pin the programs under SMT_PIN_DIR/smt_xdp and SMT_PIN_DIR/smt_tc. On a
 * generic fallback msg says so. Writes the runtime config (xdp_config,
 * cpu_map) from o.
 */
int smt_bpf_host_attach(const struct smt_bpf_host_opts *o, char *msg,
			size_t msg_len);

/*
 * Load mtp_inspect (pinned maps) and attach it to ifname. Call it once per
 * ingress interface of the box: every instance shares the pinned maps.
 */
int smt_bpf_mb_attach(const char *ifname, enum smt_bpf_xdp_mode mode,
		      uint8_t ipproto, char *msg, size_t msg_len);

/*
 * Detach every SMT XDP program and the smt_tc egress filter from ifname.
 * Pinned maps stay. Returns 0 when something was detached or nothing was
 * attached.
 */
int smt_bpf_detach(const char *ifname);

/* Remove the program pins (not the maps) of name ("smt_xdp", ...). */
int smt_bpf_unpin_prog(const char *name);

/* One attached program, for `prog show`. */
struct smt_bpf_attached {
	char ifname[32];
	int ifindex;
	char kind[16]; /* "xdp", "xdpgeneric", "xdpdrv", "tc-egress" */
	uint32_t prog_id;
	char prog_name[32];
};

/* List SMT programs attached to any interface; returns the count or -errno. */
int smt_bpf_list_attached(struct smt_bpf_attached *out, int max);

/*
 * A map fd by name: the pin under SMT_PIN_MAPS, else the newest loaded map
 * of that name (programs loaded by ip or tc have unpinned maps).
 */
int smt_bpf_map_fd(const char *name);

/* Sessions. */
int smt_bpf_session_add(const struct smt_session_key *k,
			const struct smt_session_val *v);
int smt_bpf_session_del(const struct smt_session_key *k);

/* Sum a per-CPU u64 array map into out[0..n-1]; per_cpu (optional) gets
 * the per-CPU values of each slot, ncpu columns, row-major. */
int smt_bpf_read_counters(const char *map, uint64_t *out, unsigned int n,
			  uint64_t *per_cpu, unsigned int *ncpu);

typedef int (*smt_bpf_sess_cb)(const struct smt_session_key *k,
			       const struct smt_sess_stats *sum, void *ctx);
/* Walk a per-CPU session stats map (sess_stats / tx_sess_stats), summed. */
int smt_bpf_walk_sess_stats(const char *map, smt_bpf_sess_cb cb, void *ctx);
/* One key's value of such a map, summed over the CPUs; -ENOENT when the
 * map has no entry for k (sum is zeroed then). */
int smt_bpf_sess_stats_get(const char *map, const struct smt_session_key *k,
			   struct smt_sess_stats *sum);

typedef int (*smt_bpf_msg_cb)(const struct smt_msg_key *k,
			      const struct smt_msg_state *m, void *ctx);
/* Walk `messages` or `tx_messages`. */
int smt_bpf_walk_messages(const char *map, smt_bpf_msg_cb cb, void *ctx);

typedef int (*smt_bpf_event_cb)(const struct smt_msg_event *ev, void *ctx);
/*
 * Remove open messages of `messages` whose last packet is older than
 * max_age_ns and report each as an SMT_EV_EVICTED event through cb (LRU
 * eviction is silent, so this sweep is how incomplete messages get
 * reported). Returns the number removed or -errno.
 */
int smt_bpf_sweep_messages(uint64_t max_age_ns, smt_bpf_event_cb cb, void *ctx);

/*
 * Consume a ring buffer map ("events", "mtp_events") until *stop is set,
 * timeout_ms passes (-1: no timeout) or cb returns nonzero.
 */
int smt_bpf_watch(const char *map, smt_bpf_event_cb cb, void *ctx,
		  int timeout_ms, volatile bool *stop);

/* Middlebox configuration: the config entry and the devmap slots. */
int smt_bpf_mb_configure(const struct smt_mtp_config *cfg);

/*
 * UDP port ranges (protocol.md 1.1): the hosts' `udp_ports` map
 * (SMT_MAP_UDP_PORTS, shared by smt_xdp and smt_tc) and the middlebox's
 * own SMT_MAP_MTP_UDP_PORTS. smtd's default besides its service ports is
 * SMT_BPF_UDP_PORTS_DEFAULT, libsmt's ephemeral ports.
 */
#define SMT_MAP_MTP_UDP_PORTS "mtp_udp_ports"
#define SMT_BPF_UDP_PORTS_DEFAULT "49152-65535"

/*
 * Append the ranges of s ("7000-7999,8443,49152-65535"; "none" or "" for
 * none) to r[*n..max-1]. Ports are 1..65535, lo <= hi. 0, -EINVAL for a
 * bad list or -E2BIG when more than max ranges in all.
 */
int smt_bpf_udp_ports_parse(const char *s, struct smt_udp_port_range *r,
			    unsigned int max, unsigned int *n);

/*
 * Sort r[0..*n-1], merge overlapping and adjacent ranges, and, while more
 * than SMT_UDP_PORT_RANGES remain, join the two closest (the ports between
 * them are then recognised too). Returns how many ports were added by
 * joining (0: the ranges are exact).
 */
unsigned int smt_bpf_udp_ports_fit(struct smt_udp_port_range *r,
				   unsigned int *n);

/* "lo-hi,port,..." of r[0..n-1], or "none". */
void smt_bpf_udp_ports_format(const struct smt_udp_port_range *r,
			      unsigned int n, char *buf, size_t len);

/*
 * Write n (<= SMT_UDP_PORT_RANGES) ranges into map (SMT_MAP_UDP_PORTS or
 * SMT_MAP_MTP_UDP_PORTS) and clear the other entries; read them back.
 */
int smt_bpf_udp_ports_set(const char *map, const struct smt_udp_port_range *r,
			  unsigned int n);
int smt_bpf_udp_ports_get(const char *map, struct smt_udp_port_range *r,
			  unsigned int *n);

/* Names of counter slots. */
const char *smt_bpf_stat_name(unsigned int idx);

#endif /* SMT_BPF_H */

/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Deterministic network simulator for the protocol engine: several hosts,
 * each an smt_engine with a session to every other host, joined by a
 * switch whose egress ports have strict priority queues, a bandwidth limit,
 * a queue limit, propagation delay with jitter, and seeded loss,
 * duplication and reordering. Time is virtual; every random choice comes
 * from the seed, so a failing seed replays exactly.
 *
 * A workload of RPCs and oneway messages runs on top: every delivered
 * request, oneway message and response is checked byte for byte and for
 * being delivered at most once; sim_check() then checks that every RPC
 * ended (response or failure event) and that the engines hold nothing.
 */
#ifndef SMT_SIM_H
#define SMT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "engine.h"

#define SIM_MAX_HOSTS 8

struct sim;

struct sim_link {
	double loss, dup, reorder; /* per packet probabilities */
	uint64_t delay_ns, jitter_ns, reorder_ns;
	double gbps; /* egress bandwidth; 0 = infinite */
	uint64_t qlimit; /* egress queue bytes; 0 = unlimited */
};

/* Return true to drop the packet (it is still counted as sent). */
typedef bool (*sim_tap_fn)(struct sim *sim, void *arg, int src, int dst,
			   const uint8_t *pkt, size_t len);

struct sim_cfg {
	uint64_t seed;
	int nhosts; /* 2..SIM_MAX_HOSTS */
	bool ipv6;
	enum smt_cipher cipher; /* 0 = AES-128-GCM */
	struct sim_link link;
	struct smt_engine_cfg eng;
	struct smt_limits limits; /* zero = defaults */
	uint32_t max_payload; /* 0 = engine default */
	uint64_t time_limit_ns; /* 0 = 20 s virtual */
	uint64_t service_max_ns; /* server think time, uniform 0..max */
	/*
	 * Host CPU, 0 = free: every packet a host takes in costs cpu_pkt_ns
	 * plus cpu_byte_ps per byte, and sending or replying costs
	 * cpu_byte_ps per message byte (encryption). While busy, a host
	 * leaves its packets queued and its timers and application calls
	 * waiting, like a real event loop that reads its socket between
	 * engine calls.
	 */
	uint64_t cpu_pkt_ns, cpu_byte_ps;
	sim_tap_fn tap;
	void *tap_arg;
	/* The scenario fails when it sends more packets or the process's
	 * resident memory grows past these (0 = SIM_MAX_PKTS_DEFAULT,
	 * SIM_MAX_RSS_DEFAULT of sim_props.h). */
	uint64_t max_pkts, max_rss;
};

enum sim_rpc_state {
	SIM_RPC_WAIT = 0, /* not issued yet */
	SIM_RPC_PENDING,
	SIM_RPC_DONE,
	SIM_RPC_FAILED,
};

struct sim_rpc {
	uint64_t start_ns, done_ns;
	int src, dst;
	uint32_t req_len, resp_len;
	bool oneway;
	uint64_t id; /* engine handle at src */
	enum sim_rpc_state state;
	int error;
	unsigned int req_delivered; /* at dst */
	unsigned int resp_delivered; /* at src */
	bool replied;
	bool canceled; /* the application canceled it */
	uint64_t service_ns;
};

struct sim_stats {
	uint64_t pkts, dropped_loss, dropped_queue, dropped_tap, dups;
	uint64_t delivered, failed;
};

/* NULL on bad config (errno set). */
struct sim *sim_new(const struct sim_cfg *cfg);
/* Frees the engines, packets in flight and the workload. */
void sim_free(struct sim *sim);

/* Adds an RPC (or oneway message) issued at start_ns. Returns its index. */
int sim_rpc_add(struct sim *sim, uint64_t start_ns, int src, int dst,
		uint32_t req_len, uint32_t resp_len, bool oneway);
struct sim_rpc *sim_rpc(struct sim *sim, int idx);
/* The client cancels RPC idx at time t if it is still pending then; it
 * must end with -ECANCELED (a canceled RPC counts as properly ended). */
void sim_rpc_cancel_at(struct sim *sim, int idx, uint64_t t);
int sim_rpc_count(const struct sim *sim);

/* Runs until nothing is left to do (no packets, timers or workload) or
 * until the time limit. Returns 0 when quiescent, -1 on a property
 * violation or the time limit (see sim_error). */
int sim_run(struct sim *sim);
/* Runs until virtual time t (or quiescence). 0, or -1 on a violation. */
int sim_run_until(struct sim *sim, uint64_t t);

/*
 * After sim_run: every RPC ended, nothing delivered twice (checked on the
 * way), no failure unless allow_fail, each acknowledged oneway delivered
 * once, and every engine holds no message, byte or event. 0 or -1.
 */
int sim_check(struct sim *sim, bool allow_fail);
const char *sim_error(const struct sim *sim);

/* Accessors for targeted tests. */
uint64_t sim_now(const struct sim *sim);
struct smt_engine *sim_engine(struct sim *sim, int host);
uint32_t sim_session(const struct sim *sim, int host, int peer);
const struct sockaddr_storage *sim_addr(const struct sim *sim, int host);
/* The keys of the pair (host, peer) and whether host is the TLS client. */
const struct smt_keys *sim_keys(const struct sim *sim, int host, int peer,
				bool *tls_client);
uint16_t sim_port(const struct sim *sim, int host);
const struct sim_stats *sim_stats(const struct sim *sim);
/* Injects SMT bytes as if src sent them to dst, arriving after delay_ns. */
void sim_inject(struct sim *sim, int src, int dst, const uint8_t *pkt,
		size_t len, uint64_t delay_ns);
/* Deterministic random numbers of the simulation. */
uint64_t sim_rand(struct sim *sim);
double sim_unit(struct sim *sim);

/* The expected bytes of RPC idx (dir 0 request, 1 response). */
void sim_payload(int idx, int dir, uint8_t *buf, uint32_t len);

#endif /* SMT_SIM_H */

/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libsmt: the public API of SMT (Secure Message Transport).
 *
 * An application opens an endpoint (one local SMT port on one backend), adds
 * sessions to it (the keys of a TLS 1.3 handshake done by smtd, or given
 * directly in test mode), and then sends requests and oneway messages,
 * receives requests, responses and failures, and replies. Every message is
 * independent: a lost packet or a large transfer never holds back another
 * message. The API is message based and non-blocking: smt_fd() is a file
 * descriptor to poll for POLLIN; when it is readable (or whenever the caller
 * likes) smt_process() reads packets and runs timers, then smt_recv() hands
 * out what arrived.
 *
 * Threading model: an endpoint is NOT thread-safe. All calls on one endpoint
 * (and on the messages it hands out) must come from one thread at a time, as
 * with a socket shared without locks; use one endpoint per thread for
 * parallelism. Different endpoints may be used concurrently from different
 * threads: the raw sockets they share inside a process are locked
 * internally. Time is CLOCK_MONOTONIC, read by the library.
 *
 * Errors: functions return 0 (or a non-negative value where said) on success
 * and a negative code on failure: -errno (-EINVAL, -ENOMEM, -EAGAIN, ...)
 * or -SMT_E* below. smt_strerror() names both kinds.
 */
#ifndef LIBSMT_H
#define LIBSMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ----------------------------------------------------------- */

/* SMT-specific error codes, returned negated; above every errno value. */
enum smt_error {
	SMT_E_BASE = 4096,
	SMT_E_NOCAP = 4097, /* raw IP sockets need CAP_NET_RAW */
	SMT_E_NOSESSION = 4098, /* no such session on this endpoint */
	SMT_E_TOOBIG = 4099, /* message larger than the session's M */
	SMT_E_LIMIT = 4100, /* a configured limit (sessions, ...) is full */
	SMT_E_RPC_TIMEOUT = 4101, /* the peer stayed silent: RPC failed */
	SMT_E_CANCELED = 4102, /* the RPC was canceled by smt_cancel() */
	SMT_E_NORPC = 4103, /* no such outstanding RPC / request to reply */
	SMT_E_PORT_IN_USE = 4104, /* another endpoint holds this SMT port */
	SMT_E_BACKEND = 4105, /* backend not available in this build */
	SMT_E_SESSION_GONE = 4106, /* the session was removed */
	SMT_E_NOSMTD = 4107, /* cannot reach smtd's control socket */
	SMT_E_REFUSED = 4108, /* smtd or the peer refused the session */
	SMT_E_UNREACHABLE = 4109, /* RPC timed out and ICMP reported the
				     peer's port or host unreachable */
	SMT_E_MAX
};

/* Description of err (a negative errno or -SMT_E_*); never NULL. */
/* The version of this libsmt build, e.g. "0.3.0" (the same as libsmt.pc's). */
const char *smt_version(void);

const char *smt_strerror(int err);

/* ---- endpoints -------------------------------------------------------- */

struct smt_endpoint;

enum smt_backend {
	SMT_BACKEND_DEFAULT = 0, /* the one the encapsulation needs */
	SMT_BACKEND_RAW = 1, /* raw IPv4/IPv6 sockets, needs CAP_NET_RAW */
	SMT_BACKEND_UDP = 2, /* UDP sockets (encap udp), no capability */
};

/*
 * How the endpoint's packets travel (docs/protocol.md section 1.1): natively
 * on IP with protocol number ipproto (raw sockets, CAP_NET_RAW), or over UDP
 * with the UDP ports as the SMT ports (no capability). Every session of an
 * endpoint uses the endpoint's encapsulation; smtd agrees it with the peer.
 */
enum smt_encap {
	SMT_ENCAP_DEFAULT = 0, /* $SMT_ENCAP ("ip" or "udp"), else ip */
	SMT_ENCAP_IP = 1,
	SMT_ENCAP_UDP = 2,
};

/*
 * Endpoint options. Zero means "default" for every field, so
 * `struct smt_endpoint_opts o = { .sz = sizeof(o) };` is a valid start.
 * sz must be sizeof(struct smt_endpoint_opts) as the caller compiled it:
 * fields are only ever appended, and the library reads only the first sz
 * bytes, so old binaries keep working with newer libraries.
 */
struct smt_endpoint_opts {
	size_t sz;
	uint16_t port; /* local SMT port; 0 = pick an ephemeral one */
	uint8_t ipproto; /* IP protocol number; 0 = $SMT_IPPROTO or 253 */
	uint8_t priority; /* 0..7: SO_PRIORITY and IP TOS class */
	enum smt_backend backend;
	uint32_t mtu; /* path MTU for packet sizing; 0 = 1500 */
	uint32_t rec_size; /* record content bytes 4096..16384; 0 = 16384 */
	uint32_t unsched_bytes; /* sent before any GRANT; 0 = 75776 (a
				   64 KiB message whole) */
	uint32_t max_granted; /* granted-not-received bytes; 0 = 240000
				 (encap udp: 320000) */
	uint32_t resend_timeout_us; /* no progress -> RESEND; 0 = 2000 */
	uint32_t rpc_timeouts; /* silent RESEND timeouts before an RPC
				  fails; 0 = 50 (about 100 ms) */
	uint32_t rpc_timeout_ms; /* hard bound on an RPC's life; 0 = none */
	uint32_t max_tx_msgs; /* messages sending or awaiting ACK; 0 = 8192 */
	uint32_t max_rx_msgs; /* messages in reassembly or queued; 0 = 8192 */
	uint64_t max_tx_bytes; /* wire bytes of those; 0 = 256 MiB */
	uint64_t max_rx_bytes; /* 0 = 256 MiB */
	uint32_t max_sessions; /* 0 = 1024 */
	uint32_t rcvbuf; /* socket buffer bytes; 0 = 8 MiB */
	bool prio_tos; /* mark each packet's IP TOS / IPv6 traffic class
			  with its SMT priority (prio << 5) */
	uint32_t busy_poll_us; /* while a message is arriving, smt_process
				  polls its sockets this long for the next
				  packet before it returns to let the caller
				  sleep (as Homa does); 0 = never */
	bool xsk_tx; /* send IPv4 packets through an AF_XDP socket (copy
			mode, queue 0 of the route's interface) with headers
			libsmt writes; per packet, the raw socket when that
			cannot be done. Bypasses netfilter OUTPUT and
			POSTROUTING and qdiscs: see docs/api.md */
	enum smt_encap encap; /* native IP or UDP, see enum smt_encap */
	bool no_udp_offload; /* encap udp: no UDP GSO/GRO (default: both
				where the kernel has them) */
	uint32_t rto_min_us; /* floor of the RESEND timeout, which follows
				the measured round trip; at most
				resend_timeout_us; 0 = 100 (or
				resend_timeout_us when smaller) */
	/* DATA packets of a session not added yet (a 0-RTT request that
	 * outran smtd's hand-over, docs/protocol.md 8.10) are held this
	 * long for it, a few per peer; 0 = 10, SMT_HOLD_OFF = dropped */
	uint32_t hold_ms;
	/* the caller keeps the endpoint's time itself: it sleeps at most
	 * until smt_next_timeout_ns() (or _ms) and then calls smt_process().
	 * With 4 or more messages in flight the endpoint's timerfd is not
	 * set (a timerfd_settime system call is 10 us or more on some VMs),
	 * so smt_fd() does not become readable for a timer; unloaded it is,
	 * and smt_next_timeout_ns() is -1 while it covers the next timer.
	 * smt_wait() keeps time too. A caller that never asked for smt_fd()
	 * (it sleeps only in smt_wait()) is treated the same way. */
	bool caller_timers;
};
#define SMT_HOLD_OFF UINT32_MAX

/* Opens an endpoint; opts may be NULL for all defaults. 0 or -err. */
int smt_endpoint_open(const struct smt_endpoint_opts *opts,
		      struct smt_endpoint **out);
/*
 * Opens n endpoints (encap udp) that share one SMT port, one per thread:
 * their UDP sockets form an SO_REUSEPORT group whose steering program
 * hands every packet of a message to one member, the member whose lane
 * (docs/protocol.md 8.8) is the message's; each member's requests and
 * control packets use its own lane. opts->port 0 picks an ephemeral port
 * for all. In test mode add each session to every member (smt_session_add()
 * from each member's thread, same parameters); smt_serve() or smt_connect()
 * on any member does it for the whole group through smtd (each member gets
 * SMT_MSG_SESSION_UP with its own handle, but the caller of smt_connect()).
 * Close each with smt_endpoint_close(). eps[0..n),
 * n at most SMT_GROUP_MAX (n == 1 is smt_endpoint_open()). 0, -EINVAL
 * (not UDP), -SMT_E_PORT_IN_USE, or -errno.
 */
#define SMT_GROUP_MAX 256
int smt_endpoint_open_group(const struct smt_endpoint_opts *opts,
			    unsigned int n, struct smt_endpoint **eps);
/* Closes it: every outstanding RPC is dropped silently, keys are wiped. */
void smt_endpoint_close(struct smt_endpoint *ep);
/* The endpoint's local SMT port (useful after asking for port 0). */
uint16_t smt_endpoint_port(const struct smt_endpoint *ep);
/* The endpoint's encapsulation, SMT_ENCAP_IP or SMT_ENCAP_UDP (resolved). */
enum smt_encap smt_endpoint_encap(const struct smt_endpoint *ep);
/* "ip" or "udp"; NULL for another value. */
const char *smt_encap_name(enum smt_encap e);
/* Parses "ip" or "udp" into *out: 0 or -EINVAL. */
int smt_encap_parse(const char *s, enum smt_encap *out);

/* ---- sessions --------------------------------------------------------- */

/* TLS 1.3 cipher suites, by their IANA code points. */
#define SMT_TLS_AES_128_GCM_SHA256 0x1301
#define SMT_TLS_AES_256_GCM_SHA384 0x1302
#define SMT_TLS_CHACHA20_POLY1305_SHA256 0x1303

#define SMT_KEY_LEN_MAX 32
#define SMT_IV_LEN_BYTES 12

/*
 * A session: the peer (address family, address and SMT port), the keys of
 * both directions for one epoch and the limits agreed at set-up
 * (docs/protocol.md sections 6 and 7). c_* keys are written by the TLS
 * client side, s_* by the server side; tls_client says which side this
 * endpoint is. Zero means default for suite (AES-128-GCM), B (48), max_msg
 * (1 MiB). Same sz convention as smt_endpoint_opts.
 */
struct smt_session_params {
	size_t sz;
	struct sockaddr_storage peer; /* sockaddr_in/in6, port = SMT port */
	uint16_t suite; /* SMT_TLS_* */
	bool tls_client;
	uint8_t epoch;
	unsigned int B; /* message-ID width 40..56 */
	uint32_t max_msg; /* M, application bytes per message */
	uint32_t max_pad; /* P, maximum padding per record (sent: 0) */
	size_t key_len; /* 16 or 32, must match the suite */
	uint8_t c_key[SMT_KEY_LEN_MAX], c_iv[SMT_IV_LEN_BYTES];
	uint8_t s_key[SMT_KEY_LEN_MAX], s_iv[SMT_IV_LEN_BYTES];
};

/*
 * Adds a session; *id receives its handle (never 0). -EEXIST when a session
 * with this peer address and port exists already, -SMT_E_LIMIT when
 * max_sessions is reached, -EINVAL for bad parameters. The library copies
 * the keys; the caller should wipe its copy (smt_session_params_wipe).
 */
int smt_session_add(struct smt_endpoint *ep, const struct smt_session_params *p,
		    uint32_t *id);
/*
 * Installs the keys of a new epoch (p->epoch, with p's suite and four
 * key/IV values; its other fields are ignored): new messages use them, the
 * previous epoch's keys stay for a drain time so that messages in flight
 * finish, then they are wiped. 0, -SMT_E_NOSESSION, -EINVAL (same epoch as
 * now, bad keys) or -ENOMEM.
 */
int smt_session_rekey(struct smt_endpoint *ep, uint32_t id,
		      const struct smt_session_params *p);
/* Removes a session: its outstanding RPCs are dropped, keys wiped. */
int smt_session_remove(struct smt_endpoint *ep, uint32_t id);
/* Wipes the key material in p (explicit_bzero). */
void smt_session_params_wipe(struct smt_session_params *p);

/*
 * Test mode: fills p from one SMT_SESSION key log line (docs/protocol.md
 * section 7). tls_client selects this endpoint's side: true takes the line's
 * server as the peer, false its client. 0 or -EINVAL; *err (if given) then
 * names the bad field.
 */
int smt_session_params_from_keylog(const char *line, bool tls_client,
				   struct smt_session_params *p,
				   const char **err);

/*
 * Session set-up through smtd (implemented in ctl_client.c, see smtd(8)).
 * smt_connect: asks the local smtd to run the TLS handshake with the smtd at
 * address (host[:port]) for service, then adds the session to ep; *id
 * receives its handle. smt_serve: registers ep with the local smtd for
 * service; sessions that clients set up are added to ep as they arrive
 * (SMT_MSG_SESSION_UP below tells the application).
 */
int smt_connect(struct smt_endpoint *ep, const char *service,
		const char *address, uint32_t *session_out);
int smt_serve(struct smt_endpoint *ep, const char *service);
/*
 * Why the last smt_connect() or smt_serve() on ep failed, in smtd's or the
 * peer's words ("the application serving x refused the session: ...",
 * "cannot resolve 'h': ..."); "" after a success. Valid until the next
 * call on ep; never NULL.
 */
const char *smt_last_error(const struct smt_endpoint *ep);

/* ---- messages --------------------------------------------------------- */

enum smt_msg_kind {
	SMT_MSG_REQUEST = 1, /* a request of the peer: answer with smt_reply */
	SMT_MSG_ONEWAY = 2, /* a request that expects no response */
	SMT_MSG_RESPONSE = 3, /* the response to one of our requests */
	SMT_MSG_FAILED = 4, /* one of our requests failed: see error */
	SMT_MSG_SESSION_UP = 5, /* a session was added by smt_serve() */
	SMT_MSG_SENT = 6, /* our oneway id was ACKed (error 0) or failed */
};

/*
 * A received message. data (len bytes) belongs to the caller after
 * smt_recv() and is released with smt_msg_release(). id is an opaque
 * message handle naming the request for REQUEST, ONEWAY, RESPONSE, FAILED
 * and SENT (its low 56 bits are the wire msg_id, its top 8 bits the key
 * epoch; a response carries msg_id + 1 on the wire, the API always names
 * the request). cookie is the value given to smt_send_request() or
 * smt_send_oneway() for RESPONSE, FAILED and SENT, else 0.
 */
struct smt_msg {
	enum smt_msg_kind kind;
	uint32_t session;
	uint64_t id;
	uint64_t cookie;
	int error; /* FAILED, SENT: -SMT_E_RPC_TIMEOUT, -SMT_E_CANCELED,
		      -SMT_E_SESSION_GONE; SENT: 0 when acknowledged */
	struct sockaddr_storage peer; /* peer address and SMT port */
	uint8_t *data;
	size_t len;
};

/*
 * Sends a request of len bytes (0..M) on session; *id (if given) receives
 * its handle. The response (or a failure) arrives through smt_recv() with
 * the same id and cookie. Returns 0, -SMT_E_NOSESSION, -SMT_E_TOOBIG,
 * -EAGAIN (a send limit is full: process events and retry) or -errno.
 * The library copies buf.
 */
int smt_send_request(struct smt_endpoint *ep, uint32_t session, const void *buf,
		     size_t len, uint64_t cookie, uint64_t *id);
/* Sends a oneway message (no response; delivered at most once). Its
 * outcome arrives as SMT_MSG_SENT with the same id and cookie. */
int smt_send_oneway(struct smt_endpoint *ep, uint32_t session, const void *buf,
		    size_t len, uint64_t cookie, uint64_t *id);
/* Replies to request id of session (from an SMT_MSG_REQUEST). */
int smt_reply(struct smt_endpoint *ep, uint32_t session, uint64_t id,
	      const void *buf, size_t len);
/* Cancels an outstanding request: it ends with SMT_MSG_FAILED and error
 * -SMT_E_CANCELED; a late response is dropped. -SMT_E_NORPC if unknown. */
int smt_cancel(struct smt_endpoint *ep, uint32_t session, uint64_t id);

/* Next received message into *msg: 0, or -EAGAIN when none is ready.
 * Call it until -EAGAIN: what is sent while more messages are ready is
 * held and leaves in one batch with the answer to the last (docs/api.md). */
int smt_recv(struct smt_endpoint *ep, struct smt_msg *msg);
/* Frees msg->data and clears msg. */
void smt_msg_release(struct smt_msg *msg);

/* Holds what is sent from now on (requests, replies, oneway messages)
 * until smt_flush(), which sends it all in one sendmmsg: for a caller
 * that sends many messages in a row. A full send batch still leaves by
 * itself; smt_process() sends what is held; while anything is held,
 * smt_next_timeout_ms() returns 0 (docs/api.md). */
void smt_hold(struct smt_endpoint *ep);
void smt_flush(struct smt_endpoint *ep);

/* ---- event loop ------------------------------------------------------- */

/* A file descriptor that becomes readable (POLLIN) when smt_process() has
 * work: packets arrived, a timer expired, a watched fd is ready, or work is
 * left over (packets to process or to send: one call does a bounded
 * amount and returns early once a message is ready). */
int smt_fd(const struct smt_endpoint *ep);
/* Reads pending packets (highest SMT priority processed first), sends
 * queued packets (smallest message first), runs due timers. Never blocks.
 * Returns the number of messages ready for smt_recv() or -err. */
int smt_process(struct smt_endpoint *ep);
/* Convenience: waits up to timeout_ms (-1 = forever) for smt_fd(), then
 * smt_process(). Returns what smt_process() returns (0 on timeout). */
int smt_wait(struct smt_endpoint *ep, int timeout_ms);
/* Milliseconds until the next timer, -1 if none (for callers that poll
 * something else than smt_fd()). */
int smt_next_timeout_ms(const struct smt_endpoint *ep);
/* The same in nanoseconds (not rounded up): 0 when a timer is due,
 * anything is held or packets wait to be processed or sent, -1 if none
 * (with caller_timers, or before smt_fd() was asked for: also while the
 * endpoint's own timerfd in smt_fd()'s set wakes the caller in time). */
int64_t smt_next_timeout_ns(const struct smt_endpoint *ep);

/* ---- counters --------------------------------------------------------- */

#define SMT_STATS_DROP_SLOTS 64 /* >= SMT_DROP_MAX of include/smt/drop.h */

/* Counters of an endpoint (session 0) or of one session. Same sz rule. */
struct smt_stats {
	size_t sz;
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
	uint64_t tx_msgs, rx_msgs; /* complete messages sent / delivered */
	uint64_t tx_retransmits; /* DATA packets sent again */
	uint64_t tx_ctl, rx_ctl; /* control packets */
	uint64_t rpcs_ok, rpcs_failed;
	uint64_t rx_no_endpoint; /* raw packets for SMT ports nobody holds */
	uint64_t tx_errors; /* packets the backend could not send */
	uint64_t drops_total;
	uint64_t drops[SMT_STATS_DROP_SLOTS]; /* by enum smt_drop_reason */
	uint64_t tx_xsk_packets; /* session 0, xsk_tx: sent by AF_XDP */
	uint64_t tx_xsk_fallback; /* session 0, xsk_tx: sent by raw socket */
	uint64_t rx_icmp_errors; /* session 0, encap udp: ICMP errors (port
				    or host unreachable) for sent packets */
	/* session 0: the backend's system calls (sendmmsg/sendmsg and
	 * recvmmsg/recvmsg; with tx_msgs and rx_msgs: calls per RPC) */
	uint64_t tx_calls, rx_calls;
	/* session 0, encap udp: GSO messages sent and the datagrams in them
	 * (their ratio: segments per GSO send), GSO refused by a device
	 * (then off), coalesced (GRO) buffers received and their datagrams;
	 * udp_gso / udp_gro are 1 while the offload is in use */
	uint64_t tx_gso_sends, tx_gso_segments, tx_gso_fallback;
	uint64_t rx_gro_bufs, rx_gro_segments;
	uint64_t udp_gso, udp_gro;
	/* session 0, a member of smt_endpoint_open_group(): datagrams it
	 * handed to the member of their lane, received from another member,
	 * and dropped because that member's queue was full (also counted
	 * as drops[no_memory]); copies of ACKs it handed to the other
	 * members whose messages they list (rx_steered_in counts them) */
	uint64_t rx_steered_out, rx_steered_in, rx_steer_drops;
	uint64_t rx_ack_copies;
	/* DATA received that brought nothing new, and of those the
	 * retransmissions (flag RETRANSMIT) whose original had arrived:
	 * spurious retransmissions of the peer */
	uint64_t rx_dup_data, rx_spurious_rtx;
	uint64_t rtt_samples; /* round trips measured */
	/* sessions only: smoothed round trip and RESEND timeout now, in
	 * microseconds (0 before the first sample) */
	uint64_t srtt_us, rto_us;
	/* session 0: requests and oneways held to leave with others sent
	 * before the next smt_process() (batching under load, docs/api.md
	 * "Event loop") */
	uint64_t tx_batched;
	/* session 0: DATA of a session not added yet held for it
	 * (opts.hold_ms), processed when it was added, dropped when it
	 * expired, not held because the bounds were reached (the last two
	 * also count in drops[unknown_session]) */
	uint64_t rx_held, rx_held_replayed, rx_held_expired, rx_held_overflow;
	/* session 0: smt_process() calls that read the sockets without
	 * asking epoll first, because packets kept coming (docs/api.md
	 * "Event loop"; a system call saved each) */
	uint64_t rx_epoll_skipped;
	/* session 0: timerfd_settime calls (the endpoint's timer set or
	 * cleared); expiries of it that epoll_wait reported, and of those
	 * the early ones: no timer was due (a wake-up for nothing). Per
	 * RPC with rpcs_ok (docs/engine.md "Timers") */
	uint64_t timer_arms, timer_wakeups, timer_early;
	/* Receipts (docs/protocol.md 4): request IDs of the peer we listed
	 * in ACKs as delivered and unanswered, receipts received for our
	 * requests, and of those the requests whose tail-loss probe time
	 * passed without the probe (saved by the receipt); RESEND 0/0 we
	 * sent asking for the response of our request (tail-loss and
	 * later probes) */
	uint64_t tx_rcpts, rx_rcpts, probes_saved, tx_probes;
};

/* 0, or -SMT_E_NOSESSION. stats->sz must be set by the caller. */
int smt_stats_get(struct smt_endpoint *ep, uint32_t session,
		  struct smt_stats *stats);
/* Name of drop reason i ("record_auth_failed"), NULL past the last one. */
const char *smt_drop_reason_name(unsigned int i);

#ifdef __cplusplus
}
#endif

#endif /* LIBSMT_H */

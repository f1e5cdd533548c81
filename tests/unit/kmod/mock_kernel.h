/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small userspace mock of the kernel interfaces the smt module's logic
 * uses, in the HomaModule way: kmod/smt_impl.h includes this file instead of
 * kernel headers when SMT_KMOD_MOCK is defined, so the unit tests compile the
 * module's own .c files. Linear sk_buffs, an AEAD backed by OpenSSL, a
 * net_device with tlsdev_ops, and counters (mock_*) that tests inspect for
 * leaks and calls. Failure injection through mock_fail_* flags. Sockets
 * (only what carries a TLS offload context: owner accounting, destructor,
 * sk_validate_xmit_skb), a work queue that runs when the test flushes it,
 * module and symbol reference counters.
 */
#ifndef SMT_MOCK_KERNEL_H
#define SMT_MOCK_KERNEL_H

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/types.h>
#include <linux/tls.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uint64_t netdev_features_t;

#define __user
#define __init
#define __exit
#define __net_init
#define __net_exit
#define IS_ENABLED(x) (x)
#ifndef SMT_MOCK_NO_TLS_DEVICE
#define CONFIG_TLS_DEVICE 1
#else
#define CONFIG_TLS_DEVICE 0
#endif

#define THIS_MODULE NULL
extern long mock_module_refs, mock_symbol_refs, mock_warns;
extern bool mock_tls_module_loaded;
static inline bool try_module_get(void *m)
{
	mock_module_refs++;
	return true;
}
static inline void module_put(void *m)
{
	mock_module_refs--;
}
/* symbol_get() of an exported symbol of a module: NULL when not loaded. */
#define symbol_get(x) \
	(mock_tls_module_loaded ? (mock_symbol_refs++, &(x)) : NULL)
#define symbol_put(x) (mock_symbol_refs--)
#define pr_warn(...) (mock_warns++)

#define cpu_to_be16(x) htobe16(x)
#define cpu_to_be32(x) htobe32(x)
#define cpu_to_be64(x) htobe64(x)
#define be16_to_cpu(x) be16toh(x)
#define be32_to_cpu(x) be32toh(x)
#define be64_to_cpu(x) be64toh(x)
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))
#define BUILD_BUG_ON(c) _Static_assert(!(c), #c)

#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) \
	((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long e)
{
	return (void *)e;
}
static inline long PTR_ERR(const void *p)
{
	return (long)p;
}
static inline bool IS_ERR(const void *p)
{
	return IS_ERR_VALUE(p);
}
static inline bool IS_ERR_OR_NULL(const void *p)
{
	return !p || IS_ERR_VALUE(p);
}

/* ---- memory ---------------------------------------------------------- */
#define GFP_KERNEL 0
extern long mock_allocs; /* live kzalloc/kmalloc/alloc_skb blocks */
extern bool mock_fail_kmalloc;
void *kmalloc(size_t n, int gfp);
void *kzalloc(size_t n, int gfp);
void kfree(const void *p);
void kfree_sensitive(const void *p);
static inline void memzero_explicit(void *p, size_t n)
{
	explicit_bzero(p, n);
}
static inline void cond_resched(void)
{
}

/* ---- lists, locks, atomics ------------------------------------------- */
struct list_head {
	struct list_head *next, *prev;
};
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
static inline void INIT_LIST_HEAD(struct list_head *h)
{
	h->next = h->prev = h;
}
static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static inline void list_del(struct list_head *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = NULL;
}
#define list_for_each_entry(pos, head, member)                         \
	for (pos = list_entry((head)->next, __typeof__(*pos), member); \
	     &pos->member != (head);                                   \
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))
#define list_for_each_entry_safe(pos, n, head, member)                  \
	for (pos = list_entry((head)->next, __typeof__(*pos), member),  \
	    n = list_entry(pos->member.next, __typeof__(*pos), member); \
	     &pos->member != (head);                                    \
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))

struct mutex {
	int held;
};
void mutex_init(struct mutex *m);
void mutex_lock(struct mutex *m);
void mutex_unlock(struct mutex *m);
void mutex_destroy(struct mutex *m);

typedef struct {
	long long counter;
} atomic64_t;
static inline void atomic64_add(long long n, atomic64_t *a)
{
	a->counter += n;
}
static inline void atomic64_inc(atomic64_t *a)
{
	a->counter++;
}
static inline long long atomic64_read(const atomic64_t *a)
{
	return a->counter;
}
static inline void atomic64_set(atomic64_t *a, long long v)
{
	a->counter = v;
}

#define rcu_assign_pointer(p, v) ((p) = (v))
#define RCU_INIT_POINTER(p, v) ((p) = (v))
#define smp_store_release(p, v) (*(p) = (v))
static inline bool test_bit(int nr, const unsigned long *addr)
{
	return *addr & (1ul << nr);
}
static inline void set_bit(int nr, unsigned long *addr)
{
	*addr |= 1ul << nr;
}
static inline void clear_bit_unlock(int nr, unsigned long *addr)
{
	*addr &= ~(1ul << nr);
}
typedef struct {
	int locked;
} spinlock_t;
static inline void spin_lock_init(spinlock_t *l)
{
	l->locked = 0;
}

/* ---- work queues: queued work runs when the test flushes ------------ */
struct work_struct {
	void (*func)(struct work_struct *w);
	struct work_struct *next;
	bool queued;
};
struct workqueue_struct {
	struct work_struct *head, **tail;
};
#define INIT_WORK(w, f)              \
	do {                         \
		(w)->func = (f);     \
		(w)->next = NULL;    \
		(w)->queued = false; \
	} while (0)
extern bool mock_fail_alloc_wq;
struct workqueue_struct *alloc_workqueue(const char *fmt, unsigned int flags,
					 int max_active, ...);
bool queue_work(struct workqueue_struct *wq, struct work_struct *w);
void flush_workqueue(struct workqueue_struct *wq);
void destroy_workqueue(struct workqueue_struct *wq);

/* ---- network namespaces ---------------------------------------------- */
struct net {
	int refs;
};
static inline struct net *get_net(struct net *n)
{
	n->refs++;
	return n;
}
static inline void put_net(struct net *n)
{
	n->refs--;
}

/* ---- crypto ---------------------------------------------------------- */
struct crypto_aead {
	char alg[40];
	u8 key[32];
	unsigned int key_len, authsize;
};
struct scatterlist {
	u8 *buf;
	unsigned int len;
};
struct aead_request {
	struct crypto_aead *tfm;
	struct scatterlist *src, *dst;
	unsigned int assoclen, cryptlen;
	const u8 *iv;
};
#define CRYPTO_TFM_REQ_MAY_BACKLOG 0x400
#define CRYPTO_TFM_REQ_MAY_SLEEP 0x200
#define DECLARE_CRYPTO_WAIT(w) int w = 0
extern long mock_tfms; /* live transforms */
extern bool mock_fail_alloc_aead, mock_fail_encrypt;
struct crypto_aead *crypto_alloc_aead(const char *alg, u32 type, u32 mask);
void crypto_free_aead(struct crypto_aead *tfm);
int crypto_aead_setauthsize(struct crypto_aead *tfm, unsigned int n);
int crypto_aead_setkey(struct crypto_aead *tfm, const u8 *key,
		       unsigned int len);
struct aead_request *aead_request_alloc(struct crypto_aead *tfm, int gfp);
void aead_request_free(struct aead_request *req);
void crypto_req_done(void *data, int err);
static inline void aead_request_set_callback(struct aead_request *r, u32 f,
					     void (*cb)(void *, int), void *d)
{
}
static inline void aead_request_set_ad(struct aead_request *r, unsigned int n)
{
	r->assoclen = n;
}
static inline void aead_request_set_crypt(struct aead_request *r,
					  struct scatterlist *src,
					  struct scatterlist *dst,
					  unsigned int n, const u8 *iv)
{
	r->src = src;
	r->dst = dst;
	r->cryptlen = n;
	r->iv = iv;
}
static inline void sg_init_one(struct scatterlist *sg, void *buf,
			       unsigned int len)
{
	sg->buf = buf;
	sg->len = len;
}
int crypto_aead_encrypt(struct aead_request *req);
static inline int crypto_wait_req(int err, int *wait)
{
	return err;
}

/* ---- sk_buff --------------------------------------------------------- */
#define MAX_HEADER 128
#define SKB_GSO_ESP (1 << 15)
struct skb_shared_info {
	unsigned short gso_size, gso_segs;
	unsigned int gso_type;
};
#define CHECKSUM_UNNECESSARY 1
struct sock;
struct sk_buff {
	struct sk_buff *next;
	u8 *head, *data;
	unsigned int len, size;
	unsigned int transport_header; /* offset from head */
	unsigned int network_header;
	struct sock *sk;
	void (*destructor)(struct sk_buff *skb);
	u8 decrypted : 1;
	u8 ip_summed;
	struct skb_shared_info shinfo;
};
#define skb_shinfo(skb) (&(skb)->shinfo)
struct sk_buff *alloc_skb(unsigned int size, int gfp);
void kfree_skb(struct sk_buff *skb);
void kfree_skb_list(struct sk_buff *skb);
static inline void consume_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}
#define skb_list_walk_safe(first, skb, next_skb)                              \
	for ((skb) = (first), (next_skb) = (skb) ? (skb)->next : NULL; (skb); \
	     (skb) = (next_skb), (next_skb) = (skb) ? (skb)->next : NULL)
static inline void skb_mark_not_on_list(struct sk_buff *skb)
{
	skb->next = NULL;
}
void skb_reserve(struct sk_buff *skb, unsigned int n);
void *skb_put(struct sk_buff *skb, unsigned int n);
void *skb_push(struct sk_buff *skb, unsigned int n);
static inline void *__skb_push(struct sk_buff *skb, unsigned int n)
{
	return skb_push(skb, n);
}
void *__skb_pull(struct sk_buff *skb, unsigned int n);
static inline bool pskb_may_pull(struct sk_buff *skb, unsigned int n)
{
	return skb->len >= n;
}
static inline void skb_reset_network_header(struct sk_buff *skb)
{
	skb->network_header = (unsigned int)(skb->data - skb->head);
}
static inline void skb_reset_transport_header(struct sk_buff *skb)
{
	skb->transport_header = (unsigned int)(skb->data - skb->head);
}
static inline u8 *skb_transport_header(const struct sk_buff *skb)
{
	return skb->head + skb->transport_header;
}
static inline bool skb_is_gso(const struct sk_buff *skb)
{
	return skb->shinfo.gso_size != 0;
}
/* Linear segmentation: headers from the transport header to data are
 * copied in front of each gso_size piece of the payload. */
extern bool mock_fail_segment;
struct sk_buff *skb_segment(struct sk_buff *skb, netdev_features_t features);

/* ---- devices, sockets and kTLS offload ------------------------------- */
#define NETIF_F_HW_TLS_TX (1ull << 40)
#define NETIF_F_GSO_ESP (1ull << 31)
enum tls_offload_ctx_dir {
	TLS_OFFLOAD_CTX_DIR_RX,
	TLS_OFFLOAD_CTX_DIR_TX,
};
enum { TLS_BASE, TLS_SW, TLS_HW, TLS_HW_RECORD };
enum { TLS_RX_DEV_DEGRADED, TLS_TX_SYNC_SCHED };
struct net_device;
struct tls_prot_info {
	u16 version, cipher_type, prepend_size, tag_size, overhead_size;
	u16 iv_size, salt_size, rec_seq_size, aad_size, tail_size;
};
union tls_crypto_context {
	struct tls_crypto_info info;
	union {
		struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
		struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
		struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
	};
};
/* The fields of include/net/tls.h's tls_context that drivers use. */
struct tls_context {
	struct tls_prot_info prot_info;
	u8 tx_conf : 3;
	void *priv_ctx_tx;
	struct net_device *netdev;
	unsigned long flags;
	struct sock *sk;
	union tls_crypto_context crypto_send;
};
struct tls_offload_context_tx {
	spinlock_t lock;
	struct list_head records_list;
	void *retransmit_hint;
	struct tls_context *ctx;
	u8 driver_state[] __attribute__((aligned(8)));
};
#define TLS_DRIVER_STATE_SIZE_TX 16
#define TLS_OFFLOAD_CONTEXT_SIZE_TX \
	(sizeof(struct tls_offload_context_tx) + TLS_DRIVER_STATE_SIZE_TX)
static inline struct tls_offload_context_tx *
tls_offload_ctx_tx(const struct tls_context *c)
{
	return c->priv_ctx_tx;
}

/* A socket: inet_csk(sk) is the sock itself here. sk_wmem_alloc starts at
 * 1 for the socket's own reference, as in the kernel; the sock is freed
 * (sk_destruct called) when it drops to 0. */
struct sock {
	void *icsk_ulp_data;
	void (*sk_destruct)(struct sock *sk);
	struct sk_buff *(*sk_validate_xmit_skb)(struct sock *sk,
						struct net_device *dev,
						struct sk_buff *skb);
	long sk_wmem_alloc;
	struct net *net;
	int family;
};
struct socket {
	struct sock *sk;
};
#define inet_csk(sk) (sk)
extern long mock_socks; /* live struct sock */
extern bool mock_fail_sock_create;
int sock_create_kern(struct net *net, int family, int type, int proto,
		     struct socket **res);
void sock_release(struct socket *sock);
void skb_set_owner_w(struct sk_buff *skb, struct sock *sk);

struct tlsdev_ops {
	int (*tls_dev_add)(struct net_device *netdev, struct sock *sk,
			   enum tls_offload_ctx_dir direction,
			   struct tls_crypto_info *crypto_info,
			   u32 start_offload_tcp_sn);
	void (*tls_dev_del)(struct net_device *netdev, struct tls_context *ctx,
			    enum tls_offload_ctx_dir direction);
	int (*tls_dev_resync)(struct net_device *netdev, struct sock *sk,
			      u32 seq, u8 *rcd_sn,
			      enum tls_offload_ctx_dir direction);
};
struct net_device {
	char name[16];
	netdev_features_t features;
	const struct tlsdev_ops *tlsdev_ops;
	int refcnt;
};
static inline void dev_hold(struct net_device *d)
{
	d->refcnt++;
}
static inline void dev_put(struct net_device *d)
{
	d->refcnt--;
}
static inline struct tls_context *tls_get_ctx(const struct sock *sk)
{
	return sk->icsk_ulp_data;
}
/* kTLS's: pass to the context's device; elsewhere its software fallback,
 * which drops a packet whose record it does not know (ours: no records). */
extern long mock_tls_fallback_drops;
struct sk_buff *tls_validate_xmit_skb(struct sock *sk, struct net_device *dev,
				      struct sk_buff *skb);

/* ---- IP routes: only what smt_route holds ----------------------------- */
struct dst_entry {
	struct net_device *dev;
};
struct flowi4 {
	u32 saddr, daddr;
};
struct flowi6 {
	struct in6_addr saddr, daddr;
};

#endif /* SMT_MOCK_KERNEL_H */

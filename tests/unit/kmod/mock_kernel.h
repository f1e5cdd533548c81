/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small userspace mock of the kernel interfaces the smt module's logic
 * uses, in the HomaModule way: kmod/smt_impl.h includes this file instead of
 * kernel headers when SMT_KMOD_MOCK is defined, so the unit tests compile the
 * module's own .c files. Linear sk_buffs, an AEAD backed by OpenSSL, a
 * net_device with tlsdev_ops, and counters (mock_*) that tests inspect for
 * leaks and calls. Failure injection through mock_fail_* flags.
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
#define CONFIG_TLS_DEVICE 1

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
struct sk_buff {
	struct sk_buff *next;
	u8 *head, *data;
	unsigned int len, size;
	unsigned int transport_header; /* offset from head */
	struct skb_shared_info shinfo;
};
#define skb_shinfo(skb) (&(skb)->shinfo)
struct sk_buff *alloc_skb(unsigned int size, int gfp);
void kfree_skb(struct sk_buff *skb);
void kfree_skb_list(struct sk_buff *skb);
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

/* ---- devices and kTLS offload ---------------------------------------- */
#define NETIF_F_HW_TLS_TX (1ull << 40)
#define NETIF_F_GSO_ESP (1ull << 31)
enum tls_offload_ctx_dir {
	TLS_OFFLOAD_CTX_DIR_RX,
	TLS_OFFLOAD_CTX_DIR_TX,
};
struct net_device;
struct tls_context {
	int dummy;
};
struct sock {
	struct tls_context *ulp;
};
struct tlsdev_ops {
	int (*tls_dev_add)(struct net_device *netdev, struct sock *sk,
			   enum tls_offload_ctx_dir direction,
			   struct tls_crypto_info *crypto_info,
			   u32 start_offload_tcp_sn);
	void (*tls_dev_del)(struct net_device *netdev, struct tls_context *ctx,
			    enum tls_offload_ctx_dir direction);
};
struct net_device {
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
	return sk->ulp;
}

#endif /* SMT_MOCK_KERNEL_H */

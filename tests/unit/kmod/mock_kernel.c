// SPDX-License-Identifier: GPL-2.0-only
/*
 * Implementation of the userspace kernel mock (mock_kernel.h): allocation
 * counters for leak checks, mutexes that assert balanced use, an AEAD that
 * does what the kernel's "gcm(aes)" and "rfc7539(chacha20,poly1305)" do
 * (in-place, AAD first, tag appended) through OpenSSL, linear sk_buffs
 * with a skb_segment() that copies headers in front of each piece, sockets
 * that live while they own packets, a work queue run by flushing, and
 * kTLS's tls_validate_xmit_skb() as it treats a context without records.
 */
#include <assert.h>
#include <openssl/evp.h>

#include "mock_kernel.h"

long mock_allocs;
long mock_tfms;
bool mock_fail_kmalloc, mock_fail_alloc_aead, mock_fail_encrypt;
bool mock_fail_segment;
long mock_module_refs, mock_symbol_refs, mock_warns;
bool mock_tls_module_loaded = true;
long mock_socks;
bool mock_fail_sock_create, mock_fail_alloc_wq;
long mock_tls_fallback_drops;

void *kmalloc(size_t n, int gfp)
{
	void *p;

	if (mock_fail_kmalloc)
		return NULL;
	p = malloc(n);
	if (p)
		mock_allocs++;
	return p;
}

void *kzalloc(size_t n, int gfp)
{
	void *p = kmalloc(n, gfp);

	if (p)
		memset(p, 0, n);
	return p;
}

void kfree(const void *p)
{
	if (!p)
		return;
	mock_allocs--;
	free((void *)p);
}

/* The kernel's kfree_sensitive wipes the whole allocation; the mock does
 * not know the size, so callers' own memzero_explicit is what tests see. */
void kfree_sensitive(const void *p)
{
	kfree(p);
}

void mutex_init(struct mutex *m)
{
	m->held = 0;
}

void mutex_lock(struct mutex *m)
{
	assert(!m->held);
	m->held = 1;
}

void mutex_unlock(struct mutex *m)
{
	assert(m->held);
	m->held = 0;
}

void mutex_destroy(struct mutex *m)
{
	assert(!m->held);
}

struct crypto_aead *crypto_alloc_aead(const char *alg, u32 type, u32 mask)
{
	struct crypto_aead *t;

	if (mock_fail_alloc_aead)
		return ERR_PTR(-ENOENT);
	if (strcmp(alg, "gcm(aes)") &&
	    strcmp(alg, "rfc7539(chacha20,poly1305)"))
		return ERR_PTR(-ENOENT);
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return ERR_PTR(-ENOMEM);
	snprintf(t->alg, sizeof(t->alg), "%s", alg);
	mock_tfms++;
	return t;
}

void crypto_free_aead(struct crypto_aead *tfm)
{
	explicit_bzero(tfm->key, sizeof(tfm->key));
	mock_tfms--;
	kfree(tfm);
}

int crypto_aead_setauthsize(struct crypto_aead *tfm, unsigned int n)
{
	if (n != 16)
		return -EINVAL;
	tfm->authsize = n;
	return 0;
}

int crypto_aead_setkey(struct crypto_aead *tfm, const u8 *key, unsigned int len)
{
	bool chacha = tfm->alg[0] == 'r';

	if (chacha ? len != 32 : (len != 16 && len != 32))
		return -EINVAL;
	memcpy(tfm->key, key, len);
	tfm->key_len = len;
	return 0;
}

struct aead_request *aead_request_alloc(struct crypto_aead *tfm, int gfp)
{
	struct aead_request *r = kzalloc(sizeof(*r), gfp);

	if (r)
		r->tfm = tfm;
	return r;
}

void aead_request_free(struct aead_request *req)
{
	kfree(req);
}

void crypto_req_done(void *data, int err)
{
}

int crypto_aead_encrypt(struct aead_request *req)
{
	struct crypto_aead *t = req->tfm;
	const EVP_CIPHER *c;
	EVP_CIPHER_CTX *ctx;
	u8 *buf = req->src->buf;
	int n, ok;

	if (mock_fail_encrypt)
		return -EIO;
	if (req->src != req->dst ||
	    req->src->len < req->assoclen + req->cryptlen + t->authsize)
		return -EINVAL;
	if (t->alg[0] == 'r')
		c = EVP_chacha20_poly1305();
	else
		c = t->key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_EncryptInit_ex(ctx, c, NULL, t->key, req->iv) &&
	     EVP_EncryptUpdate(ctx, NULL, &n, buf, (int)req->assoclen) &&
	     EVP_EncryptUpdate(ctx, buf + req->assoclen, &n,
			       buf + req->assoclen, (int)req->cryptlen) &&
	     EVP_EncryptFinal_ex(ctx, buf + req->assoclen + n, &n) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16,
				 buf + req->assoclen + req->cryptlen);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

struct sk_buff *alloc_skb(unsigned int size, int gfp)
{
	struct sk_buff *skb = kzalloc(sizeof(*skb), gfp);

	if (!skb)
		return NULL;
	skb->head = kzalloc(size, gfp);
	if (!skb->head) {
		kfree(skb);
		return NULL;
	}
	skb->data = skb->head;
	skb->size = size;
	return skb;
}

void kfree_skb(struct sk_buff *skb)
{
	if (!skb)
		return;
	if (skb->destructor)
		skb->destructor(skb);
	kfree(skb->head);
	kfree(skb);
}

void kfree_skb_list(struct sk_buff *skb)
{
	while (skb) {
		struct sk_buff *next = skb->next;

		kfree_skb(skb);
		skb = next;
	}
}

void skb_reserve(struct sk_buff *skb, unsigned int n)
{
	assert(skb->len == 0 && skb->data + n <= skb->head + skb->size);
	skb->data += n;
}

void *skb_put(struct sk_buff *skb, unsigned int n)
{
	u8 *tail = skb->data + skb->len;

	assert(tail + n <= skb->head + skb->size);
	skb->len += n;
	return tail;
}

void *skb_push(struct sk_buff *skb, unsigned int n)
{
	assert(skb->data - n >= skb->head);
	skb->data -= n;
	skb->len += n;
	return skb->data;
}

void *__skb_pull(struct sk_buff *skb, unsigned int n)
{
	assert(n <= skb->len);
	skb->data += n;
	skb->len -= n;
	return skb->data;
}

struct sk_buff *skb_segment(struct sk_buff *skb, netdev_features_t features)
{
	unsigned int hlen =
		(unsigned int)(skb->data - skb_transport_header(skb));
	unsigned int mss = skb->shinfo.gso_size, off;
	struct sk_buff *first = NULL, **tail = &first;

	if (mock_fail_segment)
		return ERR_PTR(-ENOMEM);
	for (off = 0; off < skb->len; off += mss) {
		unsigned int n = skb->len - off < mss ? skb->len - off : mss;
		struct sk_buff *seg = alloc_skb(hlen + n, GFP_KERNEL);

		if (!seg) {
			kfree_skb_list(first);
			return ERR_PTR(-ENOMEM);
		}
		memcpy(skb_put(seg, hlen), skb_transport_header(skb), hlen);
		memcpy(skb_put(seg, n), skb->data + off, n);
		seg->transport_header = 0;
		*tail = seg;
		tail = &seg->next;
	}
	return first;
}

static void sock_put_wmem(struct sock *sk, long n)
{
	assert(sk->sk_wmem_alloc >= n);
	sk->sk_wmem_alloc -= n;
	if (sk->sk_wmem_alloc)
		return;
	if (sk->sk_destruct)
		sk->sk_destruct(sk);
	mock_socks--;
	kfree(sk);
}

static void mock_inet_sock_destruct(struct sock *sk)
{
	assert(sk->sk_wmem_alloc == 0);
}

int sock_create_kern(struct net *net, int family, int type, int proto,
		     struct socket **res)
{
	struct socket *sock;

	if (mock_fail_sock_create)
		return -EAFNOSUPPORT;
	sock = kzalloc(sizeof(*sock), GFP_KERNEL);
	if (!sock)
		return -ENOMEM;
	sock->sk = kzalloc(sizeof(*sock->sk), GFP_KERNEL);
	if (!sock->sk) {
		kfree(sock);
		return -ENOMEM;
	}
	sock->sk->net = net;
	sock->sk->family = family;
	sock->sk->sk_wmem_alloc = 1;
	sock->sk->sk_destruct = mock_inet_sock_destruct;
	mock_socks++;
	*res = sock;
	return 0;
}

void sock_release(struct socket *sock)
{
	struct sock *sk = sock->sk;

	/* tcp_close() of a never-connected socket: no ULP ops to clean up. */
	kfree(sock);
	sock_put_wmem(sk, 1);
}

static void sock_wfree(struct sk_buff *skb)
{
	struct sock *sk = skb->sk;

	skb->sk = NULL;
	sock_put_wmem(sk, 1);
}

void skb_set_owner_w(struct sk_buff *skb, struct sock *sk)
{
	assert(!skb->destructor);
	skb->sk = sk;
	skb->destructor = sock_wfree;
	sk->sk_wmem_alloc++;
}

struct sk_buff *tls_validate_xmit_skb(struct sock *sk, struct net_device *dev,
				      struct sk_buff *skb)
{
	if (dev == tls_get_ctx(sk)->netdev)
		return skb;
	{
		struct list_head *r =
			&tls_offload_ctx_tx(tls_get_ctx(sk))->records_list;

		assert(r->next == r); /* no record: nothing to encrypt */
	}
	mock_tls_fallback_drops++;
	kfree_skb(skb);
	return NULL;
}

struct workqueue_struct *alloc_workqueue(const char *fmt, unsigned int flags,
					 int max_active, ...)
{
	struct workqueue_struct *wq;

	if (mock_fail_alloc_wq)
		return NULL;
	wq = kzalloc(sizeof(*wq), GFP_KERNEL);
	if (wq)
		wq->tail = &wq->head;
	return wq;
}

bool queue_work(struct workqueue_struct *wq, struct work_struct *w)
{
	if (w->queued)
		return false;
	w->queued = true;
	w->next = NULL;
	*wq->tail = w;
	wq->tail = &w->next;
	return true;
}

void flush_workqueue(struct workqueue_struct *wq)
{
	while (wq->head) {
		struct work_struct *w = wq->head;

		wq->head = w->next;
		if (!wq->head)
			wq->tail = &wq->head;
		w->queued = false;
		w->func(w); /* may free w */
	}
}

void destroy_workqueue(struct workqueue_struct *wq)
{
	flush_workqueue(wq);
	kfree(wq);
}

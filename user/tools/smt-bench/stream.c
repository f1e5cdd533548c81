// SPDX-License-Identifier: BSD-2-Clause
/*
 * The byte buffers, message layout and length-prefixed stream that the TCP
 * and TLS transports share on the client and the server, so that both carry
 * exactly the same bytes through the same buffer handling: a message is
 * written once into the output buffer and read in place from the input
 * buffer. Also small helpers every part of smt-bench uses (names, CPU time).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "bench.h"

static const char *const tp_names[TP_COUNT] = {"smt", "udp",	 "tcp",
					       "tls", "smt-udp", "quic"};

const char *tp_name(enum bench_tp t)
{
	return t < TP_COUNT ? tp_names[t] : "?";
}

const char *tp_label(enum bench_tp t)
{
	return t == TP_SMT ? "smt-ip" : tp_name(t);
}

int tp_from_name(const char *s)
{
	for (int i = 0; i < TP_COUNT; i++)
		if (!strcmp(s, tp_names[i]))
			return i;
	if (!strcmp(s, "smt-ip"))
		return TP_SMT;
	return -1;
}

static uint64_t ru_ns(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru))
		return 0;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

uint64_t cpu_ns_self(void)
{
	return ru_ns(RUSAGE_SELF);
}

uint64_t cpu_ns_thread(void)
{
	return ru_ns(RUSAGE_THREAD);
}

uint64_t cpu_ns_pid(int pid)
{
	unsigned long long run = 0, ut = 0, st = 0;
	char path[64];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f) { /* nanoseconds on the CPU */
		ok = fscanf(f, "%llu", &run) == 1;
		fclose(f);
		if (ok)
			return run;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	/* after "pid (comm) ": utime and stime are fields 14 and 15 */
	ok = fscanf(f,
		    "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
		    "%*u %llu %llu",
		    &ut, &st) == 2;
	fclose(f);
	return ok ? (ut + st) * (1000000000ull / sysconf(_SC_CLK_TCK)) : 0;
}

int bbuf_reserve(struct bbuf *b, size_t n)
{
	size_t len = bbuf_len(b);
	uint8_t *p;
	size_t cap;

	if (b->cap - b->tail >= n)
		return 0;
	if (b->head && b->cap - len >= n) {
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
		return 0;
	}
	cap = b->cap ? b->cap : 65536;
	while (cap - len < n)
		cap *= 2;
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, b->data + b->head, len);
	free(b->data);
	b->data = p;
	b->cap = cap;
	b->head = 0;
	b->tail = len;
	return 0;
}

int bbuf_put(struct bbuf *b, const void *src, size_t n)
{
	int err = bbuf_reserve(b, n);

	if (err)
		return err;
	if (src)
		memcpy(b->data + b->tail, src, n);
	else
		memset(b->data + b->tail, 0, n);
	b->tail += n;
	return 0;
}

void bbuf_consume(struct bbuf *b, size_t n)
{
	b->head += n;
	if (b->head >= b->tail)
		b->head = b->tail = 0;
}

void bbuf_free(struct bbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* One pattern for every message, made once: filling a message costs the
 * same memcpy on every transport. */
static uint8_t pattern[BENCH_MAX_MSG];
static bool pattern_made;

void msg_fill(uint8_t *buf, size_t len, const struct bench_hdr *h)
{
	if (!pattern_made) {
		for (size_t i = 0; i < sizeof(pattern); i++)
			pattern[i] = (uint8_t)(i * 7 + 1);
		pattern_made = true;
	}
	memcpy(buf, h, sizeof(*h));
	memcpy(buf + BENCH_HDR_LEN, pattern + BENCH_HDR_LEN,
	       len - BENCH_HDR_LEN);
}

bool msg_check(const uint8_t *buf, size_t len, uint64_t id)
{
	struct bench_hdr h = {.id = id, .resp_len = (uint32_t)len};

	if (len < BENCH_HDR_LEN || len > BENCH_MAX_MSG ||
	    memcmp(buf, &h, sizeof(h)))
		return false;
	if (!pattern_made) {
		uint8_t tmp[BENCH_HDR_LEN];

		msg_fill(tmp, BENCH_HDR_LEN, &h);
	}
	return !memcmp(buf + BENCH_HDR_LEN, pattern + BENCH_HDR_LEN,
		       len - BENCH_HDR_LEN);
}

bool msg_hdr(const uint8_t *buf, size_t len, struct bench_hdr *h)
{
	if (len < BENCH_HDR_LEN)
		return false;
	memcpy(h, buf, sizeof(*h));
	return true;
}

int stream_read(struct stream *s)
{
	for (;;) {
		ssize_t n;
		int err = bbuf_reserve(&s->in, 65536);

		if (err)
			return err;
		if (s->ssl) {
			int room = (int)(s->in.cap - s->in.tail);
			int r = SSL_read(s->ssl, s->in.data + s->in.tail, room);

			if (r > 0) {
				s->in.tail += r;
				continue;
			}
			switch (SSL_get_error(s->ssl, r)) {
			case SSL_ERROR_WANT_READ:
			case SSL_ERROR_WANT_WRITE:
				return 0;
			case SSL_ERROR_ZERO_RETURN:
				s->eof = true;
				return 0;
			case SSL_ERROR_SYSCALL:
				if (!errno) {
					s->eof = true;
					return 0;
				}
				return -errno;
			default:
				return -EPROTO;
			}
		}
		n = recv(s->fd, s->in.data + s->in.tail, s->in.cap - s->in.tail,
			 MSG_DONTWAIT);
		if (n > 0) {
			s->in.tail += n;
			continue;
		}
		if (n == 0) {
			s->eof = true;
			return 0;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			continue;
		return -errno;
	}
}

int stream_flush(struct stream *s)
{
	while (bbuf_len(&s->out)) {
		size_t len = bbuf_len(&s->out);
		const uint8_t *p = s->out.data + s->out.head;

		if (s->ssl) {
			int r = SSL_write(s->ssl, p,
					  len > INT32_MAX ? INT32_MAX
							  : (int)len);

			if (r > 0) {
				bbuf_consume(&s->out, r);
				continue;
			}
			switch (SSL_get_error(s->ssl, r)) {
			case SSL_ERROR_WANT_READ:
			case SSL_ERROR_WANT_WRITE:
				return -EAGAIN;
			case SSL_ERROR_SYSCALL:
				return errno ? -errno : -EPIPE;
			default:
				return -EPROTO;
			}
		} else {
			ssize_t n = send(s->fd, p, len,
					 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n >= 0) {
				bbuf_consume(&s->out, n);
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			if (errno == EINTR)
				continue;
			return -errno;
		}
	}
	return 0;
}

long stream_frame(struct stream *s, const uint8_t **p)
{
	size_t have = bbuf_len(&s->in);
	uint32_t len;

	if (have < BENCH_FRAME_LEN)
		return -EAGAIN;
	memcpy(&len, s->in.data + s->in.head, sizeof(len));
	len = ntohl(len);
	if (len > BENCH_MAX_MSG || len < BENCH_HDR_LEN)
		return -EPROTO;
	if (have < BENCH_FRAME_LEN + len) {
		/* Let the reader place the whole frame in one go. */
		if (bbuf_reserve(&s->in, BENCH_FRAME_LEN + len - have))
			return -ENOMEM;
		return -EAGAIN;
	}
	*p = s->in.data + s->in.head + BENCH_FRAME_LEN;
	return len;
}

int stream_put_msg(struct stream *s, const struct bench_hdr *h, size_t len)
{
	uint32_t be = htonl((uint32_t)len);
	int err = bbuf_reserve(&s->out, BENCH_FRAME_LEN + len);

	if (err)
		return err;
	memcpy(s->out.data + s->out.tail, &be, sizeof(be));
	msg_fill(s->out.data + s->out.tail + BENCH_FRAME_LEN, len, h);
	s->out.tail += BENCH_FRAME_LEN + len;
	return 0;
}

void stream_close(struct stream *s)
{
	if (s->ssl) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	bbuf_free(&s->in);
	bbuf_free(&s->out);
	s->eof = false;
}

// SPDX-License-Identifier: BSD-2-Clause
/*
 * xsk_rx: an AF_XDP receiver for the XSK steering test. Binds an AF_XDP
 * socket (copy mode) to queue 0 of IFNAME without loading libxdp's own
 * program, puts it into smt_xdp's pinned `xsks` map (under
 * $SMT_BPF_PIN_DIR/maps, default /sys/fs/bpf/smt/maps), then counts the SMT
 * DATA frames that arrive for SECONDS and prints "xsk_frames N smt_data M".
 *
 * Usage: xsk_rx IFNAME SECONDS
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/xsk.h>
#include <smt/maps.h>
#include <smt/wire.h>

#define NFRAMES 4096
#define FRAME XSK_UMEM__DEFAULT_FRAME_SIZE

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* SMT DATA in an untagged IPv4 frame? */
static int is_smt_data(const uint8_t *f, uint32_t len)
{
	uint32_t ihl;

	if (len < 14 + 20 + SMT_HDR_LEN || f[12] != 0x08 || f[13] != 0x00 ||
	    f[14 + 9] != SMT_IPPROTO_DEFAULT)
		return 0;
	ihl = (f[14] & 0xf) * 4;
	if (len < 14 + ihl + SMT_HDR_LEN)
		return 0;
	return ((const struct smt_hdr *)(f + 14 + ihl))->type == SMT_TYPE_DATA;
}

int main(int argc, char **argv)
{
	struct xsk_socket_config cfg = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	unsigned long frames = 0, data = 0;
	const char *root = getenv("SMT_BPF_PIN_DIR");
	char path[256];
	double end;
	uint32_t idx, i, zero = 0;
	void *area;
	int mfd, fd, err;

	if (argc != 3) {
		fprintf(stderr, "usage: xsk_rx IFNAME SECONDS\n");
		return 2;
	}
	area = mmap(NULL, (size_t)NFRAMES * FRAME, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return 1;
	err = xsk_umem__create(&umem, area, (uint64_t)NFRAMES * FRAME, &fill,
			       &comp, NULL);
	if (!err)
		err = xsk_socket__create(&xsk, argv[1], 0, umem, &rx, &tx,
					 &cfg);
	if (err) {
		fprintf(stderr, "xsk_rx: AF_XDP socket on %s: %s\n", argv[1],
			strerror(-err));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/maps/%s",
		 root && *root ? root : SMT_PIN_DIR, SMT_MAP_XSKS);
	mfd = bpf_obj_get(path);
	fd = xsk_socket__fd(xsk);
	if (mfd < 0 || bpf_map_update_elem(mfd, &zero, &fd, BPF_ANY)) {
		fprintf(stderr, "xsk_rx: cannot add the socket to %s: %s\n",
			path, strerror(errno));
		return 1;
	}
	/* Hand every frame to the kernel for receiving. */
	if (xsk_ring_prod__reserve(&fill, NFRAMES / 2, &idx) != NFRAMES / 2)
		return 1;
	for (i = 0; i < NFRAMES / 2; i++)
		*xsk_ring_prod__fill_addr(&fill, idx + i) = (uint64_t)i * FRAME;
	xsk_ring_prod__submit(&fill, NFRAMES / 2);
	printf("ready\n");
	fflush(stdout);

	end = now_s() + atof(argv[2]);
	while (now_s() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint32_t n, fidx;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = xsk_ring_cons__peek(&rx, 64, &idx);
		if (!n)
			continue;
		if (xsk_ring_prod__reserve(&fill, n, &fidx) != n)
			break;
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d =
				xsk_ring_cons__rx_desc(&rx, idx + i);

			frames++;
			data += is_smt_data(xsk_umem__get_data(area, d->addr),
					    d->len);
			*xsk_ring_prod__fill_addr(&fill, fidx + i) =
				xsk_umem__extract_addr(d->addr);
		}
		xsk_ring_prod__submit(&fill, n);
		xsk_ring_cons__release(&rx, n);
	}
	printf("xsk_frames %lu smt_data %lu\n", frames, data);
	bpf_map_delete_elem(mfd, &zero);
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
	return 0;
}

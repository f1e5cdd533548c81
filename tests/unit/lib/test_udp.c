// SPDX-License-Identifier: BSD-2-Clause
/*
 * SMT over UDP through the public API (backend_udp.c, protocol.md 1.1):
 * the encap option and its checks, endpoints talking over loopback with
 * no capability, datagram sizes, the port rule (udp_port_mismatch), short
 * datagrams, and ICMP port-unreachable explaining a failed RPC.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <smt/drop.h>
#include <smt/wire.h>

#include "endpoint.h"
#include "libsmt.h"
#include "smt_test.h"

static struct smt_endpoint *udp_ep(uint16_t port)
{
	struct smt_endpoint_opts o = {
		.sz = sizeof(o), .port = port, .encap = SMT_ENCAP_UDP};
	struct smt_endpoint *ep = NULL;

	cr_assert_eq(smt_endpoint_open(&o, &ep), 0, "open: %s",
		     smt_strerror(smt_endpoint_open(&o, &ep)));
	return ep;
}

/* A plain UDP socket on 127.0.0.1, bound to an ephemeral port. */
static int plain_udp(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	cr_assert_eq(
		sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)),
		(ssize_t)len);
}

static uint64_t drops(struct smt_endpoint *ep, unsigned int reason)
{
	struct smt_stats st = {.sz = sizeof(st)};

	for (int i = 0; i < 20; i++) /* let the datagram arrive */
		smt_wait(ep, 5);
	cr_assert_eq(smt_stats_get(ep, 0, &st), 0);
	return st.drops[reason];
}

Test(smt_encap, names_and_parsing)
{
	enum smt_encap e;

	cr_assert_str_eq(smt_encap_name(SMT_ENCAP_IP), "ip");
	cr_assert_str_eq(smt_encap_name(SMT_ENCAP_UDP), "udp");
	cr_assert_null(smt_encap_name(SMT_ENCAP_DEFAULT));
	cr_assert_eq(smt_encap_parse("udp", &e), 0);
	cr_assert_eq(e, SMT_ENCAP_UDP);
	cr_assert_eq(smt_encap_parse("ip", &e), 0);
	cr_assert_eq(e, SMT_ENCAP_IP);
	cr_assert_eq(smt_encap_parse("UDP ", &e), -EINVAL);
	cr_assert_eq(smt_encap_parse(NULL, &e), -EINVAL);
}

Test(smt_encap, option_checks)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o), .encap = 9};
	struct smt_endpoint *ep = NULL;

	cr_assert_eq(smt_endpoint_open(&o, &ep), -EINVAL);
	/* a backend carries one encapsulation */
	o.encap = SMT_ENCAP_UDP;
	o.backend = SMT_BACKEND_RAW;
	cr_assert_eq(smt_endpoint_open(&o, &ep), -EINVAL);
	o.backend = SMT_BACKEND_DEFAULT;
	o.xsk_tx = true; /* AF_XDP transmit is the raw backend's */
	cr_assert_eq(smt_endpoint_open(&o, &ep), -EINVAL);
	/* 17 is the UDP encapsulation, not a native number */
	o = (struct smt_endpoint_opts){
		.sz = sizeof(o), .encap = SMT_ENCAP_IP, .ipproto = IPPROTO_UDP};
	cr_assert_eq(smt_endpoint_open(&o, &ep), -EINVAL);
	cr_assert_null(ep);
}

Test(smt_encap, environment_default)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o)};
	struct smt_endpoint *ep = NULL;

	cr_assert_eq(setenv("SMT_ENCAP", "udp", 1), 0);
	cr_assert_eq(smt_endpoint_open(&o, &ep), 0);
	cr_assert_eq(smt_endpoint_encap(ep), SMT_ENCAP_UDP);
	smt_endpoint_close(ep);
	cr_assert_eq(setenv("SMT_ENCAP", "tcp", 1), 0);
	cr_assert_eq(smt_endpoint_open(&o, &ep), -EINVAL);
	/* an explicit option wins over the environment */
	o.encap = SMT_ENCAP_UDP;
	cr_assert_eq(smt_endpoint_open(&o, &ep), 0);
	smt_endpoint_close(ep);
	unsetenv("SMT_ENCAP");
}

Test(udp_backend, port_in_use_and_released)
{
	struct smt_endpoint *a = udp_ep(0), *b = NULL;
	struct smt_endpoint_opts o = {.sz = sizeof(o), .encap = SMT_ENCAP_UDP};

	o.port = smt_endpoint_port(a);
	cr_assert_geq(o.port, 49152, "ephemeral SMT ports are 49152..65535");
	cr_assert_eq(smt_endpoint_open(&o, &b), -SMT_E_PORT_IN_USE);
	smt_endpoint_close(a);
	cr_assert_eq(smt_endpoint_open(&o, &b), 0);
	smt_endpoint_close(b);
}

Test(udp_backend, rpcs_over_loopback)
{
	static const size_t sizes[] = {0, 1, 1432, 1433, 70000, 1048576};
	struct smt_endpoint *a = udp_ep(0), *b = udp_ep(0);
	uint8_t *buf = malloc(1048576);
	struct smt_msg m;
	uint32_t sa, sb;
	uint64_t id;

	cr_assert_not_null(buf);
	th_join(a, b, 5, &sa, &sb);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		th_fill(buf, sizes[i], i);
		cr_assert_eq(smt_send_request(a, sa, buf, sizes[i], i, &id), 0);
		th_pump_until(a, b, &m, 10000);
		cr_assert_eq(m.kind, SMT_MSG_RESPONSE, "%s",
			     smt_strerror(m.error));
		cr_assert_eq(m.len, sizes[i]);
		for (size_t k = 0; k < sizes[i]; k++)
			cr_assert_eq(m.data[k], (uint8_t)(buf[k] ^ 0x5a));
		smt_msg_release(&m);
	}
	free(buf);
	smt_endpoint_close(a);
	smt_endpoint_close(b);
}

/* The datagrams of one message: MTU - 20 - 8 bytes at most, the UDP ports
 * are the SMT ports, and the first carries 1432 payload bytes. */
Test(udp_backend, datagrams_sized_by_the_encapsulation)
{
	struct smt_endpoint *a = udp_ep(0);
	struct smt_session_params p;
	uint8_t buf[2048], *msg = calloc(1, 20000);
	struct pollfd pfd;
	uint16_t port;
	uint32_t sa;
	uint64_t id;
	int fd = plain_udp(&port), n, got = 0, max = 0;

	cr_assert_not_null(msg);
	th_loopback_params(&p, port, true, 1);
	cr_assert_eq(smt_session_add(a, &p, &sa), 0);
	cr_assert_eq(smt_send_request(a, sa, msg, 20000, 0, &id), 0);
	smt_process(a);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while (poll(&pfd, 1, 200) > 0) {
		n = (int)recv(fd, buf, sizeof(buf), 0);
		cr_assert_geq(n, SMT_HDR_LEN);
		cr_assert_eq(buf[0] << 8 | buf[1], smt_endpoint_port(a));
		cr_assert_eq(buf[2] << 8 | buf[3], port);
		if (buf[13] == SMT_TYPE_DATA && n > max)
			max = n;
		got++;
		smt_process(a);
	}
	cr_assert_gt(got, 1);
	cr_assert_eq(max, 1500 - 20 - 8, "largest datagram %d", max);
	close(fd);
	free(msg);
	smt_endpoint_close(a);
}

Test(udp_backend, smt_ports_must_be_the_udp_ports)
{
	struct smt_endpoint *a = udp_ep(0);
	uint8_t pkt[SMT_EMPTY_CTL_LEN] = {0};
	uint16_t port, self = smt_endpoint_port(a);
	int fd = plain_udp(&port);

	pkt[12] = SMT_DOFF_VER;
	pkt[13] = SMT_TYPE_BUSY;
	/* sport claims another port than the datagram's */
	pkt[0] = (uint8_t)((port + 1) >> 8);
	pkt[1] = (uint8_t)(port + 1);
	pkt[2] = (uint8_t)(self >> 8);
	pkt[3] = (uint8_t)self;
	send_to(fd, self, pkt, sizeof(pkt));
	cr_assert_eq(drops(a, SMT_DROP_UDP_PORT_MISMATCH), 1);
	/* dport claims another port than ours */
	pkt[0] = (uint8_t)(port >> 8);
	pkt[1] = (uint8_t)port;
	pkt[3] = (uint8_t)(self + 1);
	send_to(fd, self, pkt, sizeof(pkt));
	cr_assert_eq(drops(a, SMT_DROP_UDP_PORT_MISMATCH), 2);
	/* ports right: on to the next rule (no such session) */
	pkt[3] = (uint8_t)self;
	send_to(fd, self, pkt, sizeof(pkt));
	cr_assert_eq(drops(a, SMT_DROP_UNKNOWN_SESSION), 1);
	cr_assert_eq(drops(a, SMT_DROP_UDP_PORT_MISMATCH), 2);
	/* shorter than a header: short_header comes first (rule 1) */
	send_to(fd, self, pkt, 20);
	cr_assert_eq(drops(a, SMT_DROP_SHORT_HEADER), 1);
	close(fd);
	smt_endpoint_close(a);
}

/* Nobody on the peer's port: the kernel's ICMP port unreachable is
 * counted, the RPC still runs its timeout, then fails saying why. */
Test(udp_backend, icmp_port_unreachable_explains_the_timeout)
{
	struct smt_endpoint_opts o = {.sz = sizeof(o),
				      .encap = SMT_ENCAP_UDP,
				      .resend_timeout_us = 2000,
				      .rpc_timeouts = 10};
	struct smt_stats st = {.sz = sizeof(st)};
	struct smt_endpoint *a = NULL;
	struct smt_session_params p;
	struct smt_msg m;
	uint64_t id, t0, end;
	uint16_t port;
	uint32_t sa;
	int fd = plain_udp(&port);
	bool done = false;

	close(fd); /* port now closed: datagrams to it bounce */
	cr_assert_eq(smt_endpoint_open(&o, &a), 0);
	th_loopback_params(&p, port, true, 1);
	cr_assert_eq(smt_session_add(a, &p, &sa), 0);
	t0 = th_mono_ms();
	cr_assert_eq(smt_send_request(a, sa, "ping", 4, 0, &id), 0);
	end = t0 + 5000;
	while (!done && th_mono_ms() < end) {
		smt_wait(a, 5);
		if (smt_recv(a, &m) == 0) {
			done = true;
			cr_assert_eq(m.kind, SMT_MSG_FAILED);
			cr_assert_eq(m.error, -SMT_E_UNREACHABLE, "error %s",
				     smt_strerror(m.error));
			smt_msg_release(&m);
		}
	}
	cr_assert(done, "the RPC did not fail within 5 s");
	/* not sooner than its silent timeouts: ICMP ends nothing itself */
	cr_assert_geq(th_mono_ms() - t0, 15);
	cr_assert_eq(smt_stats_get(a, 0, &st), 0);
	cr_assert_gt(st.rx_icmp_errors, 0);
	cr_assert(strstr(smt_strerror(-SMT_E_UNREACHABLE), "unreachable"));
	smt_endpoint_close(a);
}

// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod/smt_tls_offload.c as built for a kernel without CONFIG_TLS_DEVICE:
 * compiled a second time here, its functions renamed, so that the stubs
 * are built and checked: no device is capable, a context cannot be added
 * (-EOPNOTSUPP), and nothing else does anything.
 */
#define SMT_MOCK_NO_TLS_DEVICE
#define smt_tls_offload_enabled stub_tls_offload_enabled
#define smt_tls_offload_capable stub_tls_offload_capable
#define smt_tls_offload_begin stub_tls_offload_begin
#define smt_tls_offload_own stub_tls_offload_own
#define smt_tls_offload_resync stub_tls_offload_resync
#define smt_tls_offload_end stub_tls_offload_end
#define smt_tls_offload_init stub_tls_offload_init
#define smt_tls_offload_exit stub_tls_offload_exit

#include "../../../kmod/smt_tls_offload.c"

#include <criterion/criterion.h>

#include "kmod_test.h"

_Static_assert(!IS_ENABLED(CONFIG_TLS_DEVICE), "built without TLS_DEVICE");

TestSuite(kmod_tls_offload_stubs, .fini = kt_leak_check);

Test(kmod_tls_offload_stubs,
     smt_tls_offload_begin__eopnotsupp_without_tls_device)
{
	struct net_device dev = {.features = NETIF_F_HW_TLS_TX};
	struct smt_tls_tx_ctx *ctx = (void *)&dev;
	struct smt_ksession s = {.B = 48};

	cr_expect_eq(stub_tls_offload_init(), 0);
	stub_tls_offload_enabled = true;
	cr_expect_not(stub_tls_offload_capable(&dev));
	cr_expect_eq(stub_tls_offload_begin(&ctx, &dev, &s, 2), -EOPNOTSUPP);
	cr_expect_null(ctx);
	cr_expect_eq(stub_tls_offload_resync(NULL, 0, 0), 0);
	stub_tls_offload_end(NULL);
	stub_tls_offload_exit();
	cr_expect_eq(dev.refcnt, 0);
}

/* SPDX-License-Identifier: BSD-2-Clause */
/* The fake smtd's listening socket, shared by the ctl unit tests. */
#ifndef SMT_TEST_FAKE_SOCK_H
#define SMT_TEST_FAKE_SOCK_H

#include <stddef.h>

/* Listens on a new Unix socket path (written to path) and points
 * $SMT_CTL_SOCKET at it; the listening fd (the test fails otherwise). */
int fake_listen(const char *tag, char *path, size_t len);

#endif

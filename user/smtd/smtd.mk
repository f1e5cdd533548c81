# SPDX-License-Identifier: BSD-2-Clause
#
# smtd and smtctl: extra libraries. libsmt's control-socket client
# (user/lib/ctl_client.c) uses json-c, so libsmt.so and every program that
# links libsmt.a need it too.
LDLIBS_SMT += -ljson-c
LDLIBS_TOOLS += -ljson-c
LDLIBS_smtd := -linih -ljson-c -lsystemd
LDLIBS_smtctl := -ljson-c
HELP += '  smtd       (build/bin/smtd, smtctl: see docs/smtd.md)'

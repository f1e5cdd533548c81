# SPDX-License-Identifier: BSD-2-Clause
#
# smt-proxy (user/tools/smt-proxy/, built by the Makefile's tool-directory
# rule) reads its configuration with inih, as smtd does.
LDLIBS_smt-proxy := -linih

# SPDX-License-Identifier: BSD-2-Clause
#
# smt-resp-load (user/tools/smt-resp-load.c, the one-file tool rule) cuts
# replies with smt-proxy's RESP framer: its object is linked in too.
$(BUILD)/bin/smt-resp-load: $(BUILD)/obj/tools/smt-proxy/framer.o

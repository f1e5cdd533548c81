# SPDX-License-Identifier: BSD-2-Clause
#
# `make install` puts the Wireshark dissector where Wireshark loads Lua
# plugins from: its global Lua plugin folder (`tshark -G folders`, "Global
# Lua Plugins"), which does not follow PREFIX. WIRESHARK_LUA_DIR overrides
# it, for example with ~/.local/lib/wireshark/plugins (the personal one).
WS_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
WIRESHARK_LUA_DIR ?= /usr/lib/$(if $(WS_MULTIARCH),$(WS_MULTIARCH)/)wireshark/plugins

.PHONY: install-wireshark uninstall-wireshark
install: install-wireshark
install-wireshark:
	install -d $(DESTDIR)$(WIRESHARK_LUA_DIR)
	install -m 0644 scripts/wireshark/smt.lua $(DESTDIR)$(WIRESHARK_LUA_DIR)/smt.lua

uninstall: uninstall-wireshark
uninstall-wireshark:
	rm -f $(DESTDIR)$(WIRESHARK_LUA_DIR)/smt.lua

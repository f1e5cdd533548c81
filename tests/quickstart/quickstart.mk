# SPDX-License-Identifier: BSD-2-Clause
#
# test-quickstart: README's "Quick start" lines, word for word, on two hosts
# made of network and mount namespaces (a private /etc, /usr/local and /run
# per host, so the real ones are untouched).

TEST_TIERS += test-quickstart
HELP += '  test-quickstart  README quick start, word for word, on two namespace hosts'

.PHONY: test-quickstart
test-quickstart: all
	$(Q)BUILD=$(BUILD) tests/quickstart/run.sh

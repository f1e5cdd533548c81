#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Prints docs/performance.md's Redis section: docs/performance-redis.md
# (written by make bench-redis) up to its notes on earlier runs, the
# first "### About the run of" heading, then a pointer to those notes.
# The latest tables, targets and the note on the latest run stay in
# docs/performance.md; the measurements of earlier sessions live in
# docs/performance-redis.md only. Used by scripts/bench.sh and
# scripts/bench-redis.sh. Prints nothing when the file is missing.
# Usage: scripts/redis-section.sh [FILE]
f=${1:-docs/performance-redis.md}
[ -f "$f" ] || exit 0
awk '/^### About the run of / { cut = 1; exit } { print }
	END { if (cut) { print "### Earlier runs"; print "";
		print "The notes on earlier runs of make bench-redis, and the";
		print "measurements behind the changes between them, are in";
		print "docs/performance-redis.md." } }' "$f"

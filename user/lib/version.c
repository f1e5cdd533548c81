// SPDX-License-Identifier: BSD-2-Clause
/*
 * The one version string of a build. The Makefile's SMT_VERSION reaches this
 * file (and only this file) as SMT_VERSION_STRING; the same value goes into
 * libsmt.pc, and every program's --version prints smt_version().
 */
#include "libsmt.h"

/* test builds that compile libsmt's files on their own may leave it out */
#ifndef SMT_VERSION_STRING
#define SMT_VERSION_STRING "unversioned"
#endif

const char *smt_version(void)
{
	return SMT_VERSION_STRING;
}

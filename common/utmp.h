/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_UTMP_H
#define INETKIT_UTMP_H

#include <stddef.h>

/* One who(1) line: user 32, line 32, time, host 256 and slack. */
#define UTMP_LINE_MAX 400

enum {
	UTMP_CHECK_PIDS = 1,	/* skip entries whose process is gone */
	UTMP_ISO_TIME = 2,	/* "2026-11-22 03:32" rather than "Nov 22 03:32" */
};

/*
 * The users logged in according to the utmp file at path, one line each in
 * the format of who(1) with no options, LF included, passed to put() in
 * file order. who(1) checks pids for the system utmp but not for a named
 * file, and uses ISO times in any locale but C/POSIX (utmp_iso_time()).
 * Reads the file directly: no shell, no locking, no NSS. Returns 0, -1
 * with errno if the file cannot be read (ENOENT: nobody is logged in), or
 * put()'s negative return.
 */
int utmp_who(const char *path, int flags, int (*put)(void *ctx, const char *line, size_t len),
    void *ctx);
int utmp_iso_time(void);

#endif

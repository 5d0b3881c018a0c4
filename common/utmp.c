/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "utmp.h"

/* A bounded copy of a fixed-size utmp field, which need not be NUL-terminated. */
static void
field(char *out, const char *in, size_t size)
{
	size_t n = strnlen(in, size);

	memcpy(out, in, n);
	out[n] = '\0';
}

/*
 * who(1) writes "%Y-%m-%d %H:%M" when the time locale from the environment
 * (LC_ALL, LC_TIME, LANG) exists and is not C or POSIX, else "%b %e %H:%M".
 * The program never calls setlocale(): this asks only when who runs.
 */
int
utmp_iso_time(void)
{
	const char *names[] = { getenv("LC_ALL"), getenv("LC_TIME"), getenv("LANG") };
	const char *n = NULL;
	locale_t l;
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0] && !n; i++)
		if (names[i] && names[i][0])
			n = names[i];
	if (!n || strcmp(n, "C") == 0 || strcmp(n, "POSIX") == 0)
		return 0;
	if (!(l = newlocale(LC_TIME_MASK, n, (locale_t)0)))
		return 0;
	freelocale(l);
	return 1;
}

/*
 * coreutils who.c print_line() with who's defaults (short output, no idle,
 * pid, mesg or exit columns): "%-8s %-12s %-*s %-8s", trailing blanks cut.
 */
static size_t
format(char out[UTMP_LINE_MAX], const struct utmpx *u, int iso)
{
	char user[sizeof u->ut_user + 1], line[sizeof u->ut_line + 1];
	char host[sizeof u->ut_host + 1], comment[sizeof u->ut_host + 8], when[32];
	time_t t = u->ut_tv.tv_sec;
	struct tm tm;
	char *display;
	int n;

	field(user, u->ut_user, sizeof u->ut_user);
	field(line, u->ut_line, sizeof u->ut_line);
	field(host, u->ut_host, sizeof u->ut_host);
	comment[0] = '\0';
	if (host[0]) {
		/* An X display: "host:0" is shown as "(host:0)" all the same. */
		display = strchr(host, ':');
		if (display)
			*display++ = '\0';
		if (display)
			snprintf(comment, sizeof comment, "(%s:%s)", host, display);
		else
			snprintf(comment, sizeof comment, "(%s)", host);
	}
	if (!localtime_r(&t, &tm) || !strftime(when, sizeof when, iso ? "%Y-%m-%d %H:%M"
	    : "%b %e %H:%M", &tm))
		snprintf(when, sizeof when, "%lld", (long long)t);
	n = snprintf(out, UTMP_LINE_MAX - 1, "%-8s %-12s %-*s %-8s", user, line, iso ? 16 : 12,
	    when, comment);
	if (n < 0)
		n = 0;
	if (n > UTMP_LINE_MAX - 2)
		n = UTMP_LINE_MAX - 2;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n++] = '\n';
	out[n] = '\0';
	return (size_t)n;
}

int
utmp_who(const char *path, int flags, int (*put)(void *ctx, const char *line, size_t len),
    void *ctx)
{
	struct utmpx u;
	char out[UTMP_LINE_MAX];
	size_t got;
	ssize_t n;
	int fd, r = 0, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	for (;;) {
		/* Whole records only; a torn last record is ignored, as glibc does. */
		for (got = 0; got < sizeof u; got += (size_t)n) {
			n = read(fd, (char *)&u + got, sizeof u - got);
			if (n < 0 && errno == EINTR) {
				n = 0;
				continue;
			}
			if (n <= 0)
				break;
		}
		if (n < 0) {
			r = -1;
			break;
		}
		if (got < sizeof u)
			break;
		if (u.ut_type != USER_PROCESS || u.ut_user[0] == '\0')
			continue;
		if ((flags & UTMP_CHECK_PIDS) && u.ut_pid > 0 && kill(u.ut_pid, 0) < 0 && errno == ESRCH)
			continue;
		if ((r = put(ctx, out, format(out, &u, flags & UTMP_ISO_TIME))) < 0)
			break;
	}
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "log.h"

#define DIE_MSGMAX 1024

static void __attribute__((noreturn))
fatal(int code, const char *msg, int err)
{
	if (err)
		log_msg(LOG_LVL_ERR, "fatal: %s: %s", msg, strerror(err));
	else
		log_msg(LOG_LVL_ERR, "fatal: %s", msg);
	exit(code);
}

void
die(int code, const char *fmt, ...)
{
	char msg[DIE_MSGMAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fatal(code, msg, 0);
}

/* As die(), with ": strerror(errno)" appended. */
void
die_sys(int code, const char *fmt, ...)
{
	char msg[DIE_MSGMAX];
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fatal(code, msg, e);
}

void
warn(const char *fmt, ...)
{
	char msg[DIE_MSGMAX];
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_WARNING, "%s", msg);
	errno = e;
}

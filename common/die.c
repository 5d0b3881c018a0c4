/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "die.h"
#include "log.h"

#define DIE_MSGMAX 1024

static void __attribute__((noreturn, format(printf, 3, 0)))
vdie(int code, int err, const char *fmt, va_list ap)
{
	char msg[DIE_MSGMAX];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err)
		log_msg(LOG_LVL_ERR, "fatal: %s: %s", msg, strerror(err));
	else
		log_msg(LOG_LVL_ERR, "fatal: %s", msg);
	exit(code);
}

void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(code, 0, fmt, ap);
	va_end(ap);	/* not reached: vdie exits */
}

/* As die(), with ": strerror(errno)" appended. */
void
die_sys(int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vdie(code, e, fmt, ap);
	va_end(ap);	/* not reached */
}

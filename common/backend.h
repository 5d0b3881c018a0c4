/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_BACKEND_H
#define INETKIT_BACKEND_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * A relay's backend, as its operand spells it: "HOST:PORT" (an IPv4
 * address), "[V6ADDR]:PORT" or "unix:PATH". Addresses only: a name would
 * be looked up by every connection's process, and be a failure of its own.
 * backend_parse is a pure function over the text (the fuzz target).
 */
#define BACKEND_NAMEMAX 120		/* "unix:" and the longest sun_path, NUL included */

struct backend {
	struct sockaddr_storage ss;
	socklen_t len;
	char name[BACKEND_NAMEMAX];	/* as logged: the spelling, normalized */
};

/* 0, or -1 with err (the spec's bytes escaped) saying why. */
int backend_parse(const char *spec, struct backend *b, char *err, size_t errlen);

#endif

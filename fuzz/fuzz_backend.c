/* SPDX-License-Identifier: MIT */
/*
 * relay's BACKEND spelling. A spec taken is an IPv4 or IPv6 socket address
 * with a port from 1 to 65535, or a UNIX socket path that fits sun_path;
 * its name, parsed again, is the same socket address (the name is what the
 * record logs). A spec refused says why in a bounded message without
 * control bytes.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "../common/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[256], err[256];
	struct backend b, again;
	size_t i, n;

	if (size >= sizeof s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(err, 'x', sizeof err);
	if (backend_parse(s, &b, err, sizeof err) != 0) {
		n = strnlen(err, sizeof err);
		if (n == sizeof err || n == 0)
			abort();
		for (i = 0; i < n; i++)
			if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
				abort();
		return 0;
	}
	switch (b.ss.ss_family) {
	case AF_INET:
		if (b.len != sizeof(struct sockaddr_in)
		    || ((struct sockaddr_in *)&b.ss)->sin_port == 0)
			abort();
		break;
	case AF_INET6:
		if (b.len != sizeof(struct sockaddr_in6)
		    || ((struct sockaddr_in6 *)&b.ss)->sin6_port == 0)
			abort();
		break;
	case AF_UNIX:
		if (strlen(((struct sockaddr_un *)&b.ss)->sun_path) == 0
		    || strlen(((struct sockaddr_un *)&b.ss)->sun_path) >= sizeof(struct sockaddr_un)
		    - offsetof(struct sockaddr_un, sun_path))
			abort();
		break;
	default:
		abort();
	}
	if (backend_parse(b.name, &again, err, sizeof err) != 0 || again.len != b.len
	    || memcmp(&again.ss, &b.ss, b.len) != 0 || strcmp(again.name, b.name) != 0)
		abort();	/* the logged name is the same backend */
	return 0;
}

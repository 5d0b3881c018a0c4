/* SPDX-License-Identifier: MIT */
/*
 * Net::Server's port specs (ports.h), as a port or as a UNIX path: a spec
 * that parses has a port (or an absolute path) and only the flags there
 * are; its parts, written back as "[HOST]:PORT/PROTO/IPV...", parse to the
 * same parts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const protos[] = { "", "tcp", "udp", "unix" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[512], err[256], again[1024];
	struct ports_spec a, b;
	int unix_path;

	if (size == 0 || size >= sizeof s)
		return 0;
	unix_path = data[0] & 1;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (ports_parse(&a, s, unix_path, err, sizeof err) < 0) {
		if (!memchr(err, '\0', sizeof err))
			abort();
		return 0;
	}
	if (!a.port[0] || a.proto < 0 || a.proto > PORTS_UNIX || (a.ipv & ~7))
		abort();
	if (a.proto == PORTS_UNIX || (unix_path && !a.proto)) {
		if (a.port[0] != '/' || a.host[0])
			abort();
		return 0;
	}
	/* Written back with every part it had, it must read the same. */
	snprintf(again, sizeof again, "%s%s%s%s%s%s%s%s%s%s%s", a.host[0] ? "[" : "", a.host,
	    a.host[0] ? "]:" : "", a.port, a.proto ? "/" : "", protos[a.proto],
	    a.ipv & PORTS_IPV4 ? "/IPv4" : "", a.ipv & PORTS_IPV6 ? "/IPv6" : "",
	    a.ipv & PORTS_IPV_ANY ? "/IPv*" : "", "", "");
	if (ports_parse(&b, again, 0, err, sizeof err) < 0 || strcmp(a.port, b.port) != 0
	    || a.proto != b.proto || a.ipv != b.ipv)
		abort();
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Client identity from the environment an activator or wrapper left: the
 * input's lines are the values of PROTO, its REMOTEIP, REMOTEPORT, LOCALIP
 * and LOCALPORT, then REMOTE_ADDR, REMOTE_HOST and REMOTE_PORT (a missing
 * line leaves the variable unset; PROTO's own line may name another prefix).
 * Whatever the bytes, what is believed must be a formatted address and a
 * decimal port, IPv4-mapped addresses unmapped, and peer_export must hand
 * the wrapped program exactly the client this process saw.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/peer.h"

#define VALUE_MAX 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed[] = { "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT",
	"INETKIT_PROXIED" };
static const char *const suffixes[] = { "REMOTEIP", "REMOTEPORT", "LOCALIP", "LOCALPORT",
	"REMOTEHOST" };

static void
clear(const char *proto)
{
	const char *prefixes[] = { "TCP", "TCP6", proto };
	char name[64];
	size_t i, k;

	unsetenv("PROTO");
	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		unsetenv(fixed[i]);
	for (k = 0; k < 3; k++)
		for (i = 0; prefixes[k] && i < sizeof suffixes / sizeof suffixes[0]; i++) {
			snprintf(name, sizeof name, "%s%s", prefixes[k], suffixes[i]);
			unsetenv(name);
		}
}

static void
check_ip(const char *ip, const struct addr *a)
{
	struct addr b;
	size_t i;

	for (i = 0; ip[i]; i++)
		if (!strchr("0123456789abcdef:.", ip[i]))
			abort();	/* only a formatted address reaches the logs */
	if (addr_parse(&b, ip) < 0 || b.family != a->family
	    || memcmp(a->bytes, b.bytes, addr_len(a)) != 0)
		abort();
	if (a->family == AF_INET6 && memcmp(a->bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		abort();	/* v4-mapped is IPv4 everywhere */
}

static void
check_port(const char *port)
{
	char *end;
	unsigned long v;

	if (!port[0])
		return;
	v = strtoul(port, &end, 10);
	if (*end || v > 65535 || (port[0] == '0' && port[1]))
		abort();
}

static void
check(const struct peer *p)
{
	if (p->has_remote) {
		check_ip(p->remote_ip, &p->remote);
		if (p->family != p->remote.family)
			abort();
	} else if (p->remote_ip[0] || p->remote_port[0]) {
		abort();
	}
	if (p->has_local)
		check_ip(p->local_ip, &p->local);
	check_port(p->remote_port);
	check_port(p->local_port);
	if (strlen(peer_str(p)) >= ADDR_STRMAX + PEER_PORTMAX + 64)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char buf[8 * (VALUE_MAX + 1)], *v[8] = { 0 }, *p = buf, *nl, name[64];
	const char *end = (const char *)data + size, *s = (const char *)data;
	struct peer a, b;
	size_t i, n;

	if (fd < 0 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		abort();	/* not a socket: identity comes from the environment */
	for (i = 0; i < 8 && s < end; i++, s = nl ? nl + 1 : end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		n = (size_t)((nl ? nl : end) - s);
		if (n > VALUE_MAX || memchr(s, '\0', n))
			return 0;	/* the environment holds C strings */
		memcpy(p, s, n);
		p[n] = '\0';
		v[i] = p;
		p += n + 1;
	}
	clear(v[0]);
	if (v[0]) {
		setenv("PROTO", v[0], 1);
		for (i = 0; i < 4; i++)
			if (v[i + 1]) {
				snprintf(name, sizeof name, "%s%s", v[0], suffixes[i]);
				if (strchr(name, '=') == NULL && name[0])
					setenv(name, v[i + 1], 1);
			}
	}
	for (i = 0; i < 3; i++)
		if (v[i + 5])
			setenv(fixed[i], v[i + 5], 1);
	if (peer_identify(&a, fd) < 0)
		abort();
	check(&a);
	/* What a wrapper exports, the program it execs must see again. */
	if (peer_export(&a) < 0)
		abort();
	unsetenv("REMOTE_ADDR");
	unsetenv("REMOTE_HOST");
	unsetenv("REMOTE_PORT");
	if (peer_identify(&b, fd) < 0)
		abort();
	check(&b);
	if (a.has_remote != b.has_remote
	    || (a.has_remote && (strcmp(a.remote_ip, b.remote_ip) != 0
		|| strcmp(a.remote_port, b.remote_port) != 0
		|| a.has_local != b.has_local || strcmp(a.local_ip, b.local_ip) != 0
		|| strcmp(a.local_port, b.local_port) != 0)))
		abort();
	clear(v[0]);
	return 0;
}

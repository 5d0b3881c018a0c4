/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "text.h"

static const uint8_t v4mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

size_t
addr_len(const struct addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

/* ::ffff:a.b.c.d is the IPv4 client a.b.c.d seen through an IPv6 socket. */
static void
unmap(struct addr *a)
{
	if (a->family == AF_INET6 && memcmp(a->bytes, v4mapped, 12) == 0) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
	}
}

int
addr_parse(struct addr *a, const char *s)
{
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, s, a->bytes) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->bytes) == 1) {
		a->family = AF_INET6;
		unmap(a);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int
addr_from_sockaddr(struct addr *a, const void *sa, size_t len)
{
	const struct sockaddr *s = sa;

	memset(a, 0, sizeof *a);
	if (len >= sizeof(struct sockaddr_in) && s->sa_family == AF_INET) {
		memcpy(a->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		a->family = AF_INET;
		return 0;
	}
	if (len >= sizeof(struct sockaddr_in6) && s->sa_family == AF_INET6) {
		memcpy(a->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		a->family = AF_INET6;
		unmap(a);
		return 0;
	}
	errno = EAFNOSUPPORT;
	return -1;
}

void
addr_format(const struct addr *a, char out[ADDR_STRMAX])
{
	if (!inet_ntop(a->family, a->bytes, out, ADDR_STRMAX))
		strcpy(out, "?");
}

/* Clears the bits of a past its first prefix: the network of a's /prefix block. */
void
addr_mask(struct addr *a, unsigned prefix)
{
	size_t i, n = addr_len(a);

	for (i = 0; i < n; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
		a->bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
}

/* "a.b.c.d", "a.b.c.d/n", "v6", "v6/n"; a mapped v6 block becomes a v4 one. */
int
cidr_parse(struct cidr *c, const char *s)
{
	char buf[ADDR_STRMAX + 4];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long prefix;
	int mapped;

	memset(c, 0, sizeof *c);
	if (alen == 0 || alen >= sizeof buf)
		goto bad;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	mapped = strchr(buf, ':') != NULL;
	if (addr_parse(&c->net, buf) < 0)
		goto bad;
	mapped = mapped && c->net.family == AF_INET;
	if (!slash) {
		c->prefix = (unsigned)addr_len(&c->net) * 8;
		return 0;
	}
	if (text_uint(slash + 1, 0, mapped ? 128 : addr_len(&c->net) * 8, &prefix) < 0)
		goto bad;
	if (mapped) {
		if (prefix < 96)
			goto bad;
		prefix -= 96;
	}
	c->prefix = (unsigned)prefix;
	addr_mask(&c->net, c->prefix);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
cidr_match(const struct cidr *c, const struct addr *a)
{
	struct addr m;

	if (c->net.family != a->family)
		return 0;
	m = *a;
	addr_mask(&m, c->prefix);
	return memcmp(m.bytes, c->net.bytes, addr_len(a)) == 0;
}

/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_ADDR_H
#define INETKIT_ADDR_H

#include <stddef.h>
#include <stdint.h>

/*
 * An IP address or CIDR block. IPv4 is kept in its own family: an IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is converted to IPv4 when parsed, so the two
 * spellings of one client always compare equal.
 */
#define ADDR_STRMAX 46			/* INET6_ADDRSTRLEN */

struct addr {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t bytes[16];		/* network order; IPv4 uses the first 4 */
};

struct cidr {
	struct addr net;		/* host bits cleared */
	unsigned prefix;		/* 0..32 or 0..128 */
};

int addr_parse(struct addr *a, const char *s);
int addr_from_sockaddr(struct addr *a, const void *sa, size_t len);
void addr_format(const struct addr *a, char out[ADDR_STRMAX]);
int cidr_parse(struct cidr *c, const char *s);
int cidr_match(const struct cidr *c, const struct addr *a);
size_t addr_len(const struct addr *a);
void addr_mask(struct addr *a, unsigned prefix);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Address and CIDR parsing: parse, format, re-parse, and match must agree.
 * And the --listen spec, "[udp:]ADDRESS:PORT": a spec taken is an IPv4 or
 * IPv6 socket address with a port from 1 to 65535, which written back the
 * way the option spells it reads as the same address, port and kind; a
 * spec refused says why in a bounded message without control bytes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/addr.h"
#include "../common/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The spec as the option would spell the address ss: "udp:[::1]:8010". */
static void
respell(char *out, size_t len, const struct sockaddr_storage *ss, int dgram)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		port = ntohs(s6->sin6_port);
		snprintf(out, len, "%s[%s]:%u", dgram ? "udp:" : "", host, port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		port = ntohs(s4->sin_port);
		snprintf(out, len, "%s%s:%u", dgram ? "udp:" : "", host, port);
	}
}

static void
listen_spec(const char *s)
{
	struct sockaddr_storage ss, again;
	socklen_t len, len2;
	char err[256], spelled[128];
	int dgram, dgram2;
	size_t i, n;

	memset(err, 'x', sizeof err);
	if (serve_parse_listen(s, &ss, &len, &dgram, err, sizeof err) != 0) {
		n = strnlen(err, sizeof err);
		if (n == sizeof err || n == 0)
			abort();	/* a message, terminated */
		for (i = 0; i < n; i++)
			if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
				abort();	/* the spec's bytes are escaped */
		return;
	}
	if (dgram != (strncmp(s, "udp:", 4) == 0))
		abort();
	if (ss.ss_family == AF_INET) {
		if (len != sizeof(struct sockaddr_in)
		    || ((struct sockaddr_in *)&ss)->sin_port == 0)
			abort();
	} else if (ss.ss_family == AF_INET6) {
		if (len != sizeof(struct sockaddr_in6)
		    || ((struct sockaddr_in6 *)&ss)->sin6_port == 0)
			abort();
	} else {
		abort();
	}
	respell(spelled, sizeof spelled, &ss, dgram);
	if (serve_parse_listen(spelled, &again, &len2, &dgram2, err, sizeof err) != 0
	    || len2 != len || dgram2 != dgram || memcmp(&again, &ss, len) != 0)
		abort();	/* written back, the same socket address */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[128], out[ADDR_STRMAX];
	struct addr a, b;
	struct cidr c;

	if (size >= sizeof s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(&a, s) == 0) {
		addr_format(&a, out);
		if (addr_parse(&b, out) != 0 || a.family != b.family
		    || memcmp(a.bytes, b.bytes, sizeof a.bytes) != 0)
			abort();	/* formatting must round-trip */
	}
	if (cidr_parse(&c, s) == 0) {
		if (c.prefix > addr_len(&c.net) * 8)
			abort();
		if (!cidr_match(&c, &c.net))
			abort();	/* a block contains its own network address */
	}
	listen_spec(s);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "backend.h"
#include "text.h"

static int
bad(char *err, size_t errlen, const char *spec, const char *why)
{
	char esc[TEXT_ESCBUF];

	snprintf(err, errlen, "\"%s\" is not HOST:PORT, [V6ADDR]:PORT or unix:PATH: %s",
	    text_escape(esc, spec, strnlen(spec, 64)), why);
	return -1;
}

static int
parse_unix(const char *spec, const char *path, struct backend *b, char *err, size_t errlen)
{
	struct sockaddr_un *su = (struct sockaddr_un *)&b->ss;
	size_t n = strlen(path);

	if (n == 0)
		return bad(err, errlen, spec, "an empty path");
	if (n >= sizeof su->sun_path)
		return bad(err, errlen, spec, "a path longer than a UNIX socket's 107 bytes");
	su->sun_family = AF_UNIX;
	memcpy(su->sun_path, path, n + 1);
	b->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	snprintf(b->name, sizeof b->name, "unix:%s", path);
	return 0;
}

int
backend_parse(const char *spec, struct backend *b, char *err, size_t errlen)
{
	char host[ADDR_STRMAX + 1];
	const char *colon, *hp = spec;
	unsigned long port;
	size_t hl;
	int v6;

	memset(b, 0, sizeof *b);
	if (strncmp(spec, "unix:", 5) == 0)
		return parse_unix(spec, spec + 5, b, err, errlen);
	/* "[V6ADDR]:PORT": the brackets are required, as an IPv6 address holds colons. */
	v6 = spec[0] == '[';
	if (v6) {
		const char *close = strchr(spec, ']');

		if (!close)
			return bad(err, errlen, spec, "'[' without ']'");
		if (close[1] != ':')
			return bad(err, errlen, spec, "no :PORT after ']'");
		hp = spec + 1;
		hl = (size_t)(close - hp);
		colon = close + 1;
	} else {
		colon = strchr(spec, ':');
		if (strchr(spec, ']'))
			return bad(err, errlen, spec, "']' without '['");
		if (!colon)
			return bad(err, errlen, spec, "no :PORT");
		if (strchr(colon + 1, ':'))
			return bad(err, errlen, spec, "an IPv6 address goes in brackets");
		hl = (size_t)(colon - spec);
	}
	if (hl == 0)
		return bad(err, errlen, spec, "an empty host");
	if (text_uint(colon + 1, 1, 65535, &port) < 0)
		return bad(err, errlen, spec, "the port is not 1 to 65535");
	if (hl >= sizeof host)
		return bad(err, errlen, spec, "not an IP address");
	memcpy(host, hp, hl);
	host[hl] = '\0';
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b->ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return bad(err, errlen, spec, "not an IPv6 address inside the brackets");
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		b->len = sizeof *s6;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(b->name, sizeof b->name, "[%s]:%lu", host, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&b->ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return bad(err, errlen, spec, "not an IPv4 address (names are not looked up)");
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		b->len = sizeof *s4;
		snprintf(b->name, sizeof b->name, "%s:%lu", host, port);
	}
	return 0;
}

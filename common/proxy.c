/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "io.h"
#include "proxy.h"
#include "text.h"

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A decimal port as the specification writes it: no sign, no leading zero. */
static int
parse_port(const char *s, size_t n, unsigned *out)
{
	unsigned long long v;

	if (text_uint_n(s, n, TEXT_UINT_NOPAD, 0, 65535, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_ip(const char *s, size_t n, int v6, struct addr *a)
{
	char buf[ADDR_STRMAX];

	if (n == 0 || n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* TCP4 takes only dotted quads; TCP6 only IPv6 text (a mapped one becomes IPv4). */
	if (!v6 && !memchr(buf, '.', n))
		return -1;
	if (v6 && !memchr(buf, ':', n))
		return -1;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, a->bytes) != 1)
		return -1;
	return addr_parse(a, buf);
}

/* Splits the next space-separated field off [*p, end). */
static int
field(const char **p, const char *end, const char **f, size_t *n, int last)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));

	if (last) {
		if (sp)
			return -1;
		sp = end;
	} else if (!sp) {
		return -1;
	}
	*f = *p;
	*n = (size_t)(sp - *p);
	*p = sp < end ? sp + 1 : end;
	return 0;
}

/* "PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n" */
static ssize_t
parse_v1(const char *b, size_t len, struct proxy_hdr *h)
{
	const char *p, *end, *f;
	size_t i, n, limit = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	int v6;

	if (memcmp(b, "PROXY ", len < 6 ? len : 6) != 0)
		return -1;
	for (i = 0; i < limit; i++) {
		unsigned char c = (unsigned char)b[i];

		if (c == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				return -1;
			if (i + 1 == len)
				return 0;
			if (b[i + 1] != '\n')
				return -1;
			break;
		}
		if (c < 0x20 || c > 0x7e)
			return -1;
	}
	if (i == limit)
		return len < PROXY_V1_MAX ? 0 : -1;
	if (i < PROXY_V1_MIN - 2)
		return -1;
	h->version = 1;
	h->len = i + 2;
	p = b + 6;
	end = b + i;
	if ((size_t)(end - p) >= 7 && memcmp(p, "UNKNOWN", 7) == 0
	    && (end - p == 7 || p[7] == ' ')) {
		h->local = 1;
		return (ssize_t)h->len;
	}
	if (field(&p, end, &f, &n, 0) < 0 || n != 4
	    || (memcmp(f, "TCP4", 4) != 0 && memcmp(f, "TCP6", 4) != 0))
		return -1;
	v6 = f[3] == '6';
	if (field(&p, end, &f, &n, 0) < 0 || parse_ip(f, n, v6, &h->src) < 0
	    || field(&p, end, &f, &n, 0) < 0 || parse_ip(f, n, v6, &h->dst) < 0
	    || field(&p, end, &f, &n, 0) < 0 || parse_port(f, n, &h->sport) < 0
	    || field(&p, end, &f, &n, 1) < 0 || parse_port(f, n, &h->dport) < 0)
		return -1;
	return (ssize_t)h->len;
}

static void
v2_addr(struct addr *a, const unsigned char *b, int family)
{
	char s[ADDR_STRMAX];

	memset(a, 0, sizeof *a);
	a->family = family;
	memcpy(a->bytes, b, family == AF_INET ? 4 : 16);
	/* Through text so an IPv4-mapped address comes out as IPv4, as everywhere else. */
	if (inet_ntop(family, a->bytes, s, sizeof s))
		addr_parse(a, s);
}

static ssize_t
parse_v2(const unsigned char *b, size_t len, struct proxy_hdr *h)
{
	const unsigned char *ab;
	size_t hl, alen;
	unsigned cmd, fam, proto;
	int family;

	if (memcmp(b, v2sig, len < 12 ? len : 12) != 0)
		return -1;
	if (len >= 13 && ((b[12] >> 4) != 2 || (b[12] & 15) > 1))
		return -1;
	if (len >= 14 && ((b[13] >> 4) > 3 || (b[13] & 15) > 2))
		return -1;
	if (len < PROXY_V2_FIXED)
		return 0;
	hl = (size_t)b[14] << 8 | b[15];
	if (len < PROXY_V2_FIXED + hl)
		return 0;
	h->version = 2;
	h->len = PROXY_V2_FIXED + hl;
	cmd = b[12] & 15;
	fam = b[13] >> 4;
	proto = b[13] & 15;
	/* LOCAL: the proxy's own connection (a health check); UNSPEC and UNIX carry no IP. */
	if (cmd == 0 || fam == 0 || fam == 3) {
		h->local = 1;
		return (ssize_t)h->len;
	}
	if (proto != 1)			/* we serve streams: UDP or UNSPEC makes no sense here */
		return -1;
	/* TCP over IPv4 (1) or IPv6 (2): source and destination address, then their ports. */
	family = fam == 1 ? AF_INET : AF_INET6;
	alen = fam == 1 ? 4 : 16;
	if (hl < 2 * alen + 4)
		return -1;
	ab = b + PROXY_V2_FIXED;
	v2_addr(&h->src, ab, family);
	v2_addr(&h->dst, ab + alen, family);
	h->sport = (unsigned)ab[2 * alen] << 8 | ab[2 * alen + 1];
	h->dport = (unsigned)ab[2 * alen + 2] << 8 | ab[2 * alen + 3];
	return (ssize_t)h->len;	/* TLVs after the addresses are not used */
}

ssize_t
proxy_parse(const void *buf, size_t len, struct proxy_hdr *h)
{
	const unsigned char *b = buf;

	memset(h, 0, sizeof *h);
	if (len == 0)
		return 0;
	if (b[0] == 'P')
		return parse_v1(buf, len, h);
	if (b[0] == v2sig[0])
		return parse_v2(b, len, h);
	return -1;
}

/*
 * How many more bytes certainly belong to the header, given a valid start:
 * both versions are at least 15 bytes, v2 says its length in byte 14-15.
 * 0 means a v1 line whose end is not known yet.
 */
static size_t
want(const unsigned char *b, size_t len)
{
	if (len < PROXY_V1_MIN)
		return PROXY_V1_MIN - len;
	if (b[0] == 'P')
		return 0;
	if (len < PROXY_V2_FIXED)
		return PROXY_V2_FIXED - len;
	return PROXY_V2_FIXED + ((size_t)b[14] << 8 | b[15]) - len;
}

/*
 * Reads exactly the header: v2 by its length field, v1 by peeking for the
 * LF and reading up to it, so the bytes after the header stay in the socket
 * for the program (or the one it execs).
 */
enum proxy_status
proxy_read(int fd, char *buf, unsigned timeout_ms, struct proxy_hdr *h, size_t *got)
{
	struct timespec t0;
	size_t have = 0, w;
	ssize_t n, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	*got = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left;

		r = proxy_parse(buf, have, h);
		if (r > 0)
			return PROXY_OK;
		if (r < 0)
			return PROXY_MALFORMED;
		left = (long)timeout_ms - io_ms_since(&t0);
		if (left <= 0)
			return PROXY_TIMEOUT;
		n = poll(&p, 1, (int)left);
		/* A signal that stopped the session (its timeout, SIGTERM) ends the wait. */
		if (n < 0 && errno == EINTR && !io_stopped())
			continue;
		if (n < 0 && errno == EINTR)
			return PROXY_TIMEOUT;
		if (n < 0)
			return PROXY_IOERR;
		if (n == 0)
			return PROXY_TIMEOUT;
		w = want((const unsigned char *)buf, have);
		if (w == 0) {
			const char *lf;

			n = recv(fd, buf + have, PROXY_V1_MAX - have, MSG_PEEK | MSG_DONTWAIT);
			if (n > 0) {
				lf = memchr(buf + have, '\n', (size_t)n);
				w = lf ? (size_t)(lf - (buf + have)) + 1 : (size_t)n;
			}
		}
		if (w)
			n = recv(fd, buf + have, w, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? PROXY_TRUNCATED : PROXY_IOERR;
		if (n == 0)
			return PROXY_TRUNCATED;
		have += (size_t)n;
		*got = have;
	}
}

/*
 * The sending side, for a relay: the header that names h->src:sport to
 * h->dst:dport (TCP over IPv4 or IPv6), or, h->local set or the families
 * apart, a v1 "UNKNOWN" or a v2 LOCAL header. Returns its length, or -1 if
 * cap (PROXY_V1_MAX or more suffices for v1, PROXY_V2_FIXED + 36 for v2)
 * cannot hold it. proxy_parse reads it back as the same header.
 */
ssize_t
proxy_format(int version, const struct proxy_hdr *h, void *buf, size_t cap)
{
	unsigned char *b = buf;
	char s[ADDR_STRMAX], d[ADDR_STRMAX];
	int local = h->local || h->src.family != h->dst.family
	    || (h->src.family != AF_INET && h->src.family != AF_INET6)
	    || h->sport > 65535 || h->dport > 65535;
	size_t alen;
	int n;

	if (version == 1) {
		if (local)
			n = snprintf(buf, cap, "PROXY UNKNOWN\r\n");
		else {
			addr_format(&h->src, s);
			addr_format(&h->dst, d);
			n = snprintf(buf, cap, "PROXY %s %s %s %u %u\r\n",
			    h->src.family == AF_INET ? "TCP4" : "TCP6", s, d, h->sport, h->dport);
		}
		return n < 0 || (size_t)n >= cap ? -1 : (ssize_t)n;
	}
	alen = local ? 0 : h->src.family == AF_INET ? 4 : 16;
	if (cap < PROXY_V2_FIXED + 2 * alen + (local ? 0 : 4))
		return -1;
	memcpy(b, v2sig, sizeof v2sig);
	b[12] = local ? 0x20 : 0x21;		/* version 2, LOCAL or PROXY */
	b[13] = local ? 0x00 : h->src.family == AF_INET ? 0x11 : 0x21;	/* TCP over IPv4, IPv6 */
	n = local ? 0 : (int)(2 * alen + 4);
	b[14] = (unsigned char)(n >> 8);
	b[15] = (unsigned char)n;
	if (!local) {
		memcpy(b + PROXY_V2_FIXED, h->src.bytes, alen);
		memcpy(b + PROXY_V2_FIXED + alen, h->dst.bytes, alen);
		b[PROXY_V2_FIXED + 2 * alen] = (unsigned char)(h->sport >> 8);
		b[PROXY_V2_FIXED + 2 * alen + 1] = (unsigned char)h->sport;
		b[PROXY_V2_FIXED + 2 * alen + 2] = (unsigned char)(h->dport >> 8);
		b[PROXY_V2_FIXED + 2 * alen + 3] = (unsigned char)h->dport;
	}
	return (ssize_t)(PROXY_V2_FIXED + (size_t)n);
}

const char *
proxy_status_name(enum proxy_status s)
{
	static const char *const names[] = {
		"ok",
		"malformed header",
		"connection closed inside the header",
		"no complete header in time",
		"read error",
	};

	return names[s];
}

/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_PROXY_H
#define INETKIT_PROXY_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"

/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt), versions 1 and 2, on
 * the receiving side, and proxy_format() on the sending side (relay's
 * --send-proxy). proxy_parse() is a pure function over a byte buffer (the
 * fuzz target, which reads proxy_format's headers back too); proxy_read()
 * takes a header off a socket without consuming any byte of the stream
 * behind it.
 */
#define PROXY_V1_MIN 15			/* "PROXY UNKNOWN\r\n" */
#define PROXY_V1_MAX 107		/* the specification's limit, CRLF included */
#define PROXY_V2_FIXED 16		/* signature, version/command, family, length */
#define PROXY_HDR_MAX (PROXY_V2_FIXED + 65535)

struct proxy_hdr {
	int version;			/* 1 or 2 */
	int local;			/* LOCAL, UNKNOWN, UNSPEC, AF_UNIX: no client address */
	struct addr src, dst;		/* valid unless local */
	unsigned sport, dport;
	size_t len;			/* bytes the header takes on the stream */
};

enum proxy_status {
	PROXY_OK,
	PROXY_MALFORMED,		/* not a PROXY header, or a broken one */
	PROXY_TRUNCATED,		/* the client closed the connection inside the header */
	PROXY_TIMEOUT,			/* no complete header in time */
	PROXY_IOERR,			/* errno says why */
};

/*
 * Looks at the first len bytes of a stream: returns the header's length
 * (> 0) with *h filled, 0 if buf is a valid but incomplete start of a
 * header, or -1 if it cannot be one.
 */
ssize_t proxy_parse(const void *buf, size_t len, struct proxy_hdr *h);
/* Reads one header from fd within timeout_ms; buf holds PROXY_HDR_MAX bytes. */
enum proxy_status proxy_read(int fd, char *buf, unsigned timeout_ms, struct proxy_hdr *h,
    size_t *got);
const char *proxy_status_name(enum proxy_status s);
/* The header naming h's client, version 1 or 2, into buf[cap]: its length, or -1. */
ssize_t proxy_format(int version, const struct proxy_hdr *h, void *buf, size_t cap);

#endif

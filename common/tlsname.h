/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_TLSNAME_H
#define INETKIT_TLSNAME_H

#include <stddef.h>

/*
 * What tls takes from a handshake into PROGRAM's environment is the
 * client's: the server name it asked for (SNI) and, for a client
 * certificate, its subject. libtls has parsed them; these decide what may
 * be passed on. Lower layer: no logging, libc only.
 */

#define TLSNAME_HOST_MAX 253		/* a DNS name, without a trailing dot */

/*
 * 1 if s[0..len) is a host name as SNI carries it (RFC 6066): labels of 1
 * to 63 letters, digits and hyphens, not starting or ending with a hyphen,
 * joined by single dots, at most TLSNAME_HOST_MAX bytes, no trailing dot.
 * Anything else (an IP literal, a NUL, a space, a newline) is 0.
 */
int tlsname_host(const char *s, size_t len);

/*
 * s[0..len) as an environment value: printable ASCII (0x20 to 0x7e) is
 * kept, every other byte, and '\', is written as \xHH; cut at a whole
 * character or escape to fit cap (>= 1). Returns out.
 */
const char *tlsname_env(char *out, size_t cap, const char *s, size_t len);

#endif

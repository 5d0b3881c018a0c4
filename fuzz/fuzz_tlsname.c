/* SPDX-License-Identifier: MIT */
/*
 * What tls passes from a handshake into PROGRAM's environment
 * (tlsname.h). The input's first byte picks the output's size for
 * tlsname_env, the rest is a server name or a certificate's subject. A
 * host name is taken exactly when a reading label by label says so, and
 * then holds nothing but letters, digits, hyphens and dots; an environment
 * value holds only printable ASCII, ends within its buffer, and reads back
 * as a prefix of the bytes it was given, cut only at a whole character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/tlsname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
ref_label(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", s[i])
		    || s[i] == '\0')
			return 0;
	return 1;
}

/* The reference: split on dots, every label valid, the whole within bounds. */
static int
ref_host(const char *s, size_t n)
{
	size_t start = 0, i;

	if (n == 0 || n > TLSNAME_HOST_MAX)
		return 0;
	for (i = 0; i <= n; i++)
		if (i == n || s[i] == '.') {
			if (!ref_label(s + start, i - start))
				return 0;
			start = i + 1;
		}
	return 1;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[1100];
	const char *s;
	size_t n, cap, i, o, olen;

	if (size < 1 || size > 2048)
		return 0;
	cap = 1 + data[0] * 4;		/* 1 to 1021 bytes */
	s = (const char *)data + 1;
	n = size - 1;
	if (tlsname_host(s, n) != ref_host(s, n))
		abort();
	memset(out, 'Z', sizeof out);
	tlsname_env(out, cap, s, n);
	/* The NUL within cap, and nothing written past it. */
	if (!memchr(out, '\0', cap) || (cap < sizeof out && out[cap] != 'Z'))
		abort();
	olen = strlen(out);
	/* Decode: every byte printable, '\' only as \xHH, giving back a prefix of s. */
	for (i = 0, o = 0; o < olen; i++) {
		unsigned char ch = (unsigned char)out[o];
		int hi, lo;

		if (ch < 0x20 || ch >= 0x7f)
			abort();
		if (ch == '\\') {
			if (o + 3 >= olen)
				abort();
			if (out[o + 1] != 'x' || (hi = hexval(out[o + 2])) < 0
			    || (lo = hexval(out[o + 3])) < 0)
				abort();
			ch = (unsigned char)(hi * 16 + lo);
			if (ch >= 0x20 && ch < 0x7f && ch != '\\')
				abort();	/* a printable byte is kept, never escaped */
			o += 4;
		} else {
			o++;
		}
		if (i >= n || (unsigned char)s[i] != ch)
			abort();
	}
	/* Cut only where the next character would not have fitted. */
	if (i < n) {
		unsigned char ch = (unsigned char)s[i];
		size_t need = ch >= 0x20 && ch < 0x7f && ch != '\\' ? 1 : 4;

		if (olen + need < cap)
			abort();
	}
	return 0;
}

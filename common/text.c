/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "text.h"

/* The one decimal reader: exactly s[0..n), digits only, within [min, max]. */
int
text_uint_n(const char *s, size_t n, unsigned flags, unsigned long long min,
    unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	if (n == 0 || ((flags & TEXT_UINT_NOPAD) && n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9 || v > (ULLONG_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The digits s[0..n) starts with: how many, and their value, saturating at ULLONG_MAX. */
size_t
text_uint_prefix(const char *s, size_t n, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		v = v > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : v * 10 + d;
	}
	*out = v;
	return i;
}

/* A whole C string, leading zeros read; ERANGE if refused. */
int
text_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long long v;

	if (text_uint_n(s, strlen(s), 0, min, max, &v) < 0) {
		errno = ERANGE;
		return -1;
	}
	*out = (unsigned long)v;	/* v <= max, an unsigned long */
	return 0;
}

int
text_rate(const char *s, unsigned long *n, unsigned long *secs)
{
	const char *slash = strchr(s, '/');
	char num[16];

	if (!slash || (size_t)(slash - s) >= sizeof num)
		return -1;
	memcpy(num, s, (size_t)(slash - s));
	num[slash - s] = '\0';
	return text_uint(num, 1, TEXT_RATE_N_MAX, n) == 0
	    && text_uint(slash + 1, 1, TEXT_RATE_SECS_MAX, secs) == 0 ? 0 : -1;
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int
text_unescape(const char *s, char *out, size_t cap, size_t *len, const char **why)
{
	size_t n = 0;
	int hi, lo;

	for (; *s; s++) {
		char ch = *s;

		if (ch == '\\') {
			switch (*++s) {
			case 'r': ch = '\r'; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case '\\': ch = '\\'; break;
			case 'x':
				if ((hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0) {
					*why = "\\x takes two hex digits";
					return -1;
				}
				ch = (char)(hi << 4 | lo);
				s += 2;
				break;
			default:
				*why = "unknown escape (\\r \\n \\t \\\\ \\xHH)";
				return -1;
			}
		}
		if (n == cap) {
			*why = "too long";
			return -1;
		}
		out[n++] = ch;
	}
	*len = n;
	return 0;
}

/* With field set, the bytes that delimit a record's fields are escaped too. */
static const char *
escape(char *out, size_t cap, const char *s, size_t len, int field)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int esc = c < 0x20 || c >= 0x7f || c == '%'
		    || (field && (c == ' ' || c == '"' || c == '\'' || c == '=' || c == '\\'));

		if (o + (esc ? 3 : 1) + 4 > cap)
			break;	/* room is kept for "..." and the NUL */
		if (esc) {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *
text_escape_to(char *out, size_t cap, const char *s, size_t len)
{
	return escape(out, cap, s, len, 0);
}

static const char *
escape_capped(char out[TEXT_ESCBUF], const char *s, size_t len, int field)
{
	escape(out, TEXT_ESCBUF, s, len < TEXT_ESCMAX ? len : TEXT_ESCMAX, field);
	if (len > TEXT_ESCMAX)
		strcat(out, "...");
	return out;
}

const char *
text_escape(char out[TEXT_ESCBUF], const char *s, size_t len)
{
	return escape_capped(out, s, len, 0);
}

const char *
text_escape_field(char out[TEXT_ESCBUF], const char *s, size_t len)
{
	return escape_capped(out, s, len, 1);
}

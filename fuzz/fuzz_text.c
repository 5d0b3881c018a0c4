/* SPDX-License-Identifier: MIT */
/*
 * The leaf's parsers and escapes (text.h). The input's first byte picks
 * flags and bounds, the rest is the text. A number is taken exactly when
 * it is digits only, not empty, without a leading zero under
 * TEXT_UINT_NOPAD, and within the bounds, as a plain reading in 128 bits
 * finds; text_uint says the same of a C string. A rate's two numbers are
 * within their limits. An escape holds only printable ASCII, never a
 * field's delimiter in a field value, and reads back as the bytes it was
 * given, or a prefix of them followed by "...".
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/text.h"

#define TEXT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__extension__ typedef unsigned __int128 u128;

/* The plain reading: 1 and *v if s[0..n) is a number that fits in 64 bits. */
static int
ref_number(const char *s, size_t n, int nopad, unsigned long long *v)
{
	u128 x = 0;
	size_t i;

	if (n == 0 || (nopad && n > 1 && s[0] == '0'))
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		x = x * 10 + (unsigned)(s[i] - '0');
		if (x > ULLONG_MAX)
			return 0;
	}
	*v = (unsigned long long)x;
	return 1;
}

static void
check_numbers(const char *s, size_t n, uint8_t pick)
{
	static const unsigned long long bounds[] = { 0, 1, 9, 10, 65535, 65536, UINT32_MAX,
		(unsigned long long)UINT32_MAX + 1, ULONG_MAX, ULLONG_MAX - 1, ULLONG_MAX };
	const size_t nb = sizeof bounds / sizeof bounds[0];
	unsigned long long min = bounds[pick % nb], max = bounds[pick / nb % nb], v = 0, want = 0;
	unsigned long ul = 0;
	int nopad = pick & 0x80, ok, got;

	ok = ref_number(s, n, nopad, &want);
	if (text_uint_n(s, n, nopad ? TEXT_UINT_NOPAD : 0, 0, ULLONG_MAX, &v) != (ok ? 0 : -1)
	    || (ok && v != want))
		abort();
	got = text_uint_n(s, n, nopad ? TEXT_UINT_NOPAD : 0, min, max, &v) == 0;
	if (got != (ok && want >= min && want <= max) || (got && v != want))
		abort();
	/* As a C string (up to its first NUL), the unsigned long twin. */
	n = strnlen(s, n);
	ok = ref_number(s, n, 0, &want) && want <= ULONG_MAX;
	if (min > ULONG_MAX)
		min = ULONG_MAX;
	if (max > ULONG_MAX)
		max = ULONG_MAX;
	errno = 0;
	got = text_uint(s, (unsigned long)min, (unsigned long)max, &ul) == 0;
	if (got != (ok && want >= min && want <= max) || (got && ul != want)
	    || (!got && errno != ERANGE))
		abort();
}

/* The digits a text starts with: their count, and their value or ULLONG_MAX past it. */
static void
check_prefix(const char *s, size_t n)
{
	unsigned long long v, want;
	u128 x = 0;
	size_t k = 0;

	while (k < n && s[k] >= '0' && s[k] <= '9') {
		x = x * 10 + (unsigned)(s[k++] - '0');
		if (x > ULLONG_MAX)
			x = (u128)ULLONG_MAX + 1;
	}
	want = x > ULLONG_MAX ? ULLONG_MAX : (unsigned long long)x;
	if (text_uint_prefix(s, n, &v) != k || v != want)
		abort();
}

static void
check_rate(const char *s)
{
	unsigned long n, secs;

	if (text_rate(s, &n, &secs) == 0
	    && (n < 1 || n > TEXT_RATE_N_MAX || secs < 1 || secs > TEXT_RATE_SECS_MAX))
		abort();
}

static void
check_unescape(const char *s, size_t cap)
{
	char out[TEXT_MAX];
	const char *why = NULL;
	size_t len = 0;

	if (text_unescape(s, out, cap, &len, &why) == 0) {
		if (len > cap || (!strchr(s, '\\') && (len != strlen(s) || memcmp(out, s, len) != 0)))
			abort();
	} else if (!why) {
		abort();
	}
}

static int
hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Reads out[0..olen) back against s[0..len): the bytes it holds, or -1 if they differ. */
static long
read_back(const char *out, size_t olen, const char *s, size_t len)
{
	size_t i = 0, k = 0;

	for (; i < olen; k++) {
		char c = out[i];

		if (c == '%') {
			if (i + 2 >= olen || hex(out[i + 1]) < 0 || hex(out[i + 2]) < 0)
				return -1;
			c = (char)(hex(out[i + 1]) << 4 | hex(out[i + 2]));
			i += 3;
		} else {
			i++;
		}
		if (k >= len || s[k] != c)
			return -1;
	}
	return (long)k;
}

/*
 * out reads back as s[0..len) whole, or as a shorter prefix of it and
 * "...": every byte accounted for. whole: it must be the first.
 */
static void
check_escaped(const char *out, size_t cap, const char *s, size_t len, int field, int whole)
{
	size_t olen = strlen(out), i;
	long k;

	if (olen >= cap)
		abort();
	for (i = 0; i < olen; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f
		    || (field && strchr(" \"'=\\", out[i])))
			abort();
	if (read_back(out, olen, s, len) == (long)len)
		return;
	if (whole || olen < 3 || memcmp(out + olen - 3, "...", 3) != 0)
		abort();
	k = read_back(out, olen - 3, s, len);
	if (k < 0 || (size_t)k >= len)
		abort();
}

/* The length of s escaped, and so whether it fits whole in cap (room kept for "..."). */
static size_t
escaped_len(const char *s, size_t len, int field)
{
	size_t i, need = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		need += c < 0x20 || c >= 0x7f || c == '%' || (field && c && strchr(" \"'=\\", c))
		    ? 3 : 1;
	}
	return need;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[TEXT_MAX + 1], out[TEXT_MAX], buf[TEXT_ESCBUF];
	size_t n, cap, need;
	uint8_t pick;

	if (size < 1 || size > TEXT_MAX + 1)
		return 0;
	pick = data[0];
	n = size - 1;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	check_numbers(s, n, pick);
	check_prefix(s, n);
	check_rate(s);
	check_unescape(s, pick % 64);
	check_unescape(s, sizeof out);
	need = escaped_len(s, n, 0);
	cap = 4 + pick % 61;
	check_escaped(text_escape_to(out, cap, s, n), cap, s, n, 0, need + 4 <= cap);
	check_escaped(text_escape_to(out, sizeof out, s, n), sizeof out, s, n, 0,
	    need + 4 <= sizeof out);
	check_escaped(text_escape(buf, s, n), sizeof buf, s, n, 0, n <= TEXT_ESCMAX);
	check_escaped(text_escape_field(buf, s, n), sizeof buf, s, n, 1, n <= TEXT_ESCMAX);
	return 0;
}

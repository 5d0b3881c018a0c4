/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_TEXT_H
#define INETKIT_TEXT_H

#include <stddef.h>

/*
 * The leaf under every other module: reading numbers, rates and escapes
 * out of text, and escaping bytes for a log line. It depends on nothing but
 * libc, and, like the rest of the lower layer, logs nothing: a call returns
 * a result, and where it can fail for more than one reason, a reason.
 */

/*
 * Unsigned decimal numbers. A number is digits only: no sign, no space, no
 * "0x", never empty, and a value past unsigned long long (or past max) is
 * refused, never cut. Leading zeros are read ("007" is 7), unless
 * TEXT_UINT_NOPAD is given (then "0" is, "07" is not: the PROXY protocol's
 * ports). text_uint_n reads exactly s[0..n), which need not be
 * NUL-terminated, and leaves errno alone; text_uint reads a C string, and
 * sets errno to ERANGE when it refuses one.
 */
enum { TEXT_UINT_NOPAD = 1 };

int text_uint_n(const char *s, size_t n, unsigned flags, unsigned long long min,
    unsigned long long max, unsigned long long *out);
int text_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);
/*
 * The run of digits s[0..n) starts with, for a number inside other text (a
 * regex interval, a hash's cost): returns its length (0: none, *out 0), and
 * its value in *out, ULLONG_MAX if larger: a number too large to count is
 * over every limit.
 */
size_t text_uint_prefix(const char *s, size_t n, unsigned long long *out);

/* "N/SECS": N connections (1 to TEXT_RATE_N_MAX) per SECS seconds (1 to TEXT_RATE_SECS_MAX). */
#define TEXT_RATE_N_MAX 1000000UL
#define TEXT_RATE_SECS_MAX 86400UL

int text_rate(const char *s, unsigned long *n, unsigned long *secs);

/*
 * Text with the C escapes \r \n \t \\ and \xHH decoded into out (cap
 * bytes, not terminated: the text may hold any byte); -1 with *why if an
 * escape is bad or the text is longer than cap.
 */
int text_unescape(const char *s, char *out, size_t cap, size_t *len, const char **why);

/*
 * Bytes made safe for a log line: %XX for control bytes, DEL, non-ASCII
 * and '%' itself; "..." ends the result if the bytes did not fit whole.
 * text_escape_to fills out[cap] (cap >= 4); text_escape and
 * text_escape_field keep at most TEXT_ESCMAX bytes of s, in a buffer of
 * TEXT_ESCBUF. text_escape_field also escapes what delimits a record's
 * fields (space, '"', '\'', '=' and '\\'): a client's bytes as one field
 * value (user=, a header's bytes) cannot end the field early or plant
 * another ("x from 10.9.9.9 status=0"). Each returns out.
 */
#define TEXT_ESCMAX 256			/* client bytes kept in one escaped string */
#define TEXT_ESCBUF (TEXT_ESCMAX * 3 + 4)	/* %XX each, "..." and NUL */

const char *text_escape_to(char *out, size_t cap, const char *s, size_t len);
const char *text_escape(char out[TEXT_ESCBUF], const char *s, size_t len);
const char *text_escape_field(char out[TEXT_ESCBUF], const char *s, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
#include <crypt.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <md5.h>
#include <sha1.h>

#include "auth.h"
#include "htpasswd.h"
#include "text.h"

#define APR1_MAGIC "$apr1$"
#define APR1_SALT_MAX 8
#define APR1_MAX (sizeof APR1_MAGIC - 1 + APR1_SALT_MAX + 1 + 22)
#define SHA_MAGIC "{SHA}"
#define SHA_MAX (sizeof SHA_MAGIC - 1 + 28)

static const char itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* libxcrypt's scratch space is 32 KiB: one, wiped after every use. */
static struct crypt_data cdata;

static int
has_prefix(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);

	return n >= k && memcmp(s, p, k) == 0;
}

static char *
to64(char *out, unsigned long v, int n)
{
	while (n-- > 0) {
		*out++ = itoa64[v & 0x3f];
		v >>= 6;
	}
	return out;
}

/*
 * Apache's $apr1$: the FreeBSD MD5-crypt construction with its own magic
 * string (apr_md5_encode). out gets "$apr1$salt$" and 22 characters.
 */
static size_t
apr1(char out[APR1_MAX + 1], const char *pw, size_t plen, const char *salt, size_t slen)
{
	static const size_t order[5][3] = {
		{ 0, 6, 12 }, { 1, 7, 13 }, { 2, 8, 14 }, { 3, 9, 15 }, { 4, 10, 5 } };
	const uint8_t *p = (const uint8_t *)pw, *s = (const uint8_t *)salt;
	uint8_t fin[MD5_DIGEST_LENGTH];
	MD5_CTX ctx, alt;
	size_t i, k, ml = sizeof APR1_MAGIC - 1;
	char *o;

	if (slen > APR1_SALT_MAX)
		slen = APR1_SALT_MAX;
	MD5Init(&ctx);
	MD5Update(&ctx, p, plen);
	MD5Update(&ctx, (const uint8_t *)APR1_MAGIC, ml);
	MD5Update(&ctx, s, slen);
	MD5Init(&alt);
	MD5Update(&alt, p, plen);
	MD5Update(&alt, s, slen);
	MD5Update(&alt, p, plen);
	MD5Final(fin, &alt);
	for (k = plen; k > 0; k -= k > MD5_DIGEST_LENGTH ? MD5_DIGEST_LENGTH : k)
		MD5Update(&ctx, fin, k > MD5_DIGEST_LENGTH ? MD5_DIGEST_LENGTH : k);
	explicit_bzero(fin, sizeof fin);
	/* Odd, historical, and part of the format: a zero byte or the password's first. */
	for (k = plen; k; k >>= 1)
		MD5Update(&ctx, (k & 1) ? fin : p, 1);
	MD5Final(fin, &ctx);
	/* A thousand rounds to slow down guessing. */
	for (i = 0; i < 1000; i++) {
		MD5Init(&ctx);
		if (i & 1)
			MD5Update(&ctx, p, plen);
		else
			MD5Update(&ctx, fin, MD5_DIGEST_LENGTH);
		if (i % 3)
			MD5Update(&ctx, s, slen);
		if (i % 7)
			MD5Update(&ctx, p, plen);
		if (i & 1)
			MD5Update(&ctx, fin, MD5_DIGEST_LENGTH);
		else
			MD5Update(&ctx, p, plen);
		MD5Final(fin, &ctx);
	}
	memcpy(out, APR1_MAGIC, ml);
	memcpy(out + ml, salt, slen);
	o = out + ml + slen;
	*o++ = '$';
	for (i = 0; i < 5; i++)
		o = to64(o, (unsigned long)fin[order[i][0]] << 16
		    | (unsigned long)fin[order[i][1]] << 8 | fin[order[i][2]], 4);
	o = to64(o, fin[11], 2);
	*o = '\0';
	explicit_bzero(fin, sizeof fin);
	explicit_bzero(&ctx, sizeof ctx);
	explicit_bzero(&alt, sizeof alt);
	return (size_t)(o - out);
}

/* Apache's {SHA}: base64 of the unsalted SHA-1 of the password. */
static size_t
sha(char out[SHA_MAX + 1], const char *pw, size_t plen)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t d[SHA1_DIGEST_LENGTH + 1];
	SHA1_CTX ctx;
	size_t i;
	char *o = out + sizeof SHA_MAGIC - 1;

	SHA1Init(&ctx);
	SHA1Update(&ctx, (const uint8_t *)pw, plen);
	SHA1Final(d, &ctx);
	d[SHA1_DIGEST_LENGTH] = 0;
	memcpy(out, SHA_MAGIC, sizeof SHA_MAGIC - 1);
	/* 20 bytes: six whole groups of three, then two bytes and one '='. */
	for (i = 0; i < SHA1_DIGEST_LENGTH; i += 3) {
		unsigned long v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8
		    | (i + 2 < SHA1_DIGEST_LENGTH ? d[i + 2] : 0);

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = i + 2 < SHA1_DIGEST_LENGTH ? b64[v & 63] : '=';
	}
	*o = '\0';
	explicit_bzero(d, sizeof d);
	explicit_bzero(&ctx, sizeof ctx);
	return (size_t)(o - out);
}

static int
des_alphabet(const char *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memchr(itoa64, h[i], sizeof itoa64 - 1))
			return 0;
	return 1;
}

/* The value of one character of crypt's base 64, 64 if it is none. */
static uint32_t
a64(char c)
{
	const char *p = memchr(itoa64, c, sizeof itoa64 - 1);

	return p ? (uint32_t)(p - itoa64) : 64;
}

/* The decimal number at s, saturating; s must start with a digit. */
static unsigned long
number(const char *s, const char *end)
{
	unsigned long long v;

	text_uint_prefix(s, (size_t)(end - s), &v);
	return v > ULONG_MAX ? ULONG_MAX : (unsigned long)v;
}

static int
digit(const char *s, const char *end)
{
	return s < end && *s >= '0' && *s <= '9';
}

/* Saturating: a cost too large to count is over every limit. */
static uint64_t
mul(uint64_t a, uint64_t b)
{
	if (a == 0 || b <= UINT64_MAX / a)
		return a * b;
	return UINT64_MAX;
}

static uint64_t
add(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/*
 * The work a hash may ask for. A hash cannot be interrupted, not even by
 * --session-timeout or SIGTERM, and an unknown user's login computes the
 * file's first computable entry (burn()), so one entry asking for minutes
 * would hold every such login for minutes. Hence one row per format that
 * libxcrypt verifies (4.4.33, Debian 12: lib/hashes.conf, in the order its
 * crypt_rn() matches prefixes), plus our $apr1$ and {SHA}: how the cost is
 * read, in each format's own libxcrypt parser, and its limit. A hash in no
 * row, over its row's limit, or whose cost cannot be read is never computed.
 *
 * The limits keep every computable hash near or under the time of bcrypt
 * cost 17 (Apache's own maximum) and under 257 MiB. One crypt_rn() at or
 * near each limit, measured on this machine (a 2-core AMD EPYC VM, median
 * of 3 at a quiet moment; other tenants make runs vary by about 20%):
 *
 *   bcrypt cost 17				6.0 s
 *   $6$ / $5$ rounds=10000000			2.1 s / 3.1 s
 *   $sha1$ 10000000 iterations			5.7 s
 *   $md5 rounds=5000000			6.0 s (10000000 took 11.6 s: halved)
 *   BSDi 10000000 rounds			1.1 s (its most, 16777215: 1.7 s)
 *   yescrypt, gost-yescrypt 256 MiB (-R 9)	0.3 s
 *   yescrypt 256 MiB, t=15 (3.75 GiB mixed)	2.1 s; its WORM flavour, t=14: 5.0 s
 *   scrypt 256 MiB (-R 9)			0.7 s
 *   scrypt 256 MiB, p=7 (3.5 GiB mixed)		4.4 s; r=1, p=1677721 (205 MiB of B): 4.9 s
 *
 * So 4 GiB mixed is about bcrypt 17's time in classic scrypt, the slowest
 * mixing (yescrypt's own mode mixes about 2.5 times faster). 257 MiB is
 * yescrypt's and scrypt's cost 9 (256 MiB) with its buffers; cost 10 and
 * 11 (512 MiB and 1 GiB: 0.6 and 1.2 s, scrypt 1.4 and 2.9 s) are refused
 * for their memory alone: a socket unit serves up to 32 connections
 * (MaxConnections), 8 GiB at 257 MiB each, 32 GiB at 1 GiB.
 * BSDi's count could go to its maximum within the time; it shares the
 * limit of the other counts instead.
 */
struct format {
	const char *prefix;
	const char *name;
	size_t len;	/* the exact length, where no '$' tells a hash from a password */
	/* 1 and why if over the row's limit or unreadable; NULL: the cost is fixed */
	int (*over)(const struct format *, const char *, size_t, char *, size_t);
	unsigned long max;	/* the limit of a count */
};

static int bcrypt_over(const struct format *, const char *, size_t, char *, size_t);
static int shacrypt_over(const struct format *, const char *, size_t, char *, size_t);
static int sha1crypt_over(const struct format *, const char *, size_t, char *, size_t);
static int sunmd5_over(const struct format *, const char *, size_t, char *, size_t);
static int bsdi_over(const struct format *, const char *, size_t, char *, size_t);
static int yescrypt_over(const struct format *, const char *, size_t, char *, size_t);
static int scrypt_over(const struct format *, const char *, size_t, char *, size_t);

static const struct format formats[] = {
	{ APR1_MAGIC, "apr1", 0, NULL, 0 },		/* 1000 MD5 rounds */
	{ SHA_MAGIC, "SHA-1", 0, NULL, 0 },		/* one SHA-1 */
	{ "$y$", "yescrypt", 0, yescrypt_over, 0 },	/* memory and mixing, below */
	{ "$gy$", "gost-yescrypt", 0, yescrypt_over, 0 },	/* yescrypt, then two HMACs */
	{ "$7$", "scrypt", 0, scrypt_over, 0 },
	{ "$2b$", "bcrypt", 0, bcrypt_over, HTPASSWD_BCRYPT_COST_MAX },	/* 2^cost rounds */
	{ "$2y$", "bcrypt", 0, bcrypt_over, HTPASSWD_BCRYPT_COST_MAX },
	{ "$2a$", "bcrypt", 0, bcrypt_over, HTPASSWD_BCRYPT_COST_MAX },
	{ "$2x$", "bcrypt", 0, bcrypt_over, HTPASSWD_BCRYPT_COST_MAX },
	{ "$6$", "SHA-512 crypt", 0, shacrypt_over, HTPASSWD_ROUNDS_MAX },	/* default 5000 */
	{ "$5$", "SHA-256 crypt", 0, shacrypt_over, HTPASSWD_ROUNDS_MAX },
	{ "$sha1", "sha1crypt", 0, sha1crypt_over, HTPASSWD_ROUNDS_MAX },
	{ "$md5", "sunmd5", 0, sunmd5_over, HTPASSWD_SUNMD5_ROUNDS_MAX },	/* 4096 + rounds */
	{ "$1$", "md5crypt", 0, NULL, 0 },		/* 1000 MD5 rounds */
	{ "$3$", "NT hash", 0, NULL, 0 },		/* one MD4 */
	{ "_", "BSDi DES", 20, bsdi_over, HTPASSWD_ROUNDS_MAX },	/* 24-bit count */
	/* 25 DES rounds. libxcrypt's bigcrypt (13 + 11n characters) reads as plain text. */
	{ "", "DES", 13, NULL, 0 },
};

/* The row h is in, or NULL: plain text, or a '$' format we do not know. */
static const struct format *
format_of(const char *h, size_t n)
{
	const struct format *f;
	size_t k;

	for (f = formats; f < formats + sizeof formats / sizeof formats[0]; f++) {
		k = strlen(f->prefix);
		if (!has_prefix(h, n, f->prefix))
			continue;
		if (!f->len || (n == f->len && des_alphabet(h + k, n - k)))
			return f;
	}
	return NULL;
}

static int
unreadable(const struct format *f, char *why, size_t len)
{
	snprintf(why, len, "%s cost unreadable", f->name);
	return 1;
}

static int
count_over(const struct format *f, unsigned long v, char *why, size_t len)
{
	if (v <= f->max)
		return 0;
	snprintf(why, len, "%lu%s rounds over the limit of %lu", v, v == ULONG_MAX ? " or more" : "",
	    f->max);
	return 1;
}

/* "$2y$NN$", two digits, as BF_crypt() reads them. */
static int
bcrypt_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	unsigned long v;

	if (n < 7 || !digit(h + 4, h + n) || !digit(h + 5, h + n) || h[6] != '$')
		return unreadable(f, why, len);
	v = number(h + 4, h + 6);
	if (v <= f->max)
		return 0;
	snprintf(why, len, "bcrypt cost %lu over the limit of %lu", v, f->max);
	return 1;
}

/* "$6$rounds=N$", else the default 5000. */
static int
shacrypt_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	const char *r = h + 3 + sizeof "rounds=" - 1, *end = h + n;

	if (!has_prefix(h + 3, n - 3, "rounds="))
		return 0;
	return digit(r, end) ? count_over(f, number(r, end), why, len) : unreadable(f, why, len);
}

/*
 * "$sha1$N$": libxcrypt reads N with strtoul(), which takes a sign, so
 * "-1" would be 2^64 - 1 iterations; only digits are read here.
 */
static int
sha1crypt_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	if (n < 7 || h[5] != '$' || !digit(h + 6, h + n))
		return unreadable(f, why, len);
	return count_over(f, number(h + 6, h + n), why, len);
}

/* "$md5,rounds=N$" or, for bug-compatibility, "$md5$rounds=N$"; else 4096 rounds. */
static int
sunmd5_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	const char *r = h + 5 + sizeof "rounds=" - 1, *end = h + n;

	if (n < 5 || (h[4] != '$' && h[4] != ','))
		return unreadable(f, why, len);
	if (!has_prefix(h + 5, n - 5, "rounds="))
		return 0;
	return digit(r, end) ? count_over(f, number(r, end), why, len) : unreadable(f, why, len);
}

/* "_" and the count in four characters, least significant first. */
static int
bsdi_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	unsigned long v = 0;
	int i;

	(void)n;
	for (i = 0; i < 4; i++)
		v |= (unsigned long)a64(h[1 + i]) << (6 * i);
	return count_over(f, v, why, len);
}

/* scrypt's and yescrypt's parameters, as yescrypt_r() hands them to yescrypt_kdf(). */
struct memhard {
	uint64_t n;
	uint32_t r, p, t;
	int rw;		/* yescrypt's own mode; else classic scrypt, or yescrypt's WORM */
};

/*
 * What yescrypt_kdf_body() allocates and mixes (libxcrypt
 * alg-yescrypt-opt.c): V, 128 r N bytes, the memory-hard array, passed over
 * 4/3 times in yescrypt's mode (5/3 with t = 1, t with more), plus 1/48
 * for its pre-hash, and in classic mode twice (2.5 times, counted 8/3,
 * with t = 1; t + 1 with more) for each of the p lanes, which run one
 * after the other over the one V (libxcrypt's build has no OpenMP);
 * B, 128 r p bytes, which PBKDF2-SHA256 fills at about 12 times the cost
 * of mixing a byte (measured), twice in yescrypt's mode; XY, 256 r bytes;
 * and in yescrypt's mode S, 12352 bytes a lane, filled twice.
 */
static int
memhard_over(const struct format *f, const struct memhard *m, char *why, size_t len)
{
	uint64_t v = mul(mul(128, m->r), m->n), b = mul(mul(128, m->r), m->p);
	uint64_t lanes = m->rw ? 1 : m->p, s = m->rw ? mul(12352, m->p) : 0;
	uint64_t thirds, mem, work;

	if (m->rw)
		thirds = m->t == 0 ? 4 : m->t == 1 ? 5 : mul(3, m->t);
	else
		thirds = add(3, m->t == 0 ? 3 : m->t == 1 ? 5 : mul(3, m->t));
	mem = add(add(v, b), add(mul(256, m->r), s));
	work = add(mul(mul(v, lanes), thirds) / 3, add(mul(m->rw ? 24 : 12, b), mul(2, s)));
	if (m->rw)
		work = add(work, v / 48);
	if (mem > HTPASSWD_MEM_MAX) {
		snprintf(why, len, "%s needs %llu MiB of memory, over the limit of %llu MiB",
		    f->name, (unsigned long long)(mem >> 20) + !!(mem & 0xfffff),
		    HTPASSWD_MEM_MAX >> 20);
		return 1;
	}
	if (work > HTPASSWD_WORK_MAX) {
		snprintf(why, len, "%s mixes %llu MiB of memory, over the limit of %llu MiB",
		    f->name, (unsigned long long)(work >> 20) + !!(work & 0xfffff),
		    HTPASSWD_WORK_MAX >> 20);
		return 1;
	}
	return 0;
}

/* libxcrypt's decode64_uint32(): yescrypt's numbers, one to six characters. */
static const char *
y64(const char *s, const char *end, uint32_t min, uint32_t *v)
{
	uint32_t start = 0, top = 47, chars = 1, bits = 0, c;

	if (s >= end || (c = a64(*s++)) > 63)
		return NULL;
	*v = min;
	while (c > top) {
		*v += (top + 1 - start) << bits;
		start = top + 1;
		top = start + (62 - top) / 2;
		chars++;
		bits += 6;
	}
	*v += (c - start) << bits;
	while (--chars) {
		if (s >= end || (c = a64(*s++)) > 63)
			return NULL;
		bits -= 6;
		*v += c << bits;
	}
	return s;
}

/*
 * "$y$" (or "$gy$"), then yescrypt_r()'s fields: flavour (0 classic, 1 WORM,
 * 2 and up yescrypt's own), log2 N, r; then, if no '$' follows, a mask of
 * the optional p, t, g and NROM. libxcrypt refuses g and NROM (hash
 * upgrades, and a ROM it is never given); they are refused here too.
 */
static int
yescrypt_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	const char *s = h + strlen(f->prefix), *end = h + n;
	struct memhard m = { .p = 1 };
	uint32_t flavour, log2n, have = 0;

	if (!(s = y64(s, end, 0, &flavour)) || flavour > 2 + 0xff
	    || !(s = y64(s, end, 1, &log2n)) || log2n > 63 || !(s = y64(s, end, 1, &m.r)))
		return unreadable(f, why, len);
	if (s < end && *s != '$' && !(s = y64(s, end, 1, &have)))
		return unreadable(f, why, len);
	if (((have & 1) && !(s = y64(s, end, 2, &m.p))) || ((have & 2) && !(s = y64(s, end, 1, &m.t))))
		return unreadable(f, why, len);
	if (have & 12) {
		snprintf(why, len, "%s upgrade or ROM parameter, never computed", f->name);
		return 1;
	}
	if (s >= end || *s != '$')
		return unreadable(f, why, len);
	m.n = (uint64_t)1 << log2n;
	m.rw = flavour >= 2;
	return memhard_over(f, &m, why, len);
}

/* "$7$", log2 N in one character, then r and p in five each, least significant first. */
static int
scrypt_over(const struct format *f, const char *h, size_t n, char *why, size_t len)
{
	struct memhard m = { 0 };
	uint32_t c, r = 0, p = 0;
	int i;

	if (n < 14 || (c = a64(h[3])) < 1 || c > 63)
		return unreadable(f, why, len);
	for (i = 0; i < 5; i++) {
		if (a64(h[4 + i]) > 63 || a64(h[9 + i]) > 63)
			return unreadable(f, why, len);
		r |= a64(h[4 + i]) << (6 * i);
		p |= a64(h[9 + i]) << (6 * i);
	}
	m.n = (uint64_t)1 << c;
	m.r = r;
	m.p = p;
	return memhard_over(f, &m, why, len);
}

/*
 * 1 (and why) if the hash is never computed: over its row's limit, its
 * cost unreadable, or in a '$' format with no row. Plain text gets 0: it
 * is never computed either, but is no format (verify() says -1).
 */
int
htpasswd_uncomputable(const char *h, size_t n, char *why, size_t len)
{
	const struct format *f = format_of(h, n);

	if (f)
		return f->over && f->over(f, h, n, why, len);
	if (n && h[0] == '$') {
		snprintf(why, len, "hash format not in the table of work limits");
		return 1;
	}
	return 0;
}

/* 1 if pass matches hash, 0 if not, -1 if hash is in no supported format or is never computed. */
static int
verify(const char *pass, size_t plen, const char *hash, size_t hlen)
{
	char out[APR1_MAX + SHA_MAX + 2];
	char setting[HTPASSWD_HASH_MAX + 1];
	const char *r;
	size_t n;
	int ok;

	if (!format_of(hash, hlen) || hlen > HTPASSWD_HASH_MAX
	    || htpasswd_uncomputable(hash, hlen, setting, sizeof setting))
		return -1;
	if (has_prefix(hash, hlen, APR1_MAGIC)) {
		const char *salt = hash + sizeof APR1_MAGIC - 1;
		const char *end = memchr(salt, '$', hlen - (size_t)(salt - hash));

		n = apr1(out, pass, plen, salt, end ? (size_t)(end - salt)
		    : hlen - (size_t)(salt - hash));
		ok = auth_equal(out, n, hash, hlen);
		explicit_bzero(out, sizeof out);
		return ok;
	}
	if (has_prefix(hash, hlen, SHA_MAGIC)) {
		n = sha(out, pass, plen);
		ok = auth_equal(out, n, hash, hlen);
		explicit_bzero(out, sizeof out);
		return ok;
	}
	if (memchr(pass, '\0', plen))
		return -1;
	/* libxcrypt refuses such a phrase; Apache's htpasswd stops at 256 bytes. */
	if (plen >= CRYPT_MAX_PASSPHRASE_SIZE)
		return 0;
	/* crypt_rn() wants C strings: pass is NUL-terminated by its caller. */
	memcpy(setting, hash, hlen);
	setting[hlen] = '\0';
	memset(&cdata, 0, sizeof cdata);
	r = crypt_rn(pass, setting, &cdata, (int)sizeof cdata);
	if (!r || r[0] == '*')
		ok = -1;
	else
		ok = auth_equal(r, strlen(r), hash, hlen);
	explicit_bzero(&cdata, sizeof cdata);
	return ok;
}

/* One line without its LF; -1 at end of file. *over: longer than cap - 1, rest skipped. */
static long
read_line(FILE *f, char *buf, size_t cap, int *over)
{
	size_t n = 0;
	int ch;

	*over = 0;
	while ((ch = getc_unlocked(f)) != EOF && ch != '\n') {
		if (n + 1 < cap)
			buf[n++] = (char)ch;
		else
			*over = 1;
	}
	if (ch == EOF && n == 0 && !*over)
		return -1;
	buf[n] = '\0';
	return (long)n;
}

struct entry {
	char hash[HTPASSWD_HASH_MAX + 1];
	size_t len;
	unsigned long line;
};

/* Notes a bad line, the first HTPASSWD_REPORT_MAX of a scan; *nbad counts them all. */
static void
malformed(const struct auth_conv *conv, const char *path, unsigned long line, const char *what,
    unsigned long *nbad)
{
	char msg[AUTH_WHY_MAX + 256];

	if ((*nbad)++ >= HTPASSWD_REPORT_MAX)
		return;
	snprintf(msg, sizeof msg, "htpasswd file %.200s line %lu: %s; line skipped", path, line,
	    what);
	conv->note(conv->ctx, msg);
}

/*
 * Scans the whole file: the first entry for the user, and the first entry
 * in a verifiable format within the cost limits (the dummy an unknown user
 * is checked against, so that it costs what a real entry costs). Returns -1 with errno on a read
 * error.
 */
static int
scan(FILE *f, const char *path, const char *user, size_t ulen, int user_ok, struct entry *match,
    struct entry *dummy, const struct auth_conv *conv)
{
	static char line[HTPASSWD_LINE_MAX + 1];
	char why[80];
	unsigned long no = 0, nbad = 0;
	long n;
	int over, costly;

	while ((n = read_line(f, line, sizeof line, &over)) >= 0) {
		const char *colon, *hash, *end;
		size_t len = (size_t)n, hlen;

		no++;
		if (over) {
			snprintf(why, sizeof why, "longer than %d bytes", HTPASSWD_LINE_MAX);
			malformed(conv, path, no, why, &nbad);
			continue;
		}
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' '
		    || line[len - 1] == '\t'))
			len--;
		if (len == 0 || line[0] == '#')
			continue;
		if (memchr(line, '\0', len)) {
			malformed(conv, path, no, "NUL byte", &nbad);
			continue;
		}
		if (!(colon = memchr(line, ':', len))) {
			malformed(conv, path, no, "no colon after the user name", &nbad);
			continue;
		}
		if (colon == line) {
			malformed(conv, path, no, "empty user name", &nbad);
			continue;
		}
		/* As Apache's mod_authn_file: the hash ends at the next colon, if any. */
		hash = colon + 1;
		end = memchr(hash, ':', len - (size_t)(hash - line));
		hlen = (end ? end : line + len) - hash;
		if (hlen == 0) {
			malformed(conv, path, no, "empty hash", &nbad);
			continue;
		}
		if (hlen > HTPASSWD_HASH_MAX) {
			snprintf(why, sizeof why, "hash longer than %d bytes", HTPASSWD_HASH_MAX);
			malformed(conv, path, no, why, &nbad);
			continue;
		}
		costly = htpasswd_uncomputable(hash, hlen, why, sizeof why);
		if (costly)	/* noted, and kept as the user's entry, which then never matches */
			malformed(conv, path, no, why, &nbad);
		if (!dummy->len && !costly && format_of(hash, hlen)) {
			memcpy(dummy->hash, hash, hlen);
			dummy->hash[hlen] = '\0';
			dummy->len = hlen;
			dummy->line = no;
		}
		if (user_ok && !match->len && (size_t)(colon - line) == ulen
		    && memcmp(line, user, ulen) == 0) {
			memcpy(match->hash, hash, hlen);
			match->hash[hlen] = '\0';
			match->len = hlen;
			match->line = no;
		}
	}
	explicit_bzero(line, sizeof line);
	if (nbad > HTPASSWD_REPORT_MAX) {
		char msg[300];

		snprintf(msg, sizeof msg, "htpasswd file %.200s: %lu more bad lines skipped", path,
		    nbad - HTPASSWD_REPORT_MAX);
		conv->note(conv->ctx, msg);
	}
	return ferror(f) ? -1 : 0;
}

/* Spends what checking pass against a real entry would, and throws the answer away. */
static void
burn(const char *pass, size_t plen, const struct entry *dummy)
{
	char out[APR1_MAX + 1];

	if (dummy->len && verify(pass, plen, dummy->hash, dummy->len) >= 0)
		return;
	apr1(out, pass, plen, "inetkit0", 8);	/* no usable entry: Apache's default format */
	explicit_bzero(out, sizeof out);
}

/* Checks lg->user with the password; pass_ok is 0 when it was over the cap. */
static enum auth_result
check(const char *path, struct auth_login *lg, const char *pass, size_t plen, int pass_ok,
    const struct auth_conv *conv)
{
	static struct entry match, dummy;
	char why[80];
	int user_ok = auth_user_valid(lg->user, lg->user_len), v = -1, e;
	enum auth_result r = AUTH_DENIED;
	FILE *f;

	memset(&match, 0, sizeof match);
	memset(&dummy, 0, sizeof dummy);
	if (pass_ok && memchr(pass, '\0', plen))
		pass_ok = 0;
	if (!(f = fopen(path, "re"))) {
		snprintf(lg->why, sizeof lg->why, "unable to read htpasswd file %.200s: %s", path,
		    strerror(errno));
		return AUTH_UNAVAIL;
	}
	e = scan(f, path, lg->user, lg->user_len, user_ok, &match, &dummy, conv) < 0 ? errno : 0;
	fclose(f);
	if (e) {
		snprintf(lg->why, sizeof lg->why, "unable to read htpasswd file %.200s: %s", path,
		    strerror(e));
		r = AUTH_UNAVAIL;
		goto out;
	}
	if (match.len)
		v = verify(pass, plen, match.hash, match.len);
	if (v < 0)
		burn(pass, plen, &dummy);
	if (v == 1 && pass_ok) {
		memcpy(lg->user_final, lg->user, lg->user_len);
		lg->user_final[lg->user_len] = '\0';
		r = AUTH_OK;
	} else if (!user_ok) {
		auth_user_fault(lg);
	} else if (!pass_ok) {
		snprintf(lg->why, sizeof lg->why, "password over %d bytes or with a NUL byte",
		    AUTH_PASS_MAX);
	} else if (!match.len) {
		snprintf(lg->why, sizeof lg->why, "unknown user");
	} else if (v < 0 && htpasswd_uncomputable(match.hash, match.len, why, sizeof why)) {
		snprintf(lg->why, sizeof lg->why, "htpasswd file %.200s line %lu: %s", path,
		    match.line, why);
	} else if (v < 0) {
		snprintf(lg->why, sizeof lg->why, "htpasswd file %.200s line %lu: hash in no "
		    "supported format (plain text?)", path, match.line);
	} else {
		snprintf(lg->why, sizeof lg->why, "wrong password");
	}
out:
	explicit_bzero(&match, sizeof match);
	explicit_bzero(&dummy, sizeof dummy);
	return r;
}

enum auth_result
htpasswd_login(const char *path, struct auth_login *lg, const struct auth_conv *conv)
{
	struct auth_pass pw;
	enum auth_result r = AUTH_ABORTED;

	lg->why[0] = '\0';
	lg->user_final[0] = '\0';
	if (auth_ask_password(lg, conv, &pw))
		r = check(path, lg, pw.s, pw.len, pw.whole, conv);
	explicit_bzero(&pw, sizeof pw);
	return r;
}

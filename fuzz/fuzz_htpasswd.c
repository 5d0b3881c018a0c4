/* SPDX-License-Identifier: MIT */
/*
 * The htpasswd file parser and verify. Input: one byte of user length, one
 * of password length, the user, the password, then the file. Whatever the
 * file holds, a login is accepted only for a valid name whose first entry
 * (Apache's rules, parsed again here) is a hash in a known format that the
 * password matches, and never for a plain-text or malformed entry, nor
 * for one over the work limits. What a login logs is bounded.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sha1.h>

#include "../common/auth.h"
#include "../common/htpasswd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void
note(void *ctx, const char *msg)
{
	size_t *notes = ctx;

	if (strnlen(msg, AUTH_WHY_MAX + 256) == AUTH_WHY_MAX + 256)
		abort();
	(*notes)++;
}

static enum auth_answer
converse(void *ctx, enum auth_msg kind, const char *msg, char *ans, size_t cap, size_t *len)
{
	(void)ctx, (void)kind, (void)msg, (void)ans, (void)cap, (void)len;
	abort();	/* the htpasswd backend never prompts by itself */
}

static int
in64(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memchr(itoa64, s[i], sizeof itoa64 - 1))
			return 0;
	return 1;
}

/* What htpasswd.c may verify: a crypt-style hash, never plain text. */
static int
hash_format(const char *h, size_t n)
{
	return (n > 6 && memcmp(h, "$apr1$", 6) == 0) || (n > 5 && memcmp(h, "{SHA}", 5) == 0)
	    || (n > 1 && h[0] == '$') || (n == 13 && in64(h, n))
	    || (n == 20 && h[0] == '_' && in64(h + 1, n - 1));
}

static void
sha_b64(char out[29], const char *pw, size_t plen)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t d[SHA1_DIGEST_LENGTH + 1] = { 0 };
	SHA1_CTX ctx;
	size_t i, o = 0;

	SHA1Init(&ctx);
	SHA1Update(&ctx, (const uint8_t *)pw, plen);
	SHA1Final(d, &ctx);
	for (i = 0; i < SHA1_DIGEST_LENGTH; i += 3) {
		unsigned long v = (unsigned long)d[i] << 16 | (unsigned long)d[i + 1] << 8
		    | d[i + 2];

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = i + 2 < SHA1_DIGEST_LENGTH ? b64[v & 63] : '=';
	}
	out[o] = '\0';
}

/*
 * The first usable entry for user, as mod_authn_file reads the file: lines
 * end at LF, trailing CR, space and tab go, comments and malformed lines
 * are skipped. Returns the hash and its length, or NULL.
 */
static const char *
first_entry(const char *f, size_t n, const char *user, size_t ulen, size_t *hlen)
{
	const char *p = f, *end = f + n;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *le = lf ? lf : end, *colon, *h, *he;
		size_t len = (size_t)(le - p);

		if (len <= HTPASSWD_LINE_MAX) {
			while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
				len--;
			if (len && p[0] != '#' && !memchr(p, '\0', len)
			    && (colon = memchr(p, ':', len)) && colon != p) {
				h = colon + 1;
				he = memchr(h, ':', len - (size_t)(h - p));
				*hlen = (size_t)((he ? he : p + len) - h);
				if (*hlen && *hlen <= HTPASSWD_HASH_MAX && (size_t)(colon - p) == ulen
				    && memcmp(p, user, ulen) == 0)
					return h;
			}
		}
		p = le + 1;
	}
	return NULL;
}

/* The decimal number at p (saturating above 2^32), or -1 if there is none. */
static long long
decimal(const char *p, const char *end)
{
	long long v = -1;

	for (; p < end && *p >= '0' && *p <= '9'; p++)
		v = v < 0 ? *p - '0' : v > 1LL << 32 ? v : v * 10 + (*p - '0');
	return v;
}

/* A bcrypt setting, "$2?$NN$": its cost, else -1. */
static int
bcrypt_cost(const char *p, const char *end)
{
	if (end - p < 7 || p[0] != '$' || p[1] != '2' || !p[2] || !strchr("abxy", p[2])
	    || p[3] != '$' || p[4] < '0' || p[4] > '9' || p[5] < '0' || p[5] > '9' || p[6] != '$')
		return -1;
	return (p[4] - '0') * 10 + p[5] - '0';
}

/* The rounds a round-counted setting at p asks for, else -1. */
static long long
rounds(const char *p, const char *end)
{
	static const char *const pre[] = { "$5$rounds=", "$6$rounds=", "$md5,rounds=", "$sha1$" };
	size_t i, k;

	for (i = 0; i < sizeof pre / sizeof pre[0]; i++)
		if ((size_t)(end - p) >= (k = strlen(pre[i])) && memcmp(p, pre[i], k) == 0)
			return decimal(p + k, end);
	return -1;
}

/* Over the limits htpasswd.c sets on the work a hash may ask for (parsed again here). */
static int
over_limits(const char *h, size_t n)
{
	return bcrypt_cost(h, h + n) > HTPASSWD_BCRYPT_COST_MAX
	    || rounds(h, h + n) > (long long)HTPASSWD_ROUNDS_MAX;
}

/*
 * Settings whose cost is set by the file (bcrypt's log2 rounds, SHA-crypt
 * and extended DES rounds, yescrypt and scrypt parameters) can take seconds
 * or gigabytes within the limits, and the file is the administrator's:
 * inputs that ask for more than a cheap cost, but not more than the limits
 * (which htpasswd.c refuses without computing anything), are left out here.
 */
static int
costly(const char *f, size_t n)
{
	const char *p, *end = f + n;
	unsigned long count;
	long long v;
	size_t i;
	int c;

	if (memmem(f, n, "$y$", 3) || memmem(f, n, "$7$", 3) || memmem(f, n, "$gy$", 4))
		return 1;
	for (p = f; (p = memmem(p, (size_t)(end - p), "$2", 2)); p += 2)
		if ((c = bcrypt_cost(p, end)) < 0 || (c > 5 && c <= HTPASSWD_BCRYPT_COST_MAX))
			return 1;
	for (p = f; (p = memchr(p, '$', (size_t)(end - p))); p++)
		if ((v = rounds(p, end)) > 9999 && v <= (long long)HTPASSWD_ROUNDS_MAX)
			return 1;
	/* "rounds=" elsewhere, or "$sha1$" with no number: leave out what libxcrypt might read. */
	for (p = f; (p = memmem(p, (size_t)(end - p), "rounds=", 7)); p += 7)
		if (decimal(p + 7, end) > 9999 && (p < f + 3 || rounds(p - 3, end) < 0)
		    && (p < f + 5 || rounds(p - 5, end) < 0))
			return 1;
	for (p = f; (p = memmem(p, (size_t)(end - p), "$sha1$", 6)); p += 6)
		if (decimal(p + 6, end) < 0)
			return 1;
	for (p = f; (p = memchr(p, '_', (size_t)(end - p))); p++) {
		const char *d;

		for (count = 0, i = 0; i < 4 && p + 1 + i < end; i++) {
			if (!(d = memchr(itoa64, p[1 + i], sizeof itoa64 - 1)))
				break;
			count |= (unsigned long)(d - itoa64) << (6 * i);
		}
		if (count > 5000)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_login lg;
	size_t ulen, plen, notes = 0, hlen = 0;
	char user[AUTH_USER_MAX + 64], pass[AUTH_PASS_MAX + 64], path[64], sha[29];
	const struct auth_conv conv = { converse, note, &notes };
	const char *file, *h;
	enum auth_result r;
	int fd;

	if (size < 2)
		return 0;
	ulen = data[0] % (AUTH_USER_MAX + 8);
	plen = data[1];
	data += 2, size -= 2;
	if (ulen + plen > size)
		return 0;
	memcpy(user, data, ulen);
	memcpy(pass, data + ulen, plen);
	pass[plen] = '\0';
	file = (const char *)data + ulen + plen;
	size -= ulen + plen;
	if (costly(file, size))
		return 0;
	if ((fd = memfd_create("htpasswd", MFD_CLOEXEC)) < 0
	    || write(fd, file, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	memset(&lg, 0xa5, sizeof lg);
	lg.user = user;
	lg.user_len = ulen;
	r = htpasswd_login(path, &lg, pass, plen, plen <= AUTH_PASS_MAX, &conv);
	close(fd);
	if (r != AUTH_OK && r != AUTH_DENIED)
		abort();
	if (notes > HTPASSWD_REPORT_MAX + 1)
		abort();	/* a login logs eight bad lines and a count, however many */
	if (r == AUTH_DENIED && strnlen(lg.why, sizeof lg.why) == sizeof lg.why)
		abort();
	if (r != AUTH_OK)
		return 0;
	if (!auth_user_valid(user, ulen) || memchr(pass, '\0', plen)
	    || strlen(lg.user_final) != ulen || memcmp(lg.user_final, user, ulen) != 0)
		abort();
	h = first_entry(file, size, user, ulen, &hlen);
	if (!h || !hash_format(h, hlen) || over_limits(h, hlen))
		abort();
	if (hlen > 5 && memcmp(h, "{SHA}", 5) == 0) {
		sha_b64(sha, pass, plen);
		if (hlen != 33 || memcmp(h + 5, sha, 28) != 0)
			abort();
	}
	return 0;
}

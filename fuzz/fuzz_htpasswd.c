/* SPDX-License-Identifier: MIT */
/*
 * The htpasswd file parser and verify. Input: one byte of user length, one
 * of password length, the user, the password (the answer to the one prompt
 * the backend makes, "Password: "), then the file. Whatever the
 * file holds, a login is accepted only for a valid name whose first entry
 * (Apache's rules, parsed again here) is a hash in a known format that the
 * password matches, and never for a plain-text or malformed entry, nor
 * for one over the work limits. What a login logs is bounded. And every
 * entry that htpasswd_uncomputable() lets through is, by the work limits
 * parsed again here from libxcrypt's formats, in a known format and within
 * them: nothing over the limits, or unreadable, is ever computed.
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

/* The client of one login: its password, and what the backend said to it. */
struct client {
	const char *pass;
	size_t plen;
	size_t notes;
	int prompts;
};

static void
note(void *ctx, const char *msg)
{
	struct client *cl = ctx;

	if (strnlen(msg, AUTH_WHY_MAX + 256) == AUTH_WHY_MAX + 256)
		abort();
	cl->notes++;
}

/* The htpasswd backend prompts once, for the password, and says nothing else. */
static enum auth_answer
converse(void *ctx, enum auth_msg kind, const char *msg, char *ans, size_t cap, size_t *len)
{
	struct client *cl = ctx;

	if (cl->prompts++ || kind != AUTH_MSG_PROMPT_ECHO_OFF || strcmp(msg, "Password: ") != 0
	    || !ans || cap < cl->plen + 1)
		abort();
	memcpy(ans, cl->pass, cl->plen);
	ans[cl->plen] = '\0';
	*len = cl->plen;
	return AUTH_ANSWER_OK;
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

/*
 * The rounds a round-counted setting at p asks for, and in *max its limit;
 * -1 if p is no such setting, -2 if it is one whose count is no plain
 * number (which libxcrypt's strtoul() could read as 2^64 - 1).
 */
static long long
rounds(const char *p, const char *end, long long *max)
{
	static const struct {
		const char *pre;
		unsigned long max;
	} pre[] = {
		{ "$5$rounds=", HTPASSWD_ROUNDS_MAX }, { "$6$rounds=", HTPASSWD_ROUNDS_MAX },
		{ "$md5,rounds=", HTPASSWD_SUNMD5_ROUNDS_MAX },
		{ "$md5$rounds=", HTPASSWD_SUNMD5_ROUNDS_MAX }, { "$sha1$", HTPASSWD_ROUNDS_MAX },
	};
	size_t i, k;
	long long v;

	for (i = 0; i < sizeof pre / sizeof pre[0]; i++)
		if ((size_t)(end - p) >= (k = strlen(pre[i].pre)) && memcmp(p, pre[i].pre, k) == 0) {
			*max = (long long)pre[i].max;
			return (v = decimal(p + k, end)) < 0 ? -2 : v;
		}
	return -1;
}

/* The value of a character of crypt's base 64, 64 if none. */
static unsigned
b64val(char c)
{
	const char *d = c ? memchr(itoa64, c, sizeof itoa64 - 1) : NULL;

	return d ? (unsigned)(d - itoa64) : 64;
}

/*
 * yescrypt's variable-length numbers (decode64_uint32), by their classes:
 * a first character in 0..47 is the whole number; 48..55 takes one more
 * character, 56..59 two, 60..61 three, 62 four, 63 five, the rest
 * big-endian, each class after the values of the ones before.
 */
static const char *
ynum(const char *p, const char *end, unsigned long long min, unsigned long long *v)
{
	static const struct {
		unsigned first, more;
	} cls[] = { { 0, 0 }, { 48, 1 }, { 56, 2 }, { 60, 3 }, { 62, 4 }, { 63, 5 } };
	unsigned long long base = min, c;
	unsigned i, j, k;

	if (p >= end || (c = b64val(*p++)) > 63)
		return NULL;
	for (i = 0; i + 1 < sizeof cls / sizeof cls[0] && c >= cls[i + 1].first; i++)
		base += (unsigned long long)(cls[i + 1].first - cls[i].first) << (6 * cls[i].more);
	*v = base + ((c - cls[i].first) << (6 * cls[i].more));
	for (j = cls[i].more; j > 0; j--) {
		if (p >= end || (k = b64val(*p++)) > 63)
			return NULL;
		*v += (unsigned long long)k << (6 * (j - 1));
	}
	return p;
}

/*
 * The memory and mixing of scrypt's and yescrypt's parameters, as
 * htpasswd.c counts them (see memhard_over() there): 1 if over the limits.
 * Computed in 128 bits, with memory bounded before the mixing is.
 */
static int
memhard_over(unsigned long long n, unsigned long long r, unsigned long long p,
    unsigned long long t, int rw, unsigned __int128 *memp, unsigned __int128 *workp)
{
	unsigned __int128 v = (unsigned __int128)128 * r * n, b = (unsigned __int128)128 * r * p;
	unsigned __int128 lanes = rw ? 1 : p, s = rw ? (unsigned __int128)12352 * p : 0;
	unsigned __int128 thirds, mem, work;

	*memp = *workp = 0;
	if (r > 1ULL << 32 || p > 1ULL << 32 || n > 1ULL << 63)
		return 1;
	mem = v + b + (unsigned __int128)256 * r + s;
	*memp = mem;
	if (mem > HTPASSWD_MEM_MAX)
		return 1;
	if (rw)
		thirds = t == 0 ? 4 : t == 1 ? 5 : (unsigned __int128)3 * t;
	else
		thirds = 3 + (t == 0 ? 3 : t == 1 ? 5 : (unsigned __int128)3 * t);
	work = v * lanes * thirds / 3 + (rw ? 24 : 12) * b + 2 * s + (rw ? v / 48 : 0);
	*workp = work;
	return work > HTPASSWD_WORK_MAX;
}

/*
 * A scrypt or yescrypt setting at p: 1 if over the limits or unreadable
 * (g and NROM included: libxcrypt refuses them), 0 if within, -1 if p is
 * neither. *cheap: within, and a millisecond's work.
 */
static int
memhard(const char *p, const char *end, int *cheap)
{
	unsigned long long fl, ln, r, have = 0, pp = 1, t = 0;
	unsigned __int128 mem, work;
	const char *q;
	int over, i;

	*cheap = 0;
	if (end - p >= 3 && memcmp(p, "$7$", 3) == 0) {
		if (end - p < 14 || (ln = b64val(p[3])) < 1 || ln > 63)
			return 1;
		for (r = pp = 0, i = 0; i < 5; i++) {
			if (b64val(p[4 + i]) > 63 || b64val(p[9 + i]) > 63)
				return 1;
			r += (unsigned long long)b64val(p[4 + i]) << (6 * i);
			pp += (unsigned long long)b64val(p[9 + i]) << (6 * i);
		}
		over = memhard_over(1ULL << ln, r, pp, 0, 0, &mem, &work);
	} else if ((end - p >= 3 && memcmp(p, "$y$", 3) == 0)
	    || (end - p >= 4 && memcmp(p, "$gy$", 4) == 0)) {
		q = p + (p[1] == 'g' ? 4 : 3);
		if (!(q = ynum(q, end, 0, &fl)) || fl > 257 || !(q = ynum(q, end, 1, &ln)) || ln > 63
		    || !(q = ynum(q, end, 1, &r)))
			return 1;
		if (q < end && *q != '$' && !(q = ynum(q, end, 1, &have)))
			return 1;
		if ((have & 1) && !(q = ynum(q, end, 2, &pp)))
			return 1;
		if ((have & 2) && !(q = ynum(q, end, 1, &t)))
			return 1;
		if ((have & 12) || q >= end || *q != '$')
			return 1;
		over = memhard_over(1ULL << ln, r, pp, t, fl >= 2, &mem, &work);
	} else {
		return -1;
	}
	*cheap = !over && mem <= 1 << 20 && work <= 4 << 20;
	return over;
}

/* The BSDi extended DES count of "_CCCC...", else -1. */
static long
bsdi_count(const char *p, const char *end)
{
	long count = 0;
	int i;

	for (i = 0; i < 4; i++) {
		if (p + 1 + i >= end || b64val(p[1 + i]) > 63)
			return -1;
		count |= (long)b64val(p[1 + i]) << (6 * i);
	}
	return count;
}

/* A '$' format of libxcrypt's (or Apache's $apr1$): the rows of htpasswd.c's table. */
static int
known_format(const char *h, size_t n)
{
	static const char *const pre[] = { "$apr1$", "$y$", "$gy$", "$7$", "$2b$", "$2y$",
		"$2a$", "$2x$", "$6$", "$5$", "$sha1", "$md5", "$1$", "$3$" };
	size_t i, k;

	for (i = 0; i < sizeof pre / sizeof pre[0]; i++)
		if (n >= (k = strlen(pre[i])) && memcmp(h, pre[i], k) == 0)
			return 1;
	return 0;
}

/* Over the limits htpasswd.c sets on the work a hash may ask for (parsed again here). */
static int
over_limits(const char *h, size_t n)
{
	const char *end = h + n;
	long long v, max;
	int m, cheap;

	if (h[0] == '$' && !known_format(h, n))
		return 1;
	if (n >= 4 && h[0] == '$' && h[1] == '2' && h[2] && strchr("abxy", h[2]) && h[3] == '$')
		return bcrypt_cost(h, end) < 0 || bcrypt_cost(h, end) > HTPASSWD_BCRYPT_COST_MAX;
	if (n >= 5 && memcmp(h, "$sha1", 5) == 0 && (n < 7 || h[5] != '$' || decimal(h + 6, end) < 0))
		return 1;
	if (n >= 4 && memcmp(h, "$md5", 4) == 0 && (n < 5 || (h[4] != '$' && h[4] != ',')))
		return 1;
	if ((v = rounds(h, end, &max)) != -1)
		return v < 0 || v > max;
	if ((m = memhard(h, end, &cheap)) >= 0)
		return m;
	if (n == 20 && h[0] == '_' && in64(h + 1, n - 1))
		return bsdi_count(h, end) > (long)HTPASSWD_ROUNDS_MAX;
	return 0;
}

/*
 * Settings whose cost is set by the file (bcrypt's log2 rounds, SHA-crypt
 * and extended DES rounds, yescrypt and scrypt parameters) can take seconds
 * or gigabytes within the limits, and the file is the administrator's:
 * inputs that ask for more than a cheap cost, but not more than the limits
 * (which htpasswd.c refuses without computing anything), are left out here.
 * Anything that htpasswd.c computes, and this does not leave out, costs
 * little unless the two parsers disagree: a slow input is a finding.
 */
static int
costly(const char *f, size_t n)
{
	const char *p, *end = f + n;
	long long v, max;
	long count;
	int c, cheap;

	for (p = f; (p = memmem(p, (size_t)(end - p), "$2", 2)); p += 2)
		if ((c = bcrypt_cost(p, end)) > 5 && c <= HTPASSWD_BCRYPT_COST_MAX)
			return 1;
	for (p = f; (p = memchr(p, '$', (size_t)(end - p))); p++) {
		if ((v = rounds(p, end, &max)) > 9999 && v <= max)
			return 1;
		if (memhard(p, end, &cheap) == 0 && !cheap)
			return 1;
	}
	/* "rounds=" elsewhere: leave out what libxcrypt might read. */
	for (p = f; (p = memmem(p, (size_t)(end - p), "rounds=", 7)); p += 7)
		if (decimal(p + 7, end) > 9999 && (p < f + 3 || rounds(p - 3, end, &max) == -1)
		    && (p < f + 5 || rounds(p - 5, end, &max) == -1))
			return 1;
	for (p = f; (p = memchr(p, '_', (size_t)(end - p))); p++)
		if ((count = bsdi_count(p, end)) > 5000 && count <= (long)HTPASSWD_ROUNDS_MAX)
			return 1;
	return 0;
}

/*
 * Every entry of the file, as mod_authn_file reads it: whatever
 * htpasswd_uncomputable() lets through is within the limits parsed here,
 * and its reason for the rest is a bounded string.
 */
static void
check_entries(const char *f, size_t n)
{
	const char *p = f, *end = f + n;
	char why[80];

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *le = lf ? lf : end, *colon, *h, *he;
		size_t len = (size_t)(le - p), hlen;

		if (len <= HTPASSWD_LINE_MAX) {
			while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
				len--;
			if (len && p[0] != '#' && !memchr(p, '\0', len)
			    && (colon = memchr(p, ':', len)) && colon != p) {
				h = colon + 1;
				he = memchr(h, ':', len - (size_t)(h - p));
				hlen = (size_t)((he ? he : p + len) - h);
				memset(why, 0xa5, sizeof why);
				if (hlen && hlen <= HTPASSWD_HASH_MAX) {
					if (!htpasswd_uncomputable(h, hlen, why, sizeof why)) {
						if (hash_format(h, hlen) && over_limits(h, hlen))
							abort();
					} else if (!memchr(why, '\0', sizeof why)) {
						abort();
					}
				}
			}
		}
		p = le + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_login lg;
	size_t ulen, plen, hlen = 0;
	char user[AUTH_USER_MAX + 64], pass[AUTH_PASS_MAX + 64], path[64], sha[29];
	struct client cl = { pass, 0, 0, 0 };
	const struct auth_conv conv = { converse, note, &cl };
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
	cl.plen = plen;
	file = (const char *)data + ulen + plen;
	size -= ulen + plen;
	if (costly(file, size))
		return 0;
	check_entries(file, size);
	if ((fd = memfd_create("htpasswd", MFD_CLOEXEC)) < 0
	    || write(fd, file, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

	memset(&lg, 0xa5, sizeof lg);
	lg.user = user;
	lg.user_len = ulen;
	r = htpasswd_login(path, &lg, &conv);
	close(fd);
	if (r != AUTH_OK && r != AUTH_DENIED)
		abort();
	if (cl.prompts != 1)
		abort();	/* the password is asked for whatever the name */
	if (cl.notes > HTPASSWD_REPORT_MAX + 1)
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

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

/* Looks like a hash we can verify (as opposed to a plain-text password). */
static int
recognised(const char *h, size_t n)
{
	return has_prefix(h, n, APR1_MAGIC) || has_prefix(h, n, SHA_MAGIC)
	    || (n > 1 && h[0] == '$') || (n == 13 && des_alphabet(h, n))
	    || (n == 20 && h[0] == '_' && des_alphabet(h + 1, n - 1));
}

/* The decimal number at s, saturating; s must start with a digit. */
static unsigned long
number(const char *s, const char *end)
{
	unsigned long v = 0;

	for (; s < end && *s >= '0' && *s <= '9'; s++)
		v = v > (ULONG_MAX - 9) / 10 ? ULONG_MAX : v * 10 + (unsigned long)(*s - '0');
	return v;
}

/*
 * 1 (and why) if the hash asks for more work than HTPASSWD_BCRYPT_COST_MAX
 * or HTPASSWD_ROUNDS_MAX allow: such an entry would hold every login, and
 * every unknown user's through the dummy, for minutes or hours, past the
 * session timeout (a hash cannot be interrupted).
 */
int
htpasswd_too_costly(const char *h, size_t n, char *why, size_t len)
{
	const char *end = h + n, *r = NULL;
	unsigned long v;

	if (n >= 7 && h[0] == '$' && h[1] == '2' && h[2] && strchr("abxy", h[2]) && h[3] == '$'
	    && h[4] >= '0' && h[4] <= '9' && h[5] >= '0' && h[5] <= '9' && h[6] == '$') {
		v = number(h + 4, h + 6);
		if (v <= HTPASSWD_BCRYPT_COST_MAX)
			return 0;
		snprintf(why, len, "bcrypt cost %lu over the limit of %d", v,
		    HTPASSWD_BCRYPT_COST_MAX);
		return 1;
	}
	if (has_prefix(h, n, "$5$rounds=") || has_prefix(h, n, "$6$rounds="))
		r = h + 10;
	else if (has_prefix(h, n, "$md5,rounds="))
		r = h + 12;
	else if (has_prefix(h, n, "$sha1$"))
		r = h + 6;
	if (!r || r >= end || *r < '0' || *r > '9' || (v = number(r, end)) <= HTPASSWD_ROUNDS_MAX)
		return 0;
	snprintf(why, len, "%lu%s rounds over the limit of %lu", v, v == ULONG_MAX ? " or more" : "",
	    (unsigned long)HTPASSWD_ROUNDS_MAX);
	return 1;
}

int
htpasswd_verify(const char *pass, size_t plen, const char *hash, size_t hlen)
{
	char out[APR1_MAX + SHA_MAX + 2];
	char setting[HTPASSWD_HASH_MAX + 1];
	const char *r;
	size_t n;
	int ok;

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
	if (!recognised(hash, hlen) || hlen > HTPASSWD_HASH_MAX || memchr(pass, '\0', plen)
	    || htpasswd_too_costly(hash, hlen, setting, sizeof setting))
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
			malformed(conv, path, no, "longer than 8192 bytes", &nbad);
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
			malformed(conv, path, no, "hash longer than 512 bytes", &nbad);
			continue;
		}
		costly = htpasswd_too_costly(hash, hlen, why, sizeof why);
		if (costly)	/* noted, and kept as the user's entry, which then never matches */
			malformed(conv, path, no, why, &nbad);
		if (!dummy->len && !costly && recognised(hash, hlen)) {
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

	if (dummy->len && htpasswd_verify(pass, plen, dummy->hash, dummy->len) >= 0)
		return;
	apr1(out, pass, plen, "inetkit0", 8);	/* no usable entry: Apache's default format */
	explicit_bzero(out, sizeof out);
}

enum auth_result
htpasswd_login(const char *path, struct auth_login *lg, const char *pass, size_t plen,
    int pass_ok, const struct auth_conv *conv)
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
		v = htpasswd_verify(pass, plen, match.hash, match.len);
	if (v < 0)
		burn(pass, plen, &dummy);
	if (v == 1 && pass_ok) {
		memcpy(lg->user_final, lg->user, lg->user_len);
		lg->user_final[lg->user_len] = '\0';
		r = AUTH_OK;
	} else if (!user_ok) {
		snprintf(lg->why, sizeof lg->why, "%s", lg->user_len == 0 ? "empty user name"
		    : lg->user_len > AUTH_USER_MAX ? "user name over 256 bytes"
		    : "NUL byte in the user name");
	} else if (!pass_ok) {
		snprintf(lg->why, sizeof lg->why, "password over 512 bytes or with a NUL byte");
	} else if (!match.len) {
		snprintf(lg->why, sizeof lg->why, "unknown user");
	} else if (v < 0 && htpasswd_too_costly(match.hash, match.len, why, sizeof why)) {
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

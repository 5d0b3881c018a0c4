/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "htpasswd.h"
#include "pamauth.h"

/* A name a backend may look up: not empty, not over the cap, no NUL byte. */
int
auth_user_valid(const char *user, size_t len)
{
	return len > 0 && len <= AUTH_USER_MAX && !memchr(user, '\0', len);
}

/*
 * Compares in time that depends only on the lengths, never on where the
 * first difference is.
 */
int
auth_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	size_t i, n = alen > blen ? alen : blen;
	volatile unsigned char d = alen != blen;

	for (i = 0; i < n; i++)
		d |= (unsigned char)((i < alen ? x[i] : 0) ^ (i < blen ? y[i] : 0));
	return d == 0;
}

const char *
auth_result_name(enum auth_result r)
{
	static const char *const names[] = { "ok", "denied", "account expired",
	    "password expired", "account locked", "aborted", "unavailable" };

	return names[r];
}

enum auth_result
auth_login(const struct auth *a, struct auth_login *lg, const struct auth_conv *conv)
{
	char pass[AUTH_PASS_MAX + 1];
	size_t plen = 0;
	enum auth_answer ans;
	enum auth_result r;

	lg->why[0] = '\0';
	lg->user_final[0] = '\0';
	if (a->backend == AUTH_PAM && auth_user_valid(lg->user, lg->user_len))
		return pamauth_login(a->source, lg, conv);
	/*
	 * The htpasswd backend, and PAM for a name it must not see: the
	 * password is asked for all the same, so the reply never tells
	 * whether the name or the password was wrong.
	 */
	ans = conv->converse(conv->ctx, AUTH_MSG_PROMPT_ECHO_OFF, "Password: ", pass, sizeof pass,
	    &plen);
	if (ans == AUTH_ANSWER_GONE) {
		explicit_bzero(pass, sizeof pass);
		snprintf(lg->why, sizeof lg->why, "no answer at the password prompt");
		return AUTH_ABORTED;
	}
	if (a->backend == AUTH_HTPASSWD) {
		r = htpasswd_login(a->source, lg, pass, plen, ans == AUTH_ANSWER_OK, conv);
	} else {
		snprintf(lg->why, sizeof lg->why, "%s", lg->user_len == 0 ? "empty user name"
		    : lg->user_len > AUTH_USER_MAX ? "user name over 256 bytes"
		    : "NUL byte in the user name");
		r = AUTH_DENIED;
	}
	explicit_bzero(pass, sizeof pass);
	return r;
}

/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "auth.h"

int
auth_user_valid(const char *user, size_t len)
{
	return len > 0 && len <= AUTH_USER_MAX && !memchr(user, '\0', len);
}

void
auth_user_fault(struct auth_login *lg)
{
	if (lg->user_len == 0)
		snprintf(lg->why, sizeof lg->why, "empty user name");
	else if (lg->user_len > AUTH_USER_MAX)
		snprintf(lg->why, sizeof lg->why, "user name over %d bytes", AUTH_USER_MAX);
	else
		snprintf(lg->why, sizeof lg->why, "NUL byte in the user name");
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

int
auth_ask_password(struct auth_login *lg, const struct auth_conv *conv, struct auth_pass *pw)
{
	enum auth_answer ans;

	pw->s[0] = '\0';
	pw->len = 0;
	ans = conv->converse(conv->ctx, AUTH_MSG_PROMPT_ECHO_OFF, "Password: ", pw->s,
	    sizeof pw->s, &pw->len);
	if (ans != AUTH_ANSWER_OK)
		explicit_bzero(pw, sizeof *pw);	/* a discarded answer leaves nothing */
	pw->whole = ans == AUTH_ANSWER_OK;
	if (ans != AUTH_ANSWER_GONE)
		return 1;
	snprintf(lg->why, sizeof lg->why, "no answer at the password prompt");
	return 0;
}

enum auth_result
auth_deny_user(struct auth_login *lg, const struct auth_conv *conv)
{
	struct auth_pass pw;
	int answered = auth_ask_password(lg, conv, &pw);

	explicit_bzero(&pw, sizeof pw);
	if (!answered)
		return AUTH_ABORTED;
	auth_user_fault(lg);
	return AUTH_DENIED;
}

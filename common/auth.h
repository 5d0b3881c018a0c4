/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_AUTH_H
#define INETKIT_AUTH_H

#include <stddef.h>

/*
 * What every password login shares, below its backends (an Apache htpasswd
 * file, htpasswd.h; PAM, pamauth.h), which include this file and never the
 * other way round: the limits, the types of a login and of the
 * conversation with the client, the name check, the constant-time compare,
 * and the password prompt. The program reads the user name, then calls
 * the backend it chose; the backend asks for whatever it needs through the
 * program's conversation callback, so it never touches the connection and
 * never logs: it returns a result and a reason, and hands diagnostics to
 * the program.
 */
#define AUTH_USER_MAX 256		/* bytes of a user name */
#define AUTH_PASS_MAX 512		/* bytes of a password or any prompt answer */
#define AUTH_MSG_MAX 512		/* bytes of one PAM message relayed to the client */
#define AUTH_PROMPTS_MAX 16		/* PAM messages in one login */
#define AUTH_WHY_MAX 320		/* the reason, for the log */

enum auth_result {
	AUTH_OK,
	AUTH_DENIED,		/* wrong password, unknown user, unusable entry or name */
	AUTH_ACCT_EXPIRED,	/* PAM account management: the account has expired */
	AUTH_PASS_EXPIRED,	/* PAM account management: the password must be changed */
	AUTH_ACCT_LOCKED,	/* PAM account management refused otherwise */
	AUTH_ABORTED,		/* the client left (or timed out) in the conversation */
	AUTH_UNAVAIL,		/* the backend failed: unreadable file, PAM error */
};

enum auth_msg {
	AUTH_MSG_PROMPT_ECHO_OFF,	/* a prompt whose answer is secret */
	AUTH_MSG_PROMPT_ECHO_ON,
	AUTH_MSG_INFO,			/* a line for the client, no answer */
	AUTH_MSG_ERROR,
};

enum auth_answer {
	AUTH_ANSWER_OK,
	AUTH_ANSWER_LONG,	/* longer than the buffer: read to its end and discarded */
	AUTH_ANSWER_GONE,	/* no answer: end of input, timeout, reset */
};

/* Supplied by the program: how to talk to the client, and where diagnostics go. */
struct auth_conv {
	/*
	 * Shows msg. For a prompt, reads one answer line without its line
	 * end into ans (cap bytes, NUL-terminated; *len excludes the NUL,
	 * and the answer may hold NUL bytes).
	 */
	enum auth_answer (*converse)(void *ctx, enum auth_msg kind, const char *msg, char *ans,
	    size_t cap, size_t *len);
	/* A problem the administrator should see, e.g. a malformed file line. */
	void (*note)(void *ctx, const char *msg);
	void *ctx;
};

/* One login attempt: the name the client gave, and what came of it. */
struct auth_login {
	const char *user;		/* as sent: may hold NUL bytes, not terminated */
	size_t user_len;		/* > AUTH_USER_MAX means too long: the login fails */
	const char *rhost;		/* client address for PAM_RHOST, or NULL */
	const char *tty;		/* for PAM_TTY, or NULL */
	char user_final[AUTH_USER_MAX + 1];	/* on AUTH_OK: the name authenticated */
	char why[AUTH_WHY_MAX];		/* on failure: the reason, for the log only */
};

/* The answer at the password prompt. Its holder wipes it (explicit_bzero) when done. */
struct auth_pass {
	char s[AUTH_PASS_MAX + 1];	/* NUL-terminated; may hold NUL bytes */
	size_t len;			/* 0 when over the cap */
	int whole;			/* 0: over AUTH_PASS_MAX, discarded: the login fails */
};

/* 1 if a backend may look the name up: not empty, not over the cap, no NUL byte. */
int auth_user_valid(const char *user, size_t len);

/* Into lg->why: what is wrong with lg->user, a name auth_user_valid() refuses. */
void auth_user_fault(struct auth_login *lg);

/* 1 if equal, in time that depends only on the lengths. */
int auth_equal(const void *a, size_t alen, const void *b, size_t blen);

/*
 * Asks for the password ("Password: ", echo off) into pw. 0 if the client
 * gave no answer: the login is then AUTH_ABORTED, lg->why says so, and pw
 * is wiped.
 */
int auth_ask_password(struct auth_login *lg, const struct auth_conv *conv, struct auth_pass *pw);

/*
 * The login of a name no backend may see (auth_user_valid() refuses it):
 * the password is asked for all the same, so the reply never tells whether
 * the name or the password was wrong, and wiped. AUTH_DENIED with the
 * name's fault in lg->why, or AUTH_ABORTED.
 */
enum auth_result auth_deny_user(struct auth_login *lg, const struct auth_conv *conv);

#endif

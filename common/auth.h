/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_AUTH_H
#define INETKIT_AUTH_H

#include <stddef.h>

/*
 * Password login for line-protocol services, with two backends behind one
 * call: an Apache htpasswd file (htpasswd.h) and PAM (pamauth.h). The
 * program reads the user name; auth_login() then asks for whatever the
 * backend needs through the program's conversation callback, so the module
 * never touches the connection and never logs: it returns a result and a
 * reason, and hands diagnostics to the program.
 */
#define AUTH_USER_MAX 256		/* bytes of a user name */
#define AUTH_PASS_MAX 512		/* bytes of a password or any prompt answer */
#define AUTH_MSG_MAX 512		/* bytes of one PAM message relayed to the client */
#define AUTH_PROMPTS_MAX 16		/* PAM messages in one login */
#define AUTH_WHY_MAX 320		/* the reason, for the log */

enum auth_backend { AUTH_NONE, AUTH_HTPASSWD, AUTH_PAM };

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

struct auth {
	enum auth_backend backend;
	const char *source;		/* htpasswd file path or PAM service name */
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

enum auth_result auth_login(const struct auth *a, struct auth_login *lg,
    const struct auth_conv *conv);
int auth_user_valid(const char *user, size_t len);
int auth_equal(const void *a, size_t alen, const void *b, size_t blen);
const char *auth_result_name(enum auth_result r);

#endif

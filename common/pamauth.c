/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "auth.h"
#include "pamauth.h"

struct state {
	const struct auth_conv *conv;
	unsigned nmsg;			/* messages relayed so far in this login */
	int gone;			/* the client left in the conversation */
	int refused;			/* an answer was too long or held a NUL byte */
	int overrun;			/* more than AUTH_PROMPTS_MAX messages */
};

static void
free_responses(struct pam_response *r, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
}

/*
 * The conversation: each prompt goes to the client as it is (the module
 * writes "Password: ", not us) and its answer line comes back; info and
 * error messages become lines. Bounded: at most AUTH_PROMPTS_MAX messages
 * per login, AUTH_MSG_MAX bytes of each shown, AUTH_PASS_MAX of an answer.
 */
static int
converse(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata)
{
	struct state *st = appdata;
	struct pam_response *r;
	char text[AUTH_MSG_MAX + 1], ans[AUTH_PASS_MAX + 1];
	enum auth_answer a;
	enum auth_msg kind;
	size_t len;
	int i, prompts = 0;

	/* Some modules (pam_matrix) pass no resp for messages that need no answer. */
	if (resp)
		*resp = NULL;
	if (n <= 0 || n > PAM_MAX_NUM_MSG || !(r = calloc((size_t)n, sizeof *r)))
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		if (++st->nmsg > AUTH_PROMPTS_MAX) {
			st->overrun = 1;
			goto fail;
		}
		snprintf(text, sizeof text, "%s", msg[i]->msg ? msg[i]->msg : "");
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			if (!resp)
				goto fail;
			kind = msg[i]->msg_style == PAM_PROMPT_ECHO_ON ? AUTH_MSG_PROMPT_ECHO_ON
			    : AUTH_MSG_PROMPT_ECHO_OFF;
			len = 0;
			a = st->conv->converse(st->conv->ctx, kind, text, ans, sizeof ans, &len);
			if (a == AUTH_ANSWER_GONE) {
				st->gone = 1;
				goto fail;
			}
			if (a == AUTH_ANSWER_LONG || memchr(ans, '\0', len)) {
				st->refused = 1;
				explicit_bzero(ans, sizeof ans);
				goto fail;
			}
			prompts++;
			r[i].resp = strdup(ans);
			explicit_bzero(ans, sizeof ans);
			if (!r[i].resp)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			kind = msg[i]->msg_style == PAM_ERROR_MSG ? AUTH_MSG_ERROR : AUTH_MSG_INFO;
			if (st->conv->converse(st->conv->ctx, kind, text, NULL, 0, &len)
			    == AUTH_ANSWER_GONE) {
				st->gone = 1;
				goto fail;
			}
			break;
		default:		/* binary prompts have no place in a line protocol */
			goto fail;
		}
	}
	/*
	 * Messages alone need no responses: returning none spares the modules
	 * that never free them (pam_chatty), and libpam's pam_prompt() expects
	 * that.
	 */
	if (resp && prompts)
		*resp = r;
	else
		free_responses(r, n);
	return PAM_SUCCESS;
fail:
	free_responses(r, n);
	return PAM_CONV_ERR;
}

/* libpam would sleep on failure as modules ask; the program has its own delay. */
static void
no_delay(int status, unsigned delay, void *appdata)
{
	(void)status;
	(void)delay;
	(void)appdata;
}

static enum auth_result
why(struct auth_login *lg, enum auth_result r, const char *step, pam_handle_t *h, int rc)
{
	snprintf(lg->why, sizeof lg->why, "%s: %s", step, pam_strerror(h, rc));
	return r;
}

/* What a failed pam_authenticate() means: a refusal, or a system that cannot answer. */
static enum auth_result
auth_failure(int rc)
{
	switch (rc) {
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
	case PAM_PERM_DENIED:
	case PAM_CONV_ERR:
	case PAM_ABORT:
		return AUTH_DENIED;
	default:
		return AUTH_UNAVAIL;
	}
}

static enum auth_result
acct_failure(int rc)
{
	switch (rc) {
	case PAM_ACCT_EXPIRED:
		return AUTH_ACCT_EXPIRED;
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_AUTHTOK_EXPIRED:
		return AUTH_PASS_EXPIRED;
	case PAM_PERM_DENIED:
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
		return AUTH_ACCT_LOCKED;
	default:
		return AUTH_UNAVAIL;
	}
}

enum auth_result
pamauth_login(const char *service, struct auth_login *lg, const struct auth_conv *conv)
{
	struct state st = { .conv = conv };
	const struct pam_conv pc = { converse, &st };
	char user[AUTH_USER_MAX + 1];
	const void *item = NULL;
	pam_handle_t *h = NULL;
	enum auth_result r;
	int rc;

	lg->why[0] = '\0';
	lg->user_final[0] = '\0';
	if (!auth_user_valid(lg->user, lg->user_len))
		return auth_deny_user(lg, conv);
	memcpy(user, lg->user, lg->user_len);
	user[lg->user_len] = '\0';
	rc = pam_start(service, user, &pc, &h);
	if (rc != PAM_SUCCESS) {
		snprintf(lg->why, sizeof lg->why, "pam_start(%.64s): %s", service,
		    pam_strerror(h, rc));
		if (h)
			pam_end(h, rc);
		return AUTH_UNAVAIL;
	}
	if ((lg->rhost && (rc = pam_set_item(h, PAM_RHOST, lg->rhost)) != PAM_SUCCESS)
	    || (lg->tty && (rc = pam_set_item(h, PAM_TTY, lg->tty)) != PAM_SUCCESS)
	    || (rc = pam_set_item(h, PAM_FAIL_DELAY, (const void *)no_delay)) != PAM_SUCCESS) {
		r = why(lg, AUTH_UNAVAIL, "pam_set_item", h, rc);
		goto out;
	}
	rc = pam_authenticate(h, PAM_DISALLOW_NULL_AUTHTOK);
	if (rc != PAM_SUCCESS) {
		r = why(lg, auth_failure(rc), "pam_authenticate", h, rc);
		goto out;
	}
	rc = pam_acct_mgmt(h, PAM_DISALLOW_NULL_AUTHTOK);
	if (rc != PAM_SUCCESS) {
		r = why(lg, acct_failure(rc), "pam_acct_mgmt", h, rc);
		goto out;
	}
	/* A module may have mapped the name: authorization uses the one PAM settled on. */
	if ((rc = pam_get_item(h, PAM_USER, &item)) != PAM_SUCCESS || !item
	    || strlen(item) > AUTH_USER_MAX) {
		r = why(lg, AUTH_UNAVAIL, "pam_get_item(PAM_USER)", h, rc);
		goto out;
	}
	snprintf(lg->user_final, sizeof lg->user_final, "%s", (const char *)item);
	r = AUTH_OK;
out:
	/* Whatever a module said, these are what happened. */
	if (r != AUTH_OK && st.gone) {
		r = AUTH_ABORTED;
		snprintf(lg->why, sizeof lg->why, "no answer to a PAM prompt");
	} else if (r != AUTH_OK && st.refused) {
		r = AUTH_DENIED;
		snprintf(lg->why, sizeof lg->why, "answer over %d bytes or with a NUL byte",
		    AUTH_PASS_MAX);
	} else if (r != AUTH_OK && st.overrun) {
		r = AUTH_DENIED;
		snprintf(lg->why, sizeof lg->why, "more than %d PAM messages", AUTH_PROMPTS_MAX);
	}
	pam_end(h, rc);
	explicit_bzero(user, sizeof user);
	return r;
}

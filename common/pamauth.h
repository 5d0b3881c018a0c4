/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_PAMAUTH_H
#define INETKIT_PAMAUTH_H

#include "auth.h"

/*
 * PAM login for lg->user, any name the client sent: pam_authenticate()
 * with every module prompt and message relayed through conv, then
 * pam_acct_mgmt(). A name PAM must not see (auth_user_valid() refuses it)
 * never reaches libpam: it gets auth_deny_user()'s password prompt and
 * denial. PAM_RHOST and PAM_TTY come from lg; PAM's own failure delay is
 * replaced by the caller's. No session is opened and no credentials are
 * set: the service does not act as the user.
 */
enum auth_result pamauth_login(const char *service, struct auth_login *lg,
    const struct auth_conv *conv);

#endif

/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_HTPASSWD_H
#define INETKIT_HTPASSWD_H

#include <stddef.h>

#include "auth.h"

/*
 * Apache htpasswd files (inetkit-htpasswd(5)): "user:hash" lines, '#'
 * comments. Formats: $apr1$ and {SHA} here (over libmd's MD5 and SHA-1),
 * everything else libxcrypt's crypt_rn() verifies: bcrypt $2y$/$2a$/$2b$,
 * $5$, $6$, $y$, $1$, DES. Anything else (a plain-text entry) never matches.
 */
#define HTPASSWD_LINE_MAX 8192		/* Apache's MAX_STRING_LEN */
#define HTPASSWD_HASH_MAX 512
#define HTPASSWD_REPORT_MAX 8		/* bad lines noted a login; the rest are counted */

/*
 * Work limits: Apache's htpasswd makes bcrypt costs up to 17 (about 7 s
 * here); SHA-crypt ($5$, $6$), $sha1$ and $md5 take up to ten million
 * rounds (3 to 13 s). A hash over them is never computed.
 */
#define HTPASSWD_BCRYPT_COST_MAX 17
#define HTPASSWD_ROUNDS_MAX 10000000UL

/* 1 if pass matches hash, 0 if not, -1 if hash is in no supported format or over the limits. */
int htpasswd_verify(const char *pass, size_t plen, const char *hash, size_t hlen);
int htpasswd_too_costly(const char *h, size_t n, char *why, size_t len);

/*
 * Reads the file anew and checks lg->user with pass. The whole file is
 * read and a hash is always computed, so an unknown user (or a name or
 * password that cannot match) costs what a wrong password costs.
 * pass_ok is 0 when the password was over the cap: the login then fails.
 */
enum auth_result htpasswd_login(const char *path, struct auth_login *lg, const char *pass,
    size_t plen, int pass_ok, const struct auth_conv *conv);

#endif

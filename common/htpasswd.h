/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_HTPASSWD_H
#define INETKIT_HTPASSWD_H

#include <stddef.h>

#include "auth.h"

/*
 * Apache htpasswd files (inetkit-htpasswd(5)): "user:hash" lines, '#'
 * comments. Formats: $apr1$ and {SHA} here (over libmd's MD5 and SHA-1),
 * everything else libxcrypt's crypt_rn() verifies: bcrypt $2y$/$2a$/$2b$/$2x$,
 * $5$, $6$, $y$, $gy$, $7$, $sha1$, $md5, $1$, $3$, BSDi and DES. Anything
 * else (a plain-text entry) never matches.
 */
#define HTPASSWD_LINE_MAX 8192		/* Apache's MAX_STRING_LEN */
#define HTPASSWD_HASH_MAX 512
#define HTPASSWD_REPORT_MAX 8		/* bad lines noted a login; the rest are counted */

/*
 * Work limits (the table in htpasswd.c, measured there and listed in
 * inetkit-htpasswd(5)): a hash over them, in a format not in the table,
 * or whose cost cannot be read, is never computed.
 */
#define HTPASSWD_BCRYPT_COST_MAX 17		/* Apache's htpasswd -C maximum */
#define HTPASSWD_ROUNDS_MAX 10000000UL		/* SHA-crypt, $sha1$, BSDi extended DES */
#define HTPASSWD_SUNMD5_ROUNDS_MAX 5000000UL	/* $md5: 10000000 took twice bcrypt 17's time */
#define HTPASSWD_MEM_MAX (257ULL << 20)		/* scrypt, yescrypt: bytes allocated */
#define HTPASSWD_WORK_MAX (4ULL << 30)		/* scrypt, yescrypt: bytes mixed, weighted */

/* 1 (and why) if the hash is never computed: see the work limits above. */
int htpasswd_uncomputable(const char *h, size_t n, char *why, size_t len);

/*
 * The login of lg->user, any name the client sent: asks for the password
 * through conv (auth_ask_password()), reads the file anew and checks the
 * two, then wipes the password. The whole file is read and a hash is
 * always computed, so an unknown user (or a name or password that cannot
 * match) costs what a wrong password costs, and gets the same answer.
 */
enum auth_result htpasswd_login(const char *path, struct auth_login *lg,
    const struct auth_conv *conv);

#endif

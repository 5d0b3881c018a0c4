/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_ACL_H
#define INETKIT_ACL_H

#include <regex.h>
#include <stddef.h>

#include "addr.h"
#include "conf.h"

struct peer;

/*
 * Net::Server's access rules: no rule allows; a deny match refuses;
 * otherwise an allow match is required. Regexes are POSIX extended,
 * anchored, and matched against the address and the reverse-looked-up host.
 */
enum acl_verdict {
	ACL_ALLOW_DEFAULT,	/* no rules at all */
	ACL_ALLOW,		/* an allow rule matched */
	ACL_DENY,		/* a deny rule matched */
	ACL_DENY_NOMATCH,	/* allow rules exist and none matched */
};

#define ACL_RULEMAX 160

struct acl {
	size_t nallow, ndeny, ncallow, ncdeny;
	regex_t allow[CONF_LIST_MAX], deny[CONF_LIST_MAX];
	struct cidr callow[CONF_LIST_MAX], cdeny[CONF_LIST_MAX];
	const char *allow_src[CONF_LIST_MAX], *deny_src[CONF_LIST_MAX];
	const char *callow_src[CONF_LIST_MAX], *cdeny_src[CONF_LIST_MAX];
};

/* Which option a rule comes from. */
enum acl_kind { ACL_RULE_ALLOW, ACL_RULE_DENY, ACL_RULE_CIDR_ALLOW, ACL_RULE_CIDR_DENY };

int acl_add(struct acl *acl, enum acl_kind kind, const char *src, char *err, size_t errlen);

/*
 * For an option table (conf.h): a CONF_FUNC option with .set = acl_option_set
 * and .dest one of these adds each of its values to acl as kind.
 */
struct acl_option {
	struct acl *acl;
	enum acl_kind kind;
};

int acl_option_set(void *dest, const char *value, char *err, size_t errlen);
enum acl_verdict acl_check(const struct acl *acl, const struct peer *p, char rule[ACL_RULEMAX]);
int acl_refused(enum acl_verdict v);

#endif

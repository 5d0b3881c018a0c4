/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_ACL_H
#define INETKIT_ACL_H

#include <stddef.h>

#include "addr.h"
#include "conf.h"

struct peer;

/*
 * Net::Server's access rules: no rule allows; a deny match refuses;
 * otherwise an allow match is required. Patterns are Perl's (PCRE2),
 * anchored as Net::Server anchors them, /^PATTERN$/, and matched against the
 * address and the reverse-looked-up host, each match within a bounded cost.
 */
enum acl_verdict {
	ACL_ALLOW_DEFAULT,	/* no rules at all */
	ACL_ALLOW,		/* an allow rule matched */
	ACL_DENY,		/* a deny rule matched, or could not be matched within its limits */
	ACL_DENY_NOMATCH,	/* allow rules exist and none matched */
};

#define ACL_RULEMAX 160
#define ACL_PATTERN_MAX 1024	/* bytes of one --allow or --deny pattern */

struct acl_pattern;		/* a compiled pattern (acl.c) */
struct acl_matcher;		/* what matching needs, made with the first pattern */

struct acl {
	size_t nallow, ndeny, ncallow, ncdeny;
	struct acl_pattern *allow[CONF_LIST_MAX], *deny[CONF_LIST_MAX];
	struct cidr callow[CONF_LIST_MAX], cdeny[CONF_LIST_MAX];
	const char *allow_src[CONF_LIST_MAX], *deny_src[CONF_LIST_MAX];
	const char *callow_src[CONF_LIST_MAX], *cdeny_src[CONF_LIST_MAX];
	struct acl_matcher *m;
};

/* Which option a rule comes from. */
enum acl_kind { ACL_RULE_ALLOW, ACL_RULE_DENY, ACL_RULE_CIDR_ALLOW, ACL_RULE_CIDR_DENY };

int acl_add(struct acl *acl, enum acl_kind kind, const char *src, char *err, size_t errlen);
void acl_free(struct acl *acl);

/*
 * For an option table (conf.h): a CONF_FUNC option with .set = acl_option_set
 * and .dest one of these adds each of its values to acl as kind.
 */
struct acl_option {
	struct acl *acl;
	enum acl_kind kind;
};

int acl_option_set(void *dest, const char *value, char *err, size_t errlen);

/*
 * Pattern i of kind (allow or deny) has a "|" outside any group: Net::Server
 * anchors it as ^A|B$, the first alternative at the start only and the last
 * at the end only. The caller warns; the meaning is Perl's.
 */
int acl_top_level_alternation(const struct acl *acl, enum acl_kind kind, size_t i);

/*
 * The patterns that a check could not match within their limits: how many,
 * the first of them, and why (PCRE2's match, depth or heap limit, or another
 * matching error). A deny rule so stopped refuses; an allow rule does not match.
 */
struct acl_trouble {
	size_t n;
	enum acl_kind kind;
	const char *src;
	const char *subject;	/* "address" or "host name" */
	char why[96];
};

enum acl_verdict acl_check(const struct acl *acl, const struct peer *p, char rule[ACL_RULEMAX],
    struct acl_trouble *trouble);
int acl_refused(enum acl_verdict v);

#endif

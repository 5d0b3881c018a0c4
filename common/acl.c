/* SPDX-License-Identifier: MIT */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "peer.h"
#include "text.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define REGEXMAX 1024
#define REGEXCOST_MAX 4096

/*
 * Refuses, before regcomp sees it, a pattern that glibc would take seconds
 * or gigabytes to compile, in every process that compiles it (fuzz_conf
 * found each of these):
 *  - glibc copies a repeated atom or group once per repetition ("x{2,5}"
 *    is five copies, "x+" two, "x*" and "x?" one), so "((a{99}){99}){99}"
 *    is a million copies, and "(a++++...)" doubles with every "+";
 *  - a repetition of something that can match the empty string ("(a*)*",
 *    "a**", "(a|)*", "(^a?)+", "a??", "(a||...|b)+") costs it time
 *    exponential in how many the pattern has: 18 "(a*)*" took it 2 s, 40
 *    over a minute, and "-????+++" 2 s. Such a repetition is redundant
 *    ("(a*)*" is "a*", "(a|)+" is "a*"), so it is refused outright.
 * Also refused: back-references (not ERE, and glibc matches them by
 * backtracking, which a client's host name could make exponential), and a
 * parenthesis without its pair, which would undo the anchoring: "a)|(b"
 * becomes "^(a)|(b)$". Returns 0, or -1 with why.
 */
static int
pattern_check(const char *p, const char **why)
{
	struct {
		size_t sum;
		int head_nul, alt_nul;
	} outer[REGEXMAX + 1];
	/* Atoms, as copies: so far in the group, and in its last item. */
	size_t depth = 0, sum = 0, last = 0, f;
	/* Can match empty: the branch before its last item, the last item, an earlier branch. */
	int head_nul = 1, last_nul = 1, alt_nul = 0;
	unsigned long m, n;
	unsigned long long v;
	const char *e;
	size_t k;

	for (; *p; p++) {
		switch (*p) {
		case '(':
			outer[depth].sum = sum;
			outer[depth].head_nul = head_nul && last_nul;
			outer[depth++].alt_nul = alt_nul;
			sum = last = 0;
			head_nul = last_nul = 1, alt_nul = 0;
			continue;
		case ')':
			if (!depth) {
				*why = "a \")\" without its \"(\"";
				return -1;
			}
			last = sum;
			last_nul = alt_nul || (head_nul && last_nul);
			sum = outer[--depth].sum + last;
			head_nul = outer[depth].head_nul;
			alt_nul = outer[depth].alt_nul;
			continue;
		case '|':
			alt_nul = alt_nul || (head_nul && last_nul);
			head_nul = last_nul = 1;
			last = 0;
			continue;
		case '^': case '$':
			head_nul = head_nul && last_nul;
			last = 1, sum++, last_nul = 1;
			continue;
		case '*': case '+': case '?':
			f = *p == '+' ? 2 : 1;
			m = *p == '+';
			break;
		case '{':	/* {m}, {m,}, {m,n}, and glibc's {,n} */
			e = p + 1;
			k = text_uint_prefix(e, strlen(e), &v);
			m = v > ULONG_MAX ? ULONG_MAX : (unsigned long)v;
			e += k;
			n = m;
			if (*e == ',') {	/* unbounded: m copies and a loop */
				e++;
				k = text_uint_prefix(e, strlen(e), &v);
				n = k ? (v > ULONG_MAX ? ULONG_MAX : (unsigned long)v) : m + 1;
				e += k;
			}
			if (*e != '}' || e == p + 1)
				goto atom;	/* not an interval: regcomp decides */
			p = e;
			f = n > REGEXCOST_MAX ? REGEXCOST_MAX + 1 : n ? n : 1;
			break;
		case '\\':
			if (p[1] >= '1' && p[1] <= '9') {
				*why = "back-references are not allowed";
				return -1;
			}
			if (p[1] && strchr("bB<>`'", p[1])) {	/* GNU's zero-width escapes */
				p++;
				head_nul = head_nul && last_nul;
				last = 1, sum++, last_nul = 1;
				continue;
			}
			if (p[1])
				p++;
			goto atom;
		case '[':	/* a bracket expression is one atom: "[]a]", "[^]a]", "[[:alpha:]]" */
			p += p[1] == '^' ? 2 : 1;
			if (*p == ']')
				p++;
			for (; *p && *p != ']'; p++)
				if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
					const char *close = strchr(p + 2, p[1]);

					if (!close || close[1] != ']')
						break;
					p = close + 1;
				}
			if (!*p)
				return 0;	/* unterminated: regcomp refuses it */
			goto atom;
		default:
		atom:
			head_nul = head_nul && last_nul;
			last = 1, sum++, last_nul = 0;
			continue;
		}
		/* A repetition of the last item: f copies of it. */
		if (last_nul) {
			*why = "it repeats what can already match nothing, as (a*)* or a?? do "
			    "(write a* or a?)";
			return -1;
		}
		last_nul = m == 0;
		sum += last * (f - 1), last *= f;
		if (sum > REGEXCOST_MAX || last > REGEXCOST_MAX) {
			*why = "its repetitions come to over " STR(REGEXCOST_MAX) " copies of its atoms";
			return -1;
		}
	}
	if (depth) {
		*why = "a \"(\" without its \")\"";
		return -1;
	}
	return 0;
}

/* Net::Server anchors every pattern: "10\..*" must match the whole address. */
static int
compile(regex_t *re, const char *pat, char *err, size_t errlen)
{
	char anchored[REGEXMAX + 8];
	const char *why = NULL;
	int r;

	if (strlen(pat) > REGEXMAX) {
		snprintf(err, errlen, "pattern longer than %d bytes", REGEXMAX);
		return -1;
	}
	if (pattern_check(pat, &why) < 0) {
		snprintf(err, errlen, "bad pattern \"%.64s\": %s", pat, why);
		return -1;
	}
	snprintf(anchored, sizeof anchored, "^(%s)$", pat);
	r = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
	if (r != 0) {
		char msg[128];

		regerror(r, re, msg, sizeof msg);
		snprintf(err, errlen, "bad pattern \"%.64s\": %s", pat, msg);
		return -1;
	}
	return 0;
}

static int
acl_empty(const struct acl *acl)
{
	return !acl->nallow && !acl->ndeny && !acl->ncallow && !acl->ncdeny;
}

/*
 * One rule, as its option is read: a pattern is checked and compiled, a
 * block parsed, once. src must outlive the acl (it names the rule in the
 * log). Returns 0, or -1 with err.
 */
int
acl_add(struct acl *acl, enum acl_kind kind, const char *src, char *err, size_t errlen)
{
	size_t *n = kind == ACL_RULE_ALLOW ? &acl->nallow : kind == ACL_RULE_DENY ? &acl->ndeny
	    : kind == ACL_RULE_CIDR_ALLOW ? &acl->ncallow : &acl->ncdeny;

	if (!*src) {
		snprintf(err, errlen, "empty value");
		return -1;
	}
	if (*n == CONF_LIST_MAX) {
		snprintf(err, errlen, "more than %d values", CONF_LIST_MAX);
		return -1;
	}
	switch (kind) {
	case ACL_RULE_ALLOW:
	case ACL_RULE_DENY:
		if (compile(kind == ACL_RULE_ALLOW ? &acl->allow[*n] : &acl->deny[*n], src, err,
		    errlen) < 0)
			return -1;
		(kind == ACL_RULE_ALLOW ? acl->allow_src : acl->deny_src)[*n] = src;
		break;
	case ACL_RULE_CIDR_ALLOW:
	case ACL_RULE_CIDR_DENY:
		if (cidr_parse(kind == ACL_RULE_CIDR_ALLOW ? &acl->callow[*n] : &acl->cdeny[*n],
		    src) < 0) {
			snprintf(err, errlen, "\"%.64s\" is not an address or CIDR block", src);
			return -1;
		}
		(kind == ACL_RULE_CIDR_ALLOW ? acl->callow_src : acl->cdeny_src)[*n] = src;
		break;
	}
	(*n)++;
	return 0;
}

int
acl_option_set(void *dest, const char *value, char *err, size_t errlen)
{
	const struct acl_option *o = dest;

	return acl_add(o->acl, o->kind, value, err, errlen);
}

static int
regex_hit(const regex_t *re, const char *const *src, size_t n, const struct peer *p,
    const char *kind, char rule[ACL_RULEMAX])
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (regexec(&re[i], p->remote_ip, 0, NULL, 0) == 0
		    || (p->host[0] && regexec(&re[i], p->host, 0, NULL, 0) == 0)) {
			snprintf(rule, ACL_RULEMAX, "%s %.*s", kind, ACL_RULEMAX - 16, src[i]);
			return 1;
		}
	}
	return 0;
}

static int
cidr_hit(const struct cidr *c, const char *const *src, size_t n, const struct peer *p,
    const char *kind, char rule[ACL_RULEMAX])
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (cidr_match(&c[i], &p->remote)) {
			snprintf(rule, ACL_RULEMAX, "%s %s", kind, src[i]);
			return 1;
		}
	}
	return 0;
}

/*
 * Net::Server's order: no rule allows; a deny match refuses; then an allow
 * match is required, so deny rules alone refuse everyone (as Net::Server's
 * allow_deny does). A client with no known address matches no rule.
 */
enum acl_verdict
acl_check(const struct acl *acl, const struct peer *p, char rule[ACL_RULEMAX])
{
	int known = p->has_remote;

	if (acl_empty(acl)) {
		snprintf(rule, ACL_RULEMAX, "no rules");
		return ACL_ALLOW_DEFAULT;
	}
	if (known && (regex_hit(acl->deny, acl->deny_src, acl->ndeny, p, "deny", rule)
	    || cidr_hit(acl->cdeny, acl->cdeny_src, acl->ncdeny, p, "cidr-deny", rule)))
		return ACL_DENY;
	if (known && (regex_hit(acl->allow, acl->allow_src, acl->nallow, p, "allow", rule)
	    || cidr_hit(acl->callow, acl->callow_src, acl->ncallow, p, "cidr-allow", rule)))
		return ACL_ALLOW;
	snprintf(rule, ACL_RULEMAX, "no allow rule matched");
	return ACL_DENY_NOMATCH;
}

int
acl_refused(enum acl_verdict v)
{
	return v == ACL_DENY || v == ACL_DENY_NOMATCH;
}

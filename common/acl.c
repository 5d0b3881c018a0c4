/* SPDX-License-Identifier: MIT */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "peer.h"

/*
 * What matching may cost. Patterns run on PCRE2's interpreter, never its
 * JIT: the units run with MemoryDenyWriteExecute=yes, which forbids the
 * writable executable memory JIT code is made in, so nothing here calls
 * pcre2_jit_compile. The interpreter counts its work in match-limit units,
 * one per backtracking point. What a unit costs grows with the pattern's
 * backtracking frame (copied at every point; 16 bytes per capturing group)
 * and with its compiled code (a unit may run many items that set no
 * backtracking point: (?:a?){400} is 400 of them): taken here as
 * (960 + frame + 64 * code bytes) / 64 ns, about what it was measured at.
 * So a pattern gets ACL_BUDGET_ANCHORED / ACL_UNIT_COST units, about 2 ms
 * of that work (some 100,000 units for a short pattern, where a legitimate
 * one needs at most a few thousand against the 255 bytes a host name may
 * have). PCRE2 counts afresh at each start position, and a pattern not
 * anchored at its start (a top-level "|": ^A|B$ looks for B everywhere) is
 * tried at every byte of the subject, so such a pattern's budget,
 * ACL_BUDGET_UNANCHORED (about 12 ms), is split over the positions; it
 * leaves a legitimate B the few hundred units a position it needs. The
 * depth limit bounds nested backtracking (a legitimate pattern needs a few
 * frames a byte of the subject); the heap limit, the frames' memory,
 * whatever their size. The worst patterns found cost a rule (its address
 * and host name) under 10 ms here.
 */
#define ACL_BUDGET_ANCHORED	128000000UL
#define ACL_BUDGET_UNANCHORED	768000000UL
#define ACL_UNIT_COST(frame, ops)	(960 + (frame) + 64 * (ops))
#define ACL_DEPTH_LIMIT		10000
#define ACL_HEAP_LIMIT_KIB	4096

struct acl_pattern {
	pcre2_code *code;
	uint32_t budget;	/* match-limit units, for the whole match if anchored */
	int anchored, alternation;
};

struct acl_matcher {
	pcre2_match_context *mc;
	pcre2_match_data *md;
	size_t base;		/* the compiled size of an empty pattern */
};

#define QE_WHY "\\Q and \\E quote in PCRE2 but are the letters Q and E to Perl in a pattern " \
	"from a configuration (escape each character instead: \\.)"

static size_t
skip_digits(const char **p)
{
	size_t n = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++)
		n++;
	return n;
}

static void
skip_blanks(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/*
 * p at "{": whether Perl 5.34 and later read a quantifier there ({m,n}, {m,},
 * {m}, and also {,n} and blanks inside the braces) that PCRE2 before 10.43
 * reads as literal text.
 */
static int
quantifier_differs(const char *p)
{
	const char *q = p + 1;
	size_t lo, hi = 0;

	skip_blanks(&q);
	lo = skip_digits(&q);
	skip_blanks(&q);
	if (*q == ',') {
		q++;
		skip_blanks(&q);
		hi = skip_digits(&q);
		skip_blanks(&q);
	}
	if (*q != '}' || (!lo && !hi))
		return 0;	/* Perl's literal text too */
	q = p + 1;
	if (!skip_digits(&q))
		return 1;
	if (*q == ',') {
		q++;
		skip_digits(&q);
	}
	return *q != '}';
}

/* p at a class's "["; returns its closing "]" as PCRE2 reads it, or the end. */
static const char *
class_end(const char *p, const char **why)
{
	const char *close;

	p += p[1] == '^' ? 2 : 1;
	if (*p == ']')
		p++;	/* a "]" first is literal */
	for (; *p && *p != ']'; p++) {
		if (*p == '\\' && p[1]) {
			if (p[1] == 'Q' || p[1] == 'E')
				*why = QE_WHY;
			p++;
		} else if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			char end[3] = { p[1], ']', '\0' };

			if ((close = strstr(p + 2, end)))
				p = close + 1;
		}
	}
	return p;
}

/*
 * What a compiled pattern says that PCRE2 does not tell: whether it has a
 * "|" outside every group and class (*alt), and why Perl would read it
 * otherwise than PCRE2 does, if it would (NULL if not). It reads escapes,
 * classes, groups and (?#...) comments as PCRE2 does, but not the comments
 * of (?x), where a misreading costs at most a needless warning or refusal.
 */
static const char *
pattern_scan(const char *p, int *alt)
{
	const char *why = NULL;
	size_t depth = 0;

	*alt = 0;
	for (; *p && !why; p++) {
		switch (*p) {
		case '\\':
			if (p[1] == 'Q' || p[1] == 'E')
				return QE_WHY;
			if (p[1] && strchr("xopPNgk", p[1]) && p[2] == '{') {
				const char *close = strchr(p + 2, '}');

				p = close ? close : p + 2;
			} else if (p[1]) {
				p++;
			}
			break;
		case '[':
			p = class_end(p, &why);
			if (!*p)
				return why;
			break;
		case '(':
			if (p[1] == '*' || (p[1] == '?' && p[2] == '#')) {	/* a verb, a comment */
				const char *close = strchr(p, ')');

				if (!close)
					return why;
				p = close;
				break;
			}
			depth++;
			break;
		case ')':
			if (depth)
				depth--;
			break;
		case '|':
			if (!depth)
				*alt = 1;
			break;
		case '{':
#if PCRE2_MAJOR == 10 && PCRE2_MINOR < 43
			if (quantifier_differs(p))
				why = "Perl reads {,n} as {0,n} and allows blanks in {m, n}, where this "
				    "PCRE2 reads the braces as text (write {0,n} or {m,n}; \\{ for a brace)";
#endif
			break;
		default:
			break;
		}
	}
	return why;
}

static int
matcher_new(struct acl *acl, char *err, size_t errlen)
{
	struct acl_matcher *m;
	pcre2_code *empty;
	PCRE2_SIZE off;
	int code;

	if (acl->m)
		return 0;
	if (!(m = calloc(1, sizeof *m)) || !(m->mc = pcre2_match_context_create(NULL))
	    || !(m->md = pcre2_match_data_create(1, NULL))) {
		if (m)
			pcre2_match_context_free(m->mc);
		free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!(empty = pcre2_compile((PCRE2_SPTR)"", 0, 0, &code, &off, NULL))) {
		pcre2_match_data_free(m->md);
		pcre2_match_context_free(m->mc);
		free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pcre2_pattern_info(empty, PCRE2_INFO_SIZE, &m->base);
	pcre2_code_free(empty);
	pcre2_set_depth_limit(m->mc, ACL_DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mc, ACL_HEAP_LIMIT_KIB);
	acl->m = m;
	return 0;
}

/*
 * Net::Server matches $addr =~ /^$pattern$/: the pattern pasted between "^"
 * and "$", without a group, so "a|b" is ^a|b$, as in Perl. Compiled with
 * PCRE2's default options, which read a pattern as Perl does (no UTF, no
 * extended); the "^" first also keeps out the settings PCRE2 takes only at
 * a pattern's very start, such as (*UTF) or (*LIMIT_MATCH=N).
 */
static int
compile(const struct acl_matcher *m, struct acl_pattern **out, const char *pat, char *err,
    size_t errlen)
{
	char anchored[ACL_PATTERN_MAX + 3];
	struct acl_pattern *pt;
	size_t len = strlen(pat), frame = 0, size = 0;
	PCRE2_SIZE off;
	uint32_t opts = 0;
	const char *why;
	int code;

	if (len > ACL_PATTERN_MAX) {
		snprintf(err, errlen, "pattern longer than %d bytes", ACL_PATTERN_MAX);
		return -1;
	}
	snprintf(anchored, sizeof anchored, "^%s$", pat);
	if (!(pt = calloc(1, sizeof *pt))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pt->code = pcre2_compile((PCRE2_SPTR)anchored, len + 2, 0, &code, &off, NULL);
	if (!pt->code) {
		PCRE2_UCHAR msg[120];

		if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
			snprintf((char *)msg, sizeof msg, "error %d", code);
		off = off > 0 ? off - 1 : 0;	/* in the pattern as given, without the "^" */
		snprintf(err, errlen, "bad pattern \"%.64s\": %s at offset %zu", pat, (char *)msg,
		    (size_t)(off > len ? len : off));
		free(pt);
		return -1;
	}
	if ((why = pattern_scan(pat, &pt->alternation))) {
		snprintf(err, errlen, "bad pattern \"%.64s\": %s", pat, why);
		pcre2_code_free(pt->code);
		free(pt);
		return -1;
	}
	pcre2_pattern_info(pt->code, PCRE2_INFO_FRAMESIZE, &frame);
	pcre2_pattern_info(pt->code, PCRE2_INFO_SIZE, &size);
	pcre2_pattern_info(pt->code, PCRE2_INFO_ALLOPTIONS, &opts);
	pt->anchored = (opts & PCRE2_ANCHORED) != 0;
	pt->budget = (uint32_t)((pt->anchored ? ACL_BUDGET_ANCHORED : ACL_BUDGET_UNANCHORED)
	    / ACL_UNIT_COST(frame, size > m->base ? size - m->base : 0));
	*out = pt;
	return 0;
}

static int
acl_empty(const struct acl *acl)
{
	return !acl->nallow && !acl->ndeny && !acl->ncallow && !acl->ncdeny;
}

/*
 * One rule, as its option is read: a pattern is compiled, a block parsed,
 * once. src must outlive the acl (it names the rule in the log). Returns 0,
 * or -1 with err.
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
		if (matcher_new(acl, err, errlen) < 0
		    || compile(acl->m, kind == ACL_RULE_ALLOW ? &acl->allow[*n] : &acl->deny[*n], src,
		    err, errlen) < 0)
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

/* Every compiled pattern and what matching needs; the acl is then empty. */
void
acl_free(struct acl *acl)
{
	size_t i;

	for (i = 0; i < acl->nallow; i++) {
		pcre2_code_free(acl->allow[i]->code);
		free(acl->allow[i]);
	}
	for (i = 0; i < acl->ndeny; i++) {
		pcre2_code_free(acl->deny[i]->code);
		free(acl->deny[i]);
	}
	if (acl->m) {
		pcre2_match_data_free(acl->m->md);
		pcre2_match_context_free(acl->m->mc);
		free(acl->m);
	}
	memset(acl, 0, sizeof *acl);
}

int
acl_top_level_alternation(const struct acl *acl, enum acl_kind kind, size_t i)
{
	if (kind == ACL_RULE_ALLOW)
		return i < acl->nallow && acl->allow[i]->alternation;
	if (kind == ACL_RULE_DENY)
		return i < acl->ndeny && acl->deny[i]->alternation;
	return 0;
}

/*
 * 1 matched, 0 did not, -1 could not tell within the limits: the first such
 * pattern of a check, and why, go to t.
 */
static int
match(const struct acl_matcher *m, const struct acl_pattern *pt, const char *s,
    const char *subject, struct acl_trouble *t)
{
	size_t len = strlen(s);
	uint32_t limit = pt->anchored ? pt->budget : (uint32_t)(pt->budget / (len + 1));
	int r;

	pcre2_set_match_limit(m->mc, limit ? limit : 1);
	r = pcre2_match(pt->code, (PCRE2_SPTR)s, len, 0, 0, m->md, m->mc);
	if (r >= 0)
		return 1;
	if (r == PCRE2_ERROR_NOMATCH)
		return 0;
	if (!t->n++) {
		t->subject = subject;
		if (r == PCRE2_ERROR_MATCHLIMIT)
			snprintf(t->why, sizeof t->why, "match limit");
		else if (r == PCRE2_ERROR_DEPTHLIMIT)
			snprintf(t->why, sizeof t->why, "depth limit");
		else if (r == PCRE2_ERROR_HEAPLIMIT)
			snprintf(t->why, sizeof t->why, "heap limit");
		else {
			PCRE2_UCHAR msg[80];

			if (pcre2_get_error_message(r, msg, sizeof msg) < 0)
				snprintf((char *)msg, sizeof msg, "error %d", r);
			snprintf(t->why, sizeof t->why, "PCRE2: %s", (char *)msg);
		}
	}
	return -1;
}

/*
 * Whether a pattern of kind matches the address or the host name. A deny
 * pattern that cannot be matched within its limits counts as a match (the
 * client is refused: fail closed); an allow pattern, as no match.
 */
static int
pattern_hit(const struct acl *acl, enum acl_kind kind, const struct peer *p,
    char rule[ACL_RULEMAX], struct acl_trouble *t)
{
	struct acl_pattern *const *pt = kind == ACL_RULE_ALLOW ? acl->allow : acl->deny;
	const char *const *src = kind == ACL_RULE_ALLOW ? acl->allow_src : acl->deny_src;
	const char *name = kind == ACL_RULE_ALLOW ? "allow" : "deny";
	size_t i, n = kind == ACL_RULE_ALLOW ? acl->nallow : acl->ndeny;
	int r, h;

	for (i = 0; i < n; i++) {
		size_t before = t->n;

		r = match(acl->m, pt[i], p->remote_ip, "address", t);
		h = r == 1 || !p->host[0] || (r < 0 && kind == ACL_RULE_DENY) ? 0
		    : match(acl->m, pt[i], p->host, "host name", t);
		if (!before && t->n) {
			t->kind = kind;
			t->src = src[i];
		}
		if (r == 1 || h == 1) {
			snprintf(rule, ACL_RULEMAX, "%s %.*s", name, ACL_RULEMAX - 16, src[i]);
			return 1;
		}
		if (kind == ACL_RULE_DENY && (r < 0 || h < 0)) {
			/* No allow rule was tried yet: this is the check's first trouble. */
			snprintf(rule, ACL_RULEMAX, "%s %.*s (%.56s on the %s)", name, ACL_RULEMAX - 96,
			    src[i], t->why, t->subject);
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
 * trouble says which patterns could not be matched within their limits.
 */
enum acl_verdict
acl_check(const struct acl *acl, const struct peer *p, char rule[ACL_RULEMAX],
    struct acl_trouble *trouble)
{
	int known = p->has_remote;

	memset(trouble, 0, sizeof *trouble);
	if (acl_empty(acl)) {
		snprintf(rule, ACL_RULEMAX, "no rules");
		return ACL_ALLOW_DEFAULT;
	}
	if (known && (pattern_hit(acl, ACL_RULE_DENY, p, rule, trouble)
	    || cidr_hit(acl->cdeny, acl->cdeny_src, acl->ncdeny, p, "cidr-deny", rule)))
		return ACL_DENY;
	if (known && (pattern_hit(acl, ACL_RULE_ALLOW, p, rule, trouble)
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

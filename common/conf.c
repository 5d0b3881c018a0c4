/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "text.h"

#define KEYMAX 64
/* What a key is made of: Perl's \\w, and our dashes. */
#define KEYCHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

/* Net::Server spellings that are more than an underscore away from ours. */
static const struct { const char *from, *to; } aliases[] = {
	{ "log-file", "log" },
};

/* Values read from conf files, kept until conf_free(). */
struct kept {
	struct kept *next;
	char s[];
};
static struct kept *kept;

static char *
keep(const char *v)
{
	size_t n = strlen(v) + 1;
	struct kept *k = malloc(sizeof *k + n);

	if (!k)
		return NULL;
	memcpy(k->s, v, n);
	k->next = kept;
	kept = k;
	return k->s;
}

/* Frees every value read from a conf file; the options pointing at them are stale after. */
void
conf_free(void)
{
	struct kept *k;

	while ((k = kept)) {
		kept = k->next;
		free(k);
	}
}

/* The message quotes values from the command line or a file: escaped, as any log line. */
static int
errf(struct conf_error *err, const char *fmt, ...)
{
	char raw[CONF_ERRMAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	text_escape_to(err->msg, sizeof err->msg, raw, strlen(raw));
	return -1;
}

/* Copies key with '_' read as '-' and aliases resolved; -1 if too long. */
static int
normalize(char out[KEYMAX], const char *key, size_t len)
{
	size_t i;

	if (len >= KEYMAX)
		return -1;
	for (i = 0; i < len; i++)
		out[i] = key[i] == '_' ? '-' : key[i];
	out[len] = '\0';
	for (i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (strcmp(out, aliases[i].from) == 0)
			strcpy(out, aliases[i].to);
	return 0;
}

static const struct conf_opt *
find(const struct conf_opt *const *tabs, size_t ntabs, const char *key)
{
	const struct conf_opt *o;
	size_t t;

	for (t = 0; t < ntabs; t++)
		for (o = tabs[t]; o && o->name; o++)
			if (strcmp(o->name, key) == 0)
				return o;
	return NULL;
}

/* The option a key names, through one alias_of (a program's own other spelling). */
static const struct conf_opt *
lookup(const struct conf_opt *const *tabs, size_t ntabs, const char *key)
{
	const struct conf_opt *o = find(tabs, ntabs, key);

	return o && o->alias_of ? find(tabs, ntabs, o->alias_of) : o;
}

/* "no|0|off" style alternatives in one choice string. */
static int
choice_index(const struct conf_opt *o, const char *v)
{
	size_t vlen = strlen(v);
	int i;

	for (i = 0; o->choices[i]; i++) {
		const char *c = o->choices[i];

		while (*c) {
			size_t n = strcspn(c, "|");

			if (n == vlen && strncmp(c, v, n) == 0)
				return i;
			c += n + (c[n] == '|');
		}
	}
	return -1;
}

static void
choices_text(const struct conf_opt *o, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; o->choices[i] && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%.*s", i ? ", " : "",
		    (int)strcspn(o->choices[i], "|"), o->choices[i]);
}

/*
 * Applies one value; where names the source for messages ("option --x" or
 * "conf file F line N: key x"). v is NULL when no value was given.
 */
static int
apply(const struct conf_opt *o, const char *v, int copy, const char *where,
    struct conf_error *err)
{
	unsigned long u;
	char buf[CONF_ERRMAX / 2];
	int i;

	if (!v && o->type != CONF_FLAG && !(o->type == CONF_CHOICE && o->optional_value))
		return errf(err, "%s: missing value", where);
	if (v && copy && o->type != CONF_FLAG && o->type != CONF_UINT && o->type != CONF_CHOICE
	    && !(v = keep(v)))
		return errf(err, "%s: out of memory", where);
	switch (o->type) {
	case CONF_FLAG:
		if (!v || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
			*(int *)o->dest = 1;
		else if (strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
			*(int *)o->dest = 0;
		else
			return errf(err, "%s: \"%.64s\" is not yes or no", where, v);
		return 0;
	case CONF_UINT:
		if (text_uint(v, o->min, o->max, &u) < 0)
			return errf(err, "%s: \"%.64s\" is not a whole number from %lu to %lu",
			    where, v, o->min, o->max);
		*(unsigned long *)o->dest = u;
		return 0;
	case CONF_STR:
		if (!*v)
			return errf(err, "%s: empty value", where);
		*(const char **)o->dest = v;
		return 0;
	case CONF_LIST: {
		struct conf_list *l = o->dest;

		if (!*v)
			return errf(err, "%s: empty value", where);
		if (l->n == CONF_LIST_MAX)
			return errf(err, "%s: more than %d values", where, CONF_LIST_MAX);
		l->v[l->n++] = v;
		return 0;
	}
	case CONF_CHOICE:
		i = v ? choice_index(o, v) : 1;
		if (i < 0) {
			choices_text(o, buf, sizeof buf);
			return errf(err, "%s: \"%.64s\" is not one of: %s", where, v, buf);
		}
		*(int *)o->dest = i;
		return 0;
	case CONF_FUNC:
		if (o->set(o->dest, v, buf, sizeof buf) < 0)
			return errf(err, "%s: %s", where, buf);
		return 0;
	}
	return errf(err, "%s: bad option table", where);
}

static void
trim(char **s, char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r'))
		(*e)--;
}

int
conf_file_read(const struct conf_opt *const *tabs, size_t ntabs, const char *path,
    struct conf_error *err)
{
	char line[CONF_LINE_MAX + 2], key[KEYMAX], where[CONF_ERRMAX / 2];
	const struct conf_opt *o;
	unsigned long lineno = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f)
		return errf(err, "unable to read conf file %s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f)) {
		char *s = line, *e = line + strlen(line), *k, *v = NULL;
		size_t klen;

		lineno++;
		if (e > s && e[-1] == '\n')
			*--e = '\0';
		else if (!feof(f)) {
			r = errf(err, "conf file %s line %lu: line longer than %d bytes", path,
			    lineno, CONF_LINE_MAX);
			break;
		}
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		*e = '\0';
		/* Net::Server's forms: "key value", "key=value", "key: value", and "--key value". */
		k = s + (s[0] == '-' && s[1] == '-' ? 2 : 0);
		klen = strcspn(k, " \t=:");
		if (klen == 0) {
			r = errf(err, "conf file %s line %lu: not \"key value\", \"key=value\" or "
			    "\"key: value\": \"%.64s\"", path, lineno, s);
			break;
		}
		if (k[klen]) {		/* the separator: one '=' or ':', or blanks */
			v = k + klen + 1;
			k[klen] = '\0';
			while (*v == ' ' || *v == '\t')
				v++;
		}
		if (normalize(key, k, klen) < 0 || !(o = lookup(tabs, ntabs, key))) {
			r = errf(err, "conf file %s line %lu: unknown key \"%.64s\"", path, lineno, k);
			break;
		}
		if (strcmp(key, "conf-file") == 0) {
			r = errf(err, "conf file %s line %lu: conf-file cannot be nested", path,
			    lineno);
			break;
		}
		snprintf(where, sizeof where, "conf file %s line %lu: %s", path, lineno, key);
		if ((r = apply(o, v, 1, where, err)) < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = errf(err, "unable to read conf file %s: %s", path, strerror(errno));
	fclose(f);
	return r;
}

/*
 * Splits "key" or "key=value" (argv[i] after its "--") into key and inline
 * value; returns the option or NULL. *v is the "=value" part, if any.
 */
static const struct conf_opt *
split(const struct conf_opt *const *tabs, size_t ntabs, const char *arg, char key[KEYMAX],
    const char **v)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

	*v = eq ? eq + 1 : NULL;
	if (normalize(key, arg, len) < 0)
		return NULL;
	return lookup(tabs, ntabs, key);
}

/*
 * Net::Server's "key=value" on the command line: an argument made of a
 * known option's name, '=' and a value. Anything else, "A=B" for an
 * unknown A included, is the first operand (a PROGRAM's argument, say).
 */
static const struct conf_opt *
bare(const struct conf_opt *const *tabs, size_t ntabs, const char *arg, char key[KEYMAX],
    const char **v)
{
	size_t len = strspn(arg, KEYCHARS);

	if (len == 0 || arg[len] != '=')
		return NULL;
	return split(tabs, ntabs, arg, key, v);
}

int
conf_parse(const struct conf_opt *const *tabs, size_t ntabs, int argc, char **argv,
    int *want_help, int *want_version, struct conf_error *err)
{
	char key[KEYMAX], where[KEYMAX + 16];
	const struct conf_opt *o;
	const char *v;
	int i, pass;

	*want_help = *want_version = 0;
	/* Pass 0 finds and reads --conf-file; pass 1 applies the command line over it. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 1; i < argc; i++) {
			const char *a = argv[i];

			if (strcmp(a, "--") == 0) {
				i++;
				break;
			}
			if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				*want_help = 1;
				continue;
			}
			if (strcmp(a, "--version") == 0) {
				*want_version = 1;
				continue;
			}
			if (a[0] != '-' && (o = bare(tabs, ntabs, a, key, &v))) {
				/* Net::Server's "key=value" */
			} else if (a[0] != '-' || a[1] == '\0') {
				break;
			} else if (a[1] != '-') {
				return errf(err, "unknown option \"%.64s\" (options are long: --name)", a);
			} else {
				o = split(tabs, ntabs, a + 2, key, &v);
			}
			if (!o)
				return errf(err, "unknown option \"--%.*s\"",
				    (int)strcspn(a + 2, "="), a + 2);
			if (!v && o->type != CONF_FLAG) {
				if (o->type == CONF_CHOICE && o->optional_value) {
					if (i + 1 < argc && choice_index(o, argv[i + 1]) >= 0)
						v = argv[++i];
				} else if (i + 1 < argc) {
					v = argv[++i];
				}
			}
			if ((strcmp(o->name, "conf-file") == 0) != (pass == 0))
				continue;
			snprintf(where, sizeof where, "option --%s", key);
			if (apply(o, v, 0, where, err) < 0)
				return -1;
			if (pass == 0 && conf_file_read(tabs, ntabs, v, err) < 0)
				return -1;
		}
	}
	return i;
}

/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_CONF_H
#define INETKIT_CONF_H

#include <stddef.h>

/*
 * Options are described once, in a table, and read from both the command
 * line (--key VALUE, --key=VALUE) and conf files (key VALUE). The command
 * line wins over a conf file, which wins over the defaults; list options
 * accumulate from both. Underscores in a key are read as dashes, so
 * Net::Server's "cidr_allow" is "cidr-allow".
 */
enum conf_type {
	CONF_FLAG,		/* no value; sets *(int *)dest = 1 */
	CONF_UINT,		/* unsigned long in [min, max] */
	CONF_STR,		/* const char * */
	CONF_LIST,		/* struct conf_list, repeatable */
	CONF_CHOICE,		/* int index into choices[], NULL-terminated */
	CONF_FUNC,		/* set(dest, value) parses and keeps the value, once */
};

#define CONF_LIST_MAX 64	/* entries of one list option */
#define CONF_LINE_MAX 4096	/* one conf file line */
#define CONF_ERRMAX 512

struct conf_list {
	size_t n;
	const char *v[CONF_LIST_MAX];
};

struct conf_opt {
	const char *name;
	enum conf_type type;
	int optional_value;		/* CONF_CHOICE: "--key" alone means choices[1] */
	void *dest;
	unsigned long min, max;		/* CONF_UINT */
	const char *const *choices;	/* CONF_CHOICE */
	int (*set)(void *dest, const char *value, char *err, size_t errlen);
	const char *arg;		/* metavariable for --help, NULL for flags */
	const char *help;
	const char *alias_of;		/* this name is another spelling of that option */
};

struct conf_error {
	char msg[CONF_ERRMAX];
};

/*
 * Parse argv against the NULL-name-terminated tables in tabs[] (common
 * options, then the program's). Stops at the first non-option or "--" and
 * returns its index, or -1 with err filled. A --conf-file is read before
 * the command line is applied. Sets *want_help / *want_version.
 */
int conf_parse(const struct conf_opt *const *tabs, size_t ntabs, int argc, char **argv,
    int *want_help, int *want_version, struct conf_error *err);
int conf_file_read(const struct conf_opt *const *tabs, size_t ntabs, const char *path,
    struct conf_error *err);
void conf_free(void);

#endif

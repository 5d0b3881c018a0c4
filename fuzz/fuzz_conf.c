/* SPDX-License-Identifier: MIT */
/*
 * Options, both ways in: the input is read as a conf file, and again as a
 * command line (one argument a line), against a table with every option
 * type and the library's own validators (PCRE2 patterns, CIDR). Errors must
 * be bounded strings without control bytes; values that pass must be in
 * range; the index of the first operand must be within argv. Every pattern
 * that compiles is then matched, through acl_check, against a hostile
 * client (a 39-byte IPv6 address and a 253-byte host name that make
 * nested repetitions backtrack) and against one whose host name is the
 * input's first line: the verdict must be one of the three a rule gives,
 * the rule a bounded string, and a deny pattern stopped at its limit must
 * refuse, the rule saying where; no pattern may take long or much memory
 * to compile or match (libFuzzer's -timeout and -rss_limit_mb tell).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/acl.h"
#include "../common/addr.h"
#include "../common/conf.h"
#include "../common/peer.h"

#define ARGV_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const choices[] = { "no|0|off", "yes|1|on", "double", NULL };

/* The rules, as the programs read them: each value compiled or parsed where it is read. */
static struct acl acl;
static struct acl_option allow_opt = { &acl, ACL_RULE_ALLOW },
    deny_opt = { &acl, ACL_RULE_DENY }, cidr_allow_opt = { &acl, ACL_RULE_CIDR_ALLOW };

static int flag, choice;
static unsigned long num;
static const char *str;
static struct conf_list list;

static const struct conf_opt opts[] = {
	{ .name = "flag", .type = CONF_FLAG, .dest = &flag, .help = "" },
	{ .name = "num", .type = CONF_UINT, .dest = &num, .min = 1, .max = 1000, .arg = "N",
	    .help = "" },
	{ .name = "str", .type = CONF_STR, .dest = &str, .arg = "S", .help = "" },
	{ .name = "list", .type = CONF_LIST, .dest = &list, .arg = "L", .help = "" },
	{ .name = "allow", .type = CONF_FUNC, .dest = &allow_opt, .set = acl_option_set,
	    .arg = "REGEX", .help = "" },
	{ .name = "deny", .type = CONF_FUNC, .dest = &deny_opt, .set = acl_option_set,
	    .arg = "REGEX", .help = "" },
	{ .name = "cidr-allow", .type = CONF_FUNC, .dest = &cidr_allow_opt, .set = acl_option_set,
	    .arg = "CIDR", .help = "" },
	{ .name = "other-spelling", .alias_of = "num" },
	{ .name = "choice", .type = CONF_CHOICE, .dest = &choice, .choices = choices,
	    .arg = "C", .help = "", .optional_value = 1 },
	{ .name = NULL },
};

static void
check_values(int r, const struct conf_error *err)
{
	size_t i;

	if (r < 0 && strnlen(err->msg, sizeof err->msg) == sizeof err->msg)
		abort();
	for (i = 0; r < 0 && err->msg[i]; i++)
		if ((unsigned char)err->msg[i] < 0x20 || (unsigned char)err->msg[i] >= 0x7f)
			abort();	/* values are quoted escaped */
	if (num && (num < 1 || num > 1000))
		abort();
	if (list.n > CONF_LIST_MAX || acl.nallow > CONF_LIST_MAX || acl.ndeny > CONF_LIST_MAX
	    || acl.ncallow > CONF_LIST_MAX)
		abort();
}

static int
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);

	return n >= k && strcmp(s + n - k, tail) == 0;
}

/* The client as acl_check sees it: an address and a host name (up to 255 bytes). */
static void
client(struct peer *p, const char *ip, const char *host, size_t hlen)
{
	memset(p, 0, sizeof *p);
	if (addr_parse(&p->remote, ip) < 0)
		abort();
	p->has_remote = 1;
	addr_format(&p->remote, p->remote_ip);
	if (hlen > sizeof p->host - 1)
		hlen = sizeof p->host - 1;
	memcpy(p->host, host, hlen);
	p->host[hlen] = '\0';
}

static void
check_rules(const uint8_t *data, size_t size)
{
	static char hostile[254];
	const char *nl = memchr(data, '\n', size), *nul;
	struct acl_trouble t;
	char rule[ACL_RULEMAX];
	struct peer p;
	size_t len = nl ? (size_t)(nl - (const char *)data) : size;
	enum acl_verdict v;
	int pass;

	if (!acl.nallow && !acl.ndeny)
		return;
	if (!hostile[0]) {
		memset(hostile, 'a', 250);
		memcpy(hostile + 250, "xb-", 3);
	}
	if ((nul = memchr(data, '\0', len)))
		len = (size_t)(nul - (const char *)data);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 0)
			client(&p, "aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaab", hostile, sizeof hostile - 1);
		else
			client(&p, "127.0.0.1", (const char *)data, len);
		memset(rule, 0x55, sizeof rule);
		v = acl_check(&acl, &p, rule, &t);
		if (v != ACL_ALLOW && v != ACL_DENY && v != ACL_DENY_NOMATCH)
			abort();
		if (!memchr(rule, '\0', sizeof rule))
			abort();
		/* A deny pattern stopped at a limit refuses, and the rule says where. */
		if (t.n && (!t.src || !t.subject || !memchr(t.why, '\0', sizeof t.why)))
			abort();
		if (t.n && t.kind == ACL_RULE_DENY && (v != ACL_DENY
		    || (!ends_with(rule, " on the address)") && !ends_with(rule, " on the host name)"))))
			abort();
	}
}

static void
reset(void)
{
	conf_free();
	flag = choice = 0;
	num = 0;
	str = NULL;
	memset(&list, 0, sizeof list);
	acl_free(&acl);
}

/* The input as argv: "prog", then one argument a line (NUL bytes end one early). */
static void
command_line(const uint8_t *data, size_t size)
{
	const struct conf_opt *tabs[1] = { opts };
	char *copy = malloc(size + 1), *argv[ARGV_MAX + 2], *p, *nl;
	struct conf_error err;
	int argc = 0, help = 0, version = 0, first;

	if (!copy)
		abort();
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[argc++] = "prog";
	for (p = copy; argc <= ARGV_MAX && p < copy + size; p = nl + 1) {
		if (!(nl = memchr(p, '\n', (size_t)(copy + size - p))))
			nl = copy + size;
		*nl = '\0';
		argv[argc++] = p;
	}
	argv[argc] = NULL;
	err.msg[0] = '\0';
	first = conf_parse(tabs, 1, argc, argv, &help, &version, &err);
	if (first > argc)
		abort();
	check_values(first, &err);
	check_rules(data, size);
	reset();
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct conf_opt *tabs[1] = { opts };
	struct conf_error err;
	char path[64];
	int fd = memfd_create("conf", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	err.msg[0] = '\0';
	check_values(conf_file_read(tabs, 1, path, &err), &err);
	check_rules(data, size);
	reset();
	close(fd);
	command_line(data, size);
	return 0;
}

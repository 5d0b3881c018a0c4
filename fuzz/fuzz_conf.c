/* SPDX-License-Identifier: MIT */
/*
 * Options, both ways in: the input is read as a conf file, and again as a
 * command line (one argument a line), against a table with every option
 * type and the library's own validators (PCRE2 patterns, CIDR). Errors must
 * be bounded strings without control bytes; values that pass must be in
 * range; the index of the first operand must be within argv; and no
 * pattern may take PCRE2 long or much memory to compile (libFuzzer's
 * -timeout and -rss_limit_mb tell).
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

#define ARGV_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const choices[] = { "no|0|off", "yes|1|on", "double", NULL };

/* The rules, as the programs read them: each value compiled or parsed where it is read. */
static struct acl acl;
static struct acl_option allow_opt = { &acl, ACL_RULE_ALLOW },
    cidr_allow_opt = { &acl, ACL_RULE_CIDR_ALLOW };

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
	if (list.n > CONF_LIST_MAX || acl.nallow > CONF_LIST_MAX || acl.ncallow > CONF_LIST_MAX)
		abort();
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
	reset();
	close(fd);
	command_line(data, size);
	return 0;
}

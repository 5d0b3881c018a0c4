/* SPDX-License-Identifier: MIT */
/* Conf file reading against a table with every option type; errors must be bounded strings. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const choices[] = { "no|0|off", "yes|1|on", "double", NULL };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int flag = 0, choice = 0;
	unsigned long num = 0;
	const char *str = NULL;
	struct conf_list list = { 0 };
	const struct conf_opt opts[] = {
		{ .name = "flag", .type = CONF_FLAG, .dest = &flag, .help = "" },
		{ .name = "num", .type = CONF_UINT, .dest = &num, .min = 1, .max = 1000,
		    .arg = "N", .help = "" },
		{ .name = "str", .type = CONF_STR, .dest = &str, .arg = "S", .help = "" },
		{ .name = "list", .type = CONF_LIST, .dest = &list, .arg = "L", .help = "" },
		{ .name = "choice", .type = CONF_CHOICE, .dest = &choice, .choices = choices,
		    .arg = "C", .help = "", .optional_value = 1 },
		{ .name = NULL },
	};
	const struct conf_opt *tabs[1] = { opts };
	struct conf_error err;
	char path[64];
	int fd = memfd_create("conf", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	err.msg[0] = '\0';
	if (conf_file_read(tabs, 1, path, &err) < 0 && strnlen(err.msg, sizeof err.msg) == sizeof err.msg)
		abort();
	if (num && (num < 1 || num > 1000))
		abort();
	if (list.n > CONF_LIST_MAX)
		abort();
	conf_free();
	close(fd);
	return 0;
}

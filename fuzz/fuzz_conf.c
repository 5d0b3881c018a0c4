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
		{ "flag", CONF_FLAG, &flag, 0, 0, NULL, NULL, NULL, "", 0 },
		{ "num", CONF_UINT, &num, 1, 1000, NULL, NULL, "N", "", 0 },
		{ "str", CONF_STR, &str, 0, 0, NULL, NULL, "S", "", 0 },
		{ "list", CONF_LIST, &list, 0, 0, NULL, NULL, "L", "", 0 },
		{ "choice", CONF_CHOICE, &choice, 0, 0, choices, NULL, "C", "", 1 },
		{ NULL, 0, NULL, 0, 0, NULL, NULL, NULL, NULL, 0 },
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

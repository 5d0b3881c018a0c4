/* SPDX-License-Identifier: MIT */
/*
 * The line reader and the filter chain: the input comes in through an io
 * stream with a small max_line; every byte must come out of the lowercase
 * output filter exactly once, in order, lowered.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct io io;
	const char *line;
	size_t len, max_line, total = 0;
	char *got;
	int in, out, kind;
	size_t i;

	if (size < 1)
		return 0;
	max_line = 1 + data[0] % 64;
	data++, size--;
	in = memfd_create("in", MFD_CLOEXEC);
	out = memfd_create("out", MFD_CLOEXEC);
	if (in < 0 || out < 0 || write(in, data, size) != (ssize_t)size)
		abort();
	lseek(in, 0, SEEK_SET);
	if (io_init(&io, in, out, max_line, 0) < 0 || filter_push(&io.ofilters, &filter_lowercase) < 0)
		abort();
	while ((kind = io_getline(&io, &line, &len)) > 0) {
		if (len == 0 || len > max_line)
			abort();
		if (kind == IO_LINE_FULL && line[len - 1] != '\n')
			abort();
		if (kind == IO_LINE_PIECE && (len != max_line || memchr(line, '\n', len)))
			abort();
		io_write(&io, line, len);
		total += len;
	}
	if (io_flush(&io) < 0 || total != size)
		abort();
	got = malloc(size + 1);
	if (pread(out, got, size + 1, 0) != (ssize_t)size)
		abort();
	for (i = 0; i < size; i++) {
		unsigned char c = data[i];

		if ((unsigned char)got[i] != (c >= 'A' && c <= 'Z' ? c + 32 : c))
			abort();
	}
	free(got);
	io_free(&io);
	close(in);
	close(out);
	return 0;
}

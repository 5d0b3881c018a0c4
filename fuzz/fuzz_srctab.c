/* SPDX-License-Identifier: MIT */
/*
 * The table of sources, as a file another process may have left damaged:
 * the input's first half is written, over and over, across every slot of
 * a valid table file whose hash seed is fixed (the header, with its lock,
 * stays the table's own: a damaged header is made anew, which inetkit's
 * tests show), so the slots the events hash to are damaged too; its second
 * half is a run of admissions and refusals, from addresses and at times it
 * picks. Built with UBSan, so an overflow on a damaged time is a finding. Whatever
 * the slots held, a penalty never exceeds --penalty-max, a refused source
 * is refused for a reason, and nothing reads or writes out of bounds.
 * Also the two option parsers the table's options use: N/SECS and the
 * message escapes.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/srctab.h"
#include "../common/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
#define NAME "fuzz.sources"

/* The header's length, from the header itself (magic, version, nslots, slot_size, hdr_size). */
static uint32_t
hdr_size(int fd)
{
	uint32_t v = 0;

	if (pread(fd, &v, sizeof v, 20) != (ssize_t)sizeof v)
		abort();
	return v;
}

static void
options(const uint8_t *data, size_t size)
{
	char s[512], out[256];
	unsigned long n, secs;
	const char *why;
	size_t len;

	if (size >= sizeof s)
		size = sizeof s - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (text_rate(s, &n, &secs) == 0
	    && (n < 1 || n > TEXT_RATE_N_MAX || secs < 1 || secs > TEXT_RATE_SECS_MAX))
		abort();
	if (text_unescape(s, out, sizeof out, &len, &why) == 0 && len > sizeof out)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srctab_limits l = { .prefix4 = 24, .prefix6 = 64 };
	struct srctab t;
	struct srctab_note note;
	char err[512];
	size_t half = size / 2, i;
	int64_t now = 1700000000000;
	int fd;

	options(data, size);
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/fuzz_srctab.%ld", (long)getpid());
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			abort();
	}
	{
		char path[128];

		snprintf(path, sizeof path, "%s/%s", dir, NAME);
		unlink(path);
	}
	if (srctab_open(&t, dir, NAME, err, sizeof err) < 0)
		abort();
	fd = t.fd;
	{
		static const uint64_t seed = 0;
		uint32_t h = hdr_size(fd);
		off_t off, end = (off_t)h + (off_t)SRCTAB_SLOTS * 64;

		if (pwrite(fd, &seed, sizeof seed, 24) != (ssize_t)sizeof seed)
			abort();
		for (off = h; half && off < end; off += (off_t)half)
			if (pwrite(fd, data, (size_t)(end - off) < half ? (size_t)(end - off) : half,
			    off) < 0)
				abort();
	}
	srctab_close(&t);
	if (srctab_open(&t, dir, NAME, err, sizeof err) < 0)
		abort();
	if (size > half + 4) {
		l.source.n = data[half] % 8;
		l.source.secs = 1 + data[half] / 8 % 60;
		l.netblock.n = data[half + 1] % 16;
		l.netblock.secs = 1 + data[half + 1] / 16;
		l.penalty = data[half + 2] % 8;
		l.penalty_max = 1 + data[half + 3] % 64;
		l.penalty_after = 1 + data[half + 3] / 64;
	}
	/* Eight bytes an event: kind, time step, six bytes of address. */
	for (i = half + 4; i + 8 <= size; i += 8) {
		const uint8_t *e = data + i;
		struct addr a = { .family = e[0] & 1 ? AF_INET6 : AF_INET };
		enum srctab_verdict v;

		memcpy(a.bytes, e + 2, 6);
		if (a.family == AF_INET6)
			a.bytes[15] = e[2];
		now += (int64_t)e[1] * 97;
		if (e[0] & 2) {
			v = srctab_refused(&t, &a, &l, now - (e[0] >> 2) * 500, now, &note);
			if (v == SRCTAB_PENALIZED && (note.secs < 1 || note.secs > l.penalty_max
			    || !l.penalty))
				abort();
		} else {
			v = srctab_admit(&t, &a, &l, now, &note);
			if (v == SRCTAB_PENALIZED && note.secs > l.penalty_max)
				abort();
			if ((v == SRCTAB_RATE_SOURCE && !l.source.n)
			    || (v == SRCTAB_RATE_NETBLOCK && !l.netblock.n))
				abort();
		}
		if (v == SRCTAB_BUSY)
			abort();	/* one process: the lock is always free */
	}
	srctab_close(&t);
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "filter.h"

int
filter_push(struct filter_chain *ch, const struct filter *f)
{
	if (ch->n == FILTER_MAX) {
		errno = E2BIG;
		return -1;
	}
	ch->f[ch->n++] = f;
	return 0;
}

/* Hands buf to stage `stage` of the chain; past the last filter is the sink. */
int
filter_pass(struct filter_chain *ch, size_t stage, const char *buf, size_t len)
{
	if (stage >= ch->n)
		return len ? ch->sink(ch->sink_ctx, buf, len) : 0;
	return ch->f[stage]->fn(ch, stage + 1, buf, len, ch->f[stage]->state);
}

/* ASCII A-Z to a-z, every other byte as it is. */
static unsigned char
lower1(unsigned char c)
{
	return (unsigned char)(c | ((unsigned)(c - 'A') < 26u) << 5);
}

/*
 * n bytes lower-cased in place (ASCII A-Z only), 16 at a time and without a
 * branch: a byte c with c - 'A' below 26 gets 0x20. Spelt as a vector,
 * since gcc -O2 vectorizes lower1's byte loop only in 32-bit lanes (four
 * bytes an instruction); the tail byte by byte.
 */
void
filter_lower(char *buf, size_t n)
{
	filter_v16 v;
	size_t i;

	for (i = 0; i + sizeof v <= n; i += sizeof v) {
		memcpy(&v, buf + i, sizeof v);
		v |= (filter_v16)(v - 'A' < 26) & 0x20;
		memcpy(buf + i, &v, sizeof v);
	}
	for (; i < n; i++)
		buf[i] = (char)lower1((unsigned char)buf[i]);
}

/* mod_perl's lowercase_filter, with lc() limited to ASCII: UTF-8 passes unchanged. */
static int
lowercase(struct filter_chain *ch, size_t next, const char *buf, size_t len, void *state)
{
	char tmp[4096];
	size_t n;

	(void)state;
	if (len == 0)
		return filter_pass(ch, next, buf, 0);
	while (len) {
		n = len < sizeof tmp ? len : sizeof tmp;
		memcpy(tmp, buf, n);
		filter_lower(tmp, n);
		if (filter_pass(ch, next, tmp, n) < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

const struct filter filter_lowercase = { "lowercase", lowercase, NULL };

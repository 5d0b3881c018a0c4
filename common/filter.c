/* SPDX-License-Identifier: MIT */
#include <errno.h>

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

/* mod_perl's lowercase_filter, with lc() limited to ASCII: UTF-8 passes unchanged. */
static int
lowercase(struct filter_chain *ch, size_t next, const char *buf, size_t len, void *state)
{
	char tmp[4096];
	size_t i, n;

	(void)state;
	if (len == 0)
		return filter_pass(ch, next, buf, 0);
	while (len) {
		n = len < sizeof tmp ? len : sizeof tmp;
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)buf[i];
			tmp[i] = (char)((unsigned)c - 'A' < 26u ? c + 32 : c);
		}
		if (filter_pass(ch, next, tmp, n) < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

const struct filter filter_lowercase = { "lowercase", lowercase, NULL };

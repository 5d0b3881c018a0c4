/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_FILTER_H
#define INETKIT_FILTER_H

#include <stddef.h>

/*
 * A connection filter, as mod_perl's FilterConnectionHandler: it gets the
 * bytes flowing one way, and passes what it makes of them to the next stage
 * with filter_pass(). A call with len == 0 means end of stream: a filter
 * that holds bytes back passes them on then. Filters on the input side must
 * not pass on more bytes than they are given.
 */
#define FILTER_MAX 8

struct filter_chain;

struct filter {
	const char *name;
	int (*fn)(struct filter_chain *ch, size_t next, const char *buf, size_t len,
	    void *state);
	void *state;
};

struct filter_chain {
	const struct filter *f[FILTER_MAX];
	size_t n;
	int (*sink)(void *ctx, const char *buf, size_t len);
	void *sink_ctx;
};

int filter_push(struct filter_chain *ch, const struct filter *f);
int filter_pass(struct filter_chain *ch, size_t stage, const char *buf, size_t len);

/* Filters every program may use. */
extern const struct filter filter_lowercase;	/* ASCII A-Z only */

/*
 * 16 bytes as one vector (GCC's and clang's vector extension: SSE2's
 * register, NEON's), for the loops over whole buffers.
 */
typedef unsigned char filter_v16 __attribute__((vector_size(16)));

/* filter_lowercase's work on a span, for a program that lower-cases its own buffer (lcecho). */
void filter_lower(char *buf, size_t n);

#endif

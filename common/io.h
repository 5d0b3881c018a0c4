/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_IO_H
#define INETKIT_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "filter.h"

/*
 * The connection stream: buffered, bounded reads from the client and
 * buffered writes to it, both through a filter chain. Output is flushed
 * before any read that would wait, so interactive clients see replies at
 * once and pipelined input is answered in large writes.
 */
#define IO_BUFSIZE 65536
#define IO_MAXLINE_MAX (1024 * 1024)
#define IO_READMAX 262144		/* beyond max_line, what one read may bring */
#define IO_DIRECT (IO_BUFSIZE / 4)	/* a span this large skips out when it is empty */
#define IO_WATCH_BLOCK 64		/* io_line_watch's block */

enum io_end {
	IO_OK,
	IO_EOF,			/* client closed its side */
	IO_IDLE,		/* no progress for idle_timeout seconds */
	IO_SESSION,		/* session_timeout reached */
	IO_RESET,		/* connection reset or broken pipe: a normal end */
	IO_TERM,		/* SIGTERM: the service is being stopped */
	IO_ERROR,		/* any other failure; errno is kept in io->err */
	IO_LOGIN,		/* a login deadline (io_deadline) passed */
};

/* What io_getline() returns. */
enum io_line_kind {
	IO_LINE_FULL = 1,	/* ends with LF */
	IO_LINE_PIECE,		/* max_line bytes of a longer line; more follows */
	IO_LINE_LAST,		/* unterminated tail before EOF */
};

struct io {
	int rfd, wfd;
	int rsock, wsock;		/* the fd is a socket: timeouts via SO_*TIMEO */
	unsigned idle_timeout;		/* seconds, 0 = none */
	size_t max_line;
	char *in;			/* max_line + IO_READMAX bytes */
	size_t in_cap, in_off, in_len;
	size_t in_used, out_used;	/* the most of each buffer ever written: io_free wipes it */
	char *out;			/* IO_BUFSIZE bytes, after in */
	size_t out_len;
	struct filter_chain ifilters, ofilters;
	uint64_t bytes_in, bytes_out;
	enum io_end end;		/* why the stream stopped, once it has */
	int err;
};

/* How io_write_all writes, beyond a plain write-all: see io.c. */
struct io_write_how {
	int sock;				/* send(MSG_NOSIGNAL), not write */
	int (*before)(void *ctx, size_t *chunk);	/* ahead of each write; -1 ends */
	void *ctx;
	uint64_t *done;				/* += bytes written */
};

int io_init(struct io *io, int rfd, int wfd, size_t max_line, unsigned idle_timeout);
void io_free(struct io *io);
void io_signals(void);
int io_reset(void);
void io_deadline(enum io_end why, const struct timespec *base, unsigned secs);
int io_stopped(void);
ssize_t io_read(struct io *io, const char **buf);
int io_getline(struct io *io, const char **line, size_t *len);
ssize_t io_getlines(struct io *io, char **buf);
const char *io_line_watch(const char *buf, size_t len);
int io_write(struct io *io, const void *buf, size_t len);
int io_puts(struct io *io, const char *s);
int io_flush(struct io *io);
int io_close(struct io *io);
void io_linger(int rfd, int wfd);
const char *io_end_name(enum io_end e);
int io_write_all(int fd, const void *buf, size_t len, const struct io_write_how *how);
long io_ms_since(const struct timespec *t0);
int64_t io_now_ms(void);

#endif

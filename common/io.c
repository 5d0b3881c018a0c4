/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* memrchr */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

/* After the last reply, how long and how much to drain so the close is a FIN, not a RST. */
#define LINGER_MS 1000
#define LINGER_BYTES (256 * 1024)

/* Why the session must stop, set by a signal: IO_SESSION, IO_LOGIN or IO_TERM, else 0. */
static volatile sig_atomic_t stopped;

/*
 * The session's deadlines, in CLOCK_MONOTONIC milliseconds (0: none): the
 * session timeout and a login deadline (cmdserver's --login-timeout). One
 * timer is armed for the nearer; when it rings, the handler ends the
 * session with the reason whose time has come, or re-arms for the other.
 * Once the session is stopped the timer rings every 100 ms, so that a
 * read or write entered just after the flag was checked is still
 * interrupted.
 */
static volatile int64_t deadline_session, deadline_login;
/* The timer was set to ring (it may have rung since): only then is there one to disarm. */
static volatile sig_atomic_t armed;

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
int64_t
io_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);	/* async-signal-safe */
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Milliseconds since t0, a CLOCK_MONOTONIC time. */
long
io_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
ring_in(int64_t ms, int64_t every)
{
	struct itimerval it = {
		.it_interval = { (time_t)(every / 1000), (suseconds_t)(every % 1000 * 1000) },
		.it_value = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000) },
	};

	(void)setitimer(ITIMER_REAL, &it, NULL);
	armed = ms || every;
}

static void
arm(int64_t now)
{
	int64_t next = 0;

	if (deadline_session && (!next || deadline_session < next))
		next = deadline_session;
	if (deadline_login && (!next || deadline_login < next))
		next = deadline_login;
	ring_in(next ? (next > now ? next - now : 1) : 0, 0);
}

static void
on_signal(int sig)
{
	int64_t now;

	if (stopped)
		return;
	if (sig != SIGALRM) {
		stopped = IO_TERM;
		ring_in(100, 100);
		return;
	}
	now = io_now_ms();
	if (deadline_login && deadline_login <= now)
		stopped = IO_LOGIN;
	else if (deadline_session && deadline_session <= now)
		stopped = IO_SESSION;
	if (stopped)
		ring_in(100, 100);
	else
		arm(now);
}

/*
 * Why the session was stopped (IO_SESSION, IO_LOGIN, IO_TERM), or 0: for
 * loops that retry EINTR, and a service that owns its stream (tls).
 */
int
io_stopped(void)
{
	return stopped;
}

/*
 * The session's signals: SIGTERM (a service being stopped) ends the
 * session like a timeout, so it still gets its log record. The handlers
 * have no SA_RESTART: a blocked read or write returns EINTR and sees the
 * flag.
 */
void
io_signals(void)
{
	static int set;		/* a PreFork worker's next sessions: set already */
	struct sigaction sa;

	if (set)
		return;
	set = 1;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
}

/*
 * Between two sessions in one process (a PreFork worker): no deadline, no
 * timer, nothing stopped. Returns what had stopped the last session, if
 * anything (IO_TERM: the process is being stopped too).
 */
int
io_reset(void)
{
	sigset_t block, orig;
	int was;

	/* The common case, a session without deadlines: nothing to undo, no system call. */
	if (!armed && !stopped && !deadline_session && !deadline_login)
		return 0;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	was = stopped;
	stopped = 0;
	deadline_session = deadline_login = 0;
	ring_in(0, 0);
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return was;
}

/*
 * Sets (secs > 0) or clears (secs 0) the deadline why (IO_SESSION or
 * IO_LOGIN) at secs after base, a CLOCK_MONOTONIC time. A deadline already
 * past ends the session at the next read or write.
 */
void
io_deadline(enum io_end why, const struct timespec *base, unsigned secs)
{
	sigset_t block, orig;
	/* base rounded up to its millisecond: a deadline never rings before secs have passed. */
	int64_t now = io_now_ms(), at = secs ? (int64_t)base->tv_sec * 1000
	    + (base->tv_nsec + 999999) / 1000000 + (int64_t)secs * 1000 : 0;

	/* No deadline to clear and no timer: nothing to do (no --session-timeout, say). */
	if (!at && !armed && !(why == IO_LOGIN ? deadline_login : deadline_session))
		return;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &orig);
	if (why == IO_LOGIN)
		deadline_login = at;
	else
		deadline_session = at;
	if (at && at <= now && !stopped)
		stopped = why;
	if (stopped)
		ring_in(100, 100);
	else
		arm(now);
	sigprocmask(SIG_SETMASK, &orig, NULL);
}

static int
is_socket(int fd)
{
	int type;
	socklen_t len = sizeof type;

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

static void
set_timeo(int fd, int opt, unsigned seconds)
{
	struct timeval tv = { .tv_sec = seconds, .tv_usec = 0 };

	(void)setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

static int
sink_out(void *ctx, const char *buf, size_t len);
static int
sink_in(void *ctx, const char *buf, size_t len);

/* The buffers of the last session, wiped, for the next in the same process. */
static char *spare;
static size_t spare_size;

int
io_init(struct io *io, int rfd, int wfd, size_t max_line, unsigned idle_timeout)
{
	memset(io, 0, sizeof *io);
	io->rfd = rfd;
	io->wfd = wfd;
	io->max_line = max_line;
	io->idle_timeout = idle_timeout;
	/*
	 * Both buffers in one mapping, untouched until used: a connection
	 * process's resident size is a cost paid once per connection. Reads
	 * of up to IO_READMAX, as large as a bulk client's bytes come: per
	 * read, a system call each way, a span of echo the size of the read.
	 * A mapping of their own, not the heap's, wiped after each session as
	 * far as it was ever written (io_free): a process that serves another
	 * client next (PreFork) starts it on zeroed buffers, whatever the last
	 * one left in them, and without mapping them again.
	 */
	io->in_cap = max_line + IO_READMAX;
	if (spare && spare_size == io->in_cap + IO_BUFSIZE) {
		io->in = spare;
		spare = NULL;
	} else if ((io->in = mmap(NULL, io->in_cap + IO_BUFSIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
		io->in = NULL;
		return -1;
	}
	io->out = io->in + io->in_cap;
	io->rsock = is_socket(rfd);
	io->wsock = rfd == wfd ? io->rsock : is_socket(wfd);
	/*
	 * On a socket the idle timeout costs no system call per read: the
	 * kernel ends a read or write that makes no progress for that long.
	 */
	if (idle_timeout && io->rsock)
		set_timeo(rfd, SO_RCVTIMEO, idle_timeout);
	if (idle_timeout && io->wsock)
		set_timeo(wfd, SO_SNDTIMEO, idle_timeout);
	io->ofilters.sink = sink_out;
	io->ofilters.sink_ctx = io;
	io->ifilters.sink = sink_in;
	io->ifilters.sink_ctx = io;
	return 0;
}

void
io_free(struct io *io)
{
	size_t size = io->in_cap + IO_BUFSIZE;

	if (!io->in)
		return;
	explicit_bzero(io->in, io->in_used);
	explicit_bzero(io->out, io->out_used);
	if (spare)
		munmap(io->in, size);
	else {
		spare = io->in;
		spare_size = size;
	}
	io->in = io->out = NULL;
}

/*
 * The first end wins, except that EOF only closes the client's sending side:
 * a later write may still fail, and that failure is the better reason.
 */
static int
fail(struct io *io, enum io_end end, int err)
{
	if (io->end == IO_OK || (io->end == IO_EOF && end != IO_EOF)) {
		io->end = end;
		io->err = err;
	}
	return -1;
}

/*
 * Maps a failed read or write to the reason the stream ended. The kernel's
 * SO_RCVTIMEO/SO_SNDTIMEO expiry (EAGAIN) and the session alarm (EINTR) are
 * timeouts, logged as such, as on a pipe, not as the errno that carried them.
 */
static int
fail_errno(struct io *io, int err)
{
	switch (err) {
	case EAGAIN:
		return fail(io, IO_IDLE, ETIMEDOUT);
	case EPIPE:
	case ECONNRESET:
	case ENOTCONN:
		return fail(io, IO_RESET, err);
	case EINTR:
		return fail(io, stopped ? (enum io_end)stopped : IO_SESSION,
		    stopped == IO_TERM ? 0 : ETIMEDOUT);
	default:
		return fail(io, IO_ERROR, err);
	}
}

/* Waits for fd when the kernel cannot time the call for us (pipes, terminals). */
static int
wait_fd(struct io *io, int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	for (;;) {
		if (stopped)
			return fail_errno(io, EINTR);
		r = poll(&p, 1, (int)io->idle_timeout * 1000);
		if (r > 0)
			return 0;
		if (r == 0)
			return fail(io, IO_IDLE, ETIMEDOUT);
		if (errno != EINTR)
			return fail_errno(io, errno);
	}
}

static ssize_t
raw_read(struct io *io, char *buf, size_t len)
{
	ssize_t n;

	for (;;) {
		if (stopped)
			return fail_errno(io, EINTR);
		if (io->idle_timeout && !io->rsock && wait_fd(io, io->rfd, POLLIN) < 0)
			return -1;
		n = read(io->rfd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR && !stopped)
			continue;
		return fail_errno(io, errno);
	}
}

/* Output may still go out after EOF: the reply to the client's last bytes. */
static int
writable(const struct io *io)
{
	return io->end == IO_OK || io->end == IO_EOF;
}

/*
 * The one write-all loop (the stream's, the log's, the block-list index's):
 * all len bytes of buf to fd, through partial writes, EINTR retried; a
 * write that takes no byte ends it (EIO). With how: a socket is sent to
 * with MSG_NOSIGNAL (a gone client is EPIPE, not SIGPIPE); before, ahead of
 * every write, may wait, lower *chunk (all that is left) or end the loop
 * (-1); done is added every byte written, however the loop ends. Returns 0,
 * or -1 with errno from the write (before sets its own).
 */
int
io_write_all(int fd, const void *buf, size_t len, const struct io_write_how *how)
{
	const char *p = buf;
	size_t chunk;
	ssize_t n;

	while (len) {
		chunk = len;
		if (how && how->before && how->before(how->ctx, &chunk) < 0)
			return -1;
		if (how && how->sock)
			n = send(fd, p, chunk, MSG_NOSIGNAL);
		else
			n = write(fd, p, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		if (how && how->done)
			*how->done += (uint64_t)n;
	}
	return 0;
}

/*
 * Ahead of every write to the client: a stopped session writes no more, and
 * a pipe, where the kernel cannot time the write, is waited for and written
 * at most PIPE_BUF bytes at a time (what it takes without blocking).
 */
static int
before_write(void *ctx, size_t *chunk)
{
	struct io *io = ctx;

	if (stopped)
		return fail_errno(io, EINTR);
	if (!io->wsock && io->idle_timeout) {
		if (wait_fd(io, io->wfd, POLLOUT) < 0)
			return -1;
		if (*chunk > PIPE_BUF)
			*chunk = PIPE_BUF;
	}
	return 0;
}

static int
write_all(struct io *io, const char *buf, size_t len)
{
	const struct io_write_how how = { .sock = io->wsock, .before = before_write, .ctx = io,
	    .done = &io->bytes_out };

	if (!writable(io))
		return -1;
	if (io_write_all(io->wfd, buf, len, &how) == 0)
		return 0;
	/* A stop or a failed wait has ended the stream already; a failed write ends it here. */
	return writable(io) ? fail_errno(io, errno) : -1;
}

int
io_flush(struct io *io)
{
	size_t n = io->out_len;

	io->out_len = 0;
	return n ? write_all(io, io->out, n) : 0;
}

static int
sink_out(void *ctx, const char *buf, size_t len)
{
	struct io *io = ctx;
	size_t n;

	while (len) {
		/*
		 * Nothing held and a large span (a whole read, echoed): straight
		 * to the fd, not copied through out first. Small ones are still
		 * gathered, so a reply made of pieces is one write.
		 */
		if (io->out_len == 0 && len >= IO_DIRECT)
			return write_all(io, buf, len);
		n = IO_BUFSIZE - io->out_len;
		if (n > len)
			n = len;
		memcpy(io->out + io->out_len, buf, n);
		io->out_len += n;
		if (io->out_len > io->out_used)
			io->out_used = io->out_len;
		buf += n;
		len -= n;
		if (io->out_len == IO_BUFSIZE && io_flush(io) < 0)
			return -1;
	}
	return 0;
}

int
io_write(struct io *io, const void *buf, size_t len)
{
	if (!writable(io))
		return -1;
	return len ? filter_pass(&io->ofilters, 0, buf, len) : 0;
}

int
io_puts(struct io *io, const char *s)
{
	return io_write(io, s, strlen(s));
}

static void
in_written(struct io *io)
{
	if (io->in_off + io->in_len > io->in_used)
		io->in_used = io->in_off + io->in_len;
}

static int
sink_in(void *ctx, const char *buf, size_t len)
{
	struct io *io = ctx;
	size_t end = io->in_off + io->in_len;

	if (len > io->in_cap - end) {
		errno = ENOBUFS;	/* an input filter broke its contract */
		return -1;
	}
	memcpy(io->in + end, buf, len);
	io->in_len += len;
	in_written(io);
	return 0;
}

/*
 * Reads once more from the client into the input buffer, flushing pending
 * output first. Returns the bytes added, 0 at end of input, -1 when the
 * stream ended otherwise (io->end says why).
 */
static int
io_fill(struct io *io)
{
	char tmp[16384];
	size_t room;
	ssize_t n;

	if (io->end != IO_OK)
		return io->end == IO_EOF ? 0 : -1;
	if (io_flush(io) < 0)
		return -1;
	if (io->in_len == 0)
		io->in_off = 0;
	else if (io->in_off + io->in_len > io->in_cap - IO_BUFSIZE / 2) {
		memmove(io->in, io->in + io->in_off, io->in_len);
		io->in_off = 0;
	}
	room = io->in_cap - io->in_off - io->in_len;
	if (io->ifilters.n == 0) {
		n = raw_read(io, io->in + io->in_off + io->in_len, room);
		if (n > 0) {
			io->in_len += (size_t)n;
			in_written(io);
		}
	} else {
		n = raw_read(io, tmp, room < sizeof tmp ? room : sizeof tmp);
		if (n >= 0 && filter_pass(&io->ifilters, 0, tmp, (size_t)n) < 0)
			return fail(io, IO_ERROR, errno);
	}
	if (n < 0)
		return -1;
	if (n == 0) {
		fail(io, IO_EOF, 0);
		return 0;
	}
	io->bytes_in += (uint64_t)n;
	return (int)n;
}

/* Whatever input there is, at most one read's worth; 0 at EOF, -1 on other ends. */
ssize_t
io_read(struct io *io, const char **buf)
{
	ssize_t n;
	int r;

	if (io->in_len == 0 && (r = io_fill(io)) <= 0)
		return r;
	*buf = io->in + io->in_off;
	n = (ssize_t)io->in_len;
	io->in_off += io->in_len;
	io->in_len = 0;
	return n;
}

/*
 * The next line, ending at LF. A line longer than max_line comes in pieces
 * of max_line bytes (IO_LINE_PIECE), so no line is ever lost or held whole.
 * The line stays valid until the next call. Returns the kind, 0 at end of
 * input, -1 when the stream ended otherwise.
 */
/* More input for a line: 1 if some came, 0 at EOF (*tail: what is left, 0 or more), -1 on an end. */
static int
more(struct io *io, size_t *tail)
{
	int r = io_fill(io);

	*tail = io->in_len;
	return r < 0 ? -1 : r > 0;
}

/* The next len bytes of input, taken: valid until the next read. */
static char *
take(struct io *io, size_t len)
{
	char *p = io->in + io->in_off;

	io->in_off += len;
	io->in_len -= len;
	return p;
}

int
io_getline(struct io *io, const char **line, size_t *len)
{
	size_t scanned = 0, lim;
	char *p, *lf;
	int r;

	for (;;) {
		p = io->in + io->in_off;
		lim = io->in_len < io->max_line ? io->in_len : io->max_line;
		lf = scanned < lim ? memchr(p + scanned, '\n', lim - scanned) : NULL;
		if (lf) {
			*len = (size_t)(lf - p) + 1;
			r = IO_LINE_FULL;
			break;
		}
		scanned = lim;
		if (io->in_len >= io->max_line) {
			*len = io->max_line;
			r = IO_LINE_PIECE;
			break;
		}
		if ((r = more(io, len)) <= 0) {
			if (r < 0 || *len == 0)
				return r;
			r = IO_LINE_LAST;
			break;
		}
	}
	*line = take(io, *len);
	return r;
}

/*
 * Every whole line the input holds, at once: up to its last LF; else, of a
 * line longer than max_line, the largest multiple of max_line bytes; else,
 * at EOF, the unterminated tail. The bytes io_getline returns in several
 * calls, held back exactly as long (a partial line shorter than max_line
 * waits for its LF), in one span the caller may change in place (it stays
 * valid until the next call). Returns its length, 0 at end of input, -1
 * when the stream ended otherwise.
 */
ssize_t
io_getlines(struct io *io, char **buf)
{
	size_t scanned = 0, len;
	char *p, *lf;
	int r;

	for (;;) {
		p = io->in + io->in_off;
		/* Only what the last read added can hold a new LF. */
		lf = io->in_len > scanned ? memrchr(p + scanned, '\n', io->in_len - scanned) : NULL;
		if (lf) {
			len = (size_t)(lf - p) + 1;
			break;
		}
		scanned = io->in_len;
		if (io->max_line && io->in_len >= io->max_line) {
			len = io->in_len - io->in_len % io->max_line;
			break;
		}
		if ((r = more(io, &len)) <= 0) {
			if (r < 0 || len == 0)
				return r;
			break;
		}
	}
	*buf = take(io, len);
	return (ssize_t)len;
}

/*
 * The first line start that the blank-line watch of echo and lcecho must
 * look at in buf[0..len): the LF before a line that starts with CR or LF,
 * or a last byte LF (the next span's first byte decides). NULL if none: the
 * lines in between start with other bytes and cannot be blank. Blocks of
 * IO_WATCH_BLOCK bytes are looked at 16 at a time, without a branch, and
 * only the block that holds one byte by byte: no call per line, as a
 * memchr for each LF is.
 */
const char *
io_line_watch(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	filter_v16 a, b, hit;
	uint64_t w[2];
	size_t i, k;

	for (i = 0; i + IO_WATCH_BLOCK < len; i += IO_WATCH_BLOCK) {
		hit = (filter_v16){ 0 };
		for (k = i; k < i + IO_WATCH_BLOCK; k += sizeof a) {
			memcpy(&a, s + k, sizeof a);
			memcpy(&b, s + k + 1, sizeof b);
			hit |= (filter_v16)((a == '\n') & ((b == '\n') | (b == '\r')));
		}
		memcpy(w, &hit, sizeof w);
		if (w[0] | w[1])
			break;
	}
	for (; i + 1 < len; i++)
		if (s[i] == '\n' && (s[i + 1] == '\n' || s[i + 1] == '\r'))
			return buf + i;
	return len && s[len - 1] == '\n' ? buf + len - 1 : NULL;
}

/*
 * Flushes, then ends the session cleanly: a socket gets a FIN after the last
 * byte, and unread input is drained briefly so the kernel does not answer it
 * with a RST that could destroy the reply in flight.
 */
int
io_close(struct io *io)
{
	int r = io_flush(io);

	if (!io->wsock || (io->end != IO_OK && io->end != IO_EOF) || r < 0)
		return r;
	if (io->end == IO_EOF || !io->rsock)
		shutdown(io->wfd, SHUT_WR);
	else
		io_linger(io->rfd, io->wfd);
	return r;
}

/*
 * The clean close of a socket, also for a refusal sent without a session:
 * a FIN after the last byte, then unread input drained briefly (LINGER_MS,
 * LINGER_BYTES) so that the kernel does not answer it with a reset that
 * could destroy the reply in flight. wfd not a socket: nothing to do.
 */
void
io_linger(int rfd, int wfd)
{
	char tmp[4096];
	struct timespec t0;
	size_t drained = 0;
	ssize_t n;

	if (shutdown(wfd, SHUT_WR) < 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (drained < LINGER_BYTES) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		long left;

		left = LINGER_MS - io_ms_since(&t0);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(rfd, tmp, sizeof tmp, MSG_DONTWAIT);
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

const char *
io_end_name(enum io_end e)
{
	static const char *const names[] = { "ok", "eof", "idle timeout", "session timeout",
	    "reset", "terminated", "error", "login timeout" };

	return names[e];
}

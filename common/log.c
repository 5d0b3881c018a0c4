/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "text.h"

#define LOG_MSGMAX 2048
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *ident = "inetkit";
static int level = LOG_LVL_NOTICE;
static enum log_sink sink = LOG_SINK_STDERR;
static int file_fd = -1;
static int journal_fd = -1;
static char file_path[PATH_MAX];		/* the --log file's name, for log_keep_file */
static int journal_connected;		/* connected before a chroot: send(), not sendto() */
static int syslog_open;
static int stderr_client;		/* fd 2 may be the client: never write there */
static int syslog_opts = LOG_PID, syslog_facility = LOG_DAEMON;

static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
static const char *const level_name[] = { "error", "warning", "notice", "info", "debug" };

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to stderr: two whole numbers. */
static int
stderr_is_journal(const struct stat *st)
{
	const char *js = getenv("JOURNAL_STREAM"), *colon = js ? strchr(js, ':') : NULL;
	unsigned long long dev, ino;

	if (!colon || text_uint_n(js, (size_t)(colon - js), 0, 0, ULLONG_MAX, &dev) < 0
	    || text_uint_n(colon + 1, strlen(colon + 1), 0, 0, ULLONG_MAX, &ino) < 0)
		return 0;
	return (unsigned long long)st->st_dev == dev && (unsigned long long)st->st_ino == ino;
}

/*
 * Under inetd, xinetd and systemd with StandardError=socket, fd 2 is the
 * client's socket: a log line there would go to the client. So a socket on
 * fd 2 (or no fd 2 at all) means syslog, unless systemd says it is the
 * journal's stream.
 */
static enum log_sink
detect(void)
{
	struct stat st;

	stderr_client = 0;
	if (fstat(2, &st) < 0) {
		stderr_client = 1;
		return LOG_SINK_SYSLOG;
	}
	if (stderr_is_journal(&st))
		return LOG_SINK_JOURNAL;
	if (S_ISSOCK(st.st_mode)) {
		stderr_client = 1;
		return LOG_SINK_SYSLOG;
	}
	return LOG_SINK_STDERR;
}

void
log_init(const char *name)
{
	ident = name;
	sink = detect();
}

int
log_open(enum log_sink s, const char *path)
{
	if (s == LOG_SINK_AUTO) {
		sink = detect();
		return 0;
	}
	if (s == LOG_SINK_FILE) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

		if (fd < 0)
			return -1;
		if (file_fd >= 0)
			close(file_fd);
		file_fd = fd;
		snprintf(file_path, sizeof file_path, "%s", path);
	}
	sink = s;
	return 0;
}

void
log_adopt_file(int fd, const char *path)
{
	if (file_fd >= 0 && file_fd != fd)
		close(file_fd);
	file_fd = fd;
	snprintf(file_path, sizeof file_path, "%s", path);
	sink = LOG_SINK_FILE;
}

/*
 * The --log file kept open across an exec in this process (which keeps its
 * pid), and named in INETKIT_LOG_FD="PID:FD:K:PATH" for the program about
 * to run: K is 'r' for a re-exec of the same program, which takes the file
 * if its configuration names the same PATH (a --chroot or --user may hide
 * it), 'p' for the PROGRAM blockip and tls run, which also takes it when it
 * names no log of its own. LOG_KEEP_OFF undoes it after a failed exec.
 */
void
log_keep_file(enum log_keep k)
{
	char v[64 + PATH_MAX];

	if (sink != LOG_SINK_FILE || file_fd < 0)
		return;
	fcntl(file_fd, F_SETFD, k == LOG_KEEP_OFF ? FD_CLOEXEC : 0);
	if (k == LOG_KEEP_OFF) {
		unsetenv("INETKIT_LOG_FD");
		return;
	}
	snprintf(v, sizeof v, "%ld:%d:%c:%s", (long)getpid(), file_fd,
	    k == LOG_KEEP_REEXEC ? 'r' : 'p', file_path);
	setenv("INETKIT_LOG_FD", v, 1);
}

/* Net::Server's syslog_ident, syslog_logopt, syslog_facility: NULL ident keeps the program's. */
void
log_set_syslog(const char *id, int opts, int facility)
{
	if (id)
		ident = id;
	syslog_opts = opts;
	syslog_facility = facility;
	if (syslog_open) {
		closelog();
		syslog_open = 0;
	}
}

void
log_set_level(int l)
{
	level = l;
}

int
log_level(void)
{
	return level;
}

static void
to_stream(int fd, int lvl, const char *msg, int stamp)
{
	char line[LOG_MSGMAX + 128];
	char ts[32] = "";
	int n;

	if (stamp) {
		time_t t = time(NULL);
		struct tm tm;

		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S%z ", localtime_r(&t, &tm));
	}
	n = snprintf(line, sizeof line, "%s%s[%ld]: %s: %s\n", ts, ident, (long)getpid(),
	    level_name[lvl], msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	(void)io_write_all(fd, line, (size_t)n, NULL);	/* a log line that fails is lost */
}

/*
 * One field of a native journal datagram. A value holding a newline would
 * end the field early and start a forged one, so it is sent in the
 * protocol's binary form: KEY, LF, its length as 64-bit little endian, the
 * bytes, LF. Returns the bytes added, or 0 if the field does not fit.
 */
static size_t
journal_field(char *buf, size_t cap, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value), i;
	int n;

	if (!memchr(value, '\n', vlen)) {
		n = snprintf(buf, cap, "%s=%s\n", key, value);
		return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
	}
	if (klen + 1 + 8 + vlen + 1 > cap)
		return 0;
	memcpy(buf, key, klen);	/* NOLINT(bugprone-not-null-terminated-result) */
	buf[klen] = '\n';
	for (i = 0; i < 8; i++)
		buf[klen + 1 + i] = (char)((uint64_t)vlen >> (8 * i));
	memcpy(buf + klen + 9, value, vlen);	/* NOLINT(bugprone-not-null-terminated-result) */
	buf[klen + 9 + vlen] = '\n';
	return klen + vlen + 10;
}

static const struct sockaddr_un journal_sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };

/* systemd's native journal protocol: one datagram of KEY=value lines. */
static int
to_journal(int lvl, const struct log_field *f, size_t nf, const char *msg)
{
	char buf[LOG_MSGMAX * 2 + 512], prio[4], fac[12];
	size_t i, n, o = 0;

	if (journal_fd < 0)
		journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (journal_fd < 0)
		return -1;
	snprintf(prio, sizeof prio, "%d", syslog_prio[lvl]);
	if (!(n = journal_field(buf, sizeof buf, "PRIORITY", prio)))
		return -1;
	o += n;
	snprintf(fac, sizeof fac, "%d", syslog_facility >> 3);
	if (!(n = journal_field(buf + o, sizeof buf - o, "SYSLOG_FACILITY", fac)))
		return -1;
	o += n;
	if (!(n = journal_field(buf + o, sizeof buf - o, "SYSLOG_IDENTIFIER", ident)))
		return -1;
	o += n;
	if (!(n = journal_field(buf + o, sizeof buf - o, "MESSAGE", msg)))
		return -1;
	o += n;
	for (i = 0; i < nf; i++) {
		if (!(n = journal_field(buf + o, sizeof buf - o, f[i].key, f[i].value)))
			break;
		o += n;
	}
	if (journal_connected)
		return send(journal_fd, buf, o, MSG_NOSIGNAL) < 0 ? -1 : 0;
	return sendto(journal_fd, buf, o, MSG_NOSIGNAL, (const struct sockaddr *)&journal_sa,
	    sizeof journal_sa) < 0 ? -1 : 0;
}

/*
 * Before a chroot, which hides the paths the sinks are reached by: syslog's
 * socket is connected now (LOG_NDELAY) wherever a record may go to syslog,
 * and the journal's socket is connected, so that records are sent on it
 * afterwards. A file is open already, and stderr is a descriptor. If the
 * log daemon restarts later, the connection is lost with it.
 */
void
log_connect(void)
{
	if (sink == LOG_SINK_JOURNAL) {
		if (journal_fd < 0)
			journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (journal_fd >= 0 && connect(journal_fd, (const struct sockaddr *)&journal_sa,
		    sizeof journal_sa) == 0)
			journal_connected = 1;
	}
	if (sink == LOG_SINK_SYSLOG || stderr_client) {
		openlog(ident, syslog_opts | LOG_NDELAY, syslog_facility);
		syslog_open = 1;
	}
}

/* Whether records may be written to file descriptor 2 (stderr, or the journal's fallback). */
int
log_uses_stderr(void)
{
	return !stderr_client && (sink == LOG_SINK_STDERR || sink == LOG_SINK_JOURNAL);
}

static void
to_syslog(int lvl, const char *msg)
{
	if (!syslog_open) {
		openlog(ident, syslog_opts, syslog_facility);
		syslog_open = 1;
	}
	syslog(syslog_prio[lvl], "%s", msg);
}

/*
 * A socket on fd 2 that is not the journal's stream is taken to be the
 * client (inetd, xinetd): even with --log stderr, or --log journal when the
 * journal cannot be reached, the record goes to syslog instead.
 */
static void
emit(int lvl, const struct log_field *f, size_t nf, const char *msg)
{
	int saved = errno;

	switch (sink) {
	case LOG_SINK_JOURNAL:
		if (to_journal(lvl, f, nf, msg) == 0)
			break;
		if (stderr_client)
			to_syslog(lvl, msg);
		else
			to_stream(2, lvl, msg, 0);
		break;
	case LOG_SINK_SYSLOG:
		to_syslog(lvl, msg);
		break;
	case LOG_SINK_FILE:
		to_stream(file_fd, lvl, msg, 1);
		break;
	default:
		if (stderr_client)
			to_syslog(lvl, msg);
		else
			to_stream(2, lvl, msg, 0);
		break;
	}
	errno = saved;
}

static void
vlog(int lvl, const struct log_field *f, size_t nf, const char *fmt, va_list ap)
{
	char msg[LOG_MSGMAX];

	if (lvl > level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	emit(lvl, f, nf, msg);
}

void
log_fields(int lvl, const struct log_field *f, size_t nf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, f, nf, fmt, ap);
	va_end(ap);
}

void
log_msg(int lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, NULL, 0, fmt, ap);
	va_end(ap);
}

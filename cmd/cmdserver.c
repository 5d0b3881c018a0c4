/* SPDX-License-Identifier: MIT */
/*
 * inetkit-cmdserver: mod_perl's CommandServer as an inetd service. After the
 * address check and a login (htpasswd file or PAM), runs one command per
 * line: motd, date, who, quit. Every failure is "Access Denied".
 */
#include <errno.h>
#include <fcntl.h>
#include <paths.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/auth.h"
#include "../common/conn.h"
#include "../common/daemon.h"
#include "../common/die.h"
#include "../common/htpasswd.h"
#include "../common/pamauth.h"
#include "../common/utmp.h"

#define WELCOME "Welcome to inetkit cmdserver\nAvailable commands: motd date who quit\n"
#define USAGE "Commands: motd date who quit\n"
#define DENIED "Access Denied\n"
#define NEED_TLS "This service requires TLS: a password is never asked in clear. " \
    "Connect to its TLS port.\n"
#define TTY "inetkit-cmdserver"

enum { SATISFY_ALL, SATISFY_ANY };

static const char *htpasswd_file, *pam_service, *motd_file = "/etc/motd";
static const char *utmp_file;
static int satisfy;
static struct conf_list require_user;
static unsigned long fail_delay = 2, login_timeout = 60;
static int require_tls;

static const char *const satisfy_choices[] = { "all", "any", NULL };

static const struct conf_opt options[] = {
	{ .name = "htpasswd", .type = CONF_STR,
	    .dest = &htpasswd_file, .arg = "FILE",
	    .help = "check logins against this Apache htpasswd file (read per connection)" },
	{ .name = "pam", .type = CONF_STR,
	    .dest = &pam_service, .arg = "SERVICE", .help = "check logins with PAM, as this service" },
	{ .name = "satisfy", .type = CONF_CHOICE,
	    .dest = &satisfy, .choices = satisfy_choices, .arg = "all|any",
	    .help = "all: address rules and login; any: an allow rule match skips the login "
	    "(default all)" },
	{ .name = "require-user", .type = CONF_LIST,
	    .dest = &require_user, .arg = "NAME",
	    .help = "only this user may log in (repeatable; default any valid user)" },
	{ .name = "fail-delay", .type = CONF_UINT,
	    .dest = &fail_delay, .max = 60, .arg = "SECS",
	    .help = "answer a failed login SECS after the password, whatever the user (default 2)" },
	{ .name = "login-timeout", .type = CONF_UINT,
	    .dest = &login_timeout, .max = 3600, .arg = "SECS",
	    .help = "time from connection to login, all prompts together; 0 none (default 60)" },
	{ .name = "motd", .type = CONF_STR,
	    .dest = &motd_file, .arg = "FILE",
	    .help = "file the motd command sends (default /etc/motd)" },
	{ .name = "require-tls", .type = CONF_FLAG, .dest = &require_tls,
	    .help = "ask for a password only behind inetkit-tls; refuse such a login otherwise" },
	{ .name = "utmp", .type = CONF_STR,
	    .dest = &utmp_file, .arg = "FILE",
	    .help = "utmp file the who command reads (default the system's)" },
	{ .name = NULL },
};

/*
 * Apache's Satisfy: with "any", an address that an explicit allow rule
 * matched needs no login, and every other client may still log in (the
 * default "no rule allows" never counts). With "all", a refused address
 * gets "Access Denied" at once.
 */
static int
configure(struct conn *c, struct conn_settings *s)
{
	(void)c;
	(void)s;
	if (!htpasswd_file == !pam_service) {
		log_msg(LOG_LVL_ERR, "fatal: exactly one of --htpasswd FILE and --pam SERVICE is "
		    "required");
		return EXIT_USAGE;
	}
	/* PAM loads its modules and reads /etc/pam.d at every login: not inside a chroot. */
	if (pam_service && daemon_chroot_dir()) {
		log_msg(LOG_LVL_ERR, "fatal: --pam cannot work inside --chroot (PAM loads its "
		    "modules and reads /etc/pam.d at every login): use --htpasswd there");
		return EXIT_USAGE;
	}
	/* Read at every login: with --chroot, a path inside the new root. */
	daemon_need("--htpasswd", htpasswd_file, DAEMON_NEED_READ);
	/*
	 * A password is typed into this process: no core file, and no
	 * /proc/PID/mem or ptrace for other processes of the same user.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: unable to make the process non-dumpable: %s",
		    strerror(errno));
		return EXIT_TEMP;
	}
	return EXIT_SERVED;
}

/* With --satisfy any, a client that an allow rule matched is let in by address. */
static int
must_log_in(const struct conn *c)
{
	return satisfy != SATISFY_ANY || c->access != ACL_ALLOW;
}

/*
 * A client that must log in has --login-timeout from the connection's
 * start for the whole pre-authentication phase; one let in by address has
 * no such phase.
 */
static enum conn_verdict
pre_connection(struct conn *c)
{
	if (satisfy == SATISFY_ALL && acl_refused(c->access))
		return CONN_REFUSE;
	if (must_log_in(c))
		io_deadline(IO_LOGIN, &c->start, (unsigned)login_timeout);
	return CONN_ACCEPT;
}

/*
 * One line into buf (cap bytes, NUL-terminated), trailing CR/LF cut. A
 * line longer than fits is read to its LF and thrown away. The bytes read
 * are wiped from the input buffer: they may be a password.
 */
static enum auth_answer
read_answer(struct io *io, char *buf, size_t cap, size_t *outlen)
{
	const char *line;
	size_t len, total = 0, trail = 0, i, stored = 0;
	int kind;

	for (;;) {
		kind = io_getline(io, &line, &len);
		if (kind < 0 || (kind == 0 && total == 0))
			return AUTH_ANSWER_GONE;
		if (kind == 0)
			break;
		for (i = len; i > 0 && (line[i - 1] == '\r' || line[i - 1] == '\n'); i--)
			;
		trail = i == 0 ? trail + len : len - i;
		for (i = 0; i < len && stored + 1 < cap; i++)
			buf[stored++] = line[i];
		total += len;
		explicit_bzero((char *)line, len);
		if (kind != IO_LINE_PIECE)
			break;
	}
	if (total - trail > cap - 1) {
		explicit_bzero(buf, cap);
		return AUTH_ANSWER_LONG;
	}
	*outlen = total - trail;
	buf[*outlen] = '\0';
	return AUTH_ANSWER_OK;
}

/* One login: the connection, and when the client last answered a prompt. */
struct attempt {
	struct conn *c;
	struct timespec answered;
};

static enum auth_answer
converse(void *ctx, enum auth_msg kind, const char *msg, char *ans, size_t cap, size_t *len)
{
	struct attempt *at = ctx;
	struct io *io = &at->c->io;
	size_t n = strlen(msg);
	enum auth_answer r;

	if (io_write(io, msg, n) < 0)
		return AUTH_ANSWER_GONE;
	if (kind == AUTH_MSG_INFO || kind == AUTH_MSG_ERROR)
		return (n && msg[n - 1] == '\n') || io_puts(io, "\n") == 0 ? AUTH_ANSWER_OK
		    : AUTH_ANSWER_GONE;
	r = read_answer(io, ans, cap, len);
	clock_gettime(CLOCK_MONOTONIC, &at->answered);
	return r;
}

static void
note(void *ctx, const char *msg)
{
	(void)ctx;
	log_msg(LOG_LVL_WARNING, "%s", msg);
}

/*
 * OpenSSH's ensure_minimum_time_since(): a failed login is answered secs
 * after the client's last answer, however long the check took, so the
 * reply's time tells nothing of the user or its hash. A check that took
 * longer (a hash costlier than --fail-delay) is padded to the next doubling.
 */
static void
pad_since(const struct timespec *since, unsigned long secs)
{
	struct timespec now, until;
	double elapsed, want = (double)secs;

	if (!secs)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
	while (want <= elapsed)
		want *= 2;
	until.tv_sec = since->tv_sec + (time_t)want;
	until.tv_nsec = since->tv_nsec;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

static int
required(const char *user)
{
	size_t i;

	for (i = 0; i < require_user.n; i++)
		if (strcmp(require_user.v[i], user) == 0)
			return 1;
	return require_user.n == 0;
}

/* How a login ended. */
enum login_outcome {
	LOGIN_OK,		/* on to the commands */
	LOGIN_FAILED,		/* refused: wrong password, unknown user, account, penalty */
	LOGIN_ABANDONED,	/* the client left or timed out at a prompt, or was stopped */
	LOGIN_UNAVAILABLE,	/* the backend could not answer */
};

/*
 * How the login ended, into the connection's record (its verdict, and
 * whether its source may be penalized for it), and the exit status that
 * means: the one place cmdserver writes the connection's outcome.
 */
static int
login_ended(struct conn *c, enum login_outcome o)
{
	switch (o) {
	case LOGIN_OK:
		break;
	case LOGIN_FAILED:
		return conn_end(c, EXIT_REFUSED, "login failed", NULL);
	case LOGIN_UNAVAILABLE:
		return conn_end(c, EXIT_TEMP, "login failed", NULL);
	case LOGIN_ABANDONED:
		/* Stopped by the service (SIGTERM, an error), not left by the client: no penalty. */
		c->out.blameless = c->io.end == IO_TERM || c->io.end == IO_ERROR;
		return conn_end(c, EXIT_REFUSED, c->io.end == IO_IDLE || c->io.end == IO_SESSION
		    || c->io.end == IO_LOGIN ? "login timeout" : "login abandoned", NULL);
	}
	return EXIT_SERVED;
}

/* The client left or timed out at a prompt: EOF gets its answer at once, the rest nothing. */
static enum login_outcome
abandoned(struct conn *c, const char *where)
{
	if (c->io.end == IO_EOF || c->io.end == IO_OK)
		io_puts(&c->io, DENIED);
	log_msg(LOG_LVL_NOTICE, "login abandoned by %s (user %s) at %s: %s", peer_str(&c->peer),
	    c->user[0] ? c->user : "-", where, io_end_name(c->io.end));
	return LOGIN_ABANDONED;
}

/*
 * What the service itself asks of a login the backend accepted: a
 * --require-user, and a source not penalized while the login was under
 * way (one of many at once), whose answer is then every failure's.
 */
static enum auth_result
authorize(struct conn *c, struct auth_login *lg)
{
	if (!required(lg->user_final)) {
		snprintf(lg->why, sizeof lg->why, "not a --require-user");
		return AUTH_DENIED;
	}
	if (conn_penalized(c)) {
		snprintf(lg->why, sizeof lg->why, "source penalized during the login");
		return AUTH_DENIED;
	}
	return AUTH_OK;
}

/*
 * A failed login: logged, told (the account messages PAM's account check
 * earns), and answered "Access Denied" --fail-delay after the client's
 * last answer.
 */
static enum login_outcome
failed(struct conn *c, const struct auth_login *lg, enum auth_result r,
    const struct timespec *answered)
{
	static const char *const refusal[] = {
		[AUTH_ACCT_EXPIRED] = "Account expired\n",
		[AUTH_PASS_EXPIRED] = "Password expired\n",
		[AUTH_ACCT_LOCKED] = "Account locked or not permitted\n",
	};
	char esc[TEXT_ESCBUF];

	text_escape(esc, lg->why, strlen(lg->why));
	if (r == AUTH_UNAVAIL)
		log_msg(LOG_LVL_ERR, "login refused for user %s from %s: %s",
		    c->user[0] ? c->user : "-", peer_str(&c->peer), esc);
	else
		log_msg(LOG_LVL_NOTICE, "login failed for user %s from %s: %s",
		    c->user[0] ? c->user : "-", peer_str(&c->peer), esc);
	if (r < sizeof refusal / sizeof refusal[0] && refusal[r])
		io_puts(&c->io, refusal[r]);
	io_flush(&c->io);
	pad_since(answered, fail_delay);
	io_puts(&c->io, DENIED);
	return r == AUTH_UNAVAIL ? LOGIN_UNAVAILABLE : LOGIN_FAILED;
}

/* The Login: prompt, then the backend's own prompts, then the service's checks. */
static enum login_outcome
login(struct conn *c)
{
	struct attempt at = { .c = c };
	const struct auth_conv conv = { converse, note, &at };
	char user[AUTH_USER_MAX + 1];
	struct auth_login lg = { .user = user, .tty = TTY };
	size_t ulen = 0;
	enum auth_answer ans;
	enum auth_result r;

	if (io_puts(&c->io, "Login: ") < 0)
		return abandoned(c, "the Login: prompt");
	ans = read_answer(&c->io, user, sizeof user, &ulen);
	clock_gettime(CLOCK_MONOTONIC, &at.answered);
	if (ans == AUTH_ANSWER_GONE)
		return abandoned(c, "the Login: prompt");
	conn_set_user(c, user, ans == AUTH_ANSWER_LONG ? 0 : ulen);
	lg.user_len = ans == AUTH_ANSWER_LONG ? AUTH_USER_MAX + 1 : ulen;
	lg.rhost = c->peer.has_remote ? c->peer.remote_ip : NULL;
	r = htpasswd_file ? htpasswd_login(htpasswd_file, &lg, &conv)
	    : pamauth_login(pam_service, &lg, &conv);
	explicit_bzero(user, sizeof user);
	if (r == AUTH_ABORTED)
		return abandoned(c, "a password prompt");
	/* The verdict is in: the login deadline no longer applies to its answer. */
	io_deadline(IO_LOGIN, &c->start, 0);
	if (r == AUTH_OK)
		r = authorize(c, &lg);
	if (r == AUTH_OK) {
		conn_set_user(c, lg.user_final, strlen(lg.user_final));
		log_msg(LOG_LVL_INFO, "login: user %s from %s", c->user, peer_str(&c->peer));
		return LOGIN_OK;
	}
	if (ans == AUTH_ANSWER_LONG)
		snprintf(c->user, sizeof c->user, "%s", "(too-long)");
	return failed(c, &lg, r, &at.answered);
}

static int
put_line(void *ctx, const char *line, size_t len)
{
	return io_write(ctx, line, len);
}

/* The commands: each returns 1 to end the session. */
static int
motd(struct conn *c)
{
	char buf[8192];
	ssize_t n;
	int fd = open(motd_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		if (errno != ENOENT)
			log_msg(LOG_LVL_WARNING, "unable to read motd %s: %s", motd_file,
			    strerror(errno));
		return 0;
	}
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_msg(LOG_LVL_WARNING, "unable to read motd %s: %s", motd_file,
			    strerror(errno));
			break;
		}
		if (io_write(&c->io, buf, (size_t)n) < 0)
			break;
	}
	close(fd);
	return 0;
}

static int
date(struct conn *c)
{
	char buf[64];
	time_t t = time(NULL);

	if (ctime_r(&t, buf))
		io_puts(&c->io, buf);
	return 0;
}

static int
who(struct conn *c)
{
	const char *path = utmp_file ? utmp_file : _PATH_UTMP;

	/* who(1) skips dead processes only in the system utmp, not in a named file. */
	if (utmp_who(path, (utmp_file ? 0 : UTMP_CHECK_PIDS) | (utmp_iso_time() ? UTMP_ISO_TIME : 0),
	    put_line, &c->io) < 0 && errno != ENOENT)
		log_msg(LOG_LVL_WARNING, "unable to read utmp %s: %s", path, strerror(errno));
	return 0;
}

static int
quit(struct conn *c)
{
	(void)c;
	return 1;
}

static const struct command {
	const char *name;
	int (*run)(struct conn *c);
} commands[] = {
	{ "motd", motd },
	{ "date", date },
	{ "who", who },
	{ "quit", quit },
};

/* The command a line (line end cut) names, or NULL. */
static const struct command *
command(const char *line, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (n == strlen(commands[i].name) && memcmp(line, commands[i].name, n) == 0)
			return &commands[i];
	return NULL;
}

/*
 * Behind inetkit-tls: it set SSL_PROTOCOL, and the connection is its
 * socket pair, not a TCP socket (a stale variable on a plain connection
 * does not pass for TLS).
 */
static int
behind_tls(const struct conn *c)
{
	const char *p = getenv("SSL_PROTOCOL");
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (!p || !p[0])
		return 0;
	if (getsockname(c->conn_fd, (struct sockaddr *)&ss, &len) < 0)
		return errno == ENOTSOCK;
	return ss.ss_family != AF_INET && ss.ss_family != AF_INET6;
}

static int
process(struct conn *c)
{
	const struct command *cmd;
	const char *line;
	enum login_outcome o;
	size_t len, n;
	int kind, discard = 0;

	if (must_log_in(c) && require_tls && !behind_tls(c)) {
		/* A client on the wrong port, not a guess at a password: no penalty. */
		io_puts(&c->io, NEED_TLS);
		c->out.blameless = 1;
		return conn_end(c, EXIT_REFUSED, "refused", "--require-tls: not behind inetkit-tls");
	}
	if (must_log_in(c) && (o = login(c)) != LOGIN_OK)
		return login_ended(c, o);
	io_puts(&c->io, WELCOME);
	while ((kind = io_getline(&c->io, &line, &len)) > 0) {
		if (discard) {
			discard = kind == IO_LINE_PIECE;
			continue;
		}
		if (kind == IO_LINE_PIECE) {
			io_puts(&c->io, USAGE);
			discard = 1;
			continue;
		}
		for (n = len; n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'); n--)
			;
		if (n == 0)
			continue;
		if (!(cmd = command(line, n)))
			io_puts(&c->io, USAGE);
		else if (cmd->run(c))
			break;
	}
	return conn_served(c);
}

static const struct service cmdserver = {
	.name = "cmdserver",
	.prefork = 1,
	.summary = "Line command server (motd date who quit) behind an address check and a login "
	    "(mod_perl's CommandServer).",
	.options = options,
	.configure = configure,
	.pre_connection = pre_connection,
	.process_connection = process,
	.refusal = DENIED,
};

int
main(int argc, char **argv)
{
	return conn_main(&cmdserver, argc, argv);
}

/* SPDX-License-Identifier: MIT */
/*
 * A program's start, before its first client: the common options, --help,
 * the log, where the client (or the listening sockets) came from, the
 * table of sources, and the daemon duties (daemon.c). Then the connection
 * cycle (conn.c) runs once, or once in every child of the accept loop
 * (serve.c).
 */
#define _GNU_SOURCE		/* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "ports.h"
#include "serve.h"
#include "text.h"
#include "udp.h"

#define INETKIT_VERSION "0.1.0"
#define SD_LISTEN_FDS_START 3

static struct conn_settings settings = {
	.log_level = LOG_LVL_NOTICE,
	.idle_timeout = 60,
	.max_line = 8192,
	.proxy_timeout = 5,
	.backlog = PORTS_BACKLOG,
	.serve = {
		.max_connections = 64,
		.max_per_source = 16,
		.max_per_netblock = 32,
		.drain_timeout = 10,
	},
	.limits = {
		.prefix4 = 24,
		.prefix6 = 64,
		.penalty = 1,
		.penalty_max = 300,
		.penalty_after = 1,
	},
};

static struct srctab table;

static const char *const rev_choices[] = { "no|0|off", "yes|1|on", "double", "double-detail",
    "double-autofail", "double-debug", NULL };
static const char *const dr_choices[] = { "no|0|off", "yes|1|on", "detail", "autofail", "debug",
    NULL };
static const char *const logsock_choices[] = { "unix|native", NULL };
static int double_reverse_opt = -1;	/* -1: not given */
static const char *const on_error_choices[] = { "deny", "allow", NULL };

static int
set_log(void *dest, const char *v, char *err, size_t len)
{
	struct conn_settings *s = dest;

	if (!*v) {
		snprintf(err, len, "empty value");
		return -1;
	}
	if (strcmp(v, "syslog") == 0 || strcmp(v, "Sys::Syslog") == 0)
		s->log_sink = LOG_SINK_SYSLOG;
	else if (strcmp(v, "journal") == 0)
		s->log_sink = LOG_SINK_JOURNAL;
	else if (strcmp(v, "stderr") == 0)
		s->log_sink = LOG_SINK_STDERR;
	else if (v[0] == '/')
		s->log_sink = LOG_SINK_FILE;
	else {
		snprintf(err, len, "\"%.64s\" is not syslog (or Sys::Syslog), journal, stderr or an "
		    "absolute file path", v);
		return -1;
	}
	s->log_path = v;
	return 0;
}

/* Net::Server's syslog_* keys: checked as they are read, applied with the log. */
static const char *syslog_ident;
static int syslog_logopt = LOG_PID, syslog_facility = LOG_DAEMON, syslog_logsock;

static int
set_syslog_ident(void *dest, const char *v, char *err, size_t len)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") != n) {
		snprintf(err, len, "\"%.64s\" is not 1 to 32 letters, digits, '_', '.' or '-'", v);
		return -1;
	}
	*(const char **)dest = v;
	return 0;
}

/* "pid|cons|ndelay|nowait", any of them joined by '|'. */
static int
set_syslog_logopt(void *dest, const char *v, char *err, size_t len)
{
	static const struct { const char *name; int opt; } opts[] = { { "pid", LOG_PID },
	    { "cons", LOG_CONS }, { "ndelay", LOG_NDELAY }, { "nowait", LOG_NOWAIT } };
	const char *p = v;
	int o = 0;
	size_t i, n;

	while (*p) {
		n = strcspn(p, "|");
		for (i = 0; i < sizeof opts / sizeof opts[0]; i++)
			if (strlen(opts[i].name) == n && strncmp(p, opts[i].name, n) == 0)
				break;
		if (n == 0 || i == sizeof opts / sizeof opts[0]) {
			snprintf(err, len, "\"%.64s\" is not pid, cons, ndelay, nowait joined by |", v);
			return -1;
		}
		o |= opts[i].opt;
		p += n + (p[n] == '|');
	}
	*(int *)dest = o;
	return 0;
}

static int
set_syslog_facility(void *dest, const char *v, char *err, size_t len)
{
	static const struct { const char *name; int fac; } facs[] = { { "auth", LOG_AUTH },
	    { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON }, { "daemon", LOG_DAEMON },
	    { "ftp", LOG_FTP }, { "lpr", LOG_LPR }, { "mail", LOG_MAIL }, { "news", LOG_NEWS },
	    { "syslog", LOG_SYSLOG }, { "user", LOG_USER }, { "uucp", LOG_UUCP },
	    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	    { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 } };
	size_t i;

	for (i = 0; i < sizeof facs / sizeof facs[0]; i++)
		if (strcasecmp(v, facs[i].name) == 0) {
			*(int *)dest = facs[i].fac;
			return 0;
		}
	snprintf(err, len, "\"%.64s\" is not a syslog facility (daemon, user, auth, authpriv, "
	    "local0 to local7, ...)", v);
	return -1;
}

/* Net::Server keys with no meaning outside Perl: refused, saying why. */
static char grow_shrink[] =	/* read only: a .dest, as the literals beside it */
    "Net::Server's PreFork variant that grows and shrinks is not "
    "here: --prefork N keeps N workers (PreForkSimple)";
static int
set_perl_only(void *dest, const char *v, char *err, size_t len)
{
	(void)v;
	snprintf(err, len, "%s", (const char *)dest);
	return -1;
}

/* Net::Server keys that change nothing here: accepted, and said so at debug level. */
static const char *ignored[8];
static size_t nignored;

static int
set_ignored(void *dest, const char *v, char *err, size_t len)
{
	(void)v, (void)err, (void)len;
	if (nignored < sizeof ignored / sizeof ignored[0])
		ignored[nignored++] = dest;
	return 0;
}

/* --listen ADDR:PORT, or Net::Server's "listen N": the backlog of every socket bound here. */
static int
set_listen(void *dest, const char *v, char *err, size_t len)
{
	struct conn_settings *s = dest;
	unsigned long u;

	if (*v >= '0' && *v <= '9' && !strchr(v, ':')) {
		if (text_uint(v, 1, 65535, &u) < 0) {
			snprintf(err, len, "\"%.64s\" is neither ADDRESS:PORT nor a backlog from 1 to "
			    "65535", v);
			return -1;
		}
		s->backlog = u;
		return 0;
	}
	if (!*v) {
		snprintf(err, len, "empty value");
		return -1;
	}
	if (s->listen.n == CONF_LIST_MAX) {
		snprintf(err, len, "more than %d values", CONF_LIST_MAX);
		return -1;
	}
	s->listen.v[s->listen.n++] = v;
	return 0;
}

/* Where each rule option's values go: compiled or parsed as they are read. */
static struct acl_option allow_opt = { &settings.acl, ACL_RULE_ALLOW },
    deny_opt = { &settings.acl, ACL_RULE_DENY },
    cidr_allow_opt = { &settings.acl, ACL_RULE_CIDR_ALLOW },
    cidr_deny_opt = { &settings.acl, ACL_RULE_CIDR_DENY },
    trusted_opt = { &settings.trusted, ACL_RULE_CIDR_ALLOW };

/* "N/SECS": N connections per SECS seconds. */
static int
set_rate(void *dest, const char *v, char *err, size_t len)
{
	struct srctab_rate *r = dest;

	if (text_rate(v, &r->n, &r->secs) == 0)
		return 0;
	snprintf(err, len, "\"%.64s\" is not N/SECS (1 to %lu connections per 1 to %lu seconds)",
	    v, TEXT_RATE_N_MAX, TEXT_RATE_SECS_MAX);
	return -1;
}

/* A message's text, C escapes decoded (conn.h). */
int
conn_msg_set(void *dest, const char *v, char *err, size_t len)
{
	struct conn_msg *m = dest;
	const char *why;

	if (text_unescape(v, m->s, sizeof m->s, &m->len, &why) == 0)
		return 0;
	m->len = 0;
	if (strcmp(why, "too long") == 0)
		snprintf(err, len, "longer than %zu bytes", sizeof m->s);
	else
		snprintf(err, len, "%s", why);
	return -1;
}

static const struct conf_opt common_opts[] = {
	{ .name = "conf-file", .type = CONF_STR,
	    .dest = &settings.conf_file, .arg = "FILE",
	    .help = "read options from FILE (same keys, one per line)" },
	{ .name = "log", .type = CONF_FUNC,
	    .dest = &settings, .set = set_log, .arg = "SINK",
	    .help = "syslog, journal, stderr or an absolute FILE path (default: detected)" },
	{ .name = "log-level", .type = CONF_UINT,
	    .dest = &settings.log_level, .max = 4, .arg = "N",
	    .help = "0 err, 1 warning, 2 notice, 3 info, 4 debug (default 2)" },
	{ .name = "allow", .type = CONF_FUNC,
	    .dest = &allow_opt, .set = acl_option_set, .arg = "REGEX",
	    .help = "allow clients whose address or host matches (Perl regex, as /^REGEX$/)" },
	{ .name = "deny", .type = CONF_FUNC,
	    .dest = &deny_opt, .set = acl_option_set, .arg = "REGEX",
	    .help = "refuse clients whose address or host matches" },
	{ .name = "cidr-allow", .type = CONF_FUNC,
	    .dest = &cidr_allow_opt, .set = acl_option_set, .arg = "CIDR",
	    .help = "allow clients in this IPv4 or IPv6 block" },
	{ .name = "cidr-deny", .type = CONF_FUNC,
	    .dest = &cidr_deny_opt, .set = acl_option_set, .arg = "CIDR",
	    .help = "refuse clients in this IPv4 or IPv6 block" },
	{ .name = "reverse-lookups", .type = CONF_CHOICE,
	    .dest = &settings.reverse_lookups, .choices = rev_choices, .arg = "[MODE]",
	    .help = "match host names too; double, double-MODE: as --double-reverse-lookups",
	    .optional_value = 1 },
	{ .name = "double-reverse-lookups", .type = CONF_CHOICE,
	    .dest = &double_reverse_opt, .choices = dr_choices, .arg = "[MODE]",
	    .help = "refuse a client whose name does not resolve back (detail, autofail, debug)",
	    .optional_value = 1 },
	{ .name = "syslog-ident", .type = CONF_FUNC,
	    .dest = &syslog_ident, .set = set_syslog_ident, .arg = "NAME",
	    .help = "the syslog identity (default inetkit-PROGRAM)" },
	{ .name = "syslog-logopt", .type = CONF_FUNC,
	    .dest = &syslog_logopt, .set = set_syslog_logopt, .arg = "OPT|...",
	    .help = "openlog options: pid, cons, ndelay, nowait (default pid)" },
	{ .name = "syslog-facility", .type = CONF_FUNC,
	    .dest = &syslog_facility, .set = set_syslog_facility, .arg = "NAME",
	    .help = "the syslog facility (default daemon)" },
	{ .name = "syslog-logsock", .type = CONF_CHOICE,
	    .dest = &syslog_logsock, .choices = logsock_choices, .arg = "unix",
	    .help = "Net::Server: the local syslog socket (unix or native; nothing else)" },
	{ .name = "ipv6-package", .type = CONF_FUNC, .dest = "ipv6_package", .set = set_ignored,
	    .arg = "PACKAGE", .help = "Net::Server: a Perl module; accepted and ignored" },
	{ .name = "no-close-by-child", .type = CONF_FUNC, .dest = "no_close_by_child",
	    .set = set_ignored, .arg = "1",
	    .help = "Net::Server: accepted and ignored (a child never closes the server)" },
	{ .name = "leave-children-open-on-hup", .type = CONF_FUNC,
	    .dest = "leave_children_open_on_hup", .set = set_ignored, .arg = "1",
	    .help = "Net::Server: accepted and ignored (a HUP always leaves sessions running)" },
	{ .name = "no-client-stdout", .type = CONF_FUNC, .dest = "no_client_stdout",
	    .set = set_ignored, .arg = "1",
	    .help = "Net::Server: accepted and ignored (no Perl code here to print to it)" },
	{ .name = "sig-passthrough", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = "sig_passthrough: signals are not passed on to sessions here (TERM and QUIT "
	    "let them finish, then end them)", .arg = "SIGNALS", .help = "Net::Server: refused" },
	{ .name = "tie-client-stdout", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = "tie_client_stdout is for Perl code: there is none here", .arg = "1",
	    .help = "Net::Server: refused" },
	{ .name = "tied-stdin-callback", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = "tied_stdin_callback is Perl code", .arg = "CODE",
	    .help = "Net::Server: Perl code; refused" },
	{ .name = "tied-stdout-callback", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = "tied_stdout_callback is Perl code", .arg = "CODE",
	    .help = "Net::Server: Perl code; refused" },
	{ .name = "min-servers", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = grow_shrink, .arg = "N",
	    .help = "Net::Server: refused (see --prefork)" },
	{ .name = "min-spare-servers", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = grow_shrink, .arg = "N",
	    .help = "Net::Server: refused (see --prefork)" },
	{ .name = "max-spare-servers", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = grow_shrink, .arg = "N",
	    .help = "Net::Server: refused (see --prefork)" },
	{ .name = "log-function", .type = CONF_FUNC, .set = set_perl_only,
	    .dest = "log_function is Perl code: use --log (syslog, journal, stderr or a file)",
	    .arg = "CODE", .help = "Net::Server: Perl code; refused" },
	{ .name = "idle-timeout", .type = CONF_UINT,
	    .dest = &settings.idle_timeout, .max = 86400, .arg = "SECS",
	    .help = "end the session after SECS without progress; 0 never (default 60)" },
	{ .name = "session-timeout", .type = CONF_UINT,
	    .dest = &settings.session_timeout, .max = 604800, .arg = "SECS",
	    .help = "end the session SECS after it began; 0 never (default 0)" },
	{ .name = "max-line", .type = CONF_UINT,
	    .dest = &settings.max_line, .min = 1, .max = IO_MAXLINE_MAX, .arg = "BYTES",
	    .help = "longest line held whole (default 8192)" },
	{ .name = "proxy-protocol", .type = CONF_FLAG,
	    .dest = &settings.proxy_protocol,
	    .help = "read a PROXY protocol v1/v2 header first (only from a --trusted-proxy)" },
	{ .name = "trusted-proxy", .type = CONF_FUNC,
	    .dest = &trusted_opt, .set = acl_option_set, .arg = "CIDR",
	    .help = "a proxy whose PROXY header is believed (repeatable)" },
	{ .name = "proxy-timeout", .type = CONF_UINT,
	    .dest = &settings.proxy_timeout, .min = 1, .max = 3600, .arg = "SECS",
	    .help = "time allowed for the whole PROXY header (default 5)" },
	{ .name = "block-list", .type = CONF_STR,
	    .dest = &settings.block_list, .arg = "LIST",
	    .help = "drop clients listed in LIST (only --refusal-message is sent; inetkit-blocklist(5))"
	    },
	{ .name = "block-list-index", .type = CONF_STR,
	    .dest = &settings.block_list_index, .arg = "PATH",
	    .help = "compiled index of the block list (default $CACHE_DIRECTORY/..., else LIST.idx)" },
	{ .name = "block-list-on-error", .type = CONF_CHOICE,
	    .dest = &settings.block_list_on_error, .choices = on_error_choices, .arg = "deny|allow",
	    .help = "a missing or malformed block list refuses everyone (deny, default) or not" },
	{ .name = "listen", .type = CONF_FUNC,
	    .dest = &settings, .set = set_listen, .arg = "[udp:]ADDR:PORT|N",
	    .help = "accept connections here, each served in a child; udp: datagrams "
	    "(repeatable); N: the backlog (default 128)" },
	{ .name = "max-connections", .type = CONF_UINT,
	    .dest = &settings.serve.max_connections, .min = 1, .max = SERVE_CONN_MAX, .arg = "N",
	    .help = "accept loop: connections served at once; more wait (default 64)" },
	{ .name = "max-per-source", .type = CONF_UINT,
	    .dest = &settings.serve.max_per_source, .max = SERVE_CONN_MAX, .arg = "N",
	    .help = "accept loop: connections from one address; 0 no limit (default 16)" },
	{ .name = "max-per-netblock", .type = CONF_UINT,
	    .dest = &settings.serve.max_per_netblock, .max = SERVE_CONN_MAX, .arg = "N",
	    .help = "accept loop: from one /24 or /64; 0 no limit (default 32)" },
	{ .name = "netblock-ipv4", .type = CONF_UINT,
	    .dest = &settings.limits.prefix4, .min = 8, .max = 32, .arg = "BITS",
	    .help = "an IPv4 netblock, for the netblock limits, is a /BITS (default 24)" },
	{ .name = "netblock-ipv6", .type = CONF_UINT,
	    .dest = &settings.limits.prefix6, .min = 16, .max = 128, .arg = "BITS",
	    .help = "an IPv6 netblock is a /BITS (default 64)" },
	{ .name = "state-dir", .type = CONF_STR,
	    .dest = &settings.state_dir, .arg = "DIR",
	    .help = "keep the table of sources (rates, penalties) in DIR, shared by every process" },
	{ .name = "max-rate", .type = CONF_FUNC,
	    .dest = &settings.limits.source, .set = set_rate, .arg = "N/SECS",
	    .help = "at most N connections per SECS seconds from one address (default none)" },
	{ .name = "max-netblock-rate", .type = CONF_FUNC,
	    .dest = &settings.limits.netblock, .set = set_rate, .arg = "N/SECS",
	    .help = "at most N connections per SECS seconds from one netblock (default none)" },
	{ .name = "penalty", .type = CONF_UINT,
	    .dest = &settings.limits.penalty, .max = 3600, .arg = "SECS",
	    .help = "refuse a source SECS after refusals or failed logins, doubling; 0 off (default 1)"
	    },
	{ .name = "penalty-max", .type = CONF_UINT,
	    .dest = &settings.limits.penalty_max, .min = 1, .max = 86400, .arg = "SECS",
	    .help = "the longest penalty (default 300)" },
	{ .name = "penalty-after", .type = CONF_UINT,
	    .dest = &settings.limits.penalty_after, .min = 1, .max = 1000, .arg = "N",
	    .help = "refusals of a source before its first penalty (default 1)" },
	{ .name = "refusal-message", .type = CONF_FUNC,
	    .dest = &settings.refusal_msg, .set = conn_msg_set, .arg = "TEXT",
	    .help = "send TEXT to a client refused by rules, limits or the block list (default none)"
	    },
	{ .name = "timeout-message", .type = CONF_FUNC,
	    .dest = &settings.timeout_msg, .set = conn_msg_set, .arg = "TEXT",
	    .help = "send TEXT to a client whose session timed out (default none)" },
	{ .name = "prefork", .type = CONF_UINT,
	    .dest = &settings.serve.prefork, .max = SERVE_PREFORK_MAX, .arg = "N",
	    .help = "accept loop: N workers, each serving connections in turn (default 0: a child "
	    "each)" },
	{ .name = "max-servers", .type = CONF_UINT,
	    .dest = &settings.serve.prefork, .max = SERVE_PREFORK_MAX, .arg = "N",
	    .help = "Net::Server's max_servers: as --prefork" },
	{ .name = "max-requests", .type = CONF_UINT,
	    .dest = &settings.serve.max_requests, .max = 1000000000, .arg = "N",
	    .help = "--prefork: a worker is replaced after N connections; 0 never (default 0)" },
	{ .name = "drain-timeout", .type = CONF_UINT,
	    .dest = &settings.serve.drain_timeout, .max = 3600, .arg = "SECS",
	    .help = "accept loop: after SIGTERM, time left to running sessions (default 10)" },
	{ .name = NULL },
};

static void
usage(const struct service *svc, const char *argv0, const struct conf_opt *const *tabs,
    size_t ntabs)
{
	const struct conf_opt *o;
	char left[80];
	size_t t;

	dprintf(1, "usage: %s [OPTION...]%s%s\n%s\n\nOptions:\n", argv0,
	    svc->operands ? " " : "", svc->operands ? svc->operands : "", svc->summary);
	for (t = 0; t < ntabs; t++)
		for (o = tabs[t]; o && o->name; o++) {
			snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "",
			    o->arg ? o->arg : "");
			dprintf(1, "  %-28s %s\n", left, o->help);
		}
	dprintf(1, "  %-28s %s\n  %-28s %s\n", "--help", "show this help and exit", "--version",
	    "show the version and exit");
	dprintf(1, "\nExit status: 0 served, 1 refused, 100 usage, bad configuration or malformed\n"
	    "input, 111 system or temporary failure%s%s.\n"
	    "See inetkit-%s(8) and inetkit.conf(5).\n", svc->exit_extra ? ",\n" : "",
	    svc->exit_extra ? svc->exit_extra : "", svc->name);
}

/*
 * The --log file an exec in this process kept open (log_keep_file): a
 * SIGHUP's re-exec and its check ('r') hand it on when the new
 * configuration names the same PATH, so that a --chroot or --user, which
 * may hide the path, does not lose the log; blockip and tls ('p') hand it
 * to PROGRAM, which takes it unless it names a log of its own. 1 if taken.
 */
static int
reexec_log(void)
{
	const char *v = getenv("INETKIT_LOG_FD"), *p;
	unsigned long long pid, fd;
	struct stat st;
	size_t k;
	int taken = 0;

	if (!v)
		return 0;
	p = v + (k = text_uint_prefix(v, strlen(v), &pid));
	if (k && *p == ':' && pid == (unsigned long long)getpid()
	    && (k = text_uint_prefix(p + 1, strlen(p + 1), &fd)) && p[1 + k] == ':'
	    && (p[2 + k] == 'r' || p[2 + k] == 'p') && p[3 + k] == ':'
	    && fd > 2 && fd < 65536 && fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode)) {
		const char *path = p + 4 + k;
		int same = settings.log_sink == LOG_SINK_FILE && strcmp(path, settings.log_path) == 0;

		fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		if (same || (p[2 + k] == 'p' && settings.log_sink == LOG_SINK_AUTO)) {
			log_adopt_file((int)fd, path);
			taken = 1;
		} else {
			close((int)fd);
		}
	}
	unsetenv("INETKIT_LOG_FD");
	return taken;
}

static int
open_log(void)
{
	if (reexec_log())
		return 0;
	if (settings.log_sink == LOG_SINK_AUTO)
		return 0;
	if (log_open(settings.log_sink, settings.log_path) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: option --log: unable to open %s: %s",
		    settings.log_path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The listening sockets and children a SIGHUP's re-exec handed over, from
 * INETKIT_REEXEC="PID:FD,FD,...;PID,PID,..." (the PID first, so that the
 * variable means nothing to any other process). 1 if there were some.
 */
static pid_t adopted[SERVE_CONN_MAX];

static int
reexec_fds(int *lfds, size_t *nl)
{
	const char *v = getenv("INETKIT_REEXEC"), *p;
	unsigned long long u;
	size_t k;

	if (!v)
		return 0;
	p = v + (k = text_uint_prefix(v, strlen(v), &u));
	if (k == 0 || *p != ':' || u != (unsigned long long)getpid()) {
		unsetenv("INETKIT_REEXEC");
		return 0;
	}
	for (p++; *p && *p != ';' && *nl < SERVE_LISTEN_MAX; p += *p == ',') {
		if (!(k = text_uint_prefix(p, strlen(p), &u)) || u < 3 || u > 65535
		    || !serve_is_socket((int)u))
			break;
		lfds[(*nl)++] = (int)u;
		fcntl((int)u, F_SETFD, FD_CLOEXEC);
		p += k;
	}
	if (*p == ';')
		for (p++; *p && settings.serve.nadopt < SERVE_CONN_MAX; p += *p == ',') {
			if (!(k = text_uint_prefix(p, strlen(p), &u)) || u < 2 || u > INT32_MAX)
				break;
			adopted[settings.serve.nadopt++] = (pid_t)u;
			p += k;
		}
	settings.serve.adopt = adopted;
	unsetenv("INETKIT_REEXEC");
	return *nl > 0;
}

/*
 * A pattern with a "|" outside any group is anchored as Net::Server anchors
 * it, ^A|B$: said once, at the start, since it is rarely what was meant.
 */
static void
warn_alternations(void)
{
	static const enum acl_kind kinds[] = { ACL_RULE_ALLOW, ACL_RULE_DENY };
	const struct acl *a = &settings.acl;
	size_t k, i;

	for (k = 0; k < 2; k++)
		for (i = 0; i < (kinds[k] == ACL_RULE_ALLOW ? a->nallow : a->ndeny); i++) {
			const char *src = (kinds[k] == ACL_RULE_ALLOW ? a->allow_src : a->deny_src)[i];

			if (!acl_top_level_alternation(a, kinds[k], i))
				continue;
			log_msg(LOG_LVL_WARNING, "%s rule \"%.200s\": its \"|\" is outside any group, "
			    "and Net::Server anchors it as /^%.200s$/: the first alternative must match "
			    "at the start and the last at the end, the others anywhere; to match the "
			    "whole address or host name with any of them, write (?:%.200s)",
			    kinds[k] == ACL_RULE_ALLOW ? "allow" : "deny", src, src, src);
		}
}

/*
 * Where the client is. systemd without StandardInput=socket passes it as
 * fd 3 with LISTEN_PID/LISTEN_FDS (sd_listen_fds(3)); the protocol is three
 * environment variables, so it needs no libsystemd at start-up. Otherwise the
 * client is on stdin/stdout, as inetd, xinetd, tcpserver and a pipe give it.
 * Listening sockets instead (systemd Accept=no, or --listen) go into lfds[]
 * for the accept loop. With no activator at all (stdin not a socket, no
 * LISTEN_FDS), Net::Server's binding keys bind sockets too (ports.h); under
 * one they are ignored, as Net::Server::INET ignores them. After a SIGHUP's
 * re-exec the sockets are the old process's. Datagram sockets (ListenDatagram=,
 * --listen udp:, proto udp) are for the datagram loop (udp.c). *own counts the
 * sockets bound here (the stand-alone daemon). Returns 0 or an exit status.
 */
static int
activation(int *fd, int *lfds, size_t *nl, size_t *own, int *reexeced)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char err[256];
	unsigned long p, n, i;
	struct stat st;
	size_t k;
	int r, activator;

	*fd = 0;
	*nl = 0;
	*own = 0;
	*reexeced = 0;
	if (reexec_fds(lfds, nl)) {
		const char *o = getenv("INETKIT_OWN_SOCKETS");
		unsigned long u;

		*reexeced = 1;
		if (o && text_uint(o, 1, *nl, &u) == 0)
			*own = u;
		unsetenv("INETKIT_OWN_SOCKETS");
		if (settings.listen.n || ports_given())
			log_msg(LOG_LVL_DEBUG, "reloaded: the sockets are the old process's; a "
			    "changed --listen or port needs a restart");
		return EXIT_SERVED;
	}
	activator = fstat(0, &st) == 0 && S_ISSOCK(st.st_mode);
	if (pid && fds && text_uint(pid, 1, (unsigned long)-1, &p) == 0
	    && p == (unsigned long)getpid()) {
		activator = 1;
		if (text_uint(fds, 1, SERVE_LISTEN_MAX, &n) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: LISTEN_FDS=%.16s: expected 1 to %d sockets",
			    fds, SERVE_LISTEN_MAX);
			return EXIT_USAGE;
		}
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		for (i = 0; i < n; i++) {
			int lfd = SD_LISTEN_FDS_START + (int)i;

			if (serve_is_listening(lfd) || udp_is_datagram(lfd)) {
				fcntl(lfd, F_SETFD, FD_CLOEXEC);
				lfds[(*nl)++] = lfd;
			} else if (n == 1) {
				*fd = lfd;	/* Accept=yes: the connection itself */
			} else {
				log_msg(LOG_LVL_ERR, "fatal: LISTEN_FDS=%lu: fd %d is neither a listening "
				    "nor a datagram socket (more than one fd is for Accept=no)", n, lfd);
				return EXIT_USAGE;
			}
		}
	}
	for (k = 0; k < settings.listen.n; k++) {
		if (*nl == SERVE_LISTEN_MAX) {
			log_msg(LOG_LVL_ERR, "fatal: more than %d listening sockets",
			    SERVE_LISTEN_MAX);
			return EXIT_USAGE;
		}
		if ((r = serve_listen(settings.listen.v[k], settings.backlog, &lfds[*nl], err,
		    sizeof err)) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: option --listen: %s", err);
			return r == SERVE_BADSPEC ? EXIT_USAGE : EXIT_TEMP;
		}
		(*nl)++;
		(*own)++;
	}
	if (ports_given() && activator) {
		log_msg(LOG_LVL_DEBUG, "an activator handed the %s over: the binding keys (port, "
		    "host, ipv, proto, listen N) are ignored, as Net::Server::INET does",
		    *nl ? "listening sockets" : "connection");
	} else if (ports_given()) {
		size_t before = *nl;

		if ((r = ports_bind(lfds, nl, SERVE_LISTEN_MAX, settings.backlog)) != 0)
			return r;
		*own += *nl - before;
	}
	return EXIT_SERVED;
}

/*
 * What the accept loop must not take from its own environment: a client
 * identity meant for one connection (UCSPI, systemd's REMOTE_*, an
 * upstream wrapper's INETKIT_PROXIED) would otherwise be every client's.
 */
static void
scrub_identity(void)
{
	static const char *const vars[] = { "PROTO", "TCPREMOTEIP", "TCPREMOTEPORT",
	    "TCPLOCALIP", "TCPLOCALPORT", "TCPREMOTEHOST", "TCPREMOTEINFO", "TCPLOCALHOST",
	    "TCP6REMOTEIP", "TCP6REMOTEPORT", "TCP6LOCALIP", "TCP6LOCALPORT", "TCP6REMOTEHOST",
	    "TCP6REMOTEINFO", "TCP6LOCALHOST", "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST",
	    "INETKIT_PROXIED" };
	const char *proto = getenv("PROTO");
	char name[32];
	size_t i;

	if (proto && strlen(proto) <= 8) {
		snprintf(name, sizeof name, "%sREMOTEIP", proto);
		unsetenv(name);
	}
	for (i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

/*
 * The table of sources: a file in --state-dir, which every process of the
 * service opens; in the accept loop without one, memory the children
 * inherit. Without either, a per-connection process has no rates to keep.
 */
static int
table_open(const struct service *svc, int accept_loop, struct srctab **tab)
{
	char name[128], err[4400];

	*tab = NULL;
	if (settings.state_dir) {
		snprintf(name, sizeof name, "inetkit-%s.sources", svc->name);
		if (srctab_open(&table, settings.state_dir, name, err, sizeof err) == 0) {
			*tab = &table;
			return EXIT_SERVED;
		}
		/* Fail closed: a limit that silently vanished would be worse than none given. */
		log_msg(LOG_LVL_ERR, "%stable of sources: %s%s", accept_loop ? "fatal: " : "", err,
		    accept_loop ? "" : "; refusing the connection");
		return EXIT_TEMP;
	}
	if (accept_loop) {
		if (srctab_anon(&table, err, sizeof err) == 0) {
			*tab = &table;
			return EXIT_SERVED;
		}
		log_msg(LOG_LVL_ERR, "fatal: %s", err);
		return EXIT_TEMP;
	}
	if (settings.limits.source.n || settings.limits.netblock.n) {
		log_msg(LOG_LVL_ERR, "fatal: --max-rate and --max-netblock-rate need --state-dir "
		    "when every connection is a process of its own (or the accept loop)");
		return EXIT_USAGE;
	}
	return EXIT_SERVED;
}

/*
 * In a child of the accept loop, the connection is served from the state
 * the listener had, c. A PreFork worker serves many: each from a copy of
 * that state, c left as it was, and the copy, the session's buffers and
 * its timers cleared after it (conn_clear), so that nothing of a client
 * is left to the next.
 */
static int
serve_child(const struct serve_conn *sc, void *arg)
{
	struct conn *c = arg, fresh;
	int status;

	if (sc->worker < 0) {
		c->conn_fd = sc->fd;
		c->sc = sc;
		return conn_serve(c);
	}
	fresh = *c;
	fresh.conn_fd = sc->fd;
	fresh.sc = sc;
	status = conn_serve(&fresh);
	if (conn_clear(&fresh) == IO_TERM)
		*sc->stop = 1;
	return status;
}

/*
 * SIGHUP (Net::Server's): the program is run once with INETKIT_CHECK set,
 * which reads the configuration as a start would and exits 0 if it holds;
 * then this process re-execs itself, its listening sockets and children
 * handed over in INETKIT_REEXEC. Children already serving keep the old
 * settings (they are processes of their own); a configuration that fails
 * the check leaves this process serving, and the check's own log line
 * says why.
 */
#define RELOAD_CHECK_SECS 10
static char self_path[PATH_MAX];
static char **self_argv;
static size_t own_sockets;	/* how many of the listening sockets we bound */
static int self_fd = -1;	/* the program's file, opened before any --chroot */

/* Exec this program again, through the file opened at start: a --chroot hides its path. */
static void
self_exec(void)
{
	extern char **environ;

	if (self_fd >= 0)
		fexecve(self_fd, self_argv, environ);
	else
		execv(self_path, self_argv);
}

/* What the check wrote on its stderr (its fatal line, before any --log): into our log. */
static void
relay_check_output(int fd)
{
	char buf[2048], esc[TEXT_ESCBUF];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	char *line, *save = NULL;

	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		text_escape_to(esc, sizeof esc, line, strlen(line));
		log_msg(LOG_LVL_ERR, "SIGHUP: the check said: %s", esc);
	}
}

static int
reload_check(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int st, i, out[2];
	pid_t pid, w = 0;

	out[0] = out[1] = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		log_msg(LOG_LVL_ERR, "SIGHUP: unable to check the new configuration: %s: "
		    "still serving the old one", strerror(errno));
		if (out[0] >= 0) {
			close(out[0]);
			close(out[1]);
		}
		return -1;
	}
	if (pid == 0) {
		setenv("INETKIT_CHECK", "1", 1);
		log_keep_file(LOG_KEEP_REEXEC);	/* the check's own pid */
		dup2(out[1], 2);
		self_exec();
		_exit(127);
	}
	close(out[1]);
	for (i = 0; i < RELOAD_CHECK_SECS * 100; i++) {
		if ((w = waitpid(pid, &st, WNOHANG)) == pid)
			break;
		nanosleep(&ts, NULL);
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	if (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		relay_check_output(out[0]);
	close(out[0]);
	if (w != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		log_msg(LOG_LVL_ERR, "SIGHUP: the check of the new configuration took over %d s: "
		    "still serving the old one", RELOAD_CHECK_SECS);
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		log_msg(LOG_LVL_ERR, "SIGHUP: unable to run %s (with --chroot, a dynamically "
		    "linked program needs its libraries inside): still serving the old "
		    "configuration", self_path);
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		log_msg(LOG_LVL_ERR, "SIGHUP: the new configuration fails (exit %d): still serving "
		    "the old one", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void
reload(const int *fds, size_t nfds, const pid_t *pids, size_t npids, void *arg)
{
	size_t i, len = 0, cap = 32 + (nfds + npids) * 12;
	char *v;

	(void)arg;
	if (!self_path[0]) {
		log_msg(LOG_LVL_ERR, "SIGHUP: the program's own path is unknown (no /proc): "
		    "restart it to reload");
		return;
	}
	log_msg(LOG_LVL_NOTICE, "SIGHUP: checking the new configuration");
	if (reload_check() < 0 || !(v = malloc(cap)))
		return;
	log_keep_file(LOG_KEEP_REEXEC);
	len = (size_t)snprintf(v, cap, "%ld:", (long)getpid());
	for (i = 0; i < nfds; i++)
		len += (size_t)snprintf(v + len, cap - len, "%s%d", i ? "," : "", fds[i]);
	len += (size_t)snprintf(v + len, cap - len, ";");
	for (i = 0; i < npids; i++)
		len += (size_t)snprintf(v + len, cap - len, "%s%ld", i ? "," : "", (long)pids[i]);
	setenv("INETKIT_REEXEC", v, 1);
	free(v);
	if (own_sockets) {
		char n[24];

		snprintf(n, sizeof n, "%zu", own_sockets);
		setenv("INETKIT_OWN_SOCKETS", n, 1);
	}
	daemon_before_reexec();
	for (i = 0; i < nfds; i++)
		fcntl(fds[i], F_SETFD, 0);
	if (settings.serve.prefork)
		log_msg(LOG_LVL_NOTICE, "SIGHUP: re-executing with the new configuration (the "
		    "old workers, %zu, serve no new connection: their sessions keep the old one)",
		    npids);
	else
		log_msg(LOG_LVL_NOTICE, "SIGHUP: re-executing with the new configuration (running "
		    "sessions, %zu, keep the old one)", npids);
	/* The signals stay blocked across the exec: the new image unblocks them at start. */
	self_exec();
	log_msg(LOG_LVL_ERR, "SIGHUP: unable to exec %s: %s: still serving the old configuration",
	    self_path, strerror(errno));
	for (i = 0; i < nfds; i++)
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	unsetenv("INETKIT_REEXEC");
	unsetenv("INETKIT_OWN_SOCKETS");
	log_keep_file(LOG_KEEP_OFF);
}

/* The accept loop: every child runs the cycle on its connection. */
static int
accept_loop(struct conn *c, const int *lfds, size_t nl)
{
	scrub_identity();
	settings.serve.proxied = settings.proxy_protocol;
	settings.serve.tab = c->table;
	settings.serve.lim = &settings.limits;
	settings.serve.refusal = settings.refusal_msg.s;
	settings.serve.refusal_len = settings.refusal_msg.len;
	settings.serve.reload = reload;
	settings.serve.nown = own_sockets;
	log_msg(LOG_LVL_INFO, "accepting on %zu socket%s, at most %lu connections at once", nl,
	    nl > 1 ? "s" : "", settings.serve.prefork ? settings.serve.prefork
	    : settings.serve.max_connections);
	if (serve_loop(lfds, nl, &settings.serve, serve_child, c) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: unable to run the accept loop: %s", strerror(errno));
		return EXIT_TEMP;
	}
	return EXIT_SERVED;
}

/*
 * --prefork: only in the accept loop (one connection handed over has no
 * use for workers: said, and ignored, as the binding keys are), over a
 * stream, for a program whose connection leaves nothing behind in its
 * process (svc->prefork), and no more workers than --max-connections.
 */
static int
prefork_check(const struct service *svc, size_t nl, int dgram)
{
	struct serve_opts *o = &settings.serve;

	if (!o->prefork) {
		if (o->max_requests)
			log_msg(LOG_LVL_DEBUG, "--max-requests: ignored without --prefork");
		return EXIT_SERVED;
	}
	if (nl == 0 || dgram) {
		log_msg(LOG_LVL_DEBUG, "--prefork: ignored: %s", nl == 0 ? "one connection, handed "
		    "over by the activator" : "a datagram socket is served by one process");
		o->prefork = 0;
		return EXIT_SERVED;
	}
	if (!svc->prefork) {
		log_msg(LOG_LVL_ERR, "fatal: option --prefork: inetkit-%s serves a connection in a "
		    "process of its own (%s)", svc->name, svc->no_prefork);
		return EXIT_USAGE;
	}
	if (o->prefork > o->max_connections) {
		log_msg(LOG_LVL_ERR, "fatal: option --prefork: %lu workers, more than "
		    "--max-connections %lu", o->prefork, o->max_connections);
		return EXIT_USAGE;
	}
	return EXIT_SERVED;
}

/* Net::Server's own spellings of a setting, and the keys it ignores, once parsed. */
static void
settle(void)
{
	size_t i;

	if (!settings.double_reverse && settings.reverse_lookups >= REV_DOUBLE)
		settings.double_reverse = settings.reverse_lookups - REV_DOUBLE + DR_YES;
	if (double_reverse_opt >= 0)
		settings.double_reverse = double_reverse_opt;
	for (i = 0; i < nignored; i++)
		log_msg(LOG_LVL_DEBUG, "%s: a Net::Server key that changes nothing here: ignored",
		    ignored[i]);
}

int
conn_main(const struct service *svc, int argc, char **argv)
{
	static char ident[64];
	const struct conf_opt *tabs[] = { common_opts, ports_opts, daemon_opts, svc->options };
	const size_t ntabs = sizeof tabs / sizeof tabs[0];
	const char *argv0 = argc > 0 && argv[0][0] ? argv[0] : "inetkit";
	struct conf_error cerr = { "" };
	static struct conn c;
	int lfds[SERVE_LISTEN_MAX];
	char err[256];
	size_t nl;
	ssize_t n;
	int help, version, first, dgram, r, reexeced, check = getenv("INETKIT_CHECK") != NULL;

	snprintf(ident, sizeof ident, "inetkit-%s", svc->name);
	log_init(ident);
	signal(SIGPIPE, SIG_IGN);
	/* A SIGHUP's re-exec comes with the accept loop's signals blocked: serve_loop unblocks them. */
	unsetenv("INETKIT_CHECK");
	c.svc = svc;
	c.set = &settings;

	first = conf_parse(tabs, ntabs, argc, argv, &help, &version, &cerr);
	if (first < 0) {
		log_msg(LOG_LVL_ERR, "fatal: %s", cerr.msg);
		return EXIT_USAGE;
	}
	if (help) {
		usage(svc, argv0, tabs, ntabs);
		return EXIT_SERVED;
	}
	if (version) {
		dprintf(1, "inetkit-%s %s\n", svc->name, INETKIT_VERSION);
		return EXIT_SERVED;
	}
	c.argc = argc - first;
	c.argv = argv + first;
	if (c.argc < svc->min_operands || (!svc->operands && c.argc > 0)) {
		log_msg(LOG_LVL_ERR, "fatal: usage: %s [OPTION...]%s%s (see --help)", argv0,
		    svc->operands ? " " : "", svc->operands ? svc->operands : "");
		return EXIT_USAGE;
	}
	log_set_syslog(syslog_ident, syslog_logopt, syslog_facility);
	log_set_level((int)settings.log_level);
	if (open_log() < 0)
		return EXIT_USAGE;
	settle();
	if (ports_check(err, sizeof err) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: %s", err);
		return EXIT_USAGE;
	}
	warn_alternations();
	if (settings.proxy_protocol && !settings.trusted.ncallow) {
		log_msg(LOG_LVL_ERR, "fatal: option --proxy-protocol needs at least one "
		    "--trusted-proxy");
		return EXIT_USAGE;
	}
	if (check) {
		/* A SIGHUP's check: the configuration as the accept loop would take it. */
		c.accept_loop = 1;
		if ((r = prefork_check(svc, 1, 0)) != EXIT_SERVED)
			return r;
		if (svc->configure && (r = svc->configure(&c, &settings)) != EXIT_SERVED)
			return r;
		return EXIT_SERVED;
	}
	if ((r = activation(&c.conn_fd, lfds, &nl, &own_sockets, &reexeced)) != EXIT_SERVED)
		return r;
	if ((r = udp_sockets(svc, c.conn_fd, lfds, &nl, &dgram)) != EXIT_SERVED)
		return r;
	/* SIGHUP's re-exec is a loop's (accept or datagram): one connection's process never reloads. */
	if (nl > 0 || dgram) {
		if ((n = readlink("/proc/self/exe", self_path, sizeof self_path - 1)) > 0)
			self_path[n] = '\0';
		self_argv = argv;
		self_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	}
	if (dgram && settings.proxy_protocol) {
		log_msg(LOG_LVL_ERR, "fatal: option --proxy-protocol: a PROXY header comes ahead of a "
		    "stream, and a datagram socket has none");
		return EXIT_USAGE;
	}
	c.accept_loop = nl > 0;
	if ((r = prefork_check(svc, nl, dgram)) != EXIT_SERVED)
		return r;
	if (svc->configure && (r = svc->configure(&c, &settings)) != EXIT_SERVED)
		return r;
	if ((r = table_open(svc, nl > 0, &c.table)) != EXIT_SERVED)
		return r;
	if ((r = daemon_start(&c, lfds, nl, own_sockets, reexeced ? DAEMON_REEXEC : 0))
	    != EXIT_SERVED)
		return r;
	/* Datagrams: the idle timeout ends the process only when an activator would start it again. */
	if (dgram)
		return udp_serve(&c, lfds, nl, own_sockets < nl, reload);
	return nl == 0 ? conn_serve(&c) : accept_loop(&c, lfds, nl);
}

/* SPDX-License-Identifier: MIT */
/*
 * A program's start, before its first client: the common options, --help,
 * the log, where the client (or the listening sockets) came from, and the
 * table of sources. Then the connection cycle (conn.c) runs once, or once
 * in every child of the accept loop (serve.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
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

static const char *const rev_choices[] = { "no|0|off", "yes|1|on", "double", NULL };
static const char *const on_error_choices[] = { "deny", "allow", NULL };

static int
set_log(void *dest, const char *v, char *err, size_t len)
{
	struct conn_settings *s = dest;

	if (!*v) {
		snprintf(err, len, "empty value");
		return -1;
	}
	if (strcmp(v, "syslog") == 0)
		s->log_sink = LOG_SINK_SYSLOG;
	else if (strcmp(v, "journal") == 0)
		s->log_sink = LOG_SINK_JOURNAL;
	else if (strcmp(v, "stderr") == 0)
		s->log_sink = LOG_SINK_STDERR;
	else if (v[0] == '/')
		s->log_sink = LOG_SINK_FILE;
	else {
		snprintf(err, len, "\"%.64s\" is not syslog, journal, stderr or an absolute file path",
		    v);
		return -1;
	}
	s->log_path = v;
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

/* A message's text, C escapes decoded. */
static int
set_msg(void *dest, const char *v, char *err, size_t len)
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
	    .help = "allow clients whose address or host matches (anchored ERE)" },
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
	    .dest = &settings.reverse_lookups, .choices = rev_choices, .arg = "[double]",
	    .help = "match host names too; double: only forward-confirmed names",
	    .optional_value = 1 },
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
	{ .name = "listen", .type = CONF_LIST,
	    .dest = &settings.listen, .arg = "[udp:]ADDR:PORT",
	    .help = "accept connections here, each served in a child; udp: datagrams (repeatable)" },
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
	    .dest = &settings.refusal_msg, .set = set_msg, .arg = "TEXT",
	    .help = "send TEXT to a client refused by rules, limits or the block list (default none)"
	    },
	{ .name = "timeout-message", .type = CONF_FUNC,
	    .dest = &settings.timeout_msg, .set = set_msg, .arg = "TEXT",
	    .help = "send TEXT to a client whose session timed out (default none)" },
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

static int
open_log(void)
{
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
 * Where the client is. systemd without StandardInput=socket passes it as
 * fd 3 with LISTEN_PID/LISTEN_FDS (sd_listen_fds(3)); the protocol is three
 * environment variables, so it needs no libsystemd at start-up. Otherwise the
 * client is on stdin/stdout, as inetd, xinetd, tcpserver and a pipe give it.
 * Listening sockets instead (systemd Accept=no, or --listen) go into lfds[]
 * for the accept loop, and so do datagram sockets (ListenDatagram=, or
 * --listen udp:), for the datagram loop (udp.c). Returns 0 or an exit status.
 */
static int
activation(int *fd, int *lfds, size_t *nl)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char err[256];
	unsigned long p, n, i;
	size_t k;
	int r;

	*fd = 0;
	*nl = 0;
	if (pid && fds && text_uint(pid, 1, (unsigned long)-1, &p) == 0
	    && p == (unsigned long)getpid()) {
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
		if ((r = serve_listen(settings.listen.v[k], &lfds[*nl], err, sizeof err)) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: option --listen: %s", err);
			return r == SERVE_BADSPEC ? EXIT_USAGE : EXIT_TEMP;
		}
		(*nl)++;
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

static int
serve_child(const struct serve_conn *sc, void *arg)
{
	struct conn *c = arg;

	c->conn_fd = sc->fd;
	c->sc = sc;
	return conn_serve(c);
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
	log_msg(LOG_LVL_INFO, "accepting on %zu socket%s, at most %lu connections at once", nl,
	    nl > 1 ? "s" : "", settings.serve.max_connections);
	if (serve_loop(lfds, nl, &settings.serve, serve_child, c) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: unable to run the accept loop: %s", strerror(errno));
		return EXIT_TEMP;
	}
	return EXIT_SERVED;
}

int
conn_main(const struct service *svc, int argc, char **argv)
{
	static char ident[64];
	const struct conf_opt *tabs[2] = { common_opts, svc->options };
	const char *argv0 = argc > 0 && argv[0][0] ? argv[0] : "inetkit";
	struct conf_error cerr = { "" };
	static struct conn c;
	int lfds[SERVE_LISTEN_MAX];
	size_t nl;
	int help, version, first, dgram, r;

	snprintf(ident, sizeof ident, "inetkit-%s", svc->name);
	log_init(ident);
	signal(SIGPIPE, SIG_IGN);
	c.svc = svc;
	c.set = &settings;

	first = conf_parse(tabs, 2, argc, argv, &help, &version, &cerr);
	if (first < 0) {
		log_msg(LOG_LVL_ERR, "fatal: %s", cerr.msg);
		return EXIT_USAGE;
	}
	if (help) {
		usage(svc, argv0, tabs, 2);
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
	log_set_level((int)settings.log_level);
	if (open_log() < 0)
		return EXIT_USAGE;
	if (settings.proxy_protocol && !settings.trusted.ncallow) {
		log_msg(LOG_LVL_ERR, "fatal: option --proxy-protocol needs at least one "
		    "--trusted-proxy");
		return EXIT_USAGE;
	}
	if ((r = activation(&c.conn_fd, lfds, &nl)) != EXIT_SERVED)
		return r;
	if ((r = udp_sockets(svc, c.conn_fd, lfds, &nl, &dgram)) != EXIT_SERVED)
		return r;
	c.accept_loop = nl > 0;
	if (svc->configure && (r = svc->configure(&c, &settings)) != EXIT_SERVED)
		return r;
	if ((r = table_open(svc, nl > 0, &c.table)) != EXIT_SERVED)
		return r;
	/* Datagrams: the idle timeout ends the process only when an activator would start it again. */
	if (dgram)
		return udp_serve(&c, lfds, nl, nl > settings.listen.n);
	return nl == 0 ? conn_serve(&c) : accept_loop(&c, lfds, nl);
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blocklist.h"
#include "conn.h"
#include "log.h"
#include "proxy.h"
#include "serve.h"

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

static struct cidr trusted[CONF_LIST_MAX];
static struct srctab table;		/* .map NULL: no table of sources */

static const char *const rev_choices[] = { "no|0|off", "yes|1|on", "double", NULL };
static const char *const on_error_choices[] = { "deny", "allow", NULL };

static int
check_cidr(const char *v, char *err, size_t len)
{
	struct cidr c;

	if (cidr_parse(&c, v) == 0)
		return 0;
	snprintf(err, len, "\"%.64s\" is not an address or CIDR block", v);
	return -1;
}

static int
check_log(const char *v, char *err, size_t len)
{
	if (strcmp(v, "syslog") == 0 || strcmp(v, "journal") == 0 || strcmp(v, "stderr") == 0
	    || v[0] == '/')
		return 0;
	snprintf(err, len, "\"%.64s\" is not syslog, journal, stderr or an absolute file path",
	    v);
	return -1;
}

/* "N/SECS": N connections per SECS seconds. */
static int
set_rate(void *dest, const char *v, char *err, size_t len)
{
	struct srctab_rate *r = dest;

	if (conf_rate(v, &r->n, &r->secs) == 0)
		return 0;
	snprintf(err, len, "\"%.64s\" is not N/SECS (1 to %lu connections per 1 to %lu seconds)",
	    v, CONF_RATE_N_MAX, CONF_RATE_SECS_MAX);
	return -1;
}

/* A message's text, C escapes decoded. */
static int
set_msg(void *dest, const char *v, char *err, size_t len)
{
	struct conn_msg *m = dest;
	const char *why;

	if (conf_unescape(v, m->s, sizeof m->s, &m->len, &why) == 0)
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
	{ .name = "log", .type = CONF_STR,
	    .dest = &settings.log, .arg = "SINK",
	    .help = "syslog, journal, stderr or an absolute FILE path (default: detected)",
	    .check = check_log },
	{ .name = "log-level", .type = CONF_UINT,
	    .dest = &settings.log_level, .max = 4, .arg = "N",
	    .help = "0 err, 1 warning, 2 notice, 3 info, 4 debug (default 2)" },
	{ .name = "allow", .type = CONF_LIST,
	    .dest = &settings.allow, .arg = "REGEX",
	    .help = "allow clients whose address or host matches (anchored ERE)",
	    .check = acl_pattern_check },
	{ .name = "deny", .type = CONF_LIST,
	    .dest = &settings.deny, .arg = "REGEX",
	    .help = "refuse clients whose address or host matches",
	    .check = acl_pattern_check },
	{ .name = "cidr-allow", .type = CONF_LIST,
	    .dest = &settings.cidr_allow, .arg = "CIDR",
	    .help = "allow clients in this IPv4 or IPv6 block",
	    .check = check_cidr },
	{ .name = "cidr-deny", .type = CONF_LIST,
	    .dest = &settings.cidr_deny, .arg = "CIDR",
	    .help = "refuse clients in this IPv4 or IPv6 block",
	    .check = check_cidr },
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
	{ .name = "trusted-proxy", .type = CONF_LIST,
	    .dest = &settings.trusted_proxy, .arg = "CIDR",
	    .help = "a proxy whose PROXY header is believed (repeatable)",
	    .check = check_cidr },
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
	    .dest = &settings.listen, .arg = "ADDR:PORT",
	    .help = "accept connections here and serve each in a child (repeatable)" },
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
usage(const struct service *svc, const struct conf_opt *const *tabs, size_t ntabs)
{
	dprintf(1, "usage: inetkit-%s [OPTION...]%s%s\n%s\n\nOptions:\n", svc->name,
	    svc->operands ? " " : "", svc->operands ? svc->operands : "", svc->summary);
	conf_usage(tabs, ntabs, 1);
	dprintf(1, "  %-28s %s\n  %-28s %s\n", "--help", "show this help and exit", "--version",
	    "show the version and exit");
	dprintf(1, "\nExit status: 0 served, 1 refused, 100 usage or bad configuration,\n"
	    "111 system or temporary failure. See inetkit-%s(8) and inetkit.conf(5).\n",
	    svc->name);
}

static int
open_log(void)
{
	const char *l = settings.log;
	enum log_sink s;

	if (!l)
		return 0;
	if (strcmp(l, "syslog") == 0)
		s = LOG_SINK_SYSLOG;
	else if (strcmp(l, "journal") == 0)
		s = LOG_SINK_JOURNAL;
	else if (strcmp(l, "stderr") == 0)
		s = LOG_SINK_STDERR;
	else if (l[0] == '/')
		s = LOG_SINK_FILE;
	else {
		log_msg(LOG_LVL_ERR, "fatal: option --log: \"%.64s\" is not syslog, journal, stderr "
		    "or an absolute file path", l);
		return -1;
	}
	if (log_open(s, l, -1) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: option --log: unable to open %s: %s", l,
		    strerror(errno));
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
 * for the accept loop.
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
	if (pid && fds && conf_uint(pid, 1, (unsigned long)-1, &p) == 0
	    && p == (unsigned long)getpid()) {
		if (conf_uint(fds, 1, SERVE_LISTEN_MAX, &n) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: LISTEN_FDS=%.16s: expected 1 to %d sockets",
			    fds, SERVE_LISTEN_MAX);
			return -1;
		}
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		for (i = 0; i < n; i++) {
			int lfd = SD_LISTEN_FDS_START + (int)i;

			if (serve_is_listening(lfd)) {
				fcntl(lfd, F_SETFD, FD_CLOEXEC);
				lfds[(*nl)++] = lfd;
			} else if (n == 1) {
				*fd = lfd;	/* Accept=yes: the connection itself */
			} else {
				log_msg(LOG_LVL_ERR, "fatal: LISTEN_FDS=%lu: fd %d is not a listening "
				    "socket (more than one fd is for Accept=no)", n, lfd);
				return -1;
			}
		}
	}
	for (k = 0; k < settings.listen.n; k++) {
		if (*nl == SERVE_LISTEN_MAX) {
			log_msg(LOG_LVL_ERR, "fatal: more than %d listening sockets",
			    SERVE_LISTEN_MAX);
			return -1;
		}
		if ((r = serve_listen(settings.listen.v[k], &lfds[*nl], err, sizeof err)) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: option --listen: %s", err);
			return r == SERVE_BADSPEC ? -1 : EXIT_TEMP;
		}
		(*nl)++;
	}
	return 0;
}

void
conn_set_user(struct conn *c, const char *user, size_t len)
{
	log_escape_field(c->user, user, len);
}

/* A client that leaves, resets or idles out ends the session normally. */
int
conn_end_status(const struct conn *c)
{
	return c->io.end == IO_ERROR ? EXIT_TEMP : EXIT_SERVED;
}

static void
log_record(struct conn *c, int status)
{
	char dur[32], in[24], out[24], st[8], local[ADDR_STRMAX + PEER_PORTMAX + 4];
	const char *peer = peer_str(&c->peer);
	struct timespec now;
	double secs;
	int lvl;
	const char *end = io_end_name(c->io.end);

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - c->start.tv_sec) + (now.tv_nsec - c->start.tv_nsec) / 1e9;
	snprintf(dur, sizeof dur, "%.3f", secs);
	snprintf(in, sizeof in, "%llu", (unsigned long long)c->io.bytes_in);
	snprintf(out, sizeof out, "%llu", (unsigned long long)c->io.bytes_out);
	snprintf(st, sizeof st, "%d", status);
	if (c->peer.has_local)
		snprintf(local, sizeof local, c->peer.local.family == AF_INET6 ? "[%s]:%s" : "%s:%s",
		    c->peer.local_ip, c->peer.local_port);
	else
		snprintf(local, sizeof local, "-");
	if (status == EXIT_SERVED && (c->io.end == IO_OK || c->io.end == IO_EOF
	    || c->io.end == IO_RESET))
		lvl = LOG_LVL_INFO;
	else if (status == EXIT_TEMP)
		lvl = LOG_LVL_ERR;
	else
		lvl = LOG_LVL_NOTICE;
	{
		const struct log_field f[] = {
			{ "INETKIT_PEER", peer }, { "INETKIT_LOCAL", local },
			{ "INETKIT_VERDICT", c->verdict }, { "INETKIT_RULE", c->rule },
			{ "INETKIT_USER", c->user[0] ? c->user : "-" },
			{ "INETKIT_BYTES_IN", in }, { "INETKIT_BYTES_OUT", out },
			{ "INETKIT_DURATION", dur }, { "INETKIT_STATUS", st },
			{ "INETKIT_END", end },
		};

		log_fields(lvl, f, sizeof f / sizeof f[0],
		    "%s peer=%s local=%s rule=\"%s\" user=%s in=%s out=%s duration=%ss "
		    "status=%s end=%s%s%s", c->verdict, peer, local, c->rule,
		    c->user[0] ? c->user : "-", in, out, dur, st, end,
		    c->io.err ? ": " : "", c->io.err ? strerror(c->io.err) : "");
	}
}

static int
trusted_compile(void)
{
	size_t i;

	for (i = 0; i < settings.trusted_proxy.n; i++) {
		if (cidr_parse(&trusted[i], settings.trusted_proxy.v[i]) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: option --trusted-proxy: \"%.64s\" is not an "
			    "address or CIDR block", settings.trusted_proxy.v[i]);
			return -1;
		}
	}
	if (settings.proxy_protocol && !settings.trusted_proxy.n) {
		log_msg(LOG_LVL_ERR, "fatal: option --proxy-protocol needs at least one "
		    "--trusted-proxy");
		return -1;
	}
	return 0;
}

/*
 * The PROXY header comes off the stream before anything else, and only from
 * a socket peer in --trusted-proxy; anything else ends the connection. The
 * peer is then who the header says (peer.h, PEER_PROXY).
 * Returns EXIT_SERVED to go on, or the exit status, with c->rule saying why.
 */
static int
proxy_stage(struct conn *c)
{
	static char buf[PROXY_HDR_MAX];
	char esc[LOG_ESCBUF];
	struct proxy_hdr h;
	enum proxy_status st;
	size_t i, got;
	int r;

	r = peer_socket(&c->peer, c->conn_fd);
	if (r < 0) {
		snprintf(c->rule, ACL_RULEMAX, "proxy: unable to identify the peer: %s",
		    strerror(errno));
		return EXIT_TEMP;
	}
	if (r == 0 || !c->peer.has_remote) {
		snprintf(c->rule, ACL_RULEMAX, "proxy: not a TCP connection");
		return EXIT_REFUSED;
	}
	for (i = 0; i < settings.trusted_proxy.n; i++)
		if (cidr_match(&trusted[i], &c->peer.remote))
			break;
	if (i == settings.trusted_proxy.n) {
		snprintf(c->rule, ACL_RULEMAX, "proxy: peer is not a --trusted-proxy");
		return EXIT_REFUSED;
	}
	/* Until the header is read, the peer is the proxy: never limited or penalized. */
	c->trusted_peer = 1;
	st = proxy_read(c->conn_fd, buf, (unsigned)settings.proxy_timeout * 1000, &h, &got);
	if (st != PROXY_OK) {
		const char *why = st == PROXY_IOERR ? strerror(errno) : NULL;

		log_escape_field(esc, buf, got < 32 ? got : 32);
		snprintf(c->rule, ACL_RULEMAX, "proxy: %s%s%.48s%s%.96s", proxy_status_name(st),
		    why ? ": " : "", why ? why : "", got ? ", got " : "", got ? esc : "");
		return st == PROXY_TIMEOUT ? EXIT_REFUSED : st == PROXY_IOERR ? EXIT_TEMP : EXIT_USAGE;
	}
	c->peer.proxied = 1;
	/*
	 * A LOCAL or UNKNOWN header names no client: the connection is the
	 * proxy's own, and is limited and penalized as the proxy, or every
	 * client of a non-IP frontend would go unlimited.
	 */
	c->trusted_peer = 0;
	if (!h.local)
		peer_set_proxy(&c->peer, &h.src, h.sport, &h.dst, h.dport);
	return EXIT_SERVED;
}

/*
 * --block-list: blockip's check without blockip's exec, for a program that
 * can afford no second process image per connection. A listed client is
 * dropped without a byte, like a firewall would, whatever the service's own
 * refusal (svc->refusal); only --refusal-message is sent.
 */
static int
block_stage(struct conn *c)
{
	struct blocklist_match m;
	enum blocklist_verdict v;
	char why[ACL_RULEMAX];
	int deny = settings.block_list_on_error == 0;

	v = blocklist_decide(settings.block_list, settings.block_list_index, !deny,
	    c->peer.has_remote ? &c->peer.remote : NULL, &m, why, sizeof why);
	if (v == BLOCKLIST_PASS)
		return 0;
	snprintf(c->rule, ACL_RULEMAX, "%s", why);
	if (v == BLOCKLIST_BLOCK) {
		log_msg(LOG_LVL_NOTICE, "blocked %s (%s line %llu: %s)", c->peer.remote_ip,
		    settings.block_list, (unsigned long long)m.line, m.text);
		return -1;
	}
	/* The list's fault, not the client's: no penalty for that refusal. */
	c->no_penalty = 1;
	log_msg(deny ? LOG_LVL_ERR : LOG_LVL_WARNING, "%s: %s %s (--block-list-on-error %s)",
	    why, deny ? "refusing" : "allowing", c->peer.has_remote ? c->peer.remote_ip
	    : "unknown client", on_error_choices[settings.block_list_on_error]);
	return deny ? -1 : 0;
}

static enum conn_verdict
default_pre_connection(struct conn *c)
{
	return acl_refused(c->access) ? CONN_REFUSE : CONN_ACCEPT;
}

static int
push_filters(struct filter_chain *ch, const struct filter *const *f)
{
	for (; f && *f; f++)
		if (filter_push(ch, *f) < 0)
			return -1;
	return 0;
}

/*
 * The seed's rule: always set the socket to blocking mode. A parent that
 * hands over an O_NONBLOCK socket (systemd NonBlocking=yes) would
 * otherwise end the session at its first read, as an idle timeout.
 */
static void
set_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/*
 * A message to a client the session is over for: sent at once or not at
 * all (never waiting on a client that reads nothing), counted in the record.
 */
static void
send_now(struct conn *c, const struct conn_msg *m)
{
	int fd = c->conn_fd == 0 ? 1 : c->conn_fd;
	ssize_t n;

	if (!m->len)
		return;
	n = send(fd, m->s, m->len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno == ENOTSOCK) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			n = write(fd, m->s, m->len);
			(void)fcntl(fd, F_SETFL, fl);
		}
	}
	if (n > 0)
		c->io.bytes_out += (uint64_t)n;
}

/*
 * The limits on the client itself, once it is known (after the PROXY
 * header): in the accept loop behind a proxy, what the listener counts;
 * then the table of sources (penalties, rates), unless the listener
 * already consulted it. Returns EXIT_SERVED to go on, or EXIT_REFUSED with
 * c->rule saying which limit.
 */
static int
limit_stage(struct conn *c)
{
	const struct addr *a = &c->peer.remote;
	struct srctab_note note;
	enum srctab_verdict v;
	const char *why;
	char net[ADDR_STRMAX + 5];

	if (!c->peer.has_remote || c->trusted_peer)
		return EXIT_SERVED;
	if (c->sc && c->sc->report >= 0) {
		switch (serve_report(c->sc, a, &why)) {
		case 1:
			snprintf(c->rule, ACL_RULEMAX, "%s", why);
			c->no_penalty = 1;
			return EXIT_REFUSED;
		case -1:
			log_msg(LOG_LVL_WARNING, "the listener did not answer the report of %s: "
			    "serving it", c->peer.remote_ip);
			break;
		}
	}
	if (!table.map || (c->sc && c->sc->admitted))
		return EXIT_SERVED;
	v = srctab_admit(&table, a, &settings.limits, srctab_now(), &note);
	serve_table_note(&note);
	switch (v) {
	case SRCTAB_PASS:
		return EXIT_SERVED;
	case SRCTAB_BUSY:
		log_msg(LOG_LVL_WARNING, "table of sources busy: serving %s without its limits",
		    c->peer.remote_ip);
		return EXIT_SERVED;
	case SRCTAB_PENALIZED:
		snprintf(c->rule, ACL_RULEMAX, "penalized (%lus more)", note.secs);
		break;
	case SRCTAB_RATE_SOURCE:
		snprintf(c->rule, ACL_RULEMAX, "max-rate %lu/%lus", settings.limits.source.n,
		    settings.limits.source.secs);
		break;
	case SRCTAB_RATE_NETBLOCK:
		serve_netblock_str(net, a, (unsigned)(a->family == AF_INET ? settings.limits.prefix4
		    : settings.limits.prefix6));
		snprintf(c->rule, ACL_RULEMAX, "max-netblock-rate %lu/%lus for %s",
		    settings.limits.netblock.n, settings.limits.netblock.secs, net);
		break;
	}
	c->no_penalty = 1;
	return EXIT_REFUSED;
}

/*
 * A connection that ended refused (a rule, the block list, a failed
 * login) counts against its source. Refusals by a limit do not: they are
 * the penalty at work. A trusted proxy is never penalized itself.
 */
static void
penalize(struct conn *c)
{
	struct srctab_note note;
	enum srctab_verdict v;

	if (!table.map || c->no_penalty || c->trusted_peer || !c->peer.has_remote)
		return;
	v = srctab_refused(&table, &c->peer.remote, &settings.limits, c->started_ms,
	    srctab_now(), &note);
	serve_table_note(&note);
	if (v == SRCTAB_PENALIZED)
		log_msg(LOG_LVL_NOTICE, "penalized %s for %lus after %lu refusal%s",
		    c->peer.remote_ip, note.secs, note.refusals, note.refusals > 1 ? "s" : "");
	else if (v == SRCTAB_BUSY)
		log_msg(LOG_LVL_WARNING, "table of sources busy: %s not penalized",
		    c->peer.remote_ip);
}

/* Every connection ends here: its penalty, if any, then its one record. */
static int
finish(struct conn *c, int status)
{
	if (status == EXIT_REFUSED)
		penalize(c);
	log_record(c, status);
	return status;
}

/* Refused before the session began: the refusal message, if one is set. */
static int
refuse_early(struct conn *c, int status)
{
	c->verdict = "refused";
	if (status == EXIT_REFUSED)
		send_now(c, &settings.refusal_msg);
	return finish(c, status);
}

static int
timed_out(const struct io *io)
{
	return io->end == IO_IDLE || io->end == IO_SESSION || io->end == IO_LOGIN;
}

/*
 * One connection, from "who is it" to the log record; conn_main runs it
 * once, or the accept loop once in every child.
 */
static int
serve_connection(struct conn *c)
{
	const struct service *svc = c->svc;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->started_ms = srctab_now();
	/* The session timer runs from here: the PROXY header and lookups are under it. */
	io_signals();
	io_deadline(IO_SESSION, &c->start, (unsigned)settings.session_timeout);
	set_blocking(c->conn_fd);
	if (c->conn_fd == 0)
		set_blocking(1);
	/* An upstream inetkit wrapper that took the header exported who it named. */
	if (settings.proxy_protocol && !getenv("INETKIT_PROXIED")) {
		/* Nothing is sent in place of a header: the stream is not the client's yet. */
		status = proxy_stage(c);
		if (status != EXIT_SERVED) {
			c->verdict = "refused";
			return finish(c, status);
		}
	} else if (peer_identify(&c->peer, c->conn_fd) < 0) {
		log_msg(LOG_LVL_ERR, "unable to identify the client: %s", strerror(errno));
		return EXIT_TEMP;
	}
	if ((status = limit_stage(c)) != EXIT_SERVED)
		return refuse_early(c, status);
	if (settings.reverse_lookups != REV_NO)
		peer_lookup_host(&c->peer, settings.reverse_lookups == REV_DOUBLE);
	c->access = acl_check(&c->acl, &c->peer, c->rule);
	if (settings.block_list && !acl_refused(c->access) && block_stage(c) < 0)
		return refuse_early(c, EXIT_REFUSED);
	if (io_init(&c->io, c->conn_fd, c->conn_fd == 0 ? 1 : c->conn_fd, settings.max_line,
	    (unsigned)settings.idle_timeout) < 0) {
		log_msg(LOG_LVL_ERR, "unable to set up the connection: %s", strerror(errno));
		return EXIT_TEMP;
	}
	if ((svc->pre_connection ? svc->pre_connection : default_pre_connection)(c)
	    == CONN_REFUSE) {
		c->verdict = "refused";
		if (settings.refusal_msg.len)
			io_write(&c->io, settings.refusal_msg.s, settings.refusal_msg.len);
		else if (svc->refusal)
			io_puts(&c->io, svc->refusal);
		io_close(&c->io);
		return finish(c, EXIT_REFUSED);
	}
	if (push_filters(&c->io.ofilters, svc->output_filters) < 0
	    || push_filters(&c->io.ifilters, svc->input_filters) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: more than %d filters", FILTER_MAX);
		return EXIT_USAGE;
	}
	status = svc->process_connection(c);
	if (timed_out(&c->io))
		send_now(c, &settings.timeout_msg);
	if (io_close(&c->io) < 0 && status == EXIT_SERVED)
		status = conn_end_status(c);
	return finish(c, status);
}

static int
serve_child(const struct serve_conn *sc, void *arg)
{
	struct conn *c = arg;

	c->conn_fd = sc->fd;
	c->sc = sc;
	return serve_connection(c);
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
table_open(const struct service *svc, int accept_loop)
{
	char name[128], err[4400];

	if (settings.state_dir) {
		snprintf(name, sizeof name, "inetkit-%s.sources", svc->name);
		if (srctab_open(&table, settings.state_dir, name, err, sizeof err) == 0)
			return EXIT_SERVED;
		/* Fail closed: a limit that silently vanished would be worse than none given. */
		log_msg(LOG_LVL_ERR, "%stable of sources: %s%s", accept_loop ? "fatal: " : "", err,
		    accept_loop ? "" : "; refusing the connection");
		return EXIT_TEMP;
	}
	if (accept_loop) {
		if (srctab_anon(&table, err, sizeof err) == 0)
			return EXIT_SERVED;
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

/* A login under way when its source was penalized never succeeds (cmdserver asks). */
int
conn_penalized(const struct conn *c)
{
	if (!table.map || !c->peer.has_remote || c->trusted_peer)
		return 0;
	return srctab_penalized(&table, &c->peer.remote, &settings.limits, srctab_now());
}

int
conn_main(const struct service *svc, int argc, char **argv)
{
	static char ident[64];
	const struct conf_opt *tabs[2] = { common_opts, svc->options };
	struct conf_error cerr = { "" };
	static struct conn c;
	int lfds[SERVE_LISTEN_MAX];
	size_t nl;
	char err[256];
	int help, version, first, r;

	snprintf(ident, sizeof ident, "inetkit-%s", svc->name);
	log_init(ident);
	signal(SIGPIPE, SIG_IGN);
	c.svc = svc;
	c.set = &settings;
	c.verdict = "served";

	first = conf_parse(tabs, 2, argc, argv, &help, &version, &cerr);
	if (first < 0) {
		log_msg(LOG_LVL_ERR, "fatal: %s", cerr.msg);
		return EXIT_USAGE;
	}
	if (help) {
		usage(svc, tabs, 2);
		return EXIT_SERVED;
	}
	if (version) {
		dprintf(1, "inetkit-%s %s\n", svc->name, INETKIT_VERSION);
		return EXIT_SERVED;
	}
	c.argc = argc - first;
	c.argv = argv + first;
	if (c.argc < svc->min_operands || (!svc->operands && c.argc > 0)) {
		log_msg(LOG_LVL_ERR, "fatal: usage: inetkit-%s [OPTION...]%s%s (see --help)",
		    svc->name, svc->operands ? " " : "", svc->operands ? svc->operands : "");
		return EXIT_USAGE;
	}
	log_set_level((int)settings.log_level);
	if (open_log() < 0)
		return EXIT_USAGE;
	if (acl_compile(&c.acl, &settings.allow, &settings.deny, &settings.cidr_allow,
	    &settings.cidr_deny, err, sizeof err) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: %s", err);
		return EXIT_USAGE;
	}
	if (trusted_compile() < 0)
		return EXIT_USAGE;
	if (svc->configure && (r = svc->configure(&c)) != EXIT_SERVED)
		return r;
	if ((r = activation(&c.conn_fd, lfds, &nl)) != 0)
		return r < 0 ? EXIT_USAGE : r;
	if ((r = table_open(svc, nl > 0)) != EXIT_SERVED)
		return r;
	if (nl == 0)
		return serve_connection(&c);
	scrub_identity();
	settings.serve.proxied = settings.proxy_protocol;
	settings.serve.tab = table.map ? &table : NULL;
	settings.serve.lim = &settings.limits;
	settings.serve.refusal = settings.refusal_msg.s;
	settings.serve.refusal_len = settings.refusal_msg.len;
	log_msg(LOG_LVL_INFO, "accepting on %zu socket%s, at most %lu connections at once", nl,
	    nl > 1 ? "s" : "", settings.serve.max_connections);
	if (serve_loop(lfds, nl, &settings.serve, serve_child, &c) < 0) {
		log_msg(LOG_LVL_ERR, "fatal: unable to run the accept loop: %s", strerror(errno));
		return EXIT_TEMP;
	}
	return EXIT_SERVED;
}

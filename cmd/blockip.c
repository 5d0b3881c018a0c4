/* SPDX-License-Identifier: MIT */
/*
 * inetkit-blockip: mod_perl's BlockIP2 as a chain-loading wrapper. Looks the
 * client up in a block list; a listed client is dropped without a byte
 * (exit 1), any other gets the UCSPI variables and PROGRAM is exec'd on the
 * same connection. "blockip --check ADDR LIST" answers for one address.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../common/blocklist.h"
#include "../common/conn.h"
#include "../common/die.h"

enum { ON_ERROR_DENY, ON_ERROR_ALLOW };

static const char *index_opt, *check_opt;
static int on_error;

static const char *const on_error_choices[] = { "deny", "allow", NULL };

static const struct conf_opt options[] = {
	{ .name = "on-error", .type = CONF_CHOICE,
	    .dest = &on_error, .choices = on_error_choices, .arg = "deny|allow",
	    .help = "a missing or malformed LIST refuses everyone (deny, default) or not" },
	{ .name = "index", .type = CONF_STR,
	    .dest = &index_opt, .arg = "PATH",
	    .help = "compiled index of LIST (default $CACHE_DIRECTORY/..., else LIST.idx)" },
	{ .name = "check", .type = CONF_STR,
	    .dest = &check_opt, .arg = "ADDR",
	    .help = "first: --check ADDR LIST says if ADDR is blocked (exit 1) or not (0)" },
	{ .name = NULL },
};

static enum conn_verdict
pre_connection(struct conn *c)
{
	const char *list = c->argv[0], *ip = c->peer.remote_ip;
	struct blocklist_match m;
	char why[ACL_RULEMAX];
	enum blocklist_verdict v;

	if (acl_refused(c->access))
		return CONN_REFUSE;
	v = blocklist_decide(list, index_opt, on_error == ON_ERROR_ALLOW,
	    c->peer.has_remote ? &c->peer.remote : NULL, &m, why, sizeof why);
	if (v == BLOCKLIST_BLOCK) {
		log_msg(LOG_LVL_NOTICE, "blocked %s (%s line %llu: %s)", ip, list,
		    (unsigned long long)m.line, m.text);
		snprintf(c->rule, ACL_RULEMAX, "%s", why);
		return CONN_REFUSE;
	}
	if (v != BLOCKLIST_PASS) {
		snprintf(c->rule, ACL_RULEMAX, "%s", why);
		log_msg(on_error == ON_ERROR_DENY ? LOG_LVL_ERR : LOG_LVL_WARNING, "%s: %s %s "
		    "(--on-error %s)", why, on_error == ON_ERROR_DENY ? "refusing" : "allowing",
		    c->peer.has_remote ? ip : "unknown client", on_error_choices[on_error]);
		return on_error == ON_ERROR_DENY ? CONN_REFUSE : CONN_ACCEPT;
	}
	snprintf(c->rule, ACL_RULEMAX, "not in block list %s", list);
	return CONN_ACCEPT;
}

/*
 * Hands the connection on as inetd would: on fd 0 and 1, with the socket
 * timeouts, alarm and SIGPIPE disposition libio set for itself undone.
 */
static int
process(struct conn *c)
{
	static const struct timeval none;
	int fd = c->conn_fd, e;

	if (peer_export(&c->peer) < 0)
		die_sys(EXIT_TEMP, "unable to set the UCSPI variables");
	if (fd != 0 && (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0))
		die_sys(EXIT_TEMP, "unable to move the connection to fd 0 and 1");
	(void)setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	(void)setsockopt(1, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
	alarm(0);
	signal(SIGPIPE, SIG_DFL);
	execvp(c->argv[1], c->argv + 1);
	e = errno;
	signal(SIGPIPE, SIG_IGN);
	log_msg(LOG_LVL_ERR, "fatal: unable to exec %s: %s", c->argv[1], strerror(e));
	snprintf(c->rule, ACL_RULEMAX, "exec %s failed", c->argv[1]);
	c->verdict = "failed";
	return e == ENOENT ? EXIT_NOTFOUND : EXIT_EXEC;
}

/* blockip --check ADDR [--index PATH] [--on-error deny|allow] LIST */
static int
check(int argc, char **argv)
{
	const struct conf_opt *tabs[1] = { options };
	struct blocklist_match m;
	struct conf_error err = { "" };
	struct addr a;
	char why[512];
	int first, help, version;

	log_init("inetkit-blockip");
	first = conf_parse(tabs, 1, argc, argv, &help, &version, &err);
	if (first < 0)
		die(EXIT_USAGE, "%s", err.msg);
	if (first != argc - 1 || !check_opt)
		die(EXIT_USAGE, "usage: inetkit-blockip --check ADDR [--index PATH] "
		    "[--on-error deny|allow] LIST");
	if (addr_parse(&a, check_opt) < 0) {
		char esc[LOG_ESCBUF];

		die(EXIT_USAGE, "option --check: \"%.64s\" is not an IPv4 or IPv6 address",
		    log_escape(esc, check_opt, strlen(check_opt)));
	}
	switch (blocklist_decide(argv[first], index_opt, on_error == ON_ERROR_ALLOW, &a, &m, why,
	    sizeof why)) {
	case BLOCKLIST_BLOCK:
		dprintf(1, "%s: blocked by %s line %llu: %s\n", check_opt, argv[first],
		    (unsigned long long)m.line, m.text);
		return EXIT_REFUSED;
	case BLOCKLIST_PASS:
		dprintf(1, "%s: not blocked by %s\n", check_opt, argv[first]);
		return EXIT_SERVED;
	default:
		dprintf(1, "%s: %s: %s (--on-error %s)\n", check_opt, on_error ? "not blocked" :
		    "blocked", why, on_error_choices[on_error]);
		return on_error ? EXIT_SERVED : EXIT_REFUSED;
	}
}

static const struct service blockip = {
	.name = "blockip",
	.operands = "LIST PROGRAM [ARGS...]",
	.summary = "Drop clients listed in LIST without a byte; run PROGRAM for the others "
	    "(mod_perl's BlockIP2).",
	.options = options,
	.min_operands = 2,
	.pre_connection = pre_connection,
	.process_connection = process,
};

int
main(int argc, char **argv)
{
	/* --check (first, so PROGRAM's own options are never mistaken for it) serves no client. */
	if (argc > 1 && (strcmp(argv[1], "--check") == 0 || strncmp(argv[1], "--check=", 8) == 0))
		return check(argc, argv);
	return conn_main(&blockip, argc, argv);
}

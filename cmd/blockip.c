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
#include "../common/daemon.h"
#include "../common/die.h"

static const char *check_opt;

/*
 * LIST is the common --block-list, read as an operand: the cycle's block
 * stage (conn.c) decides, as it does for every program's --block-list.
 * blockip's own spellings of the list's options stay as aliases.
 */
static const struct conf_opt options[] = {
	{ .name = "index", .alias_of = "block-list-index", .arg = "PATH",
	    .help = "the same as --block-list-index" },
	{ .name = "on-error", .alias_of = "block-list-on-error", .arg = "deny|allow",
	    .help = "the same as --block-list-on-error" },
	{ .name = "check", .type = CONF_STR,
	    .dest = &check_opt, .arg = "ADDR",
	    .help = "first: --check ADDR LIST says if ADDR is blocked (exit 1) or not (0)" },
	{ .name = NULL },
};

static int
configure(struct conn *c, struct conn_settings *s)
{
	if (s->block_list) {
		log_msg(LOG_LVL_ERR, "fatal: blockip takes its list as LIST, not --block-list");
		return EXIT_USAGE;
	}
	s->block_list = c->argv[0];
	/* Exec'd for every client: with --chroot, found inside the new root. */
	daemon_need("PROGRAM", c->argv[1], DAEMON_NEED_EXEC);
	return EXIT_SERVED;
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
	log_keep_file(LOG_KEEP_PROGRAM);	/* PROGRAM's record in the same --log file */
	execvp(c->argv[1], c->argv + 1);
	e = errno;
	log_keep_file(LOG_KEEP_OFF);
	signal(SIGPIPE, SIG_IGN);
	log_msg(LOG_LVL_ERR, "fatal: unable to exec %s: %s", c->argv[1], strerror(e));
	return conn_end(c, e == ENOENT ? EXIT_NOTFOUND : EXIT_EXEC, "failed", "exec %s failed",
	    c->argv[1]);
}

/* blockip --check ADDR [--block-list-index PATH] [--block-list-on-error deny|allow] LIST */
static int
check(int argc, char **argv)
{
	static const char *const on_error_choices[] = { "deny", "allow", NULL };
	static const char *index;
	static int on_error;
	static const struct conf_opt check_opts[] = {
		{ .name = "check", .type = CONF_STR, .dest = &check_opt, .arg = "ADDR" },
		{ .name = "block-list-index", .type = CONF_STR, .dest = &index, .arg = "PATH" },
		{ .name = "block-list-on-error", .type = CONF_CHOICE, .dest = &on_error,
		    .choices = on_error_choices, .arg = "deny|allow" },
		{ .name = "index", .alias_of = "block-list-index" },
		{ .name = "on-error", .alias_of = "block-list-on-error" },
		{ .name = NULL },
	};
	const struct conf_opt *tabs[1] = { check_opts };
	struct blocklist_decision d;
	struct conf_error err = { "" };
	struct addr a;
	const char *list;
	int first, help, version;

	log_init("inetkit-blockip");
	first = conf_parse(tabs, 1, argc, argv, &help, &version, &err);
	if (first < 0)
		die(EXIT_USAGE, "%s", err.msg);
	if (first != argc - 1 || !check_opt)
		die(EXIT_USAGE, "usage: %s --check ADDR [--block-list-index PATH] "
		    "[--block-list-on-error deny|allow] LIST", argv[0]);
	if (addr_parse(&a, check_opt) < 0) {
		char esc[TEXT_ESCBUF];

		die(EXIT_USAGE, "option --check: \"%.64s\" is not an IPv4 or IPv6 address",
		    text_escape(esc, check_opt, strlen(check_opt)));
	}
	list = argv[first];
	blocklist_decide(list, index, on_error, &a, &d);
	conn_log_blocklist(list, &d);
	switch (d.verdict) {
	case BLOCKLIST_BLOCK:
		dprintf(1, "%s: blocked by %s line %llu: %s\n", check_opt, list,
		    (unsigned long long)d.match.line, d.match.text);
		break;
	case BLOCKLIST_PASS:
		dprintf(1, "%s: not blocked by %s\n", check_opt, list);
		break;
	default:
		dprintf(1, "%s: %s: %s (--block-list-on-error %s)\n", check_opt,
		    d.refuse ? "blocked" : "not blocked", d.why, on_error_choices[on_error]);
		break;
	}
	return d.refuse ? EXIT_REFUSED : EXIT_SERVED;
}

static const struct service blockip = {
	.name = "blockip",
	.no_prefork = "it becomes PROGRAM, by exec",
	.operands = "LIST PROGRAM [ARGS...]",
	.summary = "Drop clients listed in LIST without a byte; run PROGRAM for the others "
	    "(mod_perl's BlockIP2).",
	.options = options,
	.min_operands = 2,
	.exit_extra = "126 PROGRAM could not be run, 127 PROGRAM not found",
	.configure = configure,
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

/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_CONN_H
#define INETKIT_CONN_H

#include <stdint.h>
#include <time.h>

#include "acl.h"
#include "conf.h"
#include "io.h"
#include "log.h"
#include "peer.h"
#include "serve.h"
#include "srctab.h"

/*
 * The connection cycle: configure, identify the client, run the
 * pre-connection check, process the connection through the filter chain,
 * then log one record. A program describes itself in a struct service and
 * hands it to conn_main(), which returns the exit status.
 */
enum {
	EXIT_SERVED = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 100,
	EXIT_TEMP = 111,
	EXIT_EXEC = 126,
	EXIT_NOTFOUND = 127,
};

/* What the pre-connection step decides. */
enum conn_verdict { CONN_ACCEPT, CONN_REFUSE };

enum rev_lookup { REV_NO, REV_YES, REV_DOUBLE };

#define CONN_MSG_MAX 256		/* bytes of --refusal-message, --timeout-message */

/* A message option's bytes, C escapes decoded. */
struct conn_msg {
	size_t len;
	char s[CONN_MSG_MAX];
};

/* The options every program has (inetkit.conf(5)). */
struct conn_settings {
	const char *conf_file;
	const char *log;
	unsigned long log_level;
	struct conf_list allow, deny, cidr_allow, cidr_deny;
	int reverse_lookups;		/* enum rev_lookup */
	unsigned long idle_timeout, session_timeout, max_line;
	int proxy_protocol;		/* expect a PROXY header from a trusted proxy */
	struct conf_list trusted_proxy;
	unsigned long proxy_timeout;
	const char *block_list, *block_list_index;
	int block_list_on_error;	/* 0 deny, 1 allow */
	struct conf_list listen;	/* --listen: run the accept loop */
	struct serve_opts serve;
	const char *state_dir;		/* where the table of sources is kept */
	struct srctab_limits limits;
	struct conn_msg refusal_msg, timeout_msg;
};

struct conn {
	const struct service *svc;
	struct conn_settings *set;
	struct io io;
	struct peer peer;
	struct acl acl;
	enum acl_verdict access;	/* the address rules' verdict */
	char rule[ACL_RULEMAX];		/* the rule that decided, for the log */
	const char *verdict;		/* "served", "refused", ... for the log */
	char user[LOG_ESCBUF];		/* escaped user name, for the log */
	int conn_fd;
	const struct serve_conn *sc;	/* in a child of the accept loop, else NULL */
	int no_penalty;			/* refused by a limit, or by the service's own fault */
	int trusted_peer;		/* the peer is a trusted proxy, not a client */
	int argc;			/* operands after the options */
	char **argv;
	struct timespec start;
	int64_t started_ms;		/* CLOCK_REALTIME, for the table of sources */
};

struct service {
	const char *name;		/* "echo": logs as inetkit-echo */
	const char *operands;		/* for --help, e.g. "LIST PROGRAM [ARGS...]" */
	const char *summary;
	const struct conf_opt *options;	/* the program's own, NULL-name-terminated */
	int min_operands;
	/* After the options are read, before any client: returns 0 or an exit status. */
	int (*configure)(struct conn *c);
	/* Before any byte is read; may look at c->access. NULL: refuse on deny. */
	enum conn_verdict (*pre_connection)(struct conn *c);
	/* Serves the client; returns the exit status. */
	int (*process_connection)(struct conn *c);
	const struct filter *const *output_filters;	/* NULL-terminated or NULL */
	const struct filter *const *input_filters;
	const char *refusal;		/* sent to a refused client, or NULL */
};

int conn_main(const struct service *svc, int argc, char **argv);
void conn_set_user(struct conn *c, const char *user, size_t len);
int conn_end_status(const struct conn *c);
int conn_penalized(const struct conn *c);

#endif

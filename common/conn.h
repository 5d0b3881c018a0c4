/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_CONN_H
#define INETKIT_CONN_H

#include <stdint.h>
#include <time.h>

#include "acl.h"
#include "addr.h"
#include "conf.h"
#include "exit.h"
#include "io.h"
#include "log.h"
#include "peer.h"
#include "serve.h"
#include "srctab.h"
#include "text.h"

/*
 * The upper layer: a program (cmd/) describes itself in a struct service
 * and hands it to conn_main() (program.c), which reads the options, finds
 * the client or the listening sockets, and runs the connection cycle
 * (conn.c) once, or once in every child of the accept loop (serve.c).
 * These, with log.c and die.c, are the only places that log and pick exit
 * codes (exit.h); the lower layer returns results and reasons.
 * doc/ARCHITECTURE.md walks through it.
 */

/* What the service's pre-connection step decides. */
enum conn_verdict { CONN_ACCEPT, CONN_REFUSE };

enum rev_lookup { REV_NO, REV_YES, REV_DOUBLE, REV_DOUBLE_DETAIL, REV_DOUBLE_AUTOFAIL,
	REV_DOUBLE_DEBUG };
/* Net::Server's double_reverse_lookups: a client whose name does not resolve back is refused. */
enum rev_double { DR_NO, DR_YES, DR_DETAIL, DR_AUTOFAIL, DR_DEBUG };

#define CONN_MSG_MAX 256		/* bytes of --refusal-message, --timeout-message */

/* A message option's bytes, C escapes decoded. */
struct conn_msg {
	size_t len;
	char s[CONN_MSG_MAX];
};

/* A conf_opt's set for a struct conn_msg (dest): the text, C escapes decoded. */
int conn_msg_set(void *dest, const char *v, char *err, size_t len);

/*
 * The options every program has (inetkit.conf(5)). Each value is parsed
 * once, where it is read: the rules are compiled, the addresses parsed.
 */
struct conn_settings {
	const char *conf_file;
	enum log_sink log_sink;		/* --log; LOG_SINK_AUTO: detected */
	const char *log_path;		/* for LOG_SINK_FILE */
	unsigned long log_level;
	struct acl acl;			/* --allow, --deny, --cidr-allow, --cidr-deny */
	int reverse_lookups;		/* enum rev_lookup */
	int double_reverse;		/* enum rev_double (reverse_lookups double... sets it) */
	unsigned long idle_timeout, session_timeout, max_line;
	int proxy_protocol;		/* expect a PROXY header from a trusted proxy */
	struct acl trusted;		/* --trusted-proxy, as its CIDR-allow blocks */
	unsigned long proxy_timeout;
	const char *block_list, *block_list_index;
	int block_list_on_error;	/* 0 deny, 1 allow */
	struct conf_list listen;	/* --listen: run the accept loop */
	unsigned long backlog;		/* Net::Server's listen N, for every socket bound here */
	struct serve_opts serve;
	const char *state_dir;		/* where the table of sources is kept */
	struct srctab_limits limits;
	struct conn_msg refusal_msg, timeout_msg;
};

/*
 * How a connection ended: one value, filled by the stage that ends the
 * connection (conn_end), and read by the connection's one log record.
 */
struct conn_outcome {
	int status;			/* the exit status */
	const char *verdict;		/* "served", "refused", "login failed"...; NULL: not ended */
	char rule[ACL_RULEMAX];		/* what decided: the rule, the limit, the reason */
	int blameless;			/* refused through no fault of the client: no penalty */
	enum io_end end;		/* how the stream ended */
	int err;			/* and its errno, if an error */
};

/*
 * A field of a service's own in its connection record (tls: the protocol,
 * the cipher, the server name), "key=value" in the text and journal under
 * its own name.
 */
#define CONN_FIELDS_MAX 6
struct conn_field {
	const char *key;		/* "tls" */
	const char *journal;		/* "INETKIT_TLS" */
	char value[TEXT_ESCBUF];	/* escaped: a client's bytes cannot plant a field */
};

struct conn {
	const struct service *svc;
	const struct conn_settings *set;
	struct srctab *table;		/* the table of sources, or NULL */
	struct io io;
	struct peer peer;
	enum acl_verdict access;	/* the address rules' verdict */
	struct conn_outcome out;
	char user[TEXT_ESCBUF];		/* escaped user name, for the log */
	int conn_fd;
	const struct serve_conn *sc;	/* in a child of the accept loop, else NULL */
	int accept_loop;		/* this process runs the accept loop (known to configure) */
	int told;			/* the service sent the timeout message itself (tls) */
	int trusted_peer;		/* the peer is a trusted proxy, not a client */
	int double_refused;		/* double_reverse_lookups refused it: no rule is asked */
	int argc;			/* operands after the options */
	char **argv;
	struct timespec start;		/* CLOCK_MONOTONIC, for the deadlines and the record */
	int64_t started_ms;		/* CLOCK_REALTIME, for the table of sources */
	struct conn_field fields[CONN_FIELDS_MAX];
	size_t nfields;
};

struct service {
	const char *name;		/* "echo": logs as inetkit-echo */
	const char *operands;		/* for --help, e.g. "LIST PROGRAM [ARGS...]" */
	const char *summary;
	const struct conf_opt *options;	/* the program's own, NULL-name-terminated */
	int min_operands;
	const char *exit_extra;		/* --help's line for exit codes of its own, or NULL */
	/*
	 * After the options are read and the sockets found (c->accept_loop
	 * is known), before any client: may adjust the settings (blockip
	 * names the block list); returns 0 or an exit status.
	 */
	int (*configure)(struct conn *c, struct conn_settings *s);
	/*
	 * Before any byte is read, and before the session's buffers exist
	 * (c->io is not set up yet: no I/O here); may look at c->access and
	 * c->peer. NULL: refuse on deny.
	 */
	enum conn_verdict (*pre_connection)(struct conn *c);
	/* Serves the client; returns conn_served(c) or conn_end(c, ...). */
	int (*process_connection)(struct conn *c);
	const struct filter *const *output_filters;	/* NULL-terminated or NULL */
	const struct filter *const *input_filters;
	const char *refusal;		/* sent to a client the service refused, or NULL */
	/*
	 * 1: process_connection keeps nothing of a client in the process
	 * beyond struct conn and c->io, so that a PreFork worker may serve
	 * the next client after it; else no_prefork says why not.
	 */
	int prefork;
	const char *no_prefork;
	/*
	 * The reply to one datagram (udp.c), in[0..n) from c->peer, which the
	 * rules, the block list and the limits have let through: written to
	 * out, at most outmax bytes (never more than n: a reply is never
	 * larger than its request); returns its length (0: an empty reply),
	 * or -1 for no reply. NULL: the program serves no datagram socket.
	 */
	ssize_t (*datagram)(const struct conn *c, const unsigned char *in, size_t n,
	    unsigned char *out, size_t outmax);
};

int conn_main(const struct service *svc, int argc, char **argv);

/* The cycle (conn.c), for conn_main: returns the exit status. */
int conn_serve(struct conn *c);
/*
 * After conn_serve in a process that serves another client next (PreFork):
 * the session's buffers and timers gone, c zeroed. Returns what stopped
 * the session (io_reset): IO_TERM, the process is being stopped.
 */
int conn_clear(struct conn *c);

/*
 * Ends the connection: records its status, verdict and, if fmt is not
 * NULL, why; the first stage to end it decides. Returns status.
 */
int conn_end(struct conn *c, int status, const char *verdict, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A session that ran to its end: served, unless the stream failed. */
int conn_served(struct conn *c);
void conn_set_user(struct conn *c, const char *user, size_t len);
/* Adds key=value (len bytes, escaped here) to the record; past CONN_FIELDS_MAX, dropped. */
void conn_add_field(struct conn *c, const char *key, const char *journal, const char *value,
    size_t len);
int conn_penalized(const struct conn *c);

struct blocklist_decision;
/* Logs what reading the block list LIST found wrong with it (blockip --check too). */
void conn_log_blocklist(const char *list, const struct blocklist_decision *d);

#endif

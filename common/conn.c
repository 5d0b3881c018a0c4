/* SPDX-License-Identifier: MIT */
/*
 * The connection cycle: from "who is it" to the one log record, with every
 * stage that may end the connection early. conn_serve() at the bottom is
 * the outline; doc/ARCHITECTURE.md tells the same story at more length.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

int
conn_end(struct conn *c, int status, const char *verdict, const char *fmt, ...)
{
	va_list ap;

	if (c->out.verdict)
		return c->out.status;
	c->out.status = status;
	c->out.verdict = verdict;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(c->out.rule, sizeof c->out.rule, fmt, ap);
		va_end(ap);
	}
	return status;
}

/* A client that leaves, resets or idles out ends the session normally. */
int
conn_served(struct conn *c)
{
	return conn_end(c, c->io.end == IO_ERROR ? EXIT_TEMP : EXIT_SERVED, "served", NULL);
}

void
conn_set_user(struct conn *c, const char *user, size_t len)
{
	text_escape_field(c->user, user, len);
}

void
conn_add_field(struct conn *c, const char *key, const char *journal, const char *value,
    size_t len)
{
	struct conn_field *f;

	if (c->nfields == CONN_FIELDS_MAX)
		return;
	f = &c->fields[c->nfields++];
	f->key = key;
	f->journal = journal;
	text_escape_field(f->value, value, len);
}

/* A login under way when its source was penalized never succeeds (cmdserver asks). */
int
conn_penalized(const struct conn *c)
{
	if (!c->table || !c->peer.has_remote || c->trusted_peer)
		return 0;
	return srctab_penalized(c->table, &c->peer.remote, &c->set->limits, srctab_now());
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
 * Stage 2. The PROXY header comes off the stream before anything else, and
 * only from a socket peer in --trusted-proxy; anything else ends the
 * connection, with nothing sent in place of a header (the stream is not the
 * client's yet). The peer is then who the header says (peer_set_proxy).
 */
static int
proxy_stage(struct conn *c)
{
	static char buf[PROXY_HDR_MAX];
	const struct conn_settings *s = c->set;
	char esc[TEXT_ESCBUF];
	struct proxy_hdr h;
	enum proxy_status st;
	size_t i, got;
	int r;

	r = peer_socket(&c->peer, c->conn_fd);
	if (r < 0)
		return conn_end(c, EXIT_TEMP, "refused", "proxy: unable to identify the peer: %s",
		    strerror(errno));
	if (r == 0 || !c->peer.has_remote)
		return conn_end(c, EXIT_REFUSED, "refused", "proxy: not a TCP connection");
	for (i = 0; i < s->trusted.ncallow; i++)
		if (cidr_match(&s->trusted.callow[i], &c->peer.remote))
			break;
	if (i == s->trusted.ncallow)
		return conn_end(c, EXIT_REFUSED, "refused", "proxy: peer is not a --trusted-proxy");
	/* Until the header is read, the peer is the proxy: never limited or penalized. */
	c->trusted_peer = 1;
	st = proxy_read(c->conn_fd, buf, (unsigned)s->proxy_timeout * 1000, &h, &got);
	if (st != PROXY_OK) {
		const char *why = st == PROXY_IOERR ? strerror(errno) : NULL;

		text_escape_field(esc, buf, got < 32 ? got : 32);
		return conn_end(c, st == PROXY_TIMEOUT ? EXIT_REFUSED : st == PROXY_IOERR ? EXIT_TEMP
		    : EXIT_USAGE, "refused", "proxy: %s%s%.48s%s%.96s", proxy_status_name(st),
		    why ? ": " : "", why ? why : "", got ? ", got " : "", got ? esc : "");
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
 * Stage 3. The limits on the client itself, once it is known (after the
 * PROXY header): in the accept loop behind a proxy, what the listener
 * counts; then the table of sources (penalties, rates), unless the
 * listener already consulted it. A refusal by a limit is the penalty at
 * work: it raises none.
 */
static int
limit_stage(struct conn *c)
{
	const struct srctab_limits *l = &c->set->limits;
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
			c->out.blameless = 1;
			return conn_end(c, EXIT_REFUSED, "refused", "%s", why);
		case -1:
			log_msg(LOG_LVL_WARNING, "the listener did not answer the report of %s: "
			    "serving it", c->peer.remote_ip);
			break;
		}
	}
	if (!c->table || (c->sc && c->sc->admitted))
		return EXIT_SERVED;
	v = srctab_admit(c->table, a, l, srctab_now(), &note);
	serve_table_note(&note);
	switch (v) {
	case SRCTAB_PASS:
		return EXIT_SERVED;
	case SRCTAB_BUSY:
		log_msg(LOG_LVL_WARNING, "table of sources busy: serving %s without its limits",
		    c->peer.remote_ip);
		return EXIT_SERVED;
	case SRCTAB_PENALIZED:
		c->out.blameless = 1;
		return conn_end(c, EXIT_REFUSED, "refused", "penalized (%lus more)", note.secs);
	case SRCTAB_RATE_SOURCE:
		c->out.blameless = 1;
		return conn_end(c, EXIT_REFUSED, "refused", "max-rate %lu/%lus", l->source.n,
		    l->source.secs);
	case SRCTAB_RATE_NETBLOCK:
		serve_netblock_str(net, a, (unsigned)(a->family == AF_INET ? l->prefix4 : l->prefix6));
		c->out.blameless = 1;
		return conn_end(c, EXIT_REFUSED, "refused", "max-netblock-rate %lu/%lus for %s",
		    l->netblock.n, l->netblock.secs, net);
	}
	return EXIT_SERVED;
}

/* What the block list's reading found wrong with it, for the administrator. */
void
conn_log_blocklist(const char *list, const struct blocklist_decision *d)
{
	char esc[TEXT_ESCBUF];
	size_t i;

	if (d->note[0])
		log_msg(LOG_LVL_WARNING, "block list %s: %s; using it from memory "
		    "(see --block-list-index)", list, d->note);
	for (i = 0; i < d->nkept; i++) {
		const struct blocklist_bad *b = &d->bad[i];
		char more[64] = "";

		if (b->full > b->len)
			snprintf(more, sizeof more, " (the first %u of %s%u bytes)", (unsigned)b->len,
			    b->full == UINT32_MAX ? "at least " : "", (unsigned)b->full);
		log_msg(LOG_LVL_WARNING, "block list %s line %llu: bad entry \"%s\"%s", list,
		    (unsigned long long)b->line, text_escape(esc, b->text, b->len), more);
	}
	if (d->nbad > d->nkept)
		log_msg(LOG_LVL_WARNING, "block list %s: %llu more bad lines", list,
		    (unsigned long long)(d->nbad - d->nkept));
}

/*
 * Stage 6. --block-list (blockip's LIST): a listed client is dropped
 * without a byte, like a firewall would, whatever the service's own
 * refusal; only --refusal-message is sent. A list that cannot be used
 * refuses everyone or no one (--block-list-on-error), and that refusal is
 * the list's fault, not the client's: it raises no penalty.
 */
static int
block_stage(struct conn *c)
{
	const struct conn_settings *s = c->set;
	struct blocklist_decision d;

	blocklist_decide(s->block_list, s->block_list_index, s->block_list_on_error,
	    c->peer.has_remote ? &c->peer.remote : NULL, &d);
	conn_log_blocklist(s->block_list, &d);
	switch (d.verdict) {
	case BLOCKLIST_PASS:
		return EXIT_SERVED;
	case BLOCKLIST_BLOCK:
		log_msg(LOG_LVL_NOTICE, "blocked %s (%s line %llu: %s)", c->peer.remote_ip,
		    s->block_list, (unsigned long long)d.match.line, d.match.text);
		return conn_end(c, EXIT_REFUSED, "refused", "%s", d.why);
	default:
		log_msg(d.refuse ? LOG_LVL_ERR : LOG_LVL_WARNING, "%s: %s %s "
		    "(--block-list-on-error %s)", d.why, d.refuse ? "refusing" : "allowing",
		    c->peer.has_remote ? c->peer.remote_ip : "unknown client",
		    s->block_list_on_error ? "allow" : "deny");
		snprintf(c->out.rule, sizeof c->out.rule, "%.*s", ACL_RULEMAX - 1, d.why);
		if (!d.refuse)
			return EXIT_SERVED;
		c->out.blameless = 1;
		return conn_end(c, EXIT_REFUSED, "refused", NULL);
	}
}

/*
 * A message to a client the session is over for: sent at once or not at
 * all (never waiting on a client that reads nothing), counted in the
 * record.
 */
static void
send_now(struct conn *c, const char *s, size_t len)
{
	int fd = c->conn_fd == 0 ? 1 : c->conn_fd;
	ssize_t n;

	if (!len)
		return;
	n = send(fd, s, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0 && errno == ENOTSOCK) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			n = write(fd, s, len);
			(void)fcntl(fd, F_SETFL, fl);
		}
	}
	if (n > 0)
		c->io.bytes_out += (uint64_t)n;
}

/*
 * A refusal, applied where it is decided: before the session's buffers
 * exist. --refusal-message wins over the service's own (svc->refusal, for
 * a refusal by the service's rules only). A refusal by the rules or the
 * service ends in a clean close (linger), so that unread input cannot turn
 * its answer into a reset; one by a limit or the block list ends at once,
 * without holding a process for a source that is being turned away.
 */
static void
refuse(struct conn *c, const char *own, int linger)
{
	const struct conn_msg *m = &c->set->refusal_msg;

	if (m->len)
		send_now(c, m->s, m->len);
	else if (own)
		send_now(c, own, strlen(own));
	if (linger)
		io_linger(c->conn_fd, c->conn_fd == 0 ? 1 : c->conn_fd);
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
 * A connection that ended refused (a rule, the block list, a failed
 * login) counts against its source, unless it was blameless. A trusted
 * proxy is never penalized itself.
 */
static void
penalize(struct conn *c)
{
	struct srctab_note note;
	enum srctab_verdict v;

	if (c->out.status != EXIT_REFUSED || !c->table || c->out.blameless || c->trusted_peer
	    || !c->peer.has_remote)
		return;
	v = srctab_refused(c->table, &c->peer.remote, &c->set->limits, c->started_ms,
	    srctab_now(), &note);
	serve_table_note(&note);
	if (v == SRCTAB_PENALIZED)
		log_msg(LOG_LVL_NOTICE, "penalized %s for %lus after %lu refusal%s",
		    c->peer.remote_ip, note.secs, note.refusals, note.refusals > 1 ? "s" : "");
	else if (v == SRCTAB_BUSY)
		log_msg(LOG_LVL_WARNING, "table of sources busy: %s not penalized",
		    c->peer.remote_ip);
}

/* The connection's one record, from its outcome. */
static void
log_record(const struct conn *c)
{
	const struct conn_outcome *o = &c->out;
	char dur[32], in[24], out[24], st[8], local[ADDR_STRMAX + PEER_PORTMAX + 4];
	const char *peer = peer_str(&c->peer), *end = io_end_name(o->end);
	const char *user = c->user[0] ? c->user : "-";
	struct timespec now;
	double secs;
	int lvl;

	if (o->status == EXIT_SERVED && (o->end == IO_OK || o->end == IO_EOF || o->end == IO_RESET))
		lvl = LOG_LVL_INFO;
	else if (o->status == EXIT_TEMP)
		lvl = LOG_LVL_ERR;
	else
		lvl = LOG_LVL_NOTICE;
	/* Below --log-level the record is not formatted either: a served echo, at notice. */
	if (lvl > log_level())
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - c->start.tv_sec) + (now.tv_nsec - c->start.tv_nsec) / 1e9;
	snprintf(dur, sizeof dur, "%.3f", secs);
	snprintf(in, sizeof in, "%llu", (unsigned long long)c->io.bytes_in);
	snprintf(out, sizeof out, "%llu", (unsigned long long)c->io.bytes_out);
	snprintf(st, sizeof st, "%d", o->status);
	if (c->peer.has_local)
		snprintf(local, sizeof local, c->peer.local.family == AF_INET6 ? "[%s]:%s" : "%s:%s",
		    c->peer.local_ip, c->peer.local_port);
	else
		snprintf(local, sizeof local, "-");
	{
		struct log_field f[10 + CONN_FIELDS_MAX] = {
			{ "INETKIT_PEER", peer }, { "INETKIT_LOCAL", local },
			{ "INETKIT_VERDICT", o->verdict }, { "INETKIT_RULE", o->rule },
			{ "INETKIT_USER", user },
			{ "INETKIT_BYTES_IN", in }, { "INETKIT_BYTES_OUT", out },
			{ "INETKIT_DURATION", dur }, { "INETKIT_STATUS", st },
			{ "INETKIT_END", end },
		};
		char more[CONN_FIELDS_MAX * (TEXT_ESCBUF + 16)];
		size_t i, n = 10, at = 0;

		more[0] = '\0';
		for (i = 0; i < c->nfields; i++) {
			f[n++] = (struct log_field){ c->fields[i].journal, c->fields[i].value };
			at += (size_t)snprintf(more + at, sizeof more - at, " %s=%s", c->fields[i].key,
			    c->fields[i].value);
		}
		log_fields(lvl, f, n,
		    "%s peer=%s local=%s rule=\"%s\" user=%s in=%s out=%s duration=%ss "
		    "status=%s%s end=%s%s%s", o->verdict, peer, local, o->rule, user, in, out, dur, st,
		    more, end, o->err ? ": " : "", o->err ? strerror(o->err) : "");
	}
}

/*
 * Stage 10. Every connection that got as far as a client ends here, with
 * its one record. The penalty, if any, was recorded before the client could
 * see the end (ended_refused): a client that reconnects the moment it reads
 * "Access Denied" must find its source penalized already.
 */
static int
finish(struct conn *c)
{
	c->out.end = c->io.end;
	c->out.err = c->io.err;
	log_record(c);
	return c->out.status;
}

/* A refusal before the session: the penalty, then the refusal itself, then the record. */
static int
ended_refused(struct conn *c, const char *own, int linger)
{
	penalize(c);
	refuse(c, own, linger);
	return finish(c);
}

static int
timed_out(const struct io *io)
{
	return io->end == IO_IDLE || io->end == IO_SESSION || io->end == IO_LOGIN;
}

/*
 * Stage 4: the host name, and Net::Server's double_reverse_lookups, which
 * comes before every rule: a client whose name does not resolve back to
 * its address is refused (detail: the record names the name too;
 * autofail: every client is refused, to see what it would have been;
 * debug: logged, never refused). An unconfirmed name is never matched.
 */
static void
reverse_stage(struct conn *c)
{
	int dr = c->set->double_reverse, r;
	char name[PEER_HOSTMAX] = "", esc[TEXT_ESCBUF], ip[ADDR_STRMAX] = "?";
	const char *what;

	r = peer_lookup_host(&c->peer, dr != DR_NO, name, sizeof name);
	if (dr == DR_NO)
		return;
	text_escape_to(esc, sizeof esc, name, strlen(name));
	if (c->peer.has_remote)
		addr_format(&c->peer.remote, ip);
	what = r == 0 ? "resolves back" : r == -1 ? "has no host name" : "does not resolve back";
	if (dr == DR_DEBUG) {
		log_msg(LOG_LVL_DEBUG, "double reverse: %s: host \"%s\" %s", ip, esc, what);
		return;
	}
	if (r == 0 && dr != DR_AUTOFAIL)
		return;
	c->double_refused = 1;
	c->access = ACL_DENY;
	if (r == -1)
		snprintf(c->out.rule, sizeof c->out.rule, "double-reverse-lookups: %s has no host "
		    "name", ip);
	else if (dr == DR_YES)
		snprintf(c->out.rule, sizeof c->out.rule, "double-reverse-lookups: the name of %s "
		    "%s", ip, what);
	else
		snprintf(c->out.rule, sizeof c->out.rule, "double-reverse-lookups%s: %.40s (of %s) %s",
		    dr == DR_AUTOFAIL ? " autofail" : "", esc, ip, what);
	log_msg(LOG_LVL_INFO, "double reverse: %s", c->out.rule);
}

/*
 * 5: the address rules. A pattern that could not be matched within its
 * limits is said once, at warning level: one line for the connection
 * (which is its process's only one, or a child's of the accept loop),
 * however many patterns it concerns.
 */
static void
rules_stage(struct conn *c)
{
	struct acl_trouble t;
	char more[64] = "";

	c->access = acl_check(&c->set->acl, &c->peer, c->out.rule, &t);
	if (!t.n)
		return;
	if (t.n > 1)
		snprintf(more, sizeof more, " (%zu matches of this client hit a limit)", t.n);
	log_msg(LOG_LVL_WARNING, "%s rule \"%.200s\" could not be matched on the %s of %s "
	    "(%s): %s%s", t.kind == ACL_RULE_DENY ? "deny" : "allow", t.src, t.subject,
	    peer_str(&c->peer), t.why, t.kind == ACL_RULE_DENY ? "the client is refused"
	    : "it does not match", more);
}

/*
 * One connection, from "who is it" to the log record; conn_main runs it
 * once, or the accept loop once in every child. The stages, in order (a
 * stage that ends the connection records why in c->out, and goes to 10):
 *   1. the clocks: the session timer runs from here, so that the PROXY
 *      header, the reverse lookups and a block-list compile are under it;
 *   2. who the client is: the PROXY header (proxy_stage) or the socket,
 *      UCSPI or systemd's variables (peer_identify);
 *   3. the limits on that client: listener's counts, penalties, rates;
 *   4. reverse lookups, if asked for;
 *   5. the address rules (acl_check), into c->access; a pattern that hit
 *      its matching limits is logged (rules_stage);
 *   6. the block list, whatever the rules said (a client they deny may
 *      still log in under cmdserver's --satisfy any);
 *   7. the service's pre-connection step (default: refuse on a deny);
 *      a refusal from 3 to 7 is applied where it is decided, before any
 *      buffer exists: the penalty, then the message (ended_refused);
 *   8. the session: buffers, filters, the service's process_connection;
 *   9. the penalty, if refused (before the client can see the end of the
 *      connection); the timeout message, if it timed out; a clean close;
 *  10. the one log record (finish).
 */
int
conn_serve(struct conn *c)
{
	const struct conn_settings *s = c->set;
	const struct service *svc = c->svc;
	int fd = c->conn_fd, wfd = fd == 0 ? 1 : fd;
	int status;

	/* 1 */
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->started_ms = srctab_now();
	io_signals();
	io_deadline(IO_SESSION, &c->start, (unsigned)s->session_timeout);
	/* A socket the accept loop accepted is blocking already (accept4 without SOCK_NONBLOCK). */
	if (!c->sc)
		set_blocking(fd);
	if (fd == 0)
		set_blocking(1);
	/* 2: an upstream inetkit wrapper that took the header exported who it named. */
	if (s->proxy_protocol && !getenv("INETKIT_PROXIED")) {
		if (proxy_stage(c) != EXIT_SERVED) {
			penalize(c);
			return finish(c);
		}
	} else if (peer_identify(&c->peer, fd) < 0) {
		log_msg(LOG_LVL_ERR, "unable to identify the client: %s", strerror(errno));
		return EXIT_TEMP;
	}
	/* 3 to 6 */
	if (limit_stage(c) != EXIT_SERVED)
		return ended_refused(c, NULL, 0);
	if (s->reverse_lookups != REV_NO || s->double_reverse != DR_NO)
		reverse_stage(c);
	if (!c->double_refused)
		rules_stage(c);
	/* Whatever the rules said: under cmdserver's --satisfy any a denied client may log in. */
	if (s->block_list && block_stage(c) != EXIT_SERVED)
		return ended_refused(c, NULL, 0);
	/* 7 */
	if ((svc->pre_connection ? svc->pre_connection(c) : acl_refused(c->access) ? CONN_REFUSE
	    : CONN_ACCEPT) == CONN_REFUSE) {
		conn_end(c, EXIT_REFUSED, "refused", NULL);
		return ended_refused(c, svc->refusal, 1);
	}
	/* 8 */
	if (io_init(&c->io, fd, wfd, s->max_line, (unsigned)s->idle_timeout) < 0) {
		log_msg(LOG_LVL_ERR, "unable to set up the connection: %s", strerror(errno));
		return EXIT_TEMP;
	}
	if (push_filters(&c->io.ofilters, svc->output_filters) < 0
	    || push_filters(&c->io.ifilters, svc->input_filters) < 0) {
		log_msg(LOG_LVL_ERR, "more than %d filters", FILTER_MAX);
		conn_end(c, EXIT_TEMP, "failed", "more than %d filters", FILTER_MAX);
		return finish(c);
	}
	status = svc->process_connection(c);
	conn_end(c, status, "served", NULL);
	/* 9: the penalty before the last bytes (a failed login's answer) are flushed. */
	penalize(c);
	if (timed_out(&c->io) && !c->told)
		send_now(c, s->timeout_msg.s, s->timeout_msg.len);
	/* A session that ends on a failed flush was not served after all. */
	if (io_close(&c->io) < 0 && c->out.status == EXIT_SERVED && c->io.end == IO_ERROR)
		c->out.status = EXIT_TEMP;
	/* 10 */
	return finish(c);
}

int
conn_clear(struct conn *c)
{
	io_free(&c->io);
	explicit_bzero(c, sizeof *c);
	return io_reset();
}

/* SPDX-License-Identifier: MIT */
/*
 * The datagram loop: RFC 862's echo over UDP, and any service with a
 * datagram hook (conn.h). One process reads every datagram of its sockets
 * and puts each through the steps a connection goes through (conn.c), in
 * the same order and under the same options, cut to what a datagram has:
 *   1. what no reply may answer: a truncated datagram, one sent to (or
 *      from) a broadcast or multicast address, one from a port that would
 *      make two services answer each other for ever (BSD inetd's loop
 *      guard: echo, daytime, chargen, time, port 0, our own port);
 *   2. the table of sources: a penalty, --max-rate, --max-netblock-rate;
 *   3. reverse lookups, only if asked for and a pattern rule needs them;
 *   4. the address rules;
 *   5. the block list (kept open, looked at again when its file changes);
 *   6. the service's reply, never larger than the datagram, sent from the
 *      address the datagram was sent to (IP_PKTINFO, IPV6_PKTINFO), never
 *      waiting for room in the socket's buffer.
 * A datagram refused at any step gets no reply (a reply to a forged source
 * would make the service an amplifier) and no log record of its own: it is
 * counted, and logged at debug level. The process logs one record when it
 * ends: after --idle-timeout without a datagram (inetd's wait = yes: the
 * activator starts it again for the next one), at --session-timeout, or on
 * SIGTERM, SIGINT or SIGQUIT (with no sessions to wait for, QUIT is TERM).
 * SIGHUP reloads as the accept loop does (program.c re-execs); the record
 * so far is logged first, with end=reload, and a new one begins.
 */
#define _GNU_SOURCE		/* struct in6_pktinfo */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "conn.h"
#include "log.h"
#include "serve.h"
#include "udp.h"

#define SEEN_SLOTS (2 * UDP_SOURCES_MAX)	/* the set of sources, half full at most */
#define SEEN_PROBES 16

/* Why a datagram got no reply; each is a field of the record. */
enum drop {
	DROP_RULE,		/* the address rules */
	DROP_BLOCKLIST,		/* the block list, or a list that refuses everyone */
	DROP_RATE,		/* the table of sources: a rate, or a penalty */
	DROP_LOOP,		/* from a port that would answer back */
	DROP_TRUNCATED,		/* longer than UDP_MAX */
	DROP_BROADCAST,		/* to or from a broadcast or multicast address */
	DROP_FULL,		/* the reply: no room in the socket's buffer */
	DROP_ERROR,		/* the reply could not be sent, or the service's was too long */
	DROP_KINDS
};

static const struct {
	const char *key, *journal;
} drop_field[DROP_KINDS] = {
	{ "drop_rule", "INETKIT_DROP_RULE" },
	{ "drop_blocklist", "INETKIT_DROP_BLOCKLIST" },
	{ "drop_rate", "INETKIT_DROP_RATE" },
	{ "drop_loop", "INETKIT_DROP_LOOP" },
	{ "drop_truncated", "INETKIT_DROP_TRUNCATED" },
	{ "drop_broadcast", "INETKIT_DROP_BROADCAST" },
	{ "drop_full", "INETKIT_DROP_FULL" },
	{ "drop_error", "INETKIT_DROP_ERROR" },
};

/* Source ports never answered: services that answer any datagram (BSD inetd's check_loop). */
static const unsigned loop_ports[] = { 0, 7, 13, 19, 37 };

struct sock {
	int fd;
	int family;			/* the socket's own: AF_INET6 may carry IPv4 */
	unsigned port;			/* its local port, for the loop guard */
	char name[ADDR_STRMAX + PEER_PORTMAX + 4];	/* "0.0.0.0:8010", for the record */
};

/* What the record says. */
struct stats {
	uint64_t in, out, bytes_in, bytes_out, drops[DROP_KINDS];
	uint64_t sources;
	int capped;			/* more sources than were counted */
};

/* Where a datagram was sent to, from its control messages. */
struct dest {
	int has4, has6;
	struct in_pktinfo p4;		/* ipi_addr: the header's; ipi_spec_dst: the local address */
	struct in6_pktinfo p6;
};

struct udp {
	struct conn *c;
	const struct conn_settings *set;
	struct sock s[SERVE_LISTEN_MAX];
	size_t n;
	struct stats st;
	struct blocklist_held bl;
	int lookups;			/* reverse lookups for the rules */
	int trouble_said;		/* a pattern hit its matching limits: said once */
	int64_t last_ms;		/* the last datagram, CLOCK_MONOTONIC */
};

static volatile sig_atomic_t got_term, got_hup;
static unsigned char in_buf[UDP_MAX], out_buf[UDP_MAX];
static struct addr seen[SEEN_SLOTS];	/* family 0: free */
static uint64_t seen_seed;

static void
on_term(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term = sig;
}

int
udp_is_datagram(int fd)
{
	int v = 0;
	socklen_t len = sizeof v;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_DGRAM)
		return 0;
	len = sizeof v;
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0
	    && (v == AF_INET || v == AF_INET6);
}

int
udp_sockets(const struct service *svc, int fd, int *fds, size_t *n, int *dgram)
{
	size_t i, nd = 0;
	int other = -1;

	*dgram = 0;
	if (*n == 0 && udp_is_datagram(fd))
		fds[(*n)++] = fd;		/* inetd, xinetd: wait = yes */
	for (i = 0; i < *n; i++) {
		if (udp_is_datagram(fds[i]))
			nd++;
		else
			other = fds[i];
	}
	if (nd == 0)
		return EXIT_SERVED;
	if (!svc->datagram) {
		log_msg(LOG_LVL_ERR, "fatal: handed a datagram (UDP) socket, which inetkit-%s does "
		    "not serve: only stream sockets (TCP)", svc->name);
		return EXIT_USAGE;
	}
	if (other >= 0) {
		log_msg(LOG_LVL_ERR, "fatal: datagram and listening sockets together (fd %d is not "
		    "a datagram socket): run one process for each", other);
		return EXIT_USAGE;
	}
	*dgram = 1;
	return EXIT_SERVED;
}

/* "192.0.2.1:7" or "[2001:db8::1]:7", from a struct addr. */
static void
addr_port_str(char *out, size_t len, const struct addr *a, unsigned port)
{
	char s[ADDR_STRMAX];

	addr_format(a, s);
	snprintf(out, len, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", s, port);
}

static unsigned
sockaddr_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
	    : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Each socket's family and port, and the destination of each datagram asked for. */
static int
setup(struct udp *u, const int *fds, size_t n)
{
	struct sockaddr_storage ss;
	struct addr a;
	socklen_t len;
	size_t i;
	int one = 1;

	for (i = 0; i < n; i++) {
		struct sock *s = &u->s[i];

		s->fd = fds[i];
		len = sizeof ss;
		memset(&ss, 0, sizeof ss);
		if (getsockname(s->fd, (struct sockaddr *)&ss, &len) < 0) {
			log_msg(LOG_LVL_ERR, "fatal: datagram socket on fd %d: %s", s->fd,
			    strerror(errno));
			return -1;
		}
		s->family = ss.ss_family;
		s->port = sockaddr_port(&ss);
		if (addr_from_sockaddr(&a, &ss, len) == 0)
			addr_port_str(s->name, sizeof s->name, &a, s->port);
		else
			snprintf(s->name, sizeof s->name, "fd%d", s->fd);
		/* An IPv6 socket may carry IPv4 too: its IPv4 datagrams' own pktinfo, if it can. */
		if (s->family == AF_INET6) {
			if (setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0)
				goto fail;
			(void)setsockopt(s->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
		} else if (setsockopt(s->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) {
			goto fail;
		}
	}
	u->n = n;
	return 0;
fail:
	log_msg(LOG_LVL_ERR, "fatal: datagram socket %s: unable to learn where datagrams are "
	    "sent to: %s", u->s[i].name, strerror(errno));
	return -1;
}

/* A set of the sources seen, for the record: bounded, and a keyed hash aims no probe. */
static void
note_source(struct stats *st, const struct addr *a)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seen_seed;
	size_t i, k, len = addr_len(a);

	h = (h ^ (unsigned)a->family) * 0x100000001b3ULL;
	for (i = 0; i < len; i++)
		h = (h ^ a->bytes[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	for (i = 0; i < SEEN_PROBES; i++) {
		k = (size_t)(h + i) % SEEN_SLOTS;
		if (seen[k].family == a->family && memcmp(seen[k].bytes, a->bytes, len) == 0)
			return;
		if (seen[k].family == 0) {
			if (st->sources == UDP_SOURCES_MAX)
				break;
			seen[k] = *a;
			st->sources++;
			return;
		}
	}
	st->capped = 1;
}

/* Neither the unspecified address, a broadcast, nor multicast. */
static int
unicast(const struct addr *a)
{
	static const uint8_t zero[16];

	if (a->family == AF_INET)
		return memcmp(a->bytes, zero, 4) != 0 && (a->bytes[0] & 0xf0) != 0xe0
		    && !(a->bytes[0] == 255 && a->bytes[1] == 255 && a->bytes[2] == 255
			&& a->bytes[3] == 255);
	return memcmp(a->bytes, zero, 16) != 0 && a->bytes[0] != 0xff;
}

static void
read_dest(struct msghdr *m, struct dest *d)
{
	struct cmsghdr *cm;

	memset(d, 0, sizeof *d);
	for (cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO
		    && cm->cmsg_len >= CMSG_LEN(sizeof d->p4)) {
			memcpy(&d->p4, CMSG_DATA(cm), sizeof d->p4);
			d->has4 = 1;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO
		    && cm->cmsg_len >= CMSG_LEN(sizeof d->p6)) {
			memcpy(&d->p6, CMSG_DATA(cm), sizeof d->p6);
			d->has6 = 1;
		}
	}
}

/*
 * The local address the datagram was sent to, into *la; -1 if the
 * control messages did not say. *bcast: it was sent to a broadcast or
 * multicast address. For IPv4 the kernel then names a local address of
 * its own in ipi_spec_dst, which differs from the header's ipi_addr; but
 * it fills ipi_spec_dst in only for datagrams that arrived once IP_PKTINFO
 * was asked for, so for those queued before (the one that made the
 * activator start us) it is 0, and only the header's address is known: a
 * reply to a directed broadcast among them is then refused by the kernel
 * (not a local address), and counted as an error.
 */
static int
local_addr(const struct sock *s, const struct dest *d, struct addr *la, int *bcast)
{
	struct sockaddr_in6 s6;

	*bcast = 0;
	if (s->family == AF_INET6) {
		if (!d->has6)
			return -1;
		memset(&s6, 0, sizeof s6);
		s6.sin6_family = AF_INET6;
		s6.sin6_addr = d->p6.ipi6_addr;
		(void)addr_from_sockaddr(la, &s6, sizeof s6);	/* unmapped: IPv4 is IPv4 */
	} else {
		if (!d->has4)
			return -1;
		la->family = AF_INET;
		memset(la->bytes, 0, sizeof la->bytes);
		memcpy(la->bytes, &d->p4.ipi_addr, 4);
	}
	if (la->family == AF_INET && d->has4 && d->p4.ipi_spec_dst.s_addr)
		*bcast = d->p4.ipi_addr.s_addr != d->p4.ipi_spec_dst.s_addr;
	*bcast = *bcast || !unicast(la);
	return 0;
}

/*
 * The reply: to the datagram's source, from the address it was sent to.
 * Never waits for room in the socket's buffer: a full one drops it.
 */
static void
reply(struct udp *u, const struct sock *s, const struct sockaddr_storage *src, socklen_t srclen,
    const struct dest *d, size_t len)
{
	union {
		char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { out_buf, len };
	struct msghdr m;
	struct cmsghdr *cm;
	ssize_t r;

	memset(&m, 0, sizeof m);
	memset(&ctl, 0, sizeof ctl);
	m.msg_name = (void *)src;
	m.msg_namelen = srclen;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.b;
	cm = (struct cmsghdr *)ctl.b;
	if (s->family == AF_INET6) {
		struct in6_pktinfo p = { .ipi6_addr = d->p6.ipi6_addr };

		/* A native IPv6 address may be link-local: its interface too. */
		if (!IN6_IS_ADDR_V4MAPPED(&p.ipi6_addr))
			p.ipi6_ifindex = d->p6.ipi6_ifindex;
		m.msg_controllen = CMSG_SPACE(sizeof p);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof p);
		memcpy(CMSG_DATA(cm), &p, sizeof p);
	} else {
		struct in_pktinfo p = { .ipi_spec_dst = d->p4.ipi_spec_dst.s_addr
		    ? d->p4.ipi_spec_dst : d->p4.ipi_addr };

		m.msg_controllen = CMSG_SPACE(sizeof p);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof p);
		memcpy(CMSG_DATA(cm), &p, sizeof p);
	}
	r = sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r == (ssize_t)len) {
		u->st.out++;
		u->st.bytes_out += len;
		return;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
		u->st.drops[DROP_FULL]++;
		log_msg(LOG_LVL_DEBUG, "reply to %s dropped: the socket's buffer is full",
		    peer_str(&u->c->peer));
		return;
	}
	u->st.drops[DROP_ERROR]++;
	log_msg(LOG_LVL_DEBUG, "reply to %s not sent: %s", peer_str(&u->c->peer),
	    r < 0 ? strerror(errno) : "short send");
}

static void
drop(struct udp *u, enum drop why, const char *from, const char *detail)
{
	u->st.drops[why]++;
	log_msg(LOG_LVL_DEBUG, "dropped a datagram from %s: %s", from, detail);
}

/* Step 2: the table of sources; 0 pass, -1 refused. */
static int
limited(struct udp *u, const struct addr *a)
{
	struct srctab_note note;
	enum srctab_verdict v;

	if (!u->c->table)
		return 0;
	v = srctab_admit(u->c->table, a, &u->set->limits, srctab_now(), &note);
	serve_table_note(&note);
	if (v == SRCTAB_PASS)
		return 0;
	if (v == SRCTAB_BUSY) {
		log_msg(LOG_LVL_DEBUG, "table of sources busy: serving %s without its limits",
		    u->c->peer.remote_ip);
		return 0;
	}
	drop(u, DROP_RATE, peer_str(&u->c->peer), srctab_verdict_name(v));
	return -1;
}

/* Step 5: the block list; what its (re)opening found is logged once, not per datagram. */
static int
blocked(struct udp *u, const struct addr *a)
{
	const struct conn_settings *s = u->set;
	struct blocklist_match m;

	if (blocklist_hold(&u->bl, s->block_list, s->block_list_index, s->block_list_on_error,
	    io_now_ms())) {
		conn_log_blocklist(s->block_list, &u->bl.d);
		if (u->bl.d.verdict != BLOCKLIST_PASS)
			log_msg(u->bl.d.refuse ? LOG_LVL_ERR : LOG_LVL_WARNING, "%s: %s every "
			    "datagram's source (--block-list-on-error %s)", u->bl.d.why,
			    u->bl.d.refuse ? "refusing" : "allowing",
			    s->block_list_on_error ? "allow" : "deny");
	}
	if (!blocklist_held_refuses(&u->bl, s->block_list_on_error, a, &m))
		return 0;
	drop(u, DROP_BLOCKLIST, peer_str(&u->c->peer), m.line ? m.text : u->bl.d.why);
	return -1;
}

/* The reverse lookup, and double_reverse_lookups' verdict as conn.c's reverse_stage gives it. */
static int
lookup_refused(struct udp *u, struct conn *c)
{
	int dr = u->set->double_reverse;
	char name[PEER_HOSTMAX];
	int r = peer_lookup_host(&c->peer, dr != DR_NO, name, sizeof name);

	if (dr == DR_NO || dr == DR_DEBUG || (r == 0 && dr != DR_AUTOFAIL))
		return 0;
	drop(u, DROP_RULE, peer_str(&c->peer), r == -1 ? "double-reverse-lookups: no host name"
	    : "double-reverse-lookups: the name does not resolve back");
	return 1;
}

/* One datagram of len bytes in in_buf, from src, through the steps. */
static void
one(struct udp *u, const struct sock *s, const struct sockaddr_storage *src, socklen_t srclen,
    struct msghdr *m, size_t len)
{
	struct conn *c = u->c;
	struct acl_trouble trouble;
	enum acl_verdict v;
	struct addr ra, la;
	struct dest d;
	char rule[ACL_RULEMAX];
	unsigned rport = sockaddr_port(src);
	ssize_t r;
	size_t i;
	int bcast;

	if (addr_from_sockaddr(&ra, src, srclen) < 0) {
		u->st.drops[DROP_ERROR]++;
		return;
	}
	note_source(&u->st, &ra);
	read_dest(m, &d);
	if (local_addr(s, &d, &la, &bcast) < 0 || (m->msg_flags & MSG_CTRUNC)) {
		u->st.drops[DROP_ERROR]++;
		log_msg(LOG_LVL_DEBUG, "a datagram on %s without its destination address", s->name);
		return;
	}
	peer_set(&c->peer, &ra, rport, &la, s->port);
	/* 1 */
	if (m->msg_flags & MSG_TRUNC) {
		drop(u, DROP_TRUNCATED, peer_str(&c->peer), "longer than 65535 bytes");
		return;
	}
	if (bcast || !unicast(&ra)) {
		drop(u, DROP_BROADCAST, peer_str(&c->peer), "a broadcast or multicast address");
		return;
	}
	for (i = 0; i < sizeof loop_ports / sizeof loop_ports[0]; i++)
		if (rport == loop_ports[i])
			break;
	if (i < sizeof loop_ports / sizeof loop_ports[0] || rport == s->port) {
		drop(u, DROP_LOOP, peer_str(&c->peer), "its source port answers datagrams (loop)");
		return;
	}
	/* 2 to 5 */
	if (limited(u, &ra) < 0)
		return;
	if (u->lookups && lookup_refused(u, c))
		return;
	v = acl_check(&u->set->acl, &c->peer, rule, &trouble);
	if (trouble.n && !u->trouble_said) {
		u->trouble_said = 1;
		log_msg(LOG_LVL_WARNING, "%s rule \"%.200s\" could not be matched on the %s of %s (%s): "
		    "said once, for the first datagram it happens to", trouble.kind == ACL_RULE_DENY
		    ? "deny" : "allow", trouble.src, trouble.subject, peer_str(&c->peer), trouble.why);
	}
	if (acl_refused(v)) {
		drop(u, DROP_RULE, peer_str(&c->peer), rule);
		return;
	}
	if (u->set->block_list && blocked(u, &ra) < 0)
		return;
	/* 6: a reply is never larger than its request. */
	r = c->svc->datagram(c, in_buf, len, out_buf, len);
	if (r < 0)
		return;
	if ((size_t)r > len) {
		u->st.drops[DROP_ERROR]++;
		log_msg(LOG_LVL_ERR, "inetkit-%s made a reply of %zd bytes to a datagram of %zu: "
		    "not sent", c->svc->name, r, len);
		return;
	}
	reply(u, s, src, srclen, &d, (size_t)r);
}

/* Up to UDP_BATCH datagrams from s. 0, or -1 if the socket failed. */
static int
take(struct udp *u, const struct sock *s)
{
	union {
		char b[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_storage src;
	struct iovec iov = { in_buf, sizeof in_buf };
	struct msghdr m;
	ssize_t n;
	int k;

	for (k = 0; k < UDP_BATCH; k++) {
		memset(&m, 0, sizeof m);
		memset(&src, 0, sizeof src);
		m.msg_name = &src;
		m.msg_namelen = sizeof src;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = ctl.b;
		m.msg_controllen = sizeof ctl.b;
		/* MSG_TRUNC: the datagram's whole length, so a longer one is known and dropped. */
		n = recvmsg(s->fd, &m, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			/* An ICMP error queued on the socket (IP_RECVERR): taken, and gone. */
			if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
				continue;
			log_msg(LOG_LVL_ERR, "unable to read a datagram on %s: %s", s->name,
			    strerror(errno));
			return -1;
		}
		u->st.in++;
		u->st.bytes_in += (uint64_t)n;
		u->last_ms = io_now_ms();
		one(u, s, &src, m.msg_namelen, &m, (size_t)n < sizeof in_buf ? (size_t)n
		    : sizeof in_buf);
	}
	return 0;
}

/* The process's one record, in the style of a connection's (conn.c's log_record). */
static void
log_record(const struct udp *u, int status, const char *end, int64_t start_ms)
{
	const struct stats *st = &u->st;
	char local[SERVE_LISTEN_MAX * (ADDR_STRMAX + PEER_PORTMAX + 5)], num[4 + DROP_KINDS][24];
	char sources[24], dur[32], sts[8], text[1024];
	struct log_field f[12 + DROP_KINDS];
	size_t i, nf = 0, at;

	for (i = at = 0; i < u->n && at < sizeof local; i++)
		at += (size_t)snprintf(local + at, sizeof local - at, "%s%s", i ? "," : "",
		    u->s[i].name);
	if (!u->n)
		snprintf(local, sizeof local, "-");
	snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)st->in);
	snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)st->out);
	snprintf(num[2], sizeof num[2], "%llu", (unsigned long long)st->bytes_in);
	snprintf(num[3], sizeof num[3], "%llu", (unsigned long long)st->bytes_out);
	snprintf(sources, sizeof sources, "%llu%s", (unsigned long long)st->sources,
	    st->capped ? "+" : "");
	snprintf(dur, sizeof dur, "%.3f", (double)(io_now_ms() - start_ms) / 1000.0);
	snprintf(sts, sizeof sts, "%d", status);
	f[nf++] = (struct log_field){ "INETKIT_VERDICT", "served" };
	f[nf++] = (struct log_field){ "INETKIT_PROTO", "udp" };
	f[nf++] = (struct log_field){ "INETKIT_LOCAL", local };
	f[nf++] = (struct log_field){ "INETKIT_DATAGRAMS_IN", num[0] };
	f[nf++] = (struct log_field){ "INETKIT_DATAGRAMS_OUT", num[1] };
	f[nf++] = (struct log_field){ "INETKIT_BYTES_IN", num[2] };
	f[nf++] = (struct log_field){ "INETKIT_BYTES_OUT", num[3] };
	f[nf++] = (struct log_field){ "INETKIT_SOURCES", sources };
	text[0] = '\0';
	for (i = at = 0; i < DROP_KINDS; i++) {
		snprintf(num[4 + i], sizeof num[4 + i], "%llu", (unsigned long long)st->drops[i]);
		f[nf++] = (struct log_field){ drop_field[i].journal, num[4 + i] };
		at += (size_t)snprintf(text + at, sizeof text - at, " %s=%s", drop_field[i].key,
		    num[4 + i]);
	}
	f[nf++] = (struct log_field){ "INETKIT_DURATION", dur };
	f[nf++] = (struct log_field){ "INETKIT_STATUS", sts };
	f[nf++] = (struct log_field){ "INETKIT_END", end };
	log_fields(status == EXIT_SERVED ? LOG_LVL_INFO : LOG_LVL_ERR, f, nf,
	    "served proto=udp local=%s datagrams_in=%s datagrams_out=%s in=%s out=%s sources=%s%s "
	    "duration=%ss status=%s end=%s", local, num[0], num[1], num[2], num[3], sources, text,
	    dur, sts, end);
}

/* The nearer of the idle and session deadlines, or -1 for none. */
static int64_t
next_deadline(const struct udp *u, int activated, int64_t start_ms, enum io_end *why)
{
	const struct conn_settings *s = u->set;
	int64_t idle = -1, session = -1;

	if (activated && s->idle_timeout)
		idle = u->last_ms + (int64_t)s->idle_timeout * 1000;
	if (s->session_timeout)
		session = start_ms + (int64_t)s->session_timeout * 1000;
	if (session >= 0 && (idle < 0 || session <= idle)) {
		*why = IO_SESSION;
		return session;
	}
	*why = IO_IDLE;
	return idle;
}

int
udp_serve(struct conn *c, const int *fds, size_t n, int activated, udp_reload_fn reload)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP };
	static struct udp u;
	struct pollfd p[SERVE_LISTEN_MAX];
	struct sigaction sa;
	struct timespec ts;
	sigset_t block, orig;
	enum io_end end = IO_TERM, why;
	int64_t start_ms = io_now_ms(), at, now;
	size_t i;
	int status = EXIT_SERVED, r;

	u.c = c;
	u.set = c->set;
	u.last_ms = start_ms;
	if (n == 0 || n > SERVE_LISTEN_MAX || setup(&u, fds, n) < 0)
		return EXIT_TEMP;
	if (getrandom(&seen_seed, sizeof seen_seed, GRND_NONBLOCK) != sizeof seen_seed)
		seen_seed = (uint64_t)start_ms * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	/* A name is of use only to a pattern rule: no lookup for the others. */
	u.lookups = (c->set->reverse_lookups != REV_NO && (c->set->acl.nallow || c->set->acl.ndeny))
	    || c->set->double_reverse != DR_NO;
	if (u.lookups)
		log_msg(LOG_LVL_NOTICE, "--reverse-lookups: a lookup for every datagram that reaches "
		    "the rules; each holds up every other datagram until it ends");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &block, &orig);
	/* A SIGHUP's re-exec comes with them blocked: ppoll lets them in. */
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigdelset(&orig, sigs[i]);
	log_msg(LOG_LVL_INFO, "serving datagrams on %zu socket%s", n, n > 1 ? "s" : "");
	for (i = 0; i < n; i++) {
		p[i].fd = u.s[i].fd;
		p[i].events = POLLIN;
	}
	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			log_record(&u, EXIT_SERVED, "reload", start_ms);
			memset(&u.st, 0, sizeof u.st);
			memset(seen, 0, sizeof seen);
			start_ms = io_now_ms();
			if (reload)
				reload(fds, n, NULL, 0, NULL);
			else
				log_msg(LOG_LVL_WARNING, "SIGHUP: this process cannot reload; restart it");
			continue;
		}
		at = next_deadline(&u, activated, start_ms, &why);
		now = io_now_ms();
		if (at >= 0 && now >= at) {
			end = why;
			break;
		}
		if (at >= 0) {
			ts.tv_sec = (time_t)((at - now) / 1000);
			ts.tv_nsec = (long)((at - now) % 1000) * 1000000;
		}
		r = ppoll(p, n, at >= 0 ? &ts : NULL, &orig);
		if (r < 0 && errno != EINTR) {
			log_msg(LOG_LVL_ERR, "unable to poll: %s", strerror(errno));
			status = EXIT_TEMP;
			end = IO_ERROR;
			break;
		}
		for (i = 0; r > 0 && i < n; i++) {
			if (!p[i].revents)
				continue;
			if (take(&u, &u.s[i]) < 0) {
				status = EXIT_TEMP;
				end = IO_ERROR;
				goto out;
			}
		}
	}
out:
	sigprocmask(SIG_SETMASK, &orig, NULL);
	blocklist_held_close(&u.bl);
	log_record(&u, status, io_end_name(end), start_ms);
	return status;
}

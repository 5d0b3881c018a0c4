/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* pthread_mutex_clocklock */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "srctab.h"

#define MAGIC "INKSRCT1"
#define VERSION 2		/* 2: tat in microseconds */

enum { SLOT_FREE, SLOT_SOURCE, SLOT_NETBLOCK };

/*
 * One remembered key. Times are CLOCK_REALTIME milliseconds, so a table in
 * a file means the same after a restart or a reboot; a time further ahead
 * than any limit allows (a clock set back, a damaged slot) is cut back to
 * that limit when read. A penalty's length is until - raised.
 */
struct slot {
	uint8_t kind, family, prefix, pad;
	uint32_t refusals;		/* counted toward --penalty-after */
	uint8_t addr[16];		/* a netblock's host bits are clear */
	int64_t seen;			/* last use, for choosing a slot to take over */
	int64_t tat;			/* GCRA: the theoretical arrival time, in us */
	int64_t until;			/* penalized until */
	int64_t raised;			/* when the penalty was last raised */
	int64_t refused;		/* the last refusal */
};

struct srctab_map {
	char magic[8];
	uint32_t version, nslots, slot_size, hdr_size;
	uint64_t seed;			/* keys the hash: slots cannot be aimed at */
	uint64_t forgotten;		/* slots in use taken over, ever */
	pthread_mutex_t lock;		/* process-shared and robust */
	struct slot slot[SRCTAB_SLOTS];
};

int64_t
srctab_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int
valid(const struct srctab_map *m)
{
	return memcmp(m->magic, MAGIC, 8) == 0 && m->version == VERSION
	    && m->nslots == SRCTAB_SLOTS && m->slot_size == sizeof(struct slot)
	    && m->hdr_size == offsetof(struct srctab_map, slot);
}

static int
init(struct srctab_map *m)
{
	pthread_mutexattr_t at;
	int r;

	memset(m, 0, sizeof *m);
	if (getrandom(&m->seed, sizeof m->seed, 0) != (ssize_t)sizeof m->seed)
		m->seed = (uint64_t)srctab_now() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	if ((r = pthread_mutexattr_init(&at)) != 0
	    || (r = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED)) != 0
	    || (r = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST)) != 0
	    || (r = pthread_mutex_init(&m->lock, &at)) != 0) {
		errno = r;
		return -1;
	}
	pthread_mutexattr_destroy(&at);
	m->version = VERSION;
	m->nslots = SRCTAB_SLOTS;
	m->slot_size = sizeof(struct slot);
	m->hdr_size = offsetof(struct srctab_map, slot);
	memcpy(m->magic, MAGIC, 8);	/* last: a reader sees a whole header or none */
	return 0;
}

/* The file lock guards only creating and mending the table; bounded like every wait. */
static int
lock_file(int fd)
{
	struct timespec pause = { 0, 2 * 1000 * 1000 };
	int i;

	for (i = 0; i < SRCTAB_LOCK_MS / 2; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		nanosleep(&pause, NULL);
	}
	errno = EWOULDBLOCK;
	return -1;
}

/*
 * Opens (creating it if need be) the table name in dir. The directory must
 * be this user's or root's and writable by no one else; the file a regular
 * file of this user's, writable by nobody else, reached without a
 * symbolic link: a table another user can write could lift a penalty. One
 * too short is grown, never shrunk (a process mapping it would get SIGBUS);
 * one whose header is not ours is made anew in place.
 */
int
srctab_open(struct srctab *t, const char *dir, const char *name, char *err, size_t len)
{
	struct stat st;
	void *m = MAP_FAILED;
	int locked = 0, e, dfd;

	t->map = NULL;
	/*
	 * The directory first: one another user may write could hold anything
	 * under the table's name by the time it is opened.
	 */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		snprintf(err, len, "unable to open %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022)) {
		snprintf(err, len, "%s is owned by uid %u with mode %04o: it must be this user's "
		    "(uid %u) or root's and writable by no one else", dir, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
		close(dfd);
		errno = EPERM;
		return -1;
	}
	t->fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
	    0600);
	e = errno;
	close(dfd);
	if (t->fd < 0) {
		snprintf(err, len, "unable to open %s/%s: %s", dir, name, strerror(e));
		errno = e;
		return -1;
	}

	if (fstat(t->fd, &st) < 0) {
		snprintf(err, len, "unable to stat %s/%s: %s", dir, name, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, len, "%s/%s is not a regular file", dir, name);
		goto fail;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, len, "%s/%s is owned by uid %u with mode %04o: it must be this user's "
		    "(uid %u) and writable by no one else", dir, name, (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
		goto fail;
	}
	/*
	 * Space is allocated, not just sized: a sparse file on a full disk
	 * would be a SIGBUS at the first write through the mapping. Done at
	 * every open (a no-op once allocated), and never shrinking the file.
	 */
	if ((size_t)st.st_size < sizeof *t->map) {
		if (lock_file(t->fd) < 0)
			goto busy;
		locked = 1;
	}
	if ((e = posix_fallocate(t->fd, 0, (off_t)sizeof *t->map)) != 0) {
		snprintf(err, len, "unable to allocate %s/%s: %s", dir, name, strerror(e));
		errno = e;
		goto fail;
	}
	m = mmap(NULL, sizeof *t->map, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (m == MAP_FAILED) {
		snprintf(err, len, "unable to map %s/%s: %s", dir, name, strerror(errno));
		goto fail;
	}
	t->map = m;
	if (!valid(t->map)) {
		if (!locked && lock_file(t->fd) < 0)
			goto busy;
		locked = 1;
		if (!valid(t->map) && init(t->map) < 0) {
			snprintf(err, len, "unable to set up %s/%s: %s", dir, name, strerror(errno));
			goto fail;
		}
	}
	if (locked)
		flock(t->fd, LOCK_UN);
	return 0;
busy:
	snprintf(err, len, "%s/%s is locked by another process", dir, name);
fail:
	e = errno;
	if (t->map)
		munmap(t->map, sizeof *t->map);
	close(t->fd);
	t->map = NULL;
	t->fd = -1;
	errno = e;
	return -1;
}

/* A table in shared memory, for the children of the accept loop: map it before forking. */
int
srctab_anon(struct srctab *t, char *err, size_t len)
{
	void *m = mmap(NULL, sizeof *t->map, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);

	t->fd = -1;
	t->map = NULL;
	if (m == MAP_FAILED || init(m) < 0) {
		snprintf(err, len, "unable to set up the table of sources: %s", strerror(errno));
		if (m != MAP_FAILED)
			munmap(m, sizeof *t->map);
		return -1;
	}
	t->map = m;
	return 0;
}

void
srctab_close(struct srctab *t)
{
	if (t->map)
		munmap(t->map, sizeof *t->map);
	if (t->fd >= 0)
		close(t->fd);
	t->map = NULL;
	t->fd = -1;
}

/* A process that died holding the lock left the slots as they were: use them. */
static int
lock(struct srctab_map *m)
{
	struct timespec ts;
	int r;

	/* A monotonic bound: a clock set back must not stretch the wait. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)SRCTAB_LOCK_MS * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	r = pthread_mutex_clocklock(&m->lock, CLOCK_MONOTONIC, &ts);
	if (r == EOWNERDEAD)
		r = pthread_mutex_consistent(&m->lock);
	return r == 0 ? 0 : -1;
}

void
srctab_netblock(struct addr *net, const struct addr *a, unsigned prefix)
{
	*net = *a;
	addr_mask(net, prefix);
}

static void
make_key(struct slot *k, int kind, const struct addr *a, const struct srctab_limits *l)
{
	unsigned full = a->family == AF_INET ? 32 : 128;
	unsigned prefix = kind == SLOT_SOURCE ? full
	    : (unsigned)(a->family == AF_INET ? l->prefix4 : l->prefix6);
	struct addr net;

	memset(k, 0, sizeof *k);
	srctab_netblock(&net, a, prefix);
	k->kind = (uint8_t)kind;
	k->family = (uint8_t)a->family;
	k->prefix = (uint8_t)prefix;
	memcpy(k->addr, net.bytes, addr_len(a));
}

static uint64_t
hash(const struct srctab_map *m, const struct slot *k)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ m->seed;
	size_t i;

	h = (h ^ k->kind) * 0x100000001b3ULL;
	h = (h ^ k->family) * 0x100000001b3ULL;
	h = (h ^ k->prefix) * 0x100000001b3ULL;
	for (i = 0; i < sizeof k->addr; i++)
		h = (h ^ k->addr[i]) * 0x100000001b3ULL;
	return h ^ h >> 29;
}

static int
same_key(const struct slot *a, const struct slot *b)
{
	return a->kind == b->kind && a->family == b->family && a->prefix == b->prefix
	    && memcmp(a->addr, b->addr, sizeof a->addr) == 0;
}

/* How long a slot's state can still matter: a penalty, a rate, a refusal count. */
static int64_t
window_ms(const struct srctab_limits *l)
{
	int64_t w = 2 * (int64_t)l->penalty_max * 1000;

	if ((int64_t)l->source.secs * 1000 > w)
		w = (int64_t)l->source.secs * 1000;
	if ((int64_t)l->netblock.secs * 1000 > w)
		w = (int64_t)l->netblock.secs * 1000;
	return w;
}

/* t within [lo, hi]; a time before lo means "long ago" (0). */
static int64_t
clamp(int64_t t, int64_t lo, int64_t hi)
{
	return t < lo ? 0 : t > hi ? hi : t;
}

/*
 * Cuts back what no limit allows: a clock set back, or a slot damaged by a
 * crash. Every time is then within a window of now, so no arithmetic on
 * it can overflow. The rate's tat is in microseconds.
 */
static void
sanitize(struct slot *s, const struct srctab_limits *l, int64_t now)
{
	int64_t w = window_ms(l), old = now - 2 * w - 1000;

	s->until = clamp(s->until, old, now + (int64_t)l->penalty_max * 1000);
	s->raised = clamp(s->raised, old, now);
	s->refused = clamp(s->refused, old, now);
	s->seen = clamp(s->seen, old, now);
	s->tat = clamp(s->tat, old * 1000, (now + w) * 1000);
	if (s->raised > s->until)
		s->raised = s->until;
}

/*
 * Which slot to take over: a free one, else one serving no penalty, else
 * the one seen longest ago; so a flood of new sources cannot wash a
 * running penalty out of the table while other candidates remain.
 */
static int
better_victim(const struct slot *s, const struct slot *v, int64_t now)
{
	int sp = s->until > now, vp = v->until > now;

	if (v->kind == SLOT_FREE)
		return 0;
	if (s->kind == SLOT_FREE)
		return 1;
	if (sp != vp)
		return vp;
	return s->seen < v->seen;
}

/*
 * The slot of key k, or with create the one it takes over: a free one, or
 * the one seen longest ago among its candidates (noted if still in use).
 */
static struct slot *
find(struct srctab_map *m, const struct slot *k, int create, const struct srctab_limits *l,
    int64_t now, struct srctab_note *note)
{
	uint64_t h = hash(m, k);
	struct slot *s, *victim = NULL;
	size_t i;

	for (i = 0; i < SRCTAB_PROBES; i++) {
		s = &m->slot[(h + i) % SRCTAB_SLOTS];
		if (s->kind != SLOT_FREE && same_key(s, k)) {
			sanitize(s, l, now);
			return s;
		}
		if (s->kind != SLOT_FREE)
			sanitize(s, l, now);
		if (!victim || better_victim(s, victim, now))
			victim = s;
	}
	if (!create)
		return NULL;
	if (victim->kind != SLOT_FREE && victim->seen + window_ms(l) > now) {
		note->forgot = 1;
		note->forgot_addr.family = victim->family;
		memcpy(note->forgot_addr.bytes, victim->addr, sizeof victim->addr);
		note->forgot_prefix = victim->prefix;
		note->forgotten = ++m->forgotten;
	}
	*victim = *k;
	victim->seen = now;
	return victim;
}

/*
 * GCRA: n connections per secs, in a burst or spread out, in microseconds
 * (n is at most 1000000 a second: the interval is at least 1 us).
 */
static int64_t
interval(const struct srctab_rate *r)
{
	int64_t t = (int64_t)r->secs * 1000000 / (int64_t)r->n;

	return t > 0 ? t : 1;
}

static int
rate_ok(const struct slot *s, const struct srctab_rate *r, int64_t now)
{
	return s->tat - now * 1000 <= (int64_t)r->secs * 1000000 - interval(r);
}

static void
rate_take(struct slot *s, const struct srctab_rate *r, int64_t now)
{
	s->tat = (s->tat > now * 1000 ? s->tat : now * 1000) + interval(r);
}

/*
 * May a connection from a be served now? A penalized source is refused
 * until its penalty ends; then the source's and its netblock's rates. A
 * refused connection uses up no rate.
 */
enum srctab_verdict
srctab_admit(struct srctab *t, const struct addr *a, const struct srctab_limits *l,
    int64_t now, struct srctab_note *note)
{
	struct srctab_map *m = t->map;
	struct slot ks, kn, *s, *nb = NULL;
	enum srctab_verdict v = SRCTAB_PASS;

	memset(note, 0, sizeof *note);
	if (lock(m) < 0)
		return SRCTAB_BUSY;
	make_key(&ks, SLOT_SOURCE, a, l);
	s = find(m, &ks, l->source.n > 0, l, now, note);
	if (s && s->until > now) {
		note->secs = (unsigned long)((s->until - now + 999) / 1000);
		s->seen = now;
		v = SRCTAB_PENALIZED;
		goto out;
	}
	if (s && l->source.n && !rate_ok(s, &l->source, now)) {
		v = SRCTAB_RATE_SOURCE;
		goto out;
	}
	if (l->netblock.n) {
		make_key(&kn, SLOT_NETBLOCK, a, l);
		nb = find(m, &kn, 1, l, now, note);
		if (nb && !rate_ok(nb, &l->netblock, now)) {
			v = SRCTAB_RATE_NETBLOCK;
			goto out;
		}
		if (nb) {
			rate_take(nb, &l->netblock, now);
			nb->seen = now;
		}
	}
	if (s && l->source.n) {
		rate_take(s, &l->source, now);
		s->seen = now;
	}
out:
	pthread_mutex_unlock(&m->lock);
	return v;
}

/* Whether a is serving a penalty now: for a login already under way when it was given. */
int
srctab_penalized(struct srctab *t, const struct addr *a, const struct srctab_limits *l,
    int64_t now)
{
	struct srctab_map *m = t->map;
	struct srctab_note note;
	struct slot k, *s;
	int r;

	if (lock(m) < 0)
		return 0;
	make_key(&k, SLOT_SOURCE, a, l);
	s = find(m, &k, 0, l, now, &note);
	r = s && s->until > now;
	pthread_mutex_unlock(&m->lock);
	return r;
}

/*
 * A connection from a that began at started ended refused (a rule, the
 * block list, a failed login): after --penalty-after such refusals, a
 * penalty of --penalty seconds, doubled at every further one up to
 * --penalty-max, and forgotten after a quiet spell of twice that. A
 * connection that began before the last penalty was raised was already
 * under way when it was given: a burst that ends together raises it once.
 * Returns SRCTAB_PENALIZED with note->secs if a penalty was given.
 */
enum srctab_verdict
srctab_refused(struct srctab *t, const struct addr *a, const struct srctab_limits *l,
    int64_t started, int64_t now, struct srctab_note *note)
{
	struct srctab_map *m = t->map;
	struct slot k, *s;
	int64_t prev;
	enum srctab_verdict v = SRCTAB_PASS;
	unsigned long secs;

	memset(note, 0, sizeof *note);
	if (lock(m) < 0)
		return SRCTAB_BUSY;
	make_key(&k, SLOT_SOURCE, a, l);
	if (!(s = find(m, &k, 1, l, now, note)))
		goto out;
	s->seen = now;
	if (s->refused && now - s->refused > 2 * (int64_t)l->penalty_max * 1000) {
		s->refusals = 0;
		s->raised = s->until = 0;
	}
	if (s->raised && started < s->raised) {
		note->in_flight = 1;
		goto out;
	}
	if (s->refusals < UINT32_MAX)
		s->refusals++;
	s->refused = now;
	note->refusals = s->refusals;
	if (!l->penalty || s->refusals < l->penalty_after)
		goto out;
	prev = s->raised && s->until > s->raised ? (s->until - s->raised) / 1000 : 0;
	secs = prev ? (unsigned long)prev * 2 : l->penalty;
	if (secs > l->penalty_max)
		secs = l->penalty_max;
	s->raised = now;
	s->until = now + (int64_t)secs * 1000;
	note->secs = secs;
	v = SRCTAB_PENALIZED;
out:
	pthread_mutex_unlock(&m->lock);
	return v;
}

const char *
srctab_verdict_name(enum srctab_verdict v)
{
	static const char *const names[] = { "pass", "penalized", "max-rate", "max-netblock-rate",
	    "table of sources busy" };

	return names[v];
}

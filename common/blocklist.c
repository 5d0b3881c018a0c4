/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE		/* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "io.h"

#define MAGIC "INKBLIX1"
#define ENDIAN_MARK 0x01020304u
#define TOKEN_MAX (ADDR_STRMAX + 4)	/* "v6/128" */
/*
 * How long a connection waits for another process's compile (its lock on
 * the list) before compiling the list itself: longer than a million-entry
 * list takes (0.3 s), so a burst after a change compiles it once, and short,
 * because anyone who can read the list can take that lock and keep it.
 */
#define LOCK_WAIT_MS 500
#define LOCK_NAP_MS 32			/* the longest pause between two looks */
#define REFUSED_MAX 96			/* why an index was not trusted */

__extension__ typedef unsigned __int128 u128;

/*
 * The index file: this header, then the IPv4 range starts (uint32), their
 * labels (line, prefix as two uint32), the IPv6 range starts (two uint64,
 * high word first) and their labels. Range i runs from start[i] up to
 * start[i + 1] - 1; start[0] is 0; line 0 labels a range no entry covers.
 * Numbers are in host order: an index is a cache for this machine only.
 */
struct blocklist_hdr {
	char magic[8];
	uint32_t endian, hdr_len;
	uint64_t dev, ino, size;		/* the text it was made from */
	int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
	uint64_t entries, nbad, n4, n6, file_len;
	uint64_t off4s, off4i, off6s, off6i;
	struct blocklist_bad bad[BLOCKLIST_BADMAX];
};

struct entry {
	u128 lo;
	uint32_t line;
	uint32_t prefix;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

struct segs {
	int v6;
	uint64_t n;
	uint32_t *s4;
	uint64_t *s6;
	uint32_t *info;
};

/* What blocklist_open builds when it compiles the text itself. */
struct built {
	struct blocklist_hdr hdr;
	struct segs s4, s6;
};

static u128
host_mask(unsigned bits, unsigned prefix)
{
	unsigned h = bits - prefix;

	return h >= 128 ? ~(u128)0 : ((u128)1 << h) - 1;
}

static u128
addr_value(const struct addr *a)
{
	size_t i, n = addr_len(a);
	u128 v = 0;

	for (i = 0; i < n; i++)
		v = v << 8 | a->bytes[i];
	return v;
}

static void
layout(struct blocklist_hdr *h)
{
	h->hdr_len = sizeof *h;
	h->off4s = sizeof *h;
	h->off4i = (h->off4s + h->n4 * 4 + 7) & ~(uint64_t)7;
	h->off6s = h->off4i + h->n4 * 8;
	h->off6i = h->off6s + h->n6 * 16;
	h->file_len = h->off6i + h->n6 * 8;
}

static void
stamp(struct blocklist_hdr *h, const struct stat *st)
{
	h->dev = (uint64_t)st->st_dev;
	h->ino = (uint64_t)st->st_ino;
	h->size = (uint64_t)st->st_size;
	h->mtime_s = (int64_t)st->st_mtim.tv_sec;
	h->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
	h->ctime_s = (int64_t)st->st_ctim.tv_sec;
	h->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

static int
push(struct entries *es, const struct cidr *c, uint64_t line)
{
	if (es->n == es->cap) {
		size_t cap = es->cap ? es->cap * 2 : 1024;
		struct entry *v = realloc(es->v, cap * sizeof *v);

		if (!v)
			return -1;
		es->v = v;
		es->cap = cap;
	}
	es->v[es->n].lo = addr_value(&c->net);
	es->v[es->n].line = (uint32_t)line;
	es->v[es->n].prefix = c->prefix;
	es->n++;
	return 0;
}

static void
note_bad(struct blocklist_hdr *h, uint64_t line, const char *s, size_t len)
{
	if (h->nbad < BLOCKLIST_BADMAX) {
		struct blocklist_bad *b = &h->bad[h->nbad];

		b->line = line;
		b->full = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
		if (len >= sizeof b->text)
			len = sizeof b->text - 1;
		memcpy(b->text, s, len);
		b->text[len] = '\0';
		b->len = (uint32_t)len;
	}
	h->nbad++;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line: an address or CIDR, optionally followed by a # comment. */
static int
parse_line(struct blocklist_hdr *h, struct entries *e4, struct entries *e6, uint64_t line,
    const char *s, const char *e)
{
	const char *hash = memchr(s, '#', (size_t)(e - s));
	char tok[TOKEN_MAX + 1];
	struct cidr c;
	size_t i, n;

	if (hash)
		e = hash;
	while (s < e && is_space(*s))
		s++;
	while (e > s && is_space(e[-1]))
		e--;
	if (s == e)
		return 0;
	n = (size_t)(e - s);
	for (i = 0; i < n && n <= TOKEN_MAX; i++)
		if (is_space(s[i]) || s[i] == '\0')
			break;
	if (n > TOKEN_MAX || i < n) {
		note_bad(h, line, s, n);
		return 0;
	}
	memcpy(tok, s, n);
	tok[n] = '\0';
	if (cidr_parse(&c, tok) < 0) {
		note_bad(h, line, s, n);
		return 0;
	}
	h->entries++;
	return push(c.net.family == AF_INET ? e4 : e6, &c, line);
}

static int
parse_text(struct blocklist_hdr *h, struct entries *e4, struct entries *e6, const char *p,
    size_t len)
{
	const char *end = p + len, *nl;
	uint64_t line = 0;

	for (; p < end; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (++line > UINT32_MAX) {
			errno = EFBIG;
			return -1;
		}
		if (parse_line(h, e4, e6, line, p, nl ? nl : end) < 0)
			return -1;
	}
	return 0;
}

static unsigned
digit(const struct entry *e, unsigned pass)
{
	return pass == 0 ? e->prefix : (unsigned)(e->lo >> (8 * (pass - 1))) & 0xff;
}

/*
 * Orders by start, then prefix (wider first); a least-significant-digit
 * radix sort is stable, so equal blocks keep their line order. A pass whose
 * digit is the same for every entry is skipped (most IPv6 bytes in practice).
 */
static int
sort_entries(struct entries *es, unsigned bits)
{
	struct entry *tmp, *from = es->v, *to;
	size_t count[256], i, n = es->n;
	unsigned pass, d;

	if (n < 2)
		return 0;
	tmp = malloc(n * sizeof *tmp);
	if (!tmp)
		return -1;
	to = tmp;
	for (pass = 0; pass <= bits / 8; pass++) {
		memset(count, 0, sizeof count);
		for (i = 0; i < n; i++)
			count[digit(&from[i], pass)]++;
		if (count[digit(&from[0], pass)] == n)
			continue;
		for (d = 0, i = 0; d < 256; d++) {
			size_t c = count[d];

			count[d] = i;
			i += c;
		}
		for (i = 0; i < n; i++)
			to[count[digit(&from[i], pass)]++] = from[i];
		to = from;
		from = from == es->v ? tmp : es->v;
	}
	if (from != es->v)
		memcpy(es->v, from, n * sizeof *from);
	free(tmp);
	return 0;
}

static void
emit(struct segs *o, u128 start, uint32_t line, uint32_t prefix)
{
	if (o->n && o->info[2 * (o->n - 1)] == line)
		return;
	if (o->v6) {
		o->s6[2 * o->n] = (uint64_t)(start >> 64);
		o->s6[2 * o->n + 1] = (uint64_t)start;
	} else {
		o->s4[o->n] = (uint32_t)start;
	}
	o->info[2 * o->n] = line;
	o->info[2 * o->n + 1] = prefix;
	o->n++;
}

/*
 * Turns sorted CIDR blocks into disjoint ranges labelled with the most
 * specific block covering them. CIDR blocks never overlap partly: two are
 * disjoint or one holds the other. So, sorted by start and then by
 * widening prefix, the blocks still open form a chain of nested blocks (a
 * stack at most bits + 1 deep). Of identical blocks the first line wins.
 */
static void
sweep(const struct entry *e, size_t n, unsigned bits, struct segs *o)
{
	struct { u128 lo, hi; uint32_t line, prefix; } st[130];
	size_t sp = 0, i;
	u128 cur = 0, maxv = host_mask(bits, 0);
	int done = 0;

	for (i = 0; i < n; i++) {
		u128 lo = e[i].lo, hi = lo | host_mask(bits, e[i].prefix);

		while (sp && st[sp - 1].hi < lo) {
			sp--;
			if (cur <= st[sp].hi) {
				emit(o, cur, st[sp].line, st[sp].prefix);
				cur = st[sp].hi + 1;	/* hi < lo <= maxv: no overflow */
			}
		}
		if (sp && st[sp - 1].lo == lo && st[sp - 1].prefix == e[i].prefix)
			continue;
		if (cur < lo) {
			emit(o, cur, sp ? st[sp - 1].line : 0, sp ? st[sp - 1].prefix : 0);
			cur = lo;
		}
		st[sp].lo = lo;
		st[sp].hi = hi;
		st[sp].line = e[i].line;
		st[sp].prefix = e[i].prefix;
		sp++;
	}
	while (sp) {
		sp--;
		if (!done && cur <= st[sp].hi) {
			emit(o, cur, st[sp].line, st[sp].prefix);
			if (st[sp].hi == maxv)
				done = 1;
			else
				cur = st[sp].hi + 1;
		}
	}
	if (!done)
		emit(o, cur, 0, 0);
}

static int
compile(struct segs *o, struct entries *es, unsigned bits)
{
	size_t cap = 2 * es->n + 1;

	o->v6 = bits == 128;
	o->n = 0;
	o->info = malloc(cap * 2 * sizeof *o->info);
	if (o->v6)
		o->s6 = malloc(cap * 2 * sizeof *o->s6);
	else
		o->s4 = malloc(cap * sizeof *o->s4);
	if (!o->info || (o->v6 ? !o->s6 : !o->s4))
		return -1;
	if (sort_entries(es, bits) < 0)
		return -1;
	sweep(es->v, es->n, bits, o);
	return 0;
}

static void
built_free(struct built *b)
{
	if (!b)
		return;
	free(b->s4.s4);
	free(b->s4.info);
	free(b->s6.s6);
	free(b->s6.info);
	free(b);
}

/* Compiles text into tables in memory; st (or NULL) stamps the version. */
static struct built *
build_text(const char *text, size_t len, const struct stat *st)
{
	struct entries e4 = { 0 }, e6 = { 0 };
	struct built *b = calloc(1, sizeof *b);
	int ok = 0, e;

	if (!b)
		return NULL;
	memcpy(b->hdr.magic, MAGIC, 8);
	b->hdr.endian = ENDIAN_MARK;
	if (st)
		stamp(&b->hdr, st);
	if (parse_text(&b->hdr, &e4, &e6, text, len) < 0
	    || compile(&b->s4, &e4, 32) < 0 || compile(&b->s6, &e6, 128) < 0)
		goto out;
	b->hdr.n4 = b->s4.n;
	b->hdr.n6 = b->s6.n;
	layout(&b->hdr);
	ok = 1;
out:
	e = errno;
	free(e4.v);
	free(e6.v);
	if (!ok) {
		built_free(b);
		errno = e ? e : ENOMEM;
		return NULL;
	}
	return b;
}

static int
same_text(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec
	    && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * The text on fd, as st describes it, read into memory. Not mapped: a
 * list truncated in place would then kill us with SIGBUS at the first page
 * past its new end. Read, a change is a short read, or a size or mtime
 * that differs from st after the read; then *changed is set (errno
 * EAGAIN). Not ctime: the rename that replaces a list the right way
 * changes the ctime of the old one, which is still the one we read.
 */
static char *
read_text(int fd, const struct stat *st, int *changed)
{
	size_t len = (size_t)st->st_size, got = 0;
	struct stat now;
	ssize_t n = 0;
	char *p;

	if ((off_t)len != st->st_size) {
		errno = EFBIG;
		return NULL;
	}
	if (!(p = malloc(len ? len : 1)))
		return NULL;
	while (got < len) {
		n = pread(fd, p + got, len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n < 0 || fstat(fd, &now) < 0) {
		free(p);
		return NULL;
	}
	if (got < len || !same_text(st, &now)) {
		free(p);
		*changed = 1;
		errno = EAGAIN;
		return NULL;
	}
	return p;
}

/* Compiles the text on fd (a regular file); *changed as for read_text. */
static struct built *
build(int fd, const struct stat *st, int *changed)
{
	struct built *b;
	char *text;
	int e;

	if (!(text = read_text(fd, st, changed)))
		return NULL;
	b = build_text(text, (size_t)st->st_size, st);
	e = errno;
	free(text);
	errno = e;
	return b;
}

/* Points bl's lookups at the tables of b, which bl then owns. */
static void
use_built(struct blocklist *bl, struct built *b)
{
	bl->built = 1;
	bl->mem = b;
	bl->hdr = &b->hdr;
	bl->n4 = b->s4.n;
	bl->n6 = b->s6.n;
	bl->start4 = b->s4.s4;
	bl->info4 = b->s4.info;
	bl->start6 = b->s6.s6;
	bl->info6 = b->s6.info;
}

/*
 * The index is written to a temporary file beside it and renamed over it,
 * so a reader sees either the old index or the new one, never a
 * half-written one. No fsync: the index is a cache, checked on every open
 * and rebuilt if bad. The file is made before the list is compiled: that
 * is how a process learns that it can write the index at all, before it
 * takes the lock that only the index's writers need.
 */
struct tmpindex {
	int fd;
	char path[BLOCKLIST_PATHMAX + 8];
};

static int
tmp_open(struct tmpindex *t, const char *index, mode_t mode)
{
	int e;

	t->fd = -1;
	if ((size_t)snprintf(t->path, sizeof t->path, "%s.XXXXXX", index) >= sizeof t->path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((t->fd = mkostemp(t->path, O_CLOEXEC)) < 0)
		return -1;
	/* Never writable by group or others, whatever the list: open_index refuses that. */
	if (fchmod(t->fd, (mode & 0644) | 0600) < 0) {
		e = errno;
		close(t->fd);
		unlink(t->path);
		t->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

static void
tmp_discard(struct tmpindex *t)
{
	if (t->fd < 0)
		return;
	close(t->fd);
	unlink(t->path);
	t->fd = -1;
}

static int
tmp_commit(struct tmpindex *t, const char *index, const struct built *b)
{
	static const char zero[8];
	const struct blocklist_hdr *h = &b->hdr;
	int fd = t->fd, e;

	t->fd = -1;
	if (io_write_all(fd, h, sizeof *h, NULL) < 0
	    || io_write_all(fd, b->s4.s4, h->n4 * 4, NULL) < 0
	    || io_write_all(fd, zero, h->off4i - (h->off4s + h->n4 * 4), NULL) < 0
	    || io_write_all(fd, b->s4.info, h->n4 * 8, NULL) < 0
	    || io_write_all(fd, b->s6.s6, h->n6 * 16, NULL) < 0
	    || io_write_all(fd, b->s6.info, h->n6 * 8, NULL) < 0
	    || close(fd) < 0 || (fd = -1, rename(t->path, index) < 0)) {
		e = errno;
		if (fd >= 0)
			close(fd);
		unlink(t->path);
		errno = e;
		return -1;
	}
	return 0;
}

static int
fresh(const struct blocklist_hdr *h, const struct stat *st)
{
	struct blocklist_hdr now;

	stamp(&now, st);
	return h->dev == now.dev && h->ino == now.ino && h->size == now.size
	    && h->mtime_s == now.mtime_s && h->mtime_ns == now.mtime_ns
	    && h->ctime_s == now.ctime_s && h->ctime_ns == now.ctime_ns;
}

/*
 * Whether an index that passes every other check may be believed: its
 * structure and stamp can be forged by anyone who may put a file there,
 * since the list's stat is public. So it must be a regular file of this
 * user or root, writable by no one else. The symbolic link is refused by
 * O_NOFOLLOW at the open.
 */
static int
trusted(const struct stat *st, char *why, size_t len)
{
	if (!S_ISREG(st->st_mode))
		snprintf(why, len, "not a regular file");
	else if (st->st_uid != geteuid() && st->st_uid != 0)
		snprintf(why, len, "owned by uid %lu, neither this user nor root",
		    (unsigned long)st->st_uid);
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, len, "writable by group or others (mode %03o)",
		    (unsigned)(st->st_mode & 07777));
	else
		return 1;
	return 0;
}

/*
 * Opens the index if it is trusted, whole and made from this very text; -1
 * otherwise, and why gets the reason if it was not trusted. Only the
 * header is read now: lookups read what they probe. O_NONBLOCK: a FIFO put
 * in its place would block the open; it is then refused as no regular file.
 */
static int
open_index(struct blocklist *bl, const struct stat *list, char *why, size_t len)
{
	struct blocklist_hdr want, *h = NULL;
	struct stat st;
	uint32_t s4;
	uint64_t s6[2];
	size_t i;
	int fd = open(bl->index, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0) {
		if (errno == ELOOP)
			snprintf(why, len, "a symbolic link");
		goto bad;
	}
	if (fstat(fd, &st) < 0 || !trusted(&st, why, len) || !(h = malloc(sizeof *h))
	    || (uint64_t)st.st_size < sizeof *h || pread(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h)
		goto bad;
	want = *h;
	layout(&want);
	if (memcmp(h->magic, MAGIC, 8) != 0 || h->endian != ENDIAN_MARK
	    || h->hdr_len != sizeof *h || h->n4 == 0 || h->n6 == 0
	    || h->n4 > (uint64_t)st.st_size || h->n6 > (uint64_t)st.st_size
	    || h->file_len != (uint64_t)st.st_size || want.file_len != h->file_len
	    || want.off4i != h->off4i || want.off6s != h->off6s || want.off6i != h->off6i
	    || !fresh(h, list))
		goto bad;
	for (i = 0; i < BLOCKLIST_BADMAX; i++)
		if (h->bad[i].len >= sizeof h->bad[i].text || h->bad[i].text[h->bad[i].len]
		    || h->bad[i].full < h->bad[i].len)
			goto bad;
	if (pread(fd, &s4, sizeof s4, (off_t)h->off4s) != (ssize_t)sizeof s4 || s4 != 0
	    || pread(fd, s6, sizeof s6, (off_t)h->off6s) != (ssize_t)sizeof s6 || s6[0] || s6[1])
		goto bad;
	bl->fd = fd;
	bl->hbuf = h;
	bl->hdr = h;
	bl->n4 = h->n4;
	bl->n6 = h->n6;
	return 0;
bad:
	free(h);
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Someone else may be compiling this very text: waits, at most
 * LOCK_WAIT_MS, for its index or for its lock on the list (then looks
 * again). Polled, not a blocking flock: a lock held by anyone who can read
 * the list must delay a connection, not hang it. 1: the index is open.
 */
static int
await_index(struct blocklist *bl, int fd, const struct stat *st, char *why, size_t len)
{
	struct timespec t0, nap = { 0, 0 };
	long nap_ms = 1, left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* Had, or flock unusable here (ENOLCK...): one look, then compile. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
			return open_index(bl, st, why, len) == 0;
		if (open_index(bl, st, why, len) == 0)
			return 1;
		if ((left = LOCK_WAIT_MS - io_ms_since(&t0)) <= 0)
			return 0;
		nap.tv_nsec = (nap_ms < left ? nap_ms : left) * 1000000;
		nanosleep(&nap, NULL);	/* EINTR: the deadline still holds */
		if (nap_ms < LOCK_NAP_MS)
			nap_ms *= 2;
	}
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/*
 * Where the index of list lives: --index, else systemd's CacheDirectory
 * ($CACHE_DIRECTORY, first entry) under a name made from the list's path,
 * else LIST.idx beside the list.
 */
static int
blocklist_index_path(char *out, size_t len, const char *list, const char *index)
{
	const char *cd = getenv("CACHE_DIRECTORY"), *base = strrchr(list, '/');
	int n;

	if (index)
		n = snprintf(out, len, "%s", index);
	else if (cd && *cd && *cd != ':')
		n = snprintf(out, len, "%.*s/%s.%016llx.idx", (int)strcspn(cd, ":"), cd,
		    base ? base + 1 : list, (unsigned long long)fnv1a(list));
	else
		n = snprintf(out, len, "%s.idx", list);
	if (n < 0 || (size_t)n >= len) {
		out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Why this process uses the table from memory, for bl->note. */
static void
note_unwritable(struct blocklist *bl, const char *refused, int e)
{
	char r[2048] = "";

	/* Each path cut to 1900 bytes, so that both, and the reasons, fit in the note. */
	if (refused[0])
		snprintf(r, sizeof r, "index %.1900s refused: %s; ", bl->index, refused);
	snprintf(bl->note, sizeof bl->note, "%sunable to write index %.1900s: %.64s", r, bl->index,
	    strerror(e));
	bl->index[0] = '\0';
}

/*
 * Makes list ready for lookups: opens a fresh index it can trust, or
 * compiles the text and writes the index (under an exclusive lock on the
 * list, held by the one process that compiles it while others wait, a
 * bounded time, for its index). A process that cannot write the index
 * takes no lock and compiles at once, so such connections run side by
 * side; the table is then used from memory and bl->note says why. -1 with
 * errno: the list cannot be read, or (bl->changed) it changed while being
 * read.
 */
int
blocklist_open(struct blocklist *bl, const char *list, const char *index)
{
	struct tmpindex t = { -1, "" };
	char refused[REFUSED_MAX] = "";
	struct built *b;
	struct stat st;
	int fd, e;

	memset(bl, 0, sizeof *bl);
	bl->fd = -1;
	if (blocklist_index_path(bl->index, sizeof bl->index, list, index) < 0)
		snprintf(bl->note, sizeof bl->note, "index path too long");
	/* O_NONBLOCK: a FIFO in the list's place fails below, rather than hanging the open. */
	fd = open(list, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto fail;
	}
	if (bl->index[0] && open_index(bl, &st, refused, sizeof refused) == 0)
		goto done;
	if (bl->index[0] && tmp_open(&t, bl->index, st.st_mode) < 0)
		note_unwritable(bl, refused, errno);
	if (t.fd >= 0 && await_index(bl, fd, &st, refused, sizeof refused)) {
		tmp_discard(&t);
		goto done;
	}
	if (!(b = build(fd, &st, &bl->changed))) {
		e = errno;
		tmp_discard(&t);
		errno = e;
		goto fail;
	}
	use_built(bl, b);
	if (t.fd >= 0 && tmp_commit(&t, bl->index, b) < 0)
		note_unwritable(bl, refused, errno);
done:
	close(fd);
	return 0;
fail:
	e = errno;
	close(fd);
	blocklist_close(bl);
	errno = e;
	return -1;
}

/*
 * Compiles a list held in memory, with no file and no index: for text
 * that arrives some other way than as a file (and for the fuzzer).
 */
int
blocklist_compile(struct blocklist *bl, const char *text, size_t len)
{
	struct built *b;

	memset(bl, 0, sizeof *bl);
	bl->fd = -1;
	if (!(b = build_text(text, len, NULL)))
		return -1;
	use_built(bl, b);
	return 0;
}

static void
canonical(char out[ADDR_STRMAX + 5], const struct addr *a, unsigned prefix)
{
	struct addr net = *a;

	addr_mask(&net, prefix);
	addr_format(&net, out);
	if (prefix != 8 * addr_len(a))
		snprintf(out + strlen(out), ADDR_STRMAX + 5 - strlen(out), "/%u", prefix);
}

/* Range i's start or label: from the table in memory, or read from the index. */
static int
get(const struct blocklist *bl, const void *mem, uint64_t off, uint64_t i, void *v, size_t n)
{
	if (!bl->hbuf) {
		memcpy(v, (const char *)mem + i * n, n);
		return 0;
	}
	return pread(bl->fd, v, n, (off_t)(off + i * n)) == (ssize_t)n ? 0 : -1;
}

/* One family's table: its range starts and their labels, in memory or in the index at off. */
struct table {
	const void *starts, *labels;
	uint64_t starts_off, labels_off, n;
};

/*
 * The label of the last range starting at or below the key (kh, kl: high
 * and low word; IPv4 has kh 0) into info, left as it is if none: a binary
 * search, log2(ranges) probes, each reading one start of width bytes (4: a
 * uint32; 16: two uint64, high word first). 0, or -1 if the index could not
 * be read. Always inlined, width a constant at both calls: each family gets
 * its own loop, and a probe costs what its separate loop cost.
 */
static inline __attribute__((always_inline)) int
search(const struct blocklist *bl, const struct table *t, size_t width, uint64_t kh,
    uint64_t kl, uint32_t info[2])
{
	uint64_t lo = 0, hi = t->n, mid;
	int r = 0, below;

	while (lo < hi && r == 0) {
		mid = lo + (hi - lo) / 2;
		if (width == 4) {
			uint32_t s4;

			r = get(bl, t->starts, t->starts_off, mid, &s4, sizeof s4);
			below = s4 <= kl;
		} else {
			uint64_t s6[2];

			r = get(bl, t->starts, t->starts_off, mid, s6, sizeof s6);
			below = s6[0] < kh || (s6[0] == kh && s6[1] <= kl);
		}
		if (below)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (r == 0 && lo > 0)
		r = get(bl, t->labels, t->labels_off, lo - 1, info, 2 * sizeof *info);
	return r;
}

/* 1 and *m filled if a is blocked, 0 if not, -1 if the index could not be read. */
int
blocklist_lookup(const struct blocklist *bl, const struct addr *a, struct blocklist_match *m)
{
	const struct blocklist_hdr *h = bl->hdr;
	uint32_t info[2] = { 0, 0 };
	int r;

	if (!h)
		return 0;
	if (a->family == AF_INET) {
		const struct table t4 = { bl->start4, bl->info4, h->off4s, h->off4i, bl->n4 };

		r = search(bl, &t4, 4, 0, (uint32_t)addr_value(a), info);
	} else if (a->family == AF_INET6) {
		const struct table t6 = { bl->start6, bl->info6, h->off6s, h->off6i, bl->n6 };
		u128 k = addr_value(a);

		r = search(bl, &t6, 16, (uint64_t)(k >> 64), (uint64_t)k, info);
	} else {
		return 0;
	}
	if (r < 0)
		return -1;
	if (info[0] == 0)	/* a range no entry covers (or none at all: n 0) */
		return 0;
	m->line = info[0];
	canonical(m->text, a, info[1]);
	return 1;
}

uint64_t
blocklist_entries(const struct blocklist *bl)
{
	return bl->hdr ? bl->hdr->entries : 0;
}

uint64_t
blocklist_nbad(const struct blocklist *bl)
{
	return bl->hdr ? bl->hdr->nbad : 0;
}

const struct blocklist_bad *
blocklist_bad(const struct blocklist *bl, size_t i)
{
	return bl->hdr && i < bl->hdr->nbad && i < BLOCKLIST_BADMAX ? &bl->hdr->bad[i] : NULL;
}

void
blocklist_close(struct blocklist *bl)
{
	if (bl->hbuf) {
		close(bl->fd);
		free(bl->hbuf);
	}
	built_free(bl->mem);
	bl->hbuf = bl->mem = NULL;
	bl->fd = -1;
	bl->hdr = NULL;
}

/*
 * What opening the list finds, before any address: the list unusable, or
 * malformed, or neither (BLOCKLIST_PASS so far). 0 if bl is open (the
 * caller closes it), -1 if not.
 */
static int
decide_open(struct blocklist *bl, const char *list, const char *index, int on_error_allow,
    struct blocklist_decision *d)
{
	const struct blocklist_bad *b;

	/* Only what is read is set: the decision is made for every connection. */
	d->verdict = BLOCKLIST_PASS;
	d->nbad = d->nkept = 0;
	d->why[0] = d->note[0] = '\0';
	if (blocklist_open(bl, list, index) < 0) {
		if (bl->changed)
			snprintf(d->why, sizeof d->why, "block list %s changed while being read", list);
		else
			snprintf(d->why, sizeof d->why, "block list %s unusable: %s", list,
			    strerror(errno));
		d->verdict = BLOCKLIST_UNUSABLE;
		d->refuse = !on_error_allow;
		return -1;
	}
	snprintf(d->note, sizeof d->note, "%s", bl->note);
	while ((b = blocklist_bad(bl, d->nkept)))
		d->bad[d->nkept++] = *b;
	d->nbad = blocklist_nbad(bl);
	if (d->nbad) {
		snprintf(d->why, sizeof d->why, "block list %s malformed: %llu bad line%s", list,
		    (unsigned long long)d->nbad, d->nbad > 1 ? "s" : "");
		d->verdict = BLOCKLIST_MALFORMED;
	}
	d->refuse = d->verdict != BLOCKLIST_PASS && !on_error_allow;
	return 0;
}

void
blocklist_decide(const char *list, const char *index, int on_error_allow, const struct addr *a,
    struct blocklist_decision *d)
{
	struct blocklist bl;

	if (decide_open(&bl, list, index, on_error_allow, d) < 0)
		return;
	/* A malformed list under --block-list-on-error allow still blocks by its good lines. */
	if ((d->verdict == BLOCKLIST_PASS || on_error_allow) && a) {
		switch (blocklist_lookup(&bl, a, &d->match)) {
		case 1:
			snprintf(d->why, sizeof d->why, "block list %s line %llu: %s", list,
			    (unsigned long long)d->match.line, d->match.text);
			d->verdict = BLOCKLIST_BLOCK;
			break;
		case -1:
			snprintf(d->why, sizeof d->why, "block list %s: unable to read its index %s: %s",
			    list, bl.index, strerror(errno));
			d->verdict = BLOCKLIST_UNUSABLE;
			break;
		}
	}
	blocklist_close(&bl);
	d->refuse = d->verdict == BLOCKLIST_BLOCK
	    || (d->verdict != BLOCKLIST_PASS && !on_error_allow);
}

/* The list's version as stat(2) sees it; all zero if it cannot be seen. */
static void
list_version(const char *list, uint64_t ver[5])
{
	struct stat st;

	memset(ver, 0, 5 * sizeof *ver);
	if (stat(list, &st) < 0)
		return;
	ver[0] = (uint64_t)st.st_dev;
	ver[1] = (uint64_t)st.st_ino;
	ver[2] = (uint64_t)st.st_size;
	ver[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	ver[4] = (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec;
}

int
blocklist_hold(struct blocklist_held *h, const char *list, const char *index, int on_error_allow,
    int64_t now_ms)
{
	uint64_t ver[5];

	if (h->have && now_ms - h->checked_ms < BLOCKLIST_RECHECK_MS && now_ms >= h->checked_ms)
		return 0;
	h->checked_ms = now_ms;
	list_version(list, ver);
	if (h->have && memcmp(ver, h->ver, sizeof ver) == 0)
		return 0;
	blocklist_held_close(h);
	/* Taken before the open: a change in between is seen at the next look. */
	memcpy(h->ver, ver, sizeof ver);
	h->have = 1;
	h->open = decide_open(&h->bl, list, index, on_error_allow, &h->d) == 0;
	return 1;
}

int
blocklist_held_refuses(const struct blocklist_held *h, int on_error_allow, const struct addr *a,
    struct blocklist_match *m)
{
	m->line = 0;
	m->text[0] = '\0';
	if (h->d.refuse)
		return 1;
	if (!h->open)
		return 0;
	switch (blocklist_lookup(&h->bl, a, m)) {
	case 1:
		return 1;
	case -1:
		m->line = 0;
		return !on_error_allow;
	}
	return 0;
}

void
blocklist_held_close(struct blocklist_held *h)
{
	if (h->open)
		blocklist_close(&h->bl);
	h->open = h->have = 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Block list compiler: for any text, the compiled table must give, for
 * addresses at and around every entry's edges, the answer of a plain scan:
 * the longest prefix that holds the address, the earliest line among
 * equals. Every input is compiled in memory; one in FILE_EVERY also goes
 * through a file, the index it writes, and a second open that reads that
 * index, which must answer the same. (Files for every input held the run
 * to a thousand executions a second.) The bad lines must be reported as
 * they are: number, length, and the first bytes, NUL bytes too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/blocklist.h"

#define ENTRY_MAX 256
#define FILE_EVERY 16
#define PROBE_ENTRIES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__extension__ typedef unsigned __int128 u128;

/* An entry, also as the first and last address it covers, as numbers. */
struct ref {
	struct cidr c;
	uint64_t line;
	u128 lo, hi;
};

/* What the plain reading of a text finds. */
struct want {
	struct ref r[ENTRY_MAX];
	size_t n;
	uint64_t nbad;
	struct {
		uint64_t line;
		const char *s;
		size_t len;
	} bad[BLOCKLIST_BADMAX];
};

static u128
value(const struct addr *a)
{
	u128 v = 0;
	size_t i;

	for (i = 0; i < addr_len(a); i++)
		v = v << 8 | a->bytes[i];
	return v;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void
ref_bad(struct want *w, uint64_t line, const char *s, const char *e)
{
	if (w->nbad < BLOCKLIST_BADMAX) {
		w->bad[w->nbad].line = line;
		w->bad[w->nbad].s = s;
		w->bad[w->nbad].len = (size_t)(e - s);
	}
	w->nbad++;
}

/* The format, read the simple way; -1 for more entries than ENTRY_MAX. */
static int
ref_parse(const char *p, size_t len, struct want *w)
{
	const char *end = p + len, *nl, *s, *e, *h;
	struct ref *r = w->r;
	uint64_t line = 0;
	size_t n = 0, i, bits;
	char tok[64];

	for (; p < end && n < ENTRY_MAX; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		line++;
		s = p;
		e = nl ? nl : end;
		if ((h = memchr(s, '#', (size_t)(e - s))))
			e = h;
		while (s < e && is_space(*s))
			s++;
		while (e > s && is_space(e[-1]))
			e--;
		if (s == e)
			continue;
		for (i = 0; s + i < e; i++)
			if (is_space(s[i]) || s[i] == '\0')
				break;
		if (s + i < e || (size_t)(e - s) >= sizeof tok || (size_t)(e - s) > ADDR_STRMAX + 4) {
			ref_bad(w, line, s, e);
			continue;
		}
		memcpy(tok, s, (size_t)(e - s));
		tok[e - s] = '\0';
		if (cidr_parse(&r[n].c, tok) < 0) {
			ref_bad(w, line, s, e);
			continue;
		}
		bits = addr_len(&r[n].c.net) * 8;
		r[n].lo = value(&r[n].c.net);
		r[n].hi = r[n].lo | (r[n].c.prefix == 0 ? ~(u128)0 >> (128 - bits)
		    : ((u128)1 << (bits - r[n].c.prefix)) - 1);
		r[n++].line = line;
	}
	w->n = n;
	return p < end ? -1 : 0;
}

/*
 * The plain scan, on numbers rather than through the library's own
 * matching. Kept out of coverage: it runs n times per probe, and tracing
 * its compares held the fuzzer to two thousand executions a second.
 */
__attribute__((no_sanitize("coverage"))) static uint64_t
ref_lookup(const struct ref *r, size_t n, const struct addr *a)
{
	u128 v = value(a);
	uint64_t best = 0;
	unsigned prefix = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].c.net.family == a->family && r[i].lo <= v && v <= r[i].hi
		    && (!best || r[i].c.prefix > prefix)) {
			best = r[i].line;
			prefix = r[i].c.prefix;
		}
	return best;
}

static void
step(struct addr *a, int up)
{
	int i = (int)addr_len(a) - 1;

	for (; i >= 0; i--) {
		a->bytes[i] = (uint8_t)(a->bytes[i] + (up ? 1 : -1));
		if (a->bytes[i] != (up ? 0 : 0xff))
			break;
	}
}

static void
check(const struct blocklist *bl, const struct ref *r, size_t n, const struct addr *a)
{
	struct blocklist_match m;
	uint64_t want = ref_lookup(r, n, a);
	int got = blocklist_lookup(bl, a, &m);

	if (got != (want != 0) || (got && m.line != want))
		abort();
}

static char dir[] = "/tmp/fuzz_blocklist.XXXXXX";

static void
cleanup(void)
{
	char p[80];

	snprintf(p, sizeof p, "%s/list", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/list.idx", dir);
	unlink(p);
	rmdir(dir);
}

/*
 * The edges of every entry, or of one in every n / PROBE_ENTRIES from an
 * offset the input picks: each probe scans all n entries, and probing all
 * 256 of them held the run to a few hundred executions a second.
 */
static void
check_all(const struct blocklist *bl, const struct want *w, uint32_t pick)
{
	const struct ref *r = w->r;
	const struct blocklist_bad *b;
	size_t i, n = w->n, stride = (n + PROBE_ENTRIES - 1) / PROBE_ENTRIES;

	if (blocklist_entries(bl) != n || blocklist_nbad(bl) != w->nbad)
		abort();
	for (i = 0; (b = blocklist_bad(bl, i)); i++) {
		size_t keep = w->bad[i].len < BLOCKLIST_TEXTMAX ? w->bad[i].len : BLOCKLIST_TEXTMAX - 1;

		if (i >= w->nbad || b->line != w->bad[i].line || b->full != w->bad[i].len
		    || b->len != keep || memcmp(b->text, w->bad[i].s, keep) != 0 || b->text[keep])
			abort();
	}
	if (i != (w->nbad < BLOCKLIST_BADMAX ? w->nbad : BLOCKLIST_BADMAX))
		abort();
	for (i = stride ? pick % stride : 0; i < n; i += stride) {
		struct addr a = r[i].c.net;
		size_t k, bits = addr_len(&a) * 8;

		check(bl, r, n, &a);
		step(&a, 0);
		check(bl, r, n, &a);
		a = r[i].c.net;
		for (k = r[i].c.prefix; k < bits; k++)	/* the block's last address */
			a.bytes[k / 8] |= (uint8_t)(0x80u >> (k % 8));
		check(bl, r, n, &a);
		step(&a, 1);
		check(bl, r, n, &a);
	}
}

/* The same text through a file: compiled and indexed, then read from the index. */
static void
check_file(const uint8_t *data, size_t size, const struct want *w, uint32_t pick)
{
	static int made;
	struct blocklist mem, idx;
	char list[64], index[80];
	FILE *f;

	if (!made) {
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
		made = 1;
	}
	snprintf(list, sizeof list, "%s/list", dir);
	snprintf(index, sizeof index, "%s/list.idx", dir);
	unlink(index);
	if (!(f = fopen(list, "w")) || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (blocklist_open(&mem, list, index) < 0 || !mem.built || mem.note[0])
		abort();
	if (blocklist_open(&idx, list, index) < 0 || idx.built)
		abort();	/* the second open reads the index the first wrote */
	check_all(&mem, w, pick);
	check_all(&idx, w, pick);
	blocklist_close(&mem);
	blocklist_close(&idx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct want w;
	struct blocklist bl;
	uint32_t h = 2166136261u;
	size_t i;

	w.nbad = 0;
	if (ref_parse((const char *)data, size, &w) < 0)
		return 0;	/* more entries than the plain scan is worth */
	for (i = 0; i < size; i++)	/* the input's own choices: fixed, so a crash replays */
		h = (h ^ data[i]) * 16777619u;
	if (blocklist_compile(&bl, (const char *)data, size) < 0)
		abort();
	check_all(&bl, &w, h >> 8);
	blocklist_close(&bl);
	if (h % FILE_EVERY == 0)
		check_file(data, size, &w, h >> 8);
	return 0;
}

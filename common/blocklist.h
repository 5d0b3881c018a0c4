/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_BLOCKLIST_H
#define INETKIT_BLOCKLIST_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/*
 * A block list (inetkit-blocklist(5)): a text file of IPv4/IPv6 addresses
 * and CIDR blocks, one per line. For lookups it is compiled into a sorted
 * table of disjoint address ranges, each labelled with the most specific
 * entry that covers it, and that table is kept in an index file. A lookup
 * is a binary search that reads only the ~log2(ranges) numbers it probes,
 * with pread: mapping the file instead cost a page fault per probe, which
 * on a virtual machine is dearer than the read.
 * The index records which version of the text it was made from (device,
 * inode, size, mtime, ctime) and is rebuilt, atomically, when they differ.
 * Those are public, so an index is believed only if it is a regular file
 * (not followed through a symbolic link) of this user or root that no one
 * else may write; any other is replaced, or the text compiled in memory.
 */
#define BLOCKLIST_BADMAX 8		/* bad lines remembered for reports */
#define BLOCKLIST_TEXTMAX 64		/* bytes of a bad line remembered */
#define BLOCKLIST_PATHMAX 4096

struct blocklist_bad {
	uint64_t line;
	uint32_t len;			/* bytes kept in text, NUL bytes included */
	uint32_t full;			/* the bad text's whole length; UINT32_MAX: that or more */
	char text[BLOCKLIST_TEXTMAX];	/* raw bytes, then a NUL; escape before logging */
};

struct blocklist_hdr;

struct blocklist {
	const struct blocklist_hdr *hdr;
	const uint32_t *start4;		/* range starts, ascending */
	const uint32_t *info4;		/* per range: line, prefix */
	const uint64_t *start6;		/* two words (high, low) per range */
	const uint32_t *info6;
	uint64_t n4, n6;
	int fd;				/* the index file, read with pread, or */
	void *hbuf;			/* (its header, copied) */
	void *mem;			/* the table built in memory */
	char index[BLOCKLIST_PATHMAX];	/* the index file used or written; "" if none */
	int built;			/* this call compiled the text */
	int changed;			/* open failed: the text changed while being read */
	char note[BLOCKLIST_PATHMAX + 128];	/* why no index could be used, or "" */
};

struct blocklist_match {
	uint64_t line;
	char text[ADDR_STRMAX + 5];	/* the entry, canonical: "192.0.2.0/24" */
};

int blocklist_open(struct blocklist *bl, const char *list, const char *index);
int blocklist_compile(struct blocklist *bl, const char *text, size_t len);
int blocklist_lookup(const struct blocklist *bl, const struct addr *a,
    struct blocklist_match *m);
uint64_t blocklist_entries(const struct blocklist *bl);
uint64_t blocklist_nbad(const struct blocklist *bl);
const struct blocklist_bad *blocklist_bad(const struct blocklist *bl, size_t i);
void blocklist_close(struct blocklist *bl);

/*
 * The decision a connection gets, the one for blockip and every program's
 * --block-list: open (or build) the index and look the address up (a NULL
 * address: only the list is checked). It never logs: what the reading
 * found wrong with the list (a note, bad lines) comes back in the
 * decision, for the caller to report.
 */
enum blocklist_verdict {
	BLOCKLIST_PASS,
	BLOCKLIST_BLOCK,
	BLOCKLIST_UNUSABLE,		/* missing or unreadable */
	BLOCKLIST_MALFORMED,		/* bad lines (and not blocked by a good one) */
};

struct blocklist_decision {
	enum blocklist_verdict verdict;
	int refuse;			/* blocked, or unusable or malformed under on-error deny */
	struct blocklist_match match;	/* BLOCKLIST_BLOCK: the entry */
	char why[BLOCKLIST_PATHMAX + 256];	/* the reason, for the log record */
	char note[BLOCKLIST_PATHMAX + 128];	/* why no index file could be used, or "" */
	uint64_t nbad;			/* the list's bad lines, of which the first */
	size_t nkept;			/* nkept are in bad[] */
	struct blocklist_bad bad[BLOCKLIST_BADMAX];
};

/* on_error_allow: --block-list-on-error allow (a malformed list still blocks by its good lines). */
void blocklist_decide(const char *list, const char *index, int on_error_allow,
    const struct addr *a, struct blocklist_decision *d);

/*
 * The same decisions for a process that makes many over a long life (the
 * datagram loop, udp.c): the list is opened once and kept, and opened
 * again when its file has changed (device, inode, size, mtime or ctime),
 * which is looked at, with stat(2), at most every BLOCKLIST_RECHECK_MS.
 * blocklist_hold returns 1 when it opened the list now: h->d then holds
 * what the reading found (its verdict without an address, the note, the
 * bad lines), for the caller to report. blocklist_held_refuses then
 * decides an address as blocklist_decide would: 1 and *m the entry if
 * listed (m->line 0 if the list itself refuses everyone), else 0.
 */
#define BLOCKLIST_RECHECK_MS 1000

struct blocklist_held {
	struct blocklist bl;
	struct blocklist_decision d;	/* what its opening found */
	uint64_t ver[5];		/* the list's stat(2), when opened */
	int64_t checked_ms;		/* the last look (a monotonic clock) */
	int have;			/* opened (or tried) at least once */
	int open;			/* bl is open for lookups */
};

int blocklist_hold(struct blocklist_held *h, const char *list, const char *index,
    int on_error_allow, int64_t now_ms);
int blocklist_held_refuses(const struct blocklist_held *h, int on_error_allow,
    const struct addr *a, struct blocklist_match *m);
void blocklist_held_close(struct blocklist_held *h);

#endif

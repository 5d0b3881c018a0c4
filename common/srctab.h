/* SPDX-License-Identifier: MIT */
#ifndef INETKIT_SRCTAB_H
#define INETKIT_SRCTAB_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/*
 * The table of sources: what a service remembers of the clients that came
 * lately, shared by every process that serves it. The connection processes
 * of Accept=yes, xinetd and tcpserver share it through a file
 * (--state-dir); the children of the accept loop through memory the
 * listener maps before it forks (or the same file). It has a fixed number
 * of slots: per source address and per netblock, a connection rate (GCRA,
 * one timestamp a slot), and per source a doubling penalty after refusals.
 * Full, it forgets the entry seen longest ago among a key's candidate
 * slots, and says so. A lower-layer module: it logs nothing, and returns
 * what happened in a struct srctab_note.
 */
#define SRCTAB_SLOTS 4096
#define SRCTAB_PROBES 8			/* candidate slots of one key */
#define SRCTAB_LOCK_MS 200		/* the longest wait for the table's lock */

struct srctab_rate {
	unsigned long n, secs;		/* n connections per secs; n 0: no limit */
};

struct srctab_limits {
	struct srctab_rate source, netblock;
	unsigned long prefix4, prefix6;	/* the netblock of an address */
	unsigned long penalty;		/* seconds of the first penalty; 0: none */
	unsigned long penalty_max;	/* doubling stops here */
	unsigned long penalty_after;	/* refusals before the first penalty */
};

enum srctab_verdict {
	SRCTAB_PASS,
	SRCTAB_PENALIZED,		/* note.secs: how long it still lasts */
	SRCTAB_RATE_SOURCE,		/* over --max-rate */
	SRCTAB_RATE_NETBLOCK,		/* over --max-netblock-rate */
	SRCTAB_BUSY,			/* the lock could not be had in time */
};

/* What a call did besides its verdict, for the caller to log. */
struct srctab_note {
	int forgot;			/* a slot still in use was taken over */
	uint64_t forgotten;		/* how many so far, in the table's life */
	struct addr forgot_addr;
	unsigned forgot_prefix;		/* its netblock prefix, or the full length */
	unsigned long secs;		/* penalty given, or still to run */
	unsigned long refusals;		/* refusals counted toward the first penalty */
	int in_flight;			/* srctab_refused: began before the last penalty */
};

struct srctab_map;

struct srctab {
	struct srctab_map *map;
	int fd;				/* the table's file, or -1 */
};

int srctab_open(struct srctab *t, const char *dir, const char *name, char *err, size_t len);
int srctab_anon(struct srctab *t, char *err, size_t len);
void srctab_close(struct srctab *t);
enum srctab_verdict srctab_admit(struct srctab *t, const struct addr *a,
    const struct srctab_limits *l, int64_t now_ms, struct srctab_note *note);
enum srctab_verdict srctab_refused(struct srctab *t, const struct addr *a,
    const struct srctab_limits *l, int64_t started_ms, int64_t now_ms, struct srctab_note *note);
int srctab_penalized(struct srctab *t, const struct addr *a, const struct srctab_limits *l,
    int64_t now);
void srctab_netblock(struct addr *net, const struct addr *a, unsigned prefix);
const char *srctab_verdict_name(enum srctab_verdict v);
int64_t srctab_now(void);

#endif

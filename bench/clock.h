/* SPDX-License-Identifier: MIT */
/*
 * The bench clients' clocks, for loadgen.c and tlsload.c: the wall time
 * (CLOCK_MONOTONIC) and the client's own CPU time, all its threads and
 * the kernel's work on their behalf, in seconds.
 */
#include <sys/resource.h>
#include <time.h>

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
	    + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

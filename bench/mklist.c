/* SPDX-License-Identifier: MIT */
/*
 * mklist N: a block list of N entries for the benchmark, mixed IPv4/IPv6
 * addresses and CIDR blocks, never covering 127.0.0.0/8 or ::1. Deterministic.
 */
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000, i;
	unsigned long x = 2463534242UL;

	printf("# benchmark block list, %lu entries\n", n);
	for (i = 0; i < n; i++) {
		unsigned a;

		x ^= x << 13, x ^= x >> 17, x ^= x << 5, x &= 0xffffffffUL;
		a = (unsigned)x;
		if ((a >> 24) == 127 || (a >> 24) == 0)
			a ^= 0x40000000u;
		switch (i % 4) {
		case 0: printf("%u.%u.%u.%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255); break;
		case 1: printf("%u.%u.%u.0/24\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255); break;
		case 2: printf("2001:db8:%x:%x::%x\n", a >> 16, a & 0xffff, (unsigned)i & 0xffff); break;
		default: printf("2001:db8:%x:%x::/64\n", a >> 16, a & 0xffff); break;
		}
	}
	return 0;
}

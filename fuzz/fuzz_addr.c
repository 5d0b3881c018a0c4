/* SPDX-License-Identifier: MIT */
/* Address and CIDR parsing: parse, format, re-parse, and match must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[128], out[ADDR_STRMAX];
	struct addr a, b;
	struct cidr c;

	if (size >= sizeof s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(&a, s) == 0) {
		addr_format(&a, out);
		if (addr_parse(&b, out) != 0 || a.family != b.family
		    || memcmp(a.bytes, b.bytes, sizeof a.bytes) != 0)
			abort();	/* formatting must round-trip */
	}
	if (cidr_parse(&c, s) == 0) {
		if (c.prefix > addr_len(&c.net) * 8)
			abort();
		if (!cidr_match(&c, &c.net))
			abort();	/* a block contains its own network address */
	}
	return 0;
}

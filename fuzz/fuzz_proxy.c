/* SPDX-License-Identifier: MIT */
/*
 * PROXY protocol parser. proxy_read() relies on these: a complete header's
 * every prefix is "incomplete" (0), never "malformed" or "complete"; more
 * bytes after it do not change the answer; the length is within the buffer
 * and the limits; a v1 header never exceeds 107 bytes. And the sending
 * side: every header parsed, written again by proxy_format in either
 * version, reads back as the same client (relay's --send-proxy).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
reformat(const struct proxy_hdr *h)
{
	unsigned char buf[PROXY_V1_MAX + 64];
	struct proxy_hdr back;
	/* A v1 TCP6 line may name a mapped (so IPv4) source and an IPv6 destination. */
	int local = h->local || h->src.family != h->dst.family, v;
	ssize_t n;

	for (v = 1; v <= 2; v++) {
		n = proxy_format(v, h, buf, sizeof buf);
		if (n <= 0 || proxy_parse(buf, (size_t)n, &back) != n || back.version != v
		    || back.local != local)
			abort();
		if (!local && (memcmp(&back.src, &h->src, sizeof h->src) != 0
		    || memcmp(&back.dst, &h->dst, sizeof h->dst) != 0 || back.sport != h->sport
		    || back.dport != h->dport))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, h2;
	ssize_t r, r2;
	size_t k;

	r = proxy_parse(data, size, &h);
	if (r < -1 || (r > 0 && ((size_t)r > size || (size_t)r > PROXY_HDR_MAX)))
		abort();
	if (r <= 0)
		return 0;
	if ((size_t)r != h.len || (h.version == 1 && h.len > PROXY_V1_MAX)
	    || (h.version != 1 && h.version != 2))
		abort();
	if (!h.local && (h.sport > 65535 || h.dport > 65535 || !h.src.family || !h.dst.family))
		abort();
	for (k = 0; k < (size_t)r; k++)
		if (proxy_parse(data, k, &h2) != 0)
			abort();	/* a prefix of a header is only incomplete */
	r2 = proxy_parse(data, (size_t)r, &h2);
	if (r2 != r || h2.local != h.local || memcmp(&h2.src, &h.src, sizeof h.src) != 0)
		abort();
	reformat(&h);
	return 0;
}

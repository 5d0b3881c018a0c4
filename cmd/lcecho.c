/* SPDX-License-Identifier: MIT */
/*
 * inetkit-lcecho: mod_perl's EchoBB with its lowercase_filter. Echoes the
 * client's lines through an output filter that lower-cases ASCII letters,
 * until EOF or a line holding only CR/LF, which is echoed before the close.
 */
#include "../common/conn.h"

/* Only CR bytes before the LF (or none): the line that ends the session. */
static int
only_crs(const char *s, size_t len)
{
	while (len && *s == '\r') {
		s++;
		len--;
	}
	return len == 0;
}

static int
process(struct conn *c)
{
	struct io *io = &c->io;
	const char *line;
	size_t len;
	int kind, blank = 1;

	while ((kind = io_getline(io, &line, &len)) > 0) {
		/* A line longer than --max-line comes in pieces; blank is judged on the whole. */
		int last = kind != IO_LINE_PIECE;
		size_t body = kind == IO_LINE_FULL ? len - 1 : len;

		blank = blank && only_crs(line, body);
		if (io_write(io, line, len) < 0)
			break;
		if (last && kind == IO_LINE_FULL && blank)
			break;
		if (last)
			blank = 1;
	}
	return conn_served(c);
}

static const struct filter *const output_filters[] = { &filter_lowercase, NULL };

static const struct service lcecho = {
	.name = "lcecho",
	.prefork = 1,
	.summary = "Echo the client's lines lower-cased until EOF or a blank line "
	    "(mod_perl's EchoBB + lowercase_filter).",
	.process_connection = process,
	.output_filters = output_filters,
};

int
main(int argc, char **argv)
{
	return conn_main(&lcecho, argc, argv);
}

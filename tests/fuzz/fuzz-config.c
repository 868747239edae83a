// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the configuration parser (daemon/config.c).
 * Built and run by tests/fuzz/run.sh; by hand, from the source root:
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *	      -D_GNU_SOURCE tests/fuzz/fuzz-config.c daemon/config.c -o fuzz-config
 *	./fuzz-config -max_len=8192 -max_total_time=60 corpus-copy tests/fuzz/corpus/config
 *
 * Beyond "does not crash", it checks what the parser promises: the error
 * message is a terminated string naming a line, and an accepted text formats
 * back (config_format) to a text that parses to the same configuration.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pkv_config c1, c2;
static char text[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];

	memset(err, 'X', sizeof(err));
	if (config_parse(&c1, (const char *)data, size, err, sizeof(err)) != 0) {
		if (!memchr(err, '\0', sizeof(err)) || strncmp(err, "line ", 5) != 0)
			abort();
		return 0;
	}

	size_t n = config_format(&c1, text, sizeof(text));
	if (n >= sizeof(text))
		abort();
	if (config_parse(&c2, text, n, err, sizeof(err)) != 0) {
		fprintf(stderr, "formatted text does not parse: %s\n%s", err, text);
		abort();
	}
	if (memcmp(&c1, &c2, sizeof(c1)) != 0) {
		fprintf(stderr, "round trip changed the configuration:\n%s", text);
		abort();
	}

	/* Exercise the rest of the API on whatever was accepted. */
	(void)config_validate(&c1, err, sizeof(err));
	(void)config_self(&c1);
	for (uint32_t id = 0; id <= c1.n_nodes + 1; id++) {
		const struct pkv_node_cfg *nd = config_node_by_id(&c1, id);
		if (nd && config_node_by_name(&c1, nd->name) != nd)
			abort();
	}
	return 0;
}

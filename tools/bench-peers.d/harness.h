/* harness — the measuring loop shared by the peer clients of bench-peers.
 *
 * It forks N client processes, lets each prepare (connect, pre-populate),
 * starts them together at a barrier, times each operation with
 * CLOCK_MONOTONIC around the call only, and prints one JSON line with the
 * same field names pkv-bench uses (ops_per_s, p50_ns, p99_ns, ...), so the
 * bench-peers script reads all three systems the same way.
 */
#ifndef BENCH_PEERS_HARNESS_H
#define BENCH_PEERS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HARNESS_KEY_SIZE   16
#define HARNESS_VALUE_SIZE 32

struct harness_workload {
	const char *name;
	/* Runs in the client process before the barrier; 0 or -errno. */
	int (*prepare)(void *ctx, unsigned client, unsigned prepop_keys);
	/* One measured operation; 0 on success, 1 for a wrong answer,
	 * negative for a failure. seq counts from 0 per client. */
	int (*op)(void *ctx, uint64_t seq);
	/* Called once in the client process after its loop. */
	void (*finish)(void *ctx);
};

struct harness_config {
	const char *system;
	unsigned clients;
	double seconds;
	uint64_t max_ops; /* per client; bounds the loop besides the time */
	unsigned warmup_ops;
	unsigned prepop_keys;
	unsigned trials; /* owner-bound removal: kills to time */
	unsigned owner_ttl_ms; /* owner-bound removal: lease TTL or session timeout asked */
};

/* Key "K" + 5 hex of pid + 2 hex nonce + 8 hex seq: 16 bytes, never reused
 * across clients or runs. kind is 'p' (pre-populated) or 'n' (fresh). */
void harness_key(char out[HARNESS_KEY_SIZE + 1], char kind, uint64_t seq);
/* The value stored under a key: derived from it, so reads can be checked. */
void harness_value(char out[HARNESS_VALUE_SIZE + 1], const char *key);

uint64_t harness_now_ns(void);

/* Forks the clients, runs the workload, prints the JSON line on stdout.
 * ctx_size bytes of zeroed context are given to each client. Returns the
 * process exit status (0 ok, 1 wrong answers, 69 a client failed to
 * prepare). */
int harness_run(const struct harness_config *cfg, const struct harness_workload *w,
		size_t ctx_size);

/* Parses the options common to every peer client. Returns the index of the
 * first non-option argument, or -1 after printing a usage error. */
int harness_parse(struct harness_config *cfg, int argc, char **argv, const char *usage);

#endif

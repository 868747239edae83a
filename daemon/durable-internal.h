/* SPDX-License-Identifier: MIT */
/*
 * durable-internal.h — what the files of the durable acceptor log share:
 * struct durable, the live size estimate and the helpers one file calls in
 * the other. Only daemon/durable*.c include it; the rest of the daemon and
 * the tests use durable.h.
 *
 * The files:
 *   durable.c         the record format and its encoding, the CRC, append,
 *                     sync, open/close, compaction, stats
 *   durable-replay.c  reading the log back: decoding and checking records,
 *                     the damage rules (durable.h) at open, replay
 */
#ifndef PKV_DURABLE_INTERNAL_H
#define PKV_DURABLE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "durable.h"

/* Flags of a key record's payload (layout in durable.c). */
#define REC_F_HAS_ACCEPTED 0x01u
#define REC_F_CHOSEN 0x02u
#define REC_F_CHOSEN_IS_ACCEPTED 0x04u
#define REC_F_ALL 0x07u

/* The file header's magic, "PKVDLOG\0". */
extern const char durable_magic[8];

/*
 * Live size estimate: 64-bit hash of (bucket, key) → size of its last
 * record. A hash collision only makes the estimate a little low, which is
 * all an estimate used to decide when to compact needs.
 */
struct live_table {
	uint64_t *keys; /* 0: empty slot */
	uint32_t *sizes;
	size_t cap, count;
	uint64_t bytes;
};

struct durable {
	int fd, dirfd;
	char *dir;
	uint64_t file_size;   /* bytes of records in the file (where the next batch goes) */
	uint64_t alloc_end;   /* bytes in the file: the records and the zeros written ahead */
	uint64_t synced_size; /* of which known to be on disk */
	uint64_t batch;	    /* batch number of pending records */

	uint8_t *buf; /* pending records, framed */
	size_t len, cap;

	/* The batch handed out by durable_sync_begin, written at fl_off and
	 * not yet known synced (durable.h, SYNC OFF THE CALLER'S THREAD). */
	uint8_t *fl_buf;
	size_t fl_len, fl_cap;
	size_t fl_wlen; /* what is written: fl_len, and the zeros ahead when extending */
	uint64_t fl_off;
	uint64_t fl_t0; /* ns at durable_sync_begin */
	bool in_flight;

	uint8_t *replay; /* the file as read by open, valid part only */
	size_t replay_len;
	bool replay_gone;

	struct live_table live;
	int broken; /* -errno once a write or sync failed */
	char errmsg[512];
	struct durable_stats st;
};

/* durable.c */
void durable_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool durable_rec_ok(const struct durable_rec *r);
uint64_t durable_live_hash(struct pkv_bytes bucket, struct pkv_bytes key);
int durable_live_put(struct live_table *t, uint64_t h, uint32_t size);

/* durable-replay.c */
int durable_read_file(int fd, uint8_t **out, size_t *outlen);
int durable_log_scan(struct durable *d, const uint8_t *buf, size_t len, size_t *valid_end,
		     char *err, size_t errlen);
uint64_t durable_next_batch(const uint8_t *buf, size_t end);
void durable_replay_release(struct durable *d);

#endif

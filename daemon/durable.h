/* SPDX-License-Identifier: MIT */
/*
 * durable.h — the durable acceptor log.
 *
 * With it a restarted daemon gets its acceptor state back from its own disk
 * instead of copying it from a majority (docs/design.md §6.1), so it neither waits for
 * peers nor loses what only it held. It is an append-only file,
 * `acceptor.log`, in the node's run directory; each record is the whole
 * state of one key after a change (bucket, key, generation, promise,
 * accepted ballot + value, chosen ballot + value, highest round seen). A later
 * record for the same (bucket, key) replaces every earlier one, so replay is
 * "apply in order, last wins" and the caller's merge is a plain overwrite.
 *
 * THE OUTBOX CONTRACT. A promise or an accept must be on disk before the
 * PROMISE/ACCEPTED that reveals it leaves the host; otherwise a crash lets
 * the acceptor forget a promise it gave and break Paxos. durable_append()
 * only buffers in memory; durable_sync_begin() hands the buffer out as a
 * batch that the daemon writes and fdatasyncs through io_uring, and
 * durable_sync_end() takes the results; the daemon holds every reply that
 * depends on the batch until then (docs/design.md §6.3, durable-hold.h).
 * durable_sync() does the same on the calling thread. If a sync fails,
 * nothing that depends on it may be sent.
 *
 * FILE FORMAT (all integers little-endian).
 *   file header, 40 bytes:
 *     0  magic "PKVDLOG\0"
 *     8  u32 format version (1)
 *    12  u32 reserved, 0
 *    16  u64 first batch number in this file (>= 1)
 *    24  u64 snapshot bytes: bytes of records after the header that were
 *            written by compaction (synced before the file got its name);
 *            they all carry the first batch number
 *    32  u32 reserved, 0
 *    36  u32 crc32c of bytes 0..35
 *   then records, each a 24-byte frame header and a payload:
 *     0  u32 crc32c of frame header bytes 4..23 (so a damaged length is
 *            caught before it is trusted)
 *     4  u32 payload length
 *     8  u32 crc32c of the payload
 *    12  u16 record type (enum durable_rec_type), u16 reserved 0
 *    16  u64 batch number: every record written by one durable_sync() (one
 *            fdatasync) carries the same number; from one record to the
 *            next the number stays or grows by exactly one
 *   The CRC is CRC-32C (Castagnoli), table-driven, no dependency.
 *
 * DAMAGE RULES, applied by durable_open() (a record is "intact" when both
 * checks pass and its payload decodes):
 *  1. A bad file header is corruption: open fails with -EBADMSG.
 *  2. Damage inside the snapshot region is corruption: compaction synced it
 *     before the rename, so no crash can have torn it.
 *  3. Otherwise, at the first damaged record (offset X), the rest of the
 *     file is searched byte by byte for intact records. Damage is a TORN
 *     TAIL — the last write batch, cut short by a crash before its
 *     fdatasync returned, possibly with pages missing in the middle — when
 *     every intact record after X carries one batch number L and the last
 *     intact record before X has number L or L-1 (or there are no intact
 *     records after X at all). A torn tail is truncated at X (the
 *     truncation is fsynced before anything is appended) and counted in
 *     the stats; those records were never synced, so no reply depended on
 *     them.
 *  4. Any other damage is CORRUPTION IN THE MIDDLE of the log: open refuses
 *     with -EBADMSG and an error naming the file and offset. Truncating there
 *     would silently drop promises that replies depended on. The operator
 *     moves the file aside; the daemon then starts as one without durable
 *     state (it resyncs from a majority, docs/design.md §6.1).
 *  The known limit: damage to the final batch after it was synced (media
 *  corruption of the last write) looks exactly like a torn tail and is
 *  dropped; no log can tell the two apart from content alone.
 *
 * FAILURES. A failed write or fdatasync leaves the handle broken: the page
 * cache state after a failed fdatasync is unknown (a retry can "succeed"
 * without the data), so every later call returns the same error. Close
 * the handle; reopening replays what really reached the disk.
 *
 * COMPACTION writes the caller's snapshot of the live state to
 * `acceptor.log.tmp`, fsyncs it, renames it over `acceptor.log` and fsyncs
 * the directory. A crash at any point leaves either the old or the new log,
 * both complete; durable_open() removes a leftover temp file.
 *
 * CONCURRENCY. One handle, one thread. The log is flock()ed, so a second
 * opener of the same directory (another daemon, or another handle in this
 * process) is refused with -EWOULDBLOCK.
 */
#ifndef PKV_DURABLE_H
#define PKV_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msg.h"

#define DURABLE_LOG_NAME "acceptor.log"
#define DURABLE_TMP_NAME "acceptor.log.tmp"
#define DURABLE_FORMAT_VERSION 1u
#define DURABLE_FILE_HEADER 40u
#define DURABLE_FRAME_HEADER 24u
/*
 * A value slot holds what paxos agreed on: the client's value followed by
 * its bindings, in the pkv_bound encoding (msg.h), as on the wire.
 */
#define DURABLE_MAX_VALUE (PKV_MAX_VALUE + PKV_BOUND_FIXED + PKV_MAX_KEY)
/* Fixed part of a key record's payload; see durable.c for the layout. */
#define DURABLE_REC_FIXED 64u
#define DURABLE_MAX_PAYLOAD                                                                        \
	(DURABLE_REC_FIXED + PKV_MAX_BUCKET + PKV_MAX_KEY + 2u * DURABLE_MAX_VALUE)
/* Compaction triggers (durable_should_compact). */
#define DURABLE_COMPACT_MIN_BYTES (1ull << 20)
#define DURABLE_COMPACT_GARBAGE_BYTES (64ull << 20)
#define DURABLE_COMPACT_RATIO 4u

enum durable_rec_type {
	/* The full state of one key; replaces earlier records of that key. */
	DURABLE_REC_KEY = 1,
};

/*
 * One key's durable state. Byte strings are borrowed: in durable_append()
 * they are copied before it returns; in a replay callback they point into
 * the replay buffer and are valid only during the call.
 */
struct durable_rec {
	struct pkv_bytes bucket; /* 1..PKV_MAX_BUCKET bytes */
	struct pkv_bytes key;	 /* 1..PKV_MAX_KEY bytes */
	uint64_t gen;

	/* Acceptor. */
	struct pkv_ballot promised;
	bool has_accepted;
	struct pkv_ballot accepted;	 /* zero when !has_accepted */
	struct pkv_bytes accepted_value; /* 0..DURABLE_MAX_VALUE; empty when !has_accepted */

	/* Learner. */
	bool chosen;
	struct pkv_ballot chosen_ballot;
	struct pkv_bytes chosen_value; /* 0..DURABLE_MAX_VALUE; empty when !chosen */

	/* Proposer: highest round seen for the key, so a restarted proposer
	 * never reuses a ballot it may already have sent. */
	uint64_t max_round;
};

struct durable_stats {
	uint64_t log_bytes;	   /* current size of acceptor.log, pending excluded */
	uint64_t pending_bytes;	   /* appended, not yet written */
	uint64_t live_bytes;	   /* estimate: last record size summed per key */
	uint64_t live_keys;	   /* distinct keys seen (by 64-bit hash) */
	uint64_t records_replayed; /* intact records found by durable_open */
	uint64_t records_appended; /* since open */
	uint64_t bytes_appended;   /* since open, framing included */
	uint64_t syncs;		   /* durable_sync calls that wrote something */
	uint64_t sync_ns;	   /* total time in write + fdatasync, ns */
	uint64_t compactions;
	uint64_t torn_bytes;	   /* dropped as a torn tail by durable_open */
	bool created;		   /* durable_open made the log: first boot of this dir */
};

struct durable;

/*
 * Opens (creating when missing) dir/acceptor.log, removes a leftover temp
 * file, checks every record by the damage rules above and truncates a torn
 * tail. The whole log is read into memory once, for the replay (compaction
 * keeps it near the live size). dir must exist. On failure *out is NULL, a negative errno is
 * returned and err (when errlen > 0) holds a one-line message naming the
 * path and, for corruption (-EBADMSG), the byte offset.
 */
int durable_open(struct durable **out, const char *dir, char *err, size_t errlen);

/*
 * Calls apply for every intact record, in log order (the caller merges: a
 * later record of a key overrides an earlier one). A non-zero return from
 * apply stops the replay and is returned. Replay is available once, right
 * after open, before any append/sync/compact (which release the replay
 * buffer); otherwise -EINVAL. Returns 0 when every record was applied.
 */
int durable_replay(struct durable *d, int (*apply)(void *arg, const struct durable_rec *r),
		   void *arg);

/*
 * Buffers the record in memory (no syscall, except that a buffer past 1 MiB
 * is written without a sync to bound memory). Returns 0, -EINVAL when a
 * field is out of limits (bucket, key or value length), -ENOMEM, or the
 * handle's earlier error.
 */
int durable_append(struct durable *d, const struct durable_rec *r);

/*
 * Writes the buffered records and fdatasyncs the log. Returns 0 (also when
 * nothing was pending: no syscall then) or -errno; after a failure the
 * handle is broken (see FAILURES).
 */
int durable_sync(struct durable *d);

/*
 * SYNC OFF THE CALLER'S THREAD. durable_sync_begin hands out the pending
 * records as one batch: the caller writes *len bytes of *buf at *off and
 * then fdatasyncs the file (the daemon: a linked write → fsync with
 * IORING_FSYNC_DATASYNC through io_uring), and reports both results with
 * durable_sync_end. Records appended meanwhile go into the next batch
 * (group commit). One batch at most is in flight; *buf stays valid until
 * durable_sync_end. Returns 1 (a batch to write; *len may be 0: only the
 * sync), 0 when nothing is pending, -EBUSY when a batch is in flight, or
 * the handle's error. A batch in flight at durable_sync, durable_compact or
 * durable_close is written again and synced on the calling thread first.
 */
int durable_sync_begin(struct durable *d, const uint8_t **buf, size_t *len, uint64_t *off);
/*
 * The results of the batch's write (bytes or -errno) and fdatasync (0 or
 * -errno; ignored when the write failed or was short: the rest is then
 * written and synced here; > 0: neither ran, both are done here). Returns 0 — the batch is on disk, *sync_ns (when
 * not NULL) is the time since durable_sync_begin — or -errno, and the handle
 * is broken (FAILURES).
 */
int durable_sync_end(struct durable *d, ssize_t wres, int fres, uint64_t *sync_ns);
bool durable_sync_in_flight(const struct durable *d);
/* The log's file descriptor (changes at compaction). */
int durable_fd(const struct durable *d);

/*
 * Rewrites the log from a snapshot of the live state. next fills *r with
 * the next live key and returns 1, returns 0 at the end, or a negative
 * errno to abort (the old log is kept). The snapshot must include every
 * appended record's effect; pending records are synced to the old log
 * first, so a crash mid-compaction loses nothing. Returns 0 or -errno /
 * next's error; on failure the old log stays in use.
 */
int durable_compact(struct durable *d, int (*next)(void *arg, struct durable_rec *r), void *arg);

/*
 * True when compaction is worth it: the log is at least 1 MiB and either
 * more than 4x the live estimate, or holds more than 64 MiB of garbage
 * (log minus live).
 */
bool durable_should_compact(const struct durable *d);

void durable_get_stats(const struct durable *d, struct durable_stats *st);

/* The message of the last error on this handle ("" when none). */
const char *durable_errmsg(const struct durable *d);

/*
 * Syncs pending records (best effort: its result is returned) and frees the
 * handle; NULL is ignored and returns 0.
 */
int durable_close(struct durable *d);

/* CRC-32C (Castagnoli) of buf, continuing from crc (0 to start). */
uint32_t durable_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same by table alone, whatever the CPU has (tests). */
uint32_t durable_crc32c_table(uint32_t crc, const void *buf, size_t len);

#endif

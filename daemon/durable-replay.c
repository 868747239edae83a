// SPDX-License-Identifier: MIT
/*
 * durable-replay.c — reading the durable acceptor log back: decoding and
 * checking records, the damage rules at open (durable.h) and the replay.
 * The record layout is in durable.c, which writes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable-internal.h"

/* Little-endian helpers: the file is portable between hosts. */
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Decodes a payload whose CRC has been checked. Returns false if malformed. */
static bool rec_decode(const uint8_t *q, uint32_t plen, struct durable_rec *r)
{
	if (plen < DURABLE_REC_FIXED)
		return false;
	uint8_t fl = q[0];
	uint32_t blen = q[1], klen = get16(q + 2), alen = get32(q + 4), clen = get32(q + 8);

	if (fl & ~REC_F_ALL)
		return false;
	memset(r, 0, sizeof(*r));
	r->has_accepted = fl & REC_F_HAS_ACCEPTED;
	r->chosen = fl & REC_F_CHOSEN;
	bool same = fl & REC_F_CHOSEN_IS_ACCEPTED;
	if (same && (!r->has_accepted || !r->chosen || clen))
		return false;
	if (alen > DURABLE_MAX_VALUE || clen > DURABLE_MAX_VALUE)
		return false;
	if ((uint64_t)DURABLE_REC_FIXED + blen + klen + alen + clen != plen)
		return false;
	r->promised.node = get32(q + 12);
	r->gen = get64(q + 16);
	r->promised.round = get64(q + 24);
	r->accepted.round = get64(q + 32);
	r->accepted.node = get32(q + 40);
	r->chosen_ballot.node = get32(q + 44);
	r->chosen_ballot.round = get64(q + 48);
	r->max_round = get64(q + 56);
	const uint8_t *v = q + DURABLE_REC_FIXED;
	r->bucket = (struct pkv_bytes){ v, blen };
	v += blen;
	r->key = (struct pkv_bytes){ v, klen };
	v += klen;
	r->accepted_value = (struct pkv_bytes){ v, alen };
	v += alen;
	r->chosen_value = same ? r->accepted_value : (struct pkv_bytes){ v, clen };
	return durable_rec_ok(r);
}

/*
 * Checks the record at p (avail bytes to the end of the file). Returns NULL
 * when it is intact (and fills *size, *batch, and *r when r is non-NULL),
 * else what is wrong with it.
 */
static const char *frame_check(const uint8_t *p, size_t avail, size_t *size, uint64_t *batch,
			       struct durable_rec *r)
{
	struct durable_rec tmp;

	if (avail < DURABLE_FRAME_HEADER)
		return "frame header cut short";
	uint32_t plen = get32(p + 4);
	/* Cheap tests first: the resync scan calls this at every byte. */
	if (plen > DURABLE_MAX_PAYLOAD || get16(p + 12) != DURABLE_REC_KEY || get16(p + 14) != 0 ||
	    durable_crc32c(0, p + 4, DURABLE_FRAME_HEADER - 4) != get32(p))
		return "frame header check failed";
	if (plen > avail - DURABLE_FRAME_HEADER)
		return "record runs past the end of the file";
	if (durable_crc32c(0, p + DURABLE_FRAME_HEADER, plen) != get32(p + 8))
		return "payload check failed";
	if (!rec_decode(p + DURABLE_FRAME_HEADER, plen, r ? r : &tmp))
		return "payload malformed";
	*size = DURABLE_FRAME_HEADER + plen;
	*batch = get64(p + 16);
	return NULL;
}

int durable_read_file(int fd, uint8_t **out, size_t *outlen)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return -errno;
	size_t n = (size_t)sb.st_size;
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return -ENOMEM;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = -errno;
			free(b);
			return rc;
		}
		if (r == 0)
			break; /* shrank under us: what we have is the file */
		got += (size_t)r;
	}
	*out = b;
	*outlen = got;
	return 0;
}

/*
 * Applies the damage rules to the file in buf. Returns 0 with *valid_end set
 * (the offset to truncate at; == len when undamaged), or -EBADMSG with err
 * set. Fills the live table and the replay count.
 */
int durable_log_scan(struct durable *d, const uint8_t *buf, size_t len, size_t *valid_end,
		     char *err, size_t errlen)
{
	const char *path = DURABLE_LOG_NAME;

	if (len < DURABLE_FILE_HEADER || memcmp(buf, durable_magic, 8) != 0 ||
	    get32(buf + 36) != durable_crc32c(0, buf, 36)) {
		durable_set_err(err, errlen,
				"durable: %s/%s: bad file header at offset 0 (not an acceptor "
				"log, or corrupt); refusing to start: move it aside to start "
				"without durable state",
				d->dir, path);
		return -EBADMSG;
	}
	if (get32(buf + 8) != DURABLE_FORMAT_VERSION || get32(buf + 12) || get32(buf + 32)) {
		durable_set_err(err, errlen, "durable: %s/%s: unknown format version %u", d->dir,
				path, get32(buf + 8));
		return -EBADMSG;
	}
	uint64_t first = get64(buf + 16), snap = get64(buf + 24);
	if (first == 0 || snap > len - DURABLE_FILE_HEADER) {
		durable_set_err(err, errlen,
				"durable: %s/%s: file header names %llu snapshot bytes but the "
				"file holds %zu; refusing to start",
				d->dir, path, (unsigned long long)snap, len - DURABLE_FILE_HEADER);
		return -EBADMSG;
	}
	size_t snap_end = DURABLE_FILE_HEADER + (size_t)snap;
	uint64_t prev = first - 1; /* batch of the last intact record */
	size_t off = DURABLE_FILE_HEADER;
	struct durable_rec r;

	while (off < len) {
		size_t size;
		uint64_t batch;
		const char *why = frame_check(buf + off, len - off, &size, &batch, &r);
		if (!why && off < snap_end && (batch != first || size > snap_end - off))
			why = "snapshot record out of place";
		if (!why && off >= snap_end && batch != prev && batch != prev + 1)
			why = "batch number out of sequence";
		if (why) {
			if (off < snap_end) {
				durable_set_err(err, errlen,
						"durable: %s/%s: corrupt record at offset %zu (%s) "
						"inside the compacted snapshot, which was synced "
						"before use; refusing to start: move the file "
						"aside to start without durable state",
						d->dir, path, off, why);
				return -EBADMSG;
			}
			/* Rule 3: look for intact records past the damage. */
			uint64_t later = 0;
			size_t later_off = 0;
			bool mixed = false;
			for (size_t p = off + 1; p + DURABLE_FRAME_HEADER <= len;) {
				size_t sz;
				uint64_t b;
				if (frame_check(buf + p, len - p, &sz, &b, NULL)) {
					p++;
					continue;
				}
				if (!later_off) {
					later = b;
					later_off = p;
				} else if (b != later) {
					mixed = true;
					break;
				}
				p += sz;
			}
			if (later_off && (mixed || (later != prev && later != prev + 1))) {
				durable_set_err(err, errlen,
						"durable: %s/%s: corrupt record at offset %zu (%s) "
						"with intact records of %s at offset %zu and "
						"after, so this is not a torn write; refusing to "
						"start: truncating here would lose promises. Move "
						"the file aside to start without durable state",
						d->dir, path, off, why,
						mixed ? "several later batches"
						      : "an older or later batch",
						later_off);
				return -EBADMSG;
			}
			*valid_end = off;
			return 0;
		}
		int rc =
		    durable_live_put(&d->live, durable_live_hash(r.bucket, r.key), (uint32_t)size);
		if (rc) {
			durable_set_err(err, errlen, "durable: out of memory reading %s/%s", d->dir,
					path);
			return rc;
		}
		d->st.records_replayed++;
		prev = batch;
		off += size;
	}
	if (off < snap_end) {
		durable_set_err(err, errlen,
				"durable: %s/%s: snapshot ends inside a record; refusing", d->dir,
				path);
		return -EBADMSG;
	}
	*valid_end = len;
	return 0;
}

/* The batch the next records get: one past the last intact record. */
uint64_t durable_next_batch(const uint8_t *buf, size_t end)
{
	uint64_t first = get64(buf + 16), last = first - 1;
	size_t off = DURABLE_FILE_HEADER;

	while (off < end) {
		last = get64(buf + off + 16);
		off += DURABLE_FRAME_HEADER + get32(buf + off + 4);
	}
	return last + 1;
}

void durable_replay_release(struct durable *d)
{
	free(d->replay);
	d->replay = NULL;
	d->replay_gone = true;
}

int durable_replay(struct durable *d, int (*apply)(void *arg, const struct durable_rec *r),
		   void *arg)
{
	if (d->replay_gone)
		return -EINVAL;
	size_t off = DURABLE_FILE_HEADER;
	int rc = 0;

	while (off < d->replay_len) {
		struct durable_rec r;
		size_t size;
		uint64_t batch;
		/* Checked by open already; checking again costs little and
		 * keeps this loop honest if the two ever drift apart. */
		if (frame_check(d->replay + off, d->replay_len - off, &size, &batch, &r)) {
			rc = -EBADMSG;
			break;
		}
		rc = apply(arg, &r);
		if (rc)
			break;
		off += size;
	}
	durable_replay_release(d);
	return rc;
}

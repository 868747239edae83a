// SPDX-License-Identifier: MIT
/*
 * durable.c — the durable acceptor log (format and rules in durable.h); the
 * reading side, the damage rules and replay, is in durable-replay.c.
 *
 * Key record payload (DURABLE_REC_KEY), little-endian:
 *    0 u8  flags (REC_F_*)        1 u8  bucket length
 *    2 u16 key length             4 u32 accepted value length
 *    8 u32 chosen value length   12 u32 promised.node
 *   16 u64 gen                   24 u64 promised.round
 *   32 u64 accepted.round        40 u32 accepted.node
 *   44 u32 chosen.node           48 u64 chosen.round
 *   56 u64 max_round
 *   64 bucket, key, accepted value, chosen value (elided when
 *      REC_F_CHOSEN_IS_ACCEPTED: the learner's value is the accepted one,
 *      the common case, which halves the record)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "durable-internal.h"

/* Past this many pending bytes, durable_append writes them out (no sync). */
#define DURABLE_FLUSH_BYTES (1u << 20)
/*
 * The zeros written ahead of the records (docs/design.md §6.3): a batch
 * that ends within DURABLE_ZERO_LOW of them carries DURABLE_ZERO_AHEAD more,
 * so nearly every batch overwrites blocks the file already has, and its
 * fdatasync flushes data only, no size change through the journal.
 */
#define DURABLE_ZERO_AHEAD (256u << 10)
#define DURABLE_ZERO_LOW (64u << 10)

const char durable_magic[8] = { 'P', 'K', 'V', 'D', 'L', 'O', 'G', 0 };

static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xffu] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction is CRC-32C: 8 bytes a step, the same result. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
							    size_t len)
{
	uint64_t c = crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	crc = (uint32_t)c;
	while (len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

/* Every record is summed on append and on replay: the instruction where the
 * CPU has it (a durable put's CPU spent a percent or two in the table's
 * loop). Tested against the check value both ways (test-durable.c). */
uint32_t durable_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_sw(~crc, buf, len);
}

uint32_t durable_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	static int hw = -1;
	if (hw < 0)
		hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	if (hw)
		return ~crc32c_hw(~crc, buf, len);
#endif
	return durable_crc32c_table(crc, buf, len);
}

/* Little-endian helpers: the file is portable between hosts. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t durable_live_hash(struct pkv_bytes bucket, struct pkv_bytes key)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	h = (h ^ bucket.len) * 0x100000001b3ull;
	for (uint32_t i = 0; i < bucket.len; i++)
		h = (h ^ bucket.p[i]) * 0x100000001b3ull;
	for (uint32_t i = 0; i < key.len; i++)
		h = (h ^ key.p[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return h ? h : 1;
}

static void live_free(struct live_table *t)
{
	free(t->keys);
	free(t->sizes);
	memset(t, 0, sizeof(*t));
}

static int live_grow(struct live_table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	uint64_t *nk = calloc(ncap, sizeof(*nk));
	uint32_t *ns = calloc(ncap, sizeof(*ns));

	if (!nk || !ns) {
		free(nk);
		free(ns);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->keys[i])
			continue;
		size_t j = t->keys[i] & (ncap - 1);
		while (nk[j])
			j = (j + 1) & (ncap - 1);
		nk[j] = t->keys[i];
		ns[j] = t->sizes[i];
	}
	free(t->keys);
	free(t->sizes);
	t->keys = nk;
	t->sizes = ns;
	t->cap = ncap;
	return 0;
}

int durable_live_put(struct live_table *t, uint64_t h, uint32_t size)
{
	if ((t->count + 1) * 10 > t->cap * 7) {
		int rc = live_grow(t);
		if (rc)
			return rc;
	}
	size_t j = h & (t->cap - 1);
	while (t->keys[j] && t->keys[j] != h)
		j = (j + 1) & (t->cap - 1);
	if (t->keys[j]) {
		t->bytes -= t->sizes[j];
	} else {
		t->keys[j] = h;
		t->count++;
	}
	t->sizes[j] = size;
	t->bytes += size;
	return 0;
}

void durable_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

#define DERR(d, ...) durable_set_err((d)->errmsg, sizeof((d)->errmsg), __VA_ARGS__)

bool durable_rec_ok(const struct durable_rec *r)
{
	if (r->bucket.len < 1 || r->bucket.len > PKV_MAX_BUCKET || !r->bucket.p)
		return false;
	if (r->key.len < 1 || r->key.len > PKV_MAX_KEY || !r->key.p)
		return false;
	if (r->has_accepted ? r->accepted_value.len > DURABLE_MAX_VALUE : r->accepted_value.len != 0)
		return false;
	if (r->chosen ? r->chosen_value.len > DURABLE_MAX_VALUE : r->chosen_value.len != 0)
		return false;
	if ((r->accepted_value.len && !r->accepted_value.p) ||
	    (r->chosen_value.len && !r->chosen_value.p))
		return false;
	return true;
}

static bool chosen_is_accepted(const struct durable_rec *r)
{
	return r->has_accepted && r->chosen &&
	       pkv_ballot_cmp(r->accepted, r->chosen_ballot) == 0 &&
	       r->accepted_value.len == r->chosen_value.len &&
	       (r->accepted_value.len == 0 ||
		memcmp(r->accepted_value.p, r->chosen_value.p, r->accepted_value.len) == 0);
}

/* Framed size of a record (header + payload). */
static size_t rec_size(const struct durable_rec *r)
{
	size_t n = DURABLE_FRAME_HEADER + DURABLE_REC_FIXED + r->bucket.len + r->key.len +
		   r->accepted_value.len;
	if (r->chosen && !chosen_is_accepted(r))
		n += r->chosen_value.len;
	return n;
}

/* Writes the framed record at p (rec_size(r) bytes). */
static void rec_encode(uint8_t *p, const struct durable_rec *r, uint64_t batch)
{
	bool same = chosen_is_accepted(r);
	uint32_t clen = r->chosen && !same ? r->chosen_value.len : 0;
	uint8_t *q = p + DURABLE_FRAME_HEADER;
	uint32_t plen = (uint32_t)(rec_size(r) - DURABLE_FRAME_HEADER);

	q[0] = (uint8_t)((r->has_accepted ? REC_F_HAS_ACCEPTED : 0) |
			 (r->chosen ? REC_F_CHOSEN : 0) | (same ? REC_F_CHOSEN_IS_ACCEPTED : 0));
	q[1] = (uint8_t)r->bucket.len;
	put16(q + 2, (uint16_t)r->key.len);
	put32(q + 4, r->accepted_value.len);
	put32(q + 8, clen);
	put32(q + 12, r->promised.node);
	put64(q + 16, r->gen);
	put64(q + 24, r->promised.round);
	put64(q + 32, r->accepted.round);
	put32(q + 40, r->accepted.node);
	put32(q + 44, r->chosen_ballot.node);
	put64(q + 48, r->chosen_ballot.round);
	put64(q + 56, r->max_round);
	uint8_t *v = q + DURABLE_REC_FIXED;
	memcpy(v, r->bucket.p, r->bucket.len);
	v += r->bucket.len;
	memcpy(v, r->key.p, r->key.len);
	v += r->key.len;
	if (r->accepted_value.len)
		memcpy(v, r->accepted_value.p, r->accepted_value.len);
	v += r->accepted_value.len;
	if (clen)
		memcpy(v, r->chosen_value.p, clen);

	put32(p + 4, plen);
	put32(p + 8, durable_crc32c(0, q, plen));
	put16(p + 12, DURABLE_REC_KEY);
	put16(p + 14, 0);
	put64(p + 16, batch);
	put32(p, durable_crc32c(0, p + 4, DURABLE_FRAME_HEADER - 4));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int fsync_dir(struct durable *d)
{
	return fsync(d->dirfd) ? -errno : 0;
}

static void file_header(uint8_t *h, uint64_t first_batch, uint64_t snapshot_bytes)
{
	memcpy(h, durable_magic, 8);
	put32(h + 8, DURABLE_FORMAT_VERSION);
	put32(h + 12, 0);
	put64(h + 16, first_batch);
	put64(h + 24, snapshot_bytes);
	put32(h + 32, 0);
	put32(h + 36, durable_crc32c(0, h, 36));
}

/* Opens the temp file, locked, truncated. Returns the fd or -errno. */
static int tmp_open(struct durable *d)
{
	int fd = openat(d->dirfd, DURABLE_TMP_NAME, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int rc = -errno;
		close(fd);
		unlinkat(d->dirfd, DURABLE_TMP_NAME, 0);
		return rc;
	}
	return fd;
}

/* fsyncs the temp file, renames it over the log, fsyncs the directory. */
static int tmp_commit(struct durable *d, int fd, bool *renamed)
{
	*renamed = false;
	if (fsync(fd) != 0)
		return -errno;
	if (renameat(d->dirfd, DURABLE_TMP_NAME, d->dirfd, DURABLE_LOG_NAME) != 0)
		return -errno;
	*renamed = true;
	return fsync_dir(d);
}

/* Makes a new, empty log (header only) through the temp file. */
static int log_create(struct durable *d, char *err, size_t errlen)
{
	uint8_t h[DURABLE_FILE_HEADER];
	bool renamed;
	int fd = tmp_open(d);

	if (fd < 0) {
		durable_set_err(err, errlen, "durable: cannot create %s/%s: %s", d->dir,
				DURABLE_TMP_NAME, strerror(-fd));
		return fd;
	}
	file_header(h, 1, 0);
	int rc = write_all(fd, h, sizeof(h), 0);
	if (!rc)
		rc = tmp_commit(d, fd, &renamed);
	if (rc) {
		durable_set_err(err, errlen, "durable: cannot create %s/%s: %s", d->dir,
				DURABLE_LOG_NAME, strerror(-rc));
		close(fd);
		unlinkat(d->dirfd, DURABLE_TMP_NAME, 0);
		return rc;
	}
	d->fd = fd;
	return 0;
}

static bool zeros_only(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int durable_open(struct durable **out, const char *dir, char *err, size_t errlen)
{
	struct durable *d = calloc(1, sizeof(*d));
	size_t len = 0, end = 0;
	int rc;

	*out = NULL;
	durable_set_err(err, errlen, "%s", "");
	if (!d || !(d->dir = strdup(dir))) {
		free(d);
		durable_set_err(err, errlen, "durable: out of memory");
		return -ENOMEM;
	}
	d->fd = -1;
	d->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		rc = -errno;
		durable_set_err(err, errlen, "durable: cannot open directory %s: %s", dir,
				strerror(-rc));
		goto fail;
	}
	/* A temp file is a compaction that never reached its rename: the log
	 * beside it is complete, the temp file is garbage. */
	if (unlinkat(d->dirfd, DURABLE_TMP_NAME, 0) != 0 && errno != ENOENT) {
		rc = -errno;
		durable_set_err(err, errlen, "durable: cannot remove %s/%s: %s", dir,
				DURABLE_TMP_NAME, strerror(-rc));
		goto fail;
	}
	d->fd = openat(d->dirfd, DURABLE_LOG_NAME, O_RDWR | O_CLOEXEC);
	if (d->fd < 0 && errno == ENOENT) {
		rc = log_create(d, err, errlen);
		if (rc)
			goto fail;
		d->st.created = true;
	} else if (d->fd < 0) {
		rc = -errno;
		durable_set_err(err, errlen, "durable: cannot open %s/%s: %s", dir,
				DURABLE_LOG_NAME, strerror(-rc));
		goto fail;
	} else if (flock(d->fd, LOCK_EX | LOCK_NB) != 0) {
		rc = -errno;
		durable_set_err(err, errlen, "durable: %s/%s: %s", dir, DURABLE_LOG_NAME,
				rc == -EWOULDBLOCK ? "in use by another daemon (locked)"
						   : strerror(-rc));
		goto fail;
	}

	rc = durable_read_file(d->fd, &d->replay, &len);
	if (rc) {
		durable_set_err(err, errlen, "durable: cannot read %s/%s: %s", dir,
				DURABLE_LOG_NAME, strerror(-rc));
		goto fail;
	}
	rc = durable_log_scan(d, d->replay, len, &end, err, errlen);
	if (rc)
		goto fail;
	/* Past the last whole record, zeros only are the zeros written ahead:
	 * kept, the next batch overwrites them. Anything else is a torn tail. */
	d->alloc_end = len;
	if (end < len && !zeros_only(d->replay + end, len - end)) {
		/* Cut it and make the cut durable before any append lands after
		 * it. */
		d->alloc_end = end;
		if (ftruncate(d->fd, (off_t)end) != 0 || fsync(d->fd) != 0) {
			rc = -errno;
			durable_set_err(err, errlen,
					"durable: cannot truncate the torn tail of %s/%s: %s", dir,
					DURABLE_LOG_NAME, strerror(-rc));
			goto fail;
		}
		d->st.torn_bytes = len - end;
	}
	d->file_size = end;
	d->synced_size = end;
	d->batch = durable_next_batch(d->replay, end);
	d->replay_len = end;
	*out = d;
	return 0;
fail:
	durable_close(d);
	return rc;
}

/* Writes the pending buffer (no sync). */
static int flush(struct durable *d)
{
	if (!d->len)
		return 0;
	int rc = write_all(d->fd, d->buf, d->len, d->file_size);
	if (rc) {
		DERR(d, "durable: write to %s/%s failed: %s", d->dir, DURABLE_LOG_NAME,
		     strerror(-rc));
		/* Best effort: do not leave half a batch for the next start. */
		if (ftruncate(d->fd, (off_t)d->file_size) != 0) {
			/* nothing more to do: the handle is broken either way */
		}
		d->alloc_end = d->file_size;
		d->broken = rc;
		return rc;
	}
	d->file_size += d->len;
	if (d->alloc_end < d->file_size)
		d->alloc_end = d->file_size;
	d->len = 0;
	return 0;
}

int durable_append(struct durable *d, const struct durable_rec *r)
{
	if (d->broken)
		return d->broken;
	if (!durable_rec_ok(r))
		return -EINVAL;
	if (d->replay)
		durable_replay_release(d);
	size_t n = rec_size(r);
	if (d->len + n > d->cap) {
		size_t ncap = d->cap ? d->cap : 4096;
		while (ncap < d->len + n)
			ncap *= 2;
		uint8_t *nb = realloc(d->buf, ncap);
		if (!nb)
			return -ENOMEM;
		d->buf = nb;
		d->cap = ncap;
	}
	int rc = durable_live_put(&d->live, durable_live_hash(r->bucket, r->key), (uint32_t)n);
	if (rc)
		return rc;
	rec_encode(d->buf + d->len, r, d->batch);
	d->len += n;
	d->st.records_appended++;
	d->st.bytes_appended += n;
	/* Not while a batch is in flight: two unsynced batches on disk would
	 * break the torn-tail rule (at most the last batch may be torn). */
	if (d->len >= DURABLE_FLUSH_BYTES && !d->in_flight)
		return flush(d);
	return 0;
}

/* Writes len bytes at off and syncs them, on this thread; a failure breaks
 * the handle. */
static int write_sync_here(struct durable *d, const uint8_t *p, size_t len, uint64_t off)
{
	int rc = write_all(d->fd, p, len, off);
	if (!rc && fdatasync(d->fd) != 0)
		rc = -errno;
	if (rc) {
		DERR(d, "durable: writing %s/%s failed: %s", d->dir, DURABLE_LOG_NAME,
		     strerror(-rc));
		d->broken = rc;
	}
	return rc;
}

/* Writes an in-flight batch again at its offset and syncs it, on this thread
 * (idempotent: the same bytes at the same place). */
static int settle_in_flight(struct durable *d)
{
	if (!d->in_flight)
		return 0;
	int rc = write_sync_here(d, d->fl_buf, d->fl_wlen, d->fl_off);
	if (rc)
		return rc;
	d->in_flight = false;
	d->synced_size = d->fl_off + d->fl_len;
	return 0;
}

int durable_sync_begin(struct durable *d, const uint8_t **buf, size_t *len, uint64_t *off)
{
	if (d->broken)
		return d->broken;
	if (d->in_flight)
		return -EBUSY;
	if (d->replay)
		durable_replay_release(d);
	if (!d->len && d->file_size == d->synced_size)
		return 0;
	/* The pending buffer becomes the batch in flight; the (empty) old
	 * batch buffer takes the next records. */
	uint8_t *b = d->fl_buf;
	size_t c = d->fl_cap;
	d->fl_buf = d->buf;
	d->fl_cap = d->cap;
	d->fl_len = d->len;
	d->fl_off = d->file_size;
	d->buf = b;
	d->cap = c;
	d->len = 0;
	d->file_size += d->fl_len;
	d->fl_wlen = d->fl_len;
	if (d->file_size + DURABLE_ZERO_LOW > d->alloc_end) {
		/* Zeros ahead, written and synced with this batch (the one sync in
		 * DURABLE_ZERO_AHEAD bytes of log that changes the file's size).
		 * Without memory for them the batch only appends. */
		size_t want = d->fl_len + DURABLE_ZERO_AHEAD;
		if (want > d->fl_cap) {
			uint8_t *nb = realloc(d->fl_buf, want);
			if (nb) {
				d->fl_buf = nb;
				d->fl_cap = want;
			}
		}
		if (want <= d->fl_cap) {
			memset(d->fl_buf + d->fl_len, 0, DURABLE_ZERO_AHEAD);
			d->fl_wlen = want;
		}
	}
	if (d->alloc_end < d->fl_off + d->fl_wlen)
		d->alloc_end = d->fl_off + d->fl_wlen;
	d->fl_t0 = now_ns();
	d->in_flight = true;
	d->batch++;
	*buf = d->fl_buf;
	*len = d->fl_wlen;
	*off = d->fl_off;
	return 1;
}

int durable_sync_end(struct durable *d, ssize_t wres, int fres, uint64_t *sync_ns)
{
	if (!d->in_flight)
		return d->broken ? d->broken : -EINVAL;
	int rc = 0;
	bool finish_here = wres >= 0 && ((size_t)wres < d->fl_wlen || fres > 0);
	if (wres < 0 || (fres < 0 && !finish_here)) {
		/* After a failed fdatasync the kernel may have dropped the dirty
		 * pages and a retry could report success: never retry. */
		rc = wres < 0 ? (int)wres : fres;
		DERR(d, "durable: %s of %s/%s failed: %s", wres < 0 ? "write" : "fdatasync",
		     d->dir, DURABLE_LOG_NAME, strerror(-rc));
		d->broken = rc;
		d->in_flight = false;
		return rc;
	}
	if (finish_here) {
		/* A short write (the chain's sync did not run), or no chain at
		 * all (fres > 0): the rest and the sync here. */
		rc = write_sync_here(d, d->fl_buf + wres, d->fl_wlen - (size_t)wres,
				     d->fl_off + (uint64_t)wres);
		if (rc) {
			d->in_flight = false;
			return rc;
		}
	}
	d->in_flight = false;
	d->synced_size = d->fl_off + d->fl_len;
	uint64_t ns = now_ns() - d->fl_t0;
	d->st.sync_ns += ns;
	d->st.syncs++;
	if (sync_ns)
		*sync_ns = ns;
	return 0;
}

int durable_fd(const struct durable *d)
{
	return d->fd;
}

bool durable_sync_in_flight(const struct durable *d)
{
	return d->in_flight;
}

int durable_sync(struct durable *d)
{
	if (d->broken)
		return d->broken;
	if (d->replay)
		durable_replay_release(d);
	int src = settle_in_flight(d);
	if (src)
		return src;
	if (!d->len && d->file_size == d->synced_size)
		return 0;
	uint64_t t0 = now_ns();
	int rc = flush(d);
	if (rc)
		return rc;
	if (fdatasync(d->fd) != 0) {
		/* After a failed fdatasync the kernel may have dropped the dirty
		 * pages and a retry could report success: never retry. */
		rc = -errno;
		DERR(d, "durable: fdatasync of %s/%s failed: %s", d->dir, DURABLE_LOG_NAME,
		     strerror(-rc));
		d->broken = rc;
		return rc;
	}
	d->st.sync_ns += now_ns() - t0;
	d->st.syncs++;
	d->synced_size = d->file_size;
	d->batch++;
	return 0;
}

int durable_compact(struct durable *d, int (*next)(void *arg, struct durable_rec *r), void *arg)
{
	struct live_table nl = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t off = DURABLE_FILE_HEADER;
	bool renamed = false;
	int rc = durable_sync(d);

	if (rc)
		return rc;
	int fd = tmp_open(d);
	if (fd < 0) {
		DERR(d, "durable: cannot create %s/%s: %s", d->dir, DURABLE_TMP_NAME,
		     strerror(-fd));
		return fd;
	}
	for (;;) {
		struct durable_rec r;
		memset(&r, 0, sizeof(r));
		rc = next(arg, &r);
		if (rc <= 0)
			break;
		if (!durable_rec_ok(&r)) {
			rc = -EINVAL;
			break;
		}
		size_t n = rec_size(&r);
		if (len + n > cap) {
			size_t ncap = cap ? cap : 65536;
			while (ncap < len + n)
				ncap *= 2;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		rc = durable_live_put(&nl, durable_live_hash(r.bucket, r.key), (uint32_t)n);
		if (rc)
			break;
		rec_encode(buf + len, &r, d->batch);
		len += n;
		if (len >= DURABLE_FLUSH_BYTES) {
			rc = write_all(fd, buf, len, off);
			if (rc)
				break;
			off += len;
			len = 0;
		}
	}
	if (!rc && len) {
		rc = write_all(fd, buf, len, off);
		off += len;
	}
	if (!rc) {
		uint8_t h[DURABLE_FILE_HEADER];
		file_header(h, d->batch, off - DURABLE_FILE_HEADER);
		rc = write_all(fd, h, sizeof(h), 0);
	}
	if (!rc)
		rc = tmp_commit(d, fd, &renamed);
	free(buf);
	if (rc && !renamed) {
		DERR(d, "durable: compaction of %s/%s failed: %s", d->dir, DURABLE_LOG_NAME,
		     strerror(-rc));
		close(fd);
		unlinkat(d->dirfd, DURABLE_TMP_NAME, 0);
		live_free(&nl);
		return rc;
	}
	/* From the rename on, the new file is the log. */
	close(d->fd);
	d->fd = fd;
	d->file_size = off;
	d->alloc_end = off;
	d->synced_size = off;
	live_free(&d->live);
	d->live = nl;
	if (off > DURABLE_FILE_HEADER)
		d->batch++;
	if (rc) {
		/* The rename may not survive a crash, and records appended to
		 * the new file would vanish with it: stop here. */
		DERR(d, "durable: fsync of directory %s after compaction failed: %s", d->dir,
		     strerror(-rc));
		d->broken = rc;
		return rc;
	}
	d->st.compactions++;
	return 0;
}

bool durable_should_compact(const struct durable *d)
{
	uint64_t log = d->file_size + d->len, live = d->live.bytes;

	if (log < DURABLE_COMPACT_MIN_BYTES)
		return false;
	return log > DURABLE_COMPACT_RATIO * live ||
	       (log > live && log - live > DURABLE_COMPACT_GARBAGE_BYTES);
}

void durable_get_stats(const struct durable *d, struct durable_stats *st)
{
	*st = d->st;
	st->log_bytes = d->file_size;
	st->pending_bytes = d->len;
	st->live_bytes = d->live.bytes;
	st->live_keys = d->live.count;
}

const char *durable_errmsg(const struct durable *d)
{
	return d->errmsg;
}

int durable_close(struct durable *d)
{
	int rc = 0;

	if (!d)
		return 0;
	if (d->fd >= 0) {
		rc = durable_sync(d);
		close(d->fd);
	}
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d->replay);
	free(d->buf);
	free(d->fl_buf);
	live_free(&d->live);
	free(d->dir);
	free(d);
	return rc;
}

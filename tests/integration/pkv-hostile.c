// SPDX-License-Identifier: MIT
/*
 * pkv-hostile — a local client that attacks its daemon's shared memory, an
 * honest client to run beside it, and a checker of the learner cache, for
 * tests/integration/test-hostile-client-scribbles-segment.sh. Every loop
 * is bounded in time; it signals nothing. Prints "FAIL: ..." and exits 1 on
 * the first broken rule (the hostile mode finishes its run first, so that
 * what it could do shows).
 *
 *   pkv-hostile hostile SOCKET SECONDS
 *	attaches on the control socket as the library does (the raw protocol of
 *	include/pkv-shm.h "Attach"), then tries to get write access to every
 *	descriptor it received but its own area: a writable MAP_SHARED mapping,
 *	mprotect(PROT_WRITE) of a read-only one, the same through a read-write
 *	reopen of /proc/self/fd/N, pwrite, a punched hole, ftruncate. Every one
 *	must fail. Then, for SECONDS, it writes random bytes over every byte it
 *	could map writable (its own area, the post word included), rings its
 *	doorbell and drains it again. Prints the bytes written.
 *   pkv-hostile honest NODE SECONDS ID
 *	puts and gets its own keys (bucket "hostile-test", key hID-N, value
 *	value-of-hID-N) through the public library for SECONDS: every answer
 *	must be OK and the value put, cached or not. Prints the answers.
 *   pkv-hostile check-cache SOCKET
 *	attaches, maps the segment read-only and reads every live entry of the
 *	learner cache under its stripe's seqlock: each must be a key of bucket
 *	"hostile-test" with the value the honest clients put, under the tag
 *	its bucket and key hash to. Prints the entries checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "paxoskv.h"
#include "pkv-ctl.h"
#include "pkv-shm.h"

#define BUCKET "hostile-test"
#define MAX_FDS 8

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("FAIL: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	exit(1);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- the raw attach ---------------------------------------------------------- */

struct attached {
	int ctl;
	int fds[MAX_FDS];
	unsigned nfds;
	uint64_t size; /* the segment's, from the reply */
};

static void attach_raw(const char *path, struct attached *a)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		fail("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	a->ctl = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (a->ctl < 0 || connect(a->ctl, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect %s: %s", path, strerror(errno));
	struct ctl_req rq = {.magic = CTL_MAGIC, .op = CTL_OP_ATTACH};
	if (send(a->ctl, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq))
		fail("send attach: %s", strerror(errno));
	union {
		struct pkv_shm_attach_rep rep;
		uint8_t raw[512];
	} buf;
	memset(&buf, 0, sizeof(buf));
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov = {.iov_base = &buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b)};
	ssize_t n = recvmsg(a->ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n < (ssize_t)sizeof(struct ctl_rep) || buf.rep.hdr.magic != CTL_MAGIC ||
	    buf.rep.hdr.status != 0)
		fail("attach refused or malformed (%zd bytes, status %d)", n, buf.rep.hdr.status);
	a->nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && a->nfds < MAX_FDS; i++)
			memcpy(&a->fds[a->nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if (a->nfds < 2)
		fail("attach reply with %u descriptors", a->nfds);
	/* The payload's size field sits at the same place in every layout so far. */
	a->size = buf.rep.size;
}

/* --- hostile ------------------------------------------------------------------- */

struct writable {
	uint8_t *p;
	size_t len;
};

static struct writable wr[4 * MAX_FDS];
static unsigned n_wr;
static unsigned refused, breaches;

static void breach(struct writable w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("FAIL: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	breaches++;
	/* Kept, and scribbled with the rest: what a breach costs shows. */
	if (w.p && n_wr < sizeof(wr) / sizeof(wr[0]))
		wr[n_wr++] = w;
}

static bool is_eventfd(int fd)
{
	char link[64], target[128];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strstr(target, "eventfd") != NULL;
}

/* Every way this process might write descriptor fd of `size` bytes (not its own). */
static void try_write_access(int fd, unsigned i, size_t size)
{
	size_t len = size ? size : 4096;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED)
		breach((struct writable){p, len}, "descriptor %u mapped read-write", i);
	else
		refused++;
	if (size) {
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			fail("descriptor %u cannot even be mapped read-only: %s", i, strerror(errno));
		if (mprotect(p, len, PROT_READ | PROT_WRITE) == 0)
			breach((struct writable){p, len}, "descriptor %u made writable by mprotect", i);
		else
			refused++;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rw = open(path, O_RDWR | O_CLOEXEC);
	if (rw >= 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
		if (p != MAP_FAILED)
			breach((struct writable){p, len},
			       "descriptor %u mapped read-write through a reopen", i);
		else
			refused++;
		close(rw);
	}
	if (is_eventfd(fd))
		return; /* a doorbell: writing it rings, which any client may */
	uint64_t junk = 0x5a5a5a5a5a5a5a5aull;
	if (pwrite(fd, &junk, sizeof(junk), 0) >= 0)
		breach((struct writable){0}, "descriptor %u written with pwrite", i);
	else
		refused++;
	if (size && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0)
		breach((struct writable){0}, "descriptor %u had a hole punched in it", i);
	else
		refused++;
	if (size && ftruncate(fd, 4096) == 0)
		breach((struct writable){0}, "descriptor %u truncated", i);
	else
		refused++;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static int hostile(char **argv)
{
	struct attached a;
	attach_raw(argv[0], &a);
	unsigned seconds = (unsigned)atoi(argv[1]);
	rnd_state ^= (uint64_t)getpid() << 20;
	/* [2] is this client's own area (include/pkv-shm.h "Attach"); no other. */
	int own = a.nfds >= 3 ? a.fds[2] : -1;
	int bell = a.fds[1];
	for (unsigned i = 0; i < a.nfds; i++) {
		struct stat st;
		if (fstat(a.fds[i], &st) < 0)
			fail("fstat descriptor %u: %s", i, strerror(errno));
		if (a.fds[i] == own) {
			void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				       a.fds[i], 0);
			if (p == MAP_FAILED)
				fail("the own area cannot be mapped: %s", strerror(errno));
			wr[n_wr++] = (struct writable){p, (size_t)st.st_size};
			continue;
		}
		try_write_access(a.fds[i], i, (size_t)st.st_size);
	}
	size_t span = 0;
	for (unsigned i = 0; i < n_wr; i++)
		span += wr[i].len;
	printf("# hostile: %u descriptors, %u write attempts refused, %u succeeded; "
	       "%zu bytes mapped writable\n",
	       a.nfds, refused, breaches, span);
	fflush(stdout);

	uint64_t written = 0, passes = 0, rings = 0;
	uint64_t end = mono_ms() + (uint64_t)seconds * 1000u;
	while (mono_ms() < end) {
		for (unsigned i = 0; i < n_wr; i++) {
			uint64_t *w = (uint64_t *)(void *)wr[i].p;
			for (size_t k = 0; k < wr[i].len / 8; k++)
				__atomic_store_n(&w[k], rnd(), __ATOMIC_RELAXED);
			written += wr[i].len / 8 * 8;
		}
		passes++;
		/* Ring, and steal the ring back: only our own bell. */
		uint64_t one = 1, v;
		if (write(bell, &one, sizeof(one)) == (ssize_t)sizeof(one))
			rings++;
		if (read(bell, &v, sizeof(v)) < 0 && errno != EAGAIN)
			fail("read of the doorbell: %s", strerror(errno));
	}
	printf("# hostile: wrote %" PRIu64 " random bytes in %" PRIu64
	       " passes over its writable memory, rang its doorbell %" PRIu64 " times\n",
	       written, passes, rings);
	return breaches ? 1 : 0;
}

/* --- honest ------------------------------------------------------------------------ */

static int honest(char **argv)
{
	const char *node = argv[0];
	unsigned seconds = (unsigned)atoi(argv[1]);
	const char *id = argv[2];
	struct pkv_client *c;
	int r = pkv_open(&c, node);
	if (r != PKV_OK)
		fail("honest %s: open %s: %s (%s)", id, node, pkv_strerror(r), pkv_errmsg());
	struct pkv_value v = PKV_VALUE_INIT;
	uint64_t answered = 0, cached = 0;
	uint64_t end = mono_ms() + (uint64_t)seconds * 1000u;
	for (unsigned i = 0; mono_ms() < end; i++) {
		char key[64], val[96];
		snprintf(key, sizeof(key), "h%s-%u", id, i);
		snprintf(val, sizeof(val), "value-of-%s", key);
		struct pkv_put_opts po = {.bucket = BUCKET, .bucket_len = sizeof(BUCKET) - 1};
		r = pkv_put(c, key, strlen(key), val, strlen(val), &po, &v);
		if (r != PKV_OK || v.len != strlen(val) || memcmp(v.data, val, v.len) != 0)
			fail("honest %s: put %s: %s (%s), value '%.*s'", id, key, pkv_strerror(r),
			     pkv_errmsg(), (int)v.len, v.data ? (const char *)v.data : "");
		answered++;
		/* Read back this key (from the cache) and an older one, cached or not. */
		for (unsigned k = 0; k < 2; k++) {
			unsigned j = k ? (unsigned)(rnd() % (i + 1)) : i;
			snprintf(key, sizeof(key), "h%s-%u", id, j);
			snprintf(val, sizeof(val), "value-of-%s", key);
			struct pkv_get_opts go = {.bucket = BUCKET, .bucket_len = sizeof(BUCKET) - 1,
						  .flags = (j % 4 == 3) ? PKV_GET_NO_CACHE : 0};
			r = pkv_get(c, key, strlen(key), &go, &v);
			if (r != PKV_OK || v.len != strlen(val) || memcmp(v.data, val, v.len) != 0)
				fail("honest %s: get %s: %s (%s), value '%.*s'", id, key,
				     pkv_strerror(r), pkv_errmsg(), (int)v.len,
				     v.data ? (const char *)v.data : "");
			answered++;
			cached += !(go.flags & PKV_GET_NO_CACHE);
		}
	}
	pkv_value_free(&v);
	pkv_close(c);
	printf("# honest %s: %" PRIu64 " requests answered correctly (%" PRIu64
	       " reads that may use the cache)\n",
	       id, answered, cached);
	return 0;
}

/* --- check-cache ------------------------------------------------------------------ */

/* Checks one entry copied out of the cache; returns false if torn (retry). */
static bool check_entry(const struct pkv_shm_entry *e, const uint8_t *heap, uint32_t heap_len)
{
	uint32_t blen = e->bucket_len, klen = e->key_len, vlen = e->value_len;
	uint32_t span = pkv_shm_entry_span(blen, klen, vlen);
	const uint8_t *p;
	if (e->off == PKV_SHM_OFF_INLINE) {
		if (span > PKV_SHM_INLINE)
			return false;
		p = e->inl;
	} else {
		if (e->off > heap_len || span > heap_len - e->off)
			return false;
		p = heap + e->off;
	}
	const uint8_t *bucket = p, *key = p + pkv_shm_key_at(blen),
		      *val = p + pkv_shm_value_at(blen, klen);
	if (pkv_shm_hash(bucket, blen, key, klen) != e->tag)
		fail("cache entry with tag %016" PRIx64 " holds bytes that hash elsewhere", e->tag);
	if (blen != sizeof(BUCKET) - 1 || memcmp(bucket, BUCKET, blen) != 0)
		fail("cache entry of bucket '%.*s': no honest client put it", (int)blen, bucket);
	char want[1200];
	int n = snprintf(want, sizeof(want), "value-of-%.*s", (int)klen, key);
	if (klen < 2 || key[0] != 'h' || n < 0 || (uint32_t)n != vlen || memcmp(val, want, vlen))
		fail("cache entry %.*s holds '%.*s', not what was put", (int)klen, key, (int)vlen,
		     val);
	if (e->gen == 0)
		fail("cache entry %.*s of generation 0", (int)klen, key);
	return true;
}

static int check_cache(char **argv)
{
	struct attached a;
	attach_raw(argv[0], &a);
	const uint8_t *seg = mmap(NULL, a.size, PROT_READ, MAP_SHARED, a.fds[0], 0);
	if (seg == MAP_FAILED)
		fail("mmap of the segment: %s", strerror(errno));
	const struct pkv_shm_header *h = (const void *)seg;
	struct pkv_shm_cache_geom g;
	if (pkv_shm_load_acq(&h->magic) != PKV_SHM_MAGIC ||
	    pkv_shm_cache_layout(h->cache_stripes, h->cache_heap, &g) < 0 || g.size > a.size)
		fail("the segment's header is not a daemon's (magic %016" PRIx64 ", %u stripes)",
		     h->magic, h->cache_stripes);
	static uint8_t heap[PKV_SHM_STRIPE_HEAP_MAX];
	uint64_t checked = 0;
	for (unsigned s = 0; s < g.stripes; s++) {
		const uint32_t *seq = pkv_shm_stripe_seq_at(seg, &g, s);
		const struct pkv_shm_stripe *st = pkv_shm_stripe_at(seg, &g, s);
		for (unsigned tries = 0;; tries++) {
			if (tries > 1000)
				fail("stripe %u never held still", s);
			uint32_t s1 = pkv_shm_load_acq(seq);
			if (s1 & 1u)
				continue;
			struct pkv_shm_stripe copy;
			pkv_shm_copy_out(&copy, st, sizeof(copy));
			pkv_shm_copy_out(heap, pkv_shm_stripe_heap(seg, &g, s), g.heap);
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			if (pkv_shm_load_rlx(seq) != s1)
				continue;
			uint64_t n = 0;
			bool whole = true;
			for (unsigned i = 0; whole && i < PKV_SHM_STRIPE_ENTRIES; i++)
				if (copy.ent[i].tag) {
					whole = check_entry(&copy.ent[i], heap, g.heap);
					n++;
				}
			if (!whole)
				fail("stripe %u holds an entry out of its bounds", s);
			checked += n;
			break;
		}
	}
	if (!checked)
		fail("the cache holds no entry: nothing was checked");
	printf("# cache: %" PRIu64 " entries checked, each the value put for its key\n", checked);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "hostile"))
		return hostile(argv + 2);
	if (argc == 5 && !strcmp(argv[1], "honest"))
		return honest(argv + 2);
	if (argc == 3 && !strcmp(argv[1], "check-cache"))
		return check_cache(argv + 2);
	fprintf(stderr, "usage: pkv-hostile hostile SOCKET SECONDS | honest NODE SECONDS ID |"
			" check-cache SOCKET\n");
	return 2;
}

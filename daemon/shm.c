// SPDX-License-Identifier: MIT
/*
 * shm.c — the daemon's side of the local-attach segment (see
 * include/pkv-shm.h for the layout and the protocols, shm.h for the calls).
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "paxoskv.h"
#include "pkv-ctl.h"

/* The public codes are the daemon's codes, value for value. */
_Static_assert((int)PKV_OK == (int)PKV_S_OK, "status OK");
_Static_assert((int)PKV_NOT_FOUND == (int)PKV_S_NOT_FOUND, "status NOT_FOUND");
_Static_assert((int)PKV_NO_QUORUM == (int)PKV_S_NO_QUORUM, "status NO_QUORUM");
_Static_assert((int)PKV_INVALID_VALUE == (int)PKV_S_INVALID_VALUE, "status INVALID_VALUE");
_Static_assert((int)PKV_TOO_LARGE == (int)PKV_S_TOO_LARGE, "status TOO_LARGE");
_Static_assert((int)PKV_TIMEOUT == (int)PKV_S_TIMEOUT, "status TIMEOUT");
_Static_assert((int)PKV_UNAVAILABLE == (int)PKV_S_UNAVAILABLE, "status UNAVAILABLE");
_Static_assert((int)PKV_BAD_REQUEST == (int)PKV_S_BAD_REQUEST, "status BAD_REQUEST");
_Static_assert((int)PKV_NOT_IN_SYNC == (int)PKV_S_NOT_IN_SYNC, "status NOT_IN_SYNC");
_Static_assert((int)PKV_NO_MEMORY == (int)PKV_S_NO_MEMORY, "status NO_MEMORY");
_Static_assert((int)PKV_LAYOUT_MISMATCH > (int)PKV_S_NO_MEMORY, "library codes above the daemon's");

_Static_assert(PKV_BUCKET_MAX == PKV_MAX_BUCKET, "bucket limit");
_Static_assert(PKV_KEY_MAX == PKV_MAX_KEY, "key limit");
_Static_assert(PKV_VALUE_MAX == PKV_MAX_VALUE, "value limit");
_Static_assert(PKV_SHM_VALUE_MAX == PKV_MAX_VALUE, "a cached value_len fits 16 bits");
_Static_assert(PKV_SHM_NODES == PKV_MAX_NODES, "node limit");
_Static_assert(PKV_KEY_MAX <= UINT16_MAX, "entry key_len is 16 bits");
_Static_assert(PKV_CONFIG_DEFAULT_CACHE_ENTRIES == PKV_SHM_CACHE_DEFAULT, "default cache size");
_Static_assert(PKV_CONFIG_MIN_CACHE_ENTRIES == PKV_SHM_CACHE_MIN, "smallest cache");
_Static_assert(PKV_CONFIG_MAX_CACHE_ENTRIES == PKV_SHM_CACHE_MAX, "largest cache");

#define RING_MASK (PKV_SHM_RING_SLOTS - 1u)

struct shm_segment {
	struct pkv_shm_layout *m;
	size_t size;
	struct pkv_shm_cache_geom geom;
	int mem_fd;
	int bell_fd;
	uint64_t head;		/* the consumer's position (mirrored in the header) */
	enum shm_fault fault;
	uint8_t rq[PKV_SHM_REQ_DATA]; /* private copy of the request being served */
};

static const char default_bucket[] = PKV_DEFAULT_BUCKET;

/* Single writer: the daemon. Readers load the words relaxed. */
#define STAT_ADD(seg, field, n)                                                                    \
	pkv_shm_store_rlx(&(seg)->m->stats.field, (seg)->m->stats.field + (uint64_t)(n))
#define STAT_INC(seg, field) STAT_ADD(seg, field, 1)

static void futex_wake(uint32_t *word)
{
	/* Not FUTEX_PRIVATE_FLAG: the word lives in a mapping shared with clients. */
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* --- create / destroy ---------------------------------------------------- */

static int init_locks(struct shm_segment *seg)
{
	pthread_mutexattr_t a;
	int r = pthread_mutexattr_init(&a);
	if (r)
		return -r;
	r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	for (unsigned i = 0; !r && i < seg->geom.stripes; i++)
		r = pthread_mutex_init(&pkv_shm_stripe_lock_at(seg->m, &seg->geom, i)->lock, &a);
	pthread_mutexattr_destroy(&a);
	return -r;
}

int shm_create(struct shm_segment **out, uint64_t incarnation, pid_t daemon_pid)
{
	return shm_create_sized(out, incarnation, daemon_pid, PKV_SHM_CACHE_DEFAULT);
}

int shm_create_sized(struct shm_segment **out, uint64_t incarnation, pid_t daemon_pid,
		     uint32_t cache_entries)
{
	struct pkv_shm_cache_geom geom;
	if (pkv_shm_cache_geom_for(cache_entries, &geom) < 0)
		return -EINVAL;
	struct shm_segment *seg = calloc(1, sizeof(*seg));
	if (!seg)
		return -ENOMEM;
	seg->mem_fd = -1;
	seg->bell_fd = -1;
	seg->geom = geom;
	seg->size = geom.size;
	int e;
	seg->mem_fd = memfd_create("pkvd-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (seg->mem_fd < 0 || ftruncate(seg->mem_fd, (off_t)seg->size) < 0)
		goto fail_errno;
	/*
	 * A client holds the memfd too: without these seals it could shrink
	 * the file and make the daemon fault on its next access.
	 */
	if (fcntl(seg->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail_errno;
	void *p = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->mem_fd, 0);
	if (p == MAP_FAILED)
		goto fail_errno;
	seg->m = p;
	seg->bell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (seg->bell_fd < 0)
		goto fail_errno;

	/*
	 * A fresh memfd reads as zeros and shmem gives a page only when it is
	 * first written: only non-zero state is written, and nothing in the
	 * stripes (an all-zero stripe is an empty one), so the cache costs
	 * memory as entries arrive, not at its full size.
	 */
	struct pkv_shm_layout *m = seg->m;
	e = init_locks(seg);
	if (e)
		goto fail;
	for (unsigned i = 0; i < PKV_SHM_RING_SLOTS; i++)
		m->ring[i].word = PKV_SHM_RW_EMPTY(i);
	m->hdr.format = pkv_shm_format();
	m->hdr.size = seg->size;
	m->hdr.incarnation = incarnation;
	m->hdr.daemon_pid = (uint32_t)daemon_pid;
	m->hdr.daemon_alive = 1;
	m->hdr.cache_stripes = geom.stripes;
	m->hdr.cache_stripe_entries = PKV_SHM_STRIPE_ENTRIES;
	m->hdr.cache_heap = geom.heap;
	m->hdr.cache_locks_off = geom.locks_off;
	m->hdr.cache_off = geom.off;
	m->hdr.cache_stride = geom.stride;
	/* Last: a client that sees the magic sees everything above. */
	pkv_shm_store_rel(&m->hdr.magic, PKV_SHM_MAGIC);
	*out = seg;
	return 0;

fail_errno:
	e = -errno;
fail:
	if (seg->m)
		munmap(seg->m, seg->size);
	if (seg->mem_fd >= 0)
		close(seg->mem_fd);
	if (seg->bell_fd >= 0)
		close(seg->bell_fd);
	free(seg);
	return e;
}

void shm_destroy(struct shm_segment *seg)
{
	if (!seg)
		return;
	struct pkv_shm_layout *m = seg->m;
	__atomic_store_n(&m->hdr.daemon_alive, 0, __ATOMIC_SEQ_CST);
	/* Waiters re-check daemon_alive when woken: they return at once. */
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++)
		if (pkv_shm_load_rlx(&m->clients[i].state) == PKV_SHM_ATTACHED)
			futex_wake(&m->clients[i].resp_tag);
	futex_wake(&m->view.seq);
	munmap(seg->m, seg->size);
	close(seg->mem_fd);
	close(seg->bell_fd);
	free(seg);
}

int shm_memfd(const struct shm_segment *seg)
{
	return seg->mem_fd;
}

int shm_doorbell_fd(const struct shm_segment *seg)
{
	return seg->bell_fd;
}

struct pkv_shm_layout *shm_layout(const struct shm_segment *seg)
{
	return seg->m;
}

const struct pkv_shm_stats *shm_stats(const struct shm_segment *seg)
{
	return &seg->m->stats;
}

const struct pkv_shm_cache_geom *shm_cache_geom(const struct shm_segment *seg)
{
	return &seg->geom;
}

struct pkv_shm_stripe *shm_stripe(const struct shm_segment *seg, unsigned i)
{
	return pkv_shm_stripe_at(seg->m, &seg->geom, i);
}

struct pkv_shm_stripe_lock *shm_stripe_writer(const struct shm_segment *seg, unsigned i)
{
	return pkv_shm_stripe_lock_at(seg->m, &seg->geom, i);
}

void shm_set_fault(struct shm_segment *seg, enum shm_fault f)
{
	seg->fault = f;
}

/* --- client slots ---------------------------------------------------------- */

int shm_attach_client(struct shm_segment *seg, pid_t pid, uid_t uid)
{
	struct pkv_shm_layout *m = seg->m;
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++) {
		struct pkv_shm_client *c = &m->clients[i];
		if (pkv_shm_load_rlx(&c->state) != PKV_SHM_FREE)
			continue;
		c->pid = (uint32_t)pid;
		c->uid = (uint32_t)uid;
		c->attach_gen++;
		pkv_shm_store_rlx(&c->req_tag, 0);
		pkv_shm_store_rlx(&c->resp_tag, 0);
		pkv_shm_store_rlx(&c->waiting, 0);
		pkv_shm_store_rel(&c->state, PKV_SHM_ATTACHED);
		STAT_INC(seg, attached);
		return (int)i;
	}
	STAT_INC(seg, attach_refused);
	return -EAGAIN;
}

void shm_reclaim_client(struct shm_segment *seg, unsigned slot)
{
	if (slot >= PKV_SHM_CLIENTS)
		return;
	struct pkv_shm_layout *m = seg->m;
	struct pkv_shm_client *c = &m->clients[slot];
	if (pkv_shm_load_rlx(&c->state) != PKV_SHM_ATTACHED)
		return;
	/*
	 * Entries the dead client committed and the daemon has not taken yet:
	 * mark them ownerless, so that they are skipped even if the slot is
	 * granted again before the consumer reaches them. Producers only ever
	 * CAS empty words, so a full word changes only here and in the consumer.
	 */
	for (unsigned i = 0; i < PKV_SHM_RING_SLOTS; i++) {
		uint64_t w = pkv_shm_load_acq(&m->ring[i].word);
		if (!PKV_SHM_RW_IS_FULL(w) || PKV_SHM_RW_CLIENT(w) != slot)
			continue;
		uint64_t nw = PKV_SHM_RW_MAKE(PKV_SHM_RW_POS(w), PKV_SHM_RW_NO_CLIENT, 0);
		if (__atomic_compare_exchange_n(&m->ring[i].word, &w, nw, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			STAT_INC(seg, purged);
	}
	c->pid = 0;
	pkv_shm_store_rel(&c->state, PKV_SHM_FREE);
	STAT_INC(seg, reclaimed);
}

/* --- attach reply ------------------------------------------------------------ */

static int send_rep(int sock, const struct pkv_shm_attach_rep *rep, size_t len, const int *fds,
		    unsigned nfds)
{
	struct iovec iov = {.iov_base = (void *)rep, .iov_len = len};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

int shm_send_attach(int sock, struct shm_segment *seg, int slot)
{
	if (slot < 0 || (unsigned)slot >= PKV_SHM_CLIENTS)
		return shm_send_attach_error(sock, slot < 0 ? slot : -EINVAL);
	const struct pkv_shm_layout *m = seg->m;
	struct pkv_shm_attach_rep rep = {
		.hdr.magic = CTL_MAGIC,
		.hdr.status = PKV_S_OK,
		.hdr.len = (uint32_t)PKV_SHM_ATTACH_PAYLOAD,
		.shm_magic = PKV_SHM_MAGIC,
		.format = m->hdr.format,
		.size = seg->size,
		.incarnation = m->hdr.incarnation,
		.slot = (uint32_t)slot,
		.attach_gen = m->clients[slot].attach_gen,
	};
	int fds[2] = {seg->mem_fd, seg->bell_fd};
	return send_rep(sock, &rep, sizeof(rep), fds, 2);
}

int shm_send_attach_error(int sock, int status)
{
	struct pkv_shm_attach_rep rep = {
		.hdr.magic = CTL_MAGIC,
		.hdr.status = status ? status : PKV_S_UNAVAILABLE,
	};
	return send_rep(sock, &rep, PKV_SHM_ATTACH_HDR, NULL, 0);
}

/* --- ring: consumer ------------------------------------------------------------ */

static void post_response(struct pkv_shm_client *c, uint32_t tag)
{
	/* seq_cst pairs with the client's `waiting = 1; load resp_tag` (Dekker). */
	__atomic_store_n(&c->resp_tag, tag, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->waiting, __ATOMIC_SEQ_CST))
		futex_wake(&c->resp_tag);
}

/* The client's current request is `ticket`: still attached, still waiting for it. */
static struct pkv_shm_client *ticket_client(struct shm_segment *seg, unsigned slot,
					    uint64_t ticket)
{
	if (slot >= PKV_SHM_CLIENTS)
		return NULL;
	struct pkv_shm_client *c = &seg->m->clients[slot];
	if (pkv_shm_load_acq(&c->state) != PKV_SHM_ATTACHED ||
	    c->attach_gen != (uint32_t)(ticket >> 32) ||
	    pkv_shm_load_acq(&c->req_tag) != (uint32_t)ticket)
		return NULL;
	return c;
}

static void refuse(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status)
{
	STAT_INC(seg, malformed);
	shm_respond(seg, slot, ticket, status, 0, NULL, 0);
}

bool shm_ring_pending(const struct shm_segment *seg)
{
	uint64_t w = pkv_shm_load_acq(&seg->m->ring[seg->head & RING_MASK].word);
	return PKV_SHM_RW_IS_FULL(w) && PKV_SHM_RW_POS(w) == (uint32_t)seg->head;
}

/*
 * Copies and checks the request of client `slot` whose ring entry carried
 * `tag`. Returns 0 (out filled), 1 (stale: skip) or a status to answer.
 */
static int take_request(struct shm_segment *seg, unsigned slot, uint32_t tag,
			struct shm_request *out)
{
	struct pkv_shm_client *c = &seg->m->clients[slot];
	if (pkv_shm_load_acq(&c->state) != PKV_SHM_ATTACHED)
		return 1;
	uint32_t t1 = pkv_shm_load_acq(&c->req_tag);
	if ((t1 & 0xffffu) != tag)
		return 1;
	uint32_t attach_gen = c->attach_gen;
	/* Snapshot the fields once: the client may rewrite them at any time. */
	uint8_t op = pkv_shm_load_rlx(&c->op);
	uint8_t flags = pkv_shm_load_rlx(&c->flags);
	uint32_t blen = pkv_shm_load_rlx(&c->bucket_len);
	uint32_t nlen = pkv_shm_load_rlx(&c->node_len);
	uint32_t klen = pkv_shm_load_rlx(&c->key_len);
	uint32_t vlen = pkv_shm_load_rlx(&c->value_len);
	uint32_t dlen = pkv_shm_load_rlx(&c->dep_len);
	uint32_t timeout = pkv_shm_load_rlx(&c->timeout_ms);
	int32_t bind_pid = pkv_shm_load_rlx(&c->bind_pid);
	uint64_t until = pkv_shm_load_rlx(&c->until);
	uint64_t total = (uint64_t)blen + nlen + klen + vlen + dlen;
	bool fits = total <= PKV_SHM_REQ_DATA;
	if (fits)
		memcpy(seg->rq, c->req_data, (size_t)total);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (pkv_shm_load_rlx(&c->req_tag) != t1)
		return 1; /* the client moved on while we copied: torn */

	memset(out, 0, sizeof(*out));
	out->slot = slot;
	out->ticket = (uint64_t)attach_gen << 32 | t1;
	out->pid = c->pid;
	if (op != PKV_SHM_OP_PUT && op != PKV_SHM_OP_GET && op != PKV_SHM_OP_KEYS)
		return PKV_S_BAD_REQUEST;
	if (!fits || klen > PKV_MAX_KEY || vlen > PKV_MAX_VALUE || nlen > PKV_SHM_NAME_MAX - 1 ||
	    dlen > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE;
	if (op == PKV_SHM_OP_KEYS && vlen > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE; /* the cursor is a key */
	const uint8_t *p = seg->rq;
	out->op = op;
	out->flags = flags;
	out->timeout_ms = timeout ? timeout : PKV_SHM_DEFAULT_TIMEOUT_MS;
	out->bucket = (struct pkv_bytes){p, blen};
	p += blen;
	out->key = (struct pkv_bytes){p, klen};
	p += klen;
	out->value = (struct pkv_bytes){p, vlen};
	p += vlen;
	out->node = (struct pkv_bytes){p, nlen};
	p += nlen;
	out->dep_key = (struct pkv_bytes){p, dlen};
	if (blen == 0)
		out->bucket = (struct pkv_bytes){(const uint8_t *)default_bucket,
						 sizeof(default_bucket) - 1};
	if (flags & PKV_SHM_F_BIND_PID)
		out->bind_pid = bind_pid;
	out->until = until;
	out->has_bindings = (flags & PKV_SHM_F_BIND_PID) || nlen || dlen || until;
	return 0;
}

bool shm_ring_next(struct shm_segment *seg, struct shm_request *out)
{
	struct pkv_shm_layout *m = seg->m;
	for (;;) {
		struct pkv_shm_ring_slot *s = &m->ring[seg->head & RING_MASK];
		uint64_t w = pkv_shm_load_acq(&s->word);
		if (!PKV_SHM_RW_IS_FULL(w) || PKV_SHM_RW_POS(w) != (uint32_t)seg->head)
			return false;
		/* Free the slot for the producer one lap ahead, then look at the entry. */
		pkv_shm_store_rel(&s->word, PKV_SHM_RW_EMPTY(seg->head + PKV_SHM_RING_SLOTS));
		seg->head++;
		pkv_shm_store_rlx(&m->hdr.head, seg->head);
		unsigned slot = PKV_SHM_RW_CLIENT(w);
		if (slot >= PKV_SHM_CLIENTS) {
			STAT_INC(seg, stale);
			continue;
		}
		int r = take_request(seg, slot, PKV_SHM_RW_TAG(w), out);
		if (r == 1) {
			STAT_INC(seg, stale);
			continue;
		}
		if (r != 0) {
			refuse(seg, out->slot, out->ticket, r);
			continue;
		}
		STAT_INC(seg, requests);
		return true;
	}
}

int shm_respond(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status, uint64_t gen,
		const void *value, uint32_t len)
{
	return shm_respond_bound(seg, slot, ticket, status, gen, value, len, 0, 0, 0);
}

int shm_respond_bound(struct shm_segment *seg, unsigned slot, uint64_t ticket, int status,
		      uint64_t gen, const void *value, uint32_t len, uint64_t until, int32_t pid,
		      uint32_t node)
{
	struct pkv_shm_client *c = ticket_client(seg, slot, ticket);
	if (!c) {
		STAT_INC(seg, stale);
		return -ESTALE;
	}
	if (len > PKV_MAX_VALUE) {
		status = PKV_S_TOO_LARGE;
		len = 0;
	}
	if (len)
		memcpy(c->resp_data, value, len);
	c->status = status;
	c->gen = gen;
	c->resp_until = until;
	c->resp_pid = pid;
	c->resp_node = node;
	c->resp_flags = 0;
	c->resp_len = len;
	post_response(c, (uint32_t)ticket);
	STAT_INC(seg, responses);
	return 0;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);
	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

int shm_respond_keys(struct shm_segment *seg, unsigned slot, uint64_t ticket,
		     const struct pkv_bytes *keys, size_t n)
{
	struct pkv_shm_client *c = ticket_client(seg, slot, ticket);
	if (!c) {
		STAT_INC(seg, stale);
		return -ESTALE;
	}
	/* The cursor is the request's value; copy it, then check the tag again. */
	uint8_t cursor[PKV_MAX_KEY];
	uint32_t blen = pkv_shm_load_rlx(&c->bucket_len);
	uint32_t klen = pkv_shm_load_rlx(&c->key_len);
	uint32_t clen = pkv_shm_load_rlx(&c->value_len);
	if (clen > sizeof(cursor) || (uint64_t)blen + klen + clen > PKV_SHM_REQ_DATA)
		clen = 0;
	memcpy(cursor, c->req_data + blen + klen, clen);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (pkv_shm_load_rlx(&c->req_tag) != (uint32_t)ticket) {
		STAT_INC(seg, stale);
		return -ESTALE;
	}
	size_t i = 0;
	if (clen)
		while (i < n && key_cmp(keys[i].p, keys[i].len, cursor, clen) <= 0)
			i++;
	uint32_t o = 0;
	uint32_t more = 0;
	for (; i < n; i++) {
		if (keys[i].len > PKV_MAX_KEY)
			continue;
		if (o + 2u + keys[i].len > PKV_SHM_RESP_DATA) {
			more = PKV_SHM_RF_MORE;
			break;
		}
		uint16_t l = (uint16_t)keys[i].len;
		memcpy(c->resp_data + o, &l, 2);
		memcpy(c->resp_data + o + 2, keys[i].p, keys[i].len);
		o += 2u + keys[i].len;
	}
	c->status = PKV_S_OK;
	c->gen = 0;
	c->resp_until = 0;
	c->resp_pid = 0;
	c->resp_node = 0;
	c->resp_flags = more;
	c->resp_len = o;
	post_response(c, (uint32_t)ticket);
	STAT_INC(seg, responses);
	return 0;
}

/* --- doorbell -------------------------------------------------------------- */

bool shm_sleep_begin(struct shm_segment *seg)
{
	__atomic_store_n(&seg->m->hdr.sleeping, 1, __ATOMIC_SEQ_CST);
	/* seq_cst pairs with the producer's `CAS ring word; load sleeping`. */
	uint64_t w = __atomic_load_n(&seg->m->ring[seg->head & RING_MASK].word, __ATOMIC_SEQ_CST);
	if (PKV_SHM_RW_IS_FULL(w) && PKV_SHM_RW_POS(w) == (uint32_t)seg->head) {
		__atomic_store_n(&seg->m->hdr.sleeping, 0, __ATOMIC_SEQ_CST);
		return false;
	}
	STAT_INC(seg, doorbells);
	return true;
}

void shm_sleep_end(struct shm_segment *seg)
{
	__atomic_store_n(&seg->m->hdr.sleeping, 0, __ATOMIC_SEQ_CST);
}

void shm_doorbell_drain(struct shm_segment *seg)
{
	uint64_t v;
	while (read(seg->bell_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		;
}

/* --- view ------------------------------------------------------------------- */

void shm_set_view(struct shm_segment *seg, bool quorum, uint64_t epoch, uint32_t cluster_size,
		  uint32_t self, uint64_t connected, const char *const *names, uint32_t n_nodes)
{
	struct pkv_shm_view *v = &seg->m->view;
	uint32_t s = v->seq;
	pkv_shm_store_rlx(&v->seq, s + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (n_nodes > PKV_SHM_NODES)
		n_nodes = PKV_SHM_NODES;
	pkv_shm_store_rlx(&v->quorum, quorum ? 1u : 0u);
	pkv_shm_store_rlx(&v->quorum_epoch, epoch);
	pkv_shm_store_rlx(&v->cluster_size, cluster_size);
	pkv_shm_store_rlx(&v->self, self);
	pkv_shm_store_rlx(&v->connected, connected);
	pkv_shm_store_rlx(&v->n_nodes, n_nodes);
	for (uint32_t i = 0; i < n_nodes; i++) {
		char *dst = v->names[i];
		memset(dst, 0, PKV_SHM_NAME_MAX);
		if (names && names[i])
			strncpy(dst, names[i], PKV_SHM_NAME_MAX - 1);
	}
	pkv_shm_store_rel(&v->seq, s + 2);
	futex_wake(&v->seq);
}

/* --- learner cache ------------------------------------------------------------ */

/* One stripe as the writer sees it: its lock record, its entries, its heap. */
struct stripe {
	struct pkv_shm_stripe_lock *w;
	uint32_t *seq;
	struct pkv_shm_stripe *st;
	uint8_t *heap;
	uint32_t heap_size;
};

static struct stripe stripe_get(struct shm_segment *seg, unsigned i)
{
	struct pkv_shm_stripe *st = pkv_shm_stripe_at(seg->m, &seg->geom, i);
	return (struct stripe){
		.w = pkv_shm_stripe_lock_at(seg->m, &seg->geom, i),
		.seq = pkv_shm_stripe_seq_at(seg->m, &seg->geom, i),
		.st = st,
		.heap = pkv_shm_stripe_heap(seg->m, &seg->geom, i),
		.heap_size = seg->geom.heap,
	};
}

/* Writer side of the stripe seqlock (see pkv-shm.h). */
static void write_begin(struct stripe *s)
{
	pkv_shm_store_rlx(s->seq, *s->seq + 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct stripe *s)
{
	pkv_shm_store_rel(s->seq, *s->seq + 1);
}

static void entry_free(struct shm_segment *seg, struct stripe *s, unsigned i)
{
	pkv_shm_store_rlx(&s->st->ent[i].tag, 0);
	s->w->n_used--;
	STAT_ADD(seg, cache_entries, -1);
}

/*
 * A dead writer may have left anything half written: forget the stripe.
 * Leaves seq even and different from any value a reader saw before the
 * writer died, so every such reader retries and finds the stripe empty.
 */
static void stripe_clear(struct shm_segment *seg, struct stripe *s)
{
	if (!(*s->seq & 1u))
		write_begin(s);
	/* n_used, not the tags: the dead writer may have set one early. */
	STAT_ADD(seg, cache_entries, -(int64_t)s->w->n_used);
	/* Only tags that are set: an untouched page of the stripe stays untouched. */
	for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++)
		if (s->st->ent[i].tag)
			pkv_shm_store_rlx(&s->st->ent[i].tag, 0);
	s->w->n_used = 0;
	s->w->heap_used = 0;
	write_end(s);
}

int shm_stripe_lock(struct shm_segment *seg, unsigned i)
{
	if (i >= seg->geom.stripes)
		return -EINVAL;
	struct stripe s = stripe_get(seg, i);
	int r = pthread_mutex_lock(&s.w->lock);
	if (r == EOWNERDEAD) {
		/* The holder died: what it touched is suspect. It is a cache: drop it. */
		s.w->suspect = 1;
		stripe_clear(seg, &s);
		r = pthread_mutex_consistent(&s.w->lock);
		s.w->suspect = 0;
		s.w->recoveries++;
		STAT_INC(seg, lock_recoveries);
		if (r) {
			pthread_mutex_unlock(&s.w->lock);
			return -r;
		}
		return 0;
	}
	return -r;
}

void shm_stripe_unlock(struct shm_segment *seg, unsigned i)
{
	pthread_mutex_unlock(&pkv_shm_stripe_lock_at(seg->m, &seg->geom, i)->lock);
}

/* Where an entry's bucket, key and value are: inline or in the heap. */
static const uint8_t *entry_data(const struct stripe *s, const struct pkv_shm_entry *e)
{
	return e->off == PKV_SHM_OFF_INLINE ? e->inl : s->heap + e->off;
}

static bool entry_is(const struct stripe *s, unsigned i, uint64_t h, struct pkv_bytes bucket,
		     struct pkv_bytes key)
{
	const struct pkv_shm_entry *e = &s->st->ent[i];
	if (e->tag != h || e->bucket_len != bucket.len || e->key_len != key.len)
		return false;
	const uint8_t *d = entry_data(s, e);
	return memcmp(d, bucket.p, bucket.len) == 0 &&
	       memcmp(d + bucket.len, key.p, key.len) == 0;
}

/* Searches from the home slot, the order readers use. */
static int entry_find(const struct stripe *s, uint64_t h, struct pkv_bytes bucket,
		      struct pkv_bytes key)
{
	unsigned home = pkv_shm_home_of(h);
	for (unsigned k = 0; k < PKV_SHM_STRIPE_ENTRIES; k++) {
		unsigned i = (home + k) & (PKV_SHM_STRIPE_ENTRIES - 1u);
		if (entry_is(s, i, h, bucket, key))
			return (int)i;
	}
	return -1;
}

static uint32_t entry_bytes(const struct pkv_shm_entry *e)
{
	return (uint32_t)e->bucket_len + e->key_len + e->value_len;
}

/* Moves live heap entries to the front of the heap, in offset order. Inside a write. */
static void stripe_compact(struct stripe *s)
{
	struct pkv_shm_stripe *st = s->st;
	unsigned idx[PKV_SHM_STRIPE_ENTRIES], n = 0;
	for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++) {
		if (!st->ent[i].tag || st->ent[i].off == PKV_SHM_OFF_INLINE)
			continue;
		unsigned j = n++;
		while (j > 0 && st->ent[idx[j - 1]].off > st->ent[i].off) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	uint32_t o = 0;
	for (unsigned k = 0; k < n; k++) {
		struct pkv_shm_entry *e = &st->ent[idx[k]];
		uint32_t len = entry_bytes(e);
		if (e->off != o)
			memmove(s->heap + o, s->heap + e->off, len);
		pkv_shm_store_rlx(&e->off, o);
		o += len;
	}
	s->w->heap_used = o;
}

/* Frees the oldest entry (stamps wrap: the age counts). Inside a write. */
static void stripe_evict_one(struct shm_segment *seg, struct stripe *s)
{
	struct pkv_shm_stripe *st = s->st;
	int victim = -1;
	uint32_t oldest = 0;
	for (unsigned i = 0; i < PKV_SHM_STRIPE_ENTRIES; i++) {
		uint32_t age = s->w->next_stamp - st->ent[i].stamp;
		if (st->ent[i].tag && (victim < 0 || age > oldest)) {
			victim = (int)i;
			oldest = age;
		}
	}
	if (victim >= 0) {
		entry_free(seg, s, (unsigned)victim);
		STAT_INC(seg, cache_evicted);
	}
}

static void maybe_die(struct shm_segment *seg)
{
	if (seg->fault == SHM_FAULT_DIE_IN_PUBLISH)
		raise(SIGKILL);
}

int shm_cache_publish(struct shm_segment *seg, struct pkv_bytes bucket, struct pkv_bytes key,
		      struct pkv_bytes value, uint64_t gen, uint64_t until)
{
	if (bucket.len == 0 || bucket.len > PKV_MAX_BUCKET || key.len > PKV_MAX_KEY ||
	    value.len > PKV_MAX_VALUE) {
		STAT_INC(seg, cache_refused);
		return -E2BIG;
	}
	uint64_t h = pkv_shm_hash(bucket.p, bucket.len, key.p, key.len);
	unsigned si = pkv_shm_stripe_of(h, seg->geom.stripes);
	struct stripe s = stripe_get(seg, si);
	struct pkv_shm_stripe *st = s.st;
	int r = shm_stripe_lock(seg, si);
	if (r)
		return r;
	int old = entry_find(&s, h, bucket, key);
	if (old >= 0 && st->ent[old].gen >= gen) {
		shm_stripe_unlock(seg, si);
		return 0; /* a chosen value never changes within its generation */
	}
	uint32_t need = bucket.len + key.len + value.len;
	bool inl = need <= PKV_SHM_INLINE;
	uint32_t heap_need = inl ? 0 : need;
	if (need > s.heap_size) {
		/*
		 * Larger than this geometry's stripe heap: readers ask the daemon.
		 * An older generation must not stay readable in its place.
		 */
		if (old >= 0) {
			write_begin(&s);
			entry_free(seg, &s, (unsigned)old);
			write_end(&s);
		}
		shm_stripe_unlock(seg, si);
		STAT_INC(seg, cache_refused);
		return -E2BIG;
	}
	write_begin(&s);
	if (old >= 0)
		entry_free(seg, &s, (unsigned)old);
	if (s.w->n_used == PKV_SHM_STRIPE_ENTRIES || s.w->heap_used + heap_need > s.heap_size) {
		stripe_compact(&s);
		while (s.w->n_used == PKV_SHM_STRIPE_ENTRIES ||
		       s.w->heap_used + heap_need > s.heap_size) {
			stripe_evict_one(seg, &s);
			stripe_compact(&s);
		}
	}
	unsigned i = pkv_shm_home_of(h);
	while (st->ent[i].tag)
		i = (i + 1) & (PKV_SHM_STRIPE_ENTRIES - 1u);
	struct pkv_shm_entry *e = &st->ent[i];
	uint32_t off = inl ? PKV_SHM_OFF_INLINE : s.w->heap_used;
	uint8_t *dst = inl ? e->inl : s.heap + off;
	memcpy(dst, bucket.p, bucket.len);
	memcpy(dst + bucket.len, key.p, key.len);
	if (seg->fault == SHM_FAULT_DIE_IN_PUBLISH) {
		memcpy(dst + bucket.len + key.len, value.p, value.len / 2);
		pkv_shm_store_rlx(&e->tag, h);
		maybe_die(seg);
	}
	if (value.len) /* an empty value may have no buffer at all */
		memcpy(dst + bucket.len + key.len, value.p, value.len);
	pkv_shm_store_rlx(&e->gen, gen);
	pkv_shm_store_rlx(&e->until, until);
	pkv_shm_store_rlx(&e->stamp, s.w->next_stamp++);
	pkv_shm_store_rlx(&e->off, off);
	pkv_shm_store_rlx(&e->value_len, (uint16_t)value.len);
	pkv_shm_store_rlx(&e->key_len, (uint16_t)key.len);
	pkv_shm_store_rlx(&e->bucket_len, (uint8_t)bucket.len);
	pkv_shm_store_rlx(&e->tag, h);
	s.w->heap_used += heap_need;
	s.w->n_used++;
	write_end(&s);
	shm_stripe_unlock(seg, si);
	STAT_INC(seg, cache_published);
	STAT_INC(seg, cache_entries);
	return 0;
}

int shm_cache_erase(struct shm_segment *seg, struct pkv_bytes bucket, struct pkv_bytes key,
		    uint64_t gen)
{
	if (bucket.len == 0 || bucket.len > PKV_MAX_BUCKET || key.len > PKV_MAX_KEY)
		return 0;
	uint64_t h = pkv_shm_hash(bucket.p, bucket.len, key.p, key.len);
	unsigned si = pkv_shm_stripe_of(h, seg->geom.stripes);
	struct stripe s = stripe_get(seg, si);
	int r = shm_stripe_lock(seg, si);
	if (r)
		return r;
	int erased = 0;
	/* An empty stripe is not looked at: its pages may never have been touched. */
	int i = s.w->n_used ? entry_find(&s, h, bucket, key) : -1;
	if (i >= 0 && s.st->ent[i].gen <= gen) {
		write_begin(&s);
		entry_free(seg, &s, (unsigned)i);
		write_end(&s);
		STAT_INC(seg, cache_erased);
		erased = 1;
	}
	shm_stripe_unlock(seg, si);
	return erased;
}

int shm_cache_erase_bucket(struct shm_segment *seg, struct pkv_bytes bucket)
{
	int count = 0;
	for (unsigned si = 0; si < seg->geom.stripes; si++) {
		struct stripe s = stripe_get(seg, si);
		int r = shm_stripe_lock(seg, si);
		if (r)
			return r;
		bool writing = false;
		/* Empty stripes are skipped unread, so a drop touches no fresh page. */
		for (unsigned i = 0; s.w->n_used && i < PKV_SHM_STRIPE_ENTRIES; i++) {
			const struct pkv_shm_entry *e = &s.st->ent[i];
			if (!e->tag || e->bucket_len != bucket.len ||
			    memcmp(entry_data(&s, e), bucket.p, bucket.len) != 0)
				continue;
			if (!writing) {
				write_begin(&s);
				writing = true;
			}
			entry_free(seg, &s, i);
			STAT_INC(seg, cache_erased);
			count++;
		}
		if (writing)
			write_end(&s);
		shm_stripe_unlock(seg, si);
	}
	return count;
}

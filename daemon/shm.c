// SPDX-License-Identifier: MIT
/*
 * shm.c — the daemon's side of the local-attach segment (see
 * include/pkv-shm.h for the layout and the protocols, shm.h for the calls):
 * setting it up, granting and reclaiming client slots, the attach reply.
 * The ring consumer is in shm-ring.c, the learner cache and the cluster
 * view in shm-cache.c.
 */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "paxoskv.h"
#include "pkv-ctl.h"
#include "shm-seg.h"

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


static void slot_free(struct shm_segment *seg, unsigned i);

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
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++)
		seg->slots[i].mem_fd = seg->slots[i].bell_fd = -1;
	seg->geom = geom;
	seg->size = geom.size;
	int e;
	seg->mem_fd = memfd_create("pkvd-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (seg->mem_fd < 0 || ftruncate(seg->mem_fd, (off_t)seg->size) < 0)
		goto fail_errno;
	void *p = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED, seg->mem_fd, 0);
	if (p == MAP_FAILED)
		goto fail_errno;
	seg->m = p;
	/*
	 * Every client holds the memfd. Sealed after our own writable mapping:
	 * F_SEAL_FUTURE_WRITE refuses every later writable shared mapping,
	 * mprotect to PROT_WRITE (read-only shared mappings lose VM_MAYWRITE),
	 * write(2) and hole punching, for any fd of this inode, including one
	 * reopened through /proc read-write; shrink and grow would make the
	 * daemon fault (docs/design.md §8).
	 */
	if (fcntl(seg->mem_fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0)
		goto fail_errno;
	seg->bell_fd = epoll_create1(EPOLL_CLOEXEC);
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
		if (seg->slots[i].c)
			futex_wake(&seg->slots[i].c->resp_tag);
	futex_wake(&m->view.seq);
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++)
		slot_free(seg, i);
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

void shm_set_waker(struct shm_segment *seg, int (*wake)(void *ctx, uint32_t *word), void *ctx)
{
	seg->wake = wake;
	seg->wake_ctx = ctx;
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

/* Unmaps and closes slot i's area and doorbell; the slot is free after. */
static void slot_free(struct shm_segment *seg, unsigned i)
{
	struct shm_slot *s = &seg->slots[i];
	if (s->c)
		munmap(s->c, sizeof(*s->c));
	if (s->bell_fd >= 0) {
		epoll_ctl(seg->bell_fd, EPOLL_CTL_DEL, s->bell_fd, NULL);
		close(s->bell_fd);
	}
	if (s->mem_fd >= 0)
		close(s->mem_fd);
	s->c = NULL;
	s->mem_fd = s->bell_fd = -1;
	s->pid = 0;
	seg->attached[i / 64] &= ~(1ull << (i % 64));
}

/*
 * A fresh area for slot i: its own memfd (sealed against shrink and grow:
 * the client holds it read-write and must not make the daemon fault), so
 * nothing a former owner of the slot still maps reaches the new one.
 */
static int slot_open(struct shm_segment *seg, unsigned i)
{
	struct shm_slot *s = &seg->slots[i];
	s->mem_fd = memfd_create("pkvd-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->mem_fd < 0 || ftruncate(s->mem_fd, PKV_SHM_CLIENT_SIZE) < 0 ||
	    fcntl(s->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	void *p = mmap(NULL, PKV_SHM_CLIENT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->mem_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	s->c = p;
	s->bell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->bell_fd < 0)
		return -errno;
	/* Edge-triggered: a ring is an event once; nobody reads the counter
	 * (shm_doorbell_drain). */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = i};
	if (epoll_ctl(seg->bell_fd, EPOLL_CTL_ADD, s->bell_fd, &ev) < 0)
		return -errno;
	return 0;
}

int shm_attach_client(struct shm_segment *seg, pid_t pid, uid_t uid)
{
	for (unsigned i = 0; i < PKV_SHM_CLIENTS; i++) {
		struct shm_slot *s = &seg->slots[i];
		if (s->c)
			continue;
		int r = slot_open(seg, i);
		if (r < 0) {
			slot_free(seg, i);
			return r;
		}
		s->pid = (uint32_t)pid;
		s->attach_gen++;
		s->seen = 0;
		s->cursor_len = 0;
		/* For the client's check only: the daemon never reads these back. */
		struct pkv_shm_client *c = s->c;
		c->pid = (uint32_t)pid;
		c->uid = (uint32_t)uid;
		c->attach_gen = s->attach_gen;
		pkv_shm_store_rel(&c->state, PKV_SHM_ATTACHED);
		seg->attached[i / 64] |= 1ull << (i % 64);
		seg->n_attached++;
		STAT_INC(seg, attached);
		return (int)i;
	}
	STAT_INC(seg, attach_refused);
	return -EAGAIN;
}

void shm_reclaim_client(struct shm_segment *seg, unsigned slot)
{
	if (slot >= PKV_SHM_CLIENTS || !seg->slots[slot].c)
		return;
	struct shm_slot *s = &seg->slots[slot];
	/* A request it posted and the daemon has not taken goes with the area. */
	if (pkv_shm_load_acq(&s->c->post) != s->seen)
		STAT_INC(seg, purged);
	slot_free(seg, slot);
	seg->n_attached--;
	STAT_INC(seg, reclaimed);
}

struct pkv_shm_client *shm_client_area(const struct shm_segment *seg, unsigned slot)
{
	return slot < PKV_SHM_CLIENTS ? seg->slots[slot].c : NULL;
}

int shm_client_doorbell_fd(const struct shm_segment *seg, unsigned slot)
{
	return slot < PKV_SHM_CLIENTS ? seg->slots[slot].bell_fd : -1;
}

int shm_client_area_fd(const struct shm_segment *seg, unsigned slot)
{
	return slot < PKV_SHM_CLIENTS ? seg->slots[slot].mem_fd : -1;
}

/* --- attach reply ------------------------------------------------------------ */

static int send_rep(int sock, const struct pkv_shm_attach_rep *rep, size_t len, const int *fds,
		    unsigned nfds)
{
	struct iovec iov = {.iov_base = (void *)rep, .iov_len = len};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
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
	if (slot < 0 || (unsigned)slot >= PKV_SHM_CLIENTS || !seg->slots[slot].c)
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
		.attach_gen = seg->slots[slot].attach_gen,
		.area_size = PKV_SHM_CLIENT_SIZE,
	};
	int fds[3] = {seg->mem_fd, seg->slots[slot].bell_fd, seg->slots[slot].mem_fd};
	return send_rep(sock, &rep, sizeof(rep), fds, 3);
}

int shm_send_attach_error(int sock, int status)
{
	struct pkv_shm_attach_rep rep = {
		.hdr.magic = CTL_MAGIC,
		.hdr.status = status ? status : PKV_S_UNAVAILABLE,
	};
	return send_rep(sock, &rep, PKV_SHM_ATTACH_HDR, NULL, 0);
}

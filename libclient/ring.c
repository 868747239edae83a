// SPDX-License-Identifier: MIT
/*
 * ring.c — the client side of the request ring (protocol in
 * include/pkv-shm.h): write the request into the own slot, publish it with
 * one CAS, ring the doorbell only if the daemon sleeps, wait on a futex.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RING_MASK (PKV_SHM_RING_SLOTS - 1u)

static uint8_t *put_bytes(uint8_t *dst, struct ring_bytes b)
{
	/* The daemon may be copying an older request of ours out right now. */
	if (b.len)
		pkv_shm_copy_in(dst, b.p, b.len);
	return dst + b.len;
}

void (*ring_doorbell_stall)(void);

uint32_t ring_write_request(struct pkv_shm_client *c, uint32_t *counter, const struct ring_req *rq)
{
	uint32_t tag = ++*counter;
	if (tag == 0) /* 0 is the response word's initial value */
		tag = ++*counter;
	/*
	 * The new tag goes first: any older entry of ours still in the ring
	 * turns stale before a byte of it changes (writer side of a seqlock).
	 */
	pkv_shm_store_rlx(&c->req_tag, tag);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	pkv_shm_store_rlx(&c->op, rq->op);
	pkv_shm_store_rlx(&c->flags, rq->flags);
	pkv_shm_store_rlx(&c->bucket_len, (uint8_t)rq->bucket.len);
	pkv_shm_store_rlx(&c->node_len, (uint8_t)rq->node.len);
	pkv_shm_store_rlx(&c->key_len, (uint32_t)rq->key.len);
	pkv_shm_store_rlx(&c->value_len, (uint32_t)rq->value.len);
	pkv_shm_store_rlx(&c->dep_len, (uint32_t)rq->dep.len);
	pkv_shm_store_rlx(&c->timeout_ms, rq->timeout_ms);
	pkv_shm_store_rlx(&c->bind_pid, rq->bind_pid);
	pkv_shm_store_rlx(&c->until, rq->until);
	uint8_t *p = c->req_data;
	p = put_bytes(p, rq->bucket);
	p = put_bytes(p, rq->key);
	p = put_bytes(p, rq->value);
	p = put_bytes(p, rq->node);
	put_bytes(p, rq->dep);
	return tag;
}

#define FULL_SPINS 64u	  /* turns on a full ring before the first sleep */
#define FULL_SLEEP_MAX_US 1000u /* the longest sleep on a full ring */

/* A full ring: back off, and give up if the daemon is gone or the deadline passed. */
static int ring_full_wait(struct pkv_attach *a, unsigned spins, uint64_t deadline_ms)
{
	if (spins < FULL_SPINS) {
		cpu_relax();
		return 0;
	}
	/* The same liveness checks as a waiting client (ring_wait): the word, and
	 * the control socket once a slice. */
	if (!attach_alive(a, PKV_SHM_WAIT_SLICE_MS))
		return PKV_UNAVAILABLE;
	if (client_mono_ms() >= deadline_ms)
		return PKV_TIMEOUT;
	unsigned us = 8u << ((spins - FULL_SPINS) < 7u ? (spins - FULL_SPINS) : 7u);
	if (us > FULL_SLEEP_MAX_US)
		us = FULL_SLEEP_MAX_US;
	struct timespec ts = {0, (long)us * 1000};
	nanosleep(&ts, NULL);
	return 0;
}

int ring_publish(struct pkv_attach *a, uint32_t tag, uint64_t deadline_ms)
{
	struct pkv_shm_layout *m = a->m;
	for (unsigned spins = 0;;) {
		uint64_t t = pkv_shm_load_acq(&m->hdr.tail);
		uint64_t *word = &m->ring[t & RING_MASK].word;
		uint64_t w = pkv_shm_load_acq(word);
		if (w == PKV_SHM_RW_EMPTY(t)) {
			uint64_t nw = PKV_SHM_RW_MAKE(t, a->slot, tag);
			/* Claim and commit in one step (seq_cst: pairs with the doorbell). */
			if (__atomic_compare_exchange_n(word, &w, nw, false, __ATOMIC_SEQ_CST,
							__ATOMIC_ACQUIRE)) {
				__atomic_compare_exchange_n(&m->hdr.tail, &t, t + 1, false,
							    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
				break;
			}
			continue;
		}
		/* How far the word's position is ahead of t (23 bits, wrapping). */
		uint32_t ahead = (PKV_SHM_RW_POS(w) - (uint32_t)t) & PKV_SHM_RW_POS_MASK;
		if (ahead <= (PKV_SHM_RW_POS_MASK >> 1) && w != PKV_SHM_RW_EMPTY(t)) {
			/*
			 * Position t is taken (full) or already consumed (empty for
			 * a later lap): its producer has not moved the tail on, and
			 * may be dead. Help.
			 */
			__atomic_compare_exchange_n(&m->hdr.tail, &t, t + 1, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
			continue;
		}
		/* The slot still holds the previous lap: the ring is full. */
		int r = ring_full_wait(a, spins++, deadline_ms);
		if (r)
			return r;
	}
	/*
	 * Every producer that sees the daemon asleep rings; none clears the
	 * word (the daemon does when it wakes), so one stopped between here and
	 * the write cannot silence the bell for the others (pkv-shm.h).
	 */
	if (__atomic_load_n(&m->hdr.sleeping, __ATOMIC_SEQ_CST)) {
		if (ring_doorbell_stall)
			ring_doorbell_stall();
		uint64_t one = 1;
		/* Non-blocking eventfd: EAGAIN means it is already rung. */
		if (write(a->bell_fd, &one, sizeof(one)) < 0)
			(void)errno;
	}
	return 0;
}

static int futex_wait(uint32_t *word, uint32_t val, uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
	/* Shared futex (no FUTEX_PRIVATE_FLAG): the word is in a shared mapping. */
	long r = syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0);
	return r < 0 ? -errno : 0;
}

int ring_wait(struct pkv_attach *a, uint32_t tag, uint64_t deadline_ms)
{
	struct pkv_shm_client *c = &a->m->clients[a->slot];
	for (;;) {
		if (pkv_shm_load_acq(&c->resp_tag) == tag)
			return 0;
		if (!attach_alive(a, UINT64_MAX))
			return PKV_UNAVAILABLE;
		uint64_t now = client_mono_ms();
		if (now >= deadline_ms)
			return PKV_TIMEOUT;
		uint64_t slice = deadline_ms - now;
		if (slice > PKV_SHM_WAIT_SLICE_MS)
			slice = PKV_SHM_WAIT_SLICE_MS;
		/* Dekker with the daemon's `store resp_tag; load waiting`. */
		__atomic_store_n(&c->waiting, 1, __ATOMIC_SEQ_CST);
		uint32_t v = __atomic_load_n(&c->resp_tag, __ATOMIC_SEQ_CST);
		int r = 0;
		if (v != tag)
			r = futex_wait(&c->resp_tag, v, slice);
		__atomic_store_n(&c->waiting, 0, __ATOMIC_RELAXED);
		/* A whole slice without an answer: has the daemon hung up? */
		if (r == -ETIMEDOUT && !attach_alive(a, 0))
			return PKV_UNAVAILABLE;
	}
}

// SPDX-License-Identifier: MIT
/*
 * ring.c — the client side of a request (protocol in include/pkv-shm.h,
 * "Requests"): write it into the client's own area, post it with one store,
 * ring the own doorbell only if the daemon sleeps, wait on a futex.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
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

int ring_publish(struct pkv_attach *a, uint32_t tag)
{
	if (!attach_alive(a, UINT64_MAX))
		return PKV_UNAVAILABLE;
	/* The commit (seq_cst: pairs with the daemon's `store sleeping; load post`). */
	__atomic_store_n(&a->c->post, tag, __ATOMIC_SEQ_CST);
	/*
	 * Every producer that sees the daemon asleep rings its own bell; none
	 * can clear the word (the daemon does when it wakes), so a producer
	 * stopped here delays only its own request (pkv-shm.h).
	 */
	if (__atomic_load_n(&a->m->hdr.sleeping, __ATOMIC_SEQ_CST)) {
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
	struct pkv_shm_client *c = a->c;
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

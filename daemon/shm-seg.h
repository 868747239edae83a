/* SPDX-License-Identifier: MIT */
/*
 * shm-seg.h — private to shm.c, shm-ring.c and shm-cache.c: the segment as
 * the daemon holds it, and the helpers the three share.
 */
#ifndef PKV_SHM_SEG_H
#define PKV_SHM_SEG_H

#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pkv-shm.h"
#include "shm.h"

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

/* Single writer: the daemon. Readers load the words relaxed. */
#define STAT_ADD(seg, field, n)                                                                    \
	pkv_shm_store_rlx(&(seg)->m->stats.field, (seg)->m->stats.field + (uint64_t)(n))
#define STAT_INC(seg, field) STAT_ADD(seg, field, 1)

static inline void futex_wake(uint32_t *word)
{
	/* Not FUTEX_PRIVATE_FLAG: the word lives in a mapping shared with clients. */
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

#endif

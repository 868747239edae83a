/* SPDX-License-Identifier: MIT */
/*
 * shm-seg.h — private to shm.c, shm-ring.c and shm-cache.c: the segment as
 * the daemon holds it, and the helpers the three share.
 */
#ifndef PKV_SHM_SEG_H
#define PKV_SHM_SEG_H

#include <limits.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pkv-shm.h"
#include "shm.h"

/*
 * A client slot as the daemon keeps it, in its own memory: nothing here is
 * ever read back from the client's area (docs/design.md §8).
 */
struct shm_slot {
	struct pkv_shm_client *c; /* the daemon's mapping of the area; NULL: free */
	int mem_fd;		  /* the area's memfd, sent at attach */
	int bell_fd;		  /* the client's doorbell eventfd, in the epoll set */
	uint32_t attach_gen;	  /* grows at every attach of the slot */
	uint32_t pid;
	uint32_t seen;		  /* the last post taken */
	uint16_t cursor_len;	  /* a keys request's cursor (in cursors[]), copied at take */
};

struct shm_segment {
	struct pkv_shm_layout *m;
	size_t size;
	struct pkv_shm_cache_geom geom;
	int mem_fd;
	int bell_fd;	     /* epoll fd over every client's doorbell eventfd */
	unsigned scan;	     /* where the next scan of the slots starts */
	unsigned n_attached;
	uint64_t attached[PKV_SHM_CLIENTS / 64]; /* bit i: slot i attached (the scans' index) */
	enum shm_fault fault;
	/* How an answer wakes its client: set by the daemon to queue the wake
	 * on its ring (it leaves with the datagrams, one system call for both;
	 * returns nonzero where it cannot); NULL or failing: futex_wake. */
	int (*wake)(void *ctx, uint32_t *word);
	void *wake_ctx;
	struct shm_slot slots[PKV_SHM_CLIENTS];
	uint8_t cursors[PKV_SHM_CLIENTS][PKV_MAX_KEY]; /* apart: the scans stay in few lines */
	uint8_t rq[PKV_SHM_REQ_DATA]; /* private copy of the request being served */
};

_Static_assert(PKV_SHM_CLIENTS % 64 == 0, "the attached bitmap holds every slot");

static inline bool shm_slot_attached(const struct shm_segment *seg, unsigned i)
{
	return (seg->attached[i / 64] >> (i % 64)) & 1u;
}

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

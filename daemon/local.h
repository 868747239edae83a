/* SPDX-License-Identifier: MIT */
/*
 * local.h — local attach (local.c): the shared-memory segment (shm.h) wired
 * to the event loop. The loop owns a struct local and calls in.
 */
#ifndef PKV_LOCAL_H
#define PKV_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct local_attach;
struct paxos_completion;
struct pid_watch;
struct shm_segment;

struct local {
	struct shm_segment *shm;
	struct pid_watch *pid_watches; /* processes pid bindings of ours depend on */
	/* Per client slot (PKV_SHM_CLIENTS): the ticket of its latest request,
	 * and that request's id in paxos; a completion of any other id is of a
	 * request the client gave up on and must not answer the slot. */
	uint64_t ticket[128];
	uint64_t req[128];
	uint64_t req_us[128]; /* when that request was taken from the ring */
	bool stale_ok[128]; /* that request is a get that takes a stale value */
	/* The slot's process as the kernel named it at attach (SO_PEERCRED, in
	 * our pid namespace), and whether it runs in another pid namespace:
	 * kept here, never read back from the client-writable slot. */
	int32_t owner_pid[128];
	bool foreign_ns[128];
	uint64_t foreign_pid_refused; /* explicit pids from another pid namespace */
	uint64_t stale_completions; /* answers to requests clients gave up on */
	/* The last take from the ring (local_dispatch; docs/design.md §8). */
	uint64_t take_seq;	  /* takes so far */
	uint64_t take_us;	  /* when the last one was */
	unsigned take_left;	  /* its requests not yet answered */
	uint64_t slot_take[128];  /* the take the slot's latest request came in */
	uint64_t holds;		  /* turns that left posted requests for the next take */
};

int local_init(struct daemon *d);
void local_fini(struct daemon *d);
void local_set_view(struct daemon *d);
/* The lease's end (µs, monotonic) into the shared view (docs/design.md §5.1). */
void local_set_lease(struct daemon *d, uint64_t until_us);
void local_attach(struct daemon *d, int fd, struct local_attach **ref);
void local_detach(struct daemon *d, struct local_attach *a);
void local_on_poll(struct daemon *d, void *token, int res, bool more);
uint64_t local_dispatch(struct daemon *d, uint64_t now);
/* Whether the hold is on: requests of the last take are still unanswered. */
bool local_holding(const struct daemon *d, uint64_t now);
bool local_complete(struct daemon *d, const struct paxos_completion *c);
void local_publish_learned(struct daemon *d);
void local_apply_lifetimes(struct daemon *d, uint64_t now);
uint64_t local_pid_start_time(int32_t pid);
bool local_sleep_begin(struct daemon *d);
void local_sleep_end(struct daemon *d);

#endif

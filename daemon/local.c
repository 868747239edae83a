// SPDX-License-Identifier: MIT
/*
 * local.c — local attach: the shared-memory segment (daemon/shm.c) wired to
 * the event loop. Grants client slots on the control socket, watches each
 * client's pidfd, takes the requests clients post in their own areas into
 * paxos and answers there, publishes learned values into the learner cache and the
 * cluster view into the segment header.
 */
#include "local.h"

#include "build-config.h"

#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "paxos.h"
#include "ringreq.h"
#include "shm.h"

_Static_assert(sizeof(((struct local *)0)->ticket) / sizeof(uint64_t) == PKV_SHM_CLIENTS,
	       "a ticket per client slot");
#include "store.h"

/* Ids of ring requests: the top bit set, the client slot in the low byte. */
#define LOCAL_ID_BIT (1ull << 63)

enum token_kind { TOKEN_ATTACH = 1, TOKEN_PID_WATCH };

struct local_attach {
	uint32_t kind; /* TOKEN_ATTACH: first, as in every poll token */
	int pidfd;
	unsigned slot;
	bool reclaimed;
	struct local_attach **conn_ref; /* the connection's pointer to us, or NULL */
} __attribute__((aligned(16)));

/* A process a pid binding of this node depends on, watched by pidfd. */
struct pid_watch {
	uint32_t kind; /* TOKEN_PID_WATCH */
	int pidfd;
	int32_t pid;
	bool cancelled; /* unwatched: freed when the cancel completes */
	uint64_t start_time;
	struct pid_watch *next;
} __attribute__((aligned(16)));

/* The doorbell's poll token: only its address matters. */
static struct {
	uint32_t kind;
} __attribute__((aligned(16))) doorbell_token;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/*
 * The start time of a process (clock ticks since boot, /proc/PID/stat field
 * 22): with the pid it names one process for good, so a recycled pid is
 * never taken for the original. 0 when the process is gone.
 */
uint64_t local_pid_start_time(int32_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* After the command name, which may hold anything but ends at the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	unsigned long long start = 0;
	/* fields 3..21 skipped, 22 is starttime */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return 0;
	return start;
}

/*
 * Whether a process runs in a pid namespace below ours: the NSpid line of
 * /proc/PID/status (world-readable, unlike /proc/PID/ns/pid for another
 * uid) lists its pid in every namespace from ours down to its own, so more
 * than one field means the numbers it sees are not ours. Unknown (no NSpid
 * line: a kernel before 4.1) counts as ours.
 */
static bool pid_in_other_ns(int32_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool other = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		unsigned fields = 0;
		for (char *t = strtok(line + 6, " \t\n"); t; t = strtok(NULL, " \t\n"))
			fields++;
		other = fields > 1;
		break;
	}
	fclose(f);
	return other;
}

static void watch_pid(struct daemon *d, int32_t pid, uint64_t start_time, uint64_t now)
{
	for (struct pid_watch *w = d->local.pid_watches; w; w = w->next)
		if (w->pid == pid && w->start_time == start_time && !w->cancelled)
			return;
	int fd = pidfd_open_(pid);
	/* Gone already, or the pid now names another process. */
	if (fd < 0 || local_pid_start_time(pid) != start_time) {
		if (fd >= 0)
			close(fd);
		paxos_pid_exited(d->paxos, pid, start_time, now);
		return;
	}
	struct pid_watch *w = aligned_alloc(16, sizeof(*w));
	if (!w || net_poll(d->net, fd, w, false) < 0) {
		/* Cannot watch it: treat it as dead rather than keep a key forever. */
		daemon_warn(d, "cannot watch pid %d: its keys are erased", (int)pid);
		free(w);
		close(fd);
		paxos_pid_exited(d->paxos, pid, start_time, now);
		return;
	}
	*w = (struct pid_watch){.kind = TOKEN_PID_WATCH, .pidfd = fd, .pid = pid,
				.start_time = start_time, .next = d->local.pid_watches};
	d->local.pid_watches = w;
}

static void unwatch_pid(struct daemon *d, int32_t pid, uint64_t start_time)
{
	for (struct pid_watch *w = d->local.pid_watches; w; w = w->next) {
		if (w->pid == pid && w->start_time == start_time && !w->cancelled) {
			w->cancelled = true;
			net_poll_cancel(d->net, w);
			return;
		}
	}
}

/* Applies what paxos asks of lifetimes: pid watches, cache erasures. */
void local_apply_lifetimes(struct daemon *d, uint64_t now)
{
	size_t n;
	const struct paxos_watch *w = paxos_watches(d->paxos, &n);
	for (size_t i = 0; i < n; i++) {
		if (w[i].watch)
			watch_pid(d, w[i].pid, w[i].start_time, now);
		else
			unwatch_pid(d, w[i].pid, w[i].start_time);
	}
	paxos_watches_reset(d->paxos);
	const struct paxos_erased *e = paxos_erased(d->paxos, &n);
	for (size_t i = 0; i < n; i++)
		shm_cache_erase(d->local.shm, store_bucket_name(e[i].e->bucket), e[i].e->key, e[i].gen);
	paxos_erased_reset(d->paxos);
}

/* An answer's wake leaves on the ring with the round's datagrams. */
static int wake_on_ring(void *ctx, uint32_t *word)
{
	return net_futex_wake(ctx, word);
}

int local_init(struct daemon *d)
{
	int r = shm_create_sized(&d->local.shm, d->incarnation, getpid(), d->cfg.cache_entries);
	if (r < 0) {
		daemon_err(d, "cannot create the shared-memory segment: %s", strerror(-r));
		return r;
	}
	r = net_poll(d->net, shm_doorbell_fd(d->local.shm), &doorbell_token, true);
	if (r < 0)
		return r;
	shm_set_waker(d->local.shm, wake_on_ring, d->net);
	local_set_view(d);
	return 0;
}

void local_fini(struct daemon *d)
{
	/* After the ring (daemon_fini): no completion will free the watches. */
	while (d->local.pid_watches) {
		struct pid_watch *w = d->local.pid_watches;
		d->local.pid_watches = w->next;
		close(w->pidfd);
		free(w);
	}
	if (d->local.shm)
		shm_destroy(d->local.shm);
	d->local.shm = NULL;
}

void local_set_view(struct daemon *d)
{
	if (!d->local.shm)
		return;
	const char *names[PKV_MAX_NODES];
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		names[i] = d->cfg.nodes[i].name;
	shm_set_view(d->local.shm, membership_quorum(&d->mem), d->mem.quorum_epoch, d->mem.cluster_size,
		     d->self, membership_connected_mask(&d->mem), names, d->cfg.n_nodes);
}

void local_set_lease(struct daemon *d, uint64_t until_us)
{
	if (d->local.shm)
		shm_set_lease(d->local.shm, until_us);
}

static void reclaim(struct daemon *d, struct local_attach *a)
{
	if (a->reclaimed)
		return;
	a->reclaimed = true;
	shm_reclaim_client(d->local.shm, a->slot);
}

/* The attach request on a control connection (SO_PEERCRED already allowed). */
void local_attach(struct daemon *d, int fd, struct local_attach **ref)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (*ref || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		shm_send_attach_error(fd, PKV_S_BAD_REQUEST);
		return;
	}
	struct local_attach *a = aligned_alloc(16, sizeof(*a));
	if (!a) {
		shm_send_attach_error(fd, PKV_S_NO_MEMORY);
		return;
	}
	int slot = shm_attach_client(d->local.shm, cr.pid, cr.uid);
	if (slot < 0) {
		daemon_warn(d, "attach refused for pid %d: %s", (int)cr.pid,
			    slot == -EAGAIN ? "every client slot is taken" : strerror(-slot));
		shm_send_attach_error(fd, PKV_S_UNAVAILABLE);
		free(a);
		return;
	}
	d->local.owner_pid[slot] = cr.pid;
	d->local.foreign_ns[slot] = pid_in_other_ns(cr.pid);
	a->kind = TOKEN_ATTACH;
	a->slot = (unsigned)slot;
	a->reclaimed = false;
	a->conn_ref = NULL;
	a->pidfd = pidfd_open_(cr.pid);
	if (a->pidfd < 0 || net_poll(d->net, a->pidfd, a, false) < 0) {
		/* The client died already, or we cannot watch it: no slot. */
		shm_reclaim_client(d->local.shm, a->slot);
		shm_send_attach_error(fd, PKV_S_UNAVAILABLE);
		if (a->pidfd >= 0)
			close(a->pidfd);
		free(a);
		return;
	}
	if (shm_send_attach(fd, d->local.shm, slot) < 0) {
		reclaim(d, a);
		net_poll_cancel(d->net, a); /* freed when the cancel completes */
		return;
	}
	a->conn_ref = ref;
	*ref = a;
}

/*
 * The attach connection closed: the client closed its handle or died. Free
 * the slot now; the pidfd watch ends with a cancel and frees the record.
 */
void local_detach(struct daemon *d, struct local_attach *a)
{
	if (!a)
		return;
	reclaim(d, a);
	a->conn_ref = NULL;
	if (!d->net) {
		/* Stopping: the ring is gone and no cancel will complete. */
		close(a->pidfd);
		free(a);
		return;
	}
	net_poll_cancel(d->net, a);
}

void local_on_poll(struct daemon *d, void *token, int res, bool more)
{
	if (token == &doorbell_token) {
		shm_doorbell_drain(d->local.shm);
		if (!more) /* the multishot watch ended: arm it again */
			net_poll(d->net, shm_doorbell_fd(d->local.shm), &doorbell_token, true);
		return;
	}
	if (*(uint32_t *)token == TOKEN_PID_WATCH) {
		struct pid_watch *w = token;
		for (struct pid_watch **pp = &d->local.pid_watches; *pp; pp = &(*pp)->next) {
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		}
		if (!w->cancelled)
			paxos_pid_exited(d->paxos, w->pid, w->start_time, daemon_now_us());
		close(w->pidfd);
		free(w);
		return;
	}
	/* A client's pidfd: the process exited, or the watch was cancelled. */
	struct local_attach *a = token;
	reclaim(d, a);
	if (a->conn_ref)
		*a->conn_ref = NULL;
	close(a->pidfd);
	free(a);
}

/*
 * The part of a put's bindings that ringreq_decode cannot check purely:
 * which process "self" is, whether the client may name a pid at all, and
 * is the bound pid a live process of this host, and since when.
 *
 * "Self" is the pid the kernel reported for the slot's attach connection,
 * in our pid namespace. An explicit pid from a client in another pid
 * namespace is a number of that namespace, naming some other process here:
 * refused (invalid value) and logged, rather than translated, since a
 * translation needs a handle on the process the client means (a pidfd it
 * passes), which the self binding already covers (docs/design.md §8).
 */
static void bind_pid_start(struct daemon *d, unsigned slot, struct pkv_bindings *b)
{
	if (!(b->mask & PKV_BIND_PID))
		return;
	if (b->pid == PKV_SHM_PID_SELF) {
		b->pid = d->local.owner_pid[slot];
	} else if (d->local.foreign_ns[slot]) {
		d->local.foreign_pid_refused++;
		daemon_log(d,
			   "put refused: pid %d was named by a client (pid %d here) in another pid "
			   "namespace; it can bind only to itself",
			   (int)b->pid, (int)d->local.owner_pid[slot]);
		b->mask |= PKV_BIND_PID_DEAD;
		return;
	}
	b->start_time = local_pid_start_time(b->pid);
	/* Not a live process of this host: paxos answers invalid_value. */
	if (!b->start_time)
		b->mask |= PKV_BIND_PID_DEAD;
}

/*
 * The hold (docs/design.md §8, "Batches under load"): while requests of
 * the last take are unanswered, what clients post since waits in the ring
 * for the next take, until batch_hold_us after the last. 0: take now; else
 * when the hold ends.
 */
static uint64_t hold_until(const struct daemon *d, uint64_t now)
{
	const struct local *l = &d->local;
	if (!l->take_left || !d->cfg.batch_hold_us)
		return 0;
	uint64_t end = l->take_us + d->cfg.batch_hold_us;
	return now < end ? end : 0;
}

bool local_holding(const struct daemon *d, uint64_t now)
{
	return hold_until(d, now) != 0;
}

/*
 * Takes the clients' posted requests into paxos unless the hold is on: at
 * most one a client slot per lap, and at most PKV_SHM_CLIENTS in a turn,
 * so no client, however fast it posts, keeps the loop from its other work
 * (include/pkv-shm.h). 0, or when the hold ends (nothing taken: the loop
 * wakes by then, and leaves the doorbell off until it takes again).
 */
uint64_t local_dispatch(struct daemon *d, uint64_t now)
{
	struct local *l = &d->local;
	uint64_t hold = hold_until(d, now);
	if (hold) {
		if (shm_ring_pending(l->shm))
			l->holds++;
		return hold;
	}
	struct shm_request rq;
	for (unsigned n = 0; n < PKV_SHM_CLIENTS && shm_ring_next(l->shm, &rq); n++) {
		if (n == 0) {
			l->take_seq++;
			l->take_us = now;
			l->take_left = 0;
		}
		uint64_t id = LOCAL_ID_BIT | (++d->next_req << 8) | rq.slot;
		l->ticket[rq.slot] = rq.ticket;
		l->req[rq.slot] = id;
		l->req_us[rq.slot] = now;
		l->stale_ok[rq.slot] = false;
		/* Everything in rq came from the client: check it all before paxos sees it. */
		struct ringreq q;
		int s = ringreq_decode(&rq, &d->cfg, &q);
		if (s != PKV_S_OK) {
			shm_respond(l->shm, rq.slot, rq.ticket, s, 0, NULL, 0);
			continue;
		}
		uint64_t deadline = now + (uint64_t)q.timeout_ms * 1000u;
		/* Counted before paxos sees it: it may answer at once. */
		l->slot_take[rq.slot] = l->take_seq;
		l->take_left++;
		int r = 0;
		switch (q.op) {
		case PKV_SHM_OP_PUT:
			if (!q.bound) {
				r = paxos_put(d->paxos, id, q.bucket, q.key, q.value, deadline, q.retry,
					      now);
				break;
			}
			bind_pid_start(d, rq.slot, &q.bind);
			r = paxos_put_bound(d->paxos, id, q.bucket, q.key, q.value, &q.bind, deadline,
					    q.retry, now);
			break;
		case PKV_SHM_OP_GET:
			if (q.stale_ok) {
				l->stale_ok[rq.slot] = true;
				r = paxos_get_stale(d->paxos, id, q.bucket, q.key, deadline, q.retry,
						    now);
				break;
			}
			r = paxos_get(d->paxos, id, q.bucket, q.key, deadline, q.retry, now);
			break;
		default: /* PKV_SHM_OP_KEYS: ringreq_decode lets no other op through */
			/* shm_respond_keys answers after the cursor it copied at take */
			r = paxos_keys(d->paxos, id, q.bucket, deadline, now);
			break;
		}
		if (r < 0) {
			shm_respond(l->shm, rq.slot, rq.ticket, PKV_S_NO_MEMORY, 0, NULL, 0);
			if (l->take_left)
				l->take_left--;
		}
	}
	return 0;
}

/* A paxos completion of a ring request: answer it. False if not ours. */
bool local_complete(struct daemon *d, const struct paxos_completion *c)
{
	if (!(c->id & LOCAL_ID_BIT))
		return false; /* not a ring request */
	unsigned slot = (unsigned)(c->id & 0xffu);
	if (slot >= PKV_SHM_CLIENTS)
		return true;
	/*
	 * Only the slot's latest request is answered. A client that timed out
	 * (its daemon stopped, or no quorum) has since sent another request on
	 * the same slot; the late completion of the old one would otherwise be
	 * written under the new ticket and taken as the new answer.
	 */
	if (c->id != d->local.req[slot]) {
		d->local.stale_completions++;
		return true;
	}
	uint64_t ticket = d->local.ticket[slot];
	if (d->local.slot_take[slot] == d->local.take_seq && d->local.take_left)
		d->local.take_left--;
	/* Latency from the ring to the answer (a get here missed the cache). */
	uint64_t us = daemon_now_us() - d->local.req_us[slot];
	if (c->kind == PAXOS_REQ_PUT)
		pkv_hist_add(&d->hist_put, us);
	else if (c->kind == PAXOS_REQ_GET)
		pkv_hist_add(&d->hist_get_miss, us);
	if (c->kind == PAXOS_REQ_KEYS && c->status == PKV_S_OK) {
		shm_respond_keys(d->local.shm, slot, ticket, c->keys, c->n_keys);
	} else {
		const struct pkv_bindings *b = &c->bind;
		/* A stale get answered past the lease says so (docs/design.md §5.1). */
		uint32_t rf = d->local.stale_ok[slot] && c->status == PKV_S_OK &&
					      daemon_now_us() >= d->lease_until_us
				      ? PKV_SHM_RF_STALE
				      : 0u;
		shm_respond_bound(d->local.shm, slot, ticket, c->status, c->gen, c->value.p, c->value.len,
				  (b->mask & PKV_BIND_UNTIL) ? b->until : 0,
				  (b->mask & PKV_BIND_PID) ? b->pid : 0,
				  (b->mask & PKV_BIND_NODE) ? b->node : 0, rf);
	}
	return true;
}

/* Publishes what the local learner learned into the shared cache. */
void local_publish_learned(struct daemon *d)
{
	size_t n;
	struct store_entry *const *e = paxos_learned(d->paxos, &n);
	/* cache_lag= (fault injection): a slow publish, to show who waits for it. */
	if (PKV_FAULT_INJECTION && n && d->fault.cache_lag_us) {
		struct timespec ts = {0, (long)d->fault.cache_lag_us * 1000};
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (e[i]->chosen)
			shm_cache_publish(d->local.shm, store_bucket_name(e[i]->bucket), e[i]->key,
					  e[i]->chosen_value, e[i]->gen,
					  (e[i]->chosen_bind->mask & PKV_BIND_UNTIL) ? e[i]->chosen_bind->until
										    : 0);
	paxos_learned_reset(d->paxos);
}

/* Before blocking: false when requests wait in the ring (do not block). */
bool local_sleep_begin(struct daemon *d)
{
	return shm_sleep_begin(d->local.shm);
}

void local_sleep_end(struct daemon *d)
{
	shm_sleep_end(d->local.shm);
}

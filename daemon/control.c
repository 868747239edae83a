// SPDX-License-Identifier: MIT
/*
 * control.c — the daemon's UNIX socket: peer credentials, requests from
 * `pkv` and the tools, replies. One request at a time per connection.
 *
 * What a request asks of other modules (a shared-memory slot, a resize, the
 * durable log's figures) goes through the hooks the loop registered, and so
 * does a connection going away.
 *
 * Key and bucket watches and lock waiters' queues (docs/design.md §8.3,
 * §8.5) are in control-watch.c.
 */
#include "control.h"
#include "control-internal.h"

#include "daemon.h"

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fault.h"
#include "paxos.h"
#include "persist.h"
#include "pkv-ctl.h"
#include "pkv-shm.h"
#include "shm.h"
#include "store.h"

struct ctl_packet {
	struct ctl_packet *next;
	size_t len;
	uint8_t data[];
};

/* A key bound to a subscriber's process, in doubt: bucket then key bytes. */
struct ctl_doubt {
	uint64_t gen;
	uint32_t blen, klen;
	uint8_t data[];
};

void control_init(struct control *ctl, const struct control_hooks *h)
{
	ctl->fd = -1;
	ctl->hooks = h;
}

int control_open(struct daemon *d)
{
	const char *path = d->ctl_path;
	size_t n = strlen(path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (n >= sizeof(sa.sun_path)) {
		daemon_err(d, "socket path too long for a UNIX socket: %s", path);
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, n + 1);
	unlink(path); /* a stale socket of a previous run; the state-dir lock says we own it */
	/* The group's members connect too (docs/design.md §8.1). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (d->has_group && chown(path, (uid_t)-1, (gid_t)d->group_gid) < 0) ||
	    chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		int e = -errno;
		daemon_err(d, "cannot listen on %s: %s", path, strerror(-e));
		close(fd);
		return e;
	}
	d->ctl.fd = fd;
	return net_listen(d->net, fd);
}

/* The peer's supplementary groups from /proc (kernels before SO_PEERGROUPS). */
static bool proc_groups_have(pid_t pid, gid_t gid)
{
	char path[64], line[4096];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *p = line + 7, *end;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			if ((gid_t)g == gid)
				found = true;
			p = end;
		}
		break;
	}
	fclose(f);
	return found;
}

/*
 * Admitted: the daemon's uid, root, or a member of the configured group —
 * its primary gid or any of its supplementary groups. Writes why not into
 * why (for the log and the client) when it returns false. *pid is the
 * peer's pid as the kernel names it in our namespace.
 */
static bool peer_allowed(struct daemon *d, int fd, pid_t *pid, char *why, size_t len)
{
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) < 0) {
		snprintf(why, len, "no peer credentials: %s", strerror(errno));
		return false;
	}
	*pid = cr.pid;
	if (cr.uid == 0 || cr.uid == getuid())
		return true;
	if (d->has_group) {
		gid_t gid = (gid_t)d->group_gid;
		if (cr.gid == gid)
			return true;
		gid_t groups[256];
		socklen_t gl = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0) {
			for (size_t i = 0; i < gl / sizeof(gid_t); i++)
				if (groups[i] == gid)
					return true;
		} else if (errno == ENOPROTOOPT && proc_groups_have(cr.pid, gid)) {
			return true;
		}
		snprintf(why, len,
			 "access denied: uid %u (pid %ld) is not pkvd's uid %u and not in group '%s'",
			 (unsigned)cr.uid, (long)cr.pid, (unsigned)getuid(), d->cfg.group);
	} else {
		snprintf(why, len,
			 "access denied: uid %u (pid %ld) is not pkvd's uid %u (no 'group' is"
			 " configured)",
			 (unsigned)cr.uid, (long)cr.pid, (unsigned)getuid());
	}
	return false;
}

static void conn_free(struct daemon *d, struct ctl_conn *c)
{
	for (struct ctl_conn **pp = &d->ctl.conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	d->ctl.hooks->closed(d, c, c->attach);
	if (c->watcher)
		watch_leave(d, c);
	for (size_t i = 0; i < c->n_doubt; i++)
		free(c->doubt[i]);
	d->ctl.n_doubt -= c->n_doubt;
	free(c->doubt);
	while (c->txq) {
		struct ctl_packet *p = c->txq;
		c->txq = p->next;
		free(p);
	}
	close(c->fd);
	free(c);
}

static void arm_recv(struct daemon *d, struct ctl_conn *c)
{
	if (net_ctl_recv(d->net, c->fd, c, c->rx, sizeof(c->rx)) == 0)
		c->recv_armed = true;
}

void control_accept(struct daemon *d, int fd)
{
	char why[256];
	pid_t pid = 0;
	if (!peer_allowed(d, fd, &pid, why, sizeof(why))) {
		daemon_warn(d, "control: refused a connection: %s", why);
		/* One packet saying why, on the fresh socket (room for it is
		 * certain), so the client can name the group in its error. */
		struct {
			struct ctl_rep rep;
			char text[sizeof(why)];
		} pkt = {.rep = {.magic = CTL_MAGIC, .status = -EACCES}};
		size_t tl = strlen(why);
		pkt.rep.len = (uint32_t)tl;
		memcpy(pkt.text, why, tl);
		(void)send(fd, &pkt, sizeof(pkt.rep) + tl, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	struct ctl_conn *c = malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, offsetof(struct ctl_conn, rx));
	c->fd = fd;
	c->pid = (int32_t)pid;
	c->txtail = &c->txq;
	c->next = d->ctl.conns;
	d->ctl.conns = c;
	arm_recv(d, c);
}

static void send_next(struct daemon *d, struct ctl_conn *c)
{
	if (c->sending || !c->txq)
		return;
	if (net_ctl_send(d->net, c->fd, c, c->txq->data, c->txq->len) == 0)
		c->sending = true;
}

bool queue_reply(struct daemon *d, struct ctl_conn *c, int status, uint64_t gen,
		 const void *payload, size_t len, bool more)
{
	struct ctl_packet *p = malloc(sizeof(*p) + sizeof(struct ctl_rep) + len);
	if (!p)
		return false;
	struct ctl_rep rep = {
		.magic = CTL_MAGIC,
		.status = status,
		.gen = gen,
		.len = (uint32_t)len,
		.flags = more ? CTL_RF_MORE : 0,
	};
	memcpy(p->data, &rep, sizeof(rep));
	if (len)
		memcpy(p->data + sizeof(rep), payload, len);
	p->len = sizeof(rep) + len;
	c->queued_bytes += p->len;
	p->next = NULL;
	*c->txtail = p;
	c->txtail = &p->next;
	c->queued++;
	send_next(d, c);
	return true;
}

/* Text of `pkv cluster`: "name: value" lines (README.md, "Command line"). */
static size_t cluster_text(struct daemon *d, char *buf, size_t cap)
{
	size_t o = 0;
#define OUT(...)                                                                                   \
	do {                                                                                       \
		if (o < cap)                                                                       \
			o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__);                      \
	} while (0)
	uint64_t now = daemon_now_us();
	OUT("node: %s\n", d->cfg.self);
	OUT("id: %u\n", d->self);
	OUT("cluster: %s\n", d->cfg.cluster);
	OUT("cluster_size: %u\n", d->mem.cluster_size);
	OUT("quorum: %s\n", membership_quorum(&d->mem) ? "yes" : "no");
	/* docs/design.md §5.1: whether cached reads are vouched for, and for how long */
	if (d->lease_until_us == UINT64_MAX)
		OUT("lease: yes (a lone voter)\n");
	else if (now < d->lease_until_us)
		OUT("lease: yes left_ms=%" PRIu64 "\n", (d->lease_until_us - now) / 1000u);
	else if (d->mem.quorum)
		OUT("lease: no (quorum, but not yet echoes of a majority that owes it no"
		    " erasure; cached reads answer no quorum)\n");
	else
		OUT("lease: no (cached reads answer no quorum; get --stale reads them)\n");
	/* §4.5: this node's wall clock against the voters' */
	OUT("clock: %s skew_ms=%+" PRId64 "\n", d->clock_off ? "off" : "ok", d->clock_skew_ms);
	OUT("voter: %s\n", membership_is_voter(&d->mem, d->self) ? "yes" : "no (does not vote)");
	/* docs/design.md §5: a voter of a new configuration votes once caught up */
	OUT("configuration: %" PRIu64 "%s\n", d->conf.num,
	    membership_is_voter(&d->mem, d->self) && !paxos_synced(d->paxos)
		    ? " (catching up: answers nothing yet)"
		    : "");
	OUT("nodes:"); /* every configured node, in order */
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		OUT(" %s", d->cfg.nodes[i].name);
	OUT("\n");
	OUT("voters:");
	for (unsigned i = 0; i < d->cfg.n_nodes; i++) {
		const struct pkv_node_cfg *n = &d->cfg.nodes[i];
		if (membership_is_voter(&d->mem, n->id))
			OUT(" %s", n->name);
	}
	OUT("\n");
	/* docs/design.md §5.2: configured `observer`; a promoted one votes all the same */
	OUT("observers:");
	for (unsigned i = 0; i < d->cfg.n_nodes; i++)
		if (d->cfg.nodes[i].observer)
			OUT(" %s", d->cfg.nodes[i].name);
	OUT("\n");
	OUT("connected:");
	for (unsigned i = 0; i < d->cfg.n_nodes; i++) {
		const struct pkv_node_cfg *n = &d->cfg.nodes[i];
		if (n->id == d->self || membership_is_connected(&d->mem, n->id))
			OUT(" %s", n->name);
	}
	OUT("\n");
	OUT("incarnation: %" PRIu64 "\n", d->incarnation);
	/* §6.2: how long the peers keep this node's pid bindings once it is gone
	 * (`pkv hold` rides a restart out for as long) */
	OUT("timing: failure_timeout_ms=%u restart_grace_ms=%u heartbeat_ms=%u\n",
	    d->cfg.failure_timeout_ms, d->cfg.restart_grace_ms, d->cfg.heartbeat_ms);
	unsigned subscribers = 0;
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next)
		subscribers += c->subscriber && !c->closing;
	OUT("subscribers: %u\n", subscribers);
	OUT("watches: %zu dropped=%" PRIu64 "\n", d->ctl.n_watch, d->ctl.watch_dropped);
	OUT("uptime_ms: %" PRIu64 "\n", (now - d->started_us) / 1000u);
	if (d->paxos) {
		OUT("synced: %s\n", paxos_synced(d->paxos) ? "yes" : "no");
		OUT("epoch: %" PRIu64 "\n", paxos_epoch(d->paxos));
	}
	OUT("sessions: handshakes=%" PRIu64 " rekeys=%" PRIu64 "\n", d->wire->handshakes,
	    d->wire->rekeys);
	OUT("rejected:");
	for (unsigned r = 0; r < WIRE_REJ__COUNT; r++)
		OUT(" %s=%" PRIu64, wire_reject_to_str(r), d->wire->rejects[r]);
	OUT("\n");
	for (unsigned i = 0; i < d->cfg.n_nodes; i++) {
		const struct pkv_node_cfg *n = &d->cfg.nodes[i];
		if (n->id == d->self)
			continue;
		const struct membership_peer *p = membership_peer(&d->mem, n->id);
		if (!p)
			continue;
		/* role: a voter, or not (an observer, or a node left out of the voters);
		 * `unwatched`: neither side votes, so no heartbeats between them (§5.2) */
		bool pv = membership_is_voter(&d->mem, n->id);
		OUT("peer: %s addr=%s role=%s state=%s", n->name, n->addr_text,
		    pv ? "voter" : n->observer ? "observer" : "non-voter",
		    pv || membership_is_voter(&d->mem, d->self) ? p->connected ? "up" : "down"
								: "unwatched");
		if (p->last_heard_us)
			OUT(" last_heard_ms=%" PRIu64, (now - p->last_heard_us) / 1000u);
		else
			OUT(" last_heard_ms=never");
		OUT(" rtt_us=%" PRIu64 " hb_in=%" PRIu64 " hb_out=%" PRIu64 " max_datagram=%u",
		    p->rtt_us, p->hb_in, p->hb_out, config_datagram_cap(&d->cfg, n));
		int64_t skew;
		if (membership_peer_skew(&d->mem, n->id, now, &skew))
			OUT(" clock_ms=%+" PRId64, skew);
		OUT("\n");
	}
	const struct net_stats *ns = net_stats(d->net);
	OUT("datagrams: in=%" PRIu64 " out=%" PRIu64 " nobufs=%" PRIu64 " send_dropped=%" PRIu64
	    " largest_batch=%" PRIu64 " oversize=%" PRIu64 " ring_wakes=%" PRIu64 "\n",
	    ns->dgrams_in, ns->dgrams_out, ns->recv_nobufs, ns->send_dropped,
	    d->stats_largest_batch, d->stats_oversize, ns->futex_wakes);
	if (d->fault.drop_pct || d->fault.dup_pct || d->fault.reorder_pct || d->fault.delay_ms ||
	    d->fault.lag_ms || d->fault.skew_ms || d->fault.blocked || d->fault.block_in ||
	    d->fault.block_out || d->fault.dropped || d->fault.duplicated || d->fault.delayed ||
	    d->fault.reordered || d->fault.blocked_count)
		OUT("faults: drop=%u%% dup=%u%% reorder=%u%% delay=%ums lag=%ums skew=%" PRId64
		    "ms dropped=%" PRIu64 " duplicated=%" PRIu64 " blocked=%" PRIu64
		    " delayed=%" PRIu64 " reordered=%" PRIu64 " held=%zu\n",
		    d->fault.drop_pct, d->fault.dup_pct, d->fault.reorder_pct, d->fault.delay_ms,
		    d->fault.lag_ms, d->fault.skew_ms, d->fault.dropped, d->fault.duplicated,
		    d->fault.blocked_count, d->fault.delayed, d->fault.reordered, d->fault.n_held);
#undef OUT
	return o < cap ? o : cap;
}

/*
 * One latency histogram (pkv-hist.h): its name, n=, sum_us=, p50_us=,
 * p99_us=, then b<i>=N for every bucket i that is not empty.
 */
static void latency_line(char *buf, size_t cap, size_t *o, const char *name,
			 const struct pkv_hist *h)
{
#define LOUT(...)                                                                                  \
	do {                                                                                       \
		if (*o < cap)                                                                      \
			*o += (size_t)snprintf(buf + *o, cap - *o, __VA_ARGS__);                   \
	} while (0)
	LOUT("latency: %s n=%" PRIu64 " sum_us=%" PRIu64 " p50_us=%" PRIu64 " p99_us=%" PRIu64, name,
	     h->count, h->sum_us, pkv_hist_quantile_us(h, 0.5), pkv_hist_quantile_us(h, 0.99));
	for (unsigned i = 0; i < PKV_HIST_BUCKETS; i++)
		if (h->b[i])
			LOUT(" b%u=%" PRIu64, i, h->b[i]);
	LOUT("\n");
#undef LOUT
}

/*
 * Text of CTL_OP_STATS, for inspectors. Lines:
 *   paxos: rounds_started=N rounds_in_flight=N requests_in_flight=N
 *          conflicts=N forwards=N retransmits=N chosen=N learned=N ...
 *          fast_rounds=N fast_chosen=N fast_fallbacks=N fast_refused=N (puts
 *          that skipped phase 1, chosen so, gone on classically; fast
 *          ACCEPTs this acceptor refused, having voted at F already)
 *   lifetimes: learned_in_loss=N waiting=N over_limit=N (values learned
 *          while a peer they name counted lost, judged from their learning;
 *          those still so; those not, PAXOS_REJUDGE_MAX waiting: §4.2)
 *   tombstones: pending=N collected=N floor_puts=N (erasures not yet
 *          acknowledged by every daemon; tombstones forgotten; puts of a key
 *          at its bucket's floor, docs/design.md §4.6)
 *   local: attached=N requests=N responses=N cache_entries=N ... cache_capacity=N
 *          cache_refused=N (capacity: slots, stripes x 64; the stripes are
 *          sized so that cache_entries keys fill them to 3/4)
 *   durable: log_bytes=N records=N syncs=N sync_us=N compactions=N
 *          (only with the durable log on; sync_us: time in write + fdatasync)
 *   latency: NAME n=N sum_us=N p50_us=N p99_us=N b<i>=N...  one line each for
 *          put (ring request to answer), get_miss (a get that reached the
 *          daemon: the cache missed) and, with the durable log, sync (a
 *          batch's write + fdatasync); b<i> counts values in [2^i, 2^(i+1))
 *          µs (b0: below 2), only the buckets that are not empty (pkv-hist.h)
 *   bucket: NAME keys=N bytes=N chosen=N puts=N gets=N bound_pid=N bound_node=N
 *           bound_key=N bound_until=N rounds_in_flight=N erasures=N
 * (bound_*: chosen keys of the live generation bound by that lifetime; one key
 * can count under several; erasures: generations ended here since start).
 * Every figure is a counter kept as the store changes, so a report costs
 * O(buckets + requests in flight), not O(keys).
 * Bucket names are printed as they are when they are printable ASCII without
 * spaces, else as hex prefixed with "0x".
 */
static size_t stats_text(struct daemon *d, char *buf, size_t cap)
{
	size_t o = 0;
#define OUT(...)                                                                                   \
	do {                                                                                       \
		if (o < cap)                                                                       \
			o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__);                      \
	} while (0)
	const struct paxos_stats *ps = paxos_stats(d->paxos);
	OUT("paxos: rounds_started=%" PRIu64 " rounds_in_flight=%" PRIu64
	    " requests_in_flight=%" PRIu64 " conflicts=%" PRIu64 " forwards=%" PRIu64
	    " forwards_served=%" PRIu64 " retransmits=%" PRIu64 " chosen=%" PRIu64
	    " learned=%" PRIu64 " violations=%" PRIu64 " dropped_unsynced=%" PRIu64
	    " not_voter_dropped=%" PRIu64 " malformed_dropped=%" PRIu64
	    " keys_over_budget=%" PRIu64 " sync_over_budget=%" PRIu64
	    " drops_over_budget=%" PRIu64 " forwards_over_budget=%" PRIu64
	    " epochs_declared=%" PRIu64 " puts=%" PRIu64 " gets=%" PRIu64 " keys=%" PRIu64
	    " entries=%zu max_keys=%u keys_refused=%" PRIu64 " fast_rounds=%" PRIu64
	    " fast_chosen=%" PRIu64 " fast_fallbacks=%" PRIu64 " fast_refused=%" PRIu64 "\n",
	    ps->rounds_started, ps->rounds_in_flight, ps->requests_in_flight, ps->conflicts,
	    ps->forwards, ps->forwards_served, ps->retransmits, ps->chosen, ps->learned,
	    ps->violations, ps->dropped_unsynced, ps->not_voter_dropped, ps->malformed_dropped,
	    ps->keys_over_budget, ps->sync_over_budget, ps->drops_over_budget,
	    ps->forwards_over_budget,
	    ps->epochs_declared, ps->puts, ps->gets,
	    ps->keys, store_nentries(d->store), d->cfg.max_keys,
	    ps->keys_refused + store_refused(d->store), ps->fast_rounds, ps->fast_chosen,
	    ps->fast_fallbacks, ps->fast_refused);
	/* The authority rules (docs/design.md §3.5, §4.4). */
	OUT("authority: chosen_unchecked=%" PRIu64 " learn_reads=%" PRIu64
	    " drops_unproven=%" PRIu64 " drops_applied=%" PRIu64 "\n",
	    ps->chosen_unchecked, ps->learn_reads, ps->drops_unproven, ps->drops_applied);
	/* Own bound puts of unknown outcome, read back (docs/design.md §6.2). */
	OUT("owner: in_doubt=%" PRIu64 " reads=%" PRIu64 " over_limit=%" PRIu64 "\n",
	    ps->owner_doubts, ps->owner_reads, ps->owner_doubts_dropped);
	/* A loss seen before the binding (docs/design.md §4.2). */
	OUT("lifetimes: learned_in_loss=%" PRIu64 " waiting=%" PRIu64 " over_limit=%" PRIu64 "\n",
	    ps->learned_in_loss, ps->rejudge_waiting, ps->rejudge_full);
	/* Tombstones (docs/design.md §4.6): entries= above counts the uncollected. */
	OUT("tombstones: pending=%" PRIu64 " collected=%" PRIu64 " floor_puts=%" PRIu64 "\n",
	    ps->tombstones_pending, ps->tombstones_collected, ps->floor_puts);
	const struct pkv_shm_stats *ss = shm_stats(d->local.shm);
	OUT("local: attaches=%" PRIu64 " requests=%" PRIu64 " responses=%" PRIu64
	    " cache_entries=%" PRIu64 " cache_published=%" PRIu64 " cache_evicted=%" PRIu64
	    " lock_recoveries=%" PRIu64 " reclaimed=%" PRIu64 " stale_completions=%" PRIu64
	    " cache_capacity=%" PRIu64 " cache_refused=%" PRIu64 " holds=%" PRIu64 "\n",
	    ss->attached, ss->requests, ss->responses, ss->cache_entries, ss->cache_published,
	    ss->cache_evicted, ss->lock_recoveries, ss->reclaimed, d->local.stale_completions,
	    (uint64_t)shm_cache_geom(d->local.shm)->stripes * PKV_SHM_STRIPE_ENTRIES, ss->cache_refused,
	    d->local.holds);
	struct persist_stats pst;
	d->ctl.hooks->durable_stats(d, &pst);
	if (pst.on)
		OUT("durable: log_bytes=%" PRIu64 " records=%" PRIu64 " syncs=%" PRIu64
		    " sync_us=%" PRIu64 " compactions=%" PRIu64 "\n",
		    pst.log_bytes, pst.records, pst.syncs, pst.sync_ns / 1000u, pst.compactions);
	latency_line(buf, cap, &o, "put", &d->hist_put);
	latency_line(buf, cap, &o, "get_miss", &d->hist_get_miss);
	if (pst.on)
		latency_line(buf, cap, &o, "sync", &d->hist_sync);
	size_t nb = store_nbuckets(d->store);
	for (size_t i = 0; i < nb && o < cap; i++) {
		struct store_bucket *b = store_bucket_at(d->store, i);
		struct pkv_bytes name = store_bucket_name(b);
		size_t nk = store_bucket_nkeys(b);
		bool plain = name.len > 0;
		for (uint32_t k = 0; k < name.len; k++)
			plain = plain && name.p[k] > ' ' && name.p[k] < 0x7f;
		OUT("bucket: ");
		if (plain) {
			OUT("%.*s", (int)name.len, (const char *)name.p);
		} else {
			OUT("0x");
			for (uint32_t k = 0; k < name.len; k++)
				OUT("%02x", name.p[k]);
		}
		const struct store_bucket_stats *bs = store_bucket_stats(b);
		OUT(" keys=%zu bytes=%" PRIu64 " chosen=%" PRIu64 " puts=%" PRIu64 " gets=%" PRIu64
		    " bound_pid=%" PRIu64 " bound_node=%" PRIu64 " bound_key=%" PRIu64
		    " bound_until=%" PRIu64 " rounds_in_flight=%" PRIu64 " erasures=%" PRIu64 "\n",
		    nk, store_bucket_bytes(b), bs->chosen, bs->puts, bs->gets, bs->bound[0],
		    bs->bound[1], bs->bound[2], bs->bound[3], paxos_bucket_rounds(d->paxos, name),
		    bs->erasures);
	}
#undef OUT
	return o < cap ? o : cap;
}

/* ---- per-binding events (docs/design.md §5.1) ---- */

/*
 * The lifetimes in doubt for subscriber c: the chosen values bound to its
 * process by this daemon (pid bindings it owns). A walk of the store, once
 * per subscriber when the lease lapses.
 */
static void collect_doubt(struct daemon *d, struct ctl_conn *c)
{
	if (c->pid <= 0 || c->n_doubt)
		return;
	for (size_t i = 0; i < store_nslots(d->store); i++) {
		const struct store_entry *e = store_entry_at(d->store, i);
		const struct pkv_bindings *b = e && e->chosen ? e->chosen_bind : NULL;
		if (!b || !(b->mask & PKV_BIND_PID) || b->owner != d->self ||
		    b->owner_inc != d->incarnation || b->pid != c->pid)
			continue;
		struct pkv_bytes bucket = store_bucket_name(e->bucket);
		struct ctl_doubt *x = malloc(sizeof(*x) + bucket.len + e->key.len);
		struct ctl_doubt **v = realloc(c->doubt, (c->n_doubt + 1) * sizeof(*v));
		if (!x || !v) {
			free(x);
			if (v)
				c->doubt = v;
			daemon_warn(d, "control: out of memory; a holder is not told of a lifetime");
			return;
		}
		x->gen = e->gen;
		x->blen = bucket.len;
		x->klen = e->key.len;
		memcpy(x->data, bucket.p, bucket.len);
		memcpy(x->data + bucket.len, e->key.p, e->key.len);
		c->doubt = v;
		c->doubt[c->n_doubt++] = x;
		d->ctl.n_doubt++;
	}
}

/* Event payload: the name, a NUL, the bucket's length (one byte), bucket, key. */
static void send_lifetime(struct daemon *d, struct ctl_conn *c, const char *name,
			  const struct ctl_doubt *x)
{
	size_t nl = strlen(name);
	uint8_t buf[CTL_EVENT_NAME_MAX + 2 + 255 + PKV_MAX_KEY];
	if (nl > CTL_EVENT_NAME_MAX || x->blen > 255 || x->klen > PKV_MAX_KEY)
		return;
	/* The default bucket goes as none, as clients name it. */
	size_t dl = sizeof(PKV_DEFAULT_BUCKET) - 1;
	bool dflt = x->blen == dl && !memcmp(x->data, PKV_DEFAULT_BUCKET, dl);
	uint32_t blen = dflt ? 0 : x->blen;
	memcpy(buf, name, nl);
	buf[nl] = 0;
	buf[nl + 1] = (uint8_t)blen;
	memcpy(buf + nl + 2, x->data, blen);
	memcpy(buf + nl + 2 + blen, x->data + x->blen, x->klen);
	if (!c->closing)
		queue_reply(d, c, PKV_S_OK, x->gen, buf, nl + 2 + blen + x->klen, false);
}

static void drop_doubt(struct daemon *d, struct ctl_conn *c, size_t i)
{
	free(c->doubt[i]);
	c->doubt[i] = c->doubt[--c->n_doubt];
	d->ctl.n_doubt--;
}

void control_lease_lost(struct daemon *d)
{
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next)
		if (c->subscriber && !c->closing)
			collect_doubt(d, c);
}

/*
 * The lease holds again, which it does only once the erasures a majority
 * made meanwhile are in (§5.1): a lifetime in doubt still here is confirmed.
 */
void control_lease_regained(struct daemon *d)
{
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
		while (c->n_doubt) {
			struct ctl_doubt *x = c->doubt[c->n_doubt - 1];
			struct pkv_bytes bucket = {x->data, x->blen};
			struct pkv_bytes key = {x->data + x->blen, x->klen};
			const struct store_entry *e = store_lookup(d->store, bucket, key, false);
			bool live = e && e->chosen && e->gen == x->gen;
			send_lifetime(
			    d, c, live ? CTL_EVENT_LIFETIME_CONFIRMED : CTL_EVENT_LIFETIME_ENDED,
			    x);
			drop_doubt(d, c, c->n_doubt - 1);
		}
	}
}

void control_lifetime_erased(struct daemon *d, struct pkv_bytes bucket, struct pkv_bytes key,
			     uint64_t through)
{
	if (!d->ctl.n_doubt)
		return;
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
		for (size_t i = 0; i < c->n_doubt;) {
			struct ctl_doubt *x = c->doubt[i];
			if (x->gen <= through && x->blen == bucket.len && x->klen == key.len &&
			    !memcmp(x->data, bucket.p, bucket.len) &&
			    !memcmp(x->data + x->blen, key.p, key.len)) {
				send_lifetime(d, c, CTL_EVENT_LIFETIME_ENDED, x);
				drop_doubt(d, c, i);
			} else {
				i++;
			}
		}
	}
}

/* Answers to CTL_OP_INFO, each to the connection that asked (§8.6). */
static void info_drain(struct daemon *d)
{
	size_t n;
	const struct paxos_info_rec *rec = paxos_info_replies(d->paxos, &n);
	for (size_t i = 0; i < n; i++) {
		const struct paxos_info_rec *x = &rec[i];
		for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
			if (c->info_id != x->id || c->closing)
				continue;
			struct ctl_info_rec r = {
			    .node = x->node,
			    .kind = (uint8_t)x->kind,
			    .flags = (uint8_t)((x->has_value ? CTL_INFO_HAS_VALUE : 0) |
					       (x->synced ? CTL_INFO_SYNCED : 0) |
					       (x->voter ? CTL_INFO_VOTER : 0)),
			    .gen = x->gen,
			    .promised_round = x->promised.round,
			    .promised_node = x->promised.node,
			    .ballot_node = x->ballot.node,
			    .ballot_round = x->ballot.round,
			    .bind_mask = x->bind_mask,
			    .value_len = x->value.len,
			};
			uint8_t *buf = malloc(sizeof(r) + x->value.len);
			if (!buf)
				break;
			memcpy(buf, &r, sizeof(r));
			if (x->value.len)
				memcpy(buf + sizeof(r), x->value.p, x->value.len);
			queue_reply(d, c, PKV_S_OK, 0, buf, sizeof(r) + x->value.len, true);
			free(buf);
			break;
		}
	}
	paxos_info_reset(d->paxos);
}

/*
 * The bucket and key a request names (its key may be empty where the
 * caller allows it), checked as every request's are; 0 or the status to
 * refuse with. An empty bucket is the default one.
 */
int req_bucket_key(const struct ctl_conn *c, const struct ctl_req *rq, struct pkv_bytes *bucket,
		   struct pkv_bytes *key)
{
	const uint8_t *p = c->rx + sizeof(*rq);
	if (rq->key_len > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE;
	*bucket = (struct pkv_bytes){p, rq->bucket_len};
	if (!bucket->len)
		*bucket = (struct pkv_bytes){(const uint8_t *)PKV_DEFAULT_BUCKET,
					     sizeof(PKV_DEFAULT_BUCKET) - 1};
	if (!store_bucket_name_ok(*bucket) || pkv_bucket_reserved(bucket->p, bucket->len))
		return PKV_S_BAD_REQUEST; /* a reserved bucket is the daemons' own, as in ringreq.c */
	*key = (struct pkv_bytes){p + rq->bucket_len, rq->key_len};
	return 0;
}

int req_bucket_key_u64(const struct ctl_conn *c, const struct ctl_req *rq,
		       struct pkv_bytes *bucket, struct pkv_bytes *key, uint64_t *v)
{
	int st = req_bucket_key(c, rq, bucket, key);
	if (!st)
		memcpy(v, key->p + key->len, sizeof(*v));
	return st;
}

/* CTL_OP_INFO: checked like every request; 0 or the status to refuse with. */
static int info_request(struct daemon *d, struct ctl_conn *c, const struct ctl_req *rq)
{
	if (c->info_id || c->watcher || c->subscriber || rq->flags || rq->value_len || !rq->key_len)
		return PKV_S_BAD_REQUEST;
	struct pkv_bytes bucket, key;
	int st = req_bucket_key(c, rq, &bucket, &key);
	if (st)
		return st;
	c->info_id = ++d->next_req;
	queue_reply(d, c, PKV_S_OK, d->cfg.n_nodes, NULL, 0, true);
	if (paxos_info_request(d->paxos, c->info_id, bucket, key, daemon_now_us()) < 0)
		daemon_warn(d, "control: out of memory asking the peers about a key");
	return 0;
}

void control_drain_paxos(struct daemon *d)
{
	watch_drain(d);
	info_drain(d);
}

/*
 * CTL_OP_RELEASE (docs/design.md §8.4): the key's lifetime ends early when
 * it is bound to the connection's own process — the pid the kernel named at
 * accept, and the start time of that process now, so a recycled pid is not
 * it — as if the process had exited.
 */
static int release_request(struct daemon *d, struct ctl_conn *c, const struct ctl_req *rq)
{
	if (rq->flags || rq->value_len != 8 || !rq->key_len)
		return PKV_S_BAD_REQUEST;
	struct pkv_bytes bucket, key;
	uint64_t gen;
	int st = req_bucket_key_u64(c, rq, &bucket, &key, &gen);
	if (st)
		return st;
	if (c->pid <= 0)
		return PKV_S_NOT_OWNER;
	uint64_t started = d->ctl.hooks->pid_start_time(c->pid);
	return paxos_release(d->paxos, bucket, key, gen, c->pid, started, daemon_now_us());
}

static void handle_request(struct daemon *d, struct ctl_conn *c, size_t len)
{
	struct ctl_req rq;
	if (len < sizeof(rq)) {
		queue_reply(d, c, PKV_S_BAD_REQUEST, 0, NULL, 0, false);
		return;
	}
	memcpy(&rq, c->rx, sizeof(rq));
	size_t need = sizeof(rq) + (size_t)rq.bucket_len + rq.key_len + rq.value_len;
	if (rq.magic != CTL_MAGIC || need != len) {
		queue_reply(d, c, PKV_S_BAD_REQUEST, 0, NULL, 0, false);
		return;
	}
	switch (rq.op) {
	case CTL_OP_CLUSTER: {
		char text[8192];
		size_t n = cluster_text(d, text, sizeof(text));
		queue_reply(d, c, PKV_S_OK, 0, text, n, false);
		return;
	}
	case CTL_OP_STATS: {
		size_t cap = 65536;
		char *text = malloc(cap);
		if (!text) {
			queue_reply(d, c, PKV_S_NO_MEMORY, 0, NULL, 0, false);
			return;
		}
		size_t n = stats_text(d, text, cap);
		queue_reply(d, c, PKV_S_OK, 0, text, n, false);
		free(text);
		return;
	}
	case CTL_OP_WATCH: {
		int r = watch_request(d, c, &rq);
		if (r != 0) {
			queue_reply(d, c, r, 0, NULL, 0, false);
			c->closing = true; /* refused: the stream ends here */
			shutdown(c->fd, SHUT_RD);
		}
		return;
	}
	case CTL_OP_RELEASE:
		queue_reply(d, c, release_request(d, c, &rq), 0, NULL, 0, false);
		return;
	case CTL_OP_INFO: {
		int r = info_request(d, c, &rq);
		if (r != 0)
			queue_reply(d, c, r, 0, NULL, 0, false);
		return;
	}
	case CTL_OP_SUBSCRIBE: {
		if (c->watcher) {
			queue_reply(d, c, PKV_S_BAD_REQUEST, 0, NULL, 0, false);
			return;
		}
		c->subscriber = true;
		if (d->lease_state == LEASE_LOST)
			collect_doubt(d, c); /* in doubt already: told how it ends */
		return;
	}
	case CTL_OP_DROP: {
		struct pkv_bytes bucket = {c->rx + sizeof(rq), rq.bucket_len};
		if (c->drop_req || bucket.len == 0 || rq.key_len || rq.value_len) {
			queue_reply(d, c, PKV_S_BAD_REQUEST, 0, NULL, 0, false);
			return;
		}
		uint64_t now = daemon_now_us();
		c->drop_req = ++d->next_req;
		if (paxos_bucket_drop(d->paxos, c->drop_req, bucket, now + 10000000u, now) < 0) {
			c->drop_req = 0;
			queue_reply(d, c, PKV_S_NO_MEMORY, 0, NULL, 0, false);
		}
		return;
	}
	case CTL_OP_RESIZE: {
		int r = d->ctl.hooks->resize(d, c, rq.timeout_ms, daemon_now_us());
		if (r != 0)
			queue_reply(d, c, r, 0, NULL, 0, false);
		return;
	}
	case CTL_OP_FAULT: {
		int r = fault_set(&d->fault, d,
				  (const char *)c->rx + sizeof(rq) + rq.bucket_len + rq.key_len,
				  rq.value_len);
		queue_reply(d, c, r == 0 ? PKV_S_OK : PKV_S_BAD_REQUEST, 0, NULL, 0, false);
		return;
	}
	case CTL_OP_ATTACH:
		/* The reply carries fds, so it is sent at once, outside the queue:
		 * it is the first packet of the connection, nothing is queued. */
		if (c->txq || c->sending)
			queue_reply(d, c, PKV_S_BAD_REQUEST, 0, NULL, 0, false);
		else
			d->ctl.hooks->attach(d, c->fd, &c->attach);
		return;
	default:
		/* Data requests travel through the shared-memory ring. */
		queue_reply(d, c, PKV_S_BAD_REQUEST, 0, NULL, 0, false);
		return;
	}
}

void control_recv(struct daemon *d, struct ctl_conn *c, ssize_t len)
{
	c->recv_armed = false;
	if (len <= 0) {
		c->closing = true;
		if (!c->sending)
			conn_free(d, c);
		return;
	}
	handle_request(d, c, (size_t)len);
	arm_recv(d, c);
}

void control_sent(struct daemon *d, struct ctl_conn *c, int res)
{
	c->sending = false;
	struct ctl_packet *p = c->txq;
	if (p) {
		c->txq = p->next;
		if (!c->txq)
			c->txtail = &c->txq;
		c->queued--;
		c->queued_bytes -= p->len;
		free(p);
	}
	if (res < 0 && !c->closing) {
		c->closing = true;
		shutdown(c->fd, SHUT_RDWR); /* completes the armed recv */
	}
	if (c->closing) {
		if (!c->recv_armed)
			conn_free(d, c);
		/* else: the armed recv fails or returns 0 once the peer is gone */
		return;
	}
	send_next(d, c);
}

void control_publish_event(struct daemon *d, const char *event, uint64_t epoch)
{
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
		if (!c->subscriber || c->closing)
			continue;
		/* A subscriber that stopped reading loses its stream, not our memory. */
		if (c->queued > 1024) {
			c->closing = true;
			shutdown(c->fd, SHUT_RDWR);
			continue;
		}
		queue_reply(d, c, PKV_S_OK, epoch, event, strlen(event), false);
	}
}

void control_drop_done(struct daemon *d, uint64_t req, int status)
{
	for (struct ctl_conn *c = d->ctl.conns; c; c = c->next) {
		if (c->drop_req == req) {
			c->drop_req = 0;
			if (!c->closing)
				queue_reply(d, c, status, 0, NULL, 0, false);
			return;
		}
	}
}

void control_resize_done(struct daemon *d, struct ctl_conn *c, int status)
{
	queue_reply(d, c, status, 0, NULL, 0, false);
}

void control_close_all(struct daemon *d)
{
	d->ctl.closing_all = true;
	while (d->ctl.conns)
		conn_free(d, d->ctl.conns);
	if (d->ctl.fd >= 0) {
		unlink(d->ctl_path);
		close(d->ctl.fd);
	}
}

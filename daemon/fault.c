// SPDX-License-Identifier: MIT
/*
 * fault.c — fault injection (-Dfault_injection=true) on the datagrams of
 * the loop: losses, partitions, duplicates, delays, reordering and a skewed
 * wall clock (fault.h). Calls nothing of the shell but the log: held
 * datagrams go out through the send callback the loop registered.
 */
#include "fault.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "config.h"
#include "log.h"

void fault_init(struct fault *f, uint64_t seed, fault_send_fn *send, void *send_ctx)
{
	f->seed = seed;
	f->send = send;
	f->send_ctx = send_ctx;
}

static uint64_t fault_rand(struct fault *f)
{
	uint64_t x = f->rng ? f->rng : 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return f->rng = x;
}

/* True when fault injection says this datagram, to (`out`) or from `peer`,
 * is lost: block= cuts both directions, block_in=/block_out= one only (an
 * asymmetric partition), then drop= loses a share at random. */
bool fault_drops_late(struct fault *f, uint32_t peer)
{
	if (!PKV_FAULT_INJECTION)
		return false;
	uint64_t bit = peer >= 1 && peer <= 64 ? 1ull << (peer - 1) : 0;
	if (!(bit & f->late_erase))
		return false;
	f->blocked_count++;
	return true;
}

bool fault_drops(struct fault *f, uint32_t peer, bool out)
{
	if (!PKV_FAULT_INJECTION)
		return false;
	uint64_t bit = peer >= 1 && peer <= 64 ? 1ull << (peer - 1) : 0;
	if (bit & (f->blocked | (out ? f->block_out : f->block_in))) {
		f->blocked_count++;
		return true;
	}
	if (f->drop_pct && fault_rand(f) % 100 < f->drop_pct) {
		f->dropped++;
		return true;
	}
	return false;
}

/* dup= for an authenticated datagram in: true when it is delivered twice. */
bool fault_dup(struct fault *f)
{
	if (PKV_FAULT_INJECTION && f->dup_pct && fault_rand(f) % 100 < f->dup_pct) {
		f->duplicated++;
		return true;
	}
	return false;
}

/* A datagram out that delay= or reorder= holds back. */
struct fault_held {
	uint64_t due_us;
	bool behind; /* reorder: goes out right after the next one to the peer */
	const struct pkv_node_cfg *peer;
	size_t len;
	uint8_t data[];
};

#define FAULT_MAX_HELD 4096u
#define FAULT_REORDER_WAIT_US 50000u /* a held datagram waits at most this */

/* Sends one held datagram (and frees it); false when no buffer is free. */
static bool fault_send_held(struct fault *f, struct fault_held *h)
{
	if (!f->send(f->send_ctx, h->peer, h->data, h->len))
		return false;
	free(h);
	return true;
}

/* Sends the held datagrams that are due at `now`, or with after_peer set,
 * those held behind the next datagram to that peer. */
void fault_release(struct fault *f, uint64_t now, uint32_t after_peer)
{
	size_t k = 0;
	for (size_t i = 0; i < f->n_held; i++) {
		struct fault_held *h = f->held[i];
		bool go = after_peer ? h->behind && h->peer->id == after_peer : h->due_us <= now;
		if (!go || !fault_send_held(f, h))
			f->held[k++] = h;
	}
	f->n_held = k;
}

/*
 * delay= and reorder= for a sealed datagram to `peer`: true when it was
 * copied into the held queue (the caller gives the buffer back). Delays are
 * drawn per datagram, so they reorder too; the receiver's replay window
 * (WIRE_REPLAY_WINDOW sequences) accepts them.
 */
bool fault_hold(struct fault *f, const uint8_t *buf, size_t len,
		       const struct pkv_node_cfg *peer, bool raw)
{
	if (!PKV_FAULT_INJECTION || (!f->delay_ms && !f->lag_ms && !f->reorder_pct) ||
	    (raw && !f->lag_ms))
		return false;
	if (f->n_held >= FAULT_MAX_HELD)
		return false;
	uint64_t now = daemon_now_us();
	bool behind = !raw && f->reorder_pct && fault_rand(f) % 100 < f->reorder_pct;
	uint64_t due = now + (uint64_t)f->lag_ms * 1000u;
	if (behind)
		due = now + FAULT_REORDER_WAIT_US;
	else if (!raw && f->delay_ms)
		due += fault_rand(f) % ((uint64_t)f->delay_ms * 1000u + 1u);
	else if (!f->lag_ms)
		return false;
	if (!f->held) {
		f->held = calloc(FAULT_MAX_HELD, sizeof(*f->held));
		if (!f->held)
			return false;
	}
	struct fault_held *h = malloc(sizeof(*h) + len);
	if (!h)
		return false;
	*h = (struct fault_held){.due_us = due, .behind = behind, .peer = peer, .len = len};
	memcpy(h->data, buf, len);
	f->held[f->n_held++] = h;
	if (behind)
		f->reordered++;
	else
		f->delayed++;
	return true;
}

/* Sends the held datagrams that are due; returns the next release time. */
uint64_t fault_tick(struct fault *f, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	if (!PKV_FAULT_INJECTION || !f->n_held)
		return next;
	fault_release(f, now, 0);
	for (size_t i = 0; i < f->n_held; i++)
		if (f->held[i]->due_us < next)
			next = f->held[i]->due_us;
	/* a datagram left for want of a buffer is retried soon */
	return next > now ? next : now + 1000u;
}

void fault_free(struct fault *f)
{
	for (size_t i = 0; i < f->n_held; i++)
		free(f->held[i]);
	free(f->held);
	f->held = NULL;
	f->n_held = 0;
}

/* "ID,ID,…" (node ids 1..64) → a bit set; -EINVAL on anything else. */
static int fault_parse_ids(const char *s, uint64_t *out)
{
	char *end = (char *)s;
	while (*end) {
		unsigned long id = strtoul(end, &end, 10);
		if (id < 1 || id > 64)
			return -EINVAL;
		*out |= 1ull << (id - 1);
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
	}
	return 0;
}

/*
 * Spec: space-separated "drop=P dup=P reorder=P delay=MS skew=MS
 * block=IDS block_in=IDS block_out=IDS rekey=N sync_delay=MS" (P in percent;
 * skew may be negative). Each call replaces every fault; "" clears them all.
 */
int fault_set(struct fault *f, struct daemon *d, const char *spec, size_t len)
{
	if (!PKV_FAULT_INJECTION)
		return -ENOTSUP;
	char buf[512];
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, spec, len);
	buf[len] = 0;
	unsigned long drop = 0, dup = 0, reorder = 0, delay = 0, lag = 0;
	long skew = 0;
	unsigned long cache_lag = 0;
	unsigned long rekey = 0, sync_delay = 0;
	uint64_t blocked = 0, block_in = 0, block_out = 0, late_erase = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *end = NULL;
		char *eq = strchr(tok, '=');
		if (!eq || !eq[1])
			return -EINVAL;
		const char *v = eq + 1;
		size_t nlen = (size_t)(eq - tok);
#define FAULT_IS(name) (nlen == sizeof(name) - 1 && !strncmp(tok, name, nlen))
		if (FAULT_IS("drop"))
			drop = strtoul(v, &end, 10);
		else if (FAULT_IS("dup"))
			dup = strtoul(v, &end, 10);
		else if (FAULT_IS("reorder"))
			reorder = strtoul(v, &end, 10);
		else if (FAULT_IS("delay"))
			delay = strtoul(v, &end, 10);
		else if (FAULT_IS("lag"))
			lag = strtoul(v, &end, 10);
		else if (FAULT_IS("skew"))
			skew = strtol(v, &end, 10);
		else if (FAULT_IS("cache_lag"))
			cache_lag = strtoul(v, &end, 10);
		else if (FAULT_IS("rekey"))
			rekey = strtoul(v, &end, 10);
		else if (FAULT_IS("sync_delay"))
			sync_delay = strtoul(v, &end, 10);
		else if (FAULT_IS("block")) {
			if (fault_parse_ids(v, &blocked) < 0)
				return -EINVAL;
		} else if (FAULT_IS("block_in")) {
			if (fault_parse_ids(v, &block_in) < 0)
				return -EINVAL;
		} else if (FAULT_IS("block_out")) {
			if (fault_parse_ids(v, &block_out) < 0)
				return -EINVAL;
		} else if (FAULT_IS("late_erase")) {
			if (fault_parse_ids(v, &late_erase) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
#undef FAULT_IS
		if ((end && *end) || drop > 100 || dup > 100 || reorder > 100 || delay > 10000 ||
		    lag > 10000 || skew > 86400000L || skew < -86400000L || cache_lag > 100000 ||
		    rekey > (1ul << 20) || sync_delay > 60000)
			return -EINVAL;
	}
	f->drop_pct = (unsigned)drop;
	f->dup_pct = (unsigned)dup;
	f->reorder_pct = (unsigned)reorder;
	f->delay_ms = (unsigned)delay;
	f->lag_ms = (unsigned)lag;
	f->skew_ms = skew;
	f->cache_lag_us = (unsigned)cache_lag;
	f->rekey_dgrams = rekey;
	f->sync_delay_ms = (unsigned)sync_delay;
	f->blocked = blocked;
	f->block_in = block_in;
	f->block_out = block_out;
	f->late_erase = late_erase;
	if (!f->rng)
		f->rng = f->seed | 1;
	daemon_notice(d,
		   "faults: drop=%lu%% dup=%lu%% reorder=%lu%% delay=%lums lag=%lums skew=%ldms "
		   "rekey=%lu blocked=0x%llx in=0x%llx out=0x%llx cache_lag=%luus late_erase=0x%llx "
		   "sync_delay=%lums",
		   drop, dup, reorder, delay, lag, skew, rekey, (unsigned long long)blocked,
		   (unsigned long long)block_in, (unsigned long long)block_out, cache_lag,
		   (unsigned long long)late_erase, sync_delay);
	return 0;
}

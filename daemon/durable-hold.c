// SPDX-License-Identifier: MIT
/*
 * durable-hold.c — outputs held until the log batch they depend on is on
 * disk (durable-hold.h; the rule and its argument: docs/design.md §6.3).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "durable-hold.h"

void durable_hold_init(struct durable_hold *h)
{
	memset(h, 0, sizeof(*h));
}

static void batch_free(struct hold_batch *b)
{
	pkv_outbox_free(&b->ob);
	for (size_t i = 0; i < b->n_done; i++) {
		struct paxos_completion *c = &b->done[i];
		free((void *)c->value.p);
		free((void *)c->bind.key.p);
		for (size_t k = 0; k < c->n_keys; k++)
			free((void *)c->keys[k].p);
		free(c->keys);
	}
	free(b->done);
	for (size_t i = 0; i < b->n_learned; i++) {
		free((void *)b->learned[i].bucket.p);
		free((void *)b->learned[i].key.p);
	}
	free(b->learned);
	for (size_t i = 0; i < b->n_erased; i++) {
		free((void *)b->erased[i].bucket.p);
		free((void *)b->erased[i].key.p);
	}
	free(b->erased);
	pkv_outbox_free(&b->prior);
	free(b->prior_at);
	memset(b, 0, sizeof(*b));
}

void durable_hold_free(struct durable_hold *h)
{
	for (size_t i = 0; i < h->n; i++)
		batch_free(&h->b[i]);
	free(h->b);
	memset(h, 0, sizeof(*h));
}

/* The batch of ticket t, made when missing (kept sorted). */
static struct hold_batch *batch_of(struct durable_hold *h, uint64_t t)
{
	size_t i = h->n;
	while (i > 0 && h->b[i - 1].ticket > t)
		i--;
	if (i > 0 && h->b[i - 1].ticket == t)
		return &h->b[i - 1];
	if (h->n == h->cap) {
		size_t nc = h->cap ? 2 * h->cap : 4;
		struct hold_batch *nb = realloc(h->b, nc * sizeof(*nb));
		if (!nb)
			return NULL;
		h->b = nb;
		h->cap = nc;
	}
	memmove(&h->b[i + 1], &h->b[i], (h->n - i) * sizeof(*h->b));
	h->n++;
	struct hold_batch *b = &h->b[i];
	memset(b, 0, sizeof(*b));
	b->ticket = t;
	pkv_outbox_init(&b->ob);
	pkv_outbox_init(&b->prior);
	return b;
}

static int dup_bytes(struct pkv_bytes *out, struct pkv_bytes in)
{
	*out = (struct pkv_bytes){NULL, 0};
	if (!in.len)
		return 0;
	uint8_t *p = malloc(in.len);
	if (!p)
		return -ENOMEM;
	memcpy(p, in.p, in.len);
	*out = (struct pkv_bytes){p, in.len};
	return 0;
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? 2 * *cap : 8;
	void *nv = realloc(*v, nc * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

int durable_hold_msg(struct durable_hold *h, uint64_t ticket, const struct pkv_out *o)
{
	struct hold_batch *b = batch_of(h, ticket);
	if (!b)
		return -ENOMEM;
	int r = pkv_outbox_push(&b->ob, o->to, &o->msg);
	if (r == 0)
		h->held_msgs++;
	return r;
}

int durable_hold_prior(struct durable_hold *h, uint64_t ticket, const struct pkv_out *o,
		       uint64_t now)
{
	struct hold_batch *b = batch_of(h, ticket);
	if (!b || grow((void **)&b->prior_at, &b->cap_prior_at, b->prior.n, sizeof(*b->prior_at)))
		return -ENOMEM;
	size_t i = b->prior.n;
	int r = pkv_outbox_push(&b->prior, o->to, &o->msg);
	if (r == 0) {
		b->prior_at[i] = now;
		h->held_msgs++;
	}
	return r;
}

int durable_hold_completion(struct durable_hold *h, uint64_t ticket,
			    const struct paxos_completion *c)
{
	struct hold_batch *b = batch_of(h, ticket);
	if (!b || grow((void **)&b->done, &b->cap_done, b->n_done, sizeof(*b->done)))
		return -ENOMEM;
	struct paxos_completion k = *c;
	k.keys = NULL;
	k.n_keys = 0;
	k.bind.key = (struct pkv_bytes){NULL, 0};
	if (dup_bytes(&k.value, c->value) || dup_bytes(&k.bind.key, c->bind.key))
		goto fail;
	if (c->n_keys) {
		k.keys = calloc(c->n_keys, sizeof(*k.keys));
		if (!k.keys)
			goto fail;
		for (; k.n_keys < c->n_keys; k.n_keys++)
			if (dup_bytes(&k.keys[k.n_keys], c->keys[k.n_keys]))
				goto fail;
	}
	b->done[b->n_done++] = k;
	h->held_done++;
	return 0;
fail:
	free((void *)k.value.p);
	free((void *)k.bind.key.p);
	for (size_t i = 0; i < k.n_keys; i++)
		free((void *)k.keys[i].p);
	free(k.keys);
	return -ENOMEM;
}

static int hold_key(struct hold_learned **v, size_t *n, size_t *cap, struct pkv_bytes bucket,
		    struct pkv_bytes key, uint64_t gen)
{
	if (grow((void **)v, cap, *n, sizeof(**v)))
		return -ENOMEM;
	struct hold_learned l = {.gen = gen};
	if (dup_bytes(&l.bucket, bucket) || dup_bytes(&l.key, key)) {
		free((void *)l.bucket.p);
		return -ENOMEM;
	}
	(*v)[(*n)++] = l;
	return 0;
}

int durable_hold_learned(struct durable_hold *h, uint64_t ticket, struct pkv_bytes bucket,
			 struct pkv_bytes key, uint64_t gen)
{
	struct hold_batch *b = batch_of(h, ticket);
	if (!b)
		return -ENOMEM;
	return hold_key(&b->learned, &b->n_learned, &b->cap_learned, bucket, key, gen);
}

int durable_hold_erased(struct durable_hold *h, uint64_t ticket, struct pkv_bytes bucket,
			struct pkv_bytes key, uint64_t gen)
{
	struct hold_batch *b = batch_of(h, ticket);
	if (!b)
		return -ENOMEM;
	return hold_key(&b->erased, &b->n_erased, &b->cap_erased, bucket, key, gen);
}

struct hold_batch *durable_hold_due(struct durable_hold *h, uint64_t durable)
{
	return h->n && h->b[0].ticket <= durable ? &h->b[0] : NULL;
}

void durable_hold_pop(struct durable_hold *h)
{
	if (!h->n)
		return;
	batch_free(&h->b[0]);
	memmove(&h->b[0], &h->b[1], (h->n - 1) * sizeof(*h->b));
	h->n--;
}

enum hold_dep durable_hold_dep(const struct pkv_msg *m)
{
#ifdef PKV_DURABLE_BROKEN_HOLD
	return HOLD_NONE; /* TEST ONLY: nothing waits for the disk */
#endif
	switch (m->type) {
	case PKV_MSG_HEARTBEAT:
	case PKV_MSG_PREPARE:
	case PKV_MSG_QUERY:
	case PKV_MSG_KEYS_REQ:
	case PKV_MSG_SYNC_REQ:
	case PKV_MSG_FORWARD:
		return HOLD_NONE;
	case PKV_MSG_ACCEPT:
		/* A fast ballot is shared by every proposer (§3.4): sending it
		 * commits this node to nothing. */
		if (m->ballot.node == 0 &&
		    (m->ballot.round & ((UINT64_C(1) << PKV_CONF_SHIFT) - 1)) == 1)
			return HOLD_NONE;
		return HOLD_PRIOR;
	default:
		return HOLD_ALL;
	}
}

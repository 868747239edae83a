// SPDX-License-Identifier: MIT
#include "msg.h"

const char *pkv_msg_type_to_str(unsigned type)
{
	static const char *const names[PKV_MSG__COUNT] = {
		[PKV_MSG_HEARTBEAT] = "heartbeat",
		[PKV_MSG_PREPARE] = "prepare",
		[PKV_MSG_PROMISE] = "promise",
		[PKV_MSG_ACCEPT] = "accept",
		[PKV_MSG_ACCEPTED] = "accepted",
		[PKV_MSG_CHOSEN] = "chosen",
		[PKV_MSG_QUERY] = "query",
		[PKV_MSG_QUERY_REPLY] = "query_reply",
		[PKV_MSG_KEYS_REQ] = "keys_req",
		[PKV_MSG_KEYS_REPLY] = "keys_reply",
		[PKV_MSG_SYNC_REQ] = "sync_req",
		[PKV_MSG_SYNC_REPLY] = "sync_reply",
		[PKV_MSG_FORWARD] = "forward",
		[PKV_MSG_FORWARD_REPLY] = "forward_reply",
		[PKV_MSG_RESIZE] = "resize",
		[PKV_MSG_RESIZE_ACK] = "resize_ack",
	};
	if (type < PKV_MSG__COUNT && names[type])
		return names[type];
	return "unknown";
}

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 65536u

struct pkv_arena_chunk {
	struct pkv_arena_chunk *next;
	size_t used, cap;
	uint8_t data[];
};

void pkv_outbox_init(struct pkv_outbox *ob)
{
	memset(ob, 0, sizeof(*ob));
}

static uint8_t *arena_alloc(struct pkv_outbox *ob, size_t len)
{
	struct pkv_arena_chunk *c = ob->chunks;
	if (!c || c->cap - c->used < len) {
		size_t cap = len > ARENA_CHUNK ? len : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = ob->chunks;
		ob->chunks = c;
	}
	uint8_t *p = c->data + c->used;
	c->used += len;
	return p;
}

static int copy_bytes(struct pkv_outbox *ob, struct pkv_bytes *b)
{
	if (b->len == 0) {
		b->p = NULL;
		return 0;
	}
	uint8_t *p = arena_alloc(ob, b->len);
	if (!p)
		return -ENOMEM;
	memcpy(p, b->p, b->len);
	b->p = p;
	return 0;
}

int pkv_outbox_push(struct pkv_outbox *ob, uint32_t to, const struct pkv_msg *m)
{
	if (ob->n == ob->cap) {
		size_t cap = ob->cap ? ob->cap * 2 : 64;
		struct pkv_out *v = realloc(ob->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ob->v = v;
		ob->cap = cap;
	}
	struct pkv_out *o = &ob->v[ob->n];
	o->to = to;
	o->msg = *m;
	if (copy_bytes(ob, &o->msg.bucket) || copy_bytes(ob, &o->msg.key) ||
	    copy_bytes(ob, &o->msg.value))
		return -ENOMEM;
	ob->n++;
	return 0;
}

void pkv_outbox_reset(struct pkv_outbox *ob)
{
	ob->n = 0;
	struct pkv_arena_chunk *c = ob->chunks;
	if (!c)
		return;
	/* Keep the newest chunk if it is an ordinary one; free the rest. */
	struct pkv_arena_chunk *rest = c->next;
	c->next = NULL;
	c->used = 0;
	if (c->cap > ARENA_CHUNK) {
		free(c);
		ob->chunks = NULL;
	}
	while (rest) {
		struct pkv_arena_chunk *n = rest->next;
		free(rest);
		rest = n;
	}
}

void pkv_outbox_free(struct pkv_outbox *ob)
{
	pkv_outbox_reset(ob);
	free(ob->chunks);
	free(ob->v);
	pkv_outbox_init(ob);
}

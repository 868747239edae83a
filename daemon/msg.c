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
		[PKV_MSG_INFO_REQ] = "info_req",
		[PKV_MSG_INFO_REPLY] = "info_reply",
		[PKV_MSG_KEYS_REQ] = "keys_req",
		[PKV_MSG_KEYS_REPLY] = "keys_reply",
		[PKV_MSG_SYNC_REQ] = "sync_req",
		[PKV_MSG_SYNC_REPLY] = "sync_reply",
		[PKV_MSG_FORWARD] = "forward",
		[PKV_MSG_FORWARD_REPLY] = "forward_reply",
		[PKV_MSG_RESIZE] = "resize",
		[PKV_MSG_RESIZE_ACK] = "resize_ack",
		[PKV_MSG_ERASE] = "erase",
		[PKV_MSG_ERASE_ACK] = "erase_ack",
		[PKV_MSG_DROP] = "drop",
		[PKV_MSG_DROP_ACK] = "drop_ack",
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

/* ---- bindings codec ---------------------------------------------------- */

/*
 * Layout (little endian): u8 version (1), u8 mask, u16 key length,
 * u32 owner, u64 owner_inc, u32 pid, u64 start_time, u32 node, u64 until,
 * u64 key_gen, then the key bytes, then the value bytes to the end.
 */
#define BOUND_VERSION 1u

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t pkv_bound_size(struct pkv_bytes value, const struct pkv_bindings *b)
{
	size_t klen = (b->mask & PKV_BIND_KEY) ? b->key.len : 0;
	return PKV_BOUND_FIXED + klen + value.len;
}

size_t pkv_bound_encode(uint8_t *buf, size_t cap, struct pkv_bytes value,
			const struct pkv_bindings *b)
{
	size_t need = pkv_bound_size(value, b);
	uint32_t klen = (b->mask & PKV_BIND_KEY) ? b->key.len : 0;
	if (need > cap || klen > UINT16_MAX)
		return 0;
	buf[0] = BOUND_VERSION;
	buf[1] = (uint8_t)(b->mask & PKV_BIND_ALL);
	put_le(buf + 2, klen, 2);
	put_le(buf + 4, b->owner, 4);
	put_le(buf + 8, b->owner_inc, 8);
	put_le(buf + 16, (uint32_t)b->pid, 4);
	put_le(buf + 20, b->start_time, 8);
	put_le(buf + 28, b->node, 4);
	put_le(buf + 32, b->until, 8);
	put_le(buf + 40, b->key_gen, 8);
	if (klen)
		memcpy(buf + PKV_BOUND_FIXED, b->key.p, klen);
	if (value.len)
		memcpy(buf + PKV_BOUND_FIXED + klen, value.p, value.len);
	return need;
}

int pkv_bound_decode(struct pkv_bytes blob, struct pkv_bytes *value, struct pkv_bindings *b)
{
	if (blob.len < PKV_BOUND_FIXED || blob.p[0] != BOUND_VERSION)
		return -EINVAL;
	const uint8_t *p = blob.p;
	uint32_t klen = (uint32_t)get_le(p + 2, 2);
	if (klen > blob.len - PKV_BOUND_FIXED || (p[1] & ~PKV_BIND_ALL))
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	b->mask = p[1];
	b->owner = (uint32_t)get_le(p + 4, 4);
	b->owner_inc = get_le(p + 8, 8);
	b->pid = (int32_t)(uint32_t)get_le(p + 16, 4);
	b->start_time = get_le(p + 20, 8);
	b->node = (uint32_t)get_le(p + 28, 4);
	b->until = get_le(p + 32, 8);
	b->key_gen = get_le(p + 40, 8);
	if (((b->mask & PKV_BIND_KEY) != 0) != (klen != 0))
		return -EINVAL;
	b->key = (struct pkv_bytes){ .p = klen ? p + PKV_BOUND_FIXED : NULL, .len = klen };
	value->p = blob.len > PKV_BOUND_FIXED + klen ? p + PKV_BOUND_FIXED + klen : NULL;
	value->len = blob.len - PKV_BOUND_FIXED - klen;
	return 0;
}

bool pkv_bindings_eq(const struct pkv_bindings *a, const struct pkv_bindings *b)
{
	uint32_t m = a->mask & PKV_BIND_ALL;
	if (m != (b->mask & PKV_BIND_ALL))
		return false;
	if ((m & PKV_BIND_PID) && (a->owner != b->owner || a->owner_inc != b->owner_inc ||
				   a->pid != b->pid || a->start_time != b->start_time))
		return false;
	if ((m & PKV_BIND_NODE) && a->node != b->node)
		return false;
	if ((m & PKV_BIND_UNTIL) && a->until != b->until)
		return false;
	if (m & PKV_BIND_KEY) {
		if (a->key_gen != b->key_gen || a->key.len != b->key.len)
			return false;
		if (a->key.len && memcmp(a->key.p, b->key.p, a->key.len))
			return false;
	}
	return true;
}

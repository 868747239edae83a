// SPDX-License-Identifier: MIT
/*
 * ringreq.c — the checks of one local ring request (see ringreq.h).
 */
#include "ringreq.h"

#include <string.h>

#define KNOWN_FLAGS (PKV_SHM_F_NO_QUORUM_RETRY | PKV_SHM_F_BIND_PID | PKV_SHM_F_STALE_OK)

/* A byte string that claims bytes must have them. */
static bool bytes_ok(struct pkv_bytes b)
{
	return b.len == 0 || b.p != NULL;
}

static bool same_bytes(struct pkv_bytes a, struct pkv_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/*
 * The node a binding names. The name is client bytes, not a C string: it
 * must be a valid node name as a whole (no NUL that would cut it short and
 * make "node1\0junk" name node1) before it is looked up.
 */
static int node_of(struct pkv_bytes name, const struct pkv_config *cfg, uint32_t *id)
{
	char s[PKV_CONFIG_NAME_MAX + 1];

	if (name.len > PKV_CONFIG_NAME_MAX)
		return PKV_S_INVALID_VALUE;
	memcpy(s, name.p, name.len);
	s[name.len] = '\0';
	if (strlen(s) != name.len || !config_name_valid(s))
		return PKV_S_INVALID_VALUE;
	const struct pkv_node_cfg *n = cfg ? config_node_by_name(cfg, s) : NULL;
	if (!n)
		return PKV_S_INVALID_VALUE; /* not a node of this cluster */
	*id = n->id;
	return PKV_S_OK;
}

static int bindings_of(const struct shm_request *rq, const struct pkv_config *cfg,
		       struct pkv_bindings *b)
{
	if (rq->flags & PKV_SHM_F_BIND_PID) {
		/* 0 and other negatives are process groups to kill(2): never a
		 * process. PKV_SHM_PID_SELF is resolved by the caller (local.c). */
		if (rq->bind_pid <= 0 && rq->bind_pid != PKV_SHM_PID_SELF)
			return PKV_S_INVALID_VALUE;
		b->mask |= PKV_BIND_PID;
		b->pid = rq->bind_pid;
	}
	if (rq->node.len) {
		int s = node_of(rq->node, cfg, &b->node);
		if (s != PKV_S_OK)
			return s;
		b->mask |= PKV_BIND_NODE;
	}
	if (rq->dep_key.len) {
		if (rq->dep_key.len > PKV_MAX_KEY)
			return PKV_S_TOO_LARGE;
		if (same_bytes(rq->dep_key, rq->key))
			return PKV_S_INVALID_VALUE; /* a key cannot live with itself */
		b->mask |= PKV_BIND_KEY;
		b->key = rq->dep_key;
	}
	if (rq->until) {
		b->mask |= PKV_BIND_UNTIL;
		b->until = rq->until;
	}
	return PKV_S_OK;
}

static int decode(const struct shm_request *rq, const struct pkv_config *cfg, struct ringreq *out)
{
	if (rq->op != PKV_SHM_OP_PUT && rq->op != PKV_SHM_OP_GET && rq->op != PKV_SHM_OP_KEYS)
		return PKV_S_BAD_REQUEST;
	if (rq->flags & ~KNOWN_FLAGS)
		return PKV_S_BAD_REQUEST;
	if (!bytes_ok(rq->bucket) || !bytes_ok(rq->key) || !bytes_ok(rq->value) ||
	    !bytes_ok(rq->node) || !bytes_ok(rq->dep_key))
		return PKV_S_BAD_REQUEST;

	/* Limits first: an oversized part is TOO_LARGE whatever else is wrong. */
	if (rq->bucket.len > PKV_MAX_BUCKET || rq->key.len > PKV_MAX_KEY ||
	    rq->value.len > PKV_MAX_VALUE || rq->dep_key.len > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE;
	if (rq->op == PKV_SHM_OP_KEYS && rq->value.len > PKV_MAX_KEY)
		return PKV_S_TOO_LARGE; /* the cursor is a key */
	if (rq->bucket.len == 0)
		return PKV_S_BAD_REQUEST;
	/*
	 * A bucket whose name starts with NUL is the daemons' own (the
	 * configurations, the drops, the floors: docs/design.md §4.4, §4.6,
	 * §5): a client's put there would decide one of those by its say.
	 */
	if (pkv_bucket_reserved(rq->bucket.p, rq->bucket.len))
		return PKV_S_BAD_REQUEST;

	if ((rq->flags & PKV_SHM_F_STALE_OK) && rq->op != PKV_SHM_OP_GET)
		return PKV_S_BAD_REQUEST; /* only a get may be stale */
	bool binds = (rq->flags & PKV_SHM_F_BIND_PID) || rq->node.len || rq->dep_key.len ||
		     rq->until;
	switch (rq->op) {
	case PKV_SHM_OP_PUT:
		if (rq->key.len == 0)
			return PKV_S_BAD_REQUEST;
		break;
	case PKV_SHM_OP_GET:
		if (rq->key.len == 0 || rq->value.len || binds)
			return PKV_S_BAD_REQUEST;
		break;
	case PKV_SHM_OP_KEYS:
		/* A listing neither waits for a quorum nor binds anything. */
		if (rq->key.len || binds || (rq->flags & PKV_SHM_F_NO_QUORUM_RETRY))
			return PKV_S_BAD_REQUEST;
		break;
	}

	out->op = rq->op;
	out->retry = (rq->flags & PKV_SHM_F_NO_QUORUM_RETRY) != 0;
	out->stale_ok = (rq->flags & PKV_SHM_F_STALE_OK) != 0;
	out->timeout_ms = rq->timeout_ms ? rq->timeout_ms : PKV_SHM_DEFAULT_TIMEOUT_MS;
	out->bucket = rq->bucket;
	out->key = rq->key;
	out->value = rq->value;
	if (!binds)
		return PKV_S_OK;
	int s = bindings_of(rq, cfg, &out->bind);
	if (s != PKV_S_OK)
		return s;
	out->bound = true;
	return PKV_S_OK;
}

int ringreq_decode(const struct shm_request *rq, const struct pkv_config *cfg,
		   struct ringreq *out)
{
	memset(out, 0, sizeof(*out));
	int s = decode(rq, cfg, out);
	if (s != PKV_S_OK)
		memset(out, 0, sizeof(*out));
	return s;
}

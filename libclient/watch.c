// SPDX-License-Identifier: MIT
/*
 * watch.c — key watches and release (paxoskv.h; docs/design.md §8.3,
 * §8.4; the lock that waits on them is lock.c). Each watch is a control
 * connection of its own that the daemon turned into an event stream
 * (CTL_OP_WATCH); a release is one request on a connection of its own, so
 * that the daemon names the caller by that connection's credentials. A key inspection (pkv_info,
 * §8.6) reads the daemons' records as they come, up to a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "pkv-ctl.h"

#include "paxoskv.h"

_Static_assert((int)PKV_STALE == (int)PKV_S_STALE, "status STALE");
_Static_assert((int)PKV_NOT_OWNER == (int)PKV_S_NOT_OWNER, "status NOT_OWNER");
_Static_assert((unsigned)PKV_WATCH_QUEUE == (unsigned)CTL_WATCH_QUEUE, "watch flag QUEUE");
_Static_assert((int)PKV_WATCH_CHOSEN == (int)CTL_WATCH_CHOSEN, "watch kind CHOSEN");
_Static_assert((int)PKV_WATCH_ENDED == (int)CTL_WATCH_ENDED, "watch kind ENDED");

#define WATCH_PACKET_MAX                                                                           \
	(sizeof(struct ctl_rep) + sizeof(struct ctl_watch_event) + PKV_MAX_BUCKET + PKV_MAX_KEY +  \
	 PKV_MAX_VALUE + 1)

struct pkv_watch {
	int fd;
	uint8_t buf[WATCH_PACKET_MAX]; /* the last event's bytes (event pointers) */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The first reply of a request: its status, or why there is none. */
/*
 * The daemon's first reply: a struct ctl_rep, and with cap > 0 a payload of
 * at most cap bytes (its length in *len, as the reply's len says it).
 */
static int read_reply(int fd, const char *what, void *payload, size_t cap, size_t *len)
{
	struct {
		struct ctl_rep rep;
		uint8_t payload[sizeof(struct ctl_watch_ticket)];
	} m;
	if (cap > sizeof(m.payload))
		return client_err(-EINVAL, "%s: reply payload too large", what);
	ssize_t n = recv(fd, &m, sizeof(m.rep) + cap, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return client_err(PKV_TIMEOUT, "%s: no answer from the daemon", what);
	if (n < (ssize_t)sizeof(m.rep) || m.rep.magic != CTL_MAGIC ||
	    (!cap && n != (ssize_t)sizeof(m.rep)))
		return client_err(PKV_UNAVAILABLE, "%s: no answer from the daemon", what);
	if (m.rep.status != PKV_OK)
		return client_err(m.rep.status, "%s: %s", what, pkv_strerror(m.rep.status));
	if (cap) {
		if (m.rep.len != (size_t)n - sizeof(m.rep))
			return client_err(PKV_UNAVAILABLE, "%s: a reply cut short", what);
		memcpy(payload, m.payload, m.rep.len);
		*len = m.rep.len;
	}
	return PKV_OK;
}

static int read_status(int fd, const char *what)
{
	return read_reply(fd, what, NULL, 0, NULL);
}

static int check_args(const void *bucket, size_t bucket_len, const void *key, size_t key_len)
{
	if ((bucket && (bucket_len == 0 || bucket_len > PKV_BUCKET_MAX)) || (!bucket && bucket_len))
		return client_err(bucket_len > PKV_BUCKET_MAX ? PKV_TOO_LARGE : PKV_BAD_REQUEST,
				  "a bucket name is 1..%u bytes", PKV_BUCKET_MAX);
	if (key && (key_len == 0 || key_len > PKV_KEY_MAX))
		return client_err(key_len > PKV_KEY_MAX ? PKV_TOO_LARGE : PKV_BAD_REQUEST,
				  "a key is 1..%u bytes", PKV_KEY_MAX);
	return PKV_OK;
}

int watch_open(struct pkv_client *c, const void *bucket, size_t bucket_len, const void *key,
	       size_t key_len, uint64_t from_gen, unsigned flags, struct pkv_watch **out,
	       struct ctl_watch_ticket *ticket)
{
	if (!c || !out || (flags & ~(unsigned)PKV_WATCH_QUEUE) || (!key && key_len) ||
	    (!key && (flags & PKV_WATCH_QUEUE)))
		return client_err(-EINVAL, "pkv_watch: bad arguments");
	int r = check_args(bucket, bucket_len, key, key_len);
	if (r)
		return r;
	struct pkv_watch *w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	unsigned f = flags | (key ? 0u : (unsigned)CTL_WATCH_BUCKET);
	w->fd = attach_control_send(client_endpoint(c), CTL_OP_WATCH, f, bucket, bucket_len, key,
				    key_len, &from_gen, sizeof(from_gen), 10);
	if (w->fd < 0) {
		r = w->fd;
		free(w);
		return r;
	}
	if (ticket) {
		/* A queue watch's first reply carries the waiter's ticket; a
		 * daemon without tickets sends none (a zero ticket). */
		size_t len = 0;
		*ticket = (struct ctl_watch_ticket){0};
		r = read_reply(w->fd, "watch", ticket, sizeof(*ticket), &len);
		if (r == PKV_OK && len != 0 && len != sizeof(*ticket))
			r = client_err(PKV_UNAVAILABLE, "watch: no ticket from the daemon");
	} else {
		r = read_status(w->fd, "watch");
	}
	if (r != PKV_OK) {
		close(w->fd);
		free(w);
		return r;
	}
	struct timeval tv = {0};
	setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)); /* events wait as long as asked */
	*out = w;
	return PKV_OK;
}

PKV_EXPORT int pkv_watch(struct pkv_client *c, const void *bucket, size_t bucket_len,
			 const void *key, size_t key_len, uint64_t from_gen, unsigned flags,
			 struct pkv_watch **out)
{
	return watch_open(c, bucket, bucket_len, key, key_len, from_gen, flags, out, NULL);
}

PKV_EXPORT int pkv_watch_fd(const struct pkv_watch *w)
{
	return w ? w->fd : -EINVAL;
}

PKV_EXPORT int pkv_watch_next(struct pkv_watch *w, struct pkv_watch_event *ev, uint32_t timeout_ms)
{
	if (!w || !ev)
		return client_err(-EINVAL, "pkv_watch_next: bad arguments");
	uint64_t deadline = mono_ms() + timeout_ms;
	ssize_t n;
	for (;;) {
		n = recv(w->fd, w->buf, sizeof(w->buf) - 1, MSG_DONTWAIT);
		if (n == 0)
			return client_err(PKV_UNAVAILABLE, "the daemon ended the watch");
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return client_err(PKV_UNAVAILABLE, "the watch's connection failed: %s",
					  strerror(errno));
		if (n > 0)
			break;
		uint64_t now = mono_ms();
		if (now >= deadline)
			return 0;
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		uint64_t left = deadline - now;
		(void)poll(&p, 1, left > 60000 ? 60000 : (int)left);
	}
	struct ctl_rep rep;
	struct ctl_watch_event we;
	if ((size_t)n < sizeof(rep))
		return client_err(-EPROTO, "a malformed watch event");
	memcpy(&rep, w->buf, sizeof(rep));
	if (rep.magic != CTL_MAGIC || rep.status != PKV_OK || rep.len < sizeof(we) ||
	    rep.len != (size_t)n - sizeof(rep))
		return client_err(-EPROTO, "a malformed watch event");
	memcpy(&we, w->buf + sizeof(rep), sizeof(we));
	size_t body = rep.len - sizeof(we);
	if ((size_t)we.bucket_len + we.key_len + we.value_len != body ||
	    (we.kind != CTL_WATCH_CHOSEN && we.kind != CTL_WATCH_ENDED) ||
	    we.key_len > PKV_MAX_KEY || we.value_len > PKV_MAX_VALUE)
		return client_err(-EPROTO, "a malformed watch event");
	uint8_t *p = w->buf + sizeof(rep) + sizeof(we);
	p[body] = 0; /* values read as text */
	memset(ev, 0, sizeof(*ev));
	ev->kind = we.kind;
	ev->gen = rep.gen;
	ev->until = we.until;
	ev->bucket = p;
	ev->bucket_len = we.bucket_len;
	ev->key = p + we.bucket_len;
	ev->key_len = we.key_len;
	ev->value = p + we.bucket_len + we.key_len;
	ev->value_len = we.value_len;
	return 1;
}

PKV_EXPORT void pkv_unwatch(struct pkv_watch *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w);
}

PKV_EXPORT int pkv_release(struct pkv_client *c, const void *bucket, size_t bucket_len,
			   const void *key, size_t key_len, uint64_t gen)
{
	if (!c || !key)
		return client_err(-EINVAL, "pkv_release: bad arguments");
	int r = check_args(bucket, bucket_len, key, key_len);
	if (r)
		return r;
	int fd = attach_control_send(client_endpoint(c), CTL_OP_RELEASE, 0, bucket, bucket_len, key,
				     key_len, &gen, sizeof(gen), 10);
	if (fd < 0)
		return fd;
	r = read_status(fd, "release");
	close(fd);
	return r;
}

PKV_EXPORT void pkv_info_free(struct pkv_key_info *recs, size_t n)
{
	for (size_t i = 0; recs && i < n; i++)
		free(recs[i].value);
	free(recs);
}

PKV_EXPORT int pkv_info(struct pkv_client *c, const void *bucket, size_t bucket_len,
			const void *key, size_t key_len, uint32_t timeout_ms,
			struct pkv_key_info **out, size_t *out_n)
{
	if (!c || !key || !out || !out_n)
		return client_err(-EINVAL, "pkv_info: bad arguments");
	int r = check_args(bucket, bucket_len, key, key_len);
	if (r)
		return r;
	int fd = attach_control_send(client_endpoint(c), CTL_OP_INFO, 0, bucket, bucket_len, key,
				     key_len, NULL, 0, 10);
	if (fd < 0)
		return fd;
	struct ctl_rep rep;
	ssize_t got = recv(fd, &rep, sizeof(rep), 0);
	if (got != (ssize_t)sizeof(rep) || rep.magic != CTL_MAGIC) {
		close(fd);
		return client_err(PKV_UNAVAILABLE, "info: no answer from the daemon");
	}
	if (rep.status != PKV_OK) {
		close(fd);
		return client_err(rep.status, "info: %s", pkv_strerror(rep.status));
	}
	size_t want = (size_t)rep.gen * 2, n = 0;
	struct pkv_key_info *v = calloc(want ? want : 1, sizeof(*v));
	uint8_t *buf = malloc(sizeof(rep) + sizeof(struct ctl_info_rec) + PKV_MAX_VALUE + 8);
	if (!v || !buf) {
		free(v);
		free(buf);
		close(fd);
		return -ENOMEM;
	}
	uint64_t deadline = mono_ms() + (timeout_ms ? timeout_ms : 1000);
	r = PKV_OK;
	while (n < want) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			break; /* the silent daemons have no records */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		got = recv(fd, buf, sizeof(rep) + sizeof(struct ctl_info_rec) + PKV_MAX_VALUE + 8,
			   MSG_DONTWAIT);
		if (got <= 0) {
			r = client_err(PKV_UNAVAILABLE, "info: the daemon went away");
			break;
		}
		struct ctl_info_rec ir;
		memcpy(&rep, buf, sizeof(rep));
		if ((size_t)got < sizeof(rep) + sizeof(ir) || rep.magic != CTL_MAGIC ||
		    rep.len != (size_t)got - sizeof(rep)) {
			r = client_err(-EPROTO, "info: a malformed record");
			break;
		}
		memcpy(&ir, buf + sizeof(rep), sizeof(ir));
		if (ir.value_len != rep.len - sizeof(ir) || ir.value_len > PKV_MAX_VALUE) {
			r = client_err(-EPROTO, "info: a malformed record");
			break;
		}
		struct pkv_key_info *k = &v[n];
		k->value = malloc(ir.value_len + 1);
		if (!k->value) {
			r = -ENOMEM;
			break;
		}
		memcpy(k->value, buf + sizeof(rep) + sizeof(ir), ir.value_len);
		((char *)k->value)[ir.value_len] = 0;
		k->value_len = ir.value_len;
		k->node = ir.node;
		k->kind = ir.kind;
		k->has_value = (ir.flags & CTL_INFO_HAS_VALUE) != 0;
		k->synced = (ir.flags & CTL_INFO_SYNCED) != 0;
		k->voter = (ir.flags & CTL_INFO_VOTER) != 0;
		k->gen = ir.gen;
		k->promised_round = ir.promised_round;
		k->promised_node = ir.promised_node;
		k->ballot_round = ir.ballot_round;
		k->ballot_node = ir.ballot_node;
		k->bind_mask = ir.bind_mask;
		n++;
	}
	free(buf);
	close(fd);
	if (r != PKV_OK) {
		pkv_info_free(v, n);
		return r;
	}
	*out = v;
	*out_n = n;
	return PKV_OK;
}

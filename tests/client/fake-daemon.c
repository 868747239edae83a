// SPDX-License-Identifier: MIT
/*
 * fake-daemon.c — see fake-daemon.h.
 */
#include "fake-daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shm.h"

struct fake_entry {
	uint8_t bucket[PKV_MAX_BUCKET];
	uint32_t blen;
	uint8_t key[PKV_MAX_KEY];
	uint32_t klen;
	uint8_t *value;
	uint32_t vlen;
	uint64_t gen;
};

#define MAX_CONNS PKV_SHM_CLIENTS

struct conn {
	int fd;
	int pidfd;
	int slot;
};

static const char *node_names[] = {"node1", "node2", "node3"};

int fake_init(struct fake_daemon *d, const char *path, uint64_t incarnation, int quorum)
{
	return fake_init_sized(d, path, incarnation, quorum, PKV_SHM_CACHE_DEFAULT);
}

int fake_init_sized(struct fake_daemon *d, const char *path, uint64_t incarnation, int quorum,
		    uint32_t cache_entries)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s", path);
	d->incarnation = incarnation;
	int r = shm_create_sized(&d->seg, incarnation, getpid(), cache_entries);
	if (r)
		return r;
	shm_set_view(d->seg, quorum != 0, 1, 3, 1, quorum ? 3u : 1u, node_names, 3);
	/* The lease (docs/design.md §5.1): a fake daemon's never ends. */
	shm_set_lease(d->seg, UINT64_MAX);
	d->stop_fd = eventfd(0, EFD_CLOEXEC);
	d->hang_fd = eventfd(0, EFD_CLOEXEC);
	d->reclaim_fd = eventfd(0, EFD_CLOEXEC);
	d->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(d->listen_fd, 16) < 0)
		return -errno;
	return 0;
}

static struct fake_entry *find(struct fake_daemon *d, struct pkv_bytes b, struct pkv_bytes k)
{
	for (size_t i = 0; i < d->n; i++) {
		struct fake_entry *e = &d->entries[i];
		if (e->blen == b.len && e->klen == k.len && !memcmp(e->bucket, b.p, b.len) &&
		    !memcmp(e->key, k.p, k.len))
			return e;
	}
	return NULL;
}

static bool is(struct pkv_bytes k, const char *s)
{
	return k.len == strlen(s) && !memcmp(k.p, s, k.len);
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) < 0)
		abort();
}

static int cmp_keys(const void *a, const void *b)
{
	const struct pkv_bytes *x = a, *y = b;
	int r = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return r ? r : (int)x->len - (int)y->len;
}

static void serve(struct fake_daemon *d, const struct shm_request *rq)
{
	struct shm_segment *seg = d->seg;
	if (is(rq->key, "__die"))
		raise(SIGKILL);
	if (is(rq->key, "__hang")) {
		signal_fd(d->hang_fd);
		return;
	}
	if (is(rq->key, "__node2") && rq->op == PKV_SHM_OP_GET) {
		shm_respond_bound(seg, rq->slot, rq->ticket, PKV_S_OK, 1, "v", 1, 0, 0, 2, 0);
		return;
	}
	if (is(rq->key, "__noquorum")) {
		shm_respond(seg, rq->slot, rq->ticket, PKV_S_NO_QUORUM, 0, NULL, 0);
		return;
	}
	struct fake_entry *e;
	switch (rq->op) {
	case PKV_SHM_OP_PUT:
		if (rq->has_bindings) {
			shm_respond(seg, rq->slot, rq->ticket, PKV_S_INVALID_VALUE, 0, NULL, 0);
			return;
		}
		if (is(rq->key, "__quorum")) {
			shm_set_view(seg, true, 2, 3, 1, 7, node_names, 3);
			shm_set_lease(seg, UINT64_MAX);
			shm_respond(seg, rq->slot, rq->ticket, PKV_S_OK, 0, NULL, 0);
			return;
		}
		e = find(d, rq->bucket, rq->key);
		if (!e) {
			if (d->n == d->cap) {
				d->cap = d->cap ? 2 * d->cap : 64;
				d->entries = realloc(d->entries, d->cap * sizeof(*d->entries));
			}
			e = &d->entries[d->n++];
			memcpy(e->bucket, rq->bucket.p, rq->bucket.len);
			e->blen = rq->bucket.len;
			memcpy(e->key, rq->key.p, rq->key.len);
			e->klen = rq->key.len;
			e->value = malloc(rq->value.len + 1);
			memcpy(e->value, rq->value.p, rq->value.len);
			e->vlen = rq->value.len;
			e->gen = 1;
		}
		shm_cache_publish(seg, rq->bucket, rq->key, (struct pkv_bytes){e->value, e->vlen},
				  e->gen, 0);
		shm_respond(seg, rq->slot, rq->ticket, PKV_S_OK, e->gen, e->value, e->vlen);
		return;
	case PKV_SHM_OP_GET:
		e = find(d, rq->bucket, rq->key);
		if (!e) {
			shm_respond(seg, rq->slot, rq->ticket, PKV_S_NOT_FOUND, 0, NULL, 0);
			return;
		}
		shm_respond(seg, rq->slot, rq->ticket, PKV_S_OK, e->gen, e->value, e->vlen);
		return;
	case PKV_SHM_OP_KEYS: {
		struct pkv_bytes *keys = malloc((d->n + 1) * sizeof(*keys));
		size_t n = 0;
		for (size_t i = 0; i < d->n; i++)
			if (d->entries[i].blen == rq->bucket.len &&
			    !memcmp(d->entries[i].bucket, rq->bucket.p, rq->bucket.len))
				keys[n++] = (struct pkv_bytes){d->entries[i].key, d->entries[i].klen};
		qsort(keys, n, sizeof(*keys), cmp_keys);
		shm_respond_keys(seg, rq->slot, rq->ticket, keys, n);
		free(keys);
		return;
	}
	}
}

static void conn_close(struct fake_daemon *d, struct conn *c)
{
	if (c->slot >= 0) {
		shm_reclaim_client(d->seg, (unsigned)c->slot);
		signal_fd(d->reclaim_fd);
	}
	close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->fd = -1;
	c->pidfd = -1;
	c->slot = -1;
}

static void conn_read(struct fake_daemon *d, struct conn *c)
{
	struct ctl_req rq;
	ssize_t n = recv(c->fd, &rq, sizeof(rq), 0);
	if (n <= 0) {
		conn_close(d, c);
		return;
	}
	if (n != sizeof(rq) || rq.magic != CTL_MAGIC || rq.op != CTL_OP_ATTACH || c->slot >= 0) {
		shm_send_attach_error(c->fd, PKV_S_BAD_REQUEST);
		return;
	}
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		shm_send_attach_error(c->fd, -errno);
		return;
	}
	int slot = shm_attach_client(d->seg, cr.pid, cr.uid);
	if (slot < 0) {
		shm_send_attach_error(c->fd, PKV_S_UNAVAILABLE);
		return;
	}
	c->slot = slot;
	c->pidfd = pidfd_open(cr.pid, 0);
	shm_send_attach(c->fd, d->seg, slot);
}

void *fake_run(void *arg)
{
	struct fake_daemon *d = arg;
	struct conn conns[MAX_CONNS];
	for (unsigned i = 0; i < MAX_CONNS; i++)
		conns[i] = (struct conn){-1, -1, -1};
	for (;;) {
		struct shm_request rq;
		while (shm_ring_next(d->seg, &rq))
			serve(d, &rq);
		struct pollfd p[3 + 2 * MAX_CONNS];
		unsigned np = 0;
		p[np++] = (struct pollfd){.fd = d->stop_fd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = shm_doorbell_fd(d->seg), .events = POLLIN};
		for (unsigned i = 0; i < MAX_CONNS; i++) {
			p[np++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
			p[np++] = (struct pollfd){.fd = conns[i].pidfd, .events = POLLIN};
		}
		bool sleep = shm_sleep_begin(d->seg);
		int r = poll(p, np, sleep ? -1 : 0);
		shm_sleep_end(d->seg);
		if (r < 0 && errno != EINTR)
			abort();
		if (p[0].revents)
			break;
		if (p[2].revents)
			shm_doorbell_drain(d->seg);
		if (p[1].revents) {
			int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			for (unsigned i = 0; fd >= 0 && i < MAX_CONNS; i++) {
				if (conns[i].fd < 0) {
					conns[i] = (struct conn){fd, -1, -1};
					fd = -1;
				}
			}
			if (fd >= 0)
				close(fd);
		}
		for (unsigned i = 0; i < MAX_CONNS; i++) {
			struct pollfd *pc = &p[3 + 2 * i];
			if (conns[i].fd >= 0 && pc[1].revents)
				conn_close(d, &conns[i]); /* the client died */
			else if (conns[i].fd >= 0 && pc[0].revents)
				conn_read(d, &conns[i]);
		}
	}
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(d, &conns[i]);
	return NULL;
}

int fake_start(struct fake_daemon *d)
{
	return -pthread_create(&d->thread, NULL, fake_run, d);
}

pid_t fake_fork(struct fake_daemon *d)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fake_run(d);
		_exit(0);
	}
	close(d->listen_fd); /* the child serves; once it dies nobody answers */
	d->listen_fd = -1;
	return pid;
}

void fake_free(struct fake_daemon *d)
{
	shm_destroy(d->seg);
	close(d->stop_fd);
	close(d->hang_fd);
	close(d->reclaim_fd);
	unlink(d->path);
	for (size_t i = 0; i < d->n; i++)
		free(d->entries[i].value);
	free(d->entries);
}

void fake_stop(struct fake_daemon *d)
{
	signal_fd(d->stop_fd);
	pthread_join(d->thread, NULL);
	close(d->listen_fd);
	fake_free(d);
}

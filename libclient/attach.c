// SPDX-License-Identifier: MIT
/*
 * attach.c — finding the daemon, the attach handshake on its control socket
 * (SCM_RIGHTS: the segment's memfd, the own doorbell eventfd, the own
 * area's memfd), mapping and checking them.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "pkv-ctl.h"

#define ATTACH_REPLY_TIMEOUT_S 5

/* The dev run dir: $PKV_RUN_DIR, else $XDG_RUNTIME_DIR/paxoskv, else /tmp/paxoskv-UID. */
static void run_dir(char *out, size_t cap)
{
	const char *env = getenv("PKV_RUN_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(out, cap, "%s", env);
	else if (xdg && *xdg)
		snprintf(out, cap, "%s/paxoskv", xdg);
	else
		snprintf(out, cap, "/tmp/paxoskv-%u", (unsigned)getuid());
}

/* The socket connect_endpoint tried last, for the caller's message. */
static __thread char last_path[108];

static int connect_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(last_path, sizeof(last_path), "%s", path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int connect_node(const char *dir, const char *node)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s/%s", dir, node, CTL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return connect_path(path);
}

static int connect_first_node(const char *dir)
{
	for (unsigned i = 1; i <= PKV_SHM_NODES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "node%u", i);
		int fd = connect_node(dir, name);
		if (fd >= 0)
			return fd;
	}
	return -ENOENT;
}

/*
 * Which daemon (paxoskv.h, pkv_open): the endpoint given (a path, or a node
 * name in the run dir), $PKV_SOCKET, $PKV_NODE, the nodes of $PKV_RUN_DIR
 * when it is set; else the system daemon at PKV_SYSTEM_SOCKET when that
 * exists; else the first node running in the per-user dev run dir.
 */
static int connect_endpoint(const char *endpoint)
{
	char dir[PATH_MAX / 2];
	run_dir(dir, sizeof(dir));
	if (endpoint && *endpoint) {
		if (strchr(endpoint, '/'))
			return connect_path(endpoint);
		return connect_node(dir, endpoint);
	}
	const char *sock = getenv("PKV_SOCKET");
	const char *node = getenv("PKV_NODE");
	const char *env_dir = getenv("PKV_RUN_DIR");
	if (sock && *sock)
		return connect_path(sock);
	if (node && *node)
		return connect_node(dir, node);
	if (env_dir && *env_dir)
		return connect_first_node(dir);
	struct stat st;
	/* A directory closed to this user (the unit's /run/paxoskv is 0750)
	 * hides the socket from stat too: connecting names its group. */
	if (stat(PKV_SYSTEM_SOCKET, &st) == 0 || errno == EACCES)
		return connect_path(PKV_SYSTEM_SOCKET);
	return connect_first_node(dir);
}

/* The refusal, naming `where` (the socket or a directory on the way) and its group. */
static int refused_by(const char *what, int e, const char *where, const struct stat *st)
{
	struct group *g = getgrgid(st->st_gid);
	char gname[64];
	if (g)
		snprintf(gname, sizeof(gname), "%s", g->gr_name);
	else
		snprintf(gname, sizeof(gname), "%u", (unsigned)st->st_gid);
	return client_err(-EACCES, "%s %s: %s (%s is mode %04o, group '%s': is this user in group"
				   " '%s'?)",
			  what, last_path, strerror(-e), where, (unsigned)(st->st_mode & 07777), gname,
			  gname);
}

/*
 * connect_endpoint failed with e: the error for the caller. A socket the
 * file system does not let us reach is named with its group, the usual
 * cause (docs/design.md §8.1: members of the daemon's group connect).
 */
static int connect_failed(const char *what, int e)
{
	struct stat st;
	if (e != -EACCES && e != -EPERM)
		return 0;
	if (stat(last_path, &st) == 0)
		return refused_by(what, e, "the socket", &st);
	/* The first directory on the way that this user may not pass. */
	char dir[sizeof(last_path)];
	snprintf(dir, sizeof(dir), "%s", last_path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (access(dir, X_OK) != 0 && stat(dir, &st) == 0) {
			char where[sizeof(dir) + 16];
			snprintf(where, sizeof(where), "directory %s", dir);
			return refused_by(what, e, where, &st);
		}
		*p = '/';
	}
	return client_err(-EACCES, "%s %s: %s", what, last_path, strerror(-e));
}

/*
 * A daemon that refuses a client (its uid and groups, docs/design.md §8.1)
 * sends one packet saying why and closes. When the next packet on fd is
 * that (wait: block for it, as far as the socket's timeout), consumes it
 * and returns the error naming the reason; else 0 and the packet stays.
 */
static int refusal(int fd, bool wait)
{
	struct {
		struct ctl_rep rep;
		char text[512];
	} pkt;
	ssize_t n;
	int resets = 0;
	/* A peer that closed with our request unread leaves ECONNRESET, which
	 * the first receive reports (and clears) ahead of the queued packet. */
	do
		n = recv(fd, &pkt, sizeof(pkt), MSG_PEEK | (wait ? 0 : MSG_DONTWAIT));
	while (n < 0 && (errno == EINTR || (errno == ECONNRESET && resets++ == 0)));
	if (n < (ssize_t)sizeof(pkt.rep) || pkt.rep.magic != CTL_MAGIC ||
	    pkt.rep.status != -EACCES || pkt.rep.len != (size_t)n - sizeof(pkt.rep))
		return 0;
	(void)recv(fd, &pkt, sizeof(pkt), MSG_DONTWAIT);
	return client_err(-EACCES, "the daemon refused this client: %.*s", (int)pkt.rep.len,
			  pkt.text);
}

int attach_check_layout(const struct pkv_shm_layout *m, size_t size,
			struct pkv_shm_cache_geom *geom)
{
	if (size < sizeof(struct pkv_shm_header))
		return client_err(PKV_LAYOUT_MISMATCH, "shared memory too small (%zu bytes)", size);
	if (pkv_shm_load_acq(&m->hdr.magic) != PKV_SHM_MAGIC)
		return client_err(PKV_LAYOUT_MISMATCH, "shared memory has no PaxosKV magic");
	if (m->hdr.format != pkv_shm_format())
		return client_err(PKV_LAYOUT_MISMATCH,
				  "shared memory of another build (format %016llx, ours %016llx)",
				  (unsigned long long)m->hdr.format,
				  (unsigned long long)pkv_shm_format());
	/*
	 * The cache geometry is the daemon's choice: take it from the header,
	 * but only one that pkv_shm_cache_layout derives and that fits the
	 * mapping, so no reader offset can leave the segment.
	 */
	const struct pkv_shm_header *h = &m->hdr;
	struct pkv_shm_cache_geom g;
	if (pkv_shm_cache_layout(h->cache_stripes, h->cache_heap, &g) < 0 ||
	    h->cache_stripe_entries != PKV_SHM_STRIPE_ENTRIES || h->cache_locks_off != g.locks_off ||
	    h->cache_off != g.off || h->cache_stride != g.stride || h->size != g.size ||
	    size < g.size)
		return client_err(PKV_LAYOUT_MISMATCH,
				  "shared memory with a bad cache geometry (%u stripes, %u-byte heaps, "
				  "%llu bytes in a %zu-byte mapping)",
				  h->cache_stripes, h->cache_heap, (unsigned long long)h->size, size);
	if (!pkv_shm_load_acq(&m->hdr.daemon_alive))
		return client_err(PKV_UNAVAILABLE, "the daemon has exited");
	*geom = g;
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Sends the attach request and receives the reply with its three fds. */
static int handshake(int fd, struct pkv_shm_attach_rep *rep, int fds[3])
{
	struct ctl_req rq = {
		.magic = CTL_MAGIC,
		.op = CTL_OP_ATTACH,
	};
	struct timeval tv = {.tv_sec = ATTACH_REPLY_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, &rq, sizeof(rq), MSG_NOSIGNAL) != (ssize_t)sizeof(rq)) {
		int e = errno, r = refusal(fd, false);
		return r ? r : client_err(PKV_UNAVAILABLE, "attach: send: %s", strerror(e));
	}
	int r = refusal(fd, true);
	if (r)
		return r;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	memset(rep, 0, sizeof(*rep));
	struct iovec iov = {.iov_base = rep, .iov_len = sizeof(*rep)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return client_err(errno == EAGAIN ? PKV_TIMEOUT : PKV_UNAVAILABLE,
				  "attach: no reply: %s", strerror(errno));
	unsigned nfds = 0;
	int got[4] = {-1, -1, -1, -1};
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && nfds < 4; i++)
			memcpy(&got[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	if ((size_t)n < PKV_SHM_ATTACH_HDR || rep->hdr.magic != CTL_MAGIC) {
		close_fds(got, nfds);
		return client_err(PKV_UNAVAILABLE, "attach: malformed reply");
	}
	if (rep->hdr.status != 0) {
		close_fds(got, nfds);
		return client_err(rep->hdr.status, "attach refused by the daemon (status %d)",
				  rep->hdr.status);
	}
	if ((size_t)n != sizeof(*rep) || rep->hdr.len != PKV_SHM_ATTACH_PAYLOAD ||
	    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds != 3) {
		close_fds(got, nfds);
		return client_err(PKV_LAYOUT_MISMATCH, "attach: reply of another version");
	}
	if (rep->shm_magic != PKV_SHM_MAGIC || rep->format != pkv_shm_format() ||
	    rep->size < sizeof(struct pkv_shm_layout) || rep->size > SIZE_MAX / 2 ||
	    rep->slot >= PKV_SHM_CLIENTS || rep->area_size != sizeof(struct pkv_shm_client)) {
		close_fds(got, nfds);
		return client_err(PKV_LAYOUT_MISMATCH,
				  "the daemon's shared memory is of another build");
	}
	fds[0] = got[0];
	fds[1] = got[1];
	fds[2] = got[2];
	return 0;
}

int attach_open(const char *endpoint, struct pkv_attach **out)
{
	int fd = connect_endpoint(endpoint);
	int denied = fd < 0 ? connect_failed("no access to the daemon at", fd) : 0;
	if (denied)
		return denied;
	if (fd < 0)
		return client_err(PKV_UNAVAILABLE, "no daemon at %s: %s",
				  endpoint && *endpoint ? endpoint : "the default endpoint",
				  strerror(-fd));
	struct pkv_shm_attach_rep rep;
	int fds[3] = {-1, -1, -1};
	int r = handshake(fd, &rep, fds);
	if (r) {
		close(fd);
		return r;
	}
	struct stat sb, ab;
	void *map = MAP_FAILED, *area = MAP_FAILED;
	if (fstat(fds[0], &sb) < 0 || (uint64_t)sb.st_size < rep.size || fstat(fds[2], &ab) < 0 ||
	    (uint64_t)ab.st_size < rep.area_size) {
		r = client_err(PKV_LAYOUT_MISMATCH, "shared memory smaller than announced");
		goto fail;
	}
	/* The segment is the daemon's to write (sealed: a writable map would fail). */
	map = mmap(NULL, rep.size, PROT_READ, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED) {
		r = client_err(-errno, "mmap: %s", strerror(errno));
		goto fail;
	}
	area = mmap(NULL, rep.area_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[2], 0);
	if (area == MAP_FAILED) {
		r = client_err(-errno, "mmap: %s", strerror(errno));
		goto fail;
	}
	const struct pkv_shm_layout *m = map;
	struct pkv_shm_cache_geom geom;
	r = attach_check_layout(m, rep.size, &geom);
	if (r)
		goto fail;
	struct pkv_shm_client *c = area;
	if (pkv_shm_load_acq(&c->state) != PKV_SHM_ATTACHED || c->attach_gen != rep.attach_gen) {
		r = client_err(PKV_UNAVAILABLE, "attach: slot %u not granted", rep.slot);
		goto fail;
	}
	struct pkv_attach *a = calloc(1, sizeof(*a));
	if (!a) {
		r = client_err(-ENOMEM, "out of memory");
		goto fail;
	}
	close(fds[0]); /* the mappings keep the memory */
	close(fds[2]);
	a->m = m;
	a->size = rep.size;
	a->geom = geom;
	a->c = c;
	a->ctl_fd = fd;
	a->bell_fd = fds[1];
	a->slot = rep.slot;
	a->attach_gen = rep.attach_gen;
	a->incarnation = rep.incarnation;
	a->tag = pkv_shm_load_acq(&c->req_tag);
	a->next_check_ms = client_mono_ms() + PKV_SHM_WAIT_SLICE_MS;
	*out = a;
	return 0;
fail:
	if (map != MAP_FAILED)
		munmap(map, rep.size);
	if (area != MAP_FAILED)
		munmap(area, rep.area_size);
	close_fds(fds, 3);
	close(fd);
	return r;
}

void attach_hangup(struct pkv_attach *a)
{
	int fd = __atomic_exchange_n(&a->ctl_fd, -1, __ATOMIC_ACQ_REL);
	if (fd >= 0)
		close(fd);
	__atomic_store_n(&a->dead, 1, __ATOMIC_RELEASE);
}

void attach_free(struct pkv_attach *a)
{
	if (!a)
		return;
	attach_hangup(a);
	if (a->bell_fd >= 0)
		close(a->bell_fd);
	munmap((void *)(uintptr_t)a->m, a->size);
	munmap(a->c, sizeof(*a->c));
	free(a);
}

bool attach_alive(struct pkv_attach *a, uint64_t every_ms)
{
	if (!attach_flags_alive(a))
		return false;
	if (every_ms == UINT64_MAX)
		return true;
	uint64_t now = client_mono_ms();
	uint64_t due = __atomic_load_n(&a->next_check_ms, __ATOMIC_RELAXED);
	if (every_ms && now < due)
		return true;
	/* One thread polls per period; the others trust the last answer. */
	if (every_ms && !__atomic_compare_exchange_n(&a->next_check_ms, &due, now + every_ms, false,
						     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return true;
	int fd = __atomic_load_n(&a->ctl_fd, __ATOMIC_RELAXED);
	if (fd < 0)
		return true;
	/* The daemon never writes after the attach reply: readable means gone. */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
		__atomic_store_n(&a->dead, 1, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

int attach_control_request(const char *endpoint, unsigned op, uint32_t arg, int recv_timeout_s)
{
	return attach_control_bucket_request(endpoint, op, arg, NULL, 0, recv_timeout_s);
}

int attach_control_bucket_request(const char *endpoint, unsigned op, uint32_t arg,
				  const void *bucket, size_t bucket_len, int recv_timeout_s)
{
	if (bucket_len > PKV_BUCKET_MAX)
		return client_err(PKV_TOO_LARGE, "bucket name over %u bytes", PKV_BUCKET_MAX);
	int fd = connect_endpoint(endpoint);
	int denied = fd < 0 ? connect_failed("no access to the daemon at", fd) : 0;
	if (denied)
		return denied;
	if (fd < 0)
		return client_err(PKV_UNAVAILABLE, "cannot reach the daemon: %s", strerror(-fd));
	uint8_t pkt[sizeof(struct ctl_req) + PKV_BUCKET_MAX];
	struct ctl_req rq = {.magic = CTL_MAGIC,
			     .op = (uint8_t)op,
			     .bucket_len = (uint8_t)bucket_len,
			     .timeout_ms = arg};
	memcpy(pkt, &rq, sizeof(rq));
	if (bucket_len)
		memcpy(pkt + sizeof(rq), bucket, bucket_len);
	if (recv_timeout_s) {
		struct timeval tv = {.tv_sec = recv_timeout_s};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	size_t len = sizeof(rq) + bucket_len;
	if (send(fd, pkt, len, MSG_NOSIGNAL) != (ssize_t)len) {
		int r = refusal(fd, false);
		close(fd);
		return r ? r : client_err(PKV_UNAVAILABLE, "the daemon closed the connection");
	}
	return fd;
}

int attach_control_send(const char *endpoint, unsigned op, unsigned flags, const void *bucket,
			size_t bucket_len, const void *key, size_t key_len, const void *value,
			size_t value_len, int recv_timeout_s)
{
	if (bucket_len > PKV_BUCKET_MAX || key_len > PKV_MAX_KEY || value_len > PKV_MAX_VALUE)
		return client_err(PKV_TOO_LARGE, "bucket, key or value over the limits");
	size_t len = sizeof(struct ctl_req) + bucket_len + key_len + value_len;
	uint8_t *pkt = malloc(len);
	if (!pkt)
		return -ENOMEM;
	int fd = connect_endpoint(endpoint);
	int denied = fd < 0 ? connect_failed("no access to the daemon at", fd) : 0;
	if (fd < 0) {
		free(pkt);
		return denied ? denied
			      : client_err(PKV_UNAVAILABLE, "cannot reach the daemon: %s",
					   strerror(-fd));
	}
	struct ctl_req rq = {.magic = CTL_MAGIC,
			     .op = (uint8_t)op,
			     .flags = (uint8_t)flags,
			     .bucket_len = (uint8_t)bucket_len,
			     .key_len = (uint32_t)key_len,
			     .value_len = (uint32_t)value_len};
	memcpy(pkt, &rq, sizeof(rq));
	if (bucket_len)
		memcpy(pkt + sizeof(rq), bucket, bucket_len);
	if (key_len)
		memcpy(pkt + sizeof(rq) + bucket_len, key, key_len);
	if (value_len)
		memcpy(pkt + sizeof(rq) + bucket_len + key_len, value, value_len);
	if (recv_timeout_s) {
		struct timeval tv = {.tv_sec = recv_timeout_s};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	ssize_t sent = send(fd, pkt, len, MSG_NOSIGNAL);
	free(pkt);
	if (sent != (ssize_t)len) {
		int r = refusal(fd, false);
		close(fd);
		return r ? r : client_err(PKV_UNAVAILABLE, "the daemon closed the connection");
	}
	return fd;
}

int attach_control_text(const char *endpoint, unsigned op, char **text)
{
	int fd = attach_control_request(endpoint, op, 0, 10);
	if (fd < 0)
		return fd;
	char *out = NULL;
	size_t len = 0;
	uint8_t *buf = malloc(CTL_MAX_PACKET + sizeof(struct ctl_rep));
	int r = buf ? PKV_OK : -ENOMEM;
	for (;;) {
		if (r != PKV_OK)
			break;
		ssize_t n = recv(fd, buf, CTL_MAX_PACKET + sizeof(struct ctl_rep), 0);
		if (n < 0 && errno == ECONNRESET) /* a refusal may still be queued (refusal()) */
			n = recv(fd, buf, CTL_MAX_PACKET + sizeof(struct ctl_rep), MSG_DONTWAIT);
		struct ctl_rep rep;
		if (n < (ssize_t)sizeof(rep)) {
			r = client_err(PKV_UNAVAILABLE, "no status from the daemon");
			break;
		}
		memcpy(&rep, buf, sizeof(rep));
		if (rep.magic != CTL_MAGIC || rep.len != (size_t)n - sizeof(rep)) {
			r = client_err(-EPROTO, "a malformed status reply");
			break;
		}
		char *nb = realloc(out, len + rep.len + 1);
		if (!nb) {
			r = -ENOMEM;
			break;
		}
		out = nb;
		memcpy(out + len, buf + sizeof(rep), rep.len);
		len += rep.len;
		out[len] = 0;
		if (rep.status == -EACCES && rep.len) /* refused: the text says why */
			r = client_err(-EACCES, "the daemon refused this client: %s", out + len - rep.len);
		else if (rep.status != PKV_OK)
			r = rep.status;
		if (!(rep.flags & CTL_RF_MORE))
			break;
	}
	free(buf);
	close(fd);
	if (r != PKV_OK) {
		free(out);
		return r;
	}
	*text = out;
	return PKV_OK;
}

// SPDX-License-Identifier: MIT
/*
 * pkv-scenario — five real pkvd daemons, concurrent clients through
 * libpaxoskv-client, a seeded random schedule of faults, a recorded history
 * and a checker of the properties of docs/design.md §4 and §9.
 *
 *   pkv-scenario [--seconds N] [--seed S] [--clients N] [--bound-ms MS] [--keep]
 *                [--discard] [--verbose] [--no-membership] [--observers K] [--durable]
 *   pkv-scenario --check HISTORY [--check HISTORY]...   (the checker alone)
 *
 * The run dir (daemon logs, histories) is removed at the end, unless --keep,
 * or unless the checker reported a violation and not --discard (the can-fail
 * runs, which expect violations, pass --discard).
 *
 * PKVD names the daemon binary. Faults: datagram loss, duplication, delay,
 * reordering, symmetric and asymmetric partitions, wall-clock skew (through
 * the daemons' fault injection, -Dfault_injection=true; without it only the
 * process faults run), SIGKILL and restart, SIGSTOP pauses. At most two
 * daemons are disturbed (killed, stopped, partitioned) at once, and a killed
 * daemon is restarted and synced before the next kill, so a majority never
 * restarts without state. Membership changes run among the faults (unless
 * --no-membership): one voter added or removed at a time through
 * pkv_resize_cluster, the voters kept between 3 and 5 of the five daemons;
 * a daemon that missed a change (paused, cut off) is given it again until
 * every daemon has the same size, before the next change.
 *
 * Clients (one process each, attached to one daemon) put unbound keys that
 * every client writes in the same time slot (contention), read them back,
 * put keys bound to child processes they later SIGKILL, read their own and
 * the others' bound keys, and put keys with an until. Every call is recorded
 * with its monotonic and wall start and end. After the schedule the faults
 * heal and a sweep reads every key on every daemon.
 *
 * The checker (check_history) reports a violation when
 *  - two successful calls returned different values for one key and
 *    generation, or an unbound key got a second generation (agreement);
 *  - an unbound key was read absent after a put of it had returned (lost);
 *  - a bound key was read absent while its owner process lived and no
 *    daemon was disturbed since its put (lost while bound);
 *  - a value was returned by a call that started more than the erasure
 *    bound after its owner process died, or after its until, on a daemon
 *    not disturbed in the meantime (not erased);
 *  - a plain read on any daemon, disturbed or cut off too, returned a bound
 *    value more than the lease bound after its lifetime was seen ended
 *    elsewhere: read absent, or another life's value, by a call that began
 *    after its put returned (not vouched for: docs/design.md §5.1). A
 *    partition that cuts off one daemon brings a probe (probe_start) that
 *    holds a bound key there while the majority ends it.
 * With --durable every daemon keeps its acceptor log across restarts; a
 * probe partition's cut-off daemon is killed and restarted inside it
 * (kill_inside_partitions), and half of the other kills restart within the
 * restart grace with a keep probe (keep_probe_run), where a bound key read
 * absent by its live owner is a violation even though a daemon was killed.
 * It prints one summary line; exit 0 with no violation, 1 with violations,
 * 99 when the harness itself failed (a daemon did not start, …).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devcluster.h"
#include "paxoskv.h"
#include "pkv-ctl.h"

/* Daemons: N_VOTERS that may vote (the size moves between 3 and 5), and
 * --observers more that never do (docs/design.md §5.2), N_MAX in all. */
#define N_VOTERS     5
#define N_MAX	     7
#define N_NODES	     (S.n)
#define MAX_CLIENTS  32
#define BOUND_KEYS   4	  /* bound key names per client, reused by later lives */
#define SLOT_MS	     400u /* clients put the same unbound key within a slot */
#define EXIT_HARNESS 99

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned rnd_in(uint64_t *s, unsigned lo, unsigned hi)
{
	return lo + (unsigned)(splitmix(s) % (uint64_t)(hi - lo + 1));
}

/* ---- the run ---- */

static struct {
	const char *pkvd;
	char dir[256];
	unsigned port_base;
	unsigned ft_ms, hb_ms, bound_ms, op_timeout_ms, ready_ms;
	unsigned lease_bound_ms; /* the lease, its margin and an ERASE in flight */
	unsigned seconds;
	uint64_t seed;
	int clients;
	bool keep, discard, verbose, net_faults;
	bool durable; /* --durable: pkvd --durable, its state dir kept across restarts */
	pid_t daemon[N_MAX + 1];
	pid_t worker[MAX_CLIENTS];
	bool membership;
	int n;	       /* daemons: N_VOTERS + observers */
	int observers; /* --observers: node6.. never vote */
} S;

/* The membership changes: one resize in flight at a time, in a child. */
static struct {
	pid_t child;	 /* the resize running now, 0: none */
	int via;	 /* the daemon it runs through */
	unsigned target; /* the size it asks for */
	unsigned size;	 /* the size every daemon must reach (a restart is given it) */
	bool converged;	 /* every daemon was seen with `size` */
	uint64_t deadline, next_check;
	unsigned grow, shrink, ok, not_in_sync, failed, retries;
} M = {.size = N_VOTERS, .converged = true};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	if (!S.verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static void harness_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void cleanup(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	if (M.child > 0) {
		kill(M.child, SIGKILL);
		waitpid(M.child, NULL, 0);
		M.child = 0;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (S.worker[i] > 0) {
			kill(S.worker[i], SIGKILL);
			waitpid(S.worker[i], NULL, 0);
		}
	for (int i = 1; i <= N_NODES; i++)
		if (S.daemon[i] > 0) {
			kill(S.daemon[i], SIGCONT);
			kill(S.daemon[i], SIGTERM);
		}
	uint64_t end = mono_ms() + 5000;
	for (int i = 1; i <= N_NODES; i++) {
		if (S.daemon[i] <= 0)
			continue;
		while (waitpid(S.daemon[i], NULL, WNOHANG) == 0) {
			if (mono_ms() > end) {
				kill(S.daemon[i], SIGKILL);
				waitpid(S.daemon[i], NULL, 0);
				break;
			}
			nap_ms(10);
		}
		S.daemon[i] = 0;
	}
	if (S.dir[0] && !S.keep) {
		if (devcluster_remove_dir(S.dir) != 0)
			fprintf(stderr, "pkv-scenario: could not remove %s\n", S.dir);
	} else if (S.dir[0]) {
		printf("# run dir kept: %s\n", S.dir);
	}
}

static void print_replay(void)
{
	printf("# replay: PKVD=%s %s --seed %" PRIu64
	       " --seconds %u --clients %d --bound-ms %u%s%s\n",
	       S.pkvd, program_invocation_name, S.seed, S.seconds, S.clients, S.bound_ms,
	       S.membership ? "" : " --no-membership", S.durable ? " --durable" : "");
}

static void harness_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pkv-scenario: harness error: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	for (int i = 1; i <= N_NODES; i++) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd),
			 "echo '--- node%d (tail)'; tail -n 15 '%s/node%d/pkvd.log'", i, S.dir, i);
		if (system(cmd) != 0)
			break;
	}
	print_replay();
	fflush(stdout);
	cleanup();
	exit(EXIT_HARNESS);
}

/* Port base candidates: multiples of 16 from 20000, drawn from the seeded rng. */
static int pick_port_base(void *rng)
{
	return (int)(20000u + rnd_in(rng, 0, 2499) * 16u);
}

/* A base port with base+1..base+N_NODES free for UDP on loopback now. */
static unsigned free_port_base(uint64_t *rng)
{
	int base = devcluster_port_base(N_NODES, 200, pick_port_base, rng);
	if (base < 0)
		harness_fail("no free ports");
	return (unsigned)base;
}

static void write_key(void)
{
	char path[300], hex[65];
	uint8_t raw[32];
	int fd = open("/dev/urandom", O_RDONLY);
	if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
		harness_fail("/dev/urandom");
	close(fd);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	snprintf(path, sizeof(path), "%s/cluster.key", S.dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1)
		harness_fail("cannot write %s", path);
	close(fd);
}

/* bootstrap: the cluster's first start (pkvd --bootstrap); restarts are not. */
static void start_daemon(int i, bool bootstrap)
{
	char node[8], size[8], pb[16], ft[16], hb[16], log[300];
	snprintf(node, sizeof(node), "%d", i);
	/* the voters as they are now: an operator's config after the changes */
	snprintf(size, sizeof(size), "%u", M.size);
	snprintf(pb, sizeof(pb), "%u", S.port_base);
	snprintf(ft, sizeof(ft), "%u", S.ft_ms);
	snprintf(hb, sizeof(hb), "%u", S.hb_ms);
	snprintf(log, sizeof(log), "%s/node%d", S.dir, i);
	mkdir(log, 0700);
	snprintf(log, sizeof(log), "%s/node%d/pkvd.log", S.dir, i);
	fflush(stdout);
	pid_t p = fork();
	if (p < 0)
		harness_fail("fork: %s", strerror(errno));
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the runner */
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		/* A fleet: every daemon configures all S.n nodes, those past
		 * the size as observers (pkvd --dev-nodes). */
		char dn[16];
		snprintf(dn, sizeof(dn), "%d", S.n);
		const char *av[20] = {"pkvd", "--node", node, "--cluster-size", size,
				      "--run-dir", S.dir, "--port-base", pb,
				      "--failure-timeout", ft, "--heartbeat", hb};
		int k = 13;
		if (S.observers) {
			av[k++] = "--dev-nodes";
			av[k++] = dn;
		}
		if (bootstrap)
			av[k++] = "--bootstrap";
		/* the acceptor log lives in the node's state dir, RUN_DIR/nodeN,
		 * which a restart keeps (docs/design.md §6.3) */
		if (S.durable)
			av[k++] = "--durable";
		execv(S.pkvd, (char *const *)av);
		_exit(127);
	}
	S.daemon[i] = p;
}

/* True when daemon i answers and can serve (quorum, synced after a restart). */
static bool daemon_ready(int i)
{
	char node[16];
	snprintf(node, sizeof(node), "node%d", i);
	struct pkv_client *c;
	if (pkv_open(&c, node) != PKV_OK)
		return false;
	bool ok = pkv_wait_for_bucket(c, NULL, 0, 0) == PKV_OK;
	pkv_close(c);
	return ok;
}

static void wait_ready(int i)
{
	uint64_t end = mono_ms() + S.ready_ms;
	while (!daemon_ready(i)) {
		int st;
		if (waitpid(S.daemon[i], &st, WNOHANG) == S.daemon[i]) {
			S.daemon[i] = 0;
			harness_fail("node%d exited (status %d)", i, st);
		}
		if (mono_ms() > end)
			harness_fail("node%d not ready after %u ms", i, S.ready_ms);
		nap_ms(20);
	}
}

/* Sends a fault spec to daemon i; 0, 77 (no fault injection) or -1. */
static int ctl_fault(int i, const char *spec)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[300];
	int pl = snprintf(path, sizeof(path), "%s/node%d/%s", S.dir, i, CTL_SOCKET_NAME);
	if (pl < 0 || (size_t)pl >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, (size_t)pl + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t len = strlen(spec);
	uint8_t pkt[sizeof(struct ctl_req) + 512];
	struct ctl_req rq = {.magic = CTL_MAGIC, .op = CTL_OP_FAULT, .value_len = (uint32_t)len};
	struct ctl_rep rep;
	int r = -1;
	if (len <= 512 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		memcpy(pkt, &rq, sizeof(rq));
		memcpy(pkt + sizeof(rq), spec, len);
		if (send(fd, pkt, sizeof(rq) + len, 0) == (ssize_t)(sizeof(rq) + len) &&
		    recv(fd, &rep, sizeof(rep), 0) == (ssize_t)sizeof(rep))
			r = rep.status == PKV_S_OK ? 0 : 77;
	}
	close(fd);
	return r;
}

/* ---- clients ---- */

struct worker_ctx {
	int id, node;
	uint64_t end_ms, rng;
	FILE *h;
	struct pkv_client *c;
	struct pkv_value v;
};

/* One history line per call: O w node kind key sent status got gen t0 t1 w0 w1 */
static void record(struct worker_ctx *w, int node, char kind, const char *key, const char *sent,
		   int status, uint64_t t0, uint64_t t1, uint64_t w0, uint64_t w1)
{
	const char *got = "-";
	char buf[128];
	uint64_t gen = 0;
	if (status == PKV_OK) {
		snprintf(buf, sizeof(buf), "%.*s", (int)w->v.len, (const char *)w->v.data);
		/* every value the scenario writes is a short word */
		for (char *p = buf; *p; p++)
			if (*p <= ' ' || *p > '~')
				*p = '?';
		got = buf[0] ? buf : "?";
		gen = w->v.gen;
	}
	fprintf(w->h,
		"O %d %d %c %s %s %d %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		"\n",
		w->id, node, kind, key, sent ? sent : "-", status, got, gen, t0, t1, w0, w1);
}

static int do_put(struct worker_ctx *w, const char *key, const char *val, int32_t pid,
		  uint64_t until)
{
	struct pkv_put_opts po = {.timeout_ms = S.op_timeout_ms, .pid = pid, .until = until};
	uint64_t t0 = mono_ms(), w0 = pkv_now();
	int r = pkv_put(w->c, key, strlen(key), val, strlen(val), &po, &w->v);
	uint64_t t1 = mono_ms(), w1 = pkv_now();
	record(w, w->node, 'P', key, val, r, t0, t1, w0, w1);
	return r;
}

static int do_get_within(struct worker_ctx *w, const char *key, const char *expect, bool no_cache,
			 unsigned timeout_ms)
{
	struct pkv_get_opts go = {.timeout_ms = timeout_ms,
				  .flags = no_cache ? PKV_GET_NO_CACHE : 0};
	uint64_t t0 = mono_ms(), w0 = pkv_now();
	int r = pkv_get(w->c, key, strlen(key), &go, &w->v);
	uint64_t t1 = mono_ms(), w1 = pkv_now();
	record(w, w->node, 'G', key, expect, r, t0, t1, w0, w1);
	return r;
}

static int do_get(struct worker_ctx *w, const char *key, const char *expect, bool no_cache)
{
	return do_get_within(w, key, expect, no_cache, S.op_timeout_ms);
}

struct life {
	pid_t holder;
	int n;
	uint64_t end_ms;
	char key[32], val[48];
};

static void life_kill(struct worker_ctx *w, struct life *l)
{
	if (l->holder <= 0)
		return;
	uint64_t t_kill = mono_ms();
	kill(l->holder, SIGKILL);
	waitpid(l->holder, NULL, 0);
	/* X w life kill_ms reaped_ms */
	fprintf(w->h, "X %d %d %" PRIu64 " %" PRIu64 "\n", w->id, l->n, t_kill, mono_ms());
	l->holder = 0;
}

/* A process to bind keys to: it waits until killed, or until its parent
 * dies. Its pid, or -1 when fork fails. */
static pid_t holder_spawn(void)
{
	pid_t p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return p;
}

static void life_begin(struct worker_ctx *w, struct life *l)
{
	pid_t p = holder_spawn();
	if (p < 0)
		return;
	l->holder = p;
	l->n++;
	l->end_ms = mono_ms() + rnd_in(&w->rng, 400, 2500);
	snprintf(l->key, sizeof(l->key), "b%d.%d", w->id, l->n % BOUND_KEYS);
	snprintf(l->val, sizeof(l->val), "b:w%d.L%d", w->id, l->n);
	int r = do_put(w, l->key, l->val, p, 0);
	if (r != PKV_OK && r != PKV_TIMEOUT && r != PKV_UNAVAILABLE)
		life_kill(w, l); /* refused: nothing of this life can be chosen */
}

static int worker_main(int id, int node, uint64_t end_ms, uint64_t seed)
{
	struct worker_ctx w = {.id = id, .node = node, .end_ms = end_ms, .rng = seed};
	char path[300], name[16];
	snprintf(path, sizeof(path), "%s/hist-%d", S.dir, id);
	w.h = fopen(path, "w");
	if (!w.h)
		return 2;
	snprintf(name, sizeof(name), "node%d", node);
	if (pkv_open(&w.c, name) != PKV_OK)
		return 69;
	struct life l = {0};
	long n = 0, until_n = 0;
	char key[48], val[64];
	while (mono_ms() < end_ms) {
		unsigned dice = rnd_in(&w.rng, 0, 99);
		uint64_t slot = mono_ms() / SLOT_MS;
		int r = PKV_OK;
		n++;
		if (dice < 35) {
			snprintf(key, sizeof(key), "u%" PRIu64, slot);
			snprintf(val, sizeof(val), "u:w%d.%ld", id, n);
			r = do_put(&w, key, val, 0, 0);
		} else if (dice < 60) {
			snprintf(key, sizeof(key), "u%" PRIu64, slot - rnd_in(&w.rng, 0, 30));
			r = do_get(&w, key, NULL, rnd_in(&w.rng, 0, 3) == 0);
		} else if (dice < 75) {
			if (l.holder && mono_ms() >= l.end_ms)
				life_kill(&w, &l);
			else if (!l.holder)
				life_begin(&w, &l);
			else
				r = do_get(&w, l.key, l.val, rnd_in(&w.rng, 0, 3) == 0);
		} else if (dice < 90) {
			snprintf(key, sizeof(key), "b%u.%u",
				 rnd_in(&w.rng, 0, (unsigned)S.clients - 1),
				 rnd_in(&w.rng, 0, BOUND_KEYS - 1));
			r = do_get(&w, key, NULL, rnd_in(&w.rng, 0, 3) == 0);
		} else if (dice < 95) {
			uint64_t until = pkv_now() + rnd_in(&w.rng, 800, 3000);
			snprintf(key, sizeof(key), "t%d.%ld", id, ++until_n);
			snprintf(val, sizeof(val), "t:w%d.%ld.%" PRIu64, id, until_n, until);
			r = do_put(&w, key, val, 0, until);
		} else if (until_n) {
			long k = until_n - (long)rnd_in(&w.rng, 0, 5);
			if (k < 1)
				k = 1;
			snprintf(key, sizeof(key), "t%d.%ld", id, k);
			r = do_get(&w, key, NULL, false);
		}
		/* a failed call (daemon away, no quorum) backs off a little */
		nap_ms(r == PKV_OK || r == PKV_NOT_FOUND ? 2 : 30);
	}
	life_kill(&w, &l);
	pkv_value_free(&w.v);
	pkv_close(w.c);
	return fclose(w.h) == 0 ? 0 : 2;
}

/* ---- the fault schedule ---- */

enum fault_kind {
	F_LOSS,
	F_DUP,
	F_DELAY,
	F_REORDER,
	F_PARTITION,
	F_ASYM,
	F_KILL,
	F_STOP,
	F_SKEW,
	F_MEMBER, /* not a fault: a membership change, drawn among them */
	F_KINDS
};
static const char *const fault_name[F_KINDS] = {"loss", "dup",	"delay", "reorder", "partition",
						"asym", "kill", "stop",	 "skew",    "member"};

struct fault {
	enum fault_kind kind;
	bool active, restarting;
	uint64_t end_ms;
	unsigned nodes; /* bit i: node i involved (disturbed for kill/stop/partitions) */
	unsigned other; /* partition: the other side; asym: the targets */
	unsigned pct, ms;
	long skew;
	int node;
	bool probe;	  /* partition: a lease probe runs on its cut-off node */
	uint64_t kill_at; /* --durable probe partition: SIGKILL its node then (0: no) */
	uint64_t kill_ms; /* kill: when it was SIGKILLed */
	size_t dist_first, dist_count; /* kill: the intervals it opened */
};

#define MAX_FAULTS 16
/* --durable: a kill restarted this soon keeps its holders' bindings: the
 * restart grace (the failure timeout, 1 s) less the new daemon's start and
 * the hand-over file's age (docs/design.md §6.2) */
#define KEPT_RESTART_MS 600u
static struct fault faults[MAX_FAULTS];
static unsigned fault_count[F_KINDS];

/* Disturbance intervals: [a, b] ms while node n was killed, stopped or cut. */
struct dist {
	int node;
	uint64_t a, b;
	/* --durable: opened by a kill whose daemon was restarted within the
	 * restart grace, which keeps its live holders' keys (docs/design.md
	 * §6.2); not an excuse for a bound key read absent by its owner */
	bool kept;
};
static struct dist *dists;
static size_t n_dists, cap_dists;

static size_t dist_open(int node)
{
	if (n_dists == cap_dists) {
		cap_dists = cap_dists ? 2 * cap_dists : 64;
		dists = realloc(dists, cap_dists * sizeof(*dists));
		if (!dists)
			harness_fail("out of memory");
	}
	dists[n_dists] = (struct dist){node, mono_ms(), UINT64_MAX, false};
	return n_dists++;
}

static void dist_open_mask(unsigned mask, size_t *first, size_t *count)
{
	*first = n_dists;
	*count = 0;
	for (int i = 1; i <= N_NODES; i++)
		if (mask & (1u << i)) {
			dist_open(i);
			(*count)++;
		}
}

static void dist_close_node(int node)
{
	uint64_t now = mono_ms();
	for (size_t i = 0; i < n_dists; i++)
		if (dists[i].node == node && dists[i].b == UINT64_MAX)
			dists[i].b = now;
}

static unsigned disturbed_mask(void)
{
	unsigned m = 0;
	for (int i = 0; i < MAX_FAULTS; i++)
		if (faults[i].active && (faults[i].kind == F_KILL || faults[i].kind == F_STOP ||
					 faults[i].kind == F_PARTITION || faults[i].kind == F_ASYM))
			m |= faults[i].nodes;
	return m;
}

static int popcount(unsigned m)
{
	return __builtin_popcount(m);
}

static char applied[N_MAX + 1][256];
/* --durable: probe partitions whose cut-off node was killed and restarted
 * inside them (cut_restarts=), and those whose kill the limits refused. */
static unsigned cut_restarts, cut_restarts_skipped;
/* --durable: kills restarted within the grace, each with a keep probe */
static unsigned keep_probes;
/*
 * After a probe's partition heals, its cut-off node loses what would tell
 * it of the other side's erasures for a while (late_erase=: their ERASEs,
 * and the answers to its gets' queries): the erasures the majority made
 * while it was away arrive late, and it must not vouch for their values
 * meanwhile (docs/design.md §5.1, the lease regained). Until
 * late_erase_end[n].
 */
static uint64_t late_erase_end[N_MAX + 1];
static unsigned late_erase_from[N_MAX + 1];

/* Recomputes every daemon's network faults from the active ones and sends
 * the specs that changed. */
static void push_specs(bool force)
{
	if (!S.net_faults)
		return;
	for (int i = 1; i <= N_NODES; i++) {
		unsigned drop = 0, dup = 0, delay = 0, reorder = 0, bin = 0, bout = 0;
		long skew = 0;
		bool down = false;
		for (int k = 0; k < MAX_FAULTS; k++) {
			struct fault *f = &faults[k];
			if (!f->active)
				continue;
			bool in = f->nodes & (1u << i);
			switch (f->kind) {
			case F_LOSS:
				if (in && f->pct > drop)
					drop = f->pct;
				break;
			case F_DUP:
				if (in && f->pct > dup)
					dup = f->pct;
				break;
			case F_DELAY:
				if (in && f->ms > delay)
					delay = f->ms;
				break;
			case F_REORDER:
				if (in && f->pct > reorder)
					reorder = f->pct;
				break;
			case F_PARTITION:
				if (in) {
					bin |= f->other;
					bout |= f->other;
				} else if (f->other & (1u << i)) {
					bin |= f->nodes;
					bout |= f->nodes;
				}
				break;
			case F_ASYM:
				/* node's datagrams to the targets are lost, not theirs to it */
				if (in)
					bout |= f->other;
				break;
			case F_SKEW:
				if (in)
					skew = f->skew;
				break;
			case F_KILL:
				if (in)
					down = true;
				break;
			case F_STOP:
			case F_MEMBER:
			case F_KINDS:
				break;
			}
		}
		char spec[256], ids[64];
		int o = snprintf(spec, sizeof(spec), "drop=%u dup=%u delay=%u reorder=%u skew=%ld",
				 drop, dup, delay, reorder, skew);
		for (int pass = 0; pass < 3; pass++) {
			static const char *const name[] = {"block_in", "block_out", "late_erase"};
			unsigned m = pass == 0 ? bin : pass == 1 ? bout
					 : late_erase_end[i] ? late_erase_from[i] : 0;
			if (!m)
				continue;
			int p = 0;
			for (int j = 1; j <= N_NODES; j++)
				if (m & (1u << j))
					p += snprintf(ids + p, sizeof(ids) - (size_t)p, "%s%d",
						      p ? "," : "", j);
			o += snprintf(spec + o, sizeof(spec) - (size_t)o, " %s=%s", name[pass], ids);
		}
		if (down || (!force && !strcmp(spec, applied[i])))
			continue;
		bool stopped = false;
		for (int k = 0; k < MAX_FAULTS; k++)
			if (faults[k].active && faults[k].kind == F_STOP && faults[k].node == i)
				stopped = true;
		if (stopped)
			continue; /* sent once it runs again */
		if (ctl_fault(i, spec) == 0)
			snprintf(applied[i], sizeof(applied[i]), "%s", spec);
		say("node%d faults: %s", i, spec);
	}
}

static unsigned random_set(uint64_t *rng, int lo, int hi, unsigned exclude)
{
	int want = (int)rnd_in(rng, (unsigned)lo, (unsigned)hi);
	unsigned m = 0;
	for (int tries = 0; tries < 100 && popcount(m) < want; tries++) {
		int i = (int)rnd_in(rng, 1, N_NODES);
		if (!(exclude & (1u << i)))
			m |= 1u << i;
	}
	return m;
}

#define ALL ((((1u << (N_NODES + 1)) - 1) & ~1u))

/* ---- membership changes ---- */

/* What a resize answered, as the child's exit status. */
enum member_answer {
	MA_OK,
	MA_NOT_IN_SYNC,
	MA_TIMEOUT,
	MA_NO_QUORUM,
	MA_UNAVAILABLE,
	MA_REFUSED,
	MA_OTHER,
	MA_KILLED
};
static const char *const member_answer_name[] = {
    "ok", "not_in_sync", "timeout", "no_quorum", "unavailable", "refused", "other", "no answer"};

static bool node_has(enum fault_kind kind, int node)
{
	for (int k = 0; k < MAX_FAULTS; k++)
		if (faults[k].active && faults[k].kind == kind && faults[k].node == node)
			return true;
	return false;
}

static bool any_kill(void)
{
	for (int k = 0; k < MAX_FAULTS; k++)
		if (faults[k].active && faults[k].kind == F_KILL)
			return true;
	return false;
}

/* A daemon that runs and can answer now: not killed, not paused. */
static bool node_answers(int node)
{
	return S.daemon[node] > 0 && !node_has(F_KILL, node) && !node_has(F_STOP, node);
}

/* Runs pkv_resize_cluster(size) through daemon via in a child process, so
 * the schedule goes on while it waits for the voters. */
static void member_fork(int via, unsigned size)
{
	fflush(stdout);
	pid_t p = fork();
	if (p < 0)
		harness_fail("fork: %s", strerror(errno));
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char name[16];
		snprintf(name, sizeof(name), "node%d", via);
		struct pkv_client *c;
		int r = pkv_open(&c, name);
		if (r == PKV_OK) {
			r = pkv_resize_cluster(c, size);
			pkv_close(c);
		}
		_exit(r == PKV_OK	     ? MA_OK
		      : r == PKV_NOT_IN_SYNC ? MA_NOT_IN_SYNC
		      : r == PKV_TIMEOUT     ? MA_TIMEOUT
		      : r == PKV_NO_QUORUM   ? MA_NO_QUORUM
		      : r == PKV_UNAVAILABLE ? MA_UNAVAILABLE
		      : r == PKV_BAD_REQUEST ? MA_REFUSED
					     : MA_OTHER);
	}
	M.child = p;
	M.via = via;
	M.target = size;
	M.deadline = mono_ms() + 8u * S.op_timeout_ms;
}

/* The cluster_size a daemon reports, 0 when it does not answer. */
static unsigned member_size_of(int node)
{
	char name[16];
	snprintf(name, sizeof(name), "node%d", node);
	struct pkv_client *c;
	if (pkv_open(&c, name) != PKV_OK)
		return 0;
	char *text = NULL;
	unsigned size = 0;
	if (pkv_cluster_status(c, &text) == PKV_OK) {
		const char *f = strstr(text, "\ncluster_size: ");
		if (f)
			size = (unsigned)strtoul(f + strlen("\ncluster_size: "), NULL, 10);
	}
	free(text);
	pkv_close(c);
	return size;
}

/* 0 when every daemon that answers has M.size and none is away; a daemon
 * with another size; -1 when one cannot be asked now (paused, restarting). */
static int member_lagging(void)
{
	int away = 0;
	for (int i = 1; i <= N_NODES; i++) {
		if (!node_answers(i)) {
			/* a killed daemon restarts with M.size; a paused one may lag */
			if (node_has(F_STOP, i))
				away = -1;
			continue;
		}
		unsigned size = member_size_of(i);
		if (!size)
			away = -1;
		else if (size != M.size)
			return i;
	}
	return away;
}

/* Reaps the resize in flight, and gives a daemon that missed a change the
 * change again (through it) until every daemon has M.size. */
static void member_tick(void)
{
	uint64_t now = mono_ms();
	if (M.child) {
		int st = 0;
		pid_t r = waitpid(M.child, &st, WNOHANG);
		if (r == 0 && now < M.deadline)
			return;
		if (r == 0) {
			kill(M.child, SIGKILL);
			waitpid(M.child, &st, 0);
		}
		int a = r == 0 || !WIFEXITED(st) ? MA_KILLED : WEXITSTATUS(st);
		if (a > MA_KILLED)
			a = MA_OTHER;
		M.ok += a == MA_OK;
		M.not_in_sync += a == MA_NOT_IN_SYNC;
		M.failed += a != MA_OK && a != MA_NOT_IN_SYNC;
		say("member: resize %u via node%d: %s", M.target, M.via, member_answer_name[a]);
		M.child = 0;
		M.next_check = now;
		return;
	}
	if (!S.membership || M.converged || now < M.next_check)
		return;
	M.next_check = now + 1000;
	int lag = member_lagging();
	if (lag == 0) {
		M.converged = true;
		say("member: every daemon has size %u", M.size);
	} else if (lag > 0) {
		M.retries++;
		say("member: node%d missed the change to %u; again through it", lag, M.size);
		member_fork(lag, M.size);
	}
}

/* Starts one membership change: a voter added or removed (3..5 voters),
 * through a random running daemon, once the last change is everywhere and
 * no daemon is killed (a restart is given the size of the moment). */
static bool member_change(uint64_t *rng)
{
	/* drawn first, so the schedule's draws do not depend on timing */
	bool up = rnd_in(rng, 0, 1);
	int via = (int)rnd_in(rng, 1, N_NODES);
	if (M.child || !M.converged || any_kill())
		return false;
	for (int k = 0; k < N_NODES && !node_answers(via); k++)
		via = via % N_NODES + 1;
	if (!node_answers(via))
		return false;
	unsigned target = M.size <= 3	      ? 4
			  : M.size >= N_VOTERS ? N_VOTERS - 1
					      : M.size + (up ? 1 : -1);
	M.grow += target > M.size;
	M.shrink += target < M.size;
	say("member: resize %u -> %u via node%d", M.size, target, via);
	M.size = target;
	M.converged = false;
	member_fork(via, target);
	return true;
}

/* The heal: the last change answers and every daemon reaches M.size. */
static void member_settle(void)
{
	uint64_t end = mono_ms() + S.ready_ms;
	while (M.child || !M.converged) {
		if (mono_ms() > end)
			harness_fail("the daemons do not agree on the size %u after %u ms", M.size,
				     S.ready_ms);
		member_tick();
		nap_ms(20);
	}
}

/*
 * The lease probe (docs/design.md §5.1): when one daemon X is cut off, a
 * child process puts a key bound to a process of its own through X and
 * waits until a daemon M of the majority answers it; once the partition is
 * on, the majority ends the lifetime when it counts X down, while X, whose
 * owner lives, keeps the value. The child reads the key on M and, plainly,
 * on X until the partition ends (made long enough to see it), then kills
 * the owner. Its history (pseudo client S.clients + 1, one life per probe)
 * goes to the checker: X must stop answering the value within the lease
 * bound of M's first `not found`.
 */
#define MAX_PROBES 64
#define PROBE_GET_MS 100u /* X's gets in the probe */
static pid_t probes[MAX_PROBES];
static int n_probes;

static void probe_run(int k, int x, int m, uint64_t end_ms, int ready_fd, int go_fd)
{
	char path[300], name[16], key[32], val[48];
	snprintf(path, sizeof(path), "%s/hist-probe-%d", S.dir, k);
	struct worker_ctx w = {.id = S.clients + 1};
	struct pkv_client *cx, *cm;
	w.h = fopen(path, "w");
	snprintf(name, sizeof(name), "node%d", x);
	if (!w.h || pkv_open(&cx, name) != PKV_OK)
		_exit(2);
	snprintf(name, sizeof(name), "node%d", m);
	if (pkv_open(&cm, name) != PKV_OK)
		_exit(2);
	pid_t h = holder_spawn();
	if (h < 0)
		_exit(2);
	snprintf(key, sizeof(key), "bp%d", k);
	snprintf(val, sizeof(val), "b:w%d.L%d", w.id, k);
	w.c = cx;
	w.node = x;
	int r = do_put(&w, key, val, h, 0);
	w.c = cm;
	w.node = m;
	uint64_t learned_by = mono_ms() + 2000u;
	while (r == PKV_OK && do_get(&w, key, val, false) != PKV_OK && mono_ms() < learned_by)
		nap_ms(10);
	char b = 1;
	unsigned reads = 0;
	/*
	 * A closed pipe either way: the harness gave up waiting for the put
	 * and its learning (X slow to answer) and cut X off without a probe.
	 * The owner ends now, on the record.
	 */
	if (write(ready_fd, &b, 1) != 1 || read(go_fd, &b, 1) != 1)
		end_ms = 0;
	while (mono_ms() < end_ms) {
		w.c = cm;
		w.node = m;
		do_get(&w, key, NULL, false);
		/* short: a get waiting for a quorum would sleep through the heal */
		w.c = cx;
		w.node = x;
		/* --durable: every other read of X through the daemon, past its
		 * cache (X restarts inside the cut: kill_inside_partitions) */
		do_get_within(&w, key, NULL, S.durable && (++reads & 1u), PROBE_GET_MS);
		nap_ms(50);
	}
	/*
	 * The heal: X hears from the majority again, and must not vouch for
	 * the value before the majority's ERASE is in (docs/design.md §5.1,
	 * the lease regained). Read X closely through it.
	 */
	w.c = cx;
	w.node = x;
	for (uint64_t heal_end = end_ms ? mono_ms() + 2u * S.ft_ms : 0; mono_ms() < heal_end;) {
		do_get_within(&w, key, NULL, S.durable && (++reads & 1u), PROBE_GET_MS);
		nap_ms(5);
	}
	uint64_t t_kill = mono_ms();
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	fprintf(w.h, "X %d %d %" PRIu64 " %" PRIu64 "\n", w.id, k, t_kill, mono_ms());
	pkv_value_free(&w.v);
	pkv_close(cx);
	pkv_close(cm);
	_exit(fclose(w.h) == 0 ? 0 : 2);
}

/*
 * --durable, a kill restarted within the grace (docs/design.md §6.2): the
 * probe puts key bkK bound to a live process of its own through X before
 * the kill, and reads it through X (cache and daemon, in turn) across the
 * restart until well after it; the holder lives throughout, so the
 * checker's lost-while-bound rule must see the value, never `not found`.
 */
static void keep_probe_run(int k, int x, unsigned down_ms, int ready_fd)
{
	char path[300], name[16], key[32], val[48];
	snprintf(path, sizeof(path), "%s/hist-probe-%d", S.dir, k);
	struct worker_ctx w = {.id = S.clients + 1, .node = x};
	w.h = fopen(path, "w");
	snprintf(name, sizeof(name), "node%d", x);
	if (!w.h || pkv_open(&w.c, name) != PKV_OK)
		_exit(2);
	pid_t h = holder_spawn();
	if (h < 0)
		_exit(2);
	snprintf(key, sizeof(key), "bk%d", k);
	snprintf(val, sizeof(val), "b:w%d.L%d", w.id, k);
	S.op_timeout_ms = 1000u; /* the kill waits for this put */
	do_put(&w, key, val, h, 0);
	char b = 1;
	if (write(ready_fd, &b, 1) != 1)
		_exit(2);
	unsigned reads = 0;
	for (uint64_t end = mono_ms() + down_ms + 3000u; mono_ms() < end;) {
		do_get_within(&w, key, val, ++reads & 1u, PROBE_GET_MS);
		nap_ms(20);
	}
	uint64_t t_kill = mono_ms();
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	fprintf(w.h, "X %d %d %" PRIu64 " %" PRIu64 "\n", w.id, k, t_kill, mono_ms());
	pkv_value_free(&w.v);
	pkv_close(w.c);
	_exit(fclose(w.h) == 0 ? 0 : 2);
}

/* Before a kill of x restarted within the grace: a keep probe, once its
 * put returned (or 2 s passed). */
static void keep_probe_start(int x, unsigned down_ms)
{
	int ready[2];
	if (n_probes == MAX_PROBES || pipe(ready) < 0)
		return;
	pid_t p = fork();
	if (p == 0) {
		close(ready[0]);
		keep_probe_run(n_probes, x, down_ms, ready[1]);
	}
	close(ready[1]);
	if (p > 0) {
		probes[n_probes++] = p;
		keep_probes++;
		struct pollfd pf = {.fd = ready[0], .events = POLLIN};
		char b;
		if (poll(&pf, 1, 2000) != 1 || read(ready[0], &b, 1) != 1)
			say("keep probe %d: no put", n_probes - 1);
	}
	close(ready[0]);
}

/* Before partition f (one node cut off) goes on: a probe, if one can run. */
static void probe_start(struct fault *f)
{
	if (n_probes == MAX_PROBES || popcount(f->nodes) != 1)
		return;
	int x = __builtin_ctz(f->nodes), m = 0;
	unsigned free_nodes = f->other & ~disturbed_mask();
	for (int i = 1; i <= N_NODES && !m; i++)
		if ((free_nodes >> i) & 1u && S.daemon[i] > 0 && daemon_ready(i))
			m = i;
	/* X answers at once (not still copying after a restart): the put
	 * and its learning fit in the 5 s the partition waits for them */
	if (!m || S.daemon[x] <= 0 || !daemon_ready(x))
		return;
	/* long enough for the majority to end it and X to answer it past the bound */
	uint64_t min_end = mono_ms() + 2u * S.ft_ms + S.lease_bound_ms + 1500u;
	/* --durable: X is killed once the majority ended its pid bindings
	 * (F + restart grace, the grace being F, after the cut, which begins
	 * once the probe's put is learned: up to 2 s), restarted within
	 * 600 ms, and read on past the lease bound before the heal */
	if (S.durable)
		min_end = mono_ms() + 2000u + 2u * S.ft_ms + 500u + 600u + 1500u +
			  S.lease_bound_ms + 1500u;
	if (f->end_ms < min_end)
		f->end_ms = min_end;
	int ready[2], go[2];
	if (pipe(ready) < 0)
		return;
	if (pipe(go) < 0) {
		close(ready[0]);
		close(ready[1]);
		return;
	}
	pid_t p = fork();
	if (p == 0) {
		close(ready[0]);
		close(go[1]);
		probe_run(n_probes, x, m, f->end_ms, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);
	if (p > 0) {
		probes[n_probes++] = p;
		f->probe = true;
		struct pollfd pf = {.fd = ready[0], .events = POLLIN};
		char b;
		if (poll(&pf, 1, 5000) == 1 && read(ready[0], &b, 1) == 1) {
			push_specs(false); /* the partition goes on before the owner dies */
			if (S.durable)
				f->kill_at = mono_ms() + 2u * S.ft_ms + 500u;
			if (write(go[1], &b, 1) != 1)
				say("probe %d: the child went away", n_probes - 1);
		} else {
			say("probe %d: its put not learned within 5 s; no probe", n_probes - 1);
		}
	}
	close(ready[0]);
	close(go[1]); /* a child still waiting ends at EOF */
}

/* SIGKILLs daemon node; the F_KILL fault restarts it at its end_ms. */
static void kill_daemon(int node)
{
	kill(S.daemon[node], SIGKILL);
	waitpid(S.daemon[node], NULL, 0);
	S.daemon[node] = 0;
	applied[node][0] = 0;
}

/* A probe partition's kill (kill_inside_partitions) is still to come. */
static bool kill_pending(void)
{
	for (int i = 0; i < MAX_FAULTS; i++)
		if (faults[i].active && faults[i].kind == F_PARTITION && faults[i].kill_at)
			return true;
	return false;
}

/*
 * --durable: the case the lease at start exists for (docs/design.md §5.1,
 * §6.3). A probe partition's cut-off node X is SIGKILLed once the majority
 * has ended its pid bindings (F + restart grace after the cut, with a
 * margin) and restarted within the grace, still cut off: its log restores
 * the probe's value, whose holder lives and whose binding X takes back
 * (§6.2), and other values the majority ended meanwhile. Until the heal X
 * must not answer them: it holds no lease. The probe reads X through the
 * cache and through the daemon meanwhile, and the partition outlasts the
 * restart by the lease bound and more.
 */
static void kill_inside_partitions(uint64_t *rng)
{
	uint64_t now = mono_ms();
	for (int i = 0; i < MAX_FAULTS; i++) {
		struct fault *p = &faults[i];
		if (!p->active || p->kind != F_PARTITION || !p->kill_at || now < p->kill_at)
			continue;
		int x = __builtin_ctz(p->nodes), slot = -1;
		bool busy = false;
		for (int k = 0; k < MAX_FAULTS; k++) {
			if (faults[k].active &&
			    (faults[k].kind == F_KILL || faults[k].kind == F_STOP))
				busy = true;
			if (!faults[k].active && slot < 0)
				slot = k;
		}
		/* one kill or pause at a time; a restart takes the size of the
		 * moment, so none while a membership change is on its way (none
		 * starts while a kill is pending: fault_start); waits up to
		 * 1.5 s for them to end */
		bool refused = slot < 0 || S.daemon[x] <= 0;
		if (!refused && (busy || M.child || !M.converged)) {
			if (now < p->kill_at + 1500u)
				continue;
			refused = true;
		}
		p->kill_at = 0;
		if (refused) {
			cut_restarts_skipped++;
			say("node%d: no kill inside its partition (limits)", x);
			continue;
		}
		size_t first, count;
		dist_open_mask(ALL, &first, &count);
		kill_daemon(x);
		struct fault f = {.active = true, .kind = F_KILL, .nodes = 1u << x, .node = x};
		f.end_ms = now + rnd_in(rng, 200, 600); /* within the restart grace */
		uint64_t min_end = f.end_ms + 1500u + S.lease_bound_ms + 1500u;
		if (p->end_ms < min_end)
			p->end_ms = min_end;
		faults[slot] = f;
		fault_count[F_KILL]++;
		cut_restarts++;
		say("kill node%d inside its partition, restart at +%" PRIu64 "ms", x,
		    f.end_ms - now);
	}
}

/* Starts one random fault if the limits allow it. */
static void fault_start(uint64_t *rng)
{
	int slot = -1;
	for (int i = 0; i < MAX_FAULTS; i++)
		if (!faults[i].active) {
			slot = i;
			break;
		}
	if (slot < 0)
		return;
	struct fault f = {.active = true};
	uint64_t now = mono_ms();
	unsigned dist = disturbed_mask();
	bool killing = false;
	for (int i = 0; i < MAX_FAULTS; i++)
		if (faults[i].active && (faults[i].kind == F_KILL || faults[i].kind == F_STOP))
			killing = true;
	/* without membership changes, the draws of the schedule before them */
	f.kind = (enum fault_kind)rnd_in(rng, 0, S.membership ? F_KINDS - 1 : F_MEMBER - 1);
	if (!S.net_faults && f.kind != F_KILL && f.kind != F_STOP && f.kind != F_MEMBER)
		f.kind = rnd_in(rng, 0, 1) ? F_KILL : F_STOP;
	/* --durable: one draw in four cuts one daemon off (unless a probe
	 * partition runs), which brings a probe and the kill inside it, and
	 * one in four kills one (restarted within the grace two times in
	 * three) */
	bool cut_one = false;
	unsigned bias = S.durable && S.net_faults && f.kind != F_MEMBER ? rnd_in(rng, 0, 3) : 3;
	if (bias == 0) {
		bool probing = false;
		for (int i = 0; i < MAX_FAULTS; i++)
			if (faults[i].active && faults[i].kind == F_PARTITION && faults[i].probe)
				probing = true;
		if (!probing) {
			f.kind = F_PARTITION;
			cut_one = true;
		}
	} else if (bias == 1) {
		f.kind = F_KILL;
	}
	if (f.kind == F_MEMBER) {
		/* a daemon cut off misses a change until the heal, and the kill
		 * inside its partition waits for every daemon to have it */
		if (kill_pending())
			return;
		if (member_change(rng))
			fault_count[F_MEMBER]++;
		return;
	}
	f.end_ms = now + rnd_in(rng, 500, 3000);
	size_t first, count;
	switch (f.kind) {
	case F_LOSS:
	case F_DUP:
	case F_REORDER:
		f.nodes = random_set(rng, 1, N_NODES, 0);
		f.pct = f.kind == F_LOSS ? rnd_in(rng, 5, 25) : rnd_in(rng, 5, 30);
		break;
	case F_DELAY:
		f.nodes = random_set(rng, 1, N_NODES, 0);
		f.ms = rnd_in(rng, 5, 60);
		break;
	case F_SKEW:
		f.nodes = random_set(rng, 1, 1, 0);
		f.skew = (long)rnd_in(rng, 200, 1500) * (rnd_in(rng, 0, 1) ? 1 : -1);
		break;
	case F_PARTITION: {
		int side = cut_one ? 1 : (int)rnd_in(rng, 1, 2);
		if (popcount(dist) + side > 2)
			return;
		f.nodes = random_set(rng, side, side, dist);
		if (popcount(f.nodes) != side)
			return;
		f.other = ALL & ~f.nodes;
		/* both sides change their view: every node counts as disturbed */
		f.end_ms = now + rnd_in(rng, 500, 2500);
		dist_open_mask(ALL, &first, &count);
		f.nodes |= 0; /* minority in nodes, the rest in other */
		break;
	}
	case F_ASYM:
		if (popcount(dist) + 1 > 2)
			return;
		f.nodes = random_set(rng, 1, 1, dist);
		if (!f.nodes)
			return;
		f.other = random_set(rng, 1, 3, f.nodes);
		f.end_ms = now + rnd_in(rng, 500, 2500);
		dist_open_mask(ALL, &first, &count);
		break;
	case F_KILL:
	case F_STOP:
		if (killing || popcount(dist) + 1 > 2 || kill_pending())
			return;
		f.nodes = random_set(rng, 1, 1, dist);
		if (!f.nodes)
			return;
		/* a killed daemon restarts with the size of the moment: none
		 * while a change is on its way */
		if (f.kind == F_KILL && (M.child || !M.converged))
			return;
		f.node = __builtin_ctz(f.nodes);
		/* every node's view changes when one goes away */
		dist_open_mask(ALL, &first, &count);
		if (f.kind == F_KILL) {
			/* then restart; --durable: two in three within the grace */
			unsigned down = S.durable && rnd_in(rng, 0, 2)
					    ? rnd_in(rng, 200, KEPT_RESTART_MS)
					    : rnd_in(rng, 300, 1500);
			if (S.durable && down <= KEPT_RESTART_MS)
				keep_probe_start(f.node, down);
			kill_daemon(f.node);
			f.kill_ms = mono_ms();
			f.dist_first = first;
			f.dist_count = count;
			f.end_ms = f.kill_ms + down;
		} else {
			kill(S.daemon[f.node], SIGSTOP);
			f.end_ms = now + rnd_in(rng, 200, 1500);
		}
		break;
	case F_MEMBER:
	case F_KINDS:
		return;
	}
	fault_count[f.kind]++;
	faults[slot] = f;
	say("start %s nodes=0x%x other=0x%x until +%" PRIu64 "ms", fault_name[f.kind], f.nodes,
	    f.other, f.end_ms - now);
	if (f.kind == F_PARTITION)
		probe_start(&faults[slot]);
	push_specs(false);
}

/* True while no partition, kill or stop is active. */
static bool quiet_network(void)
{
	return disturbed_mask() == 0;
}

/* Ends the faults whose time is up; `all` ends every one (the heal). */
/*
 * Ends the faults whose time is up (all: every fault, the heal). The heal
 * ends the pauses and network faults first and pushes the cleared specs,
 * and only then waits for killed daemons to be restarted and synced: a
 * restarted daemon needs a majority to copy, which a partition or a paused
 * peer later in the table could deny it (seen: a heal that waited 60 s for
 * a daemon cut off by a fault it had not cleared yet).
 */
static void fault_expire_pass(bool all, bool kills);

static void fault_expire(bool all)
{
	if (all) {
		fault_expire_pass(true, false);
		push_specs(true);
		fault_expire_pass(true, true);
		push_specs(true);
		return;
	}
	fault_expire_pass(false, true);
}

static void fault_expire_pass(bool all, bool kills)
{
	uint64_t now = mono_ms();
	bool changed = false;
	for (int i = 0; i < MAX_FAULTS; i++) {
		struct fault *f = &faults[i];
		if (!f->active || (!all && now < f->end_ms))
			continue;
		if (all && (f->kind == F_KILL) != kills)
			continue;
		if (f->kind == F_KILL) {
			if (!f->restarting) {
				start_daemon(f->node, false);
				f->restarting = true;
				say("restart node%d", f->node);
				/* within the grace (less a margin for its start and
				 * the hand-over file's age): its holders keep their
				 * keys across the restart (docs/design.md §6.2) */
				if (S.durable && f->dist_count &&
				    now - f->kill_ms <= KEPT_RESTART_MS)
					for (size_t d = 0; d < f->dist_count; d++)
						dists[f->dist_first + d].kept = true;
			}
			/* disturbed until synced again */
			if (!all && !daemon_ready(f->node))
				continue;
			if (all)
				wait_ready(f->node);
			applied[f->node][0] = 0;
		} else if (f->kind == F_STOP) {
			kill(S.daemon[f->node], SIGCONT);
		}
		f->active = false;
		changed = true;
		if (f->kind == F_PARTITION && f->probe && !all) {
			int x = __builtin_ctz(f->nodes);
			late_erase_end[x] = now + S.ft_ms;
			late_erase_from[x] = f->other;
			say("node%d: the erasures of the other side arrive late", x);
		}
		if (f->kind == F_KILL || f->kind == F_STOP || f->kind == F_PARTITION ||
		    f->kind == F_ASYM) {
			/* close the intervals once nothing else disturbs the cluster */
			if (quiet_network())
				for (int n = 1; n <= N_NODES; n++)
					dist_close_node(n);
		}
		say("end %s", fault_name[f->kind]);
	}
	for (int n = 1; n <= N_NODES; n++)
		if (late_erase_end[n] && (all || now >= late_erase_end[n])) {
			late_erase_end[n] = 0;
			changed = true;
		}
	if (changed && !all)
		push_specs(false);
}

/* ---- the history and its checker ---- */

struct op {
	int w, node;
	char kind;
	char key[32], sent[48], got[64];
	int status;
	uint64_t gen, t0, t1, w0, w1;
};

struct death {
	int w, life;
	uint64_t kill_ms, reaped_ms;
};

static struct op *ops;
static size_t n_ops, cap_ops;
static struct death *deaths;
static size_t n_deaths, cap_deaths;
static unsigned long violations;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	violations++;
	if (!S.discard)
		S.keep = true; /* the daemons' logs, for whoever looks into it */
	if (violations > 30)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("VIOLATION: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static void load_history(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		harness_fail("cannot read %s", path);
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == 'O') {
			if (n_ops == cap_ops) {
				cap_ops = cap_ops ? 2 * cap_ops : 4096;
				ops = realloc(ops, cap_ops * sizeof(*ops));
				if (!ops)
					harness_fail("out of memory");
			}
			struct op *o = &ops[n_ops];
			if (sscanf(line,
				   "O %d %d %c %31s %47s %d %63s %" SCNu64 " %" SCNu64 " %" SCNu64
				   " %" SCNu64 " %" SCNu64,
				   &o->w, &o->node, &o->kind, o->key, o->sent, &o->status, o->got,
				   &o->gen, &o->t0, &o->t1, &o->w0, &o->w1) == 12)
				n_ops++;
		} else if (line[0] == 'X') {
			if (n_deaths == cap_deaths) {
				cap_deaths = cap_deaths ? 2 * cap_deaths : 256;
				deaths = realloc(deaths, cap_deaths * sizeof(*deaths));
				if (!deaths)
					harness_fail("out of memory");
			}
			struct death *d = &deaths[n_deaths];
			if (sscanf(line, "X %d %d %" SCNu64 " %" SCNu64, &d->w, &d->life,
				   &d->kill_ms, &d->reaped_ms) == 4)
				n_deaths++;
		}
	}
	fclose(f);
}

static const struct death *death_of(const char *val)
{
	int w, life;
	if (sscanf(val, "b:w%d.L%d", &w, &life) != 2)
		return NULL;
	for (size_t i = 0; i < n_deaths; i++)
		if (deaths[i].w == w && deaths[i].life == life)
			return &deaths[i];
	return NULL;
}

/*
 * Failure-detector verdicts from the daemons' logs ("... nodeI nodeJ down").
 * A node declared down has its pid bindings ended by design, like an
 * injected cut; one declared down while no fault was injected anywhere in
 * the failure timeout before (a daemon starved of CPU on a busy host, say)
 * is counted apart, so a summary tells such runs from clean ones, and is a
 * disturbance of the node declared down from then on for a failure timeout.
 */
static unsigned fd_downs, fd_unprovoked;

static void read_fd_verdicts(void)
{
	/* Log lines carry local wall-clock time, the node and the level word
	 * (daemon/log.h); the checker's times are monotonic. */
	int64_t wall_minus_mono = (int64_t)pkv_now() - (int64_t)mono_ms();
	size_t injected = n_dists;
	for (int i = 1; i <= N_NODES; i++) {
		char path[300], line[512];
		snprintf(path, sizeof(path), "%s/node%d/pkvd.log", S.dir, i);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			struct tm tm = {0};
			int ms, self, peer;
			char state[8];
			if (sscanf(line, "%d-%d-%dT%d:%d:%d.%d node%d %*s node%d %7s", &tm.tm_year,
				   &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms,
				   &self, &peer, state) != 10 ||
			    strcmp(state, "down") != 0 || peer < 1 || peer > N_NODES)
				continue;
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
			tm.tm_isdst = -1;
			int64_t wall = (int64_t)mktime(&tm) * 1000 + ms;
			int64_t t = wall - wall_minus_mono;
			if (t <= 0)
				continue;
			fd_downs++;
			bool provoked = false;
			uint64_t from = (uint64_t)t > S.ft_ms + 500u ? (uint64_t)t - S.ft_ms - 500u : 0;
			for (size_t k = 0; k < injected && !provoked; k++)
				provoked = dists[k].a <= (uint64_t)t && dists[k].b >= from;
			if (provoked)
				continue;
			fd_unprovoked++;
			size_t d = dist_open(peer);
			dists[d].a = (uint64_t)t;
			dists[d].b = (uint64_t)t + S.ft_ms;
		}
		fclose(f);
	}
}

/* The end of node's last disturbance that began before t (0 if none). */
static uint64_t node_clear_since(int node, uint64_t t)
{
	uint64_t e = 0;
	for (size_t i = 0; i < n_dists; i++)
		if (dists[i].node == node && dists[i].a < t && dists[i].b > e)
			e = dists[i].b;
	return e;
}

/* True when any node was disturbed at some time in [a, b]; with
 * `but_kept`, a durable restart within the grace does not count. */
static bool any_disturbed_but(uint64_t a, uint64_t b, bool but_kept)
{
	for (size_t i = 0; i < n_dists; i++)
		if (dists[i].a <= b && dists[i].b >= a && !(but_kept && dists[i].kept))
			return true;
	return false;
}

static bool any_disturbed(uint64_t a, uint64_t b)
{
	return any_disturbed_but(a, b, false);
}

static int op_by_key(const void *a, const void *b)
{
	const struct op *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static long max_skew_ms;
/* Reads of a bound value begun after its lifetime was seen ended, the latest. */
static unsigned long lease_late_reads;
static uint64_t lease_late_max;

/*
 * When the lifetime of bound value `val` was first seen ended in the history
 * of its key: the end of a call that began after its put returned (or its
 * owner was killed) and found the key absent or holding a later life's
 * value (UINT64_MAX: never).
 */
static uint64_t seen_ended(const struct op *v, size_t n, const char *val, const struct death *d)
{
	int w, life;
	if (sscanf(val, "b:w%d.L%d", &w, &life) != 2)
		return UINT64_MAX;
	/* from the return of its put (else from the kill): absent since then
	 * means ended (a read absent while the lifetime holds is a violation
	 * of its own). Since: begun strictly after, as for the unbound keys
	 * below; a read begun in the millisecond the put returned may have
	 * begun before it (absent there, it is not an end: seed 20240801's
	 * false "read 1177 ms after its lifetime was seen ended") */
	uint64_t from = d->kill_ms;
	for (size_t j = 0; j < n; j++)
		if (v[j].kind == 'P' && v[j].status == PKV_OK && !strcmp(v[j].sent, val) &&
		    !strcmp(v[j].got, val) && v[j].t1 < from)
			from = v[j].t1;
	uint64_t e = UINT64_MAX;
	for (size_t j = 0; j < n; j++) {
		const struct op *x = &v[j];
		if (x->t0 <= from || x->t1 >= e)
			continue;
		int xw, xl;
		bool later = x->status == PKV_OK &&
			     sscanf(x->got, "b:w%d.L%d", &xw, &xl) == 2 && xw == w && xl > life;
		if ((x->kind == 'G' && x->status == PKV_NOT_FOUND) || later)
			e = x->t1;
	}
	return e;
}

static void check_key(struct op *v, size_t n)
{
	const char *key = v[0].key;
	bool unbound = key[0] == 'u';
	/* agreement: one value per generation; an unbound key has one generation */
	for (size_t i = 0; i < n; i++) {
		if (v[i].status != PKV_OK)
			continue;
		for (size_t j = i + 1; j < n; j++) {
			if (v[j].status != PKV_OK)
				continue;
			if (v[j].gen == v[i].gen && strcmp(v[j].got, v[i].got)) {
				violation("%s gen %" PRIu64 ": '%s' (w%d node%d at %" PRIu64
					  ") and '%s' (w%d node%d at %" PRIu64 ")",
					  key, v[i].gen, v[i].got, v[i].w, v[i].node, v[i].t0,
					  v[j].got, v[j].w, v[j].node, v[j].t0);
				return;
			}
			if (unbound && v[j].gen != v[i].gen) {
				violation("unbound %s changed generation %" PRIu64 " -> %" PRIu64,
					  key, v[i].gen, v[j].gen);
				return;
			}
		}
	}
	if (unbound) {
		/* lost: read absent after a put or read of it returned */
		uint64_t first_ok = UINT64_MAX;
		for (size_t i = 0; i < n; i++)
			if (v[i].status == PKV_OK && v[i].t1 < first_ok)
				first_ok = v[i].t1;
		for (size_t i = 0; i < n; i++)
			if (v[i].status == PKV_NOT_FOUND && v[i].t0 > first_ok) {
				violation("unbound %s read absent on node%d at %" PRIu64
					  " after it was chosen at %" PRIu64,
					  key, v[i].node, v[i].t0, first_ok);
				return;
			}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct op *o = &v[i];
		if (o->status == PKV_OK && o->got[0] == 'b') {
			/* not erased: returned long after its owner died */
			const struct death *d = death_of(o->got);
			if (!d)
				continue;
			uint64_t e = node_clear_since(o->node, o->t0);
			if (e < d->reaped_ms)
				e = d->reaped_ms;
			if (o->t0 > e + S.bound_ms)
				violation("%s='%s' returned on node%d %" PRIu64
					  " ms after its owner died (bound %u ms)",
					  key, o->got, o->node, o->t0 - d->reaped_ms, S.bound_ms);
			/* not vouched for: on any daemon, past the lease (§5.1) */
			uint64_t ended = o->kind == 'G' ? seen_ended(v, n, o->got, d) : UINT64_MAX;
			if (ended != UINT64_MAX && o->t0 > ended) {
				lease_late_reads++;
				if (o->t0 - ended > lease_late_max)
					lease_late_max = o->t0 - ended;
			}
			if (ended != UINT64_MAX && o->t0 > ended + S.lease_bound_ms)
				violation("%s='%s' read on node%d %" PRIu64 " ms after its lifetime"
					  " was seen ended elsewhere (lease bound %u ms)",
					  key, o->got, o->node, o->t0 - ended, S.lease_bound_ms);
		} else if (o->status == PKV_OK && o->got[0] == 't') {
			uint64_t until = 0;
			const char *dot = strrchr(o->got, '.');
			if (dot)
				until = strtoull(dot + 1, NULL, 10);
			uint64_t e = node_clear_since(o->node, o->t0);
			/* disturbances are on the monotonic clock: shift to wall */
			uint64_t e_wall = e ? e + (o->w0 - o->t0) : 0;
			if (e_wall < until)
				e_wall = until;
			if (until && o->w0 > e_wall + S.bound_ms)
				violation("%s='%s' returned on node%d %" PRIu64
					  " ms after its until (bound %u ms)",
					  key, o->got, o->node, o->w0 - until, S.bound_ms);
		} else if (o->status == PKV_NOT_FOUND && o->sent[0] == 'b' && o->kind == 'G') {
			/* lost while bound: the owner's own read during the life */
			const struct death *d = death_of(o->sent);
			if (d && o->t1 >= d->kill_ms)
				continue;
			const struct op *put = NULL;
			for (size_t j = 0; j < n; j++)
				if (v[j].kind == 'P' && !strcmp(v[j].sent, o->sent))
					put = &v[j];
			if (!put || put->status != PKV_OK || strcmp(put->got, put->sent) ||
			    put->t1 > o->t0 || any_disturbed_but(put->t0, o->t1, true))
				continue;
			violation("%s='%s' read absent on node%d at %" PRIu64
				  " while its owner lived (put at %" PRIu64 ")",
				  key, o->sent, o->node, o->t0, put->t1);
		}
	}
	/* until keys read absent well before their until */
	if (key[0] == 't') {
		const struct op *put = NULL;
		for (size_t j = 0; j < n; j++)
			if (v[j].kind == 'P')
				put = &v[j];
		if (!put || put->status != PKV_OK)
			return;
		const char *dot = strrchr(put->sent, '.');
		uint64_t until = dot ? strtoull(dot + 1, NULL, 10) : 0;
		for (size_t i = 0; i < n; i++) {
			const struct op *o = &v[i];
			if (o->status != PKV_NOT_FOUND || o->t0 < put->t1 ||
			    o->w1 + (uint64_t)max_skew_ms + 300u >= until ||
			    any_disturbed(put->t0, o->t1))
				continue;
			violation("%s read absent on node%d %" PRIu64 " ms before its until", key,
				  o->node, until - o->w1);
		}
	}
}

static void check_history(void)
{
	qsort(ops, n_ops, sizeof(*ops), op_by_key);
	for (size_t i = 0; i < n_ops;) {
		size_t j = i + 1;
		while (j < n_ops && !strcmp(ops[j].key, ops[i].key))
			j++;
		check_key(&ops[i], j - i);
		i = j;
	}
}

/* ---- the sweep after the heal ---- */

static void sweep(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/hist-sweep", S.dir);
	struct worker_ctx w = {.id = S.clients};
	w.h = fopen(path, "w");
	if (!w.h)
		harness_fail("cannot write %s", path);
	struct pkv_client *cl[N_MAX + 1];
	for (int i = 1; i <= N_NODES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "node%d", i);
		if (pkv_open(&cl[i], name) != PKV_OK)
			harness_fail("sweep: cannot attach to %s", name);
	}
	/* the keys to read: every unbound, bound and until key of the run */
	char(*keys)[32] = NULL;
	size_t n_keys = 0;
	qsort(ops, n_ops, sizeof(*ops), op_by_key);
	for (size_t i = 0; i < n_ops; i++)
		if (!n_keys || strcmp(keys[n_keys - 1], ops[i].key)) {
			keys = realloc(keys, (n_keys + 1) * sizeof(*keys));
			if (!keys)
				harness_fail("out of memory");
			snprintf(keys[n_keys++], sizeof(*keys), "%s", ops[i].key);
		}
	uint64_t start = mono_ms();
	uint64_t wall_start = pkv_now();
	struct pkv_get_opts go = {.timeout_ms = S.op_timeout_ms};
	for (size_t k = 0; k < n_keys; k++) {
		const char *key = keys[k];
		for (int i = 1; i <= N_NODES; i++) {
			w.c = cl[i];
			w.node = i;
			for (int attempt = 0;; attempt++) {
				go.flags = attempt % 2 ? PKV_GET_NO_CACHE : 0;
				uint64_t t0 = mono_ms(), w0 = pkv_now();
				int r = pkv_get(cl[i], key, strlen(key), &go, &w.v);
				uint64_t t1 = mono_ms(), w1 = pkv_now();
				record(&w, i, 'G', key, NULL, r, t0, t1, w0, w1);
				if (key[0] == 'u' && r != PKV_TIMEOUT && r != PKV_UNAVAILABLE &&
				    r != PKV_NO_QUORUM)
					break;
				if (key[0] != 'u' && r == PKV_NOT_FOUND)
					break;
				/* a bound or until key: read again until it is gone or
				 * well past the bound, so the checker sees it either way */
				uint64_t until = 0;
				if (r == PKV_OK && w.v.len && ((char *)w.v.data)[0] == 't')
					until = w.v.until;
				bool past = t0 > start + S.bound_ms + 500u &&
					    (!until || w0 > until + S.bound_ms + 500u);
				if (past || t0 > start + 3u * S.bound_ms + 30000u)
					break;
				nap_ms(50);
			}
		}
	}
	(void)wall_start;
	free(keys);
	pkv_value_free(&w.v);
	for (int i = 1; i <= N_NODES; i++)
		pkv_close(cl[i]);
	if (fclose(w.h) != 0)
		harness_fail("cannot write %s", path);
}

/* ---- main ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: pkv-scenario [--seconds N] [--seed S] [--clients N] [--bound-ms MS] "
		"[--keep] [--discard] [--verbose] [--no-membership] [--observers 0..2] [--durable]"
		" | --check HISTORY..."
		"   (PKVD:"
		" the daemon binary)\n");
	exit(64);
}

/* The run's timing and the checker's bounds (--bound-ms: bound_arg). */
static void set_bounds(unsigned bound_arg)
{
	/* Generous bounds: a loaded 2-core machine, sanitizer builds slower. */
	unsigned scale = getenv("PKV_SANITIZED") && atoi(getenv("PKV_SANITIZED")) ? 2 : 1;
	S.ft_ms = 1000;
	S.hb_ms = 50; /* 20 heartbeats per failure timeout: loss cannot fake a node down */
	S.bound_ms = bound_arg ? bound_arg : (S.ft_ms + 2500u) * scale;
	/*
	 * The lease with its margin is the failure timeout (docs/design.md
	 * §5.1): a cut-off daemon stops vouching before the majority can end
	 * its lifetimes and vouches again only once their erasures are in; a
	 * daemon that holds its lease learns of an erasure by the ERASE's
	 * retransmission (every 100 ms), which loss and delay hold up a little.
	 */
	S.lease_bound_ms = S.ft_ms * scale;
	S.op_timeout_ms = 4000u * scale;
	S.ready_ms = 60000u * scale;
}

/*
 * --check HISTORY (repeatable): the checker alone over recorded histories
 * (a kept run dir's hist-* files, or a crafted one), with the bounds of a
 * run (set_bounds); no daemon. Exit 1 on a violation.
 */
#define MAX_CHECK 16
static int check_only(char **path, int n)
{
	for (int i = 0; i < n; i++)
		load_history(path[i]);
	check_history();
	printf("check: ops=%zu deaths=%zu late_reads=%lu (max %" PRIu64 " ms) violations=%lu\n",
	       n_ops, n_deaths, lease_late_reads, lease_late_max, violations);
	return violations ? 1 : 0;
}

int main(int argc, char **argv)
{
	char *check_path[MAX_CHECK];
	int n_check = 0;
	S.seconds = 20;
	S.clients = 5;
	S.membership = true;
	unsigned bound_arg = 0;
	struct timespec now_ts;
	clock_gettime(CLOCK_REALTIME, &now_ts);
	S.seed = (uint64_t)now_ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)now_ts.tv_sec;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			S.seconds = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			S.seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
			S.clients = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--bound-ms") && i + 1 < argc)
			bound_arg = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--keep"))
			S.keep = true;
		else if (!strcmp(argv[i], "--discard"))
			S.discard = true;
		else if (!strcmp(argv[i], "--verbose"))
			S.verbose = true;
		else if (!strcmp(argv[i], "--no-membership"))
			S.membership = false;
		else if (!strcmp(argv[i], "--durable"))
			S.durable = true;
		else if (!strcmp(argv[i], "--observers") && i + 1 < argc)
			S.observers = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--check") && i + 1 < argc && n_check < MAX_CHECK)
			check_path[n_check++] = argv[++i];
		else
			usage();
	}
	set_bounds(bound_arg);
	if (n_check)
		return check_only(check_path, n_check);
	if (S.clients < 1 || S.clients > MAX_CLIENTS || S.seconds < 1 || S.observers < 0 ||
	    S.observers > N_MAX - N_VOTERS)
		usage();
	S.n = N_VOTERS + S.observers;
	S.pkvd = getenv("PKVD");
	if (!S.pkvd || !*S.pkvd)
		usage();
	signal(SIGPIPE, SIG_IGN);
	printf("# scenario seed=%" PRIu64 " seconds=%u clients=%d erasure bound=%u ms lease bound=%u ms "
	       "membership=%s durable=%s pkvd=%s\n",
	       S.seed, S.seconds, S.clients, S.bound_ms, S.lease_bound_ms,
	       S.membership ? "yes" : "no", S.durable ? "yes" : "no", S.pkvd);
	fflush(stdout);
	uint64_t rng = S.seed;

	const char *tmp = getenv("TMPDIR");
	snprintf(S.dir, sizeof(S.dir), "%s/pkv-scenario.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(S.dir)) {
		S.dir[0] = 0;
		harness_fail("mkdtemp: %s", strerror(errno));
	}
	atexit(cleanup);
	setenv("PKV_RUN_DIR", S.dir, 1);
	unsetenv("PKV_SOCKET");
	unsetenv("PKV_NODE");
	write_key();
	S.port_base = free_port_base(&rng);
	for (int i = 1; i <= N_NODES; i++)
		start_daemon(i, true);
	for (int i = 1; i <= N_NODES; i++)
		wait_ready(i);
	int fr = ctl_fault(1, "");
	S.net_faults = fr == 0;
	if (fr != 0)
		printf("# network faults unavailable (pkvd without -Dfault_injection=true): "
		       "kills and pauses only\n");

	uint64_t t_start = mono_ms();
	uint64_t end = t_start + S.seconds * 1000u;
	fflush(stdout);
	for (int w = 0; w < S.clients; w++) {
		uint64_t wseed = splitmix(&rng);
		pid_t p = fork();
		if (p < 0)
			harness_fail("fork: %s", strerror(errno));
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(worker_main(w, w % N_NODES + 1, end, wseed));
		}
		S.worker[w] = p;
	}

	/* The schedule: a new fault every 0.2–1.2 s, each for 0.5–3 s. */
	uint64_t next_fault = t_start + rnd_in(&rng, 200, 1200);
	while (mono_ms() < end) {
		fault_expire(false);
		if (S.durable)
			kill_inside_partitions(&rng);
		member_tick();
		for (int i = 1; i <= N_NODES; i++) {
			int st;
			if (S.daemon[i] > 0 && waitpid(S.daemon[i], &st, WNOHANG) == S.daemon[i]) {
				S.daemon[i] = 0;
				harness_fail("node%d exited by itself (status 0x%x)", i, st);
			}
		}
		for (int k = 0; k < MAX_FAULTS; k++)
			if (faults[k].active && faults[k].kind == F_SKEW &&
			    labs(faults[k].skew) > max_skew_ms)
				max_skew_ms = labs(faults[k].skew);
		if (mono_ms() >= next_fault) {
			fault_start(&rng);
			next_fault = mono_ms() + rnd_in(&rng, 200, 1200);
		}
		nap_ms(20);
	}
	/* Heal: every fault ends, every daemon runs and is synced. */
	fault_expire(true);
	for (int i = 1; i <= N_NODES; i++)
		dist_close_node(i);
	member_settle();
	for (int i = 1; i <= N_NODES; i++)
		wait_ready(i);
	int failed_workers = 0;
	for (int w = 0; w < S.clients; w++) {
		int st;
		waitpid(S.worker[w], &st, 0);
		S.worker[w] = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "client %d ended with status 0x%x\n", w, st);
			failed_workers++;
		}
	}
	for (int k = 0; k < n_probes; k++) {
		int st;
		waitpid(probes[k], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed_workers++;
	}
	if (failed_workers)
		harness_fail("%d clients failed", failed_workers);
	/* every daemon is clear from here on */
	for (int i = 1; i <= N_NODES; i++)
		dist_close_node(i);
	for (int w = 0; w < S.clients; w++) {
		char path[300];
		snprintf(path, sizeof(path), "%s/hist-%d", S.dir, w);
		load_history(path);
	}
	for (int k = 0; k < n_probes; k++) {
		char path[300];
		snprintf(path, sizeof(path), "%s/hist-probe-%d", S.dir, k);
		load_history(path);
	}
	sweep();
	n_ops = 0;
	n_deaths = 0;
	for (int w = 0; w <= S.clients; w++) {
		char path[300];
		if (w < S.clients)
			snprintf(path, sizeof(path), "%s/hist-%d", S.dir, w);
		else
			snprintf(path, sizeof(path), "%s/hist-sweep", S.dir);
		load_history(path);
	}
	for (int k = 0; k < n_probes; k++) {
		char path[300];
		snprintf(path, sizeof(path), "%s/hist-probe-%d", S.dir, k);
		load_history(path);
	}
	unsigned long puts = 0, gets = 0, ok = 0;
	for (size_t i = 0; i < n_ops; i++) {
		if (ops[i].kind == 'P')
			puts++;
		else
			gets++;
		if (ops[i].status == PKV_OK || ops[i].status == PKV_NOT_FOUND)
			ok++;
	}
	read_fd_verdicts();
	check_history();
	printf("scenario seed=%" PRIu64 " ops=%zu puts=%lu gets=%lu answered=%lu faults:", S.seed,
	       n_ops, puts, gets, ok);
	for (int k = 0; k < F_KINDS; k++)
		printf(" %s=%u", fault_name[k], fault_count[k]);
	if (S.membership)
		printf(" resize: grow=%u shrink=%u ok=%u not_in_sync=%u failed=%u retries=%u "
		       "voters=%u",
		       M.grow, M.shrink, M.ok, M.not_in_sync, M.failed, M.retries, M.size);
	printf(" probes=%d late_reads=%lu (max %" PRIu64 " ms)", n_probes, lease_late_reads,
	       lease_late_max);
	if (S.durable)
		printf(" cut_restarts=%u (refused %u) kept_restarts=%u", cut_restarts,
		       cut_restarts_skipped, keep_probes);
	printf(" fd_down=%u fd_unprovoked=%u violations=%lu\n", fd_downs, fd_unprovoked,
	       violations);
	if (violations)
		print_replay();
	fflush(stdout);
	/* A daemon must stop cleanly on SIGTERM (and a sanitizer build says
	 * here what it found: its report goes to the daemon's log). */
	int unclean = 0;
	for (int i = 1; i <= N_NODES; i++)
		if (S.daemon[i] > 0)
			kill(S.daemon[i], SIGTERM);
	for (int i = 1; i <= N_NODES; i++) {
		int st;
		if (S.daemon[i] <= 0 || waitpid(S.daemon[i], &st, 0) != S.daemon[i])
			continue;
		S.daemon[i] = 0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "node%d stopped with status 0x%x\n", i, st);
			unclean++;
		}
	}
	if (unclean && !violations)
		harness_fail("%d daemons did not stop cleanly", unclean);
	cleanup();
	free(ops);
	free(deaths);
	free(dists);
	return violations ? 1 : 0;
}

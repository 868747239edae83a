// SPDX-License-Identifier: MIT
/*
 * main.c — pkvd's command line, configuration, run directory and start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "daemon.h"
#include "persist.h"
#include "pkv-ctl.h"

#define DEV_PORT_BASE 7400u
#define DEV_MIN_NODES 9u

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pkvd [options]\n"
		"  -c, --config FILE          configuration file (see README)\n"
		"      --node N|_             dev numbering: run as nodeN on 127.0.0.1:PORT_BASE+N;\n"
		"                             '_' takes the first number not running in the run dir\n"
		"      --dev-nodes M          dev numbering: node1..nodeM are configured (default\n"
		"                             the larger of the cluster size and 9), and those past\n"
		"                             the cluster size are observers (a dev fleet)\n"
		"      --name NAME            which configured node this daemon is (config 'self';\n"
		"                             default: the host name, or its first label, if a node)\n"
		"      --cluster-size N       configured cluster size (quorum is a majority of it)\n"
		"      --port-base P          dev numbering port base (default %u, env PKV_PORT_BASE)\n"
		"      --run-dir DIR          run directory (default $PKV_RUN_DIR or a per-user folder)\n"
		"      --key-file FILE        the cluster key (default RUN_DIR/cluster.key), or with public\n"
		"                             keys on the node lines this node's own key\n"
		"                             (default STATE_DIR/node.key)\n"
		"      --failure-timeout MS   a peer is down when silent this long (default 1000)\n"
		"      --heartbeat MS         heartbeat interval (default failure timeout / 5)\n"
		"      --restart-grace MS     a restart within MS keeps its live holders' pid\n"
		"                             bindings; peers keep a lost node's that long past the\n"
		"                             failure timeout (config 'restart_grace_ms'; default:\n"
		"                             the failure timeout)\n"
		"      --encrypt              encrypt datagrams as well as authenticate them\n"
		"      --max-keys N           hold at most N keys (config 'max_keys'; default %u; 0: no\n"
		"                             limit)\n"
		"      --cache-entries N      shared learner cache size, %u..%u entries (config\n"
		"                             'cache_entries'; default %u)\n"
		"      --max-datagram BYTES   cap on a datagram batching messages to a peer, %u..%u\n"
		"                             (config 'max_datagram'; default %u to a loopback peer,\n"
		"                             %u to any other)\n"
		"      STATE_DIR is config 'state_dir', by default RUN_DIR/NAME\n"
		"      --durable, --no-durable\n"
		"                             keep acceptor state in STATE_DIR/acceptor.log, fdatasync'd\n"
		"                             before every reply, so a restart loses nothing (config 'durable')\n"
		"      --bootstrap            create the cluster: with no state file yet, this daemon is a\n"
		"                             first boot, and a majority of such daemons starts the cluster\n"
		"                             empty; without it a daemon with no state file is one that lost\n"
		"                             its state (it syncs from a majority first)\n"
		"      --log-file FILE        log to FILE (appended; reopened on SIGHUP) instead of stderr\n"
		"      --log-level LEVEL      err, warning, notice, info or debug (config 'log_level')\n"
		"      --no-fast-put          always run phase 1 (config 'fast_put = no'; by default a put of\n"
		"                             a key nobody holds skips it when every node is up)\n"
		"      --batch-hold-us US     while clients' requests of the last batch are unanswered, let\n"
		"                             new ones wait in the ring for the next batch, at most US\n"
		"                             (config 'batch_hold_us'; default %u; 0: never)\n"
		"  -h, --help                 this help\n"
		"  -V, --version              print the version\n",
		DEV_PORT_BASE, PKV_CONFIG_DEFAULT_MAX_KEYS, PKV_CONFIG_MIN_CACHE_ENTRIES,
		PKV_CONFIG_MAX_CACHE_ENTRIES, PKV_CONFIG_DEFAULT_CACHE_ENTRIES, PKV_CONFIG_MIN_DATAGRAM,
		PKV_CONFIG_MAX_DATAGRAM, PKV_CONFIG_LOOPBACK_DATAGRAM, PKV_CONFIG_DEFAULT_DATAGRAM,
		PKV_CONFIG_DEFAULT_BATCH_HOLD_US);
}

static void default_run_dir(char *out, size_t cap)
{
	const char *env = getenv("PKV_RUN_DIR");
	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return;
	}
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		snprintf(out, cap, "%s/paxoskv", xdg);
	else
		snprintf(out, cap, "/tmp/paxoskv-%u", (unsigned)getuid());
}

/* snprintf into a path buffer; -ENAMETOOLONG rather than a truncated path. */
static int __attribute__((format(printf, 3, 4))) path_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Makes dir (and its parents) when it is missing. The directory made last
 * gets the group (when has_group) and mode 0750 so its members can reach a
 * socket inside, else 0700. One that exists is left as it is.
 */
static int make_dir(const char *dir, bool has_group, gid_t gid)
{
	struct stat st;
	if (stat(dir, &st) == 0)
		return 0;
	int r = mkdir_p(dir, has_group ? 0750 : 0700);
	if (r < 0)
		return r;
	if (has_group && (chown(dir, (uid_t)-1, gid) < 0 || chmod(dir, 0750) < 0))
		return -errno;
	return 0;
}

/* snprintf for messages: a long path may cut the message short. */
static void __attribute__((format(printf, 3, 4))) msgf(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/*
 * The state dir holds the acceptor log and the state file: like the run dir
 * (auth_check_dir) it must be ours and not writable by others, or another
 * user could hand us a log of their making.
 */
static int check_state_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		int e = errno;
		msgf(err, errlen, "cannot stat state dir %s: %s", dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		msgf(err, errlen, "state dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		msgf(err, errlen,
			 "state dir %s is owned by uid %u, not by this process's uid %u: another"
			 " user could replace the acceptor log; use a directory of your own",
			 dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EACCES;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		msgf(err, errlen,
			 "state dir %s is writable by group or others (mode %04o); fix it with:"
			 " chmod go-w %s",
			 dir, (unsigned)(st.st_mode & 07777), dir);
		return -EACCES;
	}
	return 0;
}

/* Takes the lock of the node's state dir; returns the lock fd or -errno. */
static int lock_state_dir(const char *dir, bool has_group, gid_t gid)
{
	char path[PATH_MAX];
	int r = make_dir(dir, has_group, gid);
	if (r < 0)
		return r;
	if ((r = path_fmt(path, sizeof(path), "%s/pkvd.lock", dir)) < 0)
		return r;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
		/* the pid in the lock file is informational only */
	}
	return fd;
}

/* d->state_dir and d->ctl_path from the settings (config.h: state_dir, socket). */
static int node_paths(struct daemon *d)
{
	struct pkv_config *c = &d->cfg;
	int r = c->state_dir[0] ? path_fmt(d->state_dir, sizeof(d->state_dir), "%s", c->state_dir)
				: path_fmt(d->state_dir, sizeof(d->state_dir), "%s/%s", c->run_dir,
					   c->self);
	if (r < 0)
		return r;
	return c->socket[0] ? path_fmt(d->ctl_path, sizeof(d->ctl_path), "%s", c->socket)
			    : path_fmt(d->ctl_path, sizeof(d->ctl_path), "%s/%s/%s", c->run_dir,
				       c->self, CTL_SOCKET_NAME);
}

/*
 * The node's state file keeps the last incarnation and the name of the
 * cluster it belongs to. A new incarnation is max(wall clock ns, last + 1),
 * written durably before the first datagram leaves, so it grows across
 * restarts even if the clock steps back: the anti-replay window and the AEAD
 * nonce rely on that.
 *
 * Cluster identity (docs/design.md §6.1): a daemon without a state file is a
 * first boot only when it is told to create the cluster (`bootstrap`);
 * otherwise it is a daemon that lost its state, and it syncs from a majority
 * before it answers (or, with a majority lost, declares a new epoch). A
 * state file of another cluster is refused. Returns 0, -errno, or -EEXIST
 * (the state file names another cluster; *other holds its name).
 */
_Static_assert(PKV_CONFIG_NAME_MAX == 63, "the state file's scan width is the name limit");

static int next_incarnation(struct daemon *d, bool bootstrap, char *other, size_t other_len)
{
	char path[PATH_MAX];
	if (path_fmt(path, sizeof(path), "%s/state", d->state_dir) < 0)
		return -ENAMETOOLONG;
	uint64_t last = 0;
	FILE *f = fopen(path, "r");
	d->fresh = f == NULL && bootstrap;
	d->lost_state = f == NULL && !bootstrap;
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f)) {
			char name[PKV_CONFIG_NAME_MAX + 2];
			if (sscanf(line, "incarnation %" SCNu64, &last) == 1)
				continue;
			struct pkv_conf c;
			if (sscanf(line, "conf %" SCNu64 " %" SCNx64 " %" SCNx64, &c.num, &c.voters,
				   &c.prev_voters) == 3 && c.voters) {
				d->conf = c;
				continue;
			}
			if (sscanf(line, "cluster %63s", name) == 1 &&
			    strcmp(name, d->cfg.cluster) != 0) {
				fclose(f);
				snprintf(other, other_len, "%s", name);
				return -EEXIST;
			}
		}
		fclose(f);
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	d->incarnation = now > last ? now : last + 1;
	return persist_state_write(d);
}

/*
 * This node's seed (d->seed, in locked memory) and every node's public key
 * (cfg.nodes[].pubkey): from the node lines and this node's key file, or,
 * with no public keys configured, all derived from the cluster key.
 */
static int load_node_keys(struct daemon *d)
{
	struct pkv_config *c = &d->cfg;
	bool per_node = c->nodes[0].has_pubkey;
	const struct pkv_node_cfg *self = config_self(c);
	struct auth_key *file_key = sodium_malloc(sizeof(*file_key));
	uint8_t *sk = sodium_malloc(AUTH_SK_BYTES);
	char err[512];
	int r = -ENOMEM;

	d->seed = sodium_malloc(sizeof(*d->seed));
	if (!file_key || !sk || !d->seed) {
		fprintf(stderr, "pkvd: cannot allocate locked memory for the keys\n");
		goto out;
	}
	if (!c->key_file[0] &&
	    (per_node ? path_fmt(c->key_file, sizeof(c->key_file), "%s/node.key", d->state_dir)
		      : path_fmt(c->key_file, sizeof(c->key_file), "%s/cluster.key", c->run_dir)) < 0) {
		fprintf(stderr, "pkvd: run dir path too long: %s\n", c->run_dir);
		r = -ENAMETOOLONG;
		goto out;
	}
	if ((r = auth_key_load(file_key, c->key_file, err, sizeof(err))) < 0) {
		fprintf(stderr, "pkvd: %s\n", err);
		if (access(c->key_file, F_OK) < 0)
			fprintf(stderr, "pkvd: create a %s with: pkv-keygen %s\n",
				per_node ? "node key" : "cluster key", c->key_file);
		goto out;
	}
	if (per_node) {
		uint8_t pk[AUTH_PK_BYTES];
		*d->seed = *file_key;
		auth_node_keypair(pk, sk, d->seed);
		if (memcmp(pk, self->pubkey, AUTH_PK_BYTES) != 0 &&
		    !(self->has_pubkey2 && !memcmp(pk, self->pubkey2, AUTH_PK_BYTES))) {
			char hex[2 * AUTH_PK_BYTES + 1];
			sodium_bin2hex(hex, sizeof(hex), pk, sizeof(pk));
			fprintf(stderr,
				"pkvd: %s is not %s's key: its public key is %s, which is not the one"
				" on %s's node line\n",
				c->key_file, c->self, hex, c->self);
			r = -EINVAL;
			goto out;
		}
	} else {
		for (unsigned i = 0; i < c->n_nodes; i++) {
			auth_node_seed_from_cluster_key(d->seed, file_key, c->nodes[i].name);
			auth_node_keypair(c->nodes[i].pubkey, sk, d->seed);
		}
		auth_node_seed_from_cluster_key(d->seed, file_key, c->self);
	}
	r = 0;
out:
	sodium_free(file_key);
	sodium_free(sk);
	return r;
}

/*
 * A flag's whole value as a decimal in lo..hi (no sign, no suffix, no
 * overflow): true and *v, or false.
 */
static bool flag_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
	char *end;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return *s && !*end && !errno && s[0] != '-' && *v >= lo && *v <= hi;
}

int main(int argc, char **argv)
{
	enum { O_NODE = 256, O_NAME, O_SIZE, O_PORT, O_RUN, O_KEY, O_FT, O_HB, O_ENC, O_DUR, O_NODUR, O_NOFAST, O_MAXK,
	       O_CACHE, O_BOOT, O_LOGFILE, O_LOGLEVEL, O_GRACE, O_DEVNODES, O_MAXDG,
	       O_HOLD };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, O_NODE},
		{"dev-nodes", required_argument, NULL, O_DEVNODES},
		{"name", required_argument, NULL, O_NAME},
		{"cluster-size", required_argument, NULL, O_SIZE},
		{"port-base", required_argument, NULL, O_PORT},
		{"run-dir", required_argument, NULL, O_RUN},
		{"key-file", required_argument, NULL, O_KEY},
		{"failure-timeout", required_argument, NULL, O_FT},
		{"heartbeat", required_argument, NULL, O_HB},
		{"restart-grace", required_argument, NULL, O_GRACE},
		{"encrypt", no_argument, NULL, O_ENC},
		{"durable", no_argument, NULL, O_DUR},
		{"no-durable", no_argument, NULL, O_NODUR},
		{"no-fast-put", no_argument, NULL, O_NOFAST},
		{"bootstrap", no_argument, NULL, O_BOOT},
		{"max-keys", required_argument, NULL, O_MAXK},
		{"cache-entries", required_argument, NULL, O_CACHE},
		{"max-datagram", required_argument, NULL, O_MAXDG},
		{"batch-hold-us", required_argument, NULL, O_HOLD},
		{"log-file", required_argument, NULL, O_LOGFILE},
		{"log-level", required_argument, NULL, O_LOGLEVEL},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *config_path = NULL, *node = NULL, *name = NULL, *run_dir = NULL,
		   *key_file = NULL, *log_file = NULL;
	int log_level = -1;
	unsigned dev_nodes = 0; /* --dev-nodes: a dev fleet's node table */
	long cluster_size = 0, failure_timeout = 0, heartbeat = 0, restart_grace = -1;
	unsigned port_base = DEV_PORT_BASE;
	bool encrypt = false;
	int durable = -1; /* -1: as the config (or the build's default) says */
	bool no_fast = false, bootstrap = false;
	long max_keys = -1;
	unsigned cache_entries = 0; /* 0: as the config says */
	unsigned max_datagram = 0;  /* 0: as the config says */
	long batch_hold = -1;	    /* -1: as the config says */
	const char *env_port = getenv("PKV_PORT_BASE");
	if (env_port && *env_port)
		port_base = (unsigned)strtoul(env_port, NULL, 10);
	int c;
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case O_NODE:
			node = optarg;
			break;
		case O_NAME:
			name = optarg;
			break;
		case O_DEVNODES: {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);
			if (*end || n < 1 || n > PKV_MAX_NODES) {
				fprintf(stderr, "pkvd: --dev-nodes must be 1..%u\n", PKV_MAX_NODES);
				return 64;
			}
			dev_nodes = (unsigned)n;
			break;
		}
		case O_SIZE:
			cluster_size = strtol(optarg, NULL, 10);
			if (cluster_size < 1 || cluster_size > (long)PKV_MAX_NODES) {
				fprintf(stderr, "pkvd: --cluster-size must be 1..%u\n", PKV_MAX_NODES);
				return 64;
			}
			break;
		case O_PORT:
			port_base = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case O_RUN:
			run_dir = optarg;
			break;
		case O_KEY:
			key_file = optarg;
			break;
		case O_FT:
			failure_timeout = strtol(optarg, NULL, 10);
			if (failure_timeout < 50) {
				fprintf(stderr, "pkvd: --failure-timeout must be at least 50 ms\n");
				return 64;
			}
			break;
		case O_GRACE:
			restart_grace = strtol(optarg, NULL, 10);
			if (restart_grace < 0 || restart_grace > PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS) {
				fprintf(stderr, "pkvd: --restart-grace takes 0..%u ms\n",
					PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS);
				return 64;
			}
			break;
		case O_HB:
			heartbeat = strtol(optarg, NULL, 10);
			if (heartbeat < 10) {
				fprintf(stderr, "pkvd: --heartbeat must be at least 10 ms\n");
				return 64;
			}
			break;
		case O_ENC:
			encrypt = true;
			break;
		case O_MAXK: {
			unsigned long v;
			if (!flag_uint(optarg, 0, PKV_CONFIG_MAX_KEYS, &v)) {
				fprintf(stderr, "pkvd: --max-keys takes 0..%u\n", PKV_CONFIG_MAX_KEYS);
				return 64;
			}
			max_keys = (long)v;
			break;
		}
		case O_CACHE: {
			char msg[128];
			if (config_cache_entries(optarg, &cache_entries, msg, sizeof(msg)) < 0) {
				fprintf(stderr, "pkvd: --cache-entries: %s\n", msg);
				return 64;
			}
			break;
		}
		case O_MAXDG: {
			unsigned long v;
			if (!flag_uint(optarg, PKV_CONFIG_MIN_DATAGRAM, PKV_CONFIG_MAX_DATAGRAM, &v)) {
				fprintf(stderr, "pkvd: --max-datagram takes %u..%u bytes\n",
					PKV_CONFIG_MIN_DATAGRAM, PKV_CONFIG_MAX_DATAGRAM);
				return 64;
			}
			max_datagram = (unsigned)v;
			break;
		}
		case O_HOLD: {
			unsigned long v;
			if (!flag_uint(optarg, 0, PKV_CONFIG_MAX_BATCH_HOLD_US, &v)) {
				fprintf(stderr, "pkvd: --batch-hold-us takes 0..%u microseconds\n",
					PKV_CONFIG_MAX_BATCH_HOLD_US);
				return 64;
			}
			batch_hold = (long)v;
			break;
		}
		case O_DUR:
		case O_NODUR:
			durable = c == O_DUR ? 1 : 0;
			break;
		case O_NOFAST:
			no_fast = true;
			break;
		case O_BOOT:
			bootstrap = true;
			break;
		case O_LOGFILE:
			if (!*optarg) {
				fprintf(stderr, "pkvd: --log-file takes a path\n");
				return 64;
			}
			log_file = optarg;
			break;
		case O_LOGLEVEL:
			log_level = config_log_level(optarg);
			if (log_level < 0) {
				fprintf(stderr, "pkvd: --log-level takes err, warning, notice, info or"
						" debug\n");
				return 64;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pkvd %s\n", PKV_VERSION);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc || (!config_path && !node)) {
		fprintf(stderr, "pkvd: give a configuration file (-c) or a dev node number (--node)\n");
		usage(stderr);
		return 64;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "pkvd: libsodium failed to initialise\n");
		return 70;
	}
	/* Key material lives in this process: no core dumps of it, and no
	 * ptrace by other processes of the same user. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	static struct daemon d;
	char err[512];
	config_defaults(&d.cfg);
	d.config_path = config_path;
	if (config_path) {
		char *text = NULL;
		size_t len = 0;
		int r = daemon_read_file(config_path, &text, &len);
		if (r < 0) {
			fprintf(stderr, "pkvd: cannot read %s: %s\n", config_path, strerror(-r));
			return 66;
		}
		r = config_parse(&d.cfg, text, len, err, sizeof(err));
		free(text);
		if (r < 0) {
			fprintf(stderr, "pkvd: %s: %s\n", config_path, err);
			return 78;
		}
	}
	d.config_path = config_path;
	d.cli_failure_timeout_ms = (unsigned)failure_timeout;
	d.cli_heartbeat_ms = (unsigned)heartbeat;
	d.cli_log_level = log_level;
	d.cli_max_datagram = max_datagram;
	if (log_level >= 0)
		d.cfg.log_level = log_level;
	if (log_file)
		snprintf(d.log_file, sizeof(d.log_file), "%s", log_file);
	if (d.cfg.group[0]) {
		struct group *g = getgrnam(d.cfg.group);
		if (!g) {
			fprintf(stderr, "pkvd: %s: group '%s' does not exist\n",
				config_path ? config_path : "config", d.cfg.group);
			return 78;
		}
		d.has_group = true;
		d.group_gid = (unsigned)g->gr_gid;
	}
	if (cluster_size)
		d.cfg.cluster_size = (unsigned)cluster_size;
	if (failure_timeout) {
		/* A grace left at its default follows the failure timeout. */
		if (d.cfg.restart_grace_ms == d.cfg.failure_timeout_ms)
			d.cfg.restart_grace_ms = (unsigned)failure_timeout;
		d.cfg.failure_timeout_ms = (unsigned)failure_timeout;
		d.cfg.heartbeat_ms = d.cfg.failure_timeout_ms / 5 < 10 ? 10 : d.cfg.failure_timeout_ms / 5;
	}
	if (heartbeat)
		d.cfg.heartbeat_ms = (unsigned)heartbeat;
	if (restart_grace >= 0)
		d.cfg.restart_grace_ms = (unsigned)restart_grace;
	if (encrypt)
		d.cfg.encrypt = true;
	if (durable >= 0)
		d.cfg.durable = durable != 0;
	if (no_fast)
		d.cfg.fast_put = false;
	if (max_keys >= 0)
		d.cfg.max_keys = (unsigned)max_keys;
	if (cache_entries)
		d.cfg.cache_entries = cache_entries;
	if (max_datagram)
		d.cfg.max_datagram = max_datagram;
	if (batch_hold >= 0)
		d.cfg.batch_hold_us = (unsigned)batch_hold;
	if (run_dir)
		snprintf(d.cfg.run_dir, sizeof(d.cfg.run_dir), "%s", run_dir);
	else if (!d.cfg.run_dir[0])
		default_run_dir(d.cfg.run_dir, sizeof(d.cfg.run_dir));
	if (key_file)
		snprintf(d.cfg.key_file, sizeof(d.cfg.key_file), "%s", key_file);
	/* The dev layout keeps everything in the run dir; a host with state_dir
	 * and socket set needs none. */
	bool need_run_dir = node || !d.cfg.state_dir[0] || !d.cfg.socket[0] ||
			    (!key_file && !d.cfg.key_file[0]);
	if (need_run_dir) {
		int r = make_dir(d.cfg.run_dir, d.has_group, (gid_t)d.group_gid);
		if (r < 0) {
			fprintf(stderr, "pkvd: cannot create run dir %s: %s\n", d.cfg.run_dir,
				strerror(-r));
			return 73;
		}
		/* Another user's run dir could hand us their key or take our sockets. */
		if (auth_check_dir(d.cfg.run_dir, err, sizeof(err)) < 0) {
			fprintf(stderr, "pkvd: %s\n", err);
			return 78;
		}
	}

	/* The dev layout's node dir holds the socket too: the group must reach
	 * it. A state dir of its own stays the daemon's alone. */
	bool state_group = d.has_group && !d.cfg.state_dir[0];
	int lock_fd = -1;
	if (node) {
		unsigned first = 1, last = PKV_MAX_NODES;
		if (strcmp(node, "_") != 0) {
			char *end;
			unsigned long n = strtoul(node, &end, 10);
			if (*end || n < 1 || n > PKV_MAX_NODES) {
				fprintf(stderr, "pkvd: --node takes 1..%u or _\n", PKV_MAX_NODES);
				return 64;
			}
			first = last = (unsigned)n;
		}
		for (unsigned n = first; n <= last; n++) {
			unsigned max = d.cfg.cluster_size > DEV_MIN_NODES ? d.cfg.cluster_size : DEV_MIN_NODES;
			if (dev_nodes)
				max = dev_nodes;
			if (n > max && !dev_nodes)
				max = n;
			if (config_dev(&d.cfg, n, port_base, max, err, sizeof(err)) < 0) {
				fprintf(stderr, "pkvd: %s\n", err);
				return 64;
			}
			/* A dev fleet (docs/design.md §5.2): past the voters, observers. */
			for (unsigned i = d.cfg.cluster_size; dev_nodes && i < d.cfg.n_nodes; i++)
				d.cfg.nodes[i].observer = true;
			if (node_paths(&d) < 0) {
				fprintf(stderr, "pkvd: run dir path too long: %s\n", d.cfg.run_dir);
				return 64;
			}
			lock_fd = lock_state_dir(d.state_dir, state_group, (gid_t)d.group_gid);
			if (lock_fd >= 0 || (lock_fd != -EWOULDBLOCK && lock_fd != -EAGAIN))
				break;
		}
	} else {
		if (name) {
			snprintf(d.cfg.self, sizeof(d.cfg.self), "%s", name);
		} else if (!d.cfg.self[0]) {
			/* docs/design.md §8.1: one config file for every host. */
			char host[256] = "";
			if (gethostname(host, sizeof(host) - 1) < 0 ||
			    config_self_from_host(&d.cfg, host) < 0) {
				char names[PKV_MAX_NODES * 66] = "";
				size_t o = 0;
				for (unsigned i = 0; i < d.cfg.n_nodes && o < sizeof(names); i++)
					o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
							      i ? ", " : "", d.cfg.nodes[i].name);
				fprintf(stderr,
					"pkvd: %s: self is not set and the host name '%s' names no"
					" configured node (%s); set 'self = NAME' or give --name NAME\n",
					config_path, host, o ? names : "none configured");
				return 78;
			}
		}
		if (config_validate(&d.cfg, err, sizeof(err)) == 0) {
			if (node_paths(&d) < 0) {
				fprintf(stderr, "pkvd: state dir or socket path too long (a socket"
						" path is at most %u bytes)\n",
					PKV_CONFIG_SOCKET_MAX);
				return 78;
			}
			lock_fd = lock_state_dir(d.state_dir, state_group, (gid_t)d.group_gid);
		}
	}
	if (config_validate(&d.cfg, err, sizeof(err)) < 0) {
		/* Name the file when the settings came from one. */
		if (config_path)
			fprintf(stderr, "pkvd: %s: %s\n", config_path, err);
		else
			fprintf(stderr, "pkvd: %s\n", err);
		return 78;
	}
	if (lock_fd < 0) {
		if (lock_fd == -EWOULDBLOCK)
			fprintf(stderr, "pkvd: %s is already running in %s\n", d.cfg.self,
				d.state_dir);
		else
			fprintf(stderr, "pkvd: cannot lock %s: %s\n", d.state_dir,
				strerror(-lock_fd));
		return 75;
	}
	if (d.cfg.state_dir[0] && check_state_dir(d.state_dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "pkvd: %s\n", err);
		return 78;
	}
	{
		/* The socket's directory: RUN_DIR/NAME beside a state_dir of its
		 * own, the configured one's (RuntimeDirectory= under systemd). */
		char dir[sizeof(d.ctl_path)];
		snprintf(dir, sizeof(dir), "%s", d.ctl_path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			int r = make_dir(dir, d.has_group, (gid_t)d.group_gid);
			if (r < 0) {
				fprintf(stderr, "pkvd: cannot create %s for the socket: %s\n", dir,
					strerror(-r));
				return 73;
			}
		}
	}
	if (load_node_keys(&d) < 0)
		return 78;
	char other[PKV_CONFIG_NAME_MAX + 2] = "";
	int r = next_incarnation(&d, bootstrap, other, sizeof(other));
	if (r == -EEXIST) {
		fprintf(stderr,
			"pkvd: %s/state belongs to cluster '%s', not '%s': this %s is another"
			" cluster's; give this node its own\n",
			d.state_dir, other, d.cfg.cluster, d.cfg.state_dir[0] ? "state dir" : "run dir");
		return 78;
	}
	if (r < 0) {
		fprintf(stderr, "pkvd: cannot write the state file in %s: %s\n", d.state_dir,
			strerror(-r));
		return 73;
	}
	if (bootstrap && !d.fresh)
		fprintf(stderr, "pkvd: %s/state exists: this node has run before; --bootstrap"
				" ignored\n", d.state_dir);
	d.salt = randombytes_random();
	if (d.log_file[0] && (r = daemon_log_open_file(d.log_file)) < 0) {
		fprintf(stderr, "pkvd: cannot open the log file %s: %s\n", d.log_file, strerror(-r));
		return 73;
	}
	daemon_log_setup();
	setvbuf(stderr, NULL, _IOLBF, 0);
	r = persist_handover_take(&d);
	if (r < 0) {
		fprintf(stderr, "pkvd: cannot write the hand-over file in %s/%s: %s\n",
			d.cfg.run_dir, d.cfg.self, strerror(-r));
		return 73;
	}
	d.salt = randombytes_random();

	r = daemon_init(&d);
	if (r == 0)
		r = daemon_run(&d);
	daemon_fini(&d);
	close(lock_fd);
	return r == 0 ? 0 : 1;
}

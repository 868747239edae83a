// SPDX-License-Identifier: MIT
/*
 * loop-reload.c — SIGHUP: the loop rereads its configuration file between
 * two turns and applies what may change at run time (docs/design.md §8.1):
 * the timing, the log level, and the peers' public keys (key rotation).
 * Everything else takes a restart, and says so.
 */
#include "daemon.h"
#include "loop-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the peers' public keys (key rotation, README) ------------------------ */

/*
 * A reload takes the public keys of the peers' node lines from the reread
 * file nc (one, or two during a rotation), when the node list itself has
 * not changed. A session made with a key no longer listed ends at once
 * (wire_set_peer_keys). Anything wrong leaves every key as it was, and says
 * why.
 */
static void reload_peer_keys(struct daemon *d, const struct pkv_config *nc)
{
	if (!d->cfg.nodes[0].has_pubkey) {
		daemon_info(d, "reload: node keys come from the cluster key here: no keys to reload");
		return;
	}
	char err[512];
	int r = 0;
	if (nc->n_nodes != d->cfg.n_nodes) {
		snprintf(err, sizeof(err), "the node list changed (%u nodes, was %u)", nc->n_nodes,
			 d->cfg.n_nodes);
		r = -EINVAL;
	}
	for (unsigned i = 0; r == 0 && i < nc->n_nodes; i++) {
		const struct pkv_node_cfg *a = &nc->nodes[i], *b = &d->cfg.nodes[i];
		if (strcmp(a->name, b->name) || strcmp(a->addr_text, b->addr_text) ||
		    !a->has_pubkey) {
			snprintf(err, sizeof(err), "node line %u changed (%s %s); only its"
				 " public keys may", i + 1, a->name, a->addr_text);
			r = -EINVAL;
		} else if (a->id == d->self && memcmp(a->pubkey, d->wire->pk, AUTH_PK_BYTES) &&
			   !(a->has_pubkey2 && !memcmp(a->pubkey2, d->wire->pk, AUTH_PK_BYTES))) {
			snprintf(err, sizeof(err), "%s's line no longer lists this daemon's own"
				 " public key", a->name);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		daemon_warn(d, "reload: %s: %s; keys unchanged", d->config_path, err);
		return;
	}
	unsigned changed = 0, ended = 0;
	for (unsigned i = 0; i < nc->n_nodes; i++) {
		const struct pkv_node_cfg *a = &nc->nodes[i];
		struct pkv_node_cfg *b = &d->cfg.nodes[i];
		bool same = !memcmp(a->pubkey, b->pubkey, 32) && a->has_pubkey2 == b->has_pubkey2 &&
			    (!a->has_pubkey2 || !memcmp(a->pubkey2, b->pubkey2, 32));
		if (same)
			continue;
		if (a->id != d->self) {
			int w = wire_set_peer_keys(d->wire, a->id, a->pubkey,
						   a->has_pubkey2 ? a->pubkey2 : NULL);
			if (w < 0) {
				daemon_warn(d, "reload: %s: a public key is not a usable X25519 key;"
					    " its keys unchanged", a->name);
				continue;
			}
			ended += (unsigned)w;
			daemon_notice(d, "reload: %s's keys reloaded (%s), %d session(s) with a key no"
				      " longer listed ended", a->name,
				      a->has_pubkey2 ? "two: a rotation" : "one", w);
		}
		memcpy(b->pubkey, a->pubkey, 32);
		memcpy(b->pubkey2, a->pubkey2, 32);
		b->has_pubkey2 = a->has_pubkey2;
		changed++;
	}
	daemon_notice(d, "reload: peer keys reloaded from %s: %u node line(s) changed,"
		      " %u session(s) ended", d->config_path, changed, ended);
}

/* The file's bytes (at most 1 MiB) in a malloc'd buffer, not NUL-terminated; 0 or -errno. */
int daemon_read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			if (cap >= (1u << 20)) {
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	/* A directory opens but fails to read (EISDIR): say so, not "empty". */
	int err = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (!buf)
		return -ENOMEM;
	if (err) {
		free(buf);
		return -err;
	}
	*out = buf;
	*len = n;
	return 0;
}

/*
 * The settings a reload may not change: everything but the timing and the
 * log level (docs/design.md §8.1). Compared field by field on copies with
 * the reloadable ones made equal.
 */
static bool needs_restart(const struct pkv_config *old, const struct pkv_config *nw, char *what,
			  size_t len)
{
	struct pkv_config a = *old, b = *nw;
	a.failure_timeout_ms = b.failure_timeout_ms;
	a.heartbeat_ms = b.heartbeat_ms;
	a.log_level = b.log_level;
	/* set from the command line or the host name at start */
	memcpy(b.self, a.self, sizeof(b.self));
	memcpy(b.run_dir, a.run_dir, sizeof(b.run_dir));
	memcpy(b.key_file, a.key_file, sizeof(b.key_file));
	b.cluster_size = a.cluster_size; /* resize_cluster changes it at run time */
	/* a grace that follows the failure timeout follows it in both */
	if (old->restart_grace_ms == old->failure_timeout_ms &&
	    nw->restart_grace_ms == nw->failure_timeout_ms)
		b.restart_grace_ms = a.restart_grace_ms;
	b.durable = a.durable;
	b.fast_put = a.fast_put;
	b.batch_hold_us = a.batch_hold_us;
	b.max_keys = a.max_keys;
	b.cache_entries = a.cache_entries;
	b.encrypt = a.encrypt;
	/* derived from the cluster key at start when the node lines list none;
	 * listed ones a reload takes itself (reload_peer_keys) */
	for (unsigned i = 0; i < PKV_MAX_NODES; i++) {
		if (!b.nodes[i].has_pubkey && !a.nodes[i].has_pubkey)
			memcpy(b.nodes[i].pubkey, a.nodes[i].pubkey, sizeof(b.nodes[i].pubkey));
		else if (b.nodes[i].has_pubkey && a.nodes[i].has_pubkey) {
			memcpy(b.nodes[i].pubkey, a.nodes[i].pubkey, sizeof(b.nodes[i].pubkey));
			memcpy(b.nodes[i].pubkey2, a.nodes[i].pubkey2, sizeof(b.nodes[i].pubkey2));
			b.nodes[i].has_pubkey2 = a.nodes[i].has_pubkey2;
		}
	}
	if (memcmp(&a, &b, sizeof(a)) == 0)
		return false;
	snprintf(what, len, "%s",
		 strcmp(a.cluster, b.cluster)	      ? "cluster"
		 : strcmp(a.state_dir, b.state_dir) ? "state_dir"
		 : strcmp(a.socket, b.socket)	      ? "socket"
		 : strcmp(a.group, b.group)	      ? "group"
		 : a.restart_grace_ms != b.restart_grace_ms ? "restart_grace_ms"
		 : a.max_datagram != b.max_datagram ? "max_datagram"
						      : "the node lines");
	return true;
}

int daemon_reload(struct daemon *d)
{
	(void)notify_reloading(&d->notify, daemon_now_us());
	if (d->log_file[0]) {
		int r = daemon_log_open_file(d->log_file);
		if (r < 0)
			daemon_err(d, "reload: cannot reopen the log file %s: %s; writing on to the"
				      " old one",
				   d->log_file, strerror(-r));
	}
	if (!d->config_path) {
		daemon_notice(d, "reload: no configuration file (-c) to reread");
		(void)notify_reloaded(&d->notify);
		return 0;
	}
	char *text = NULL, err[512];
	size_t len = 0;
	static struct pkv_config nc; /* large: not on the stack */
	int r = daemon_read_file(d->config_path, &text, &len);
	if (r < 0) {
		daemon_err(d, "reload: cannot read %s: %s; keeping the running configuration",
			   d->config_path, strerror(-r));
		goto out;
	}
	r = config_parse(&nc, text, len, err, sizeof(err));
	free(text);
	if (r == 0) {
		if (d->cli_failure_timeout_ms)
			nc.failure_timeout_ms = d->cli_failure_timeout_ms;
		if (d->cli_heartbeat_ms)
			nc.heartbeat_ms = d->cli_heartbeat_ms;
		else if (d->cli_failure_timeout_ms)
			nc.heartbeat_ms = d->cfg.heartbeat_ms;
		if (d->cli_log_level >= 0)
			nc.log_level = d->cli_log_level;
		if (d->cli_max_datagram)
			nc.max_datagram = d->cli_max_datagram;
		memcpy(nc.self, d->cfg.self, sizeof(nc.self));
		r = config_validate(&nc, err, sizeof(err));
	}
	if (r < 0) {
		daemon_err(d, "reload: %s: %s; keeping the running configuration", d->config_path,
			   err);
		goto out;
	}
	reload_peer_keys(d, &nc);
	char what[64];
	if (needs_restart(&d->cfg, &nc, what, sizeof(what)))
		daemon_warn(d, "reload: %s changed in %s: that takes a restart; applying only"
			       " failure_timeout_ms, heartbeat_ms and log_level",
			    what, d->config_path);
	/* The lease is 0.6 of the smallest failure timeout this process ran
	 * with, and must stay above the heartbeat interval to be renewed. */
	unsigned lease_ft = nc.failure_timeout_ms < d->lease_ft_ms ? nc.failure_timeout_ms
								   : d->lease_ft_ms;
	if ((uint64_t)nc.heartbeat_ms * 5u >= (uint64_t)lease_ft * 3u) {
		daemon_err(d, "reload: heartbeat_ms %u is not below the lease (%u ms, 0.6 of the"
			      " failure timeout %u ms this daemon started or ran with); keeping the"
			      " running configuration",
			   nc.heartbeat_ms, lease_ft * 3u / 5u, lease_ft);
		r = -EINVAL;
		goto out;
	}
	if (nc.log_level != d->cfg.log_level) {
		daemon_notice(d, "reload: log_level %s -> %s", config_log_level_name(d->cfg.log_level),
			      config_log_level_name(nc.log_level));
		d->cfg.log_level = nc.log_level;
	}
	if (nc.failure_timeout_ms != d->cfg.failure_timeout_ms) {
		/* The detector waits at least as long as before: a peer's lease
		 * was granted against the old timeout (docs/design.md §8.1). */
		unsigned det = nc.failure_timeout_ms > d->cfg.failure_timeout_ms
				       ? nc.failure_timeout_ms
				       : (unsigned)(d->mem.failure_timeout_us / 1000u);
		daemon_notice(d, "reload: failure_timeout_ms %u -> %u (peers counted down after %u"
				 " ms, lease %u ms%s)",
			      d->cfg.failure_timeout_ms, nc.failure_timeout_ms, det,
			      lease_ft * 3u / 5u,
			      det > nc.failure_timeout_ms ? "; a shorter timeout takes a restart"
							  : "");
		d->cfg.failure_timeout_ms = nc.failure_timeout_ms;
		d->mem.failure_timeout_us = (uint64_t)det * 1000u;
		paxos_set_failure_timeout(d->paxos, d->mem.failure_timeout_us);
		d->lease_ft_ms = lease_ft;
		d->mem.lease_us = (uint64_t)lease_ft * 1000u * 3u / 5u;
	}
	if (nc.heartbeat_ms != d->cfg.heartbeat_ms) {
		daemon_notice(d, "reload: heartbeat_ms %u -> %u", d->cfg.heartbeat_ms,
			      nc.heartbeat_ms);
		d->cfg.heartbeat_ms = nc.heartbeat_ms;
		d->mem.heartbeat_interval_us = (uint64_t)nc.heartbeat_ms * 1000u;
	}
	daemon_notice(d, "reload: %s reread", d->config_path);
	r = 0;
out:
	(void)notify_reloaded(&d->notify);
	return r;
}

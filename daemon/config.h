/* SPDX-License-Identifier: MIT */
/*
 * config.h — the daemon configuration and its file format.
 *
 * The parser is pure: the caller reads the file and passes its text; nothing
 * here touches files, sockets, the clock or the environment, so the parser
 * can be unit tested and fuzzed as it is.
 *
 * File format, one setting a line:
 *
 *	# a comment: '#' as the first non-blank character of a line
 *	cluster            = paxoskv
 *	cluster_size       = 3
 *	key_file           = /etc/paxoskv/cluster.key
 *	run_dir            = /run/paxoskv
 *	state_dir          = /var/lib/paxoskv
 *	socket             = /run/paxoskv/pkvd.sock
 *	log_level          = info
 *	failure_timeout_ms = 1000
 *	heartbeat_ms       = 200
 *	restart_grace_ms   = 1000
 *	encrypt            = no
 *	durable            = no
 *	fast_put           = yes
 *	max_keys           = 1000000
 *	cache_entries      = 32768
 *	max_datagram       = 1400
 *	batch_hold_us      = 1000
 *	self               = node1
 *	group              = paxoskv
 *
 *	node node1 127.0.0.1:7401
 *	node node2 127.0.0.1:7402
 *	node node3 [::1]:7403
 *	node web1  10.0.1.7:7400 observer
 *
 *   or, with a key pair per node (docs/design.md §7), every node line ends in
 *   the node's public key (64 hex digits, `pkv-keygen -p KEYFILE` prints it):
 *
 *	node alpha 10.0.0.1:7400 6f1c…e2
 *
 * - Blank lines and comment lines are ignored; '#' after a value is part of
 *   the value (paths may hold it), so comments take a line of their own.
 * - Blanks around the key, the '=' and the value are ignored; a value runs to
 *   the end of the line. A trailing '\r' is dropped (files edited on Windows).
 * - Each setting may appear at most once.
 * - `node NAME ADDRESS:PORT`: node ids are 1-based positions among the node
 *   lines, so every daemon of a cluster must list its nodes in the same order.
 *   NAME is 1..63 characters of [A-Za-z0-9_.-]. ADDRESS is an IPv4 literal or
 *   an IPv6 literal in brackets; host names are not resolved (no DNS here).
 * - `node NAME ADDRESS:PORT observer`: the node runs pkvd for its host's
 *   clients but never votes (docs/design.md §5.2): configuration 0's voters
 *   are the first cluster_size nodes without the word, so at least
 *   cluster_size nodes must lack it. Promoting one is a change of the voters
 *   (`pkv member add`), which prefers nodes that are not observers.
 * - Public keys: either every node line has one or none has. With them,
 *   key_file is this node's own key (its seed); without them it is the
 *   cluster key that every node's key is derived from (dev clusters).
 * - encrypt, durable and fast_put take yes/no (also true/false, on/off, 1/0).
 *   durable, when absent, is the build's default (meson option
 *   durable_default). fast_put (default yes) lets a put of a key nobody holds
 *   skip phase 1 when every node is up: one round trip (daemon/paxos-acceptor.c).
 * - max_keys caps the keys (tombstones included) the daemon holds; at the
 *   cap a put or get of a key it holds nothing of answers no_memory at once.
 *   The default is PKV_CONFIG_DEFAULT_MAX_KEYS (a million); 0 is no limit.
 * - cache_entries sizes the shared-memory learner cache that clients read
 *   without a syscall: PKV_CONFIG_MIN_CACHE_ENTRIES..PKV_CONFIG_MAX_CACHE_ENTRIES,
 *   rounded up to a power of two of 64-entry stripes (include/pkv-shm.h,
 *   "Cache geometry"). Its pages cost memory only once written.
 * - max_datagram caps the datagrams that batch several messages to a peer
 *   (PKV_CONFIG_MIN_DATAGRAM..PKV_CONFIG_MAX_DATAGRAM bytes). When absent it
 *   is decided per peer address: PKV_CONFIG_LOOPBACK_DATAGRAM for a loopback
 *   peer, PKV_CONFIG_DEFAULT_DATAGRAM (fits a 1500-byte MTU path) for any
 *   other. A message larger than the cap still goes, alone in a datagram of
 *   its own (docs/design.md §7, "Datagram size").
 * - batch_hold_us (0..PKV_CONFIG_MAX_BATCH_HOLD_US, default
 *   PKV_CONFIG_DEFAULT_BATCH_HOLD_US): while requests this daemon took from
 *   its clients' ring at its last take are still unanswered, newly posted
 *   ones wait in the ring, at most this long after that take, and go out
 *   together in the next batch (daemon/local.c, docs/design.md §8); 0 takes
 *   every request as soon as it is seen.
 * - heartbeat_ms, when absent, is failure_timeout_ms / 5, but at least 10.
 * - state_dir holds the state file and the acceptor log (they must survive a
 *   reboot); when absent they live in run_dir/NAME, the dev layout.
 * - socket is the control socket's path; when absent, run_dir/NAME/pkvd.sock.
 *   It must fit a UNIX socket address (PKV_CONFIG_SOCKET_MAX bytes).
 * - log_level is err, warning, notice, info (the default) or debug: lines
 *   less urgent than it are not written.
 * - self, when absent, is the host name or its first label, whichever names
 *   a configured node (config_self_from_host; the daemon's main asks).
 * - restart_grace_ms, when absent, is failure_timeout_ms: how long a
 *   daemon that stopped has to come back and take back its holders' pid
 *   bindings, and how long after the failure detector peers still keep
 *   them (docs/design.md §6.2); 0: they end with the disconnect.
 *
 * Limits: a line is at most PKV_CONFIG_LINE_MAX bytes; the text must not hold
 * NUL bytes; at most PKV_MAX_NODES node lines.
 */
#ifndef PKV_CONFIG_H
#define PKV_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "msg.h" /* PKV_MAX_NODES */

#define PKV_CONFIG_NAME_MAX 63u /* node, cluster, group and self names */
#define PKV_CONFIG_LINE_MAX (PATH_MAX + 256u)
#define PKV_CONFIG_ADDR_TEXT 64u /* "[" IPv6 "]:" port, NUL-terminated */

#define PKV_CONFIG_DEFAULT_CLUSTER "paxoskv"
#define PKV_CONFIG_DEFAULT_CLUSTER_SIZE 3u
#define PKV_CONFIG_DEFAULT_FAILURE_TIMEOUT_MS 1000u
#define PKV_CONFIG_MIN_HEARTBEAT_MS 10u
#define PKV_CONFIG_MAX_KEYS 1000000000u
/* About 0.2 GB of entries with short keys and values (docs/design.md §7). */
#define PKV_CONFIG_DEFAULT_MAX_KEYS 1000000u
#define PKV_CONFIG_DEFAULT_CACHE_ENTRIES 32768u /* = PKV_SHM_CACHE_DEFAULT */
#define PKV_CONFIG_MIN_CACHE_ENTRIES 1024u	/* = PKV_SHM_CACHE_MIN */
#define PKV_CONFIG_MAX_CACHE_ENTRIES 4194304u	/* = PKV_SHM_CACHE_MAX */
/* max_datagram (docs/design.md §7, "Datagram size"); the largest is WIRE_MAX_DGRAM */
#define PKV_CONFIG_MIN_DATAGRAM 512u
#define PKV_CONFIG_MAX_DATAGRAM 65000u
#define PKV_CONFIG_DEFAULT_DATAGRAM 1400u
#define PKV_CONFIG_LOOPBACK_DATAGRAM PKV_CONFIG_MAX_DATAGRAM
#define PKV_CONFIG_DEFAULT_BATCH_HOLD_US 1000u
#define PKV_CONFIG_MAX_BATCH_HOLD_US 100000u
#define PKV_CONFIG_MIN_FAILURE_TIMEOUT_MS 50u
#define PKV_CONFIG_MAX_FAILURE_TIMEOUT_MS 600000u
/* sizeof(sockaddr_un.sun_path) - 1 on Linux */
#define PKV_CONFIG_SOCKET_MAX 107u

/* log_level values: the syslog priorities (<syslog.h>), most urgent first. */
#define PKV_LOG_ERR 3
#define PKV_LOG_WARNING 4
#define PKV_LOG_NOTICE 5
#define PKV_LOG_INFO 6
#define PKV_LOG_DEBUG 7

struct pkv_node_cfg {
	uint32_t id; /* 1-based position in the node table */
	char name[PKV_CONFIG_NAME_MAX + 1];
	struct sockaddr_storage addr; /* AF_INET or AF_INET6, port set */
	socklen_t addrlen;
	uint16_t port; /* host byte order; also inside addr */
	char addr_text[PKV_CONFIG_ADDR_TEXT]; /* "127.0.0.1:7401", "[::1]:7401": for logs */
	bool has_pubkey; /* the node line lists its public key */
	uint8_t pubkey[32];
	/*
	 * During a key rotation (README "Rotating a node's key") the line
	 * lists a second public key: the node may hold either.
	 */
	bool has_pubkey2;
	uint8_t pubkey2[32];
	bool observer; /* `observer` on its line: never a voter of configuration 0 */
};

struct pkv_config {
	char cluster[PKV_CONFIG_NAME_MAX + 1];
	unsigned cluster_size; /* 1..PKV_MAX_NODES */
	char key_file[PATH_MAX]; /* "" = not set: the daemon's main decides */
	char run_dir[PATH_MAX];	 /* "" = not set: the daemon's main decides */
	char state_dir[PATH_MAX]; /* "" = not set: run_dir/NAME */
	char socket[PATH_MAX];	  /* "" = not set: run_dir/NAME/pkvd.sock */
	int log_level;		  /* PKV_LOG_ERR..PKV_LOG_DEBUG */
	unsigned failure_timeout_ms;
	unsigned heartbeat_ms;
	unsigned restart_grace_ms;
	bool encrypt;
	bool durable; /* keep acceptor state in run_dir/NAME/acceptor.log (see durable.h) */
	bool fast_put; /* try the fast round first (paxos-acceptor.c) */
	unsigned max_keys; /* keys this daemon may hold, all buckets; 0: no limit */
	unsigned cache_entries; /* learner cache size (entries) of the shared segment */
	unsigned max_datagram;	/* batch cap, bytes; 0 = by peer address (config_datagram_cap) */
	unsigned batch_hold_us; /* the ring's hold while the last take is out (local.c); 0: none */
	char self[PKV_CONFIG_NAME_MAX + 1];  /* "" = not set */
	char group[PKV_CONFIG_NAME_MAX + 1]; /* "" = only the daemon's own uid */
	unsigned n_nodes;
	struct pkv_node_cfg nodes[PKV_MAX_NODES]; /* nodes[i].id == i + 1 */
};

/* Fills *c with the defaults above and an empty node table. */
void config_defaults(struct pkv_config *c);

/*
 * Parses text[0..len) into *c, starting from config_defaults(c). On error
 * writes one line to err ("line 4: unknown setting 'clustr_size'") and
 * returns -EINVAL; *c is then partly filled and should not be used.
 * Checks each line on its own (syntax, ranges, duplicate settings, node names
 * and addresses); the checks that need the whole picture (self names a node,
 * timeouts agree) are config_validate's, since the daemon's command line may
 * still change self after the file is read.
 * err may be NULL when errlen is 0.
 */
int config_parse(struct pkv_config *c, const char *text, size_t len, char *err, size_t errlen);

/*
 * Parses a cache_entries value given on its own (pkvd --cache-entries):
 * decimal digits only, PKV_CONFIG_MIN_CACHE_ENTRIES..PKV_CONFIG_MAX_CACHE_ENTRIES,
 * the range the config key accepts. Returns 0 and *out, or -EINVAL with a
 * message in err.
 */
int config_cache_entries(const char *s, unsigned *out, char *err, size_t errlen);

/*
 * Development numbering, the counterpart of the reference's `mix node N`:
 * replaces the node table with node1..node{max_nodes} on 127.0.0.1, node i at
 * port port_base + i, and sets self = node{n}. Other settings are kept.
 * Returns 0, or -EINVAL with a message when n is not in 1..max_nodes,
 * max_nodes not in 1..PKV_MAX_NODES, or a port would pass 65535. Choosing the
 * first free number (`_`) needs I/O and is left to the daemon's main.
 */
int config_dev(struct pkv_config *c, unsigned n, unsigned port_base, unsigned max_nodes, char *err,
	       size_t errlen);

/*
 * Checks the configuration as a whole: at least one node, self set and naming
 * a configured node, cluster_size in range and reachable (the configured
 * nodes can form a majority of it), heartbeat_ms at least
 * PKV_CONFIG_MIN_HEARTBEAT_MS and below failure_timeout_ms, node names and
 * addresses unique, ids matching positions, public keys on every node line or
 * on none, and no two alike. Returns 0 or -EINVAL with a
 * message.
 */
int config_validate(const struct pkv_config *c, char *err, size_t errlen);

/*
 * Writes *c in the file format above (settings that are set, then the node
 * table), NUL-terminated, truncated to len like snprintf. Returns the length
 * the full text needs, without the NUL. config_parse reads it back to an
 * equal configuration, which lets the dev launcher write the files it hands
 * to each daemon.
 */
size_t config_format(const struct pkv_config *c, char *buf, size_t len);

/* The nodes marked `observer`: how many, and bit id-1 of each. */
unsigned config_observer_count(const struct pkv_config *c);
uint64_t config_observer_mask(const struct pkv_config *c);

/* Lookups; NULL when there is no such node. */
const struct pkv_node_cfg *config_self(const struct pkv_config *c);
const struct pkv_node_cfg *config_node_by_name(const struct pkv_config *c, const char *name);
const struct pkv_node_cfg *config_node_by_id(const struct pkv_config *c, uint32_t id);

/*
 * The node a host of this name is: the whole name if it is a configured
 * node, else its first label ("alpha" of "alpha.example.net") if that is.
 * Writes it to c->self and returns 0, or -ENOENT when neither names a node.
 */
int config_self_from_host(struct pkv_config *c, const char *hostname);

/* "err", "warning", … for a PKV_LOG_* value; NULL for any other. */
const char *config_log_level_name(int level);
/* The PKV_LOG_* value of a name, or -EINVAL. */
int config_log_level(const char *name);

/*
 * The size a datagram of several messages to `peer` may reach: max_datagram
 * when set, else PKV_CONFIG_LOOPBACK_DATAGRAM for a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) and PKV_CONFIG_DEFAULT_DATAGRAM
 * for any other.
 */
unsigned config_datagram_cap(const struct pkv_config *c, const struct pkv_node_cfg *peer);

/* True when s is a valid node name: 1..63 characters of [A-Za-z0-9_.-]. */
bool config_name_valid(const char *s);

#endif

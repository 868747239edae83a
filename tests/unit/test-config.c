// SPDX-License-Identifier: MIT
/*
 * Unit tests for the configuration parser (daemon/config.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

static const char good[] = "# a three-node cluster\n"
			   "\n"
			   "cluster = prod-kv\n"
			   "cluster_size=3\n"
			   "  key_file   =   /etc/paxoskv/cluster.key  \n"
			   "run_dir = /run/paxoskv\n"
			   "failure_timeout_ms = 1500\n"
			   "encrypt = yes\n"
			   "durable = on\n"
			   "fast_put = no\n"
			   "max_keys = 500000\n"
			   "cache_entries = 1048576\n"
			   "self = node2\n"
			   "group = kvusers\n"
			   "\t# indented comment\n"
			   "node node1 127.0.0.1:7401\n"
			   "node node2 10.0.0.2:7402\n"
			   "node\tnode3\t[::1]:7403\n";

static struct pkv_config cfg, cfg2;
static char err[256];

/* Parses text and expects failure with a message that contains want. */
static void expect_error(const char *text, size_t len, const char *want)
{
	int r = config_parse(&cfg, text, len, err, sizeof(err));
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_msg(strstr(err, want), "error '%s' does not contain '%s'", err, want);
}

static void expect_error_str(const char *text, const char *want)
{
	expect_error(text, strlen(text), want);
}

START_TEST(good_file_parses_every_setting)
{
	ck_assert_int_eq(config_parse(&cfg, good, strlen(good), err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.cluster, "prod-kv");
	ck_assert_uint_eq(cfg.cluster_size, 3);
	ck_assert_str_eq(cfg.key_file, "/etc/paxoskv/cluster.key");
	ck_assert_str_eq(cfg.run_dir, "/run/paxoskv");
	ck_assert_uint_eq(cfg.failure_timeout_ms, 1500);
	ck_assert_uint_eq(cfg.heartbeat_ms, 300); /* derived: timeout / 5 */
	ck_assert(cfg.encrypt);
	ck_assert(cfg.durable);
	ck_assert(!cfg.fast_put);
	ck_assert_uint_eq(cfg.max_keys, 500000);
	ck_assert_uint_eq(cfg.cache_entries, 1048576);
	ck_assert_str_eq(cfg.self, "node2");
	ck_assert_str_eq(cfg.group, "kvusers");
	ck_assert_uint_eq(cfg.n_nodes, 3);

	const struct pkv_node_cfg *n2 = config_self(&cfg);
	ck_assert_ptr_nonnull(n2);
	ck_assert_uint_eq(n2->id, 2);
	ck_assert_uint_eq(n2->port, 7402);
	const struct sockaddr_in *a = (const void *)&n2->addr;
	ck_assert_int_eq(a->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(a->sin_port), 7402);
	ck_assert_uint_eq(ntohl(a->sin_addr.s_addr), 0x0a000002);
	ck_assert_uint_eq(n2->addrlen, sizeof(struct sockaddr_in));
	ck_assert_str_eq(n2->addr_text, "10.0.0.2:7402");
	ck_assert_str_eq(cfg.nodes[2].addr_text, "[::1]:7403");

	ck_assert_ptr_eq(config_node_by_name(&cfg, "node3"), &cfg.nodes[2]);
	ck_assert_ptr_eq(config_node_by_id(&cfg, 1), &cfg.nodes[0]);
	ck_assert_ptr_null(config_node_by_id(&cfg, 0));
	ck_assert_ptr_null(config_node_by_id(&cfg, 4));
	ck_assert_ptr_null(config_node_by_name(&cfg, "node4"));
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
}
END_TEST

START_TEST(format_then_parse_gives_the_same_config)
{
	char text[8192];

	ck_assert_int_eq(config_parse(&cfg, good, strlen(good), err, sizeof(err)), 0);
	size_t n = config_format(&cfg, text, sizeof(text));
	ck_assert_uint_lt(n, sizeof(text));
	ck_assert_uint_eq(n, strlen(text));
	ck_assert_msg(config_parse(&cfg2, text, n, err, sizeof(err)) == 0, "%s\n%s", err, text);
	ck_assert_int_eq(memcmp(&cfg, &cfg2, sizeof(cfg)), 0);

	/* Truncation reports the full length, like snprintf. */
	char small[16];
	ck_assert_uint_eq(config_format(&cfg, small, sizeof(small)), n);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

#define PK1 "6f1c000102030405060708090a0b0c0d0e0f101112131415161718191a1b1ce2"
#define PK2 "0000000000000000000000000000000000000000000000000000000000000001"
#define PK3 "0000000000000000000000000000000000000000000000000000000000000003"

START_TEST(node_public_keys_parse_format_and_must_be_on_every_line)
{
	static const char text[] = "self = a\ncluster_size = 2\n"
				   "node a 127.0.0.1:7401 " PK1 "\n"
				   "node b 127.0.0.1:7402 " PK2 "\n";
	char out[4096];

	ck_assert_msg(config_parse(&cfg, text, strlen(text), err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
	ck_assert(cfg.nodes[0].has_pubkey && cfg.nodes[1].has_pubkey);
	ck_assert_uint_eq(cfg.nodes[0].pubkey[0], 0x6f);
	ck_assert_uint_eq(cfg.nodes[0].pubkey[31], 0xe2);
	ck_assert_uint_eq(cfg.nodes[1].pubkey[31], 1);
	size_t n = config_format(&cfg, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "node a 127.0.0.1:7401 " PK1 "\n"));
	ck_assert_int_eq(config_parse(&cfg2, out, n, err, sizeof(err)), 0);
	ck_assert_int_eq(memcmp(&cfg, &cfg2, sizeof(cfg)), 0);

	/* On one line only: refused, naming both nodes. */
	static const char some[] = "self = a\nnode a 127.0.0.1:7401 " PK1 "\n"
				   "node b 127.0.0.1:7402\n";
	ck_assert_int_eq(config_parse(&cfg, some, strlen(some), err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "node 'b' does not list a public key and node 'a' does") != NULL, "%s", err);
	/* Twice the same key: refused. */
	static const char twice[] = "self = a\nnode a 127.0.0.1:7401 " PK1 "\n"
				    "node b 127.0.0.1:7402 " PK1 "\n";
	ck_assert_int_eq(config_parse(&cfg, twice, strlen(twice), err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "same public key") != NULL, "%s", err);
	/* Not 64 hex digits. */
	expect_error_str("node a 127.0.0.1:7401 6f1c\n", "not '6f1c'");
	expect_error_str("node a 127.0.0.1:7401 " PK1 "0\n", "64 hex digits");
	expect_error_str("node a 127.0.0.1:7401 " PK1 " x\n", "a second public key (during a key"
							       " rotation) is 64 hex digits");
	expect_error_str("node a 127.0.0.1:7401 " PK1 " " PK2 " x\n",
			 "expected 'node NAME ADDRESS:PORT'");
	expect_error_str("node a 127.0.0.1:7401 " PK1 " " PK1 "\n", "the same public key twice");
}
END_TEST

/*
 * `observer` after the address (docs/design.md §5.2): formatted back, and
 * cluster_size must find that many nodes without it.
 */
START_TEST(observer_nodes_parse_format_and_leave_enough_voters)
{
	static const char text[] = "self = w1\ncluster_size = 3\n"
				   "node a 127.0.0.1:7401\n"
				   "node w1 127.0.0.1:7411 observer\n"
				   "node b 127.0.0.1:7402\n"
				   "node c 127.0.0.1:7403\n"
				   "node w2 127.0.0.1:7412  observer  " PK1 "\n";
	char out[4096];
	/* Keys on one line only: parse alone, then drop the key to validate. */
	ck_assert_msg(config_parse(&cfg, text, strlen(text), err, sizeof(err)) == 0, "%s", err);
	ck_assert(!cfg.nodes[0].observer && cfg.nodes[1].observer && cfg.nodes[4].observer);
	ck_assert(cfg.nodes[4].has_pubkey);
	cfg.nodes[4].has_pubkey = false;
	memset(cfg.nodes[4].pubkey, 0, sizeof(cfg.nodes[4].pubkey));
	ck_assert_msg(config_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(config_observer_count(&cfg), 2);
	ck_assert_uint_eq(config_observer_mask(&cfg), 0x12);
	size_t n = config_format(&cfg, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "node w1 127.0.0.1:7411 observer\n"));
	ck_assert_int_eq(config_parse(&cfg2, out, n, err, sizeof(err)), 0);
	ck_assert_int_eq(memcmp(&cfg, &cfg2, sizeof(cfg)), 0);

	/* Four voters wanted, three nodes that may vote. */
	cfg.cluster_size = 4;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "cluster_size 4 needs 4 nodes that are not observers, only 3"),
		      "%s", err);
	/* A misspelt word is not taken for a key nor for the flag. */
	expect_error_str("node a 127.0.0.1:7401 observr\n", "not 'observr'");
	expect_error_str("node a 127.0.0.1:7401 observerx\n", "not 'observerx'");
}
END_TEST

/* A key rotation: a node line lists the old key and the new one. */
START_TEST(node_line_lists_two_keys_during_a_rotation)
{
	static const char text[] = "self = a\ncluster_size = 2\n"
				   "node a 127.0.0.1:7401 " PK1 "\n"
				   "node b 127.0.0.1:7402 " PK2 " " PK3 "\n";
	char out[4096];

	ck_assert_msg(config_parse(&cfg, text, strlen(text), err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
	ck_assert(!cfg.nodes[0].has_pubkey2);
	ck_assert(cfg.nodes[1].has_pubkey2);
	size_t n = config_format(&cfg, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "node b 127.0.0.1:7402 " PK2 " " PK3 "\n"));
	ck_assert_int_eq(config_parse(&cfg2, out, n, err, sizeof(err)), 0);
	ck_assert_int_eq(memcmp(&cfg, &cfg2, sizeof(cfg)), 0);
	/* A new key that is another node's: refused. */
	static const char other[] = "self = a\nnode a 127.0.0.1:7401 " PK1 "\n"
				    "node b 127.0.0.1:7402 " PK2 " " PK1 "\n";
	ck_assert_int_eq(config_parse(&cfg, other, strlen(other), err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "same public key") != NULL, "%s", err);
}
END_TEST

/* docs/design.md §6.2: by default the grace is the failure timeout. */
START_TEST(restart_grace_follows_failure_timeout_unless_set)
{
	static const char ft[] = "failure_timeout_ms = 3000\n";
	ck_assert_int_eq(config_parse(&cfg, ft, strlen(ft), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.restart_grace_ms, 3000);
	static const char set[] = "restart_grace_ms = 0\nfailure_timeout_ms = 3000\n";
	ck_assert_int_eq(config_parse(&cfg, set, strlen(set), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.restart_grace_ms, 0);
	expect_error_str("restart_grace_ms = -1\n", "restart_grace_ms");
	expect_error_str("restart_grace_ms = 600001\n", "restart_grace_ms");
}
END_TEST

START_TEST(empty_text_gives_defaults)
{
	struct pkv_config d;

	config_defaults(&d);
	ck_assert_int_eq(config_parse(&cfg, "", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(memcmp(&cfg, &d, sizeof(d)), 0);
	ck_assert_str_eq(cfg.cluster, "paxoskv");
	ck_assert_uint_eq(cfg.cluster_size, 3);
	ck_assert_uint_eq(cfg.failure_timeout_ms, 1000);
	ck_assert_uint_eq(cfg.heartbeat_ms, 200);
	ck_assert_uint_eq(cfg.restart_grace_ms, 1000);
	ck_assert(!cfg.encrypt);
	ck_assert(cfg.fast_put); /* the fast round is on unless told otherwise */
	ck_assert_uint_eq(cfg.max_keys, PKV_CONFIG_DEFAULT_MAX_KEYS);
	ck_assert_uint_eq(cfg.max_keys, 1000000); /* a bound by default, not unlimited */
	ck_assert_uint_eq(cfg.cache_entries, PKV_CONFIG_DEFAULT_CACHE_ENTRIES);
	ck_assert_uint_eq(cfg.cache_entries, 32768);
	ck_assert_uint_eq(cfg.n_nodes, 0);
}
END_TEST

START_TEST(heartbeat_defaults_to_a_fifth_of_timeout_but_at_least_10ms)
{
	expect_error_str("heartbeat_ms = 9\n", "line 1: heartbeat_ms '9' out of range");
	ck_assert_int_eq(config_parse(&cfg, "failure_timeout_ms = 50\n", 24, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.heartbeat_ms, 10);
	const char *t = "heartbeat_ms = 77\nfailure_timeout_ms = 5000\n";
	ck_assert_int_eq(config_parse(&cfg, t, strlen(t), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.heartbeat_ms, 77);
	t = "failure_timeout_ms = 5000\n";
	ck_assert_int_eq(config_parse(&cfg, t, strlen(t), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.heartbeat_ms, 1000);
}
END_TEST

START_TEST(crlf_and_missing_final_newline_are_accepted)
{
	const char *t = "cluster_size = 5\r\nnode a 127.0.0.1:1\r\nnode b 127.0.0.1:2";
	ck_assert_int_eq(config_parse(&cfg, t, strlen(t), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.cluster_size, 5);
	ck_assert_uint_eq(cfg.n_nodes, 2);
	ck_assert_uint_eq(cfg.nodes[1].port, 2);
}
END_TEST

START_TEST(unknown_setting_is_named_with_its_line)
{
	expect_error_str("# c\n\ncluster = x\nclustr_size = 3\n",
			 "line 4: unknown setting 'clustr_size'");
}
END_TEST

START_TEST(duplicate_setting_names_both_lines)
{
	expect_error_str("self = a\n\nself = b\n", "line 3: 'self' already set on line 1");
}
END_TEST

START_TEST(duplicate_node_name_is_rejected)
{
	expect_error_str("node a 127.0.0.1:1\nnode b 127.0.0.1:2\nnode a 127.0.0.1:3\n",
			 "line 3: duplicate node name 'a' (first on line 1)");
}
END_TEST

START_TEST(duplicate_node_address_is_rejected)
{
	expect_error_str("node a 127.0.0.1:1\nnode b 127.0.0.1:1\n",
			 "line 2: duplicate node address 127.0.0.1:1");
	/* The same IPv6 address spelled two ways is still the same address. */
	expect_error_str("node a [::1]:9\n#\nnode b [0:0::0:1]:9\n",
			 "line 3: duplicate node address [::1]:9");
	/* Same address, other port: fine (several daemons on one host). */
	const char *t = "node a 127.0.0.1:1\nnode b 127.0.0.1:2\n";
	ck_assert_int_eq(config_parse(&cfg, t, strlen(t), err, sizeof(err)), 0);
}
END_TEST

START_TEST(bad_port_is_rejected)
{
	expect_error_str("\nnode a 127.0.0.1:0\n", "line 2: bad address '127.0.0.1:0': bad port");
	expect_error_str("node a 127.0.0.1:65536\n", "line 1: bad address '127.0.0.1:65536': bad port");
	expect_error_str("node a 127.0.0.1:http\n", "line 1: bad address '127.0.0.1:http': bad port");
	expect_error_str("node a 127.0.0.1:\n", "line 1: bad address '127.0.0.1:': bad port");
	expect_error_str("node a 127.0.0.1:-5\n", "line 1: bad address '127.0.0.1:-5': bad port");
	expect_error_str("node a 127.0.0.1\n", "line 1: bad address '127.0.0.1': missing ':PORT'");
	expect_error_str("node a [::1]:99999999999999999999999\n", "bad port");
}
END_TEST

START_TEST(bad_addresses_are_rejected)
{
	expect_error_str("node a localhost:7401\n", "line 1: bad address 'localhost:7401'");
	expect_error_str("node a ::1:7401\n", "needs brackets");
	expect_error_str("node a [::1]7401\n", "need [IPV6]:PORT");
	expect_error_str("node a [::1:7401\n", "need [IPV6]:PORT");
	expect_error_str("node a [1.2.3.4]:7401\n", "not an IPv6 address literal");
	expect_error_str("node a [fe80::1%eth0]:7401\n", "not an IPv6 address literal");
	expect_error_str("node a 256.0.0.1:7401\n", "line 1: bad address");
	expect_error_str("node a\n", "line 1: expected 'node NAME ADDRESS:PORT'");
	expect_error_str("node a 127.0.0.1:1 extra\n", "line 1: expected 'node NAME ADDRESS:PORT'");
	expect_error_str("node b@d 127.0.0.1:1\n", "line 1: bad node name 'b@d'");
}
END_TEST

START_TEST(ipv6_addresses_parse)
{
	const char *t = "node a [::1]:7401\nnode b [2001:db8::42]:65535\n";
	ck_assert_int_eq(config_parse(&cfg, t, strlen(t), err, sizeof(err)), 0);
	const struct sockaddr_in6 *a = (const void *)&cfg.nodes[1].addr;
	struct in6_addr want;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::42", &want), 1);
	ck_assert_int_eq(a->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(a->sin6_port), 65535);
	ck_assert_int_eq(memcmp(&a->sin6_addr, &want, sizeof(want)), 0);
	ck_assert_uint_eq(cfg.nodes[1].addrlen, sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(cfg.nodes[1].id, 2);
	ck_assert_str_eq(cfg.nodes[1].addr_text, "[2001:db8::42]:65535");
	a = (const void *)&cfg.nodes[0].addr;
	ck_assert(IN6_IS_ADDR_LOOPBACK(&a->sin6_addr));
}
END_TEST

START_TEST(cluster_size_out_of_range_is_rejected)
{
	expect_error_str("\n\ncluster_size = 0\n", "line 3: cluster_size '0' out of range (1..64)");
	expect_error_str("cluster_size = 65\n", "line 1: cluster_size '65' out of range");
	expect_error_str("cluster_size = three\n", "line 1: cluster_size 'three' out of range");
	expect_error_str("cluster_size = +3\n", "line 1: cluster_size '+3' out of range");
	expect_error_str("cluster_size =\n", "line 1: cluster_size '' out of range");
}
END_TEST

START_TEST(too_long_line_is_rejected)
{
	size_t n = PKV_CONFIG_LINE_MAX + 100;
	char *t = malloc(n + 16);
	ck_assert_ptr_nonnull(t);
	memcpy(t, "cluster = a\n# ", 14);
	memset(t + 14, 'x', n);
	expect_error(t, n + 14, "line 2: line too long");
	free(t);
}
END_TEST

START_TEST(nul_byte_is_rejected)
{
	static const char t[] = "cluster = a\nself = b\0c\n";
	expect_error(t, sizeof(t) - 1, "line 2: NUL byte");
}
END_TEST

START_TEST(other_syntax_errors_name_their_line)
{
	expect_error_str("cluster paxoskv\n", "line 1: expected 'setting = value'");
	expect_error_str("= 3\n", "line 1: missing setting name");
	expect_error_str("encrypt = maybe\n", "line 1: encrypt must be yes or no, not 'maybe'");
	expect_error_str("durable = 2\n", "line 1: durable must be yes or no, not '2'");
	expect_error_str("fast_put = maybe\n", "line 1: fast_put must be yes or no, not 'maybe'");
	expect_error_str("max_keys = -1\n", "line 1: max_keys '-1' out of range");
	expect_error_str("max_keys = 1000000001\n", "line 1: max_keys '1000000001' out of range");
	expect_error_str("\ncluster = has space\n", "line 2: bad cluster name 'has space'");
	expect_error_str("self =\n", "line 1: bad self name ''");
	expect_error_str("key_file =\n", "line 1: empty key_file");
	expect_error_str("\n\nrun_dir = /run/a\x1b[2Jb\n", "line 3: control character in run_dir");
	expect_error_str("key_file = /k\r\r\n", "line 1: control character in key_file");
	expect_error_str("failure_timeout_ms = 10\n", "line 1: failure_timeout_ms '10' out of range");
	expect_error_str("node = x\n", "line 1: unknown setting 'node'");
}
END_TEST

START_TEST(cache_entries_out_of_range_is_rejected_in_the_file_and_the_flag)
{
	expect_error_str("cache_entries = 1023\n", "line 1: cache_entries '1023' out of range");
	expect_error_str("cache_entries = 0\n", "line 1: cache_entries '0' out of range");
	expect_error_str("cache_entries = 4194305\n",
			 "line 1: cache_entries '4194305' out of range");
	expect_error_str("cache_entries = -5\n", "line 1: cache_entries '-5' out of range");
	expect_error_str("cache_entries = 1M\n", "line 1: cache_entries '1M' out of range");
	expect_error_str("cache_entries = 99999999999999999999999\n",
			 "out of range (1024..4194304)");
	ck_assert_int_eq(config_parse(&cfg, "cache_entries = 4194304\n", 24, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.cache_entries, 4194304);
	ck_assert_int_eq(config_parse(&cfg, "cache_entries = 1024\n", 21, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.cache_entries, 1024);

	/* pkvd --cache-entries goes through the same range. */
	unsigned v = 7;
	static const char *const bad[] = {"", "1023", "0", "4194305", "-1", "+2048", "2048 ",
					  "0x1000", "1e6", "18446744073709551617"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_msg(config_cache_entries(bad[i], &v, err, sizeof(err)) == -EINVAL,
			      "'%s' accepted", bad[i]);
		ck_assert_msg(strstr(err, "out of range (1024..4194304)"), "%s", err);
		ck_assert_uint_eq(v, 7);
	}
	ck_assert_int_eq(config_cache_entries("1048576", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(config_cache_entries("4194304", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 4194304);
}
END_TEST

START_TEST(max_datagram_is_per_peer_address_unless_set)
{
	static const char text[] = "node a 127.0.0.1:7401\n"
				   "node b 10.0.0.2:7402\n"
				   "node c [::1]:7403\n"
				   "node d [fd00::4]:7404\n"
				   "node e [::ffff:127.0.0.9]:7405\n";
	ck_assert_int_eq(config_parse(&cfg, text, sizeof(text) - 1, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.max_datagram, 0);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[0]), PKV_CONFIG_LOOPBACK_DATAGRAM);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[1]), PKV_CONFIG_DEFAULT_DATAGRAM);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[2]), PKV_CONFIG_LOOPBACK_DATAGRAM);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[3]), PKV_CONFIG_DEFAULT_DATAGRAM);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[4]), PKV_CONFIG_LOOPBACK_DATAGRAM);
	ck_assert_uint_eq(PKV_CONFIG_DEFAULT_DATAGRAM, 1400);

	static const char set[] = "max_datagram = 9000\nnode a 127.0.0.1:7401\nnode b 10.0.0.2:7402\n";
	ck_assert_int_eq(config_parse(&cfg, set, sizeof(set) - 1, err, sizeof(err)), 0);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[0]), 9000);
	ck_assert_uint_eq(config_datagram_cap(&cfg, &cfg.nodes[1]), 9000);
	char out[1024];
	config_format(&cfg, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "max_datagram = 9000\n"));

	expect_error_str("max_datagram = 511\n", "line 1: max_datagram '511' out of range (512..65000)");
	expect_error_str("max_datagram = 65001\n", "line 1: max_datagram '65001' out of range");
	expect_error_str("max_datagram = 1.5k\n", "line 1: max_datagram '1.5k' out of range");
	ck_assert_int_eq(config_parse(&cfg, "max_datagram = 65000\n", 21, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.max_datagram, 65000);
}
END_TEST

START_TEST(batch_hold_defaults_to_a_millisecond_and_zero_turns_it_off)
{
	ck_assert_int_eq(config_parse(&cfg, "", 0, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.batch_hold_us, PKV_CONFIG_DEFAULT_BATCH_HOLD_US);
	ck_assert_uint_eq(cfg.batch_hold_us, 1000);
	ck_assert_int_eq(config_parse(&cfg, "batch_hold_us = 0\n", 18, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.batch_hold_us, 0);
	char out[1024];
	config_format(&cfg, out, sizeof(out));
	ck_assert_ptr_nonnull(strstr(out, "batch_hold_us = 0\n"));
	ck_assert_int_eq(config_parse(&cfg, out, strlen(out), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.batch_hold_us, 0);
	ck_assert_int_eq(config_parse(&cfg, "batch_hold_us = 100000\n", 23, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.batch_hold_us, 100000);
	expect_error_str("batch_hold_us = 100001\n",
			 "line 1: batch_hold_us '100001' out of range (0..100000)");
	expect_error_str("batch_hold_us = -1\n", "line 1: batch_hold_us '-1' out of range");
	expect_error_str("batch_hold_us = 1ms\n", "line 1: batch_hold_us '1ms' out of range");
}
END_TEST

START_TEST(more_than_max_nodes_is_rejected)
{
	char t[PKV_MAX_NODES * 40 + 64];
	size_t at = 0;
	for (unsigned i = 1; i <= PKV_MAX_NODES + 1; i++)
		at += (size_t)snprintf(t + at, sizeof(t) - at, "node n%u 127.0.0.1:%u\n", i, 1000 + i);
	char want[64];
	snprintf(want, sizeof(want), "line %u: more than %u nodes", PKV_MAX_NODES + 1,
		 PKV_MAX_NODES);
	expect_error(t, at, want);
}
END_TEST

START_TEST(dev_numbering_puts_node_i_at_port_base_plus_i)
{
	config_defaults(&cfg);
	ck_assert_int_eq(config_dev(&cfg, 2, 7400, 5, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.n_nodes, 5);
	ck_assert_str_eq(cfg.self, "node2");
	for (unsigned i = 1; i <= 5; i++) {
		const struct pkv_node_cfg *n = config_node_by_id(&cfg, i);
		char name[16];
		snprintf(name, sizeof(name), "node%u", i);
		ck_assert_str_eq(n->name, name);
		ck_assert_uint_eq(n->port, 7400 + i);
		const struct sockaddr_in *a = (const void *)&n->addr;
		ck_assert_int_eq(a->sin_family, AF_INET);
		ck_assert_uint_eq(ntohl(a->sin_addr.s_addr), INADDR_LOOPBACK);
		ck_assert_uint_eq(ntohs(a->sin_port), 7400 + i);
		char want[32];
		snprintf(want, sizeof(want), "127.0.0.1:%u", 7400 + i);
		ck_assert_str_eq(n->addr_text, want);
	}
	ck_assert_uint_eq(config_self(&cfg)->id, 2);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);

	ck_assert_int_eq(config_dev(&cfg, 0, 7400, 5, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(config_dev(&cfg, 6, 7400, 5, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(config_dev(&cfg, 1, 7400, PKV_MAX_NODES + 1, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(config_dev(&cfg, 1, 65530, 6, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(config_dev(&cfg, 1, 65529, 6, err, sizeof(err)), 0);
}
END_TEST

START_TEST(validate_requires_self_to_name_a_node)
{
	config_defaults(&cfg);
	ck_assert_int_eq(config_dev(&cfg, 1, 7400, 3, err, sizeof(err)), 0);
	cfg.self[0] = '\0';
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "self is not set"));
	snprintf(cfg.self, sizeof(cfg.self), "node9");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "self 'node9' is not a configured node"));
}
END_TEST

START_TEST(validate_rejects_inconsistent_settings)
{
	config_defaults(&cfg);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no nodes"));

	ck_assert_int_eq(config_dev(&cfg, 1, 7400, 3, err, sizeof(err)), 0);
	cfg.heartbeat_ms = cfg.failure_timeout_ms;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "heartbeat_ms"));
	cfg.heartbeat_ms = 200;

	/* 3 nodes can form a majority of 5, not of 6. */
	cfg.cluster_size = 5;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
	cfg.cluster_size = 6;
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs at least 4 configured nodes"));
	cfg.cluster_size = 3;

	cfg.nodes[2].port = cfg.nodes[0].port;
	((struct sockaddr_in *)&cfg.nodes[2].addr)->sin_port = htons(cfg.nodes[0].port);
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "same address"));
}
END_TEST

START_TEST(parse_tolerates_null_error_buffer)
{
	ck_assert_int_eq(config_parse(&cfg, "bogus = 1\n", 10, NULL, 0), -EINVAL);
}
END_TEST

START_TEST(host_settings_parse_and_format_back)
{
	static const char text[] = "state_dir = /var/lib/paxoskv\n"
				   "socket = /run/paxoskv/pkvd.sock\n"
				   "log_level = debug\n"
				   "node alpha 127.0.0.1:7401\n";
	ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.state_dir, "/var/lib/paxoskv");
	ck_assert_str_eq(cfg.socket, "/run/paxoskv/pkvd.sock");
	ck_assert_int_eq(cfg.log_level, PKV_LOG_DEBUG);
	char buf[8192];
	size_t n = config_format(&cfg, buf, sizeof(buf));
	ck_assert_uint_lt(n, sizeof(buf));
	ck_assert_int_eq(config_parse(&cfg2, buf, n, err, sizeof(err)), 0);
	ck_assert_mem_eq(&cfg, &cfg2, sizeof(cfg));
}
END_TEST

START_TEST(host_settings_default_to_the_dev_layout_and_info)
{
	ck_assert_int_eq(config_parse(&cfg, "", 0, err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.state_dir, "");
	ck_assert_str_eq(cfg.socket, "");
	ck_assert_int_eq(cfg.log_level, PKV_LOG_INFO);
}
END_TEST

START_TEST(log_level_takes_the_five_syslog_names)
{
	static const char *const names[] = {"err", "warning", "notice", "info", "debug"};
	for (int i = 0; i < 5; i++) {
		char text[64];
		snprintf(text, sizeof(text), "log_level = %s\n", names[i]);
		ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)), 0);
		ck_assert_int_eq(cfg.log_level, PKV_LOG_ERR + i);
		ck_assert_str_eq(config_log_level_name(cfg.log_level), names[i]);
		ck_assert_int_eq(config_log_level(names[i]), PKV_LOG_ERR + i);
	}
	expect_error_str("log_level = verbose\n", "line 1: log_level must be err, warning");
	expect_error_str("log_level = \n", "log_level must be");
	ck_assert_int_eq(config_log_level("warn"), -EINVAL);
	ck_assert_ptr_null(config_log_level_name(8));
}
END_TEST

START_TEST(socket_path_longer_than_a_socket_address_is_rejected)
{
	char text[300];
	int n = snprintf(text, sizeof(text), "socket = /");
	for (unsigned i = 0; i < PKV_CONFIG_SOCKET_MAX; i++)
		text[n++] = 'a';
	text[n++] = '\n';
	text[n] = 0;
	expect_error_str(text, "socket path longer than 107 bytes");
	expect_error_str("state_dir =\n", "empty state_dir");
	expect_error_str("socket = /a\nsocket = /b\n", "'socket' already set on line 1");
}
END_TEST

START_TEST(self_from_host_takes_the_whole_name_or_its_first_label)
{
	static const char text[] = "node alpha 127.0.0.1:7401\n"
				   "node beta.example.net 127.0.0.1:7402\n"
				   "node gamma 127.0.0.1:7403\n";
	ck_assert_int_eq(config_parse(&cfg, text, strlen(text), err, sizeof(err)), 0);
	ck_assert_int_eq(config_self_from_host(&cfg, "alpha"), 0);
	ck_assert_str_eq(cfg.self, "alpha");
	ck_assert_int_eq(config_self_from_host(&cfg, "gamma.example.net"), 0);
	ck_assert_str_eq(cfg.self, "gamma");
	/* the whole name first: a node named with dots */
	ck_assert_int_eq(config_self_from_host(&cfg, "beta.example.net"), 0);
	ck_assert_str_eq(cfg.self, "beta.example.net");
	ck_assert_int_eq(config_validate(&cfg, err, sizeof(err)), 0);
	/* neither names a node: self stays as it was */
	ck_assert_int_eq(config_self_from_host(&cfg, "delta.example.net"), -ENOENT);
	ck_assert_int_eq(config_self_from_host(&cfg, "beta"), -ENOENT);
	ck_assert_int_eq(config_self_from_host(&cfg, ""), -ENOENT);
	ck_assert_int_eq(config_self_from_host(&cfg, ".alpha"), -ENOENT);
	ck_assert_str_eq(cfg.self, "beta.example.net");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, good_file_parses_every_setting);
	tcase_add_test(tc, format_then_parse_gives_the_same_config);
	tcase_add_test(tc, observer_nodes_parse_format_and_leave_enough_voters);
	tcase_add_test(tc, empty_text_gives_defaults);
	tcase_add_test(tc, restart_grace_follows_failure_timeout_unless_set);
	tcase_add_test(tc, node_public_keys_parse_format_and_must_be_on_every_line);
	tcase_add_test(tc, node_line_lists_two_keys_during_a_rotation);
	tcase_add_test(tc, heartbeat_defaults_to_a_fifth_of_timeout_but_at_least_10ms);
	tcase_add_test(tc, crlf_and_missing_final_newline_are_accepted);
	tcase_add_test(tc, unknown_setting_is_named_with_its_line);
	tcase_add_test(tc, duplicate_setting_names_both_lines);
	tcase_add_test(tc, duplicate_node_name_is_rejected);
	tcase_add_test(tc, duplicate_node_address_is_rejected);
	tcase_add_test(tc, bad_port_is_rejected);
	tcase_add_test(tc, bad_addresses_are_rejected);
	tcase_add_test(tc, ipv6_addresses_parse);
	tcase_add_test(tc, cluster_size_out_of_range_is_rejected);
	tcase_add_test(tc, too_long_line_is_rejected);
	tcase_add_test(tc, nul_byte_is_rejected);
	tcase_add_test(tc, other_syntax_errors_name_their_line);
	tcase_add_test(tc, more_than_max_nodes_is_rejected);
	tcase_add_test(tc, parse_tolerates_null_error_buffer);
	suite_add_tcase(s, tc);

	tc = tcase_create("dev-and-validate");
	tcase_add_test(tc, dev_numbering_puts_node_i_at_port_base_plus_i);
	tcase_add_test(tc, validate_requires_self_to_name_a_node);
	tcase_add_test(tc, validate_rejects_inconsistent_settings);
	tcase_add_test(tc, cache_entries_out_of_range_is_rejected_in_the_file_and_the_flag);
	suite_add_tcase(s, tc);

	tc = tcase_create("hosts");
	tcase_add_test(tc, host_settings_parse_and_format_back);
	tcase_add_test(tc, host_settings_default_to_the_dev_layout_and_info);
	tcase_add_test(tc, log_level_takes_the_five_syslog_names);
	tcase_add_test(tc, socket_path_longer_than_a_socket_address_is_rejected);
	tcase_add_test(tc, self_from_host_takes_the_whole_name_or_its_first_label);
	tcase_add_test(tc, max_datagram_is_per_peer_address_unless_set);
	tcase_add_test(tc, batch_hold_defaults_to_a_millisecond_and_zero_turns_it_off);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

// SPDX-License-Identifier: MIT
/*
 * Unit tests for ringreq_decode: the checks of one request a client wrote
 * into the local ring.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ringreq.h"

static struct pkv_config cfg;
static uint8_t big[PKV_MAX_VALUE + 2];

static void setup(void)
{
	static const char text[] = "self = node1\n"
				   "node node1 127.0.0.1:7401\n"
				   "node node2 127.0.0.1:7402\n"
				   "node node3 127.0.0.1:7403\n";
	char err[128];
	ck_assert_int_eq(config_parse(&cfg, text, sizeof(text) - 1, err, sizeof(err)), 0);
	memset(big, 'k', sizeof(big));
}

static struct pkv_bytes str(const char *s)
{
	return (struct pkv_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static struct pkv_bytes many(uint32_t n)
{
	return (struct pkv_bytes){big, n};
}

/* A valid put of key "k" = "v" in bucket "b", as shm_ring_next returns it. */
static struct shm_request put_req(void)
{
	return (struct shm_request){
		.slot = 3,
		.ticket = 7,
		.op = PKV_SHM_OP_PUT,
		.timeout_ms = 250,
		.bucket = str("b"),
		.key = str("k"),
		.value = str("v"),
	};
}

static struct shm_request get_req(void)
{
	struct shm_request rq = put_req();
	rq.op = PKV_SHM_OP_GET;
	rq.value = (struct pkv_bytes){0};
	return rq;
}

static struct shm_request keys_req(void)
{
	struct shm_request rq = put_req();
	rq.op = PKV_SHM_OP_KEYS;
	rq.key = (struct pkv_bytes){0};
	rq.value = (struct pkv_bytes){0};
	return rq;
}

/* Decodes rq, expects status `want` and, on a refusal, a zeroed result. */
static struct ringreq expect(const struct shm_request *rq, int want)
{
	struct ringreq q;
	memset(&q, 0xa5, sizeof(q));
	int s = ringreq_decode(rq, &cfg, &q);
	ck_assert_int_eq(s, want);
	if (want != PKV_S_OK) {
		static const struct ringreq zero;
		ck_assert_mem_eq(&q, &zero, sizeof(q));
	}
	return q;
}

START_TEST(decode_accepts_plain_put)
{
	struct shm_request rq = put_req();
	struct ringreq q = expect(&rq, PKV_S_OK);
	ck_assert_uint_eq(q.op, PKV_SHM_OP_PUT);
	ck_assert_uint_eq(q.timeout_ms, 250);
	ck_assert(!q.retry);
	ck_assert(!q.bound);
	ck_assert_uint_eq(q.bind.mask, 0);
	ck_assert_ptr_eq(q.bucket.p, rq.bucket.p);
	ck_assert_uint_eq(q.key.len, 1);
	ck_assert_ptr_eq(q.value.p, rq.value.p);
}
END_TEST

START_TEST(decode_accepts_limits_exactly)
{
	struct shm_request rq = put_req();
	rq.bucket = many(PKV_MAX_BUCKET);
	rq.key = many(PKV_MAX_KEY);
	rq.value = many(PKV_MAX_VALUE);
	expect(&rq, PKV_S_OK);
	rq = keys_req();
	rq.value = many(PKV_MAX_KEY);
	expect(&rq, PKV_S_OK);
}
END_TEST

START_TEST(decode_gives_zero_timeout_the_default)
{
	struct shm_request rq = get_req();
	rq.timeout_ms = 0;
	rq.flags = PKV_SHM_F_NO_QUORUM_RETRY;
	struct ringreq q = expect(&rq, PKV_S_OK);
	ck_assert_uint_eq(q.timeout_ms, PKV_SHM_DEFAULT_TIMEOUT_MS);
	ck_assert(q.retry);
}
END_TEST

START_TEST(decode_resolves_every_binding)
{
	struct shm_request rq = put_req();
	rq.flags = PKV_SHM_F_BIND_PID;
	rq.bind_pid = 4242;
	rq.node = str("node2");
	rq.dep_key = str("other");
	rq.until = 1700000000000ull;
	rq.has_bindings = true;
	struct ringreq q = expect(&rq, PKV_S_OK);
	ck_assert(q.bound);
	ck_assert_uint_eq(q.bind.mask, PKV_BIND_PID | PKV_BIND_NODE | PKV_BIND_KEY | PKV_BIND_UNTIL);
	ck_assert_int_eq(q.bind.pid, 4242);
	ck_assert_uint_eq(q.bind.start_time, 0); /* the caller's to read */
	ck_assert_uint_eq(q.bind.node, 2);
	ck_assert_ptr_eq(q.bind.key.p, rq.dep_key.p);
	ck_assert_uint_eq(q.bind.key.len, 5);
	ck_assert_uint_eq(q.bind.until, 1700000000000ull);
}
END_TEST

START_TEST(decode_rejects_unknown_op)
{
	static const uint8_t ops[] = {0, 1, 5, 6, 0xff};
	for (unsigned i = 0; i < sizeof(ops); i++) {
		struct shm_request rq = put_req();
		rq.op = ops[i];
		expect(&rq, PKV_S_BAD_REQUEST);
	}
}
END_TEST

START_TEST(decode_rejects_unknown_flag)
{
	struct shm_request rq = put_req();
	rq.flags = 1u << 2;
	expect(&rq, PKV_S_BAD_REQUEST);
	rq.flags = 0x80;
	expect(&rq, PKV_S_BAD_REQUEST);
}
END_TEST

START_TEST(decode_rejects_oversized_key)
{
	struct shm_request rq = put_req();
	rq.key = many(PKV_MAX_KEY + 1);
	expect(&rq, PKV_S_TOO_LARGE);
	rq = get_req();
	rq.key = many(PKV_MAX_KEY + 1);
	expect(&rq, PKV_S_TOO_LARGE);
}
END_TEST

START_TEST(decode_rejects_oversized_value)
{
	struct shm_request rq = put_req();
	rq.value = many(PKV_MAX_VALUE + 1);
	expect(&rq, PKV_S_TOO_LARGE);
	rq.value = (struct pkv_bytes){big, UINT32_MAX}; /* never read */
	expect(&rq, PKV_S_TOO_LARGE);
}
END_TEST

START_TEST(decode_rejects_oversized_bucket)
{
	struct shm_request rq = put_req();
	rq.bucket = many(PKV_MAX_BUCKET + 1);
	expect(&rq, PKV_S_TOO_LARGE);
}
END_TEST

START_TEST(decode_rejects_keys_cursor_longer_than_a_key)
{
	struct shm_request rq = keys_req();
	rq.value = many(PKV_MAX_KEY + 1);
	expect(&rq, PKV_S_TOO_LARGE);
}
END_TEST

START_TEST(decode_rejects_oversized_dependency_key)
{
	struct shm_request rq = put_req();
	rq.dep_key = many(PKV_MAX_KEY + 1);
	expect(&rq, PKV_S_TOO_LARGE);
}
END_TEST

START_TEST(decode_rejects_empty_bucket_and_key)
{
	struct shm_request rq = put_req();
	rq.bucket = (struct pkv_bytes){0};
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = put_req();
	rq.key = (struct pkv_bytes){0};
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = get_req();
	rq.key = (struct pkv_bytes){0};
	expect(&rq, PKV_S_BAD_REQUEST);
}
END_TEST

/* The daemons' own buckets start with NUL (docs/design.md §5): a client's
 * put, get or listing there is refused, a NUL further in is a byte. */
START_TEST(decode_rejects_reserved_bucket)
{
	static const uint8_t conf[] = {0, 'c', 'o', 'n', 'f'}, inner[] = {'b', 0, 'x'};
	struct shm_request rq = put_req();
	rq.bucket = (struct pkv_bytes){conf, sizeof(conf)};
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = get_req();
	rq.bucket = (struct pkv_bytes){conf, 1};
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = keys_req();
	rq.bucket = (struct pkv_bytes){conf, sizeof(conf)};
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = put_req();
	rq.bucket = (struct pkv_bytes){inner, sizeof(inner)};
	expect(&rq, PKV_S_OK);
}
END_TEST

START_TEST(decode_rejects_length_without_bytes)
{
	struct shm_request rq = put_req();
	rq.value = (struct pkv_bytes){NULL, 3};
	expect(&rq, PKV_S_BAD_REQUEST);
}
END_TEST

START_TEST(decode_rejects_parts_the_op_does_not_take)
{
	struct shm_request rq = get_req();
	rq.value = str("v");
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = get_req();
	rq.until = 5;
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = get_req();
	rq.flags = PKV_SHM_F_BIND_PID;
	rq.bind_pid = 1;
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = keys_req();
	rq.key = str("k");
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = keys_req();
	rq.node = str("node1");
	expect(&rq, PKV_S_BAD_REQUEST);
	rq = keys_req();
	rq.flags = PKV_SHM_F_NO_QUORUM_RETRY;
	expect(&rq, PKV_S_BAD_REQUEST);
}
END_TEST

START_TEST(decode_rejects_pid_binding_that_is_no_process)
{
	static const int32_t pids[] = {0, -2, INT32_MIN};
	for (unsigned i = 0; i < 3; i++) {
		struct shm_request rq = put_req();
		rq.flags = PKV_SHM_F_BIND_PID;
		rq.bind_pid = pids[i];
		expect(&rq, PKV_S_INVALID_VALUE);
	}
}
END_TEST

START_TEST(decode_passes_pid_self_for_the_shell_to_resolve)
{
	/* "The calling process": local.c puts the attach connection's pid in. */
	struct shm_request rq = put_req();
	rq.flags = PKV_SHM_F_BIND_PID;
	rq.bind_pid = PKV_SHM_PID_SELF;
	struct ringreq q = expect(&rq, PKV_S_OK);
	ck_assert(q.bind.mask & PKV_BIND_PID);
	ck_assert_int_eq(q.bind.pid, PKV_SHM_PID_SELF);
}
END_TEST

START_TEST(decode_rejects_unknown_node_binding)
{
	struct shm_request rq = put_req();
	rq.node = str("node4");
	expect(&rq, PKV_S_INVALID_VALUE);
	/* No configuration: no node to bind to. */
	struct ringreq q;
	rq.node = str("node1");
	ck_assert_int_eq(ringreq_decode(&rq, NULL, &q), PKV_S_INVALID_VALUE);
}
END_TEST

START_TEST(decode_rejects_node_name_cut_by_nul)
{
	/* As a C string it would read "node1". */
	static const uint8_t name[] = {'n', 'o', 'd', 'e', '1', 0, 'x'};
	struct shm_request rq = put_req();
	rq.node = (struct pkv_bytes){name, sizeof(name)};
	expect(&rq, PKV_S_INVALID_VALUE);
	rq.node = (struct pkv_bytes){name, 6};
	expect(&rq, PKV_S_INVALID_VALUE);
}
END_TEST

START_TEST(decode_rejects_node_name_over_the_limit)
{
	struct shm_request rq = put_req();
	rq.node = many(PKV_CONFIG_NAME_MAX + 1);
	expect(&rq, PKV_S_INVALID_VALUE);
	rq.node = (struct pkv_bytes){big, UINT32_MAX}; /* never read */
	expect(&rq, PKV_S_INVALID_VALUE);
}
END_TEST

START_TEST(decode_rejects_key_bound_to_itself)
{
	struct shm_request rq = put_req();
	rq.dep_key = str("k");
	expect(&rq, PKV_S_INVALID_VALUE);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ringreq");
	TCase *tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, decode_accepts_plain_put);
	tcase_add_test(tc, decode_accepts_limits_exactly);
	tcase_add_test(tc, decode_gives_zero_timeout_the_default);
	tcase_add_test(tc, decode_resolves_every_binding);
	tcase_add_test(tc, decode_rejects_unknown_op);
	tcase_add_test(tc, decode_rejects_unknown_flag);
	tcase_add_test(tc, decode_rejects_oversized_key);
	tcase_add_test(tc, decode_rejects_oversized_value);
	tcase_add_test(tc, decode_rejects_oversized_bucket);
	tcase_add_test(tc, decode_rejects_reserved_bucket);
	tcase_add_test(tc, decode_rejects_keys_cursor_longer_than_a_key);
	tcase_add_test(tc, decode_rejects_oversized_dependency_key);
	tcase_add_test(tc, decode_rejects_empty_bucket_and_key);
	tcase_add_test(tc, decode_rejects_length_without_bytes);
	tcase_add_test(tc, decode_rejects_parts_the_op_does_not_take);
	tcase_add_test(tc, decode_rejects_pid_binding_that_is_no_process);
	tcase_add_test(tc, decode_passes_pid_self_for_the_shell_to_resolve);
	tcase_add_test(tc, decode_rejects_unknown_node_binding);
	tcase_add_test(tc, decode_rejects_node_name_cut_by_nul);
	tcase_add_test(tc, decode_rejects_node_name_over_the_limit);
	tcase_add_test(tc, decode_rejects_key_bound_to_itself);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

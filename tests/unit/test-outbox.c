// SPDX-License-Identifier: MIT
/* test-outbox.c — the outbox the core queues its messages in (msg.h). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

static struct pkv_msg msg_with(uint8_t *bucket, uint8_t *key, uint8_t *value, uint32_t vlen)
{
	return (struct pkv_msg){
		.type = PKV_MSG_PREPARE,
		.req = 7,
		.gen = 3,
		.bucket = { bucket, (uint32_t)strlen((char *)bucket) },
		.key = { key, (uint32_t)strlen((char *)key) },
		.value = { value, vlen },
	};
}

START_TEST(push_copies_the_byte_strings)
{
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	uint8_t bucket[] = "B", key[] = "k1", value[] = "v1";
	struct pkv_msg m = msg_with(bucket, key, value, 2);
	ck_assert_int_eq(pkv_outbox_push(&ob, 2, &m), 0);
	/* The caller's buffers change right after the push. */
	bucket[0] = 'X';
	key[1] = '9';
	value[0] = 'Z';
	ck_assert_uint_eq(ob.n, 1);
	ck_assert_uint_eq(ob.v[0].to, 2);
	ck_assert_uint_eq(ob.v[0].msg.req, 7);
	ck_assert_uint_eq(ob.v[0].msg.gen, 3);
	ck_assert_mem_eq(ob.v[0].msg.bucket.p, "B", 1);
	ck_assert_mem_eq(ob.v[0].msg.key.p, "k1", 2);
	ck_assert_mem_eq(ob.v[0].msg.value.p, "v1", 2);
	ck_assert_ptr_ne(ob.v[0].msg.key.p, key);
	pkv_outbox_free(&ob);
}
END_TEST

START_TEST(empty_strings_are_null_and_entries_keep_their_order)
{
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	uint8_t bucket[] = "B", key[] = "k";
	for (uint32_t i = 0; i < 1000; i++) {
		struct pkv_msg m = msg_with(bucket, key, NULL, 0);
		m.req = i;
		ck_assert_int_eq(pkv_outbox_push(&ob, i % 5 ? i % 5 : PKV_TO_ALL, &m), 0);
	}
	ck_assert_uint_eq(ob.n, 1000);
	for (uint32_t i = 0; i < 1000; i++) {
		ck_assert_uint_eq(ob.v[i].msg.req, i);
		ck_assert_uint_eq(ob.v[i].to, i % 5 ? i % 5 : PKV_TO_ALL);
		ck_assert_ptr_null(ob.v[i].msg.value.p);
		ck_assert_uint_eq(ob.v[i].msg.value.len, 0);
	}
	pkv_outbox_free(&ob);
}
END_TEST

START_TEST(values_larger_than_a_chunk_survive_reset_and_reuse)
{
	struct pkv_outbox ob;
	pkv_outbox_init(&ob);
	size_t big = 200000;
	uint8_t *v = malloc(big);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < big; i++)
		v[i] = (uint8_t)(i * 31);
	uint8_t bucket[] = "B", key[] = "k";
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			struct pkv_msg m = msg_with(bucket, key, v, (uint32_t)big);
			ck_assert_int_eq(pkv_outbox_push(&ob, 1, &m), 0);
			struct pkv_msg small = msg_with(bucket, key, v, 16);
			ck_assert_int_eq(pkv_outbox_push(&ob, 1, &small), 0);
		}
		ck_assert_uint_eq(ob.n, 8);
		for (size_t i = 0; i < ob.n; i += 2)
			ck_assert_mem_eq(ob.v[i].msg.value.p, v, big);
		for (size_t i = 1; i < ob.n; i += 2)
			ck_assert_mem_eq(ob.v[i].msg.value.p, v, 16);
		pkv_outbox_reset(&ob);
		ck_assert_uint_eq(ob.n, 0);
	}
	free(v);
	pkv_outbox_free(&ob);
	ck_assert_ptr_null(ob.v);
	ck_assert_ptr_null(ob.chunks);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("outbox");
	TCase *tc = tcase_create("outbox");
	tcase_add_test(tc, push_copies_the_byte_strings);
	tcase_add_test(tc, empty_strings_are_null_and_entries_keep_their_order);
	tcase_add_test(tc, values_larger_than_a_chunk_survive_reset_and_reuse);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

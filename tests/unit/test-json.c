// SPDX-License-Identifier: MIT
/* The tools' JSON writer (tools/json.h): string escaping and structure. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* What `write` (json_write_string, json_write_base64) makes of len bytes at
 * s, as a malloc'd string. */
static char *written(void (*write)(FILE *, const void *, size_t), const void *s, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert_ptr_nonnull(f);
	write(f, s, len);
	fclose(f);
	return buf;
}

#define CHECK_WRITTEN(write, in, want)                                                             \
	do {                                                                                       \
		char *got = written(write, in, sizeof(in) - 1);                                    \
		ck_assert_str_eq(got, want);                                                       \
		free(got);                                                                         \
	} while (0)
#define CHECK_ESCAPE(in, want) CHECK_WRITTEN(json_write_string, in, want)
#define CHECK_BASE64(in, want) CHECK_WRITTEN(json_write_base64, in, want)

START_TEST(test_quote_and_backslash_are_escaped)
{
	CHECK_ESCAPE("a\"b\\c", "\"a\\\"b\\\\c\"");
	CHECK_ESCAPE("", "\"\"");
	CHECK_ESCAPE("/", "\"/\"");
}
END_TEST

START_TEST(test_control_bytes_are_u00xx)
{
	CHECK_ESCAPE("\n", "\"\\u000a\"");
	CHECK_ESCAPE("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	CHECK_ESCAPE("a\0b", "\"a\\u0000b\"");
	CHECK_ESCAPE("\t\r", "\"\\u0009\\u000d\"");
}
END_TEST

START_TEST(test_valid_utf8_passes_as_it_is)
{
	CHECK_ESCAPE("caf\xc3\xa9", "\"caf\xc3\xa9\"");
	CHECK_ESCAPE("\xe2\x82\xac", "\"\xe2\x82\xac\"");         /* U+20AC */
	CHECK_ESCAPE("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""); /* U+1F600 */
	CHECK_ESCAPE("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
}
END_TEST

START_TEST(test_invalid_utf8_in_text_is_replaced)
{
	CHECK_ESCAPE("\xff", "\"\\ufffd\"");
	CHECK_ESCAPE("a\x80z", "\"a\\ufffdz\"");		   /* lone continuation byte */
	CHECK_ESCAPE("\xc3", "\"\\ufffd\"");			   /* truncated sequence */
	CHECK_ESCAPE("\xc3(", "\"\\ufffd(\"");			   /* bad continuation */
	CHECK_ESCAPE("\xc0\xaf", "\"\\ufffd\\ufffd\"");		   /* overlong '/' */
	CHECK_ESCAPE("\xed\xb3\xbf", "\"\\ufffd\\ufffd\\ufffd\""); /* U+DCFF: a surrogate */
	CHECK_ESCAPE("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* > U+10FFFF */
}
END_TEST

START_TEST(test_utf8_validity_of_whole_strings)
{
	ck_assert(json_utf8_valid("", 0));
	ck_assert(json_utf8_valid("a\0b\x01\x7f", 5)); /* NUL and control bytes are UTF-8 */
	ck_assert(json_utf8_valid("caf\xc3\xa9\xf0\x9f\x98\x80", 9));
	ck_assert(!json_utf8_valid("\xff\xfe", 2));
	ck_assert(!json_utf8_valid("ok\xc3", 3));	/* truncated at the end */
	ck_assert(!json_utf8_valid("\xed\xa0\x80", 3)); /* U+D800 */
	ck_assert(!json_utf8_valid("\xe0\x80\xaf", 3)); /* overlong */
}
END_TEST

/* RFC 4648, section 10's test vectors, and bytes of every value. */
START_TEST(test_base64_is_rfc4648_with_padding)
{
	CHECK_BASE64("", "\"\"");
	CHECK_BASE64("f", "\"Zg==\"");
	CHECK_BASE64("fo", "\"Zm8=\"");
	CHECK_BASE64("foo", "\"Zm9v\"");
	CHECK_BASE64("foob", "\"Zm9vYg==\"");
	CHECK_BASE64("fooba", "\"Zm9vYmE=\"");
	CHECK_BASE64("foobar", "\"Zm9vYmFy\"");
	CHECK_BASE64("\xff\xfe", "\"//4=\"");
	CHECK_BASE64("\0\xfb\xff", "\"APv/\"");
}
END_TEST

/* The member's name says how its bytes are written. */
START_TEST(test_bytes_member_is_named_base64_only_when_not_utf8)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	struct json j;
	json_init(&j, f);
	json_obj_begin(&j);
	json_field_bytes(&j, "key", "a\0b", 3);
	json_field_bytes(&j, "value", "\xff\xfe", 2);
	json_field_bytes(&j, "bucket", "caf\xc3\xa9", 5);
	json_key(&j, "n");
	json_u64(&j, 1);
	json_obj_end(&j);
	json_end(&j);
	json_write_bytes_member(f, "bucket", "\x80", 1);
	fputc(' ', f);
	json_write_bytes_member(f, "bucket", "b", 1);
	fclose(f);
	ck_assert_str_eq(buf, "{\"key\":\"a\\u0000b\",\"value_base64\":\"//4=\","
			      "\"bucket\":\"caf\xc3\xa9\",\"n\":1}\n"
			      "\"bucket_base64\": \"gA==\" \"bucket\": \"b\"");
	free(buf);
}
END_TEST

START_TEST(test_objects_and_arrays_have_commas_between_members)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	struct json j;
	json_init(&j, f);
	json_obj_begin(&j);
	json_key(&j, "a");
	json_u64(&j, 18446744073709551615u);
	json_key(&j, "b");
	json_arr_begin(&j);
	json_cstr(&j, "x");
	json_i64(&j, -3);
	json_bool(&j, true);
	json_null(&j);
	json_arr_begin(&j);
	json_arr_end(&j);
	json_obj_begin(&j);
	json_obj_end(&j);
	json_arr_end(&j);
	json_key(&j, "c");
	json_number(&j, "7");
	json_key(&j, "d\n");
	json_bool(&j, false);
	json_obj_end(&j);
	json_end(&j);
	fclose(f);
	ck_assert_str_eq(buf, "{\"a\":18446744073709551615,\"b\":[\"x\",-3,true,null,[],{}],"
			      "\"c\":7,\"d\\u000a\":false}\n");
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("writer");
	tcase_add_test(tc, test_quote_and_backslash_are_escaped);
	tcase_add_test(tc, test_control_bytes_are_u00xx);
	tcase_add_test(tc, test_valid_utf8_passes_as_it_is);
	tcase_add_test(tc, test_invalid_utf8_in_text_is_replaced);
	tcase_add_test(tc, test_utf8_validity_of_whole_strings);
	tcase_add_test(tc, test_base64_is_rfc4648_with_padding);
	tcase_add_test(tc, test_bytes_member_is_named_base64_only_when_not_utf8);
	tcase_add_test(tc, test_objects_and_arrays_have_commas_between_members);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

// SPDX-License-Identifier: MIT
/*
 * pkv's forms of the daemon's reports (tools/pkv-report.c): report lines of
 * every shape to JSON, and to OpenMetrics samples grouped under their # TYPE.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pkv-report.h"

static char *as_json(const char *text)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert_ptr_nonnull(f);
	struct json j;
	json_init(&j, f);
	json_obj_begin(&j);
	report_json(&j, text);
	json_obj_end(&j);
	fclose(f);
	return buf;
}

static char *as_openmetrics(const char *cluster, const char *stats)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	ck_assert_ptr_nonnull(f);
	report_openmetrics(f, cluster, stats);
	fclose(f);
	return buf;
}

#define CHECK_JSON(text, want)                                                                     \
	do {                                                                                       \
		char *got = as_json(text);                                                         \
		ck_assert_str_eq(got, want);                                                       \
		free(got);                                                                         \
	} while (0)

START_TEST(test_words_become_numbers_booleans_null_and_strings)
{
	CHECK_JSON("cluster_size: 3\nquorum: yes\nsynced: no\nnode: node1\n",
		   "{\"cluster_size\":3,\"quorum\":true,\"synced\":false,\"node\":\"node1\"}");
	/* JSON has no '+' and no leading zeros */
	CHECK_JSON("sessions: a=+5 b=-0 c=007 d=-012 e=never\n",
		   "{\"sessions\":{\"a\":5,\"b\":0,\"c\":7,\"d\":-12,\"e\":null}}");
}
END_TEST

START_TEST(test_a_note_goes_beside_its_value)
{
	CHECK_JSON("voter: no (does not vote)\nconfiguration: 2 (catching up: answers nothing)\n",
		   "{\"voter\":false,\"voter_note\":\"does not vote\",\"configuration\":2,"
		   "\"configuration_note\":\"catching up: answers nothing\"}");
	/* lease is an object in every state, so its type never changes */
	CHECK_JSON("lease: yes left_ms=250\n", "{\"lease\":{\"value\":true,\"left_ms\":250}}");
	CHECK_JSON("lease: no (cached reads answer no quorum)\n",
		   "{\"lease\":{\"value\":false,\"note\":\"cached reads answer no quorum\"}}");
}
END_TEST

START_TEST(test_lists_and_repeated_lines_become_arrays)
{
	CHECK_JSON("nodes: a c b(1)\nconnected:\npeer: b state=up\nx: 1\npeer: c state=down\n",
		   "{\"nodes\":[\"a\",\"c\",\"b(1)\"],\"connected\":[],"
		   "\"peer\":[{\"name\":\"b\",\"state\":\"up\"},{\"name\":\"c\",\"state\":\"down\"}],"
		   "\"x\":1}");
}
END_TEST

START_TEST(test_a_bucket_named_like_a_field_keeps_its_name)
{
	CHECK_JSON("bucket: keys=5 keys=1 puts=2\n",
		   "{\"bucket\":[{\"name\":\"keys=5\",\"keys\":1,\"puts\":2}]}");
}
END_TEST

START_TEST(test_openmetrics_groups_each_family_under_one_type_line)
{
	char *got = as_openmetrics("quorum: yes\nconnected: n1 n2 n3\npeer: n2 state=up rtt_us=7\n"
				   "peer: n3 state=down last_heard_ms=never rtt_us=0\n"
				   "rejected: replay=2 bad_auth=0\n",
				   "paxos: puts=4 keys=2\nbucket: a\"b keys=1 puts=3\nbucket: c keys=0 puts=1\n");
	ck_assert_str_eq(got, "# TYPE paxoskv_quorum gauge\n"
			      "paxoskv_quorum 1\n"
			      "# TYPE paxoskv_connected_peers gauge\n"
			      "paxoskv_connected_peers 2\n"
			      "# TYPE paxoskv_peer_up gauge\n"
			      "paxoskv_peer_up{peer=\"n2\"} 1\n"
			      "paxoskv_peer_up{peer=\"n3\"} 0\n"
			      "# TYPE paxoskv_peer_rtt_us gauge\n"
			      "paxoskv_peer_rtt_us{peer=\"n2\"} 7\n"
			      "paxoskv_peer_rtt_us{peer=\"n3\"} 0\n"
			      "# TYPE paxoskv_rejected counter\n"
			      "paxoskv_rejected_total{reason=\"replay\"} 2\n"
			      "paxoskv_rejected_total{reason=\"bad_auth\"} 0\n"
			      "# TYPE paxoskv_paxos_puts counter\n"
			      "paxoskv_paxos_puts_total 4\n"
			      "# TYPE paxoskv_paxos_keys gauge\n"
			      "paxoskv_paxos_keys 2\n"
			      "# TYPE paxoskv_bucket_keys gauge\n"
			      "paxoskv_bucket_keys{bucket=\"a\\\"b\"} 1\n"
			      "paxoskv_bucket_keys{bucket=\"c\"} 0\n"
			      "# TYPE paxoskv_bucket_puts counter\n"
			      "paxoskv_bucket_puts_total{bucket=\"a\\\"b\"} 3\n"
			      "paxoskv_bucket_puts_total{bucket=\"c\"} 1\n"
			      "# EOF\n");
	free(got);
}
END_TEST

START_TEST(test_openmetrics_latency_line_is_a_cumulative_histogram)
{
	char *got = as_openmetrics(NULL, "latency: sync n=3 sum_us=1500007 p50_us=6 p99_us=9 b2=2 b20=1\n");
	/* le = 2^(i+1) µs; every bucket, cumulative; +Inf, count and sum (s) */
	ck_assert_ptr_nonnull(strstr(got, "# TYPE paxoskv_latency_sync_seconds histogram\n"
					  "paxoskv_latency_sync_seconds_bucket{le=\"2e-06\"} 0\n"
					  "paxoskv_latency_sync_seconds_bucket{le=\"4e-06\"} 0\n"
					  "paxoskv_latency_sync_seconds_bucket{le=\"8e-06\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(got, "paxoskv_latency_sync_seconds_bucket{le=\"1.04858\"} 2\n"
					  "paxoskv_latency_sync_seconds_bucket{le=\"2.09715\"} 3\n"));
	ck_assert_ptr_nonnull(strstr(got, "paxoskv_latency_sync_seconds_bucket{le=\"+Inf\"} 3\n"
					  "paxoskv_latency_sync_seconds_count 3\n"
					  "paxoskv_latency_sync_seconds_sum 1.500007\n# EOF\n"));
	ck_assert_ptr_null(strstr(got, "_total"));
	free(got);
	/* JSON: one object a histogram, named */
	char *j = as_json("latency: put n=1 sum_us=5 p50_us=5 p99_us=5 b2=1\n"
			  "latency: sync n=0 sum_us=0 p50_us=0 p99_us=0\n");
	ck_assert_ptr_nonnull(strstr(j, "\"latency\":[{\"name\":\"put\""));
	ck_assert_ptr_nonnull(strstr(j, "{\"name\":\"sync\""));
	free(j);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("forms");
	tcase_add_test(tc, test_words_become_numbers_booleans_null_and_strings);
	tcase_add_test(tc, test_a_note_goes_beside_its_value);
	tcase_add_test(tc, test_lists_and_repeated_lines_become_arrays);
	tcase_add_test(tc, test_a_bucket_named_like_a_field_keeps_its_name);
	tcase_add_test(tc, test_openmetrics_groups_each_family_under_one_type_line);
	tcase_add_test(tc, test_openmetrics_latency_line_is_a_cumulative_histogram);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

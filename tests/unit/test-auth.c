// SPDX-License-Identifier: MIT
/* Unit tests of auth.c: seal/open, the nonce, the key file, the cluster id. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"

static char tmpdir[256];
static char path[300];

static void setup(void)
{
	const char *base = getenv("TMPDIR");

	ck_assert_int_ge(sodium_init(), 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/pkv-test-auth.XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/cluster.key", tmpdir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(tmpdir);
}

static void write_file(const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static const char hex_key[] = "000102030405060708090a0b0c0d0e0f"
			      "101112131415161718191a1b1c1d1e1f";

static void assert_counting_key(const struct auth_key *k)
{
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		ck_assert_uint_eq(k->k[i], i);
}

/* ---- key file ---------------------------------------------------------- */

static void assert_refused_for_mode(mode_t mode, const char *mode_str)
{
	struct auth_key k;
	char err[512], want[400];

	write_file(hex_key, 64, mode);
	memset(&k, 0xaa, sizeof(k));
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, "readable by group or others") != NULL, "err: %s", err);
	snprintf(want, sizeof(want), "(mode %s)", mode_str);
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	snprintf(want, sizeof(want), "chmod 600 %s", path);
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	/* Nothing of the key leaks out on refusal. */
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		ck_assert_uint_eq(k.k[i], 0);
}

START_TEST(key_load_refuses_world_readable_file)
{
	assert_refused_for_mode(0644, "0644");
}
END_TEST

START_TEST(key_load_refuses_group_readable_file)
{
	assert_refused_for_mode(0640, "0640");
}
END_TEST

START_TEST(key_load_refuses_other_writable_file)
{
	assert_refused_for_mode(0602, "0602");
}
END_TEST

START_TEST(key_load_accepts_mode_0600_hex_with_newline)
{
	struct auth_key k;
	char err[256] = "";
	char text[70];

	snprintf(text, sizeof(text), "%s\n", hex_key);
	write_file(text, 65, 0600);
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), 0);
	assert_counting_key(&k);
}
END_TEST

START_TEST(key_load_accepts_mode_0400_hex_without_newline)
{
	struct auth_key k;
	char err[256] = "";

	write_file(hex_key, 64, 0400);
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), 0);
	assert_counting_key(&k);
}
END_TEST

START_TEST(key_load_accepts_32_raw_bytes)
{
	struct auth_key k;
	uint8_t raw[AUTH_KEY_BYTES];
	char err[256] = "";

	for (unsigned i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)i;
	write_file(raw, sizeof(raw), 0600);
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), 0);
	assert_counting_key(&k);
}
END_TEST

START_TEST(key_load_rejects_wrong_length_or_format)
{
	static const struct {
		const char *data;
		size_t len;
	} bad[] = {
	    {"", 0},
	    {"0123456789abcdef0123456789abcde", 31}, /* 31 raw bytes */
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", 63},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0", 65},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n", 66},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", 64},
	    {"000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1", 64},
	    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f000102030405"
	     "060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	     128},
	};
	char err[512];
	struct auth_key k;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad[i].data, bad[i].len, 0600);
		err[0] = 0;
		ck_assert_msg(auth_key_load(&k, path, err, sizeof(err)) == -EINVAL, "case %u", i);
		ck_assert_msg(strstr(err, "is not a key") != NULL, "case %u: %s", i, err);
	}
}
END_TEST

START_TEST(key_load_reports_missing_file)
{
	struct auth_key k;
	char err[512] = "";

	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, path));
}
END_TEST

START_TEST(key_load_refuses_directory)
{
	struct auth_key k;
	char err[512] = "";

	ck_assert_int_eq(chmod(tmpdir, 0700), 0);
	ck_assert_int_eq(auth_key_load(&k, tmpdir, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

START_TEST(key_generate_writes_loadable_0600_hex_file)
{
	struct auth_key k1, k2;
	struct stat st;
	char err[512] = "";
	char text[80];
	int fd;
	ssize_t n;

	ck_assert_int_eq(auth_key_generate_file(path, false, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, text, sizeof(text));
	close(fd);
	ck_assert_int_eq(n, 65);
	ck_assert_int_eq(text[64], '\n');
	for (int i = 0; i < 64; i++)
		ck_assert_ptr_nonnull(strchr("0123456789abcdef", text[i]));
	ck_assert_int_eq(auth_key_load(&k1, path, err, sizeof(err)), 0);

	/* A second key is a different key. */
	ck_assert_int_eq(auth_key_generate_file(path, true, err, sizeof(err)), 0);
	ck_assert_int_eq(auth_key_load(&k2, path, err, sizeof(err)), 0);
	ck_assert_int_ne(memcmp(&k1, &k2, sizeof(k1)), 0);
}
END_TEST

START_TEST(key_generate_refuses_to_overwrite_without_force)
{
	struct auth_key k;
	char err[512] = "";

	write_file(hex_key, 64, 0600);
	ck_assert_int_eq(auth_key_generate_file(path, false, err, sizeof(err)), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err, "already exists"));
	/* The old key is intact. */
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), 0);
	assert_counting_key(&k);
}
END_TEST

START_TEST(key_generate_with_force_resets_mode_to_0600)
{
	struct stat st;
	char err[512] = "";

	write_file(hex_key, 64, 0644);
	ck_assert_int_eq(auth_key_generate_file(path, true, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

/* ---- seal / open ------------------------------------------------------- */

static void fixed_key(struct auth_key *k, uint8_t seed)
{
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		k->k[i] = (uint8_t)(seed + i * 13);
}

START_TEST(nonce_is_sender_salt_incarnation_sequence_little_endian)
{
	static const uint8_t want[AUTH_NONCE_BYTES] = {
	    0x04, 0x03, 0x02, 0x01, 0xdd, 0xcc, 0xbb, 0xaa, 0x08, 0x07, 0x06, 0x05,
	    0x04, 0x03, 0x02, 0x01, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
	};
	uint8_t n[AUTH_NONCE_BYTES];

	auth_nonce(n, 0x01020304u, 0xaabbccddu, 0x0102030405060708ull, 0x1112131415161718ull);
	ck_assert_mem_eq(n, want, sizeof(want));
}
END_TEST

START_TEST(open_accepts_what_seal_made_in_place)
{
	struct auth_key k;
	uint8_t nonce[AUTH_NONCE_BYTES], tag[AUTH_TAG_BYTES];
	uint8_t ad[20], msg[100], buf[100];

	fixed_key(&k, 1);
	auth_nonce(nonce, 2, 3, 4, 5);
	memset(ad, 'a', sizeof(ad));
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	memcpy(buf, msg, sizeof(buf));
	auth_seal(buf, tag, buf, sizeof(buf), ad, sizeof(ad), nonce, &k);
	ck_assert_int_ne(memcmp(buf, msg, sizeof(msg)), 0);
	ck_assert_int_eq(auth_open(buf, buf, sizeof(buf), tag, ad, sizeof(ad), nonce, &k), 0);
	ck_assert_mem_eq(buf, msg, sizeof(msg));
}
END_TEST

START_TEST(open_fails_when_any_nonce_field_differs)
{
	struct auth_key k;
	uint8_t nonce[AUTH_NONCE_BYTES], tag[AUTH_TAG_BYTES];
	uint8_t ad[64];

	fixed_key(&k, 7);
	memset(ad, 'x', sizeof(ad));
	auth_nonce(nonce, 2, 3, 4, 5);
	auth_seal(NULL, tag, NULL, 0, ad, sizeof(ad), nonce, &k);
	ck_assert_int_eq(auth_open(NULL, NULL, 0, tag, ad, sizeof(ad), nonce, &k), 0);

	auth_nonce(nonce, 9, 3, 4, 5);
	ck_assert_int_eq(auth_open(NULL, NULL, 0, tag, ad, sizeof(ad), nonce, &k), -EBADMSG);
	auth_nonce(nonce, 2, 9, 4, 5);
	ck_assert_int_eq(auth_open(NULL, NULL, 0, tag, ad, sizeof(ad), nonce, &k), -EBADMSG);
	auth_nonce(nonce, 2, 3, 9, 5);
	ck_assert_int_eq(auth_open(NULL, NULL, 0, tag, ad, sizeof(ad), nonce, &k), -EBADMSG);
	auth_nonce(nonce, 2, 3, 4, 6);
	ck_assert_int_eq(auth_open(NULL, NULL, 0, tag, ad, sizeof(ad), nonce, &k), -EBADMSG);
}
END_TEST

START_TEST(open_fails_on_any_flipped_bit_or_wrong_key)
{
	struct auth_key k, k2;
	uint8_t nonce[AUTH_NONCE_BYTES], tag[AUTH_TAG_BYTES], tag2[AUTH_TAG_BYTES];
	uint8_t ad[16], c[24], m[24];

	fixed_key(&k, 3);
	fixed_key(&k2, 4);
	auth_nonce(nonce, 1, 1, 1, 1);
	memset(ad, 'h', sizeof(ad));
	memset(m, 'm', sizeof(m));
	auth_seal(c, tag, m, sizeof(m), ad, sizeof(ad), nonce, &k);

	ck_assert_int_eq(auth_open(m, c, sizeof(c), tag, ad, sizeof(ad), nonce, &k2), -EBADMSG);
	for (unsigned bit = 0; bit < 8 * sizeof(ad); bit++) {
		ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(auth_open(m, c, sizeof(c), tag, ad, sizeof(ad), nonce, &k),
				 -EBADMSG);
		ad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (unsigned bit = 0; bit < 8 * sizeof(c); bit++) {
		c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(auth_open(m, c, sizeof(c), tag, ad, sizeof(ad), nonce, &k),
				 -EBADMSG);
		c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (unsigned bit = 0; bit < 8 * sizeof(tag); bit++) {
		memcpy(tag2, tag, sizeof(tag));
		tag2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(auth_open(m, c, sizeof(c), tag2, ad, sizeof(ad), nonce, &k),
				 -EBADMSG);
	}
	ck_assert_int_eq(auth_open(m, c, sizeof(c), tag, ad, sizeof(ad), nonce, &k), 0);
}
END_TEST

START_TEST(key_wipe_zeroes_the_key)
{
	struct auth_key k;

	fixed_key(&k, 5);
	auth_key_wipe(&k);
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		ck_assert_uint_eq(k.k[i], 0);
}
END_TEST

/* ---- cluster id -------------------------------------------------------- */

/*
 * BLAKE2b-128 of "paxoskv cluster id v1\0paxoskv", first 8 bytes
 * little-endian, computed independently (Python's hashlib.blake2b).
 */
#define CLUSTER_ID_PAXOSKV 0xd8ddd3d21712f366ull

START_TEST(cluster_id_is_stable_and_tells_names_apart)
{
	ck_assert_uint_eq(auth_cluster_id("prod"), auth_cluster_id("prod"));
	ck_assert_uint_ne(auth_cluster_id("prod"), auth_cluster_id("prod2"));
	ck_assert_uint_ne(auth_cluster_id("prod"), auth_cluster_id("Prod"));
	ck_assert_uint_ne(auth_cluster_id(""), auth_cluster_id("a"));
	/* Pinned: every daemon of a cluster, of any build, must agree on it. */
	ck_assert_uint_eq(auth_cluster_id("paxoskv"), CLUSTER_ID_PAXOSKV);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("keyfile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, key_load_refuses_world_readable_file);
	tcase_add_test(tc, key_load_refuses_group_readable_file);
	tcase_add_test(tc, key_load_refuses_other_writable_file);
	tcase_add_test(tc, key_load_accepts_mode_0600_hex_with_newline);
	tcase_add_test(tc, key_load_accepts_mode_0400_hex_without_newline);
	tcase_add_test(tc, key_load_accepts_32_raw_bytes);
	tcase_add_test(tc, key_load_rejects_wrong_length_or_format);
	tcase_add_test(tc, key_load_reports_missing_file);
	tcase_add_test(tc, key_load_refuses_directory);
	tcase_add_test(tc, key_generate_writes_loadable_0600_hex_file);
	tcase_add_test(tc, key_generate_refuses_to_overwrite_without_force);
	tcase_add_test(tc, key_generate_with_force_resets_mode_to_0600);
	suite_add_tcase(s, tc);

	tc = tcase_create("aead");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, nonce_is_sender_salt_incarnation_sequence_little_endian);
	tcase_add_test(tc, open_accepts_what_seal_made_in_place);
	tcase_add_test(tc, open_fails_when_any_nonce_field_differs);
	tcase_add_test(tc, open_fails_on_any_flipped_bit_or_wrong_key);
	tcase_add_test(tc, key_wipe_zeroes_the_key);
	tcase_add_test(tc, cluster_id_is_stable_and_tells_names_apart);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

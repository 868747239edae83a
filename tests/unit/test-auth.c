// SPDX-License-Identifier: MIT
/* Unit tests of auth.c: seal/open, the nonce, the key file, the cluster id. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"

static void fixed_key(struct auth_key *k, uint8_t seed);

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

	ck_assert_int_eq(auth_key_generate_file(path, false, NULL, err, sizeof(err)), 0);
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
	ck_assert_int_eq(auth_key_generate_file(path, true, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(auth_key_load(&k2, path, err, sizeof(err)), 0);
	ck_assert_int_ne(memcmp(&k1, &k2, sizeof(k1)), 0);
}
END_TEST

START_TEST(key_generate_refuses_to_overwrite_without_force)
{
	struct auth_key k;
	char err[512] = "";

	write_file(hex_key, 64, 0600);
	ck_assert_int_eq(auth_key_generate_file(path, false, NULL, err, sizeof(err)), -EEXIST);
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
	ck_assert_int_eq(auth_key_generate_file(path, true, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(key_generate_with_force_keeps_a_hard_link_to_the_old_key)
{
	char linkpath[320], err[512] = "";
	struct auth_key k, newk;

	write_file(hex_key, 64, 0600);
	snprintf(linkpath, sizeof(linkpath), "%s/other-name.key", tmpdir);
	ck_assert_int_eq(link(path, linkpath), 0);
	ck_assert_int_eq(auth_key_generate_file(path, true, &newk, err, sizeof(err)), 0);
	/* The link still holds the old key: nothing was written through it. */
	ck_assert_int_eq(auth_key_load(&k, linkpath, err, sizeof(err)), 0);
	assert_counting_key(&k);
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), 0);
	ck_assert_mem_eq(k.k, newk.k, AUTH_KEY_BYTES);
	unlink(linkpath);
}
END_TEST

START_TEST(key_generate_failure_leaves_the_target_and_no_temporary)
{
	char err[512] = "", target[320], inside[340];
	struct auth_key k;
	DIR *d;
	struct dirent *e;
	unsigned entries = 0;

	/* The rename fails: the target is a directory with the old key in it. */
	snprintf(target, sizeof(target), "%s/keydir", tmpdir);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	snprintf(inside, sizeof(inside), "%s/cluster.key", target);
	write_file(hex_key, 64, 0600);
	ck_assert_int_eq(rename(path, inside), 0);
	ck_assert_int_lt(auth_key_generate_file(target, true, NULL, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "cannot replace") != NULL, "err: %s", err);
	ck_assert_int_eq(auth_key_load(&k, inside, err, sizeof(err)), 0);
	assert_counting_key(&k);
	d = opendir(tmpdir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		entries += e->d_name[0] != '.';
	closedir(d);
	ck_assert_uint_eq(entries, 1); /* keydir alone */
	unlink(inside);
	rmdir(target);
}
END_TEST

START_TEST(key_load_refuses_a_file_of_another_owner)
{
	struct auth_key k;
	char err[512];

	if (geteuid() != 0)
		return; /* only root can give a file away */
	write_file(hex_key, 64, 0600);
	ck_assert_int_eq(chown(path, 4242, (gid_t)-1), 0);
	ck_assert_int_eq(auth_key_load(&k, path, err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, "owned by uid 4242") != NULL, "err: %s", err);
}
END_TEST

START_TEST(run_dir_check_refuses_group_writable_and_other_owners)
{
	char err[512];

	ck_assert_int_eq(auth_check_dir(tmpdir, err, sizeof(err)), 0);
	ck_assert_int_eq(chmod(tmpdir, 0770), 0);
	ck_assert_int_eq(auth_check_dir(tmpdir, err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, "chmod go-w") != NULL, "err: %s", err);
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	ck_assert_int_eq(auth_check_dir(tmpdir, err, sizeof(err)), 0);
	write_file(hex_key, 64, 0600);
	ck_assert_int_eq(auth_check_dir(path, err, sizeof(err)), -ENOTDIR);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(tmpdir, 4242, (gid_t)-1), 0);
		ck_assert_int_eq(auth_check_dir(tmpdir, err, sizeof(err)), -EACCES);
		ck_assert_msg(strstr(err, "owned by uid 4242") != NULL, "err: %s", err);
		ck_assert_int_eq(chown(tmpdir, 0, (gid_t)-1), 0);
	}
}
END_TEST

START_TEST(node_keys_from_one_cluster_key_differ_by_name_and_agree_in_dh)
{
	struct auth_key ck, s1, s2;
	uint8_t p1[AUTH_PK_BYTES], k1[AUTH_SK_BYTES], p2[AUTH_PK_BYTES], k2[AUTH_SK_BYTES];
	uint8_t d1[AUTH_DH_BYTES], d2[AUTH_DH_BYTES];

	fixed_key(&ck, 3);
	auth_node_seed_from_cluster_key(&s1, &ck, "node1");
	auth_node_seed_from_cluster_key(&s2, &ck, "node2");
	ck_assert_int_ne(memcmp(s1.k, s2.k, AUTH_KEY_BYTES), 0);
	auth_node_keypair(p1, k1, &s1);
	auth_node_keypair(p2, k2, &s2);
	ck_assert_int_eq(auth_dh(d1, true, p1, k1, p2), 0);
	ck_assert_int_eq(auth_dh(d2, false, p2, k2, p1), 0);
	ck_assert_mem_eq(d1, d2, AUTH_DH_BYTES);
	/* The other way round is another term. */
	ck_assert_int_eq(auth_dh(d2, true, p2, k2, p1), 0);
	ck_assert_int_ne(memcmp(d1, d2, AUTH_DH_BYTES), 0);
	memset(p2, 0, sizeof(p2));
	ck_assert_int_eq(auth_dh(d1, true, p1, k1, p2), -EINVAL);
}
END_TEST

/* ---- seal / open ------------------------------------------------------- */

static void fixed_key(struct auth_key *k, uint8_t seed)
{
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		k->k[i] = (uint8_t)(seed + i * 13);
}

/* Distinct nonces from four numbers (the wire's layout is wire.c's). */
static void auth_nonce(uint8_t n[AUTH_NONCE_BYTES], uint32_t a, uint32_t b, uint64_t c,
		       uint64_t d)
{
	memset(n, 0, AUTH_NONCE_BYTES);
	memcpy(n, &a, 4);
	memcpy(n + 4, &b, 4);
	memcpy(n + 8, &c, 8);
	memcpy(n + 16, &d, 8);
}

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

/* The nonce's random bytes come through the vDSO wherever the kernel offers
 * its getrandom there (Linux 6.11 and later): no system call per datagram. */
START_TEST(random_draws_through_the_vdso_when_the_kernel_offers_it)
{
	void *h = dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_NOLOAD);
	bool offered = h && dlsym(h, "__vdso_getrandom");
	uint8_t a[16] = {0}, b[16] = {0};

	ck_assert_int_eq(auth_random_is_vdso(), offered);
	auth_random(a, sizeof(a));
	auth_random(b, sizeof(b));
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

/*
 * A forked child (as a snapshot restored twice) must not draw what its
 * parent draws next: a generator whose state lives in the process's own
 * memory would hand both the same bytes, and two datagrams the same nonce.
 */
START_TEST(random_after_fork_differs_between_parent_and_child)
{
	uint8_t first[32], parent[32], child[32];
	int fds[2];
	pid_t pid;
	int status;

	auth_random(first, sizeof(first)); /* the state exists before the fork */
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		auth_random(child, sizeof(child));
		_exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	auth_random(parent, sizeof(parent));
	ck_assert_int_eq(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(memcmp(parent, child, sizeof(parent)) != 0);
	ck_assert(memcmp(first, parent, sizeof(parent)) != 0);
	close(fds[0]);
	close(fds[1]);
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
	tcase_add_test(tc, key_generate_with_force_keeps_a_hard_link_to_the_old_key);
	tcase_add_test(tc, key_generate_failure_leaves_the_target_and_no_temporary);
	tcase_add_test(tc, key_load_refuses_a_file_of_another_owner);
	tcase_add_test(tc, run_dir_check_refuses_group_writable_and_other_owners);
	tcase_add_test(tc, node_keys_from_one_cluster_key_differ_by_name_and_agree_in_dh);
	suite_add_tcase(s, tc);

	tc = tcase_create("aead");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, open_accepts_what_seal_made_in_place);
	tcase_add_test(tc, open_fails_when_any_nonce_field_differs);
	tcase_add_test(tc, open_fails_on_any_flipped_bit_or_wrong_key);
	tcase_add_test(tc, key_wipe_zeroes_the_key);
	tcase_add_test(tc, cluster_id_is_stable_and_tells_names_apart);
	tcase_add_test(tc, random_draws_through_the_vdso_when_the_kernel_offers_it);
	tcase_add_test(tc, random_after_fork_differs_between_parent_and_child);
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

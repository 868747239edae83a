// SPDX-License-Identifier: MIT
/*
 * auth.c — node keys and the handshake's primitives (crypto_kx, BLAKE2b),
 * seal/open over XChaCha20-Poly1305-IETF, the key file and the cluster id.
 * See auth.h for the scheme and the nonce argument.
 */
#include "auth.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

_Static_assert(AUTH_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(AUTH_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(AUTH_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");

_Static_assert(AUTH_PK_BYTES == crypto_kx_PUBLICKEYBYTES, "public key size");
_Static_assert(AUTH_SK_BYTES == crypto_kx_SECRETKEYBYTES, "secret key size");
_Static_assert(AUTH_KEY_BYTES == crypto_kx_SEEDBYTES, "seed size");
_Static_assert(AUTH_DH_BYTES == 2 * crypto_kx_SESSIONKEYBYTES, "dh output");

void auth_node_keypair(uint8_t pk[AUTH_PK_BYTES], uint8_t sk[AUTH_SK_BYTES],
		       const struct auth_key *seed)
{
	(void)crypto_kx_seed_keypair(pk, sk, seed->k);
}

void auth_node_seed_from_cluster_key(struct auth_key *seed, const struct auth_key *cluster_key,
				     const char *name)
{
	static const char domain[] = "paxoskv node seed v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, cluster_key->k, AUTH_KEY_BYTES, AUTH_KEY_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)domain, sizeof(domain));
	crypto_generichash_update(&st, (const uint8_t *)name, strlen(name));
	crypto_generichash_final(&st, seed->k, AUTH_KEY_BYTES);
	sodium_memzero(&st, sizeof(st));
}

void auth_ephemeral(uint8_t pk[AUTH_PK_BYTES], uint8_t sk[AUTH_SK_BYTES])
{
	(void)crypto_kx_keypair(pk, sk);
}

int auth_dh(uint8_t out[AUTH_DH_BYTES], bool initiator, const uint8_t own_pk[AUTH_PK_BYTES],
	    const uint8_t own_sk[AUTH_SK_BYTES], const uint8_t peer_pk[AUTH_PK_BYTES])
{
	const size_t h = crypto_kx_SESSIONKEYBYTES;
	int r;

	/* crypto_kx's client rx is the server's tx and the other way round:
	 * lay both out as (client rx, client tx), the same bytes on both ends. */
	if (initiator)
		r = crypto_kx_client_session_keys(out, out + h, own_pk, own_sk, peer_pk);
	else
		r = crypto_kx_server_session_keys(out + h, out, own_pk, own_sk, peer_pk);
	if (r != 0) {
		sodium_memzero(out, AUTH_DH_BYTES);
		return -EINVAL;
	}
	return 0;
}

void auth_kdf(uint8_t *out, size_t outlen, const char *domain, const struct auth_part *parts,
	      unsigned n)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, outlen);
	crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
	for (unsigned i = 0; i < n; i++)
		crypto_generichash_update(&st, parts[i].p, parts[i].len);
	crypto_generichash_final(&st, out, outlen);
	sodium_memzero(&st, sizeof(st));
}

/*
 * The kernel's random source without a system call: the vDSO's getrandom
 * (Linux 6.11 and later), the same generator as getrandom(2), reseeded as
 * that is and wiped on fork and when a virtual machine is forked or its
 * snapshot restored, so what auth_random promises holds (design §7, the
 * nonce). Each thread has its own state: a page of the kind the vDSO asks
 * for. Where the vDSO has no getrandom, or a call fails, libsodium's
 * randombytes_buf makes the system call.
 */
struct vgetrandom_params {
	uint32_t size_of_opaque_state;
	uint32_t mmap_prot;
	uint32_t mmap_flags;
	uint32_t reserved[13];
};
typedef ssize_t (*vgetrandom_fn)(void *buf, size_t len, unsigned flags, void *state,
				 size_t state_len);

static vgetrandom_fn vgetrandom;
static size_t vgetrandom_state_len;
static struct vgetrandom_params vgetrandom_params;
static pthread_once_t vgetrandom_once = PTHREAD_ONCE_INIT;
static __thread void *vgetrandom_state;
static __thread bool vgetrandom_state_failed;

static void vgetrandom_init(void)
{
	void *h = dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_NOLOAD);
	vgetrandom_fn fn;

	if (!h)
		return;
	fn = (vgetrandom_fn)dlsym(h, "__vdso_getrandom");
	/* The vDSO stays mapped; the handle is not closed (no reference was taken
	 * but one). */
	if (!fn)
		return;
	/* Asked with no buffer and ~0 as the state length, it describes its state. */
	if (fn(NULL, 0, 0, &vgetrandom_params, ~0ul) != 0)
		return;
	if (vgetrandom_params.size_of_opaque_state == 0 ||
	    vgetrandom_params.size_of_opaque_state > (size_t)sysconf(_SC_PAGESIZE))
		return;
	vgetrandom_state_len = vgetrandom_params.size_of_opaque_state;
	vgetrandom = fn;
}

static void *vgetrandom_thread_state(void)
{
	void *m;

	if (vgetrandom_state || vgetrandom_state_failed)
		return vgetrandom_state;
	(void)pthread_once(&vgetrandom_once, vgetrandom_init);
	if (!vgetrandom) {
		vgetrandom_state_failed = true;
		return NULL;
	}
	/* One page: a state must not straddle a page boundary. Never unmapped;
	 * a thread that ends leaves its page (the daemon's threads live as long
	 * as it does). */
	m = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), (int)vgetrandom_params.mmap_prot,
		 (int)vgetrandom_params.mmap_flags, -1, 0);
	if (m == MAP_FAILED) {
		vgetrandom_state_failed = true;
		return NULL;
	}
	vgetrandom_state = m;
	return m;
}

bool auth_random_is_vdso(void)
{
	return vgetrandom_thread_state() != NULL;
}

void auth_random(void *p, size_t n)
{
	void *st = vgetrandom_thread_state();
	uint8_t *b = p;

	while (st && n > 0) {
		ssize_t r = vgetrandom(b, n, 0, st, vgetrandom_state_len);

		if (r <= 0)
			break;
		b += r;
		n -= (size_t)r;
	}
	if (n > 0)
		randombytes_buf(b, n);
}

uint64_t auth_random64(void)
{
	uint64_t v;
	auth_random(&v, sizeof(v));
	return v;
}

bool auth_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

void auth_seal(uint8_t *c, uint8_t tag[AUTH_TAG_BYTES], const uint8_t *m, size_t mlen,
	       const uint8_t *ad, size_t adlen, const uint8_t nonce[AUTH_NONCE_BYTES],
	       const struct auth_key *k)
{
	uint8_t empty;

	/* libsodium declares c non-NULL even when there is nothing to encrypt. */
	if (mlen == 0)
		c = &empty;
	/* Cannot fail for lengths below 2^64 - tag; the return value is 0. */
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt_detached(c, tag, NULL, m, mlen, ad, adlen,
								  NULL, nonce, k->k);
}

int auth_open(uint8_t *m, const uint8_t *c, size_t clen, const uint8_t tag[AUTH_TAG_BYTES],
	      const uint8_t *ad, size_t adlen, const uint8_t nonce[AUTH_NONCE_BYTES],
	      const struct auth_key *k)
{
	static const uint8_t empty;

	/* libsodium declares c non-NULL even when there is nothing to decrypt. */
	if (clen == 0)
		c = &empty;
	/* libsodium verifies the tag (constant time) before decrypting. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(m, NULL, c, clen, tag, ad, adlen,
								nonce, k->k) != 0)
		return -EBADMSG;
	return 0;
}

void auth_key_wipe(struct auth_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* read() until len bytes or EOF; returns the count or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int parse_key(struct auth_key *out, const uint8_t *buf, size_t n)
{
	size_t hexlen = n;
	size_t bin_len = 0;
	const char *end = NULL;

	if (n == AUTH_KEY_BYTES) {
		memcpy(out->k, buf, AUTH_KEY_BYTES);
		return 0;
	}
	if (hexlen == AUTH_KEY_HEX_CHARS + 1 && buf[hexlen - 1] == '\n')
		hexlen--;
	if (hexlen != AUTH_KEY_HEX_CHARS)
		return -EINVAL;
	/* sodium_hex2bin runs in constant time with respect to the digits. */
	if (sodium_hex2bin(out->k, AUTH_KEY_BYTES, (const char *)buf, hexlen, NULL, &bin_len,
			   &end) != 0 ||
	    bin_len != AUTH_KEY_BYTES || end != (const char *)buf + hexlen)
		return -EINVAL;
	return 0;
}

int auth_key_load(struct auth_key *out, const char *path, char *err, size_t errlen)
{
	/* One byte more than the longest valid form, to detect a longer file. */
	uint8_t buf[AUTH_KEY_HEX_CHARS + 2];
	struct stat st;
	ssize_t n;
	int fd, rc;

	sodium_memzero(out, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot open key file %s: %s", path, strerror(-rc));
		return rc;
	}
	/* fstat the open file, not the path, so the checked file is the one read. */
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		set_err(err, errlen, "cannot stat key file %s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		set_err(err, errlen, "key file %s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != geteuid()) {
		rc = -EACCES;
		set_err(err, errlen,
			"key file %s is owned by uid %u, not by this process's uid %u; "
			"fix it with: chown %u %s",
			path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = -EACCES;
		set_err(err, errlen,
			"key file %s is readable by group or others (mode %04o); "
			"fix it with: chmod 600 %s",
			path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	n = read_full(fd, buf, sizeof(buf));
	if (n < 0) {
		rc = (int)n;
		set_err(err, errlen, "cannot read key file %s: %s", path, strerror(-rc));
		goto out;
	}
	rc = parse_key(out, buf, (size_t)n);
	if (rc != 0) {
		sodium_memzero(out, sizeof(*out));
		set_err(err, errlen,
			"key file %s is not a key: expected %u hex digits (and an optional "
			"newline) or %u raw bytes, found %zd%s bytes; make one with pkv-keygen",
			path, AUTH_KEY_HEX_CHARS, AUTH_KEY_BYTES, n,
			(size_t)n == sizeof(buf) ? " or more" : "");
	}
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

static ssize_t write_full(int fd, const uint8_t *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = write(fd, buf + put, len - put);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		put += (size_t)n;
	}
	return (ssize_t)put;
}

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

int auth_key_generate_file(const char *path, bool force, struct auth_key *key_out, char *err,
			   size_t errlen)
{
	uint8_t key[AUTH_KEY_BYTES];
	char hex[AUTH_KEY_HEX_CHARS + 2]; /* digits, newline, NUL */
	char tmp[PATH_MAX], dir[PATH_MAX];
	ssize_t n;
	int fd = -1, rc = 0;

	if (strlen(path) + 16 >= sizeof(tmp)) {
		set_err(err, errlen, "key file path too long: %s", path);
		return -ENAMETOOLONG;
	}
	/* A new file of our own, never an existing one or a link's target. */
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		snprintf(tmp, sizeof(tmp), "%s.tmp%08x", path, (unsigned)randombytes_random());
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
			  0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, "cannot create a temporary file beside %s: %s", path,
			strerror(-rc));
		return rc;
	}
	/* The umask may have made it more restrictive, never more open; still,
	 * set 0600 before any secret reaches the file. */
	if (fchmod(fd, 0600) != 0) {
		rc = -errno;
		set_err(err, errlen, "cannot chmod %s: %s", tmp, strerror(-rc));
		goto out;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	hex[AUTH_KEY_HEX_CHARS] = '\n';
	n = write_full(fd, (const uint8_t *)hex, AUTH_KEY_HEX_CHARS + 1);
	if (n < 0) {
		rc = (int)n;
		set_err(err, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		set_err(err, errlen, "cannot sync %s: %s", tmp, strerror(-rc));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		set_err(err, errlen, "cannot close %s: %s", tmp, strerror(-rc));
		goto out;
	}
	fd = -1;
	/* link() fails on an existing path: no overwrite without force. */
	if (force ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
		rc = -errno;
		if (rc == -EEXIST)
			set_err(err, errlen,
				"key file %s already exists; refusing to overwrite it "
				"(use -f to replace it)",
				path);
		else
			set_err(err, errlen, "cannot %s %s: %s", force ? "replace" : "create", path,
				strerror(-rc));
		goto out;
	}
	if (!force)
		unlink(tmp);
	dir_of(path, dir, sizeof(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) != 0 && errno != EINVAL) {
			rc = -errno;
			set_err(err, errlen, "cannot sync directory %s: %s", dir, strerror(-rc));
		}
		close(dfd);
	}
	if (rc == 0 && key_out)
		memcpy(key_out->k, key, AUTH_KEY_BYTES);
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	if (fd >= 0)
		close(fd);
	/* The temporary file goes on failure; the old key was never touched. */
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int auth_check_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		int rc = -errno;
		set_err(err, errlen, "cannot stat %s: %s", path, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_err(err, errlen, "%s is not a directory", path);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		set_err(err, errlen,
			"run dir %s is owned by uid %u, not by this process's uid %u: another user"
			" could replace its files; use a directory of your own",
			path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EACCES;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		set_err(err, errlen,
			"run dir %s is writable by group or others (mode %04o); fix it with:"
			" chmod go-w %s",
			path, (unsigned)(st.st_mode & 07777), path);
		return -EACCES;
	}
	return 0;
}

uint64_t auth_cluster_id(const char *cluster_name)
{
	/* Domain separation: the id is of no use as a hash of anything else. */
	static const char domain[] = "paxoskv cluster id v1";
	crypto_generichash_state st;
	uint8_t h[crypto_generichash_BYTES_MIN];
	uint64_t id = 0;

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)domain, sizeof(domain));
	crypto_generichash_update(&st, (const uint8_t *)cluster_name, strlen(cluster_name));
	crypto_generichash_final(&st, h, sizeof(h));
	for (int i = 0; i < 8; i++)
		id |= (uint64_t)h[i] << (8 * i);
	return id;
}

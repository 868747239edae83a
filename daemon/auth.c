// SPDX-License-Identifier: MIT
/*
 * auth.c — seal/open over XChaCha20-Poly1305-IETF, the key file and the
 * cluster id. See auth.h for the scheme and the nonce argument.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

_Static_assert(AUTH_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(AUTH_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(AUTH_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void auth_nonce(uint8_t nonce[AUTH_NONCE_BYTES], uint32_t sender, uint32_t salt,
		uint64_t incarnation, uint64_t seq)
{
	put_le32(nonce, sender);
	put_le32(nonce + 4, salt);
	put_le64(nonce + 8, incarnation);
	put_le64(nonce + 16, seq);
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

int auth_key_generate_file(const char *path, bool force, char *err, size_t errlen)
{
	uint8_t key[AUTH_KEY_BYTES];
	char hex[AUTH_KEY_HEX_CHARS + 2]; /* digits, newline, NUL */
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
	ssize_t n;
	int fd, rc = 0;

	flags |= force ? O_TRUNC : O_EXCL;
	fd = open(path, flags, 0600);
	if (fd < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			set_err(err, errlen,
				"key file %s already exists; refusing to overwrite it "
				"(use -f to replace it)",
				path);
		else
			set_err(err, errlen, "cannot create key file %s: %s", path, strerror(-rc));
		return rc;
	}
	/*
	 * An overwritten file keeps its old mode, and the umask may have
	 * changed a new one: set 0600 before any secret reaches the file.
	 */
	if (fchmod(fd, 0600) != 0) {
		rc = -errno;
		set_err(err, errlen, "cannot chmod key file %s: %s", path, strerror(-rc));
		goto out;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	hex[AUTH_KEY_HEX_CHARS] = '\n';
	n = write_full(fd, (const uint8_t *)hex, AUTH_KEY_HEX_CHARS + 1);
	if (n < 0) {
		rc = (int)n;
		set_err(err, errlen, "cannot write key file %s: %s", path, strerror(-rc));
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = -errno;
		set_err(err, errlen, "cannot sync key file %s: %s", path, strerror(-rc));
	}
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) != 0 && rc == 0) {
		rc = -errno;
		set_err(err, errlen, "cannot close key file %s: %s", path, strerror(-rc));
	}
	/* Leave no half-written key behind for a daemon to trip over. */
	if (rc != 0)
		unlink(path);
	return rc;
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

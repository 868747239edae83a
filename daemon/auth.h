/* SPDX-License-Identifier: MIT */
/*
 * auth.h — the crypto boundary: node keys, the session handshake's
 * primitives, sealing and opening datagrams, the key file, the cluster id.
 *
 * Everything cryptographic in the daemon goes through this file, over
 * libsodium. The rest of the daemon never sees a libsodium call, so the
 * scheme can change here alone. sodium_init() must have been called once
 * before any function below is used.
 *
 * Datagrams: XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf_*),
 * detached 16-byte tag, under a session key (wire.h: one per direction and
 * per pair of incarnations, from a handshake in which both ends draw fresh
 * ephemeral keys).
 *  - Authenticated only: empty plaintext, the whole datagram (header and
 *    messages) as associated data, the tag appended.
 *  - Encrypted: the header is the associated data, the messages are the
 *    ciphertext (encrypted in place), the tag appended.
 * The 24-byte nonce is the sequence number and 16 bytes drawn from the
 * kernel's random source for every datagram, both in the header (so the
 * nonce is authenticated as associated data). A session key is used only
 * within the process that shook hands for it, and even a process restored
 * from a memory snapshot draws new random bytes for each datagram it sends:
 * a nonce repeats under one key only by a 128-bit random collision.
 *
 * Node keys: X25519 key pairs as crypto_kx makes them from a 32-byte seed
 * (crypto_kx_seed_keypair). The seed is what a node's key file holds. In a
 * cluster whose configuration lists no public keys, every node's seed is
 * derived from the shared cluster key and the node's name
 * (auth_node_seed_from_cluster_key): whoever holds the cluster key can act
 * as any node, as before. With public keys listed, a node holds only its
 * own seed.
 */
#ifndef PKV_AUTH_H
#define PKV_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_BYTES	 32u
#define AUTH_TAG_BYTES	 16u
#define AUTH_NONCE_BYTES 24u
/* Key file text form: 64 hex digits and an optional newline. */
#define AUTH_KEY_HEX_CHARS (2u * AUTH_KEY_BYTES)
#define AUTH_PK_BYTES	   32u /* X25519 public key */
#define AUTH_SK_BYTES	   32u /* X25519 secret key */
#define AUTH_DH_BYTES	   64u /* what auth_dh yields */

struct auth_key {
	uint8_t k[AUTH_KEY_BYTES];
};

/* A node's key pair from its 32-byte seed (the key file's content). */
void auth_node_keypair(uint8_t pk[AUTH_PK_BYTES], uint8_t sk[AUTH_SK_BYTES],
		       const struct auth_key *seed);

/*
 * Dev clusters (no public keys in the configuration): node `name`'s seed,
 * BLAKE2b keyed with the cluster key over a domain string and the name.
 */
void auth_node_seed_from_cluster_key(struct auth_key *seed, const struct auth_key *cluster_key,
				     const char *name);

/* A fresh ephemeral key pair from the kernel's random source. */
void auth_ephemeral(uint8_t pk[AUTH_PK_BYTES], uint8_t sk[AUTH_SK_BYTES]);

/*
 * One Diffie-Hellman term of the handshake, through crypto_kx: the
 * initiator's side passes initiator = true with its own key pair and the
 * responder's public key, the responder the converse; both get the same
 * 64 bytes (a hash of the X25519 result and both public keys). Returns 0,
 * or -EINVAL when the peer's public key is unacceptable (a low-order point).
 */
__attribute__((warn_unused_result)) int auth_dh(uint8_t out[AUTH_DH_BYTES], bool initiator,
						const uint8_t own_pk[AUTH_PK_BYTES],
						const uint8_t own_sk[AUTH_SK_BYTES],
						const uint8_t peer_pk[AUTH_PK_BYTES]);

/*
 * out (outlen ≤ 64 bytes) = BLAKE2b over the domain string and the n parts
 * (each a pointer and a length), in order.
 */
struct auth_part {
	const void *p;
	size_t len;
};
void auth_kdf(uint8_t *out, size_t outlen, const char *domain, const struct auth_part *parts,
	      unsigned n);

/* n random bytes from the kernel's random source: through the vDSO where the
 * kernel has it there (no system call), else getrandom(2). Fresh in a process
 * restored from a snapshot, in a forked child and in a forked VM. */
void auth_random(void *p, size_t n);
uint64_t auth_random64(void);
/* True when auth_random draws through the vDSO (on this thread). */
bool auth_random_is_vdso(void);

/* Constant-time comparison of n bytes: true when equal. */
bool auth_equal(const void *a, const void *b, size_t n);

/*
 * Encrypts m (mlen bytes, may be 0) into c and computes the tag over the
 * associated data ad and the ciphertext. c and m may be the same buffer
 * (in-place) but must not otherwise overlap. With mlen == 0, c and m may be
 * NULL: the tag then authenticates ad alone.
 */
void auth_seal(uint8_t *c, uint8_t tag[AUTH_TAG_BYTES], const uint8_t *m, size_t mlen,
	       const uint8_t *ad, size_t adlen, const uint8_t nonce[AUTH_NONCE_BYTES],
	       const struct auth_key *k);

/*
 * Verifies tag over ad and c, and only then decrypts c (clen bytes) into m.
 * c and m may be the same buffer. Returns 0, or -EBADMSG when the tag does
 * not verify: then nothing was decrypted and m (clen bytes) may have been
 * overwritten with zeros.
 */
__attribute__((warn_unused_result)) int auth_open(uint8_t *m, const uint8_t *c, size_t clen,
						  const uint8_t tag[AUTH_TAG_BYTES],
						  const uint8_t *ad, size_t adlen,
						  const uint8_t nonce[AUTH_NONCE_BYTES],
						  const struct auth_key *k);

/*
 * Reads a key file (the cluster key, or a node's seed) from path. Accepted formats: 64 hex digits with an
 * optional trailing newline (the form pkv-keygen writes, easy to copy between
 * hosts), or exactly 32 raw bytes.
 *
 * Refuses, as ssh does, a file whose mode grants any access to group or
 * others, one owned by another user than the process's effective uid, and
 * anything but a regular file. Returns 0, or a negative errno with a
 * one-line explanation in err (NUL-terminated, truncated to errlen):
 *  -EACCES   mode too open (the message carries the chmod that fixes it),
 *            or the wrong owner (the message names both uids)
 *  -EINVAL   not a regular file, wrong size or not hex
 *  other     the -errno of open/fstat/read
 * On failure *out is zeroed.
 */
__attribute__((warn_unused_result)) int auth_key_load(struct auth_key *out, const char *path,
						      char *err, size_t errlen);

/*
 * Writes a new random key to path in the hex form, mode 0600: into a new
 * temporary file beside it, fsync'd, then renamed over path (with force) or
 * linked to path (without force: an existing file is left alone and -EEXIST
 * returned), and the directory fsync'd. The old file is never written
 * through (a hard link to it keeps the old key) and stays as it was on any
 * failure. When key_out is not NULL it receives the new key. Returns 0 or a
 * negative errno with a message in err.
 */
__attribute__((warn_unused_result)) int auth_key_generate_file(const char *path, bool force,
							       struct auth_key *key_out, char *err,
							       size_t errlen);

/*
 * Checks a directory that holds the daemon's state and sockets: a directory,
 * owned by the effective uid, not writable by group or others. Returns 0 or
 * -EACCES / -ENOTDIR / -errno with a message in err.
 */
__attribute__((warn_unused_result)) int auth_check_dir(const char *path, char *err,
						       size_t errlen);

/* Overwrites the key with zeros (sodium_memzero: not optimised away). */
void auth_key_wipe(struct auth_key *k);

/*
 * A stable 64-bit id for a cluster name (BLAKE2b via crypto_generichash,
 * domain-separated). Every datagram carries it, so a datagram of another
 * cluster that happens to share the key is told apart from a forgery.
 */
uint64_t auth_cluster_id(const char *cluster_name);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * auth.h — the crypto boundary: sealing and opening datagrams with the
 * cluster key, the key file, and the cluster id.
 *
 * Everything cryptographic in the daemon goes through this file, over
 * libsodium. The rest of the daemon never sees a libsodium call, so the
 * scheme can change here alone. sodium_init() must have been called once
 * before any function below is used.
 *
 * Scheme: XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf_*),
 * detached 16-byte tag.
 *  - Authenticated only: empty plaintext, the whole datagram (header and
 *    messages) as associated data, the tag appended.
 *  - Encrypted: the header is the associated data, the messages are the
 *    ciphertext (encrypted in place), the tag appended.
 *
 * Nonce (24 bytes) = sender id (u32) ‖ salt (u32) ‖ incarnation (u64) ‖
 * sequence (u64), each little-endian, all taken from the datagram header, so
 * the nonce is never sent separately (and is itself authenticated, being part
 * of the associated data).
 *
 * Why a nonce cannot repeat under one key:
 *  - the sender id makes nonces of different daemons disjoint;
 *  - within one incarnation a daemon never reuses a sequence number (it counts
 *    up from 0 and a u64 does not wrap in the life of a process);
 *  - the incarnation is the daemon's start time in nanoseconds since the
 *    epoch, so a restarted daemon has a larger one than any earlier run;
 *  - the salt is 32 random bits drawn at every start, so even if the clock was
 *    stepped backwards, a repeat needs the same nanosecond AND the same salt
 *    (probability 2^-32 per colliding start, on top of hitting the same ns).
 * The daemon's loop chooses incarnation and salt; this module only reads them
 * from the header.
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

struct auth_key {
	uint8_t k[AUTH_KEY_BYTES];
};

/*
 * Builds the nonce from the header fields (see above). wire.c lays these four
 * fields out contiguously in the header in this order, so it can pass a
 * pointer into the header instead; this helper is the reference encoding.
 */
void auth_nonce(uint8_t nonce[AUTH_NONCE_BYTES], uint32_t sender, uint32_t salt,
		uint64_t incarnation, uint64_t seq);

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
 * Reads the cluster key from path. Accepted formats: 64 hex digits with an
 * optional trailing newline (the form pkv-keygen writes, easy to copy between
 * hosts), or exactly 32 raw bytes.
 *
 * Refuses, as ssh does, a file whose mode grants any access to group or
 * others, and anything but a regular file. Returns 0, or a negative errno
 * with a one-line explanation in err (NUL-terminated, truncated to errlen):
 *  -EACCES   mode too open (the message carries the chmod that fixes it)
 *  -EINVAL   not a regular file, wrong size or not hex
 *  other     the -errno of open/fstat/read
 * On failure *out is zeroed.
 */
__attribute__((warn_unused_result)) int auth_key_load(struct auth_key *out, const char *path,
						      char *err, size_t errlen);

/*
 * Writes a new random key to path in the hex form, mode 0600, fsync'd.
 * Without force, an existing file is left alone and -EEXIST returned; with
 * force it is overwritten (and its mode reset to 0600 before the key is
 * written). Returns 0 or a negative errno with a message in err.
 */
__attribute__((warn_unused_result)) int auth_key_generate_file(const char *path, bool force,
							       char *err, size_t errlen);

/* Overwrites the key with zeros (sodium_memzero: not optimised away). */
void auth_key_wipe(struct auth_key *k);

/*
 * A stable 64-bit id for a cluster name (BLAKE2b via crypto_generichash,
 * domain-separated). Every datagram carries it, so a datagram of another
 * cluster that happens to share the key is told apart from a forgery.
 */
uint64_t auth_cluster_id(const char *cluster_name);

#endif

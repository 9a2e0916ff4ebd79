/*
 * keys — the store's key hierarchy and the only place that calls libsodium's
 * ciphers.
 *
 * A store has one random 256-bit master key.  On disk it exists only wrapped:
 * encrypted with XChaCha20-Poly1305 under a key derived from the passphrase
 * with Argon2id (crypto_pwhash).  Changing the passphrase rewraps the master
 * key; no content is re-encrypted.  Every purpose gets its own sub-key,
 * derived with crypto_kdf_derive_from_key, so a key is never used for two
 * things.  All keys live in one sodium_malloc'd block that is wiped and freed
 * by keys_free().
 *
 * Sealing: keys_seal() encrypts with a random 192-bit nonce and associated
 * data (AD) chosen by the caller to bind the ciphertext to its place in the
 * store (its LMDB key); keys_open() fails with -EBADMSG when the ciphertext,
 * nonce or AD differ in any bit.
 */
#ifndef CASEFS_KEYS_H
#define CASEFS_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#define KEYS_KEY_BYTES 32
#define KEYS_SALT_BYTES crypto_pwhash_SALTBYTES
#define KEYS_NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KEYS_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* Bytes a sealed value is longer than its plaintext (nonce + tag). */
#define KEYS_SEAL_OVERHEAD (KEYS_NONCE_BYTES + KEYS_TAG_BYTES)
#define KEYS_HASH_BYTES 32
/* Largest Argon2id limits accepted from a store (libsodium's "sensitive"
 * memory, four times its "sensitive" passes). */
#define KEYS_OPSLIMIT_MAX (4 * (uint64_t)crypto_pwhash_OPSLIMIT_SENSITIVE)
#define KEYS_MEMLIMIT_MAX ((uint64_t)crypto_pwhash_MEMLIMIT_SENSITIVE)
/* Longest passphrase accepted. */
#define KEYS_PASSPHRASE_MAX 1024

/* Sub-key purposes.  The numbers are part of the store format. */
enum keys_purpose {
    KEYS_CONTENT = 1,  /* content chunks */
    KEYS_CHUNK_ID = 2, /* keyed hash naming a chunk (deduplication) */
    KEYS_RECORD = 3,   /* node, version and retraction records */
    KEYS_NAME_ID = 4,  /* keyed hash of (parent, name) for lookups */
    KEYS_LOG = 5,      /* audit log entry payloads */
    KEYS_LOG_MAC = 6,  /* audit log MAC chain */
    KEYS_CHUNKER = 7,  /* seed of the content-defined chunker's table */
    KEYS_LIST_ID = 8,  /* keyed hash naming a segment of a chunk list */
    KEYS_PURPOSE_COUNT = 9
};

/* The unlocked key set.  Allocated with sodium_malloc; never copy it. */
struct keys {
    uint8_t master[KEYS_KEY_BYTES];
    uint8_t sub[KEYS_PURPOSE_COUNT][KEYS_KEY_BYTES];
    /* The content-defined chunker's table, derived from KEYS_CHUNKER: it
     * decides where chunks end, so it is kept as secret as a key. */
    uint64_t gear[256];
};

/* The master key as stored: Argon2id parameters and the wrapped key. */
struct keys_wrapped {
    uint8_t salt[KEYS_SALT_BYTES];
    uint64_t opslimit;
    uint64_t memlimit;
    uint8_t nonce[KEYS_NONCE_BYTES];
    uint8_t box[KEYS_KEY_BYTES + KEYS_TAG_BYTES];
};
#define KEYS_WRAPPED_BYTES                                                               \
    (KEYS_SALT_BYTES + 8 + 8 + KEYS_NONCE_BYTES + KEYS_KEY_BYTES + KEYS_TAG_BYTES)

/* Initialises libsodium.  Returns 0 or -EIO. Safe to call more than once. */
int keys_init(void);

/* Creates a fresh random master key and its sub-keys.  0 or -ENOMEM. */
int keys_new_random(struct keys **out);

/* Wraps k's master key under passphrase (len bytes) with a new random salt
 * and the given Argon2id limits.  0, -EINVAL (empty passphrase) or -ENOMEM
 * (Argon2id could not get its memory). */
int keys_wrap(const struct keys *k, const char *pass, size_t len, uint64_t opslimit,
              uint64_t memlimit, struct keys_wrapped *out);

/* Unwraps with passphrase.  0, -EACCES when the passphrase is wrong (or the
 * wrapped key was altered), -EINVAL for absurd stored limits, -ENOMEM. */
int keys_unwrap(const struct keys_wrapped *w, const char *pass, size_t len,
                struct keys **out);

/* Serialises/parses the wrapped form (KEYS_WRAPPED_BYTES long).
 * keys_wrapped_decode returns 0 or -EINVAL on a wrong length. */
void keys_wrapped_encode(const struct keys_wrapped *w, uint8_t out[KEYS_WRAPPED_BYTES]);
int keys_wrapped_decode(const uint8_t *in, size_t len, struct keys_wrapped *w);

/* Wipes and frees.  NULL is fine. */
void keys_free(struct keys *k);

/* Encrypts pt under sub-key `purpose`, binding ad.  out must hold
 * ptlen + KEYS_SEAL_OVERHEAD bytes: nonce || ciphertext || tag. */
void keys_seal(const struct keys *k, enum keys_purpose purpose, const void *ad,
               size_t adlen, const void *pt, size_t ptlen, uint8_t *out);

/* Decrypts what keys_seal produced.  out holds inlen - KEYS_SEAL_OVERHEAD
 * bytes.  0, or -EBADMSG when anything was altered or inlen is too short. */
int keys_open(const struct keys *k, enum keys_purpose purpose, const void *ad,
              size_t adlen, const uint8_t *in, size_t inlen, uint8_t *out);

/* The same with the three parts of what keys_seal produced apart: nonce
 * (KEYS_NONCE_BYTES), ciphertext (ctlen bytes) and tag (KEYS_TAG_BYTES).
 * out (ctlen bytes) may be ct itself: decrypted in place, after the tag
 * was checked.  0, or -EBADMSG with no plaintext in out (the tag is
 * checked before anything is decrypted). */
int keys_open_parts(const struct keys *k, enum keys_purpose purpose, const void *ad,
                    size_t adlen, const uint8_t *nonce, const uint8_t *ct, size_t ctlen,
                    const uint8_t *tag, uint8_t *out);

/* Keyed BLAKE2b of in under sub-key `purpose`; outlen 16..64. */
void keys_hash(const struct keys *k, enum keys_purpose purpose, const void *in,
               size_t inlen, uint8_t *out, size_t outlen);

/* Keyed BLAKE2b over two parts (used by the log chain: prev MAC || entry). */
void keys_hash2(const struct keys *k, enum keys_purpose purpose, const void *a,
                size_t alen, const void *b, size_t blen, uint8_t *out, size_t outlen);

#endif

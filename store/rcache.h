/*
 * rcache — recently opened sealed records, so that opening the same sealed
 * bytes again costs a comparison and a copy instead of a decryption.
 *
 * A path lookup reads the node records of every folder on the way, and a
 * request of the kernel usually walks a path its previous request walked:
 * most records are opened again and again, unchanged.  An entry is found
 * by (database, key) and used only when the stored bytes are the very
 * bytes it was made from (nonce, ciphertext and tag): those decrypt, with
 * the same key and associated data, to the same plaintext, so the result
 * is exactly what decrypting would give.  Changed or damaged bytes miss and
 * are decrypted and authenticated as before.
 *
 * Bounded: RCACHE_SLOTS entries of records up to RCACHE_RECORD_MAX sealed
 * bytes (direct-mapped; a newer record replaces an older one in its slot).
 * Plaintexts are wiped when replaced and when the cache is freed.
 * Thread-safe.
 */
#ifndef CASEFS_STORE_RCACHE_H
#define CASEFS_STORE_RCACHE_H

#include <stddef.h>
#include <stdint.h>

#define RCACHE_SLOTS 2048
#define RCACHE_KEY_MAX 32
#define RCACHE_RECORD_MAX 1024

struct rcache;

/* NULL when out of memory (callers then decrypt every time). */
struct rcache *rcache_new(void);
/* Wipes every plaintext.  NULL is fine. */
void rcache_free(struct rcache *c);

/* When (db, key) holds an entry made from exactly sealed[0..sealed_len),
 * 1 with *out a malloc'ed copy of its plaintext (*outlen bytes); 0 when not
 * (also for a record too large to be kept); -ENOMEM. */
int rcache_get(struct rcache *c, unsigned db, const void *key, size_t keylen,
               const void *sealed, size_t sealed_len, uint8_t **out, size_t *outlen);
/* Keeps plain as the plaintext of sealed under (db, key). */
void rcache_put(struct rcache *c, unsigned db, const void *key, size_t keylen,
                const void *sealed, size_t sealed_len, const void *plain, size_t plain_len);

#endif

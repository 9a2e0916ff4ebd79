/*
 * keys — see keys.h.  The master key never leaves sodium_malloc'd memory;
 * the passphrase-derived wrapping key lives there only while it is used.
 */
#include "store/keys.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define KDF_CONTEXT "casefs01" /* crypto_kdf_CONTEXTBYTES == 8 */
static const char WRAP_AD[] = "casefs master key v1";

int keys_init(void)
{
    return sodium_init() < 0 ? -EIO : 0;
}

static struct keys *keys_alloc(void)
{
    struct keys *k = sodium_malloc(sizeof *k);
    if (k)
        sodium_memzero(k, sizeof *k);
    return k;
}

static void keys_derive(struct keys *k)
{
    for (int i = 1; i < KEYS_PURPOSE_COUNT; i++)
        crypto_kdf_derive_from_key(k->sub[i], KEYS_KEY_BYTES, (uint64_t)i, KDF_CONTEXT,
                                   k->master);
    uint8_t seed[randombytes_SEEDBYTES];
    crypto_generichash(seed, sizeof seed, (const uint8_t *)"gear", 4,
                       k->sub[KEYS_CHUNKER], KEYS_KEY_BYTES);
    randombytes_buf_deterministic(k->gear, sizeof k->gear, seed);
    sodium_memzero(seed, sizeof seed);
}

int keys_new_random(struct keys **out)
{
    struct keys *k = keys_alloc();
    if (!k)
        return -ENOMEM;
    crypto_kdf_keygen(k->master);
    keys_derive(k);
    *out = k;
    return 0;
}

static int derive_wrapping_key(uint8_t *wk, const char *pass, size_t len,
                               const uint8_t *salt, uint64_t opslimit, uint64_t memlimit)
{
    /* Limits read from a store are checked: a tampered record must not make
     * unlocking run for hours or take more than 1 GiB. */
    if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > KEYS_OPSLIMIT_MAX ||
        memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > KEYS_MEMLIMIT_MAX)
        return -EINVAL;
    if (crypto_pwhash(wk, KEYS_KEY_BYTES, pass, len, salt, opslimit, (size_t)memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -ENOMEM;
    return 0;
}

int keys_wrap(const struct keys *k, const char *pass, size_t len, uint64_t opslimit,
              uint64_t memlimit, struct keys_wrapped *out)
{
    if (len == 0 || len > KEYS_PASSPHRASE_MAX)
        return -EINVAL;
    uint8_t *wk = sodium_malloc(KEYS_KEY_BYTES);
    if (!wk)
        return -ENOMEM;
    randombytes_buf(out->salt, sizeof out->salt);
    out->opslimit = opslimit;
    out->memlimit = memlimit;
    int rc = derive_wrapping_key(wk, pass, len, out->salt, opslimit, memlimit);
    if (rc == 0) {
        randombytes_buf(out->nonce, sizeof out->nonce);
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            out->box, NULL, k->master, KEYS_KEY_BYTES, (const uint8_t *)WRAP_AD,
            sizeof WRAP_AD - 1, NULL, out->nonce, wk);
    }
    sodium_free(wk);
    return rc;
}

int keys_unwrap(const struct keys_wrapped *w, const char *pass, size_t len,
                struct keys **out)
{
    if (len > KEYS_PASSPHRASE_MAX)
        return -EACCES;
    uint8_t *wk = sodium_malloc(KEYS_KEY_BYTES);
    if (!wk)
        return -ENOMEM;
    int rc = derive_wrapping_key(wk, pass, len, w->salt, w->opslimit, w->memlimit);
    struct keys *k = NULL;
    if (rc == 0) {
        k = keys_alloc();
        if (!k)
            rc = -ENOMEM;
    }
    if (rc == 0 && crypto_aead_xchacha20poly1305_ietf_decrypt(
                       k->master, NULL, NULL, w->box, sizeof w->box,
                       (const uint8_t *)WRAP_AD, sizeof WRAP_AD - 1, w->nonce, wk) != 0)
        rc = -EACCES;
    sodium_free(wk);
    if (rc != 0) {
        keys_free(k);
        return rc;
    }
    keys_derive(k);
    *out = k;
    return 0;
}

void keys_wrapped_encode(const struct keys_wrapped *w, uint8_t out[KEYS_WRAPPED_BYTES])
{
    uint8_t *p = out;
    memcpy(p, w->salt, sizeof w->salt);
    p += sizeof w->salt;
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(w->opslimit >> (8 * i));
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(w->memlimit >> (8 * i));
    memcpy(p, w->nonce, sizeof w->nonce);
    p += sizeof w->nonce;
    memcpy(p, w->box, sizeof w->box);
}

int keys_wrapped_decode(const uint8_t *in, size_t len, struct keys_wrapped *w)
{
    if (len != KEYS_WRAPPED_BYTES)
        return -EINVAL;
    const uint8_t *p = in;
    memcpy(w->salt, p, sizeof w->salt);
    p += sizeof w->salt;
    w->opslimit = 0;
    for (int i = 0; i < 8; i++)
        w->opslimit = (w->opslimit << 8) | *p++;
    w->memlimit = 0;
    for (int i = 0; i < 8; i++)
        w->memlimit = (w->memlimit << 8) | *p++;
    memcpy(w->nonce, p, sizeof w->nonce);
    p += sizeof w->nonce;
    memcpy(w->box, p, sizeof w->box);
    return 0;
}

void keys_free(struct keys *k)
{
    if (k)
        sodium_free(k); /* sodium_free wipes before unmapping */
}

/* Nonces come from the system's random generator, as before, a pool of
 * them per thread at a time: one call to it per NONCE_POOL nonces instead
 * of one per record (a tar x of 8,900 files sealed 89,000 records, each
 * with a call of its own).  The nonces are random and public as before;
 * a child process starts with an empty pool (a fork copies the parent's,
 * whose nonces the parent will use too). */
#define NONCE_POOL 42
static _Thread_local struct {
    uint8_t b[NONCE_POOL * KEYS_NONCE_BYTES];
    unsigned left;
} nonces;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;
static int nonce_pooled; /* the child handler is registered */

static void nonce_child(void)
{
    sodium_memzero(&nonces, sizeof nonces);
}

static void nonce_register(void)
{
    nonce_pooled = pthread_atfork(NULL, NULL, nonce_child) == 0;
}

static void nonce_next(uint8_t out[KEYS_NONCE_BYTES])
{
    pthread_once(&nonce_once, nonce_register);
    if (!nonce_pooled) { /* a child could take the parent's: one at a time */
        randombytes_buf(out, KEYS_NONCE_BYTES);
        return;
    }
    if (nonces.left == 0) {
        randombytes_buf(nonces.b, sizeof nonces.b);
        nonces.left = NONCE_POOL;
    }
    uint8_t *n = nonces.b + (size_t)--nonces.left * KEYS_NONCE_BYTES;
    memcpy(out, n, KEYS_NONCE_BYTES);
    sodium_memzero(n, KEYS_NONCE_BYTES); /* used once: not kept */
}

void keys_seal(const struct keys *k, enum keys_purpose purpose, const void *ad,
               size_t adlen, const void *pt, size_t ptlen, uint8_t *out)
{
    nonce_next(out);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + KEYS_NONCE_BYTES, NULL, pt, ptlen,
                                               ad, adlen, NULL, out, k->sub[purpose]);
}

int keys_open_parts(const struct keys *k, enum keys_purpose purpose, const void *ad,
                    size_t adlen, const uint8_t *nonce, const uint8_t *ct, size_t ctlen,
                    const uint8_t *tag, uint8_t *out)
{
    /* libsodium checks the tag over ct before it writes anything to out */
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            out, NULL, ct, ctlen, tag, ad, adlen, nonce, k->sub[purpose]) != 0)
        return -EBADMSG;
    return 0;
}

int keys_open(const struct keys *k, enum keys_purpose purpose, const void *ad,
              size_t adlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
    if (inlen < KEYS_SEAL_OVERHEAD)
        return -EBADMSG;
    size_t ctlen = inlen - KEYS_SEAL_OVERHEAD;
    return keys_open_parts(k, purpose, ad, adlen, in, in + KEYS_NONCE_BYTES, ctlen,
                           in + KEYS_NONCE_BYTES + ctlen, out);
}

void keys_hash(const struct keys *k, enum keys_purpose purpose, const void *in,
               size_t inlen, uint8_t *out, size_t outlen)
{
    crypto_generichash(out, outlen, in, inlen, k->sub[purpose], KEYS_KEY_BYTES);
}

void keys_hash2(const struct keys *k, enum keys_purpose purpose, const void *a,
                size_t alen, const void *b, size_t blen, uint8_t *out, size_t outlen)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, k->sub[purpose], KEYS_KEY_BYTES, outlen);
    crypto_generichash_update(&st, a, alen);
    crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, outlen);
    sodium_memzero(&st, sizeof st);
}

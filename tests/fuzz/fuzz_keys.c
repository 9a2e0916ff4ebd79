/*
 * fuzz_keys — keys_wrapped_decode (the wrapped master key as read from the
 * store's meta database), keys_unwrap on what it decodes, and keys_open
 * (every sealed value read from LMDB goes through it) on arbitrary input.
 *
 * keys_unwrap runs Argon2id with the limits stored in the record, so it is
 * only called when those limits are out of libsodium's range (must be
 * refused with -EINVAL at once) or tiny (fast); with a random key the
 * decryption must fail with -EACCES.  Checks: decode/encode round trip,
 * results within the documented set, no out-of-bounds access.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/keys.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keys *g_keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_keys) {
        if (keys_init() != 0 || keys_new_random(&g_keys) != 0)
            abort();
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);

    /* 1. The wrapped master key record, at the input's full length and, so
     * that the fuzzer reaches the accepted length easily, at its prefix. */
    struct keys_wrapped w;
    int rc = keys_wrapped_decode(copy, size, &w);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL, "keys_wrapped_decode returned %d", rc);
    FUZZ_CHECK(rc != 0 || size == KEYS_WRAPPED_BYTES, "accepted %zu bytes", size);
    if (size >= KEYS_WRAPPED_BYTES) {
        rc = keys_wrapped_decode(copy, KEYS_WRAPPED_BYTES, &w);
        FUZZ_CHECK(rc == 0, "refused %d bytes", KEYS_WRAPPED_BYTES);
        uint8_t again[KEYS_WRAPPED_BYTES];
        keys_wrapped_encode(&w, again);
        FUZZ_CHECK(memcmp(again, copy, KEYS_WRAPPED_BYTES) == 0, "encode(decode(x)) != x");
        int absurd = w.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
                     w.opslimit > crypto_pwhash_OPSLIMIT_MAX ||
                     w.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
                     w.memlimit > crypto_pwhash_MEMLIMIT_MAX;
        int cheap = w.opslimit <= 2 && w.memlimit <= 64 * 1024;
        if (absurd || cheap) {
            size_t plen = size - KEYS_WRAPPED_BYTES;
            const char *pass = (const char *)copy + KEYS_WRAPPED_BYTES;
            struct keys *k = NULL;
            rc = keys_unwrap(&w, pass, plen, &k);
            FUZZ_CHECK(rc == -EINVAL || rc == -EACCES || rc == -ENOMEM,
                       "keys_unwrap of a random box returned %d", rc);
            if (absurd && plen <= KEYS_PASSPHRASE_MAX)
                FUZZ_CHECK(rc == -EINVAL, "absurd limits ops=%llu mem=%llu gave %d",
                           (unsigned long long)w.opslimit, (unsigned long long)w.memlimit,
                           rc);
            keys_free(k);
        }
    }

    /* 2. keys_open of a sealed value: the first byte picks the purpose and
     * the AD length, the rest is AD then ciphertext. */
    if (size >= 1) {
        enum keys_purpose purpose = (enum keys_purpose)(1 + copy[0] % (KEYS_PURPOSE_COUNT - 1));
        size_t adlen = (size_t)(copy[0] >> 3);
        if (adlen > size - 1)
            adlen = size - 1;
        const uint8_t *ad = copy + 1;
        const uint8_t *in = copy + 1 + adlen;
        size_t inlen = size - 1 - adlen;
        size_t outlen = inlen > KEYS_SEAL_OVERHEAD ? inlen - KEYS_SEAL_OVERHEAD : 0;
        uint8_t *out = malloc(outlen ? outlen : 1);
        if (!out)
            abort();
        rc = keys_open(g_keys, purpose, ad, adlen, in, inlen, out);
        FUZZ_CHECK(rc == -EBADMSG, "forged ciphertext opened (rc %d)", rc);
        free(out);

        /* A sealed value round-trips, and any change to it is refused. */
        size_t ptlen = inlen < 512 ? inlen : 512;
        uint8_t *sealed = malloc(ptlen + KEYS_SEAL_OVERHEAD);
        uint8_t *back = malloc(ptlen ? ptlen : 1);
        if (!sealed || !back)
            abort();
        keys_seal(g_keys, purpose, ad, adlen, in, ptlen, sealed);
        rc = keys_open(g_keys, purpose, ad, adlen, sealed, ptlen + KEYS_SEAL_OVERHEAD, back);
        FUZZ_CHECK(rc == 0 && (ptlen == 0 || memcmp(back, in, ptlen) == 0),
                   "seal/open round trip");
        size_t flip = copy[0] % (ptlen + KEYS_SEAL_OVERHEAD);
        sealed[flip] ^= 0x01;
        rc = keys_open(g_keys, purpose, ad, adlen, sealed, ptlen + KEYS_SEAL_OVERHEAD, back);
        FUZZ_CHECK(rc == -EBADMSG, "altered ciphertext opened");
        free(sealed);
        free(back);
    }
    free(copy);
    return 0;
}

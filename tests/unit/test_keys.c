/*
 * keys: sealing binds a value to its key, purpose and place; the master key
 * comes back only with the right passphrase.  Wrapping here uses
 * libsodium's minimum Argon2id limits so that the tests stay fast; the
 * stores themselves use the interactive limits (see test_store.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/keys.h"
#include "tests/unit/helpers.h"

#define OPS crypto_pwhash_OPSLIMIT_MIN
#define MEM crypto_pwhash_MEMLIMIT_MIN

static struct keys *k1, *k2;

static void keys_setup(void)
{
    ck_assert_int_eq(keys_init(), 0);
    ck_assert_int_eq(keys_new_random(&k1), 0);
    ck_assert_int_eq(keys_new_random(&k2), 0);
}

static void keys_teardown(void)
{
    keys_free(k1);
    keys_free(k2);
    k1 = k2 = NULL;
}

static const char AD[] = "node\x00\x00\x00\x00\x00\x00\x00\x2a";
static const char PT[] = "Anna Andersson, 19850101-1234: home visit";

START_TEST(test_keys_seal_open_round_trip)
{
    size_t n = sizeof PT - 1;
    uint8_t sealed[sizeof PT - 1 + KEYS_SEAL_OVERHEAD], out[sizeof PT];
    keys_seal(k1, KEYS_RECORD, AD, sizeof AD - 1, PT, n, sealed);
    ck_assert(memmem(sealed, sizeof sealed, "Andersson", 9) == NULL);
    memset(out, 0, sizeof out);
    ck_assert_int_eq(
        keys_open(k1, KEYS_RECORD, AD, sizeof AD - 1, sealed, sizeof sealed, out), 0);
    ck_assert_mem_eq(out, PT, n);

    /* Random nonces: sealing twice gives different bytes, both open. */
    uint8_t again[sizeof sealed];
    keys_seal(k1, KEYS_RECORD, AD, sizeof AD - 1, PT, n, again);
    ck_assert(memcmp(again, sealed, sizeof sealed) != 0);
    ck_assert_int_eq(
        keys_open(k1, KEYS_RECORD, AD, sizeof AD - 1, again, sizeof again, out), 0);
    ck_assert_mem_eq(out, PT, n);
}
END_TEST

/* Nonces come from a pool per thread: many seals (several pools) never
 * repeat one, and a forked child does not take the nonces its parent
 * will use next. */
START_TEST(test_keys_seal_nonces_are_never_reused)
{
    enum { N = 300 };
    uint8_t(*nonce)[KEYS_NONCE_BYTES] = malloc(N * KEYS_NONCE_BYTES);
    uint8_t sealed[8 + KEYS_SEAL_OVERHEAD];
    ck_assert_ptr_nonnull(nonce);
    for (int i = 0; i < N; i++) {
        keys_seal(k1, KEYS_RECORD, "a", 1, "abcdefgh", 8, sealed);
        memcpy(nonce[i], sealed, KEYS_NONCE_BYTES);
        uint8_t back[8];
        ck_assert_int_eq(keys_open(k1, KEYS_RECORD, "a", 1, sealed, sizeof sealed, back), 0);
        ck_assert_mem_eq(back, "abcdefgh", 8);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            ck_assert_msg(memcmp(nonce[i], nonce[j], KEYS_NONCE_BYTES) != 0,
                          "seals %d and %d share a nonce", i, j);
    /* the parent's pool is part used; the child must not draw from it */
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        keys_seal(k1, KEYS_RECORD, "a", 1, "abcdefgh", 8, sealed);
        _exit(write(fds[1], sealed, KEYS_NONCE_BYTES) == KEYS_NONCE_BYTES ? 0 : 1);
    }
    uint8_t child[KEYS_NONCE_BYTES];
    ck_assert_int_eq(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    keys_seal(k1, KEYS_RECORD, "a", 1, "abcdefgh", 8, sealed);
    ck_assert_msg(memcmp(child, sealed, KEYS_NONCE_BYTES) != 0,
                  "a forked child sealed with its parent's next nonce");
    for (int i = 0; i < N; i++)
        ck_assert(memcmp(child, nonce[i], KEYS_NONCE_BYTES) != 0);
    close(fds[0]);
    close(fds[1]);
    free(nonce);
}
END_TEST

START_TEST(test_keys_seal_empty_plaintext)
{
    uint8_t sealed[KEYS_SEAL_OVERHEAD], out[1];
    keys_seal(k1, KEYS_CONTENT, "x", 1, "", 0, sealed);
    ck_assert_int_eq(keys_open(k1, KEYS_CONTENT, "x", 1, sealed, sizeof sealed, out), 0);
    sealed[KEYS_NONCE_BYTES] ^= 1;
    ck_assert_int_eq(keys_open(k1, KEYS_CONTENT, "x", 1, sealed, sizeof sealed, out),
                     -EBADMSG);
}
END_TEST

START_TEST(test_keys_every_flipped_bit_fails)
{
    size_t n = sizeof PT - 1;
    uint8_t sealed[sizeof PT - 1 + KEYS_SEAL_OVERHEAD], out[sizeof PT];
    keys_seal(k1, KEYS_RECORD, AD, sizeof AD - 1, PT, n, sealed);
    for (size_t i = 0; i < sizeof sealed; i++) {
        for (int bit = 0; bit < 8; bit++) {
            sealed[i] ^= (uint8_t)(1u << bit);
            int rc =
                keys_open(k1, KEYS_RECORD, AD, sizeof AD - 1, sealed, sizeof sealed, out);
            ck_assert_msg(rc == -EBADMSG, "bit %d of byte %zu flipped: keys_open gave %d",
                          bit, i, rc);
            sealed[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert_int_eq(
        keys_open(k1, KEYS_RECORD, AD, sizeof AD - 1, sealed, sizeof sealed, out), 0);
}
END_TEST

START_TEST(test_keys_other_ad_fails)
{
    size_t n = sizeof PT - 1;
    uint8_t sealed[sizeof PT - 1 + KEYS_SEAL_OVERHEAD], out[sizeof PT];
    keys_seal(k1, KEYS_RECORD, AD, sizeof AD - 1, PT, n, sealed);
    char ad[sizeof AD];
    memcpy(ad, AD, sizeof AD);
    ad[sizeof AD - 2] ^= 1; /* the record moved to key 43 */
    ck_assert_int_eq(
        keys_open(k1, KEYS_RECORD, ad, sizeof AD - 1, sealed, sizeof sealed, out),
        -EBADMSG);
    ck_assert_int_eq(
        keys_open(k1, KEYS_RECORD, AD, sizeof AD - 2, sealed, sizeof sealed, out),
        -EBADMSG);
    ck_assert_int_eq(keys_open(k1, KEYS_RECORD, NULL, 0, sealed, sizeof sealed, out),
                     -EBADMSG);
    memcpy(ad, "vers", 4); /* same key, another database's tag */
    ad[sizeof AD - 2] ^= 1;
    ck_assert_int_eq(
        keys_open(k1, KEYS_RECORD, ad, sizeof AD - 1, sealed, sizeof sealed, out),
        -EBADMSG);
}
END_TEST

START_TEST(test_keys_wrong_purpose_or_key_fails)
{
    size_t n = sizeof PT - 1;
    uint8_t sealed[sizeof PT - 1 + KEYS_SEAL_OVERHEAD], out[sizeof PT];
    keys_seal(k1, KEYS_RECORD, AD, sizeof AD - 1, PT, n, sealed);
    for (int p = 1; p < KEYS_PURPOSE_COUNT; p++) {
        if (p == KEYS_RECORD)
            continue;
        ck_assert_int_eq(keys_open(k1, (enum keys_purpose)p, AD, sizeof AD - 1, sealed,
                                   sizeof sealed, out),
                         -EBADMSG);
    }
    ck_assert_int_eq(
        keys_open(k2, KEYS_RECORD, AD, sizeof AD - 1, sealed, sizeof sealed, out),
        -EBADMSG);
}
END_TEST

START_TEST(test_keys_short_input_fails)
{
    uint8_t sealed[KEYS_SEAL_OVERHEAD + 4], out[8];
    keys_seal(k1, KEYS_LOG, "a", 1, "abcd", 4, sealed);
    for (size_t n = 0; n < sizeof sealed; n++)
        ck_assert_int_eq(keys_open(k1, KEYS_LOG, "a", 1, sealed, n, out), -EBADMSG);
}
END_TEST

START_TEST(test_keys_subkeys_distinct)
{
    for (int i = 1; i < KEYS_PURPOSE_COUNT; i++) {
        ck_assert(memcmp(k1->sub[i], k1->master, KEYS_KEY_BYTES) != 0);
        for (int j = i + 1; j < KEYS_PURPOSE_COUNT; j++)
            ck_assert(memcmp(k1->sub[i], k1->sub[j], KEYS_KEY_BYTES) != 0);
    }
    ck_assert(memcmp(k1->master, k2->master, KEYS_KEY_BYTES) != 0);
}
END_TEST

START_TEST(test_keys_hash_keyed)
{
    uint8_t a[32], b[32], c[32], d[32];
    keys_hash(k1, KEYS_NAME_ID, "report.txt", 10, a, sizeof a);
    keys_hash(k1, KEYS_NAME_ID, "report.txt", 10, b, sizeof b);
    ck_assert_mem_eq(a, b, sizeof a);
    keys_hash(k1, KEYS_CHUNK_ID, "report.txt", 10, c, sizeof c);
    ck_assert(memcmp(a, c, sizeof a) != 0);
    keys_hash(k2, KEYS_NAME_ID, "report.txt", 10, d, sizeof d);
    ck_assert(memcmp(a, d, sizeof a) != 0);
    /* keys_hash2 over two parts equals keys_hash over their concatenation. */
    keys_hash2(k1, KEYS_NAME_ID, "report", 6, ".txt", 4, d, sizeof d);
    ck_assert_mem_eq(a, d, sizeof a);
}
END_TEST

START_TEST(test_keys_wrap_unwrap)
{
    struct keys_wrapped w;
    const char *pass = "s3cret passphrase";
    ck_assert_int_eq(keys_wrap(k1, pass, strlen(pass), OPS, MEM, &w), 0);
    ck_assert(memmem(&w, sizeof w, k1->master, KEYS_KEY_BYTES) == NULL);
    struct keys *got = NULL;
    ck_assert_int_eq(keys_unwrap(&w, pass, strlen(pass), &got), 0);
    ck_assert_ptr_nonnull(got);
    ck_assert_mem_eq(got->master, k1->master, KEYS_KEY_BYTES);
    ck_assert_mem_eq(got->sub, k1->sub, sizeof k1->sub);
    keys_free(got);
}
END_TEST

START_TEST(test_keys_wrong_passphrase)
{
    struct keys_wrapped w;
    const char *pass = "s3cret passphrase";
    ck_assert_int_eq(keys_wrap(k1, pass, strlen(pass), OPS, MEM, &w), 0);
    struct keys *got = NULL;
    ck_assert_int_eq(keys_unwrap(&w, "s3cret passphrasE", strlen(pass), &got), -EACCES);
    ck_assert_ptr_null(got);
    ck_assert_int_eq(keys_unwrap(&w, pass, strlen(pass) - 1, &got), -EACCES);
    ck_assert_ptr_null(got);
    /* An altered wrapped key is refused the same way. */
    w.box[3] ^= 0x10;
    ck_assert_int_eq(keys_unwrap(&w, pass, strlen(pass), &got), -EACCES);
    ck_assert_ptr_null(got);
}
END_TEST

START_TEST(test_keys_empty_passphrase)
{
    struct keys_wrapped w;
    ck_assert_int_eq(keys_wrap(k1, "", 0, OPS, MEM, &w), -EINVAL);
}
END_TEST

START_TEST(test_keys_absurd_limits)
{
    struct keys_wrapped w;
    const char *pass = "pass";
    ck_assert_int_eq(keys_wrap(k1, pass, 4, OPS, MEM, &w), 0);
    struct keys *got = NULL;
    w.opslimit = 0;
    ck_assert_int_eq(keys_unwrap(&w, pass, 4, &got), -EINVAL);
    w.opslimit = OPS;
    w.memlimit = (uint64_t)1 << 50;
    ck_assert_int_eq(keys_unwrap(&w, pass, 4, &got), -EINVAL);
    ck_assert_ptr_null(got);
}
END_TEST

START_TEST(test_keys_wrapped_encode_decode)
{
    struct keys_wrapped w, back;
    const char *pass = "s3cret passphrase";
    ck_assert_int_eq(keys_wrap(k1, pass, strlen(pass), OPS, MEM, &w), 0);
    uint8_t enc[KEYS_WRAPPED_BYTES];
    keys_wrapped_encode(&w, enc);
    memset(&back, 0, sizeof back);
    ck_assert_int_eq(keys_wrapped_decode(enc, sizeof enc, &back), 0);
    ck_assert_mem_eq(back.salt, w.salt, sizeof w.salt);
    ck_assert_uint_eq(back.opslimit, w.opslimit);
    ck_assert_uint_eq(back.memlimit, w.memlimit);
    ck_assert_mem_eq(back.nonce, w.nonce, sizeof w.nonce);
    ck_assert_mem_eq(back.box, w.box, sizeof w.box);
    struct keys *got = NULL;
    ck_assert_int_eq(keys_unwrap(&back, pass, strlen(pass), &got), 0);
    ck_assert_mem_eq(got->master, k1->master, KEYS_KEY_BYTES);
    keys_free(got);

    uint8_t longer[KEYS_WRAPPED_BYTES + 1] = {0};
    memcpy(longer, enc, sizeof enc);
    ck_assert_int_eq(keys_wrapped_decode(enc, sizeof enc - 1, &back), -EINVAL);
    ck_assert_int_eq(keys_wrapped_decode(longer, sizeof longer, &back), -EINVAL);
    ck_assert_int_eq(keys_wrapped_decode(enc, 0, &back), -EINVAL);
}
END_TEST

Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("seal");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_keys_seal_open_round_trip);
    tcase_add_test(tc, test_keys_seal_empty_plaintext);
    tcase_add_test(tc, test_keys_every_flipped_bit_fails);
    tcase_add_test(tc, test_keys_other_ad_fails);
    tcase_add_test(tc, test_keys_wrong_purpose_or_key_fails);
    tcase_add_test(tc, test_keys_short_input_fails);
    tcase_add_test(tc, test_keys_subkeys_distinct);
    tcase_add_test(tc, test_keys_hash_keyed);
    suite_add_tcase(s, tc);

    tc = tcase_create("wrap");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_keys_seal_nonces_are_never_reused);
    tcase_add_test(tc, test_keys_wrap_unwrap);
    tcase_add_test(tc, test_keys_wrong_passphrase);
    tcase_add_test(tc, test_keys_empty_passphrase);
    tcase_add_test(tc, test_keys_absurd_limits);
    tcase_add_test(tc, test_keys_wrapped_encode_decode);
    suite_add_tcase(s, tc);
    return s;
}

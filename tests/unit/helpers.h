/*
 * helpers — shared set-up for the casefs unit tests.
 *
 * Argon2id makes store_create and store_unlock cost a fraction of a second
 * each, so main() creates one template store (helpers_init) and every test
 * that needs an open store gets its own copy of it (tstore_open): a fresh
 * temporary directory holding a copy of the template's data.mdb, opened
 * with a copy of the template's unlocked keys.  Tests therefore never see
 * each other's changes, and only the store tests that are about creation
 * and unlocking pay for Argon2id themselves (helper_store_create).
 *
 * The raw_* helpers reach under the store API into LMDB to tamper with
 * stored values the way an attacker with the files would.
 */
#ifndef CASEFS_TESTS_HELPERS_H
#define CASEFS_TESTS_HELPERS_H

#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

#define TEST_PASS "correct horse battery staple"
#define TEST_WRONG_PASS "incorrect horse battery staple"
/* Per-test time limit (fork mode); Argon2id and 1 MiB buffers stay far below. */
#define TEST_TIMEOUT 30

/* An open store in its own temporary directory. */
struct tstore {
    char dir[PATH_MAX];
    struct store *s;
    struct store_actor actor; /* the test process itself */
};

/* Creates the template store; call once before running the suites.
 * helpers_cleanup removes it. */
void helpers_init(void);
void helpers_cleanup(void);

/* Opens a private copy of the template store (fails the test on error). */
void tstore_open(struct tstore *t);
/* Closes the store (when still open) and removes its directory. */
void tstore_close(struct tstore *t);
/* Closes the store but keeps the directory (to look at its files). */
void tstore_shut(struct tstore *t);
/* Opens the shut store in t->dir again, with the template's keys. */
void tstore_reopen(struct tstore *t);

/* Makes a fresh temporary directory into buf: inside the template's
 * /tmp/casefs-unit-XXXXXX once helpers_init ran (removed with it). */
void helper_tmpdir(char *buf, size_t len);
/* Removes path and everything below it.  0 or -errno. */
int helper_rm_rf(const char *path);
/* The real thing: store_create + store_unlock + store_open in dir, with
 * TEST_PASS and the calling process as actor.  0 or the first error. */
int helper_store_create(const char *dir, struct store **out, struct store_actor *actor);

/* Raw LMDB access, each in its own transaction.
 * raw_get: copies the value at key into a malloc'd *out; its size or -errno. */
ssize_t raw_get(struct store *s, enum store_db db, const void *key, size_t keylen,
                uint8_t **out);
int raw_put(struct store *s, enum store_db db, const void *key, size_t keylen,
            const void *val, size_t vallen);
int raw_del(struct store *s, enum store_db db, const void *key, size_t keylen);
/* XORs byte `off` of the value at key with mask.  0 or -errno. */
int raw_flip(struct store *s, enum store_db db, const void *key, size_t keylen,
             size_t off, uint8_t mask);
/* Number of entries in db. */
size_t raw_count(struct store *s, enum store_db db);

/* 1 when the file at path contains needle, 0 when not, -errno on error. */
int file_contains(const char *path, const void *needle, size_t n);

/* Fills p with deterministic pseudo-random bytes from seed. */
void fill_random(uint8_t *p, size_t n, uint64_t seed);
/* v's chunk list in one malloc'd array (v->nchunks entries), from the
 * record or its segments (asserts they read). */
struct version;
struct version_chunk *test_version_list(struct store *s, MDB_txn *txn,
                                        const struct version *v);

Suite *codec_suite(void);
Suite *keys_suite(void);
Suite *store_suite(void);
Suite *durable_suite(void);
Suite *node_suite(void);
Suite *chunk_suite(void);
Suite *version_suite(void);
Suite *log_suite(void);
Suite *retract_suite(void);
Suite *names_suite(void);
Suite *par_suite(void);
Suite *doc_suite(void);
Suite *tree_suite(void);
Suite *admin_suite(void);

#endif

/*
 * fuzz_common — small helpers shared by the casefs fuzz targets.
 *
 * Header-only (static functions), so each target stays one .c file that
 * run.sh and regress.sh compile together with the library sources.
 *
 * - struct fuzz_in: takes an input apart into NUL-terminated strings and
 *   bytes, never reading past the end.
 * - fuzz_store_get(): one store per process, created at the first call in a
 *   fresh temporary directory (on /dev/shm when possible, so LMDB's syncs
 *   cost nothing) with a fixed passphrase, opened, with a struct tree on it.
 *   The directory is removed at exit.
 * - fuzz_log_check_tail(): the oracle every store target applies after each
 *   input: each log entry appended since the last check must open and
 *   decode (log_payload_decode), otherwise `casefs log verify` would fail on
 *   a store that was only used through its ordinary API.
 */
#ifndef CASEFS_FUZZ_COMMON_H
#define CASEFS_FUZZ_COMMON_H

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/codec.h"
#include "store/keys.h"
#include "store/log.h"
#include "store/store.h"
#include "store/tree.h"

/* Reports on fd 2 directly: some targets point the stderr FILE at
 * /dev/null to silence the code under test. */
#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            dprintf(2, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            dprintf(2, __VA_ARGS__);                                                     \
            dprintf(2, "\n");                                                            \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* ---- input splitting ---------------------------------------------------- */

struct fuzz_in {
    const uint8_t *p;
    size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | fuzz_u8(in);
    return v;
}

/* The next string: bytes up to a NUL (consumed) or the end.  Returns a
 * malloc'd NUL-terminated copy (never NULL unless out of memory); *len is
 * its length. */
static inline char *fuzz_str(struct fuzz_in *in, size_t *len)
{
    const uint8_t *end = memchr(in->p, 0, in->left);
    size_t n = end ? (size_t)(end - in->p) : in->left;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n;
    in->left -= n;
    if (end) {
        in->p++;
        in->left--;
    }
    if (len)
        *len = n;
    return s;
}

/* ---- one store per process ---------------------------------------------- */

#define FUZZ_PASSPHRASE "casefs fuzz passphrase"

struct fuzz_store {
    char dir[256];
    struct store *s;
    struct tree *t;
    struct store_actor root; /* the test actor (store_actor_self) */
    struct store_actor user; /* an unprivileged actor, for refusals */
    uint64_t log_checked;    /* entries up to here were checked */
};

static struct fuzz_store fuzz_store_g;

static int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void fuzz_store_cleanup(void)
{
    if (fuzz_store_g.t)
        tree_free(fuzz_store_g.t);
    if (fuzz_store_g.s)
        store_close(fuzz_store_g.s);
    fuzz_store_g.t = NULL;
    fuzz_store_g.s = NULL;
    if (fuzz_store_g.dir[0])
        nftw(fuzz_store_g.dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    fuzz_store_g.dir[0] = '\0';
}

static inline uint64_t fuzz_log_head_seq(struct store *s)
{
    MDB_txn *txn;
    uint64_t seq = 0;
    uint8_t mac[LOG_MAC_BYTES];
    if (store_txn_begin(s, 1, &txn) != 0)
        abort();
    if (log_head(s, txn, &seq, mac) != 0)
        abort();
    store_txn_abort(txn);
    return seq;
}

static struct fuzz_store *fuzz_store_get(void)
{
    struct fuzz_store *f = &fuzz_store_g;
    if (f->t)
        return f;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
    if (!base)
        base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/casefs-fuzz-XXXXXX", base);
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_store_cleanup);
    if (keys_init() != 0)
        abort();
    store_actor_self(&f->root);
    store_actor_fill(&f->user, 4242, 4242, (uint32_t)getpid());
    const char *pass = FUZZ_PASSPHRASE;
    int rc = store_create(f->dir, pass, strlen(pass), &f->root);
    FUZZ_CHECK(rc == 0, "store_create: %d", rc);
    struct keys *k;
    rc = store_unlock(f->dir, pass, strlen(pass), &k);
    FUZZ_CHECK(rc == 0, "store_unlock: %d", rc);
    rc = store_open(f->dir, k, 0, &f->s);
    FUZZ_CHECK(rc == 0, "store_open: %d", rc);
    rc = tree_new(f->s, &f->t);
    FUZZ_CHECK(rc == 0, "tree_new: %d", rc);
    f->log_checked = fuzz_log_head_seq(f->s);
    return f;
}

/* Opens and decodes every log entry after f->log_checked.  Aborts (a finding)
 * when one cannot be read back. */
static void fuzz_log_check_tail(struct fuzz_store *f)
{
    MDB_txn *txn;
    uint64_t head = 0;
    uint8_t mac[LOG_MAC_BYTES];
    if (store_txn_begin(f->s, 1, &txn) != 0)
        abort();
    FUZZ_CHECK(log_head(f->s, txn, &head, mac) == 0, "log_head failed");
    for (uint64_t seq = f->log_checked + 1; seq <= head; seq++) {
        uint8_t key[8], ad[12];
        codec_be64_put(key, seq);
        memcpy(ad, "logv", 4);
        memcpy(ad + 4, key, 8);
        MDB_val k = {8, key}, v;
        int rc = mdb_get(txn, f->s->dbi[STORE_DB_LOG], &k, &v);
        FUZZ_CHECK(rc == 0, "log entry %llu missing", (unsigned long long)seq);
        FUZZ_CHECK(v.mv_size >= LOG_MAC_BYTES + KEYS_SEAL_OVERHEAD, "log entry %llu short",
                   (unsigned long long)seq);
        size_t n = v.mv_size - LOG_MAC_BYTES - KEYS_SEAL_OVERHEAD;
        uint8_t *pt = malloc(n ? n : 1);
        if (!pt)
            abort();
        rc = keys_open(f->s->keys, KEYS_LOG, ad, sizeof ad,
                       (const uint8_t *)v.mv_data + LOG_MAC_BYTES,
                       v.mv_size - LOG_MAC_BYTES, pt);
        FUZZ_CHECK(rc == 0, "log entry %llu does not open", (unsigned long long)seq);
        struct log_entry e;
        memset(&e, 0, sizeof e);
        rc = log_payload_decode(pt, n, &e);
        if (rc != 0)
            dprintf(2, "undecodable log entry %llu (%zu bytes payload)\n",
                    (unsigned long long)seq, n);
        FUZZ_CHECK(rc == 0,
                   "log entry %llu was written but log_payload_decode rejects it: "
                   "`casefs log verify` would report a broken chain",
                   (unsigned long long)seq);
        log_entry_clear(&e);
        free(pt);
    }
    store_txn_abort(txn);
    f->log_checked = head;
}

/* True for 0, a positive count, or a negative errno value. */
static inline int fuzz_errno_ok(long rc)
{
    return rc >= 0 || (rc < 0 && -rc < 4096);
}

#endif

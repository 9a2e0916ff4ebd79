/*
 * Durable points (store/durable.h): what a crash of the process keeps, what
 * a power loss takes back, and that what it takes the store back to is
 * whole whichever of the later writes reached the disk.
 *
 * A power loss is simulated on the files a killed process left: the data
 * file as the page cache had it (every later write reached the disk), with
 * each page after the meta pages put back, at random, to its content at the
 * durable point (that write did not reach the disk), then recovery as in a
 * new boot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/codec.h"
#include "store/durable.h"
#include "store/log.h"
#include "store/written.h"
#include "tests/unit/helpers.h"

#define VAL_BYTES 1500
static const char OTHER_BOOT[DURABLE_BOOT_BYTES] = "another-boot";
#define FIRST 300 /* records written before the durable point */

static void record_key(char *key, size_t len, int i)
{
    snprintf(key, len, "rec-%05d", i);
}

/* Puts (or with del, deletes) records lo..hi-1, `per` to a commit, each
 * commit with a log entry. */
static int put_range(struct store *s, int lo, int hi, int per, uint64_t seed, int del)
{
    struct store_actor a;
    store_actor_self(&a);
    uint8_t val[VAL_BYTES];
    for (int i = lo; i < hi; i += per) {
        MDB_txn *txn;
        int rc = store_txn_begin(s, 0, &txn);
        if (rc)
            return rc;
        for (int j = i; rc == 0 && j < i + per && j < hi; j++) {
            char key[32];
            record_key(key, sizeof key, j);
            if (del) {
                MDB_val k = {strlen(key), key};
                rc = store_mdb_err(mdb_del(txn, s->dbi[STORE_DB_CHUNKS], &k, NULL));
            } else {
                fill_random(val, sizeof val, seed + (uint64_t)j);
                rc = store_record_put(s, txn, STORE_DB_CHUNKS, key, strlen(key),
                                      KEYS_CONTENT, val, sizeof val);
            }
        }
        if (rc == 0)
            rc = log_append(s, txn, &a, del ? "test-del" : "test-put", "", 0, 0, NULL);
        if (rc == 0)
            rc = store_txn_commit(s, txn);
        else
            store_txn_abort(txn);
        if (rc)
            return rc;
    }
    return 0;
}

/* put_range, then a durable point. */
static int put_sync(struct store *s, int lo, int hi, int per, uint64_t seed)
{
    int rc = put_range(s, lo, hi, per, seed, 0);
    return rc ? rc : store_sync(s);
}

/* 0 when record i holds the value of seed, 1 when absent, -1 otherwise. */
static int record_state(struct store *s, int i, uint64_t seed)
{
    char key[32];
    record_key(key, sizeof key, i);
    MDB_txn *txn;
    if (store_txn_begin(s, 1, &txn))
        return -1;
    uint8_t *out = NULL;
    size_t n = 0;
    int rc = store_record_get(s, txn, STORE_DB_CHUNKS, key, strlen(key), KEYS_CONTENT,
                              &out, &n);
    store_txn_abort(txn);
    if (rc == -ENOENT)
        return 1;
    if (rc)
        return -1;
    uint8_t want[VAL_BYTES];
    fill_random(want, sizeof want, seed + (uint64_t)i);
    int same = n == sizeof want && memcmp(out, want, n) == 0;
    free(out);
    return same ? 0 : -1;
}

static int copy_path(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    char buf[65536];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        rc = -1;
    return rc;
}

static uint64_t newest_meta_txnid(const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t page[DURABLE_META_OFFSET + DURABLE_META_BYTES];
    uint64_t best = 0;
    uint32_t psize = 4096;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pread(fd, page, sizeof page, (off_t)i * psize), (ssize_t)sizeof page);
        uint64_t t;
        memcpy(&t, page + DURABLE_META_OFFSET + 128, 8);
        if (i == 0)
            memcpy(&psize, page + DURABLE_META_OFFSET + 24, 4);
        if (t > best)
            best = t;
    }
    close(fd);
    return best;
}

static uint64_t recorded_txnid(const char *dir)
{
    int fd = durable_open(dir, 0);
    ck_assert_int_ge(fd, 0);
    struct durable_point p;
    ck_assert_int_eq(durable_read(fd, &p), 0);
    close(fd);
    return p.txnid;
}

/* Runs body(t) on the store reopened in a child that then ends like a
 * killed process (no close, no flush); the child's exit status is body's
 * result, which must be 0. */
static void in_killed_child(struct tstore *t, int (*body)(struct tstore *t))
{
    tstore_shut(t);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tstore_reopen(t);
        _exit(body(t));
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writing child failed (%d)",
                  WEXITSTATUS(st));
}

/* Copies data.mdb to name in t's folder. */
static int copy_data(struct tstore *t, const char *name)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    snprintf(from, sizeof from, "%s/data.mdb", t->dir);
    snprintf(to, sizeof to, "%s/%s", t->dir, name);
    return copy_path(from, to);
}

/* FIRST records, a durable point, a copy of the data file as it was then
 * (at_sync.mdb), then deletes, overwrites and new records, committed and
 * not made durable. */
static int changes_after_a_point(struct tstore *t)
{
    int rc = put_range(t->s, 0, FIRST, 10, 1, 0);
    if (rc == 0)
        rc = store_sync(t->s);
    if (rc == 0)
        rc = copy_data(t, "at_sync.mdb");
    /* Deleting and rewriting frees pages of the durable point, and new
     * records want pages: without the pin LMDB would reuse them. */
    if (rc == 0)
        rc = put_range(t->s, 0, FIRST / 2, 5, 0, 1);
    if (rc == 0)
        rc = put_range(t->s, FIRST / 2, FIRST, 5, 1000, 0);
    if (rc == 0)
        rc = put_range(t->s, FIRST, 2 * FIRST, 5, 1, 0);
    return rc == 0 ? 0 : 1;
}

static void crash_after_changes(struct tstore *t)
{
    in_killed_child(t, changes_after_a_point);
}

/* Puts each page after the two meta pages back to its content in
 * at_sync.mdb with probability 1/2 (seeded): the writes after the durable
 * point that did not reach the disk. */
static void lose_writes(const char *dir, uint64_t seed)
{
    char a[PATH_MAX + 16], b[PATH_MAX + 16];
    snprintf(a, sizeof a, "%s/at_sync.mdb", dir);
    snprintf(b, sizeof b, "%s/data.mdb", dir);
    int fa = open(a, O_RDONLY), fb = open(b, O_RDWR);
    ck_assert(fa >= 0 && fb >= 0);
    struct stat sa;
    ck_assert_int_eq(fstat(fa, &sa), 0);
    uint8_t page[4096], rnd[8];
    for (off_t off = 2 * 4096; off + 4096 <= sa.st_size; off += 4096) {
        fill_random(rnd, sizeof rnd, seed + (uint64_t)off);
        if (rnd[0] & 1)
            continue;
        ck_assert_int_eq(pread(fa, page, sizeof page, off), (ssize_t)sizeof page);
        ck_assert_int_eq(pwrite(fb, page, sizeof page, off), (ssize_t)sizeof page);
    }
    close(fa);
    close(fb);
}

static int count_op(const struct log_entry *e, void *arg)
{
    int *n = arg;
    if (strcmp(e->op, "test-del") == 0)
        n[0]++;
    else if (strcmp(e->op, "recover") == 0)
        n[1]++;
    return 0;
}

/* A store with changes past its durable point: *point, and the newest
 * transaction, *newest. */
static void crash_past_the_point(struct tstore *t, uint64_t *point, uint64_t *newest)
{
    tstore_open(t);
    crash_after_changes(t);
    *point = recorded_txnid(t->dir);
    *newest = newest_meta_txnid(t->dir);
    ck_assert_uint_gt(*newest, *point);
}

START_TEST(test_durable_power_loss_goes_back_to_the_durable_point)
{
    struct tstore t;
    uint64_t point, newest;
    crash_past_the_point(&t, &point, &newest);

    lose_writes(t.dir, (uint64_t)_i * 7919);
    uint64_t from, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(from, newest);
    ck_assert_uint_eq(to, point);
    ck_assert_uint_eq(newest_meta_txnid(t.dir), point);

    /* Exactly the store of the durable point, whole. */
    tstore_reopen(&t);
    for (int i = 0; i < 2 * FIRST; i++)
        ck_assert_int_eq(record_state(t.s, i, 1), i < FIRST ? 0 : 1);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_CHUNKS), FIRST);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    int n[2] = {0, 0};
    uint64_t bad = 0;
    ck_assert_int_eq(log_each(t.s, txn, count_op, n, &bad), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(n[0], 0); /* the deletes after the point are undone */
    ck_assert_int_eq(n[1], 1); /* and the log says so, once */

    /* A second writable open that read the same notice before the first
     * cleared it tells nothing more; another range is told. */
    ck_assert_int_eq(store_log_undone(t.s, from, to, 0), 0);
    n[0] = n[1] = 0;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(log_each(t.s, txn, count_op, n, &bad), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(n[1], 1);
    ck_assert_int_eq(store_log_undone(t.s, from + 1, to, 0), 0);
    n[0] = n[1] = 0;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(log_each(t.s, txn, count_op, n, &bad), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(n[1], 2);

    /* The store goes on: a change after the recovery is kept. */
    ck_assert_int_eq(put_range(t.s, 0, 1, 1, 77, 0), 0);
    tstore_shut(&t);
    tstore_reopen(&t);
    ck_assert_int_eq(record_state(t.s, 0, 77), 0);
    ck_assert_int_eq(record_state(t.s, 1, 1), 0);
    tstore_close(&t);
}
END_TEST

static void newest_record(const char *dir, struct durable_point *p);

static int find_recover(const struct log_entry *e, void *arg)
{
    char **detail = arg;
    if (strcmp(e->op, "recover") == 0) {
        ck_assert_ptr_null(*detail); /* once */
        *detail = strdup(e->detail);
    }
    return 0;
}

/* The detail of the store's one `recover` log entry (malloc'ed). */
static char *recover_detail(struct store *s)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(s, 1, &txn), 0);
    char *detail = NULL;
    uint64_t bad = 0;
    ck_assert_int_eq(log_each(s, txn, find_recover, &detail, &bad), 0);
    store_txn_abort(txn);
    ck_assert_ptr_nonnull(detail);
    return detail;
}

/* The power fails again during the recovery: after its notice of the
 * undone transactions was written (_i 0), after the meta pages were set
 * back, before its record (_i 1), or while they were flushed, one of them
 * set back and the other left at a transaction older than the newest
 * (_i 2).  The next recovery ends the job, and the open logs the undoing
 * once, with the transactions undone the first time (the meta pages set
 * back no longer tell them). */
START_TEST(test_durable_recovery_cut_short_keeps_its_notice)
{
    struct tstore t;
    uint64_t point, newest;
    crash_past_the_point(&t, &point, &newest);
    lose_writes(t.dir, (uint64_t)_i * 7919 + 1);
    uint64_t from, to;
    durable_test_stop = _i < 2 ? _i + 1 : 2;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    durable_test_stop = 0;
    ck_assert_uint_eq(newest_meta_txnid(t.dir), _i == 0 ? newest : point);
    if (_i == 2) {
        /* Only the meta page that held the newest transaction reached the
         * disk set back; the other holds the one before it (or older),
         * newer than the point. */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/data.mdb", t.dir);
        int fd = open(path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        uint8_t page[4096];
        off_t other = (off_t)((newest + 1) & 1) * 4096;
        ck_assert_int_eq(pread(fd, page, sizeof page, other), (ssize_t)sizeof page);
        ck_assert_uint_gt(newest - 1, point);
        uint64_t older = newest - 1;
        memcpy(page + DURABLE_META_OFFSET + 128, &older, sizeof older); /* mm_txnid */
        ck_assert_int_eq(pwrite(fd, page, sizeof page, other), (ssize_t)sizeof page);
        close(fd);
        ck_assert_uint_eq(newest_meta_txnid(t.dir), older);
    }
    static const char THIRD_BOOT[DURABLE_BOOT_BYTES] = "a-third-boot";
    ck_assert_int_eq(durable_recover(t.dir, THIRD_BOOT, &from, &to), 0);
    ck_assert_uint_eq(to, point);
    ck_assert_uint_eq(newest_meta_txnid(t.dir), point);
    struct durable_point *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    newest_record(t.dir, p);
    ck_assert_uint_eq(p->undone_from, newest);
    ck_assert_uint_eq(p->undone_to, point);
    free(p);

    tstore_reopen(&t);
    char *detail = recover_detail(t.s);
    char want[128];
    snprintf(want, sizeof want, "power loss: transactions %llu to %llu had not reached",
             (unsigned long long)point + 1, (unsigned long long)newest);
    ck_assert_msg(strstr(detail, want) != NULL, "recover entry: %s", detail);
    free(detail);
    for (int i = 0; i < 2 * FIRST; i++)
        ck_assert_int_eq(record_state(t.s, i, 1), i < FIRST ? 0 : 1);
    tstore_close(&t);
}
END_TEST

START_TEST(test_durable_killed_process_loses_nothing)
{
    struct tstore t;
    tstore_open(&t);
    crash_after_changes(&t);
    ck_assert_uint_gt(newest_meta_txnid(t.dir), recorded_txnid(t.dir));
    /* Same boot: the page cache outlived the process; nothing is undone. */
    tstore_reopen(&t);
    for (int i = 0; i < 2 * FIRST; i++)
        ck_assert_int_eq(record_state(t.s, i, i < FIRST / 2 ? 0 : i < FIRST ? 1000 : 1),
                         i < FIRST / 2 ? 1 : 0);
    /* The reopen made it all durable. */
    ck_assert_uint_eq(recorded_txnid(t.dir), newest_meta_txnid(t.dir));
    tstore_close(&t);
}
END_TEST

START_TEST(test_durable_sync_records_the_last_commit)
{
    struct tstore t;
    tstore_open(&t);
    ck_assert_int_eq(store_sync_due(t.s), 0);
    ck_assert_int_eq(put_range(t.s, 0, 20, 10, 1, 0), 0);
    ck_assert_int_eq(store_sync_due(t.s), 1);
    ck_assert_uint_lt(recorded_txnid(t.dir), newest_meta_txnid(t.dir));
    ck_assert_int_eq(store_sync(t.s), 0);
    ck_assert_int_eq(store_sync_due(t.s), 0);
    MDB_envinfo info;
    ck_assert_int_eq(mdb_env_info(t.s->env, &info), 0);
    ck_assert_uint_eq(recorded_txnid(t.dir), info.me_last_txnid);
    ck_assert_uint_eq(recorded_txnid(t.dir), newest_meta_txnid(t.dir));
    tstore_close(&t);
}
END_TEST

/* A torn write of the newest slot leaves the one before it. */
START_TEST(test_durable_torn_record_falls_back)
{
    struct tstore t;
    tstore_open(&t);
    /* Points of kind (a): the close then records nothing more (a point of
     * kind (b) is recorded again as of kind (a) when the store closes). */
    t.s->one_flush = 0;
    ck_assert_int_eq(put_range(t.s, 0, 5, 5, 1, 0), 0);
    ck_assert_int_eq(store_sync(t.s), 0);
    uint64_t older = recorded_txnid(t.dir);
    ck_assert_int_eq(put_range(t.s, 5, 10, 5, 1, 0), 0);
    ck_assert_int_eq(store_sync(t.s), 0);
    uint64_t newer = recorded_txnid(t.dir);
    ck_assert_uint_gt(newer, older);
    tstore_shut(&t);
    int fd = durable_open(t.dir, 0);
    ck_assert_int_ge(fd, 0);
    uint8_t slot[DURABLE_SLOT_BYTES];
    int torn = -1;
    /* The slots are at 4096 and 8192 (store/FORMAT.md). */
    for (int i = 1; i <= 2 && torn < 0; i++) {
        ck_assert_int_eq(pread(fd, slot, sizeof slot, i * DURABLE_SLOT_BYTES),
                         DURABLE_SLOT_BYTES);
        if (codec_be64_get(slot + 16) == newer) {
            slot[100] ^= 0x40;
            ck_assert_int_eq(pwrite(fd, slot, sizeof slot, i * DURABLE_SLOT_BYTES),
                             DURABLE_SLOT_BYTES);
            torn = i;
        }
    }
    ck_assert_int_ge(torn, 0);
    struct durable_point p;
    ck_assert_int_eq(durable_read(fd, &p), 0);
    close(fd);
    ck_assert_uint_lt(p.txnid, newer);
    tstore_close(&t);
}
END_TEST

/* A data file put in place by hand (another inode) is not set back to a
 * point recorded for the file it replaced. */
START_TEST(test_durable_record_of_another_file_is_ignored)
{
    struct tstore t;
    tstore_open(&t);
    crash_after_changes(&t);
    uint64_t newest = newest_meta_txnid(t.dir);
    char from[PATH_MAX + 16], tmp[PATH_MAX + 16];
    snprintf(from, sizeof from, "%s/data.mdb", t.dir);
    snprintf(tmp, sizeof tmp, "%s/copy.mdb", t.dir);
    ck_assert_int_eq(copy_path(from, tmp), 0);
    ck_assert_int_eq(rename(tmp, from), 0);
    uint64_t f, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &f, &to), 0);
    ck_assert_uint_eq(f, to);
    ck_assert_uint_eq(newest_meta_txnid(t.dir), newest);
    tstore_reopen(&t);
    ck_assert_int_eq(record_state(t.s, 2 * FIRST - 1, 1), 0);
    tstore_close(&t);
}
END_TEST

/* The newest record (npages: 0 for a point made with two flushes). */
static void newest_record(const char *dir, struct durable_point *p)
{
    int fd = durable_open(dir, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(durable_read(fd, p), 0);
    close(fd);
}

/* The bytes of slot i (0 or 1) of dir's durable file. */
static void read_slot(const char *dir, int i, uint8_t s[DURABLE_SLOT_BYTES])
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/durable", dir);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, s, DURABLE_SLOT_BYTES, (off_t)(i + 1) * DURABLE_SLOT_BYTES),
                     DURABLE_SLOT_BYTES);
    close(fd);
}

/* The record in slot i (0 or 1) of dir's durable file, read alone;
 * 0, or -ENOENT when that slot holds none. */
static int slot_record(const char *dir, int i, struct durable_point *p)
{
    char path[PATH_MAX + 16], sub[PATH_MAX + 16], to[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/durable", dir);
    snprintf(sub, sizeof sub, "%s/slot", dir);
    mkdir(sub, 0700);
    snprintf(to, sizeof to, "%s/durable", sub);
    ck_assert_int_eq(copy_path(path, to), 0);
    int fd = open(to, O_RDWR);
    ck_assert_int_ge(fd, 0);
    static const uint8_t zero[DURABLE_SLOT_BYTES];
    ck_assert_int_eq(pwrite(fd, zero, sizeof zero, (off_t)(2 - i) * DURABLE_SLOT_BYTES),
                     (ssize_t)sizeof zero);
    int rc = durable_read(fd, p);
    close(fd);
    unlink(to);
    rmdir(sub);
    return rc;
}

static uint64_t last_txnid(struct store *s)
{
    MDB_envinfo info;
    ck_assert_int_eq(mdb_env_info(s->env, &info), 0);
    return info.me_last_txnid;
}

/* Whether each page p lists is in dir's data file as written. */
static int listed_pages_intact(const char *dir, const struct durable_point *p)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t page[4096], tag[WRITTEN_TAG_BYTES];
    int ok = 1;
    for (uint32_t i = 0; i < p->npages; i++) {
        ck_assert_uint_ge(p->pages[i].pgno, 2);
        ck_assert_int_eq(pread(fd, page, sizeof page, (off_t)(p->pages[i].pgno * 4096)),
                         (ssize_t)sizeof page);
        written_tag(p->key, page, sizeof page, tag);
        ok &= memcmp(tag, p->pages[i].tag, sizeof tag) == 0;
    }
    close(fd);
    return ok;
}

/* Puts records lo..hi-1 (`per` to a commit), makes a durable point and
 * reads its record into p: the last commit's. */
static void put_and_sync(struct tstore *t, int lo, int hi, int per, uint64_t seed,
                         struct durable_point *p)
{
    ck_assert_int_eq(put_range(t->s, lo, hi, per, seed, 0), 0);
    ck_assert_int_eq(store_sync(t->s), 0);
    newest_record(t->dir, p);
    ck_assert_uint_eq(p->txnid, last_txnid(t->s));
}

/* A few small commits make a point whose record lists the pages they
 * wrote (one flush); a large change, or a commit by another process, make
 * a point the old way (two flushes); the next small one lists again. */
START_TEST(test_durable_one_flush_point_lists_its_pages)
{
    struct tstore t;
    tstore_open(&t);
    t.s->one_flush = 1;
    struct durable_point *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    put_and_sync(&t, 0, 5, 1, 1, p);
    ck_assert_uint_gt(p->npages, 0);
    ck_assert_int_eq(listed_pages_intact(t.dir, p), 1);
    ck_assert_uint_eq(t.s->one_flush_points, 1);

    /* More pages than a record holds. */
    put_and_sync(&t, 5, 400, 100, 1, p);
    ck_assert_uint_eq(p->npages, 0);

    put_and_sync(&t, 0, 2, 1, 2, p);
    ck_assert_uint_gt(p->npages, 0);
    ck_assert_uint_eq(t.s->one_flush_points, 2);

    /* Another process commits (and records its point) between two of
     * this one's: the pages it wrote are not in this process's list. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct tstore c = t;
        c.s = NULL;
        tstore_reopen(&c);
        int rc = put_range(c.s, 2, 3, 1, 3, 0);
        store_close(c.s);
        _exit(rc == 0 ? 0 : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    put_and_sync(&t, 3, 4, 1, 3, p);
    ck_assert_uint_eq(p->npages, 0);
    put_and_sync(&t, 4, 5, 1, 3, p);
    ck_assert_uint_gt(p->npages, 0);
    /* Closing lets go of the pins: the point is recorded again, of kind
     * (a), so a recovery trusts it without its pages. */
    uint64_t last = p->txnid;
    tstore_shut(&t);
    newest_record(t.dir, p);
    ck_assert_uint_eq(p->txnid, last);
    ck_assert_uint_eq(p->npages, 0);
    free(p);
    tstore_close(&t);
}
END_TEST

/* States of the one-flush power-loss tests: the seed each record holds
 * (0: absent). */
#define SMALL 12 /* records changed after the first point */
static uint64_t state_seed(int state, int i)
{
    if (state >= 2 && i >= 3 && i < 6)
        return 600;
    if (state >= 2 && i == 6)
        return 0;
    if (state >= 1 && i < 3)
        return 500;
    return i < FIRST ? 1 : 0;
}

static void assert_state(struct store *s, int state)
{
    for (int i = 0; i < FIRST + SMALL; i++) {
        uint64_t seed = state_seed(state, i);
        ck_assert_msg(record_state(s, i, seed ? seed : 1) == (seed ? 0 : 1),
                      "record %d is not as in state %d", i, state);
    }
}

/* Every record written again, many times; not made durable. */
static int rewrite_all(struct tstore *t)
{
    int rc = 0;
    for (int round = 0; rc == 0 && round < 20; round++)
        rc = put_range(t->s, 0, FIRST, 50, 700 + (uint64_t)round, 0);
    return rc == 0 ? 0 : 1;
}

/* State 0 (FIRST records) made durable; state 1 (three records changed, a
 * commit each) made durable in one flush (point P1), a copy of the data
 * file then (at_p1.mdb); state 2 (three more changed, one deleted)
 * likewise (P2, at_p2.mdb); with later, then many changes committed and
 * not made durable, which want pages. */
static int one_flush_points_then(struct tstore *t, int later)
{
    t->s->one_flush = 1;
    struct durable_point *p = malloc(sizeof *p);
    int fd = durable_open(t->dir, 0);
    int rc = p && fd >= 0 ? put_sync(t->s, 0, FIRST, 10, 1) : 1;
    if (rc == 0)
        rc = put_sync(t->s, 0, 3, 1, 500);
    if (rc == 0 && (durable_read(fd, p) != 0 || p->npages == 0))
        rc = 2; /* P1 was not made in one flush */
    if (rc == 0)
        rc = copy_data(t, "at_p1.mdb");
    if (rc == 0)
        rc = put_range(t->s, 3, 6, 1, 600, 0);
    if (rc == 0)
        rc = put_range(t->s, 6, 7, 1, 0, 1);
    if (rc == 0)
        rc = store_sync(t->s);
    if (rc == 0 && (durable_read(fd, p) != 0 || p->npages == 0))
        rc = 3;
    if (rc == 0)
        rc = copy_data(t, "at_p2.mdb");
    if (rc == 0 && later)
        rc = rewrite_all(t);
    if (rc == 0 && later)
        rc = put_range(t->s, 10, 20, 2, 0, 1);
    return rc == 0 ? 0 : rc > 0 ? rc : 1;
}

static int one_flush_points(struct tstore *t)
{
    return one_flush_points_then(t, 1);
}

/* The process ends right after P2, its record of kind (b). */
static int one_flush_points_only(struct tstore *t)
{
    return one_flush_points_then(t, 0);
}

/* A new store left by body in a killed child; its newest record (free
 * it). */
static struct durable_point *crash_after(struct tstore *t, int (*body)(struct tstore *t))
{
    tstore_open(t);
    in_killed_child(t, body);
    struct durable_point *p = malloc(sizeof *p);
    ck_assert_ptr_nonnull(p);
    newest_record(t->dir, p);
    return p;
}

/* A store left by one_flush_points; its newest record, P2 (free it). */
static struct durable_point *crash_after_one_flush_points(struct tstore *t)
{
    struct durable_point *p = crash_after(t, one_flush_points);
    ck_assert_uint_gt(p->npages, 0);
    return p;
}

/* Recovers t's store as in a new boot: it must come back to transaction
 * point, in the given state.  *from: the newest transaction found. */
static void recover_to(struct tstore *t, uint64_t point, int state, uint64_t *from)
{
    uint64_t to;
    ck_assert_int_eq(durable_recover(t->dir, OTHER_BOOT, from, &to), 0);
    ck_assert_uint_eq(to, point);
    ck_assert_uint_eq(newest_meta_txnid(t->dir), point);
    tstore_reopen(t);
    assert_state(t->s, state);
}

/* data.mdb := `to` with each page after the meta pages (and, with metas,
 * each meta page) put back, with probability 1/2, to its content in
 * `from` (zeros past its end). */
static void mix_pages(const char *dir, const char *from, const char *to, uint64_t seed,
                      int metas)
{
    char a[PATH_MAX + 16], b[PATH_MAX + 16], d[PATH_MAX + 16];
    snprintf(a, sizeof a, "%s/%s", dir, from);
    snprintf(b, sizeof b, "%s/%s", dir, to);
    snprintf(d, sizeof d, "%s/data.mdb", dir);
    if (strcmp(to, "data.mdb") != 0)
        ck_assert_int_eq(copy_path(b, d), 0);
    int fa = open(a, O_RDONLY), fd = open(d, O_RDWR);
    ck_assert(fa >= 0 && fd >= 0);
    struct stat sd;
    ck_assert_int_eq(fstat(fd, &sd), 0);
    uint8_t page[4096], rnd[8];
    for (off_t off = metas ? 0 : 2 * 4096; off + 4096 <= sd.st_size; off += 4096) {
        fill_random(rnd, sizeof rnd, seed + (uint64_t)off);
        if (rnd[0] & 1)
            continue;
        ssize_t n = pread(fa, page, sizeof page, off);
        ck_assert_int_ge(n, 0);
        memset(page + n, 0, sizeof page - (size_t)n);
        ck_assert_int_eq(pwrite(fd, page, sizeof page, off), (ssize_t)sizeof page);
    }
    close(fa);
    close(fd);
}

/* Puts page pgno of data.mdb back to its content in `from`. */
static void put_back_page(const char *dir, const char *from, uint64_t pgno)
{
    char a[PATH_MAX + 16], d[PATH_MAX + 16];
    snprintf(a, sizeof a, "%s/%s", dir, from);
    snprintf(d, sizeof d, "%s/data.mdb", dir);
    int fa = open(a, O_RDONLY), fd = open(d, O_RDWR);
    ck_assert(fa >= 0 && fd >= 0);
    uint8_t page[4096];
    ssize_t n = pread(fa, page, sizeof page, (off_t)(pgno * 4096));
    ck_assert_int_ge(n, 0);
    memset(page + n, 0, sizeof page - (size_t)n);
    ck_assert_int_eq(pwrite(fd, page, sizeof page, (off_t)(pgno * 4096)), (ssize_t)sizeof page);
    close(fa);
    close(fd);
}

/* Puts both meta pages of data.mdb back to their content in `from`
 * (the commits after it did not reach the disk). */
static void put_back_metas(const char *dir, const char *from)
{
    put_back_page(dir, from, 0);
    put_back_page(dir, from, 1);
}

static uint64_t meta_txnid_of(const char *dir, const char *name)
{
    char path[PATH_MAX + 16], sub[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char to[PATH_MAX + 32];
    snprintf(to, sizeof to, "%s/data.mdb", sub);
    ck_assert_int_eq(copy_path(path, to), 0);
    uint64_t t = newest_meta_txnid(sub);
    unlink(to);
    rmdir(sub);
    return t;
}

/* The power failed while P2's one flush ran: some of P2's pages (and its
 * record) reached the disk, one of them at least did not.  The store
 * comes back as of P1, whole. */
START_TEST(test_durable_one_flush_cut_short_goes_back_to_the_point_before)
{
    struct tstore t;
    struct durable_point *p = crash_after_one_flush_points(&t);
    uint64_t p1 = meta_txnid_of(t.dir, "at_p1.mdb");
    ck_assert_uint_eq(p->txnid, meta_txnid_of(t.dir, "at_p2.mdb"));
    ck_assert_uint_gt(p->txnid, p1);

    mix_pages(t.dir, "at_p1.mdb", "at_p2.mdb", (uint64_t)_i * 104729, 1);
    put_back_page(t.dir, "at_p1.mdb", p->pages[(uint32_t)_i % p->npages].pgno);
    ck_assert_int_eq(listed_pages_intact(t.dir, p), 0);
    int k = slot_record(t.dir, 0, p) == 0 && p->txnid > p1 ? 0 : 1;
    ck_assert_int_eq(slot_record(t.dir, k, p), 0);
    ck_assert_uint_gt(p->txnid, p1);
    ck_assert_int_eq(slot_record(t.dir, 1 - k, p), 0);
    ck_assert_uint_eq(p->txnid, p1);
    uint8_t p1_record[DURABLE_SLOT_BYTES];
    read_slot(t.dir, 1 - k, p1_record);
    uint64_t from, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(to, p1);
    uint8_t now[DURABLE_SLOT_BYTES];
    read_slot(t.dir, 1 - k, now);
    if (from == p1) {
        /* Nothing undone (P2's meta page did not reach the disk): the
         * recovery's record went over P2's, P1's stays as it was (a
         * record torn by a power loss in the recovery leaves it). */
        ck_assert_mem_eq(now, p1_record, sizeof now);
    } else {
        /* Undone: the notice went first over P2's record (P1 as of kind
         * (a) in its boot), then the recovery's record over P1's: each
         * write left a whole record of P1 in the other slot. */
        ck_assert_int_eq(slot_record(t.dir, 1 - k, p), 0);
        ck_assert_uint_eq(p->txnid, p1);
        ck_assert_uint_eq(p->npages, 0);
        ck_assert_uint_eq(p->undone_to, p1);
    }
    ck_assert_int_eq(slot_record(t.dir, k, p), 0);
    ck_assert_uint_eq(p->txnid, p1);
    ck_assert_uint_eq(p->npages, 0);
    ck_assert_uint_eq(newest_meta_txnid(t.dir), p1);
    tstore_reopen(&t);
    assert_state(t.s, 1);
    /* Where transactions were undone (P2's meta page reached the disk),
     * the open logged that and made it durable: the newest record is
     * that point, of kind (a), its notice cleared (never the record from
     * before the entry, written back). */
    newest_record(t.dir, p);
    if (from > p1)
        ck_assert_uint_gt(p->txnid, p1);
    else
        ck_assert_uint_eq(p->txnid, p1);
    ck_assert_uint_eq(p->txnid, newest_meta_txnid(t.dir));
    ck_assert_uint_eq(p->undone_to, 0);
    ck_assert_uint_eq(p->npages, 0); /* confirmed: nothing left to check */
    /* The store goes on from there. */
    ck_assert_int_eq(put_range(t.s, 6, 7, 1, 900, 0), 0);
    ck_assert_int_eq(store_sync(t.s), 0);
    tstore_shut(&t);
    tstore_reopen(&t);
    ck_assert_int_eq(record_state(t.s, 6, 900), 0);
    tstore_close(&t);
    free(p);
}
END_TEST

/* The power fails again while the recovery that went back from P2 to P1
 * writes its record (over P2's): that slot is torn, and P1's record, of
 * kind (b), is the newest whole one.  Its check still passes: while P2
 * was the newest point the pin on P1's predecessor kept every page P1
 * lists as written, and the recovery wrote only meta pages.  The store
 * comes back as of P1, whole. */
START_TEST(test_durable_recovery_cut_short_keeps_the_point_it_went_back_to)
{
    struct tstore t;
    struct durable_point *p = crash_after_one_flush_points(&t);
    uint64_t p1 = meta_txnid_of(t.dir, "at_p1.mdb");
    mix_pages(t.dir, "at_p1.mdb", "at_p2.mdb", (uint64_t)_i * 7907, 1);
    put_back_page(t.dir, "at_p1.mdb", p->pages[(uint32_t)_i % p->npages].pgno);
    int k = slot_record(t.dir, 0, p) == 0 && p->txnid > p1 ? 0 : 1;
    ck_assert_int_eq(slot_record(t.dir, 1 - k, p), 0);
    ck_assert_uint_eq(p->txnid, p1);
    ck_assert_uint_gt(p->npages, 0); /* P1 is of kind (b) */
    uint64_t from, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(to, p1);

    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/durable", t.dir);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t torn[DURABLE_SLOT_BYTES / 2];
    memset(torn, 0x5a, sizeof torn);
    ck_assert_int_eq(pwrite(fd, torn, sizeof torn, (off_t)(k + 1) * DURABLE_SLOT_BYTES +
                                                       DURABLE_SLOT_BYTES / 4),
                     (ssize_t)sizeof torn);
    close(fd);
    ck_assert_int_eq(slot_record(t.dir, k, p), -ENOENT);

    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(to, p1);
    ck_assert_uint_eq(newest_meta_txnid(t.dir), p1);
    newest_record(t.dir, p);
    ck_assert_uint_eq(p->txnid, p1);
    ck_assert_uint_eq(p->npages, 0);
    tstore_reopen(&t);
    assert_state(t.s, 1);
    tstore_close(&t);
    free(p);
}
END_TEST

/* P2's flush ended; of the later changes, any part reached the disk.
 * The store comes back as of P2, whole: no page P2 lists was written
 * again after it (the pin on P1), so its check passes. */
START_TEST(test_durable_one_flush_point_survives_later_writes)
{
    struct tstore t;
    struct durable_point *p = crash_after_one_flush_points(&t);
    uint64_t p2 = p->txnid, newest = newest_meta_txnid(t.dir);
    ck_assert_uint_gt(newest, p2);
    ck_assert_int_eq(listed_pages_intact(t.dir, p), 1);

    mix_pages(t.dir, "at_p2.mdb", "data.mdb", (uint64_t)_i * 7919, 0);
    uint64_t from;
    recover_to(&t, p2, 2, &from);
    ck_assert_uint_eq(from, newest);
    tstore_close(&t);
    free(p);
}
END_TEST

/* P2's pages and record reached the disk, its meta page did not: the
 * store comes forward to P2. */
START_TEST(test_durable_one_flush_point_without_its_meta_page)
{
    struct tstore t;
    struct durable_point *p = crash_after_one_flush_points(&t);
    uint64_t p2 = p->txnid;
    /* at_p2 with at_p1's meta pages */
    char a[PATH_MAX + 16], d[PATH_MAX + 16];
    snprintf(a, sizeof a, "%s/at_p2.mdb", t.dir);
    snprintf(d, sizeof d, "%s/data.mdb", t.dir);
    ck_assert_int_eq(copy_path(a, d), 0);
    put_back_metas(t.dir, "at_p1.mdb");
    ck_assert_uint_lt(newest_meta_txnid(t.dir), p2);
    uint64_t from;
    recover_to(&t, p2, 2, &from);
    ck_assert_uint_eq(from, p2); /* nothing undone */
    tstore_close(&t);
    free(p);
}
END_TEST

/* The process ended right after P2 (of kind (b): no pin holds P1 now),
 * and the store is opened again in the same boot: the open records its
 * point of kind (a), so that a recovery trusts it as it is and never
 * falls back to P1, whose pages the changes after the open may write
 * over.  A power loss after many of them takes the store back to P2,
 * whole. */
START_TEST(test_durable_restart_after_a_one_flush_point)
{
    struct tstore t;
    struct durable_point *p = crash_after(&t, one_flush_points_only);
    uint64_t p2 = p->txnid;
    ck_assert_uint_gt(p->npages, 0);
    ck_assert_uint_eq(newest_meta_txnid(t.dir), p2);

    tstore_reopen(&t);
    newest_record(t.dir, p);
    ck_assert_uint_eq(p->txnid, p2);
    ck_assert_uint_eq(p->npages, 0);
    /* Changes after the open, none of them made durable; a power loss
     * in which all but the meta pages reached the disk. */
    ck_assert_int_eq(copy_data(&t, "at_p2.mdb"), 0);
    in_killed_child(&t, rewrite_all);
    ck_assert_uint_gt(newest_meta_txnid(t.dir), p2);
    put_back_metas(t.dir, "at_p2.mdb");
    uint64_t from;
    recover_to(&t, p2, 2, &from);
    tstore_close(&t);
    free(p);
}
END_TEST

/* P1 and P2 as in one_flush_points; a commit that fails part way
 * (data.mdb may not grow: some of its pages written, the rest refused);
 * a record changed and made durable (P3, at_p3.mdb); then every record
 * rewritten, not made durable. */
static int failed_commit_then_a_point(struct tstore *t)
{
    int rc = one_flush_points_only(t);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", t->dir);
    struct stat st;
    struct rlimit was, lim;
    if (rc == 0 && (stat(path, &st) != 0 || getrlimit(RLIMIT_FSIZE, &was) != 0))
        rc = 4;
    signal(SIGXFSZ, SIG_IGN);
    lim = was;
    lim.rlim_cur = (rlim_t)st.st_size;
    if (rc == 0 && setrlimit(RLIMIT_FSIZE, &lim) != 0)
        rc = 5;
    if (rc == 0 && put_range(t->s, FIRST, FIRST + 200, 200, 800, 0) == 0)
        rc = 6; /* the commit was to fail */
    if (rc == 0 && setrlimit(RLIMIT_FSIZE, &was) != 0)
        rc = 7;
    if (rc == 0)
        rc = put_range(t->s, 500, 501, 1, 900, 0);
    if (rc == 0)
        rc = store_sync(t->s);
    if (rc == 0)
        rc = copy_data(t, "at_p3.mdb");
    if (rc == 0)
        rc = rewrite_all(t);
    return rc;
}

/* A commit that fails (a full disk, a write error) leaves pages written
 * that no point holds: the point after it must not list them, or a
 * recovery would find them written over and go back past a point whose
 * flush ended.  A power loss after later changes takes the store back to
 * P3, the last durable point, whole. */
START_TEST(test_durable_point_after_a_failed_commit)
{
    struct tstore t;
    struct durable_point *p = crash_after(&t, failed_commit_then_a_point);
    uint64_t p3 = p->txnid;
    ck_assert_uint_eq(p3, meta_txnid_of(t.dir, "at_p3.mdb"));
    ck_assert_uint_gt(newest_meta_txnid(t.dir), p3);
    put_back_metas(t.dir, "at_p3.mdb");
    uint64_t from, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(to, p3);
    tstore_reopen(&t);
    assert_state(t.s, 2);
    ck_assert_int_eq(record_state(t.s, 500, 900), 0);
    ck_assert_int_eq(record_state(t.s, FIRST + 100, 800), 1);
    tstore_close(&t);
    free(p);
}
END_TEST

/* Another writable process on the store (an administrator's command while
 * mounted) names its point T0 under LMDB's writer lock and flushes; before
 * it takes the durable file's lock, this process commits more and makes
 * T1 durable in one flush (its fsync returns 0); then the other writes its
 * record of T0.  The newest record must not go back to T0: a power loss
 * would undo T1. */
static int late_point_of_another_process(struct tstore *t)
{
    t->s->one_flush = 1;
    struct durable_point *q = calloc(1, sizeof *q), *p = malloc(sizeof *p);
    int rc = q && p ? put_sync(t->s, 0, 5, 1, 1) : 1;
    if (rc == 0)
        rc = put_sync(t->s, 0, 3, 1, 500);
    /* The other process's sync_point, up to its durable_write. */
    struct stat st;
    if (rc == 0) {
        q->txnid = last_txnid(t->s);
        memcpy(q->boot, t->s->boot, sizeof q->boot);
        if (fstat(t->s->datafd, &st) != 0 ||
            durable_meta_read(t->s->datafd, t->s->psize, q->txnid, q->meta) != 0 ||
            fdatasync(t->s->datafd) != 0)
            rc = 2;
        q->ino = (uint64_t)st.st_ino;
    }
    /* This process: T1, in one flush. */
    if (rc == 0)
        rc = put_range(t->s, 3, 6, 1, 600, 0);
    if (rc == 0)
        rc = store_sync(t->s);
    int fd = durable_open(t->dir, 0);
    if (rc == 0 && (fd < 0 || durable_read(fd, p) != 0 || p->npages == 0 ||
                    p->txnid != last_txnid(t->s)))
        rc = 3; /* T1 was not made in one flush */
    /* The other process's record of T0, late. */
    if (rc == 0 && durable_write(fd, q) != 0)
        rc = 4;
    if (fd >= 0)
        close(fd);
    free(p);
    free(q);
    return rc;
}

START_TEST(test_durable_late_point_of_another_process_does_not_go_back)
{
    struct tstore t;
    struct durable_point *p = crash_after(&t, late_point_of_another_process);
    uint64_t t1 = newest_meta_txnid(t.dir);
    ck_assert_uint_eq(p->txnid, t1); /* not gone back to T0 */
    /* A power loss once all had reached the disk: T1 stays. */
    uint64_t from, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(to, t1);
    free(p);
    tstore_close(&t);
}
END_TEST

/* P1 in one flush (at_p1.mdb); changes; then the flush of the next
 * point fails (a disk error): the sync fails, and so does every later
 * change of this process. */
static int flush_fails_after_p1(struct tstore *t)
{
    t->s->one_flush = 1;
    int rc = put_sync(t->s, 0, FIRST, 10, 1);
    if (rc == 0)
        rc = put_sync(t->s, 0, 3, 1, 500);
    if (rc == 0)
        rc = copy_data(t, "at_p1.mdb");
    if (rc == 0)
        rc = put_range(t->s, 3, 6, 1, 600, 0);
    if (rc)
        return 1;
    t->s->fail_flushes = 1;
    if (store_sync(t->s) != -EIO)
        return 2;
    if (put_range(t->s, 6, 7, 1, 0, 1) == 0)
        return 3; /* a change after the failed flush was taken */
    return 0;
}

/* A flush of the store file fails (the kernel reports the error once,
 * and may keep the pages as if written): the durable file says so, no
 * writable open in this boot goes on from the page cache (the open is
 * refused, a read-only one is not), and after a restart the store is as
 * of P1, the last point whose flush ended, with a log entry saying that a
 * write failed. */
START_TEST(test_durable_failed_flush_holds_the_store_until_a_restart)
{
    struct tstore t;
    struct durable_point *p = crash_after(&t, flush_fails_after_p1);
    uint64_t p1 = meta_txnid_of(t.dir, "at_p1.mdb");
    ck_assert_uint_eq(p->txnid, p1);
    ck_assert_uint_eq(p->npages, 0);
    ck_assert_uint_eq(p->flags, DURABLE_WRITE_FAILED);
    uint64_t newest = newest_meta_txnid(t.dir);
    ck_assert_uint_gt(newest, p1);

    struct keys *k;
    struct store *s = NULL;
    ck_assert_int_eq(store_unlock(t.dir, TEST_PASS, strlen(TEST_PASS), &k), 0);
    ck_assert_int_eq(store_open(t.dir, k, 0, &s), -EUCLEAN);
    ck_assert_int_eq(store_unlock(t.dir, TEST_PASS, strlen(TEST_PASS), &k), 0);
    ck_assert_int_eq(store_open(t.dir, k, STORE_OPEN_RDONLY, &s), 0);
    store_close(s);
    newest_record(t.dir, p);
    ck_assert_uint_eq(p->flags, DURABLE_WRITE_FAILED); /* still */

    uint64_t from, to;
    ck_assert_int_eq(durable_recover(t.dir, OTHER_BOOT, &from, &to), 0);
    ck_assert_uint_eq(from, newest);
    ck_assert_uint_eq(to, p1);
    tstore_reopen(&t);
    assert_state(t.s, 1);
    ck_assert_int_eq(record_state(t.s, 3, 600), -1); /* after P1: undone */
    char *detail = recover_detail(t.s);
    ck_assert_msg(strstr(detail, "a write to the store file failed") != NULL, "%s", detail);
    free(detail);
    newest_record(t.dir, p);
    ck_assert_uint_eq(p->flags, 0);
    /* The store goes on. */
    ck_assert_int_eq(put_sync(t.s, 6, 7, 1, 900), 0);
    tstore_close(&t);
    free(p);
}
END_TEST

Suite *durable_suite(void)
{
    Suite *s = suite_create("durable");
    TCase *tc = tcase_create("durable");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_durable_power_loss_goes_back_to_the_durable_point, 0, 4);
    tcase_add_test(tc, test_durable_killed_process_loses_nothing);
    tcase_add_test(tc, test_durable_sync_records_the_last_commit);
    tcase_add_test(tc, test_durable_torn_record_falls_back);
    tcase_add_loop_test(tc, test_durable_recovery_cut_short_keeps_its_notice, 0, 3);
    tcase_add_loop_test(tc, test_durable_recovery_cut_short_keeps_the_point_it_went_back_to, 0, 3);
    tcase_add_test(tc, test_durable_record_of_another_file_is_ignored);
    tcase_add_test(tc, test_durable_one_flush_point_lists_its_pages);
    tcase_add_loop_test(tc, test_durable_one_flush_cut_short_goes_back_to_the_point_before, 0, 4);
    tcase_add_loop_test(tc, test_durable_one_flush_point_survives_later_writes, 0, 4);
    tcase_add_test(tc, test_durable_one_flush_point_without_its_meta_page);
    tcase_add_test(tc, test_durable_restart_after_a_one_flush_point);
    tcase_add_test(tc, test_durable_point_after_a_failed_commit);
    tcase_add_test(tc, test_durable_late_point_of_another_process_does_not_go_back);
    tcase_add_test(tc, test_durable_failed_flush_holds_the_store_until_a_restart);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * store: creating, probing, unlocking and opening a store, the format
 * version check, and a full disk (MDB_MAP_FULL) reported as ENOSPC with
 * everything committed before still there.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/chunk.h"
#include "store/codec.h"
#include "store/durable.h"
#include "store/log.h"
#include "store/node.h"
#include "tests/unit/helpers.h"

static int count_entry(const struct log_entry *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

static void named(uint32_t pid, char *out, size_t len)
{
    struct store_actor a;
    store_actor_fill(&a, 0, 0, pid);
    store_actor_name(&a);
    snprintf(out, len, "%s", a.process);
}

/* The program that acted is named as it is at the moment of each change:
 * after an exec the new program, after the process ended nobody (not a
 * name kept from before). */
START_TEST(test_store_actor_names_the_program_of_the_moment)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[1]);
        execlp("sh", "sh", "-c", "read x; exec sleep 30", (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    char name[64] = "";
    for (int i = 0; i < 200 && strcmp(name, "sh") != 0; i++) {
        usleep(10000);
        named((uint32_t)pid, name, sizeof name);
    }
    ck_assert_str_eq(name, "sh");
    ck_assert_int_eq(write(fds[1], "\n", 1), 1);
    for (int i = 0; i < 200 && strcmp(name, "sleep") != 0; i++) {
        usleep(10000);
        named((uint32_t)pid, name, sizeof name);
    }
    ck_assert_str_eq(name, "sleep");
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    named((uint32_t)pid, name, sizeof name);
    ck_assert_str_eq(name, "");
    close(fds[1]);
}
END_TEST

START_TEST(test_store_create_probe_open)
{
    char dir[PATH_MAX];
    helper_tmpdir(dir, sizeof dir);
    struct store *s = NULL;
    struct store_actor a;
    ck_assert_int_eq(helper_store_create(dir, &s, &a), 0);
    ck_assert_ptr_nonnull(s);
    uint32_t found = 0;
    ck_assert_int_eq(store_probe(dir, &found), 0);
    ck_assert_uint_eq(found, STORE_FORMAT_VERSION);

    /* A new store has its root folder and one log entry, "init". */
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(s, 1, &txn), 0);
    struct node root;
    ck_assert_int_eq(node_get(s, txn, NODE_ROOT, &root), 0);
    ck_assert_uint_eq(root.type, NODE_DIR);
    ck_assert_uint_eq(root.state, NODE_LIVE);
    ck_assert_uint_eq(root.uid, a.uid);
    node_clear(&root);
    uint64_t seq;
    uint8_t mac[LOG_MAC_BYTES];
    ck_assert_int_eq(log_head(s, txn, &seq, mac), 0);
    ck_assert_uint_eq(seq, 1);
    int n = 0;
    uint64_t bad = 0;
    ck_assert_int_eq(log_each(s, txn, count_entry, &n, &bad), 0);
    ck_assert_int_eq(n, 1);
    store_txn_abort(txn);
    store_close(s);
    helper_rm_rf(dir);
}
END_TEST

START_TEST(test_store_create_refuses_existing)
{
    char dir[PATH_MAX];
    helper_tmpdir(dir, sizeof dir);
    struct store *s = NULL;
    struct store_actor a;
    ck_assert_int_eq(helper_store_create(dir, &s, &a), 0);
    store_close(s);
    ck_assert_int_eq(store_create(dir, "other", 5, &a), -EEXIST);
    /* The existing store is untouched: the old passphrase still unlocks. */
    struct keys *k = NULL;
    ck_assert_int_eq(store_unlock(dir, TEST_PASS, strlen(TEST_PASS), &k), 0);
    keys_free(k);

    /* A directory with other files is refused as well. */
    char other[PATH_MAX], file[PATH_MAX + 16];
    helper_tmpdir(other, sizeof other);
    snprintf(file, sizeof file, "%s/notes.txt", other);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("keep me\n", f);
    fclose(f);
    ck_assert_int_eq(store_create(other, TEST_PASS, strlen(TEST_PASS), &a), -EEXIST);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(store_probe(other, NULL), -ENOENT);
    helper_rm_rf(other);
    helper_rm_rf(dir);
}
END_TEST

START_TEST(test_store_create_empty_passphrase)
{
    char dir[PATH_MAX];
    helper_tmpdir(dir, sizeof dir);
    struct store_actor a;
    store_actor_self(&a);
    ck_assert_int_eq(store_create(dir, "", 0, &a), -EINVAL);
    ck_assert_int_eq(store_probe(dir, NULL), -ENOENT);
    helper_rm_rf(dir);
}
END_TEST

START_TEST(test_store_probe_missing)
{
    char dir[PATH_MAX], missing[PATH_MAX + 16];
    helper_tmpdir(dir, sizeof dir);
    snprintf(missing, sizeof missing, "%s/nothing-here", dir);
    ck_assert_int_eq(store_probe(missing, NULL), -ENOENT);
    ck_assert_int_eq(store_probe(dir, NULL), -ENOENT); /* empty directory */
    struct keys *k = NULL;
    ck_assert_int_eq(store_unlock(missing, TEST_PASS, strlen(TEST_PASS), &k), -ENOENT);
    ck_assert_ptr_null(k);
    helper_rm_rf(dir);
}
END_TEST

/* Overwrites the "format" key of "meta" with a 4-byte big-endian value,
 * the way a newer casefs would have written it. */
static void set_format(const char *dir, uint32_t version)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t b[4];
    codec_be32_put(b, version);
    MDB_val k = {6, (void *)"format"}, v = {4, b};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    /* stores before format 3 have no database "lists" */
    if (version < 3 && mdb_dbi_open(txn, "lists", 0, &dbi) == 0)
        ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

START_TEST(test_store_unknown_format)
{
    struct tstore t;
    tstore_open(&t);
    tstore_shut(&t);
    set_format(t.dir, 99);
    uint32_t found = 0;
    ck_assert_int_eq(store_probe(t.dir, &found), -EPROTO);
    ck_assert_uint_eq(found, 99);
    struct keys *k = NULL;
    ck_assert_int_eq(store_unlock(t.dir, TEST_PASS, strlen(TEST_PASS), &k), -EPROTO);
    ck_assert_ptr_null(k);
    ck_assert_int_eq(keys_new_random(&k), 0);
    struct store *s = NULL;
    ck_assert_int_eq(store_open(t.dir, k, 0, &s), -EPROTO);
    ck_assert_ptr_null(s);
    /* Back to the known version: accepted again. */
    set_format(t.dir, STORE_FORMAT_VERSION);
    ck_assert_int_eq(store_probe(t.dir, &found), 0);
    tstore_close(&t);
}
END_TEST

static char upgrade_detail[128];

static int count_upgrades(const struct log_entry *e, void *arg)
{
    if (strcmp(e->op, "upgrade") == 0) {
        (*(int *)arg)++;
        snprintf(upgrade_detail, sizeof upgrade_detail, "%s", e->detail);
    }
    return 0;
}

/* Rewrites dir's durable file the way formats 2 and 3 had it: 1,024
 * bytes, the record in the first of two slots of 512 (store/FORMAT.md).
 * Its transaction. */
static uint64_t durable_file_old(const char *dir)
{
    int fd = durable_open(dir, 0);
    ck_assert_int_ge(fd, 0);
    struct durable_point *p = malloc(sizeof *p);
    ck_assert_int_eq(durable_read(fd, p), 0);
    uint8_t s[1024] = {0};
    memcpy(s, "cfdurbl1", 8);
    codec_be64_put(s + 8, 7);
    codec_be64_put(s + 16, p->txnid);
    codec_be64_put(s + 24, p->ino);
    memcpy(s + 48, p->boot, DURABLE_BOOT_BYTES);
    memcpy(s + 88, p->meta, DURABLE_META_BYTES);
    crypto_generichash(s + 224, 32, s, 224, NULL, 0);
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(pwrite(fd, s, sizeof s, 0), (ssize_t)sizeof s);
    uint64_t txnid = p->txnid;
    ck_assert_int_eq(durable_read(fd, p), 0);
    ck_assert_uint_eq(p->txnid, txnid);
    close(fd);
    free(p);
    return txnid;
}

/* A store of format 1 (no durable file, no "lists"), 2 (no "lists") or 3
 * (a durable file of 1,024 bytes) is read as it is, and becomes format 4
 * at its first writable open, with a log entry saying so; its durable
 * file then has slots of 4 KiB, and the old ones are cleared. */
static void format_upgraded(uint32_t from, const char *detail)
{
    struct tstore t;
    tstore_open(&t);
    tstore_shut(&t);
    set_format(t.dir, from);
    char durable[PATH_MAX + 16];
    snprintf(durable, sizeof durable, "%s/durable", t.dir);
    if (from == 1)
        ck_assert_int_eq(unlink(durable), 0);
    else
        durable_file_old(t.dir);
    uint32_t found = 0;
    ck_assert_int_eq(store_probe(t.dir, &found), 0);
    ck_assert_uint_eq(found, from);

    struct keys *k;
    ck_assert_int_eq(store_unlock(t.dir, TEST_PASS, strlen(TEST_PASS), &k), 0);
    struct store *s;
    ck_assert_int_eq(store_open(t.dir, k, STORE_OPEN_RDONLY, &s), 0);
    ck_assert(s->no_lists == (from < 3));
    store_close(s);
    ck_assert_int_eq(store_probe(t.dir, &found), 0);
    ck_assert_uint_eq(found, from);
    struct stat st;
    if (from == 1)
        ck_assert_int_ne(stat(durable, &st), 0);

    for (int round = 0; round < 2; round++) {
        tstore_reopen(&t);
        ck_assert(!t.s->no_lists);
        ck_assert_int_eq(store_probe(t.dir, &found), 0);
        ck_assert_uint_eq(found, 4);
        ck_assert_int_eq(stat(durable, &st), 0);
        ck_assert_int_eq(st.st_size, DURABLE_FILE_BYTES);
        uint8_t head[1024], zero[1024] = {0};
        int fd = open(durable, O_RDONLY);
        ck_assert_int_eq(pread(fd, head, sizeof head, 0), (ssize_t)sizeof head);
        close(fd);
        ck_assert_mem_eq(head, zero, sizeof head);
        MDB_txn *txn;
        ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
        int n = 0;
        uint64_t bad = 0;
        ck_assert_int_eq(log_each(t.s, txn, count_upgrades, &n, &bad), 0);
        store_txn_abort(txn);
        ck_assert_int_eq(n, 1); /* once, not at every open */
        ck_assert_str_eq(upgrade_detail, detail);
        tstore_shut(&t);
    }
    tstore_close(&t);
}

START_TEST(test_store_format_1_is_upgraded)
{
    format_upgraded(
        1, "store format 1 to 4: durable points, list segments, durable records with pages");
}
END_TEST

START_TEST(test_store_format_2_is_upgraded)
{
    format_upgraded(2, "store format 2 to 4: list segments, durable records with pages");
}
END_TEST

START_TEST(test_store_format_3_is_upgraded)
{
    format_upgraded(3, "store format 3 to 4: durable records with pages");
}
END_TEST

/* An upgrade of the durable file cut short after it was made longer (a
 * crash; the store already says format 4): the next open finishes it, the
 * old slots cleared and the newest point kept.  Made longer with zeros
 * written (0) or with a hole (1, as a copy made sparse): the open writes
 * the hole's bytes, so that a slot is written in place. */
START_TEST(test_store_durable_upgrade_cut_short_is_finished)
{
    struct tstore t;
    tstore_open(&t);
    tstore_shut(&t);
    uint64_t txnid = durable_file_old(t.dir);
    char durable[PATH_MAX + 16];
    snprintf(durable, sizeof durable, "%s/durable", t.dir);
    int fd = open(durable, O_RDWR);
    ck_assert_int_ge(fd, 0);
    if (_i == 0) {
        static const uint8_t zero[DURABLE_FILE_BYTES - 1024];
        ck_assert_int_eq(pwrite(fd, zero, sizeof zero, 1024), (ssize_t)sizeof zero);
    } else {
        ck_assert_int_eq(ftruncate(fd, DURABLE_FILE_BYTES), 0);
    }
    struct stat st;
    ck_assert_int_eq(fsync(fd), 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    if (_i == 1)
        ck_assert_int_lt(st.st_blocks * 512, DURABLE_FILE_BYTES);
    close(fd);

    tstore_reopen(&t);
    tstore_shut(&t);
    fd = open(durable, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t head[1024], zero[1024] = {0};
    ck_assert_int_eq(pread(fd, head, sizeof head, 0), (ssize_t)sizeof head);
    ck_assert_mem_eq(head, zero, sizeof head);
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, DURABLE_FILE_BYTES);
    struct statfs sf;
    ck_assert_int_eq(fstatfs(fd, &sf), 0);
    if ((unsigned long)sf.f_type == 0xEF53UL) /* where a slot is written in place */
        ck_assert_int_ge(st.st_blocks * 512, DURABLE_FILE_BYTES);
    struct durable_point *p = malloc(sizeof *p);
    ck_assert_int_eq(durable_read(fd, p), 0);
    ck_assert_uint_ge(p->txnid, txnid);
    close(fd);
    free(p);
    tstore_reopen(&t);
    tstore_close(&t);
}
END_TEST

START_TEST(test_store_wrong_passphrase)
{
    struct tstore t;
    tstore_open(&t);
    tstore_shut(&t);
    struct keys *k = NULL;
    ck_assert_int_eq(store_unlock(t.dir, TEST_WRONG_PASS, strlen(TEST_WRONG_PASS), &k),
                     -EACCES);
    ck_assert_ptr_null(k);
    /* Nothing changed: the right one still works. */
    ck_assert_int_eq(store_unlock(t.dir, TEST_PASS, strlen(TEST_PASS), &k), 0);
    struct store *s = NULL;
    ck_assert_int_eq(store_open(t.dir, k, 0, &s), 0);
    MDB_txn *txn;
    struct node root;
    ck_assert_int_eq(store_txn_begin(s, 1, &txn), 0);
    ck_assert_int_eq(node_get(s, txn, NODE_ROOT, &root), 0);
    node_clear(&root);
    store_txn_abort(txn);
    store_close(s);
    tstore_close(&t);
}
END_TEST

START_TEST(test_store_open_rdonly)
{
    struct tstore t;
    tstore_open(&t);
    tstore_shut(&t);
    struct keys *k = NULL;
    ck_assert_int_eq(store_unlock(t.dir, TEST_PASS, strlen(TEST_PASS), &k), 0);
    struct store *s = NULL;
    ck_assert_int_eq(store_open(t.dir, k, STORE_OPEN_RDONLY, &s), 0);
    MDB_txn *txn;
    ck_assert_int_ne(store_txn_begin(s, 0, &txn), 0); /* no writes */
    ck_assert_int_eq(store_txn_begin(s, 1, &txn), 0);
    struct node root;
    ck_assert_int_eq(node_get(s, txn, NODE_ROOT, &root), 0);
    node_clear(&root);
    store_txn_abort(txn);
    store_close(s);
    tstore_close(&t);
}
END_TEST

START_TEST(test_store_counter)
{
    struct tstore t;
    tstore_open(&t);
    MDB_txn *txn;
    uint64_t a, b, c;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(store_counter_next(t.s, txn, "test-counter", &a), 0);
    ck_assert_int_eq(store_counter_next(t.s, txn, "test-counter", &b), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_eq(b, 2);
    /* An aborted increment is not kept. */
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(store_counter_next(t.s, txn, "test-counter", &c), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(store_counter_next(t.s, txn, "test-counter", &c), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_uint_eq(c, 3);
    tstore_close(&t);
}
END_TEST

START_TEST(test_store_record_bound_to_key)
{
    struct tstore t;
    tstore_open(&t);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(store_record_put(t.s, txn, STORE_DB_RETRACTIONS, "k1", 2,
                                      KEYS_RECORD, "secret one", 10),
                     0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    uint8_t *v;
    ssize_t n = raw_get(t.s, STORE_DB_RETRACTIONS, "k1", 2, &v);
    ck_assert_int_eq(n, 10 + KEYS_SEAL_OVERHEAD);
    ck_assert(memmem(v, (size_t)n, "secret", 6) == NULL);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_RETRACTIONS, "k2", 2, v, (size_t)n), 0);
    free(v);
    uint8_t *out = NULL;
    size_t outlen = 0;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(store_record_get(t.s, txn, STORE_DB_RETRACTIONS, "k1", 2,
                                      KEYS_RECORD, &out, &outlen),
                     0);
    ck_assert_uint_eq(outlen, 10);
    ck_assert_mem_eq(out, "secret one", 10);
    free(out);
    out = NULL;
    /* The same bytes under another key do not open. */
    ck_assert_int_eq(store_record_get(t.s, txn, STORE_DB_RETRACTIONS, "k2", 2,
                                      KEYS_RECORD, &out, &outlen),
                     -EIO);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(store_record_get(t.s, txn, STORE_DB_RETRACTIONS, "k3", 2,
                                      KEYS_RECORD, &out, &outlen),
                     -ENOENT);
    store_txn_abort(txn);
    tstore_close(&t);
}
END_TEST

/* Opens node record "n1" in a read transaction of its own. */
static int open_n1(struct tstore *t, uint8_t **out, size_t *outlen)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t->s, 1, &txn), 0);
    int rc = store_record_get(t->s, txn, STORE_DB_NODES, "n1", 2, KEYS_RECORD, out, outlen);
    store_txn_abort(txn);
    return rc;
}

static void put_n1(struct tstore *t, const char *text)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t->s, 0, &txn), 0);
    ck_assert_int_eq(store_record_put(t->s, txn, STORE_DB_NODES, "n1", 2, KEYS_RECORD, text,
                                      strlen(text)),
                     0);
    ck_assert_int_eq(store_txn_commit(t->s, txn), 0);
}

/* A record opened again comes from the cache of opened records only while
 * its stored bytes are the very bytes it was opened from: a damaged copy
 * fails as before, a rewritten record reads new. */
START_TEST(test_store_record_opened_again)
{
    struct tstore t;
    tstore_open(&t);
    put_n1(&t, "first text");
    uint8_t *out = NULL;
    size_t outlen = 0;
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(open_n1(&t, &out, &outlen), 0);
        ck_assert_uint_eq(outlen, 10);
        ck_assert_mem_eq(out, "first text", 10);
        free(out);
        out = NULL;
    }
    /* one bit of the ciphertext, then of the tag, then of the nonce */
    const size_t offs[] = {KEYS_NONCE_BYTES + 3, 10 + KEYS_SEAL_OVERHEAD - 1, 0};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        ck_assert_int_eq(raw_flip(t.s, STORE_DB_NODES, "n1", 2, offs[i], 0x04), 0);
        ck_assert_int_eq(open_n1(&t, &out, &outlen), -EIO);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(raw_flip(t.s, STORE_DB_NODES, "n1", 2, offs[i], 0x04), 0);
    }
    put_n1(&t, "second text!");
    ck_assert_int_eq(open_n1(&t, &out, &outlen), 0);
    ck_assert_uint_eq(outlen, 12);
    ck_assert_mem_eq(out, "second text!", 12);
    free(out);
    tstore_close(&t);
}
END_TEST

START_TEST(test_store_mdb_err_mapping)
{
    ck_assert_int_eq(store_mdb_err(0), 0);
    ck_assert_int_eq(store_mdb_err(MDB_NOTFOUND), -ENOENT);
    ck_assert_int_eq(store_mdb_err(MDB_MAP_FULL), -ENOSPC);
    ck_assert_int_eq(store_mdb_err(ENOSPC), -ENOSPC);
    ck_assert_int_eq(store_mdb_err(MDB_CORRUPTED), -EIO);
}
END_TEST

/* Fills the map: the failure is -ENOSPC, and everything committed earlier
 * still reads back. */
START_TEST(test_store_map_full_is_enospc)
{
    struct tstore t;
    tstore_open(&t);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", t.dir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    MDB_envinfo info;
    ck_assert_int_eq(mdb_env_info(t.s->env, &info), 0);
    MDB_stat est;
    ck_assert_int_eq(mdb_env_stat(t.s->env, &est), 0);
    size_t used = (info.me_last_pgno + 1) * (size_t)est.ms_psize;
    if ((size_t)st.st_size > used)
        used = (size_t)st.st_size;
    ck_assert_int_eq(store_map_resize(t.s, used + 256 * 1024), 0);

    enum { PER_TXN = 2, CHUNK = 16 * 1024, ROUNDS = 200 };
    uint8_t(*ids)[CHUNK_ID_BYTES] = calloc(ROUNDS * PER_TXN, CHUNK_ID_BYTES);
    uint8_t *buf = malloc(CHUNK), *back = malloc(CHUNK_MAX);
    ck_assert_ptr_nonnull(ids);
    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(back);
    int committed = 0, failure = 0;
    for (int round = 0; round < ROUNDS && !failure; round++) {
        MDB_txn *txn;
        int rc = store_txn_begin(t.s, 0, &txn);
        ck_assert_int_eq(rc, 0);
        for (int i = 0; i < PER_TXN && rc == 0; i++) {
            fill_random(buf, CHUNK, (uint64_t)(round * PER_TXN + i) + 1);
            rc = chunk_put(t.s, txn, buf, CHUNK, ids[committed + i]);
        }
        if (rc == 0)
            rc = log_append(t.s, txn, &t.actor, "test", "case/doc", 0, 0, "filling");
        if (rc == 0) {
            rc = store_txn_commit(t.s, txn);
            if (rc == 0)
                committed += PER_TXN;
        } else {
            store_txn_abort(txn);
        }
        failure = rc;
    }
    ck_assert_msg(failure != 0, "256 KiB more map never filled up");
    ck_assert_int_eq(failure, -ENOSPC);
    ck_assert_int_gt(committed, 0);

    /* Everything committed before is intact, and the log chain too. */
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    for (int i = 0; i < committed; i++) {
        size_t n = 0;
        ck_assert_int_eq(chunk_get(t.s, txn, ids[i], back, &n), 0);
        fill_random(buf, CHUNK, (uint64_t)i + 1);
        ck_assert_uint_eq(n, CHUNK);
        ck_assert_mem_eq(back, buf, CHUNK);
    }
    uint64_t bad = 0;
    ck_assert_int_eq(log_each(t.s, txn, NULL, NULL, &bad), 0);
    uint64_t seq;
    uint8_t mac[LOG_MAC_BYTES];
    ck_assert_int_eq(log_head(t.s, txn, &seq, mac), 0);
    ck_assert_uint_eq(seq, 1 + (uint64_t)committed / PER_TXN);
    store_txn_abort(txn);

    /* A change that does not fit fails the same way on its own. */
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    int rc = 0;
    for (int i = 0; i < 64 && rc == 0; i++) {
        fill_random(buf, CHUNK, 100000u + (uint64_t)i);
        uint8_t id[CHUNK_ID_BYTES];
        rc = chunk_put(t.s, txn, buf, CHUNK, id);
    }
    if (rc == 0)
        rc = store_txn_commit(t.s, txn);
    else
        store_txn_abort(txn);
    ck_assert_int_eq(rc, -ENOSPC);
    free(ids);
    free(buf);
    free(back);
    tstore_close(&t);
}
END_TEST

Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_store_create_probe_open);
    tcase_add_test(tc, test_store_actor_names_the_program_of_the_moment);
    tcase_add_test(tc, test_store_create_refuses_existing);
    tcase_add_test(tc, test_store_create_empty_passphrase);
    tcase_add_test(tc, test_store_probe_missing);
    tcase_add_test(tc, test_store_unknown_format);
    tcase_add_test(tc, test_store_format_1_is_upgraded);
    tcase_add_test(tc, test_store_format_2_is_upgraded);
    tcase_add_test(tc, test_store_format_3_is_upgraded);
    tcase_add_loop_test(tc, test_store_durable_upgrade_cut_short_is_finished, 0, 2);
    tcase_add_test(tc, test_store_wrong_passphrase);
    tcase_add_test(tc, test_store_open_rdonly);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_store_counter);
    tcase_add_test(tc, test_store_record_bound_to_key);
    tcase_add_test(tc, test_store_record_opened_again);
    tcase_add_test(tc, test_store_mdb_err_mapping);
    tcase_add_test(tc, test_store_map_full_is_enospc);
    suite_add_tcase(s, tc);
    return s;
}

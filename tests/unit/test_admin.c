/*
 * admin: retraction decisions, verify, backup, passphrase change — at the
 * library level, through the same tree API the mount uses.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/admin.h"
#include "store/codec.h"
#include "store/log.h"
#include "store/retract.h"
#include "store/tree.h"
#include "store/version.h"
#include "tests/unit/helpers.h"

static struct tstore ts;
static struct tree *tr;
static struct store_actor root;

static void admin_setup(void)
{
    tstore_open(&ts);
    ck_assert_int_eq(tree_new(ts.s, &tr), 0);
    store_actor_fill(&root, 0, 0, (uint32_t)getpid());
}

static void admin_teardown(void)
{
    tree_free(tr);
    tr = NULL;
    tstore_close(&ts);
}

static void save(const char *path, const char *text, int create)
{
    struct tree_handle *h = NULL;
    if (create)
        ck_assert_int_eq(tree_create(tr, &root, path, 0640, O_WRONLY | O_CREAT, &h), 0);
    else
        ck_assert_int_eq(tree_open(tr, &root, path, O_WRONLY | O_TRUNC, &h), 0);
    ck_assert_int_eq(tree_write(tr, h, text, strlen(text), 0), (ssize_t)strlen(text));
    ck_assert_int_eq(tree_flush(tr, h), 0);
    ck_assert_int_eq(tree_release(tr, h), 0);
}

static uint8_t version_state(const char *path, uint32_t v)
{
    MDB_txn *txn;
    struct node n;
    struct version ver;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(tree_find(ts.s, txn, path, &n), 0);
    ck_assert_int_eq(version_get(ts.s, txn, n.id, v, &ver), 0);
    uint8_t st = ver.state;
    version_clear(&ver);
    node_clear(&n);
    store_txn_abort(txn);
    return st;
}

static uint8_t request_state(uint64_t id)
{
    MDB_txn *txn;
    struct retraction r;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(retract_get(ts.s, txn, id, &r), 0);
    uint8_t st = r.state;
    retract_clear(&r);
    store_txn_abort(txn);
    return st;
}

static int is_live(const char *path)
{
    struct tree_attr at;
    return tree_getattr(tr, &root, path, NULL, &at) == 0;
}

/* Removal by "another process", so that re-creation does not withdraw. */
static void remove_as_other_process(const char *path)
{
    struct store_actor other = root;
    other.pid = root.pid + 1;
    ck_assert_int_eq(tree_unlink(tr, &other, path), 0);
}

START_TEST(test_admin_approve_marks_versions_retracted)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0700), 0);
    save("/case/note.txt", "first", 1);
    save("/case/note.txt", "second", 0);
    remove_as_other_process("/case/note.txt");
    ck_assert_int_eq(admin_retract_decide(ts.s, &root, 1, 1, "duplicate note"), 0);
    ck_assert_int_eq(version_state("case/note.txt", 1), VERSION_RETRACTED);
    ck_assert_int_eq(version_state("case/note.txt", 2), VERSION_RETRACTED);
    ck_assert_int_eq(request_state(1), RETRACT_APPROVED);
    ck_assert(!is_live("/case/note.txt"));
    /* decided once only; unknown ids; a reason is required */
    ck_assert_int_eq(admin_retract_decide(ts.s, &root, 1, 0, "changed my mind"),
                     -EALREADY);
    ck_assert_int_eq(admin_retract_decide(ts.s, &root, 99, 1, "x"), -ENOENT);
    ck_assert_int_eq(admin_retract_decide(ts.s, &root, 1, 1, ""), -EINVAL);
}
END_TEST

START_TEST(test_admin_reject_restores)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0700), 0);
    save("/case/plan.txt", "plan", 1);
    remove_as_other_process("/case/plan.txt");
    ck_assert(!is_live("/case/plan.txt"));
    ck_assert_int_eq(admin_retract_decide(ts.s, &root, 1, 0, "removed by mistake"), 0);
    ck_assert(is_live("/case/plan.txt"));
    ck_assert_int_eq(version_state("case/plan.txt", 1), VERSION_LIVE);
    ck_assert_int_eq(request_state(1), RETRACT_REJECTED);
}
END_TEST

static int find_decision(const struct log_entry *e, void *arg)
{
    if (strcmp(e->op, "retract-approve") == 0 && strstr(e->detail, "duplicate note") &&
        e->uid == 0 && strcmp(e->path, "case/note.txt") == 0)
        *(int *)arg = 1;
    return 0;
}

START_TEST(test_admin_decision_is_logged)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0700), 0);
    save("/case/note.txt", "text", 1);
    remove_as_other_process("/case/note.txt");
    ck_assert_int_eq(admin_retract_decide(ts.s, &root, 1, 1, "duplicate note"), 0);
    MDB_txn *txn;
    int found = 0;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(log_each(ts.s, txn, find_decision, &found, NULL), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(found, 1);
}
END_TEST

struct problems {
    int n;
    char text[4][512];
};

static void collect_problem(void *arg, const char *p)
{
    struct problems *ps = arg;
    if (ps->n < 4)
        snprintf(ps->text[ps->n], sizeof ps->text[0], "%s", p);
    ps->n++;
}

START_TEST(test_admin_verify_sound_then_damaged_chunk_named)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0700), 0);
    save("/case/doc.txt", "only chunk of this store", 1);
    struct problems ps = {0};
    struct admin_counts n;
    ck_assert_int_eq(admin_verify(ts.s, collect_problem, &ps, &n), 0);
    ck_assert_int_eq(n.chunks, 1);
    ck_assert_uint_ge(n.log_entries, 3);
    /* flip a byte of the one chunk */
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    uint8_t id[CHUNK_ID_BYTES];
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(mdb_cursor_open(txn, ts.s->dbi[STORE_DB_CHUNKS], &c), 0);
    ck_assert_int_eq(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
    memcpy(id, k.mv_data, sizeof id);
    mdb_cursor_close(c);
    store_txn_abort(txn);
    ck_assert_int_eq(raw_flip(ts.s, STORE_DB_CHUNKS, id, sizeof id, 30, 0x04), 0);
    ck_assert_int_eq(admin_verify(ts.s, collect_problem, &ps, &n), 2);
    ck_assert_ptr_nonnull(strstr(ps.text[0], "case/doc.txt version 1"));
    ck_assert_ptr_nonnull(strstr(ps.text[1], "fails authentication"));
}
END_TEST

START_TEST(test_admin_verify_finds_broken_log)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0700), 0);
    save("/case/doc.txt", "x", 1);
    uint8_t key[8];
    codec_be64_put(key, 2);
    ck_assert_int_eq(raw_del(ts.s, STORE_DB_LOG, key, 8), 0);
    struct problems ps = {0};
    struct admin_counts n;
    ck_assert_int_eq(admin_verify(ts.s, collect_problem, &ps, &n), 1);
    ck_assert_ptr_nonnull(strstr(ps.text[0], "entry 2"));
}
END_TEST

START_TEST(test_admin_backup_is_a_store)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0700), 0);
    save("/case/doc.txt", "backed up", 1);
    char dest[PATH_MAX + 16];
    snprintf(dest, sizeof dest, "%s/backup", ts.dir);
    ck_assert_int_eq(admin_backup(ts.s, &root, dest), 0);
    ck_assert_int_eq(admin_backup(ts.s, &root, dest), -EEXIST);
    ck_assert_int_eq(store_probe(dest, NULL), 0);
    /* same master key: the test's keys open it */
    struct keys *k = sodium_malloc(sizeof *k);
    memcpy(k, ts.s->keys, sizeof *k);
    struct store *b;
    ck_assert_int_eq(store_open(dest, k, STORE_OPEN_RDONLY, &b), 0);
    struct problems ps = {0};
    struct admin_counts n;
    ck_assert_int_eq(admin_verify(b, collect_problem, &ps, &n), 0);
    MDB_txn *txn;
    struct node nd;
    ck_assert_int_eq(store_txn_begin(b, 1, &txn), 0);
    ck_assert_int_eq(tree_find(b, txn, "case/doc.txt", &nd), 0);
    ck_assert_uint_eq(nd.version, 1);
    node_clear(&nd);
    store_txn_abort(txn);
    store_close(b);
}
END_TEST

START_TEST(test_admin_passwd_old_refused_new_works)
{
    char dir[PATH_MAX];
    helper_tmpdir(dir, sizeof dir);
    struct store *s;
    struct store_actor me;
    ck_assert_int_eq(helper_store_create(dir, &s, &me), 0);
    store_close(s);
    const char *np = "a new passphrase";
    ck_assert_int_eq(admin_passwd(dir, "wrong", 5, np, strlen(np), &me), -EACCES);
    ck_assert_int_eq(admin_passwd(dir, TEST_PASS, strlen(TEST_PASS), np, strlen(np), &me),
                     0);
    struct keys *k;
    ck_assert_int_eq(store_unlock(dir, TEST_PASS, strlen(TEST_PASS), &k), -EACCES);
    ck_assert_int_eq(store_unlock(dir, np, strlen(np), &k), 0);
    keys_free(k);
}
END_TEST

Suite *admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc = tcase_create("admin");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, admin_setup, admin_teardown);
    tcase_add_test(tc, test_admin_approve_marks_versions_retracted);
    tcase_add_test(tc, test_admin_reject_restores);
    tcase_add_test(tc, test_admin_decision_is_logged);
    tcase_add_test(tc, test_admin_verify_sound_then_damaged_chunk_named);
    tcase_add_test(tc, test_admin_verify_finds_broken_log);
    tcase_add_test(tc, test_admin_backup_is_a_store);
    tcase_add_test(tc, test_admin_passwd_old_refused_new_works);
    suite_add_tcase(s, tc);
    return s;
}

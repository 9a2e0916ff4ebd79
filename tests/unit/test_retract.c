/*
 * retract: a retraction request keeps who asked, for what and why, and
 * comes back in id order; a tampered request is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "store/retract.h"
#include "tests/unit/helpers.h"

static struct tstore t;

static void retract_setup(void)
{
    tstore_open(&t);
}

static void retract_teardown(void)
{
    tstore_close(&t);
}

static void sample(struct retraction *r, uint64_t id, const char *path)
{
    memset(r, 0, sizeof *r);
    r->id = id;
    r->node = 100 + id;
    r->version = (uint32_t)(3 * id);
    r->state = RETRACT_PENDING;
    r->is_dir = 0;
    r->path = (char *)path;
    r->uid = 1000;
    r->pid = 4711;
    r->user = "caseworker";
    r->process = "rm";
    r->sec = 1767225600 + (int64_t)id;
    r->reason = "duplicate note";
    r->decider = "";
    r->decision_reason = "";
}

static void put(const struct retraction *r)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(retract_put(t.s, txn, r), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
}

START_TEST(test_retract_ids)
{
    MDB_txn *txn;
    uint64_t a, b;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(retract_new_id(t.s, txn, &a), 0);
    ck_assert_int_eq(retract_new_id(t.s, txn, &b), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_eq(b, 2);
}
END_TEST

START_TEST(test_retract_put_get)
{
    struct retraction r, g;
    sample(&r, 1, "2026-0042/journal/note.txt");
    r.state = RETRACT_APPROVED;
    r.is_dir = 1;
    r.decider_uid = 2000;
    r.decider = "supervisor";
    r.decided_sec = 1767312000;
    r.decision_reason = "confirmed duplicate";
    put(&r);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(retract_get(t.s, txn, 1, &g), 0);
    ck_assert_uint_eq(g.id, 1);
    ck_assert_uint_eq(g.node, 101);
    ck_assert_uint_eq(g.version, 3);
    ck_assert_uint_eq(g.state, RETRACT_APPROVED);
    ck_assert_uint_eq(g.is_dir, 1);
    ck_assert_str_eq(g.path, "2026-0042/journal/note.txt");
    ck_assert_uint_eq(g.uid, 1000);
    ck_assert_uint_eq(g.pid, 4711);
    ck_assert_str_eq(g.user, "caseworker");
    ck_assert_str_eq(g.process, "rm");
    ck_assert_int_eq(g.sec, 1767225601);
    ck_assert_str_eq(g.reason, "duplicate note");
    ck_assert_uint_eq(g.decider_uid, 2000);
    ck_assert_str_eq(g.decider, "supervisor");
    ck_assert_int_eq(g.decided_sec, 1767312000);
    ck_assert_str_eq(g.decision_reason, "confirmed duplicate");
    retract_clear(&g);
    ck_assert_ptr_null(g.path);
    ck_assert_int_eq(retract_get(t.s, txn, 2, &g), -ENOENT);
    store_txn_abort(txn);
}
END_TEST

struct collected {
    int count;
    uint64_t ids[8];
    char paths[8][64];
};

static int collect(const struct retraction *r, void *arg)
{
    struct collected *c = arg;
    ck_assert_int_lt(c->count, 8);
    c->ids[c->count] = r->id;
    strncpy(c->paths[c->count], r->path, sizeof c->paths[0] - 1);
    c->count++;
    return 0;
}

static int stop(const struct retraction *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
    return -123;
}

START_TEST(test_retract_each_in_order)
{
    struct retraction r;
    /* Written out of order; listed by id. */
    sample(&r, 3, "c/three");
    put(&r);
    sample(&r, 1, "c/one");
    put(&r);
    sample(&r, 2, "c/two");
    put(&r);
    struct collected c;
    memset(&c, 0, sizeof c);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(retract_each(t.s, txn, collect, &c), 0);
    ck_assert_int_eq(c.count, 3);
    ck_assert_uint_eq(c.ids[0], 1);
    ck_assert_uint_eq(c.ids[1], 2);
    ck_assert_uint_eq(c.ids[2], 3);
    ck_assert_str_eq(c.paths[0], "c/one");
    ck_assert_str_eq(c.paths[1], "c/two");
    ck_assert_str_eq(c.paths[2], "c/three");
    int calls = 0;
    ck_assert_int_eq(retract_each(t.s, txn, stop, &calls), -123);
    ck_assert_int_eq(calls, 1);
    store_txn_abort(txn);
}
END_TEST

START_TEST(test_retract_each_empty)
{
    struct collected c;
    memset(&c, 0, sizeof c);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(retract_each(t.s, txn, collect, &c), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(c.count, 0);
}
END_TEST

START_TEST(test_retract_tampered_is_eio)
{
    struct retraction r, g;
    sample(&r, 1, "c/one");
    put(&r);
    sample(&r, 2, "c/two");
    put(&r);
    uint8_t key[8];
    codec_be64_put(key, 2);
    ck_assert_int_eq(
        raw_flip(t.s, STORE_DB_RETRACTIONS, key, 8, KEYS_NONCE_BYTES + 4, 0x10), 0);
    MDB_txn *txn;
    struct collected c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    memset(&g, 0, sizeof g);
    ck_assert_int_eq(retract_get(t.s, txn, 2, &g), -EIO);
    ck_assert_ptr_null(g.path);
    ck_assert_int_eq(retract_each(t.s, txn, collect, &c), -EIO);
    ck_assert_int_eq(c.count, 1); /* the good one before it */
    ck_assert_int_eq(retract_get(t.s, txn, 1, &g), 0);
    retract_clear(&g);
    store_txn_abort(txn);
}
END_TEST

START_TEST(test_retract_state_names)
{
    ck_assert_str_eq(retract_state_name(RETRACT_PENDING), "pending");
    ck_assert_str_eq(retract_state_name(RETRACT_APPROVED), "approved");
    ck_assert_str_eq(retract_state_name(RETRACT_REJECTED), "rejected");
    ck_assert_str_eq(retract_state_name(RETRACT_WITHDRAWN), "withdrawn");
    ck_assert_str_eq(retract_state_name(4), "unknown");
    ck_assert_str_eq(retract_state_name(255), "unknown");
}
END_TEST

Suite *retract_suite(void)
{
    Suite *s = suite_create("retract");
    TCase *tc = tcase_create("retract");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, retract_setup, retract_teardown);
    tcase_add_test(tc, test_retract_ids);
    tcase_add_test(tc, test_retract_put_get);
    tcase_add_test(tc, test_retract_each_in_order);
    tcase_add_test(tc, test_retract_each_empty);
    tcase_add_test(tc, test_retract_tampered_is_eio);
    tcase_add_test(tc, test_retract_state_names);
    suite_add_tcase(s, tc);
    return s;
}

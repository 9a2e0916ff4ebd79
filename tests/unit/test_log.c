/*
 * log: entries come back in order with what was recorded; any changed,
 * removed, reordered or forged entry stops the walk at the first bad
 * sequence number; the head names the newest entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/codec.h"
#include "store/log.h"
#include "tests/unit/helpers.h"

static struct tstore t;

static void log_setup(void)
{
    tstore_open(&t);
}

static void log_teardown(void)
{
    tstore_close(&t);
}

struct seen {
    int count;
    struct log_entry e[16];
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int keep(const struct log_entry *e, void *arg)
{
    struct seen *sn = arg;
    ck_assert_int_lt(sn->count, 16);
    struct log_entry *c = &sn->e[sn->count++];
    *c = *e;
    c->user = dup_or_null(e->user);
    c->process = dup_or_null(e->process);
    c->op = dup_or_null(e->op);
    c->case_name = dup_or_null(e->case_name);
    c->path = dup_or_null(e->path);
    c->detail = dup_or_null(e->detail);
    return 0;
}

static void seen_clear(struct seen *sn)
{
    for (int i = 0; i < sn->count; i++)
        log_entry_clear(&sn->e[i]);
    sn->count = 0;
}

/* The five entries appended after the store's own "init" (seq 1). */
static const struct {
    const char *op, *path, *detail, *want_case, *want_detail;
    uint32_t version;
    int result, want_result;
} ENTRIES[] = {
    {"mkdir", "2026-0042", "", "2026-0042", "", 0, 0, 0},
    {"create", "2026-0042/journal/note.txt", NULL, "2026-0042", "", 0, 0, 0},
    {"version", "2026-0042/journal/note.txt", "Secret-Detail-Text-91f2", "2026-0042",
     "Secret-Detail-Text-91f2", 1, 0, 0},
    {"denied", "2026-0043/x", "permission denied", "2026-0043", "permission denied", 0,
     -EACCES, EACCES},
    {"read", NULL, "eio", "", "eio", 7, EIO, EIO},
};
#define NENTRIES (sizeof ENTRIES / sizeof *ENTRIES)

static void append_all(void)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    for (size_t i = 0; i < NENTRIES; i++)
        ck_assert_int_eq(log_append(t.s, txn, &t.actor, ENTRIES[i].op, ENTRIES[i].path,
                                    ENTRIES[i].version, ENTRIES[i].result,
                                    ENTRIES[i].detail),
                         0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
}

static int walk(struct seen *sn, uint64_t *bad)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    int rc = log_each(t.s, txn, sn ? keep : NULL, sn, bad);
    store_txn_abort(txn);
    return rc;
}

static void log_key(uint64_t seq, uint8_t key[8])
{
    codec_be64_put(key, seq);
}

/* The clock entries are stamped with.  time() reads the kernel's coarse
 * clock, which can still show the second before while an entry made
 * after it is stamped in the next. */
static time_t realtime_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

START_TEST(test_log_entries_in_order)
{
    time_t before = realtime_sec();
    append_all();
    time_t after = realtime_sec();
    struct seen sn = {0};
    uint64_t bad = 0;
    ck_assert_int_eq(walk(&sn, &bad), 0);
    ck_assert_int_eq(sn.count, 1 + (int)NENTRIES);
    ck_assert_str_eq(sn.e[0].op, "init");
    ck_assert_uint_eq(sn.e[0].seq, 1);
    for (size_t i = 0; i < NENTRIES; i++) {
        const struct log_entry *e = &sn.e[i + 1];
        ck_assert_uint_eq(e->seq, i + 2);
        ck_assert_str_eq(e->op, ENTRIES[i].op);
        ck_assert_str_eq(e->path, ENTRIES[i].path ? ENTRIES[i].path : "");
        ck_assert_str_eq(e->case_name, ENTRIES[i].want_case);
        ck_assert_str_eq(e->detail, ENTRIES[i].want_detail);
        ck_assert_uint_eq(e->version, ENTRIES[i].version);
        ck_assert_int_eq(e->result, ENTRIES[i].want_result);
        ck_assert_uint_eq(e->uid, t.actor.uid);
        ck_assert_uint_eq(e->pid, t.actor.pid);
        ck_assert_str_eq(e->user, t.actor.user);
        ck_assert_str_eq(e->process, t.actor.process);
        ck_assert_int_ge(e->sec, before);
        ck_assert_int_le(e->sec, after);
        ck_assert_uint_lt(e->nsec, 1000000000u);
    }
    /* Each MAC is different: a chain, not a constant. */
    for (int i = 1; i < sn.count; i++)
        ck_assert(memcmp(sn.e[i].mac, sn.e[i - 1].mac, LOG_MAC_BYTES) != 0);

    uint64_t seq = 0;
    uint8_t mac[LOG_MAC_BYTES];
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(log_head(t.s, txn, &seq, mac), 0);
    store_txn_abort(txn);
    ck_assert_uint_eq(seq, 1 + NENTRIES);
    ck_assert_mem_eq(mac, sn.e[NENTRIES].mac, LOG_MAC_BYTES);
    seen_clear(&sn);
}
END_TEST

static int stop_at_third(const struct log_entry *e, void *arg)
{
    (*(int *)arg)++;
    return e->seq == 3 ? 7 : 0;
}

START_TEST(test_log_each_callback_stops)
{
    append_all();
    MDB_txn *txn;
    int calls = 0;
    uint64_t bad = 0;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(log_each(t.s, txn, stop_at_third, &calls, &bad), 7);
    store_txn_abort(txn);
    ck_assert_int_eq(calls, 3);
}
END_TEST

START_TEST(test_log_aborted_change_leaves_no_entry)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(log_append(t.s, txn, &t.actor, "mkdir", "gone", 0, 0, ""), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(log_append_alone(t.s, &t.actor, "denied", "case/x", 0, EACCES, "no"),
                     0);
    struct seen sn = {0};
    uint64_t bad = 0;
    ck_assert_int_eq(walk(&sn, &bad), 0);
    ck_assert_int_eq(sn.count, 2);
    ck_assert_str_eq(sn.e[1].op, "denied");
    ck_assert_uint_eq(sn.e[1].seq, 2);
    ck_assert_int_eq(sn.e[1].result, EACCES);
    seen_clear(&sn);
}
END_TEST

/* Walks a tampered log: -EBADMSG at want_bad, entries before it delivered. */
static void expect_bad_at(uint64_t want_bad)
{
    struct seen sn = {0};
    uint64_t bad = 0;
    ck_assert_int_eq(walk(&sn, &bad), -EBADMSG);
    ck_assert_uint_eq(bad, want_bad);
    ck_assert_int_eq(sn.count, (int)want_bad - 1);
    for (int i = 0; i < sn.count; i++)
        ck_assert_uint_eq(sn.e[i].seq, (uint64_t)i + 1);
    seen_clear(&sn);
    bad = 0;
    ck_assert_int_eq(walk(NULL, &bad), -EBADMSG); /* verification only */
    ck_assert_uint_eq(bad, want_bad);
}

START_TEST(test_log_flipped_byte_in_payload)
{
    append_all();
    uint8_t key[8];
    log_key(4, key);
    uint8_t *v;
    ssize_t len = raw_get(t.s, STORE_DB_LOG, key, 8, &v);
    ck_assert_int_gt(len, LOG_MAC_BYTES + KEYS_SEAL_OVERHEAD);
    ck_assert(memmem(v, (size_t)len, "Secret-Detail", 13) == NULL);
    free(v);
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_LOG, key, 8, LOG_MAC_BYTES + 30, 0x02), 0);
    expect_bad_at(4);
}
END_TEST

START_TEST(test_log_flipped_byte_in_mac)
{
    append_all();
    uint8_t key[8];
    log_key(5, key);
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_LOG, key, 8, 0, 0x01), 0);
    expect_bad_at(5);
}
END_TEST

START_TEST(test_log_flipped_last_byte)
{
    append_all();
    uint8_t key[8];
    log_key(6, key);
    uint8_t *v;
    ssize_t len = raw_get(t.s, STORE_DB_LOG, key, 8, &v);
    ck_assert_int_gt(len, 0);
    free(v);
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_LOG, key, 8, (size_t)len - 1, 0x40), 0);
    expect_bad_at(6);
}
END_TEST

START_TEST(test_log_deleted_entry)
{
    append_all();
    uint8_t key[8];
    log_key(3, key);
    ck_assert_int_eq(raw_del(t.s, STORE_DB_LOG, key, 8), 0);
    expect_bad_at(3);
}
END_TEST

START_TEST(test_log_swapped_entries)
{
    append_all();
    uint8_t k2[8], k4[8], *v2, *v4;
    log_key(2, k2);
    log_key(4, k4);
    ssize_t n2 = raw_get(t.s, STORE_DB_LOG, k2, 8, &v2);
    ssize_t n4 = raw_get(t.s, STORE_DB_LOG, k4, 8, &v4);
    ck_assert_int_gt(n2, 0);
    ck_assert_int_gt(n4, 0);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_LOG, k2, 8, v4, (size_t)n4), 0);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_LOG, k4, 8, v2, (size_t)n2), 0);
    free(v2);
    free(v4);
    expect_bad_at(2);
}
END_TEST

START_TEST(test_log_forged_entry_appended)
{
    append_all();
    /* An entry 7 made of entry 6's bytes: a valid seal elsewhere, a wrong MAC here. */
    uint8_t k6[8], k7[8], *v;
    log_key(6, k6);
    log_key(7, k7);
    ssize_t n = raw_get(t.s, STORE_DB_LOG, k6, 8, &v);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_LOG, k7, 8, v, (size_t)n), 0);
    free(v);
    expect_bad_at(7);
}
END_TEST

START_TEST(test_log_head_empty_and_cut_tail)
{
    append_all();
    MDB_txn *txn;
    uint64_t seq;
    uint8_t mac[LOG_MAC_BYTES], mac5[LOG_MAC_BYTES];
    struct seen sn = {0};
    uint64_t bad = 0;
    ck_assert_int_eq(walk(&sn, &bad), 0);
    memcpy(mac5, sn.e[4].mac, LOG_MAC_BYTES);
    seen_clear(&sn);
    /* A cut tail still verifies; the head then shows what is missing. */
    uint8_t key[8];
    log_key(6, key);
    ck_assert_int_eq(raw_del(t.s, STORE_DB_LOG, key, 8), 0);
    ck_assert_int_eq(walk(NULL, &bad), 0);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(log_head(t.s, txn, &seq, mac), 0);
    store_txn_abort(txn);
    ck_assert_uint_eq(seq, 5);
    ck_assert_mem_eq(mac, mac5, LOG_MAC_BYTES);

    /* An empty log: sequence 0 and a zero MAC. */
    for (uint64_t i = 1; i <= 5; i++) {
        log_key(i, key);
        ck_assert_int_eq(raw_del(t.s, STORE_DB_LOG, key, 8), 0);
    }
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(log_head(t.s, txn, &seq, mac), 0);
    store_txn_abort(txn);
    ck_assert_uint_eq(seq, 0);
    uint8_t zero[LOG_MAC_BYTES] = {0};
    ck_assert_mem_eq(mac, zero, LOG_MAC_BYTES);
}
END_TEST

START_TEST(test_log_plaintext_not_in_file)
{
    append_all();
    tstore_shut(&t);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", t.dir);
    ck_assert_int_eq(file_contains(path, "wrapped-key", 11), 1);
    ck_assert_int_eq(file_contains(path, "Secret-Detail-Text-91f2", 23), 0);
    ck_assert_int_eq(file_contains(path, "journal/note.txt", 16), 0);
    ck_assert_int_eq(file_contains(path, "2026-0042", 9), 0);
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, log_setup, log_teardown);
    tcase_add_test(tc, test_log_entries_in_order);
    tcase_add_test(tc, test_log_each_callback_stops);
    tcase_add_test(tc, test_log_aborted_change_leaves_no_entry);
    tcase_add_test(tc, test_log_flipped_byte_in_payload);
    tcase_add_test(tc, test_log_flipped_byte_in_mac);
    tcase_add_test(tc, test_log_flipped_last_byte);
    tcase_add_test(tc, test_log_deleted_entry);
    tcase_add_test(tc, test_log_swapped_entries);
    tcase_add_test(tc, test_log_forged_entry_appended);
    tcase_add_test(tc, test_log_head_empty_and_cut_tail);
    tcase_add_test(tc, test_log_plaintext_not_in_file);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * node and dirent: a node's record keeps every field; names are found by
 * keyed hash, listed exactly, never stored in the clear; a tampered record
 * is an error, never data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "store/node.h"
#include "tests/unit/helpers.h"

static struct tstore t;

static void node_setup(void)
{
    tstore_open(&t);
}

static void node_teardown(void)
{
    tstore_close(&t);
}

/* Creates and commits a node named name under parent; returns its id. */
static uint64_t make_node(uint64_t parent, const char *name, uint8_t type)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    struct node n;
    memset(&n, 0, sizeof n);
    ck_assert_int_eq(node_new_id(t.s, txn, &n.id), 0);
    n.parent = parent;
    n.type = type;
    n.mode = (type == NODE_DIR ? 0040750 : 0100640);
    n.uid = 1000;
    n.gid = 1000;
    n.name = (char *)name;
    ck_assert_int_eq(node_put(t.s, txn, &n), 0);
    ck_assert_int_eq(dirent_put(t.s, txn, parent, name, n.id), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    return n.id;
}

START_TEST(test_node_put_get_all_fields)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    struct node n = {
        .parent = 77,
        .type = NODE_FILE,
        .state = NODE_PENDING,
        .transient = 1,
        .mode = 0100640,
        .uid = 1001,
        .gid = 2002,
        .mtime_sec = 1700000001,
        .mtime_nsec = 111,
        .ctime_sec = -5,
        .ctime_nsec = 999999999,
        .btime_sec = 1600000000,
        .btime_nsec = 333,
        .version = 12,
        .size = 0x123456789ull,
        .origin = 41,
        .request = 9,
        .name = "journal-2026-01-15.txt",
        .reason = "entered on the wrong person",
    };
    ck_assert_int_eq(node_new_id(t.s, txn, &n.id), 0);
    ck_assert_uint_gt(n.id, NODE_ROOT);
    ck_assert_int_eq(node_put(t.s, txn, &n), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);

    struct node g;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(node_get(t.s, txn, n.id, &g), 0);
    store_txn_abort(txn);
    ck_assert_uint_eq(g.id, n.id);
    ck_assert_uint_eq(g.parent, 77);
    ck_assert_uint_eq(g.type, NODE_FILE);
    ck_assert_uint_eq(g.state, NODE_PENDING);
    ck_assert_uint_eq(g.transient, 1);
    ck_assert_uint_eq(g.mode, 0100640);
    ck_assert_uint_eq(g.uid, 1001);
    ck_assert_uint_eq(g.gid, 2002);
    ck_assert_int_eq(g.mtime_sec, 1700000001);
    ck_assert_uint_eq(g.mtime_nsec, 111);
    ck_assert_int_eq(g.ctime_sec, -5);
    ck_assert_uint_eq(g.ctime_nsec, 999999999);
    ck_assert_int_eq(g.btime_sec, 1600000000);
    ck_assert_uint_eq(g.btime_nsec, 333);
    ck_assert_uint_eq(g.version, 12);
    ck_assert_uint_eq(g.size, 0x123456789ull);
    ck_assert_uint_eq(g.origin, 41);
    ck_assert_uint_eq(g.request, 9);
    ck_assert_str_eq(g.name, "journal-2026-01-15.txt");
    ck_assert_ptr_nonnull(g.reason);
    ck_assert_str_eq(g.reason, "entered on the wrong person");
    node_clear(&g);
    ck_assert_ptr_null(g.name);

    /* Without a reason, none comes back. */
    n.reason = NULL;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(node_put(t.s, txn, &n), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(node_get(t.s, txn, n.id, &g), 0);
    ck_assert_ptr_null(g.reason);
    ck_assert_str_eq(g.name, "journal-2026-01-15.txt");
    node_clear(&g);
    ck_assert_int_eq(node_get(t.s, txn, 987654321, &g), -ENOENT);
    store_txn_abort(txn);
}
END_TEST

START_TEST(test_node_ids_increase)
{
    MDB_txn *txn;
    uint64_t a, b;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(node_new_id(t.s, txn, &a), 0);
    ck_assert_int_eq(node_new_id(t.s, txn, &b), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_uint_gt(a, NODE_ROOT);
    ck_assert_uint_eq(b, a + 1);
}
END_TEST

START_TEST(test_dirent_lookup_by_name)
{
    uint64_t c = make_node(NODE_ROOT, "2026-0042", NODE_DIR);
    uint64_t d1 = make_node(c, "report", NODE_FILE);
    uint64_t d2 = make_node(c, "report.txt", NODE_FILE);
    uint64_t d3 = make_node(c, "report.txt.bak", NODE_FILE);
    uint64_t other = make_node(NODE_ROOT, "2026-0043", NODE_DIR);
    ck_assert(d1 != d2 && d2 != d3 && d1 != d3);

    MDB_txn *txn;
    uint64_t id = 0;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(dirent_get(t.s, txn, NODE_ROOT, "2026-0042", &id), 0);
    ck_assert_uint_eq(id, c);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "report", &id), 0);
    ck_assert_uint_eq(id, d1);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "report.txt", &id), 0);
    ck_assert_uint_eq(id, d2);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "report.txt.bak", &id), 0);
    ck_assert_uint_eq(id, d3);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "repor", &id), -ENOENT);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "Report.txt", &id), -ENOENT);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "report.txt.bak.old", &id), -ENOENT);
    /* The same name in another folder is another entry. */
    ck_assert_int_eq(dirent_get(t.s, txn, other, "report.txt", &id), -ENOENT);
    ck_assert_int_eq(dirent_get(t.s, txn, NODE_ROOT, "report.txt", &id), -ENOENT);
    store_txn_abort(txn);

    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(dirent_del(t.s, txn, c, "report.txt"), 0);
    ck_assert_int_eq(dirent_del(t.s, txn, c, "report.txt"), -ENOENT);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "report.txt", &id), -ENOENT);
    ck_assert_int_eq(dirent_get(t.s, txn, c, "report", &id), 0);
    ck_assert_uint_eq(id, d1);
    store_txn_abort(txn);
}
END_TEST

START_TEST(test_dirent_long_names)
{
    char n255[256], n256[257];
    memset(n255, 'a', 255);
    n255[255] = '\0';
    memset(n256, 'a', 256);
    n256[256] = '\0';
    uint64_t c = make_node(NODE_ROOT, "case", NODE_DIR);
    uint64_t d = make_node(c, n255, NODE_FILE);
    MDB_txn *txn;
    uint64_t id = 0;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(dirent_get(t.s, txn, c, n255, &id), 0);
    ck_assert_uint_eq(id, d);
    ck_assert_int_eq(dirent_get(t.s, txn, c, n256, &id), -ENOENT);
    store_txn_abort(txn);
}
END_TEST

struct names_seen {
    int count;
    char names[16][64];
    uint64_t ids[16];
};

static int collect(const struct node *child, void *arg)
{
    struct names_seen *ns = arg;
    ck_assert_int_lt(ns->count, 16);
    snprintf(ns->names[ns->count], sizeof ns->names[0], "%s", child->name);
    ns->ids[ns->count] = child->id;
    ns->count++;
    return 0;
}

static int seen(const struct names_seen *ns, const char *name, uint64_t id)
{
    int hits = 0;
    for (int i = 0; i < ns->count; i++)
        if (strcmp(ns->names[i], name) == 0 && ns->ids[i] == id)
            hits++;
    return hits;
}

static int stop_at_first(const struct node *child, void *arg)
{
    (void)child;
    (*(int *)arg)++;
    return 42;
}

START_TEST(test_node_children_exact)
{
    uint64_t a = make_node(NODE_ROOT, "case-a", NODE_DIR);
    uint64_t b = make_node(NODE_ROOT, "case-b", NODE_DIR);
    uint64_t a1 = make_node(a, "note.txt", NODE_FILE);
    uint64_t a2 = make_node(a, "note.txt~", NODE_FILE);
    uint64_t a3 = make_node(a, "letters", NODE_DIR);
    uint64_t b1 = make_node(b, "note.txt", NODE_FILE);
    uint64_t a31 = make_node(a3, "inside", NODE_FILE);

    MDB_txn *txn;
    struct names_seen ns;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    memset(&ns, 0, sizeof ns);
    ck_assert_int_eq(node_children(t.s, txn, a, collect, &ns), 0);
    ck_assert_int_eq(ns.count, 3);
    ck_assert_int_eq(seen(&ns, "note.txt", a1), 1);
    ck_assert_int_eq(seen(&ns, "note.txt~", a2), 1);
    ck_assert_int_eq(seen(&ns, "letters", a3), 1);

    memset(&ns, 0, sizeof ns);
    ck_assert_int_eq(node_children(t.s, txn, b, collect, &ns), 0);
    ck_assert_int_eq(ns.count, 1);
    ck_assert_int_eq(seen(&ns, "note.txt", b1), 1);

    memset(&ns, 0, sizeof ns);
    ck_assert_int_eq(node_children(t.s, txn, NODE_ROOT, collect, &ns), 0);
    ck_assert_int_eq(ns.count, 2);
    ck_assert_int_eq(seen(&ns, "case-a", a), 1);
    ck_assert_int_eq(seen(&ns, "case-b", b), 1);

    memset(&ns, 0, sizeof ns);
    ck_assert_int_eq(node_children(t.s, txn, a3, collect, &ns), 0);
    ck_assert_int_eq(ns.count, 1);
    ck_assert_int_eq(seen(&ns, "inside", a31), 1);

    memset(&ns, 0, sizeof ns);
    ck_assert_int_eq(node_children(t.s, txn, a31, collect, &ns), 0);
    ck_assert_int_eq(ns.count, 0);

    int calls = 0;
    ck_assert_int_eq(node_children(t.s, txn, a, stop_at_first, &calls), 42);
    ck_assert_int_eq(calls, 1);
    store_txn_abort(txn);
}
END_TEST

START_TEST(test_node_tampered_record_is_eio)
{
    uint64_t c = make_node(NODE_ROOT, "case", NODE_DIR);
    uint64_t d = make_node(c, "doc.txt", NODE_FILE);
    uint8_t key[8];
    codec_be64_put(key, d);
    uint8_t *orig;
    ssize_t len = raw_get(t.s, STORE_DB_NODES, key, 8, &orig);
    ck_assert_int_gt(len, KEYS_SEAL_OVERHEAD);

    /* A byte flipped in the nonce, the ciphertext, or the tag. */
    size_t offs[] = {0, KEYS_NONCE_BYTES, KEYS_NONCE_BYTES + 9, (size_t)len - 1};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        ck_assert_int_eq(raw_put(t.s, STORE_DB_NODES, key, 8, orig, (size_t)len), 0);
        ck_assert_int_eq(raw_flip(t.s, STORE_DB_NODES, key, 8, offs[i], 0x01), 0);
        MDB_txn *txn;
        struct node g;
        memset(&g, 0, sizeof g);
        ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
        ck_assert_msg(node_get(t.s, txn, d, &g) == -EIO, "byte %zu flipped: not EIO",
                      offs[i]);
        ck_assert_ptr_null(g.name);
        struct names_seen ns;
        memset(&ns, 0, sizeof ns);
        ck_assert_int_eq(node_children(t.s, txn, c, collect, &ns), -EIO);
        ck_assert_int_eq(ns.count, 0);
        store_txn_abort(txn);
    }
    /* Restored, it reads again. */
    ck_assert_int_eq(raw_put(t.s, STORE_DB_NODES, key, 8, orig, (size_t)len), 0);
    MDB_txn *txn;
    struct node g;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(node_get(t.s, txn, d, &g), 0);
    ck_assert_str_eq(g.name, "doc.txt");
    node_clear(&g);
    store_txn_abort(txn);
    free(orig);
}
END_TEST

START_TEST(test_node_record_moved_is_eio)
{
    uint64_t c = make_node(NODE_ROOT, "case", NODE_DIR);
    uint64_t d = make_node(c, "doc.txt", NODE_FILE);
    uint8_t kc[8], kd[8];
    codec_be64_put(kc, c);
    codec_be64_put(kd, d);
    uint8_t *v;
    ssize_t len = raw_get(t.s, STORE_DB_NODES, kc, 8, &v);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_NODES, kd, 8, v, (size_t)len), 0);
    free(v);
    MDB_txn *txn;
    struct node g;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(node_get(t.s, txn, d, &g), -EIO);
    store_txn_abort(txn);
}
END_TEST

START_TEST(test_node_decode_malformed)
{
    struct node g;
    static const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    ck_assert_int_eq(node_decode(junk, sizeof junk, 5, &g), -EIO);
    ck_assert_int_eq(node_decode(junk, 0, 5, &g), -EIO);
    ck_assert_ptr_null(g.name);
}
END_TEST

/* The mode and the id name leads to, as transaction txn reads them. */
static uint32_t mode_in(MDB_txn *txn, uint64_t id)
{
    struct node g;
    ck_assert_int_eq(node_get(t.s, txn, id, &g), 0);
    uint32_t mode = g.mode;
    node_clear(&g);
    return mode;
}

/* chmod of node id in the write transaction txn. */
static void set_mode(MDB_txn *txn, uint64_t id, uint32_t mode)
{
    struct node n;
    ck_assert_int_eq(node_get(t.s, txn, id, &n), 0);
    n.mode = mode;
    ck_assert_int_eq(node_put(t.s, txn, &n), 0);
    node_clear(&n);
}

static int id_in(MDB_txn *txn, uint64_t parent, const char *name, uint64_t *id)
{
    *id = 0;
    return dirent_get(t.s, txn, parent, name, id);
}

/* Lookups read again and again (and so answered from memory) follow every
 * commit, and a transaction begun before a commit still reads what it
 * began with, even after later ones read the new values. */
START_TEST(test_node_lookups_follow_commits)
{
    uint64_t c = make_node(NODE_ROOT, "case", NODE_DIR);
    uint64_t d = make_node(c, "note.txt", NODE_FILE);
    uint64_t id;
    MDB_txn *old, *txn;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
        ck_assert_uint_eq(mode_in(txn, d), 0100640);
        ck_assert_int_eq(id_in(txn, c, "note.txt", &id), 0);
        ck_assert_uint_eq(id, d);
        ck_assert_int_eq(id_in(txn, c, "renamed.txt", &id), -ENOENT);
        store_txn_abort(txn);
    }
    ck_assert_int_eq(store_txn_begin(t.s, 1, &old), 0);

    /* chmod and rename in one commit */
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    set_mode(txn, d, 0100600);
    ck_assert_int_eq(dirent_del(t.s, txn, c, "note.txt"), 0);
    ck_assert_int_eq(dirent_put(t.s, txn, c, "renamed.txt", d), 0);
    /* the writer reads its own changes */
    ck_assert_uint_eq(mode_in(txn, d), 0100600);
    ck_assert_int_eq(id_in(txn, c, "note.txt", &id), -ENOENT);
    ck_assert_int_eq(id_in(txn, c, "renamed.txt", &id), 0);
    ck_assert_uint_eq(id, d);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);

    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
        ck_assert_uint_eq(mode_in(txn, d), 0100600);
        ck_assert_int_eq(id_in(txn, c, "note.txt", &id), -ENOENT);
        ck_assert_int_eq(id_in(txn, c, "renamed.txt", &id), 0);
        ck_assert_uint_eq(id, d);
        store_txn_abort(txn);
    }
    /* the transaction from before the commit, after the new values were read */
    ck_assert_uint_eq(mode_in(old, d), 0100640);
    ck_assert_int_eq(id_in(old, c, "note.txt", &id), 0);
    ck_assert_uint_eq(id, d);
    ck_assert_int_eq(id_in(old, c, "renamed.txt", &id), -ENOENT);
    store_txn_abort(old);
}
END_TEST

/* A change that is not committed is read only by its own transaction and
 * is gone after the abort. */
START_TEST(test_node_lookups_after_abort)
{
    uint64_t c = make_node(NODE_ROOT, "case", NODE_DIR);
    uint64_t d = make_node(c, "note.txt", NODE_FILE);
    uint64_t id;
    MDB_txn *txn, *rd;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_uint_eq(mode_in(rd, d), 0100640);
    store_txn_abort(rd);

    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    set_mode(txn, d, 0100444);
    ck_assert_int_eq(dirent_del(t.s, txn, c, "note.txt"), 0);
    ck_assert_uint_eq(mode_in(txn, d), 0100444);
    ck_assert_int_eq(id_in(txn, c, "note.txt", &id), -ENOENT);
    /* meanwhile a reader reads the committed state */
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_uint_eq(mode_in(rd, d), 0100640);
    ck_assert_int_eq(id_in(rd, c, "note.txt", &id), 0);
    store_txn_abort(rd);
    store_txn_abort(txn);

    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
        ck_assert_uint_eq(mode_in(rd, d), 0100640);
        ck_assert_int_eq(id_in(rd, c, "note.txt", &id), 0);
        ck_assert_uint_eq(id, d);
        store_txn_abort(rd);
    }
}
END_TEST

/* A name looked up while absent is found once created; a record read
 * before another process changed the file is read again: damage made
 * after it was read is still an error, a name removed is gone. */
START_TEST(test_node_lookups_see_other_writers)
{
    uint64_t c = make_node(NODE_ROOT, "case", NODE_DIR);
    uint64_t id;
    MDB_txn *rd;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_int_eq(id_in(rd, c, "later.txt", &id), -ENOENT);
    store_txn_abort(rd);
    uint64_t d = make_node(c, "later.txt", NODE_FILE);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_int_eq(id_in(rd, c, "later.txt", &id), 0);
    ck_assert_uint_eq(id, d);
    ck_assert_uint_eq(mode_in(rd, d), 0100640);
    store_txn_abort(rd);

    /* raw_* commit in transactions of their own, as another process would */
    uint8_t key[8];
    codec_be64_put(key, d);
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_NODES, key, 8, KEYS_NONCE_BYTES + 3, 0x04),
                     0);
    struct node g;
    memset(&g, 0, sizeof g);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_int_eq(node_get(t.s, rd, d, &g), -EIO);
    store_txn_abort(rd);
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_NODES, key, 8, KEYS_NONCE_BYTES + 3, 0x04),
                     0);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_uint_eq(mode_in(rd, d), 0100640);
    store_txn_abort(rd);

    uint8_t *all;
    size_t before = raw_count(t.s, STORE_DB_DIRENTS);
    MDB_cursor *cur;
    MDB_val k, v;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_int_eq(mdb_cursor_open(rd, t.s->dbi[STORE_DB_DIRENTS], &cur), 0);
    int found = 0;
    uint8_t dkey[NODE_DIRENT_KEY_BYTES];
    while (mdb_cursor_get(cur, &k, &v, found ? MDB_NEXT : MDB_FIRST) == 0) {
        found = 1;
        if (v.mv_size == 8 && codec_be64_get(v.mv_data) == d &&
            k.mv_size == NODE_DIRENT_KEY_BYTES) {
            memcpy(dkey, k.mv_data, sizeof dkey);
            found = 2;
            break;
        }
    }
    mdb_cursor_close(cur);
    store_txn_abort(rd);
    ck_assert_int_eq(found, 2);
    ck_assert_int_eq(raw_get(t.s, STORE_DB_DIRENTS, dkey, sizeof dkey, &all), 8);
    free(all);
    ck_assert_int_eq(raw_del(t.s, STORE_DB_DIRENTS, dkey, sizeof dkey), 0);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_DIRENTS), before - 1);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &rd), 0);
    ck_assert_int_eq(id_in(rd, c, "later.txt", &id), -ENOENT);
    store_txn_abort(rd);
}
END_TEST

START_TEST(test_node_name_not_in_file)
{
    static const char secret[] = "Zlatan-Ibrahimovic-811003-placement";
    static const char reason[] = "Orphan-reason-text-6b1f";
    uint64_t c = make_node(NODE_ROOT, secret, NODE_DIR);
    MDB_txn *txn;
    struct node n;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(node_get(t.s, txn, c, &n), 0);
    n.reason = strdup(reason);
    ck_assert_int_eq(node_put(t.s, txn, &n), 0);
    node_clear(&n);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    tstore_shut(&t);

    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", t.dir);
    /* The search works: an LMDB key kept in the clear is found. */
    ck_assert_int_eq(file_contains(path, "wrapped-key", 11), 1);
    ck_assert_int_eq(file_contains(path, secret, strlen(secret)), 0);
    ck_assert_int_eq(file_contains(path, "Zlatan", 6), 0);
    ck_assert_int_eq(file_contains(path, reason, strlen(reason)), 0);
}
END_TEST

Suite *node_suite(void)
{
    Suite *s = suite_create("node");
    TCase *tc = tcase_create("node");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, node_setup, node_teardown);
    tcase_add_test(tc, test_node_put_get_all_fields);
    tcase_add_test(tc, test_node_ids_increase);
    tcase_add_test(tc, test_dirent_lookup_by_name);
    tcase_add_test(tc, test_dirent_long_names);
    tcase_add_test(tc, test_node_children_exact);
    tcase_add_test(tc, test_node_tampered_record_is_eio);
    tcase_add_test(tc, test_node_record_moved_is_eio);
    tcase_add_test(tc, test_node_decode_malformed);
    tcase_add_test(tc, test_node_name_not_in_file);
    tcase_add_test(tc, test_node_lookups_follow_commits);
    tcase_add_test(tc, test_node_lookups_after_abort);
    tcase_add_test(tc, test_node_lookups_see_other_writers);
    suite_add_tcase(s, tc);
    return s;
}

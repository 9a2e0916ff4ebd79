/*
 * doc: an open document reads and writes like a file (holes and truncation
 * read as zeros), and a commit stores exactly what was written as the next
 * version, or nothing when the content did not change.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/ahead.h"
#include "store/chunk.h"
#include "store/doc.h"
#include "store/node.h"
#include "store/version.h"
#include "tests/unit/helpers.h"

static struct tstore t;

static void doc_setup(void)
{
    tstore_open(&t);
}

/* The same tests over lists cut into segments of 4 to 16 chunks: a
 * document of a few hundred KiB has dozens, more than are held at once. */
static void doc_setup_small_segments(void)
{
    tstore_open(&t);
    t.s->seg_min = 4;
    t.s->seg_mask = 3;
    t.s->seg_max = 16;
}

static void doc_teardown(void)
{
    tstore_close(&t);
}

/* A document node (no dirent needed by doc). */
static uint64_t make_doc_node(void)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    struct node n;
    memset(&n, 0, sizeof n);
    ck_assert_int_eq(node_new_id(t.s, txn, &n.id), 0);
    n.parent = NODE_ROOT;
    n.type = NODE_FILE;
    n.mode = 0100640;
    n.uid = t.actor.uid;
    n.gid = t.actor.gid;
    n.name = "doc.txt";
    ck_assert_int_eq(node_put(t.s, txn, &n), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    return n.id;
}

static struct doc *open_doc(uint64_t node, uint32_t number)
{
    MDB_txn *txn;
    struct doc *d = NULL;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(doc_new(t.s, txn, node, number, &d), 0);
    store_txn_abort(txn);
    return d;
}

/* Where working chunk i starts (the list's end for i == its count). */
static uint64_t wl_off(struct doc *d, uint32_t i)
{
    if (i == d->wl.n)
        return d->wl.bytes;
    uint32_t k = wl_seg_of(&d->wl, i);
    struct wl_buf *b;
    ck_assert_int_eq(wl_hold(t.s, NULL, &d->wl, k, &b), 0);
    uint64_t o = d->wl.seg[k].start + b->off[i - d->wl.seg[k].first];
    wl_release(&d->wl, b);
    return o;
}

static struct node get_node(uint64_t id)
{
    MDB_txn *txn;
    struct node n;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(node_get(t.s, txn, id, &n), 0);
    store_txn_abort(txn);
    return n;
}

/* The content of a stored version, assembled from its chunks. */
static uint8_t *version_content(uint64_t node, uint32_t number, size_t *len)
{
    MDB_txn *txn;
    struct version v;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(t.s, txn, node, number, &v), 0);
    uint8_t *out = malloc(v.size ? v.size : 1), *buf = malloc(CHUNK_MAX);
    struct version_chunk *vc = test_version_list(t.s, txn, &v);
    size_t off = 0;
    for (uint32_t i = 0; i < v.nchunks; i++) {
        size_t n = 0;
        ck_assert_int_eq(chunk_get(t.s, txn, vc[i].id, buf, &n), 0);
        ck_assert_uint_eq(n, vc[i].len);
        ck_assert_uint_le(off + n, v.size);
        memcpy(out + off, buf, n);
        off += n;
    }
    ck_assert_uint_eq(off, v.size);
    *len = off;
    free(vc);
    free(buf);
    version_clear(&v);
    store_txn_abort(txn);
    return out;
}

/* Reads the whole doc into a malloc'd buffer. */
static uint8_t *read_all(struct doc *d, size_t *len)
{
    uint64_t size = doc_size(d);
    uint8_t *buf = malloc(size + 1);
    size_t off = 0;
    while (off < size) {
        ssize_t n = doc_read(t.s, d, buf + off, 7777, off); /* odd sizes cross pages */
        ck_assert_int_gt(n, 0);
        off += (size_t)n;
    }
    ck_assert_int_eq(doc_read(t.s, d, buf, 10, size), 0); /* end of file */
    *len = off;
    return buf;
}

/* A new document whose version 1 is p[0..n). */
static uint64_t stored_doc(const void *p, size_t n)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, p, n, 0), (ssize_t)n);
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.bin", &v), 0);
    ck_assert_uint_eq(v, 1);
    doc_free(d);
    return id;
}

/* The doc reads back as want[0..n), commits as version `number`, and that
 * version holds exactly want[0..n). */
static void expect_saved(struct doc *d, uint64_t id, const uint8_t *want, size_t n,
                         uint32_t number)
{
    size_t len;
    uint8_t *back = read_all(d, &len);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(back, want, n) == 0);
    free(back);
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.bin", &v), 0);
    ck_assert_uint_eq(v, number);
    back = version_content(id, number, &len);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(back, want, n) == 0);
    free(back);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

START_TEST(test_doc_empty)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_uint_eq(doc_size(d), 0);
    char buf[8];
    ck_assert_int_eq(doc_read(t.s, d, buf, sizeof buf, 0), 0);
    ck_assert_int_eq(doc_read(t.s, d, buf, sizeof buf, 100), 0);
    doc_free(d);
}
END_TEST

START_TEST(test_doc_write_read)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, "hello", 5, 0), 5);
    ck_assert_uint_eq(doc_size(d), 5);
    char buf[32];
    memset(buf, 'X', sizeof buf);
    ck_assert_int_eq(doc_read(t.s, d, buf, sizeof buf, 0), 5);
    ck_assert_mem_eq(buf, "hello", 5);
    ck_assert_int_eq(doc_read(t.s, d, buf, 3, 1), 3);
    ck_assert_mem_eq(buf, "ell", 3);
    /* Overwrite in the middle. */
    ck_assert_int_eq(doc_write(t.s, d, "ipp", 3, 1), 3);
    ck_assert_int_eq(doc_read(t.s, d, buf, sizeof buf, 0), 5);
    ck_assert_mem_eq(buf, "hippo", 5);
    doc_free(d);
}
END_TEST

START_TEST(test_doc_write_past_end_leaves_zero_hole)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, "head", 4, 0), 4);
    ck_assert_int_eq(doc_write(t.s, d, "small", 5, 10), 5);
    uint64_t far = 3 * (uint64_t)DOC_PAGE + 5;
    ck_assert_int_eq(doc_write(t.s, d, "far", 3, far), 3);
    ck_assert_uint_eq(doc_size(d), far + 3);
    size_t len;
    uint8_t *all = read_all(d, &len);
    ck_assert_uint_eq(len, far + 3);
    ck_assert_mem_eq(all, "head", 4);
    ck_assert(all_zero(all + 4, 6));
    ck_assert_mem_eq(all + 10, "small", 5);
    ck_assert(all_zero(all + 15, far - 15));
    ck_assert_mem_eq(all + far, "far", 3);
    free(all);

    /* The same holds for what was committed. */
    uint32_t v = 0;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 1);
    uint8_t *stored = version_content(id, 1, &len);
    ck_assert_uint_eq(len, far + 3);
    ck_assert_mem_eq(stored + 10, "small", 5);
    ck_assert(all_zero(stored + 15, far - 15));
    ck_assert_mem_eq(stored + far, "far", 3);
    free(stored);
    doc_free(d);
}
END_TEST

START_TEST(test_doc_truncate_down_then_up_reads_zeros)
{
    enum { N = 200 * 1024, KEEP = 1000 };
    uint8_t *p = malloc(N);
    fill_random(p, N, 11);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, p, N, 0), N);
    ck_assert_int_eq(doc_truncate(t.s, d, KEEP), 0);
    ck_assert_uint_eq(doc_size(d), KEEP);
    ck_assert_int_eq(doc_truncate(t.s, d, N), 0);
    ck_assert_uint_eq(doc_size(d), N);
    size_t len;
    uint8_t *all = read_all(d, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(all, p, KEEP);
    ck_assert_msg(all_zero(all + KEEP, N - KEEP), "old bytes came back after truncate");
    free(all);
    doc_free(d);
    free(p);
}
END_TEST

/* The same over committed content: the old bytes are in the base version. */
START_TEST(test_doc_truncate_committed_content)
{
    enum { N = 300 * 1024, KEEP = 70000 };
    uint8_t *p = malloc(N);
    fill_random(p, N, 12);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, p, N, 0), N);
    uint32_t v = 0;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 1);
    doc_free(d);

    d = open_doc(id, 1);
    ck_assert_uint_eq(doc_size(d), N);
    ck_assert_int_eq(doc_truncate(t.s, d, KEEP), 0);
    ck_assert_int_eq(doc_truncate(t.s, d, N), 0);
    /* A write past the cut, in a page never touched before. */
    ck_assert_int_eq(doc_write(t.s, d, "Z", 1, N - 1), 1);
    size_t len;
    uint8_t *all = read_all(d, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(all, p, KEEP);
    ck_assert_msg(all_zero(all + KEEP, N - KEEP - 1),
                  "old bytes came back after truncate");
    ck_assert_uint_eq(all[N - 1], 'Z');
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 2);
    uint8_t *stored = version_content(id, 2, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(stored, all, N);
    free(stored);
    free(all);
    /* Version 1 is untouched. */
    stored = version_content(id, 1, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(stored, p, N);
    free(stored);
    doc_free(d);
    free(p);
}
END_TEST

START_TEST(test_doc_commit_stores_what_was_written)
{
    enum { N = 1024 * 1024 + 333 };
    uint8_t *p = malloc(N);
    fill_random(p, N, 13);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    /* Written in pieces, out of order. */
    ck_assert_int_eq(doc_write(t.s, d, p + N / 2, N - N / 2, N / 2), N - N / 2);
    ck_assert_int_eq(doc_write(t.s, d, p, N / 2, 0), N / 2);
    uint32_t v = 0;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 1);
    struct node n = get_node(id);
    ck_assert_uint_eq(n.version, 1);
    ck_assert_uint_eq(n.size, N);
    node_clear(&n);

    MDB_txn *txn;
    struct version ver;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(t.s, txn, id, 1, &ver), 0);
    struct version_chunk *vc = test_version_list(t.s, txn, &ver);
    store_txn_abort(txn);
    ck_assert_uint_eq(ver.size, N);
    ck_assert_uint_eq(ver.uid, t.actor.uid);
    ck_assert_str_eq(ver.user, t.actor.user);
    ck_assert_uint_gt(ver.nchunks, 1);
    for (uint32_t i = 0; i < ver.nchunks; i++)
        ck_assert_uint_le(vc[i].len, CHUNK_MAX);
    free(vc);
    version_clear(&ver);

    size_t len;
    uint8_t *stored = version_content(id, 1, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(stored, p, N);
    free(stored);
    /* Read back through the same doc (now over its new base) and a new one. */
    uint8_t *all = read_all(d, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(all, p, N);
    free(all);
    doc_free(d);
    d = open_doc(id, 1);
    all = read_all(d, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_mem_eq(all, p, N);
    free(all);
    doc_free(d);
    free(p);
}
END_TEST

START_TEST(test_doc_identical_content_no_version)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, "same text\n", 10, 0), 10);
    uint32_t v = 99;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 1);
    size_t versions_before = raw_count(t.s, STORE_DB_VERSIONS);
    size_t log_before = raw_count(t.s, STORE_DB_LOG);

    /* Not dirty: nothing to commit. */
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 0);
    /* Rewritten with the same bytes (also via a new doc, as after a
     * reopen with O_TRUNC): still nothing. */
    ck_assert_int_eq(doc_write(t.s, d, "same text\n", 10, 0), 10);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 0);
    doc_free(d);
    d = open_doc(id, 1);
    ck_assert_int_eq(doc_truncate(t.s, d, 0), 0);
    ck_assert_int_eq(doc_write(t.s, d, "same text\n", 10, 0), 10);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_VERSIONS), versions_before);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_LOG), log_before);
    struct node n = get_node(id);
    ck_assert_uint_eq(n.version, 1);
    node_clear(&n);

    /* One byte different is a version. */
    ck_assert_int_eq(doc_write(t.s, d, "S", 1, 0), 1);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    ck_assert_uint_eq(v, 2);
    doc_free(d);
}
END_TEST

START_TEST(test_doc_empty_document_commits)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    doc_touch(d);
    uint32_t v = 0;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/empty", &v), 0);
    ck_assert_uint_eq(v, 1);
    struct node n = get_node(id);
    ck_assert_uint_eq(n.version, 1);
    ck_assert_uint_eq(n.size, 0);
    node_clear(&n);
    doc_free(d);
}
END_TEST

START_TEST(test_doc_readonly_and_limits)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, "x", 1, DOC_SIZE_MAX), -EFBIG);
    ck_assert_int_eq(doc_truncate(t.s, d, DOC_SIZE_MAX + 1), -EFBIG);
    ck_assert_uint_eq(doc_size(d), 0);
    d->readonly = 1;
    ck_assert_int_eq(doc_write(t.s, d, "x", 1, 0), -EROFS);
    ck_assert_int_eq(doc_truncate(t.s, d, 0), -EROFS);
    doc_free(d);
}
END_TEST

START_TEST(test_doc_tampered_chunk_read_is_eio)
{
    enum { N = 50000 };
    uint8_t *p = malloc(N);
    fill_random(p, N, 14);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    ck_assert_int_eq(doc_write(t.s, d, p, N, 0), N);
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.txt", &v), 0);
    doc_free(d);
    MDB_txn *txn;
    struct version ver;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(t.s, txn, id, 1, &ver), 0);
    struct version_chunk *vc = test_version_list(t.s, txn, &ver);
    store_txn_abort(txn);
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_CHUNKS, vc[0].id, CHUNK_ID_BYTES,
                              KEYS_NONCE_BYTES + 100, 1),
                     0);
    free(vc);
    version_clear(&ver);
    d = open_doc(id, 1);
    uint8_t *buf = malloc(N);
    memset(buf, 'X', N);
    ck_assert_int_eq(doc_read(t.s, d, buf, N, 0), -EIO);
    /* nothing of the damaged chunk nor of the sound ones decrypted with it */
    ck_assert(all_zero(buf, N));
    /* Writing inside the damaged chunk cannot materialise it either. */
    ck_assert_int_lt(doc_write(t.s, d, "x", 1, 10), 0);
    free(buf);
    doc_free(d);
    free(p);
}
END_TEST

/* A document far larger than the spill threshold, written front to back
 * in uneven pieces: memory stays bounded (pages are spilled into chunks as
 * they fill), reads during the writing see every byte, and the commit
 * stores exactly the content, cut where a single pass would cut it. */
/* The same content written in one piece with no spill cuts the same
 * chunks as p[0..n) streamed in: a second document adds no chunk to the
 * store. */
static void expect_cut_as_whole(const uint8_t *p, size_t n)
{
    size_t chunks = raw_count(t.s, STORE_DB_CHUNKS);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    d->spill_at = (size_t)-1;
    ck_assert_int_eq(doc_write(t.s, d, p, n, 0), (ssize_t)n);
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/copy.bin", &v), 0);
    doc_free(d);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_CHUNKS), chunks);
}

START_TEST(test_doc_spill_streaming_bounded)
{
    const size_t N = (size_t)DOC_SPILL_PAGES * DOC_PAGE * 3 + 12345;
    uint8_t *p = malloc(N);
    fill_random(p, N, 21);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    size_t off = 0, step = 100000, most = 0;
    while (off < N) {
        size_t n = N - off < step ? N - off : step;
        ck_assert_int_eq(doc_write(t.s, d, p + off, n, off), (ssize_t)n);
        off += n;
        pthread_mutex_lock(&d->mu);
        if (d->npresent + d->nfrozen > most)
            most = d->npresent + d->nfrozen;
        pthread_mutex_unlock(&d->mu);
    }
    /* live pages wait at twice the threshold for the spill in flight */
    ck_assert_uint_le(most, 3 * DOC_SPILL_PAGES + 2);
    doc_settle(d);
    ck_assert_uint_le(d->npresent, 2 * DOC_SPILL_PAGES + 2);
    /* Pages that filled while a spill was in flight are spilled by the
     * next write (how many depends on the spill thread's pace): one more
     * write, of the same last byte, leaves fewer than the threshold. */
    ck_assert_int_eq(doc_write(t.s, d, p + N - 1, 1, N - 1), 1);
    doc_settle(d);
    ck_assert_uint_lt(d->npresent, DOC_SPILL_PAGES);
    ck_assert_uint_eq(d->nfrozen, 0);
    ck_assert_uint_gt(d->wl.n, 0); /* spilled */
    expect_saved(d, id, p, N, 1);
    ck_assert_uint_eq(d->npresent, 0);
    doc_free(d);
    expect_cut_as_whole(p, N);
    free(p);
}
END_TEST

/* Writes scattered over a large document, a truncation and an extension
 * across spills: the committed content is what a plain buffer holds. */
START_TEST(test_doc_spill_random_writes)
{
    const size_t N = (size_t)DOC_SPILL_PAGES * DOC_PAGE * 2;
    uint8_t *model = calloc(1, N + 3 * DOC_PAGE);
    uint8_t *piece = malloc(3 * DOC_PAGE);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    fill_random(model, N, 22);
    ck_assert_int_eq(doc_write(t.s, d, model, N, 0), (ssize_t)N);
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/r.bin", &v), 0);
    doc_free(d);
    d = open_doc(id, 1);
    size_t size = N;
    unsigned seed = 7;
    for (int k = 0; k < 400; k++) {
        seed = seed * 1103515245u + 12345u;
        size_t off = (seed >> 4) % N, n = 1 + (seed >> 8) % (3 * DOC_PAGE - 1);
        fill_random(piece, n, 100 + (unsigned)k);
        ck_assert_int_eq(doc_write(t.s, d, piece, n, off), (ssize_t)n);
        memcpy(model + off, piece, n);
        if (off + n > size)
            size = off + n;
        if (k == 200) { /* cut it short, then it grows again through writes */
            size = N / 3;
            ck_assert_int_eq(doc_truncate(t.s, d, size), 0);
            memset(model + size, 0, N + 3 * DOC_PAGE - size);
        }
    }
    expect_saved(d, id, model, size, 2);
    doc_free(d);
    free(model);
    free(piece);
}
END_TEST

/* One line replaced by a longer one in a large text document, saved the
 * way an editor saves (the whole content written again): only the chunks
 * around the change are new in the store. */
START_TEST(test_doc_one_line_edit_stores_little)
{
    size_t N = 4 << 20, cap = N + 64;
    char *text = malloc(cap), *edited = malloc(cap);
    size_t len = 0;
    for (int line = 0; len + 64 < N; line++)
        len += (size_t)snprintf(text + len, cap - len, "journal line %07d: visit noted, follow-up\n", line);
    uint64_t id = stored_doc(text, len);
    size_t chunks = raw_count(t.s, STORE_DB_CHUNKS);
    /* replace line 50000 (about 2 MiB in) by a longer one */
    char *at = strstr(text, "journal line 0050000");
    size_t head = (size_t)(at - text), old = (size_t)(strchr(at, '\n') + 1 - at);
    const char *line = "journal line 0050000: date corrected to 2026-11-02 after review\n";
    memcpy(edited, text, head);
    memcpy(edited + head, line, strlen(line));
    memcpy(edited + head + strlen(line), at + old, len - head - old);
    size_t elen = len - old + strlen(line);
    struct doc *d = open_doc(id, 1);
    uint32_t v;
    ck_assert_int_eq(doc_truncate(t.s, d, 0), 0);
    ck_assert_int_eq(doc_write(t.s, d, edited, elen, 0), (ssize_t)elen);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/j.txt", &v), 0);
    ck_assert_uint_eq(v, 2);
    doc_free(d);
    size_t added = raw_count(t.s, STORE_DB_CHUNKS) - chunks;
    ck_assert_uint_ge(added, 1);
    ck_assert_uint_le(added, 4);
    size_t slen;
    uint8_t *stored = version_content(id, 2, &slen);
    ck_assert_uint_eq(slen, elen);
    ck_assert(memcmp(stored, edited, elen) == 0);
    free(stored);
    free(text);
    free(edited);
}
END_TEST

/* Version `number` of node id: its chunks' lengths into *lens (malloc'd),
 * their count returned. */
static uint32_t version_lens(uint64_t id, uint32_t number, uint32_t **lens)
{
    MDB_txn *txn;
    struct version v;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(t.s, txn, id, number, &v), 0);
    struct version_chunk *vc = test_version_list(t.s, txn, &v);
    uint32_t n = v.nchunks;
    *lens = malloc((n ? n : 1) * sizeof **lens);
    for (uint32_t i = 0; i < n; i++)
        (*lens)[i] = vc[i].len;
    free(vc);
    version_clear(&v);
    store_txn_abort(txn);
    return n;
}

/* A document past CHUNK_COARSE_AT, streamed in through spills: chunks that
 * start in its first 32 MiB are fine, those past are coarse (about 80 KiB
 * on random content); written whole it is cut the same; a line inserted
 * near its start, which moves every later byte (and where coarse chunks
 * start), or past 32 MiB, stores only the chunks around the change. */
START_TEST(test_doc_coarse_chunks_past_32_mib)
{
    const size_t N = (size_t)CHUNK_COARSE_AT + (6u << 20) + 4321, INS = 37;
    uint8_t *p = malloc(N + 2 * INS);
    fill_random(p, N, 31);
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    for (size_t off = 0; off < N; off += 1 << 20) {
        size_t n = N - off < (1u << 20) ? N - off : 1u << 20;
        ck_assert_int_eq(doc_write(t.s, d, p + off, n, off), (ssize_t)n);
    }
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/scan.bin", &v), 0);
    ck_assert_uint_eq(v, 1);
    doc_free(d);
    uint32_t *lens;
    uint32_t n = version_lens(id, 1, &lens);
    uint64_t off = 0, coarse_bytes = 0;
    uint32_t fine = 0, coarse = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (off < CHUNK_COARSE_AT) {
            ck_assert_msg(lens[i] <= CHUNK_FINE_MAX, "fine chunk %u at %llu: %u bytes", i,
                          (unsigned long long)off, lens[i]);
            fine++;
        } else {
            ck_assert_msg(lens[i] <= CHUNK_MAX && (i + 1 == n || lens[i] >= CHUNK_COARSE_MIN),
                          "coarse chunk %u at %llu: %u bytes", i, (unsigned long long)off,
                          lens[i]);
            coarse++;
            coarse_bytes += lens[i];
        }
        off += lens[i];
    }
    ck_assert_uint_eq(off, N);
    ck_assert_uint_ge(fine, CHUNK_COARSE_AT / CHUNK_FINE_MAX);
    ck_assert_msg(coarse >= 2 && coarse_bytes / coarse >= (56u << 10),
                  "%u coarse chunks for %llu bytes", coarse,
                  (unsigned long long)coarse_bytes);
    size_t len;
    uint8_t *back = version_content(id, 1, &len);
    ck_assert_uint_eq(len, N);
    ck_assert(memcmp(back, p, N) == 0);
    free(back);
    expect_cut_as_whole(p, N);
    /* 37 bytes inserted 1 MiB in, then 37 more 2 MiB past CHUNK_COARSE_AT,
     * each saved as an editor saves (all written again) */
    const size_t at[2] = {1u << 20, (size_t)CHUNK_COARSE_AT + (2u << 20)};
    size_t size = N;
    for (int k = 0; k < 2; k++) {
        memmove(p + at[k] + INS, p + at[k], size - at[k]);
        fill_random(p + at[k], INS, 32 + (unsigned)k);
        size += INS;
        size_t chunks = raw_count(t.s, STORE_DB_CHUNKS);
        d = open_doc(id, 1 + (uint32_t)k);
        ck_assert_int_eq(doc_truncate(t.s, d, 0), 0);
        for (size_t o = 0; o < size; o += 1 << 20) {
            size_t m = size - o < (1u << 20) ? size - o : 1u << 20;
            ck_assert_int_eq(doc_write(t.s, d, p + o, m, o), (ssize_t)m);
        }
        expect_saved(d, id, p, size, 2 + (uint32_t)k);
        doc_free(d);
        size_t added = raw_count(t.s, STORE_DB_CHUNKS) - chunks;
        ck_assert_msg(added >= 1 && added <= 8, "insertion %d: %zu chunks added", k, added);
    }
    free(lens);
    free(p);
}
END_TEST

static void expect_reads(struct doc *d, const uint8_t *want, size_t n);

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Pages far apart cost a block each, found in order; an emptied block
 * goes. */
START_TEST(test_pagemap_sparse)
{
    struct pagemap m = {0};
    static uint8_t a, b, c;
    const uint64_t far = ((uint64_t)1 << 40) / DOC_PAGE - 1; /* the last page of 1 TiB */
    ck_assert_uint_eq(pagemap_next(&m, 0), PAGEMAP_NONE);
    ck_assert_int_eq(pagemap_put(&m, 5, &a), 0);
    ck_assert_int_eq(pagemap_put(&m, PAGEMAP_BLOCK + 1, &b), 0);
    ck_assert_int_eq(pagemap_put(&m, far, &c), 0);
    ck_assert_uint_eq(m.count, 3);
    ck_assert_ptr_eq(pagemap_get(&m, 5), &a);
    ck_assert_ptr_null(pagemap_get(&m, 6));
    ck_assert_ptr_null(pagemap_get(&m, far + 5000));
    ck_assert_uint_eq(pagemap_next(&m, 0), 5);
    ck_assert_uint_eq(pagemap_next(&m, 6), PAGEMAP_BLOCK + 1);
    ck_assert_uint_eq(pagemap_next(&m, PAGEMAP_BLOCK + 2), far);
    ck_assert_uint_eq(pagemap_next(&m, far + 1), PAGEMAP_NONE);
    ck_assert(pagemap_any(&m, 0, 6));
    ck_assert(!pagemap_any(&m, 6, PAGEMAP_BLOCK + 1));
    ck_assert(pagemap_any(&m, 6, PAGEMAP_BLOCK + 2));
    ck_assert(!pagemap_any(&m, 5, 5));
    /* 8 bytes of table per block of 64 MiB, and three blocks */
    ck_assert_uint_le(m.nblk, 2 * ((far >> PAGEMAP_SHIFT) + 1));
    size_t blocks = 0;
    for (size_t i = 0; i < m.nblk; i++)
        blocks += m.blk[i] != NULL;
    ck_assert_uint_eq(blocks, 3);
    ck_assert_ptr_eq(pagemap_take(&m, PAGEMAP_BLOCK + 1), &b);
    ck_assert_ptr_null(pagemap_take(&m, PAGEMAP_BLOCK + 1));
    ck_assert_ptr_null(m.blk[1]);
    ck_assert_uint_eq(pagemap_next(&m, 6), far);
    ck_assert_ptr_eq(pagemap_take(&m, 5), &a);
    ck_assert_ptr_eq(pagemap_take(&m, far), &c);
    ck_assert_uint_eq(m.count, 0);
    ck_assert_uint_eq(pagemap_next(&m, 0), PAGEMAP_NONE);
    pagemap_free(&m);
}
END_TEST

/* A write near the end of the largest document and one at its start: the
 * content between reads as zeros, and the document holds two pages. */
START_TEST(test_doc_far_apart_writes)
{
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    const uint64_t end = DOC_SIZE_MAX - 10;
    ck_assert_int_eq(doc_write(t.s, d, "start", 5, 0), 5);
    ck_assert_int_eq(doc_write(t.s, d, "the end", 7, end), 7);
    ck_assert_uint_eq(doc_size(d), end + 7);
    ck_assert_uint_eq(d->npresent, 2);
    uint8_t buf[64];
    ck_assert_int_eq(doc_read(t.s, d, buf, 7, end), 7);
    ck_assert_mem_eq(buf, "the end", 7);
    ck_assert_int_eq(doc_read(t.s, d, buf, 20, end - 13), 20);
    ck_assert(all_zero(buf, 13));
    ck_assert_int_eq(doc_read(t.s, d, buf, 5, 0), 5);
    ck_assert_mem_eq(buf, "start", 5);
    ck_assert_int_eq(doc_read(t.s, d, buf, 64, (uint64_t)1 << 39), 64);
    ck_assert(all_zero(buf, 64));
    ck_assert_int_eq(doc_truncate(t.s, d, 5), 0);
    ck_assert_uint_eq(d->npresent, 1);
    doc_free(d);
}
END_TEST

static int held_count(struct doc *d)
{
    int n = 0;
    for (uint32_t k = 0; k < d->wl.nseg; k++)
        n += d->wl.seg[k].buf != NULL;
    return n;
}

static uint32_t nsegs_of(uint64_t id, uint32_t number)
{
    MDB_txn *txn;
    struct version v;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(t.s, txn, id, number, &v), 0);
    store_txn_abort(txn);
    uint32_t n = v.nsegs;
    version_clear(&v);
    return n;
}

/* A document whose list is cut into many segments (small ones here, as a
 * document of gigabytes has with the store's): an open document holds a
 * few of them whatever it reads; an edit in the middle stores the
 * segments around it and no other; a list kept in a record by an earlier
 * store is read, saved unchanged without a version, and kept as segments
 * once saved changed. */
START_TEST(test_doc_large_list_in_segments)
{
    enum { N = 4 << 20 };
    uint8_t *model = malloc(N + (1 << 20)), *got;
    fill_random(model, N, 77);
    /* version 1 with the store's own segments: one, kept in the record */
    t.s->seg_min = STORE_SEG_MIN;
    t.s->seg_mask = STORE_SEG_MASK;
    t.s->seg_max = STORE_SEG_MAX;
    uint64_t id = stored_doc(model, N);
    ck_assert_uint_eq(nsegs_of(id, 1), 0);
    /* segments of about 2 chunks: cut wherever an id says so, the count
     * never deciding below 64 (so an edit changes the segments around it
     * only) */
    t.s->seg_min = 1;
    t.s->seg_mask = 1;
    t.s->seg_max = 64;
    /* read as many segments, held (nothing stores them) */
    struct doc *d = open_doc(id, 1);
    ck_assert_uint_gt(d->wl.nseg, 3 * WL_RESIDENT);
    size_t len;
    got = read_all(d, &len);
    ck_assert_uint_eq(len, N);
    ck_assert(memcmp(got, model, N) == 0);
    free(got);
    /* saved unchanged: the same list, by digest, whatever its form */
    ck_assert_int_eq(doc_write(t.s, d, model, N, 0), N);
    uint32_t v = 9;
    got = read_all(d, &len);
    ck_assert_msg(memcmp(got, model, N) == 0, "before commit: differs at %zu of %u",
                  first_difference(got, model, N), N);
    free(got);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/big.bin", &v), 0);
    ck_assert_uint_eq(v, 0);
    got = read_all(d, &len);
    ck_assert_msg(memcmp(got, model, N) == 0, "after commit: differs at %zu of %u",
                  first_difference(got, model, N), N);
    free(got);
    /* changed: version 2 names segments, all stored */
    memcpy(model + N / 2, "corrected", 9);
    ck_assert_int_eq(doc_write(t.s, d, "corrected", 9, N / 2), 9);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/big.bin", &v), 0);
    ck_assert_uint_eq(v, 2);
    ck_assert_uint_gt(nsegs_of(id, 2), 3 * WL_RESIDENT);
    doc_free(d);
    uint8_t *back = version_content(id, 2, &len);
    ck_assert_uint_eq(len, N);
    ck_assert_msg(memcmp(back, model, N) == 0, "v2: differs at %zu of %u",
                  first_difference(back, model, N), N);
    free(back);
    size_t lists = raw_count(t.s, STORE_DB_LISTS);

    /* read through from the store: a few segments held at a time */
    d = open_doc(id, 2);
    ck_assert_int_eq(held_count(d), 0);
    expect_reads(d, model, N);
    ck_assert_uint_le(d->wl.nheld, WL_RESIDENT);
    ck_assert_int_le(held_count(d), WL_RESIDENT);
    /* an edit in the middle: a few new segments, the rest as they were */
    memcpy(model + N / 3, "a date corrected", 16);
    ck_assert_int_eq(doc_write(t.s, d, "a date corrected", 16, N / 3), 16);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/big.bin", &v), 0);
    ck_assert_uint_eq(v, 3);
    size_t added = raw_count(t.s, STORE_DB_LISTS) - lists;
    ck_assert_uint_ge(added, 1);
    ck_assert_uint_le(added, 5);
    ck_assert_uint_lt(added * 4, nsegs_of(id, 3));
    ck_assert_int_le(held_count(d), WL_RESIDENT + 1);
    /* appended to, through the same handle, with spills */
    fill_random(model + N, 1 << 20, 78);
    ck_assert_int_eq(doc_write(t.s, d, model + N, 1 << 20, N), 1 << 20);
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/big.bin", &v), 0);
    ck_assert_uint_eq(v, 4);
    got = read_all(d, &len);
    ck_assert_uint_eq(len, N + (1 << 20));
    ck_assert(memcmp(got, model, len) == 0);
    free(got);
    ck_assert_int_le(held_count(d), WL_RESIDENT + 1);
    doc_free(d);
    back = version_content(id, 4, &len);
    ck_assert_uint_eq(len, N + (1 << 20));
    ck_assert(memcmp(back, model, len) == 0);
    free(back);
    /* every version still reads as it was saved */
    uint8_t *v3 = version_content(id, 3, &len);
    ck_assert_uint_eq(len, N);
    ck_assert(memcmp(v3, model, N) == 0);
    free(v3);
    free(model);
}
END_TEST

/* Reads doc d (n bytes, want) in requests of about 1 MiB at offsets that
 * cut chunks, as the mount reads a document through. */
static void expect_reads(struct doc *d, const uint8_t *want, size_t n)
{
    size_t step = (1u << 20) - 4097;
    uint8_t *got = malloc(1u << 20);
    for (uint64_t off = 0; off < n; off += step) {
        size_t len = n - off < (1u << 20) ? n - off : (1u << 20);
        ck_assert_int_eq(doc_read(t.s, d, got, len, off), (ssize_t)len);
        ck_assert_msg(memcmp(got, want + off, len) == 0, "bytes differ at %llu",
                      (unsigned long long)off);
    }
    free(got);
}

/* Drops the store file's pages from the page cache: those the store's
 * map holds too (the kernel keeps a mapped page whatever it is advised),
 * and again those a read-ahead still in flight brings in afterwards
 * (pages being read are neither dropped nor counted as cached): done when
 * none is cached twice in a row, 20 ms apart. */
static void drop_cached(int fd)
{
    ck_assert_int_eq(fdatasync(fd), 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    size_t pages = ((size_t)st.st_size + 4095) / 4096, resident = 0;
    unsigned char *in = malloc(pages);
    for (int tries = 0, clean = 0; tries < 100 && clean < 2; tries++) {
        if (t.s->map_addr)
            ck_assert_int_eq(madvise(t.s->map_addr, t.s->map_len, MADV_DONTNEED), 0);
        ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        if (!t.s->map_addr)
            break;
        ck_assert_int_eq(mincore(t.s->map_addr, pages * 4096, in), 0);
        resident = 0;
        for (size_t i = 0; i < pages; i++)
            resident += in[i] & 1;
        clean = resident == 0 ? clean + 1 : 0;
        usleep(20000);
    }
    ck_assert_uint_eq(resident, 0);
    free(in);
}

/* A large document read as it streams out of the store file: cold (its
 * pages dropped from the page cache, so read with O_DIRECT where the file
 * system allows, and read ahead) and then cached, both exactly the stored
 * bytes; a chunk altered in the store file fails the request that covers
 * it with EIO, cold or cached, and reads again once it is put back (the
 * copy read ahead while it was altered does not open: it is read again;
 * what was read ahead for a document closed is not used after it). */
START_TEST(test_doc_stream_read_cold_cached_damaged)
{
    size_t N = 6u << 20;
    uint8_t *p = malloc(N);
    fill_random(p, N, 41);
    uint64_t id = stored_doc(p, N);
    ck_assert_int_eq(store_sync(t.s), 0);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", t.dir);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    /* the chunk holding byte 3 MiB, and where it is sealed in the file;
     * where every chunk starts */
    MDB_txn *txn;
    struct version v;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(t.s, txn, id, 1, &v), 0);
    struct version_chunk *vc = test_version_list(t.s, txn, &v);
    uint64_t *starts = calloc(v.nchunks, sizeof *starts);
    for (uint32_t k = 0; k < v.nchunks; k++)
        ck_assert_int_eq(chunk_locate(t.s, txn, vc[k].id, vc[k].len, &starts[k]), 0);
    uint64_t at = 0, in_file = 0;
    uint32_t c = 0;
    while (at + vc[c].len <= (3u << 20))
        at += vc[c++].len;
    ck_assert_int_eq(chunk_locate(t.s, txn, vc[c].id, vc[c].len, &in_file), 0);
    free(vc);
    store_txn_abort(txn);
    uint64_t bad = in_file + 100; /* a byte of its ciphertext */
    for (int cached = 0; cached < 2; cached++) {
        if (cached) {
            uint8_t *all = malloc(1u << 20);
            for (off_t o = 0; pread(fd, all, 1u << 20, o) > 0; o += 1 << 20)
                ;
            free(all);
        } else {
            drop_cached(fd);
        }
        uint64_t direct = t.s->direct_bytes, streamed = t.s->stream_bytes;
        uint64_t taken, failed, taken2, failed2;
        ahead_counts(t.s->ahead, &taken, &failed);
        struct doc *d = open_doc(id, 1);
        /* (opening it faulted pages of the map in, and the kernel read
         * the small store file whole around them); cold but for the page
         * each chunk starts in, as where a run read through the page cache
         * ends where the next starts */
        if (!cached) {
            drop_cached(fd);
            uint8_t page[4096];
            ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0); /* that page only */
            for (uint32_t k = 0; k < v.nchunks; k++)
                ck_assert_int_eq(pread(fd, page, sizeof page, (off_t)(starts[k] & ~4095ull)),
                                 sizeof page);
            ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL), 0);
        }
        expect_reads(d, p, N);
        doc_free(d);
        /* cold, the runs came with O_DIRECT where the file system has it
         * (but a run of one page, cached); cached, all from the page
         * cache */
        uint64_t all = t.s->stream_bytes - streamed;
        ck_assert_uint_ge(all, N);
        /* and after the first request, chunks were read ahead, and every
         * one of them opened */
        ahead_counts(t.s->ahead, &taken2, &failed2);
        ck_assert_uint_gt(taken2, taken);
        ck_assert_uint_eq(failed2, failed);
        if (cached)
            ck_assert_uint_eq(t.s->direct_bytes, direct);
        else if (t.s->direct_fd >= 0)
            ck_assert_uint_ge(t.s->direct_bytes - direct, all - all / 100);
        uint8_t byte, flipped;
        ck_assert_int_eq(pread(fd, &byte, 1, (off_t)bad), 1);
        flipped = byte ^ 0x20;
        ck_assert_int_eq(pwrite(fd, &flipped, 1, (off_t)bad), 1);
        if (!cached)
            drop_cached(fd);
        d = open_doc(id, 1);
        uint8_t *got = malloc(1u << 20);
        ck_assert_int_eq(doc_read(t.s, d, got, 1u << 20, at), -EIO);
        ck_assert_int_eq(doc_read(t.s, d, got, 1u << 20, 0), 1u << 20);
        ck_assert(memcmp(got, p, 1u << 20) == 0);
        ck_assert_int_eq(pwrite(fd, &byte, 1, (off_t)bad), 1);
        expect_reads(d, p, N);
        free(got);
        doc_free(d);
    }
    version_clear(&v);
    free(starts);
    close(fd);
    free(p);
}
END_TEST

/* Read ahead slowly (each read of the store's threads waits 20 ms first):
 * a request whose chunks are still being read waits for them; two
 * documents of the same content share what was read ahead, and one closed
 * while its chunks are being read ahead leaves the other reading exactly
 * its bytes. */
START_TEST(test_doc_read_ahead_slow_shared)
{
    size_t N = 4u << 20;
    uint8_t *p = malloc(N);
    fill_random(p, N, 43);
    uint64_t a = stored_doc(p, N), b = stored_doc(p, N);
    ck_assert_ptr_nonnull(t.s->ahead);
    ahead_slow(t.s->ahead, 20);
    uint64_t taken, failed, taken2, failed2;
    ahead_counts(t.s->ahead, &taken, &failed);
    struct doc *da = open_doc(a, 1), *db = open_doc(b, 1);
    uint8_t *got = malloc(1u << 20);
    ck_assert_int_eq(doc_read(t.s, da, got, 1u << 20, 0), 1u << 20);
    ck_assert(memcmp(got, p, 1u << 20) == 0);
    doc_free(da); /* its next chunks still being read ahead */
    expect_reads(db, p, N);
    doc_free(db);
    ahead_counts(t.s->ahead, &taken2, &failed2);
    ck_assert_uint_gt(taken2, taken);
    ck_assert_uint_eq(failed2, failed);
    ahead_slow(t.s->ahead, 0);
    free(got);
    free(p);
}
END_TEST

/* A spill stops at the last sure chunk boundary; what lies past it must
 * stay readable even where it was never written (it came from the stored
 * version): a write into the first page of a last chunk that reaches into
 * the next page, then a spill of that page. */
START_TEST(test_doc_spill_keeps_unwritten_tail)
{
    /* Cuts depend on the store's random keys: the search spans eleven page
     * boundaries, so that one of them is crossed by a last chunk. */
    enum { MAXN = 1000000 };
    size_t N = 0;
    uint8_t *p = malloc(MAXN);
    fill_random(p, MAXN, 23);
    /* a size whose last chunk starts in one page and ends in the next */
    uint64_t last = 0;
    for (N = 300000; N < MAXN; N += 1000) {
        uint64_t pos = 0;
        while (pos < N) {
            last = pos;
            pos += chunk_cut(t.s, pos, p + pos, N - pos, 1);
        }
        if (last / DOC_PAGE != (N - 1) / DOC_PAGE && last % DOC_PAGE != 0)
            break;
    }
    ck_assert_uint_lt(N, MAXN);
    uint64_t id = stored_doc(p, N);
    struct doc *d = open_doc(id, 1);
    d->spill_at = 2;
    p[last + 1] ^= 0x5a;
    ck_assert_int_eq(doc_write(t.s, d, p + last + 1, 1, last + 1), 1);
    /* a second page written (the page written last is not spilled) */
    ck_assert_int_eq(doc_write(t.s, d, p, 1, 0), 1);
    doc_settle(d);
    ck_assert_uint_le(d->wlimit, last + 1); /* it spilled and stopped there */
    expect_saved(d, id, p, N, 2);
    doc_free(d);
    free(p);
}
END_TEST

/* Content appended to a document whose size was a multiple of the page
 * size is cut as if the whole were written at once (the old end is not
 * kept as a cut): written again whole, the same content is no version,
 * and a second document of it adds no chunk to the store.  Also with the
 * append spilled on the way (a spill's list ends at a cut it is sure of). */
START_TEST(test_doc_append_at_page_boundary_cuts_as_whole)
{
    for (int spill = 0; spill < 2; spill++) {
        const size_t N = 4 * DOC_PAGE, M = (size_t)DOC_SPILL_PAGES * DOC_PAGE + 777;
        uint8_t *p = malloc(N + M);
        fill_random(p, N + M, 24 + (unsigned)spill);
        uint64_t id = stored_doc(p, N);
        struct doc *d = open_doc(id, 1);
        if (!spill)
            d->spill_at = (size_t)-1;
        ck_assert_int_eq(doc_write(t.s, d, p + N, M, N), (ssize_t)M);
        expect_saved(d, id, p, N + M, 2);
        doc_free(d);
        d = open_doc(id, 2);
        ck_assert_int_eq(doc_truncate(t.s, d, 0), 0);
        ck_assert_int_eq(doc_write(t.s, d, p, N + M, 0), (ssize_t)(N + M));
        uint32_t v = 99;
        ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.bin", &v), 0);
        ck_assert_uint_eq(v, 0);
        doc_free(d);
        size_t chunks = raw_count(t.s, STORE_DB_CHUNKS);
        uint64_t id2 = make_doc_node();
        d = open_doc(id2, 0);
        d->spill_at = (size_t)-1;
        ck_assert_int_eq(doc_write(t.s, d, p, N + M, 0), (ssize_t)(N + M));
        ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/copy.bin", &v), 0);
        ck_assert_uint_eq(v, 1);
        doc_free(d);
        ck_assert_uint_eq(raw_count(t.s, STORE_DB_CHUNKS), chunks);
        free(p);
    }
}
END_TEST

/* Reads that start and end anywhere (inside chunks, on chunk boundaries,
 * across written pages, past a truncation) return the content: the chunks
 * a read covers whole are decrypted straight into its buffer, the others
 * into buffers of its own, side by side. */
START_TEST(test_doc_reads_across_chunks_and_pages)
{
    enum { N = 700000 };
    uint8_t *model = malloc(N), *buf = malloc(N + 100);
    fill_random(model, N, 31);
    uint64_t id = stored_doc(model, N);
    struct doc *d = open_doc(id, 1);
    ck_assert_uint_gt(d->wl.n, 20);
    /* patches in a few pages, one across a page boundary */
    const uint64_t at[] = {5, DOC_PAGE - 3, 3 * DOC_PAGE + 1000, 9 * DOC_PAGE - 1};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        memset(model + at[k], 'a' + (int)k, 10);
        ck_assert_int_eq(doc_write(t.s, d, model + at[k], 10, at[k]), 10);
    }
    /* a truncation inside a chunk, then growth again: zeros past it */
    uint64_t cut = wl_off(d, d->wl.n / 2) + 777, grown = N - 1000;
    ck_assert_int_eq(doc_truncate(t.s, d, cut), 0);
    ck_assert_int_eq(doc_truncate(t.s, d, grown), 0);
    memset(model + cut, 0, grown - cut);
    for (int round = 0; round < 2; round++) {
        /* every boundary of the list as a start and as an end */
        for (uint32_t i = 0; i + 2 < d->wl.n; i++) {
            uint64_t a = wl_off(d, i), b = wl_off(d, i + 2);
            if (b > grown)
                break;
            memset(buf, 'X', N);
            ck_assert_int_eq(doc_read(t.s, d, buf, b - a, a), (ssize_t)(b - a));
            ck_assert(memcmp(buf, model + a, b - a) == 0);
            ck_assert_int_eq(doc_read(t.s, d, buf, b - a - 1, a + 1), (ssize_t)(b - a - 1));
            ck_assert(memcmp(buf, model + a + 1, b - a - 1) == 0);
        }
        /* odd places and sizes, and the whole document */
        uint64_t x = 12345;
        for (int k = 0; k < 300; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t a = (x >> 20) % grown, n = (x >> 45) % 300000 + 1;
            size_t want = a + n > grown ? grown - a : n;
            ck_assert_int_eq(doc_read(t.s, d, buf, n, a), (ssize_t)want);
            ck_assert(memcmp(buf, model + a, want) == 0);
        }
        ck_assert_int_eq(doc_read(t.s, d, buf, N + 100, 0), (ssize_t)grown);
        ck_assert(memcmp(buf, model, grown) == 0);
        /* the same once committed: no page left, the list cut where it ends */
        uint32_t v;
        ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/doc.bin", &v), 0);
    }
    doc_free(d);
    free(model);
    free(buf);
}
END_TEST

struct rewriter {
    struct doc *d;
    size_t n;
    int rounds;
};

/* Saves the document again and again in place: truncate, one write of a
 * single byte value, commit (so that readers decrypt chunks). */
static void *rewrite_loop(void *arg)
{
    struct rewriter *w = arg;
    uint8_t *body = malloc(w->n);
    for (int k = 0; k < w->rounds; k++) {
        memset(body, 'a' + k % 26, w->n);
        ck_assert_int_eq(doc_truncate(t.s, w->d, 0), 0);
        ck_assert_int_eq(doc_write(t.s, w->d, body, w->n, 0), (ssize_t)w->n);
        uint32_t v;
        ck_assert_int_eq(doc_commit(t.s, w->d, &t.actor, "case/w.txt", &v), 0);
    }
    free(body);
    return NULL;
}

/* A read is atomic with respect to writes: a reader racing a document
 * rewritten in place sees one save whole, or nothing, never the start of
 * one save and the rest of another or zeros past a new end. */
START_TEST(test_doc_read_atomic_against_rewrites)
{
    enum { N = 300000 };
    uint64_t id = make_doc_node();
    struct doc *d = open_doc(id, 0);
    uint8_t *buf = malloc(N);
    memset(buf, 'z', N);
    ck_assert_int_eq(doc_write(t.s, d, buf, N, 0), N);
    uint32_t v;
    ck_assert_int_eq(doc_commit(t.s, d, &t.actor, "case/w.txt", &v), 0);
    struct rewriter w = {d, N, 300};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, rewrite_loop, &w), 0);
    int whole = 0;
    for (int k = 0; k < 3000; k++) {
        ssize_t got = doc_read(t.s, d, buf, N, 0);
        ck_assert_int_ge(got, 0);
        if (got == 0)
            continue;
        ck_assert_int_eq(got, N);
        for (size_t i = 1; i < N; i++)
            if (buf[i] != buf[0])
                ck_abort_msg("read %d mixes saves: byte %zu is %02x after %02x", k, i,
                             buf[i], buf[0]);
        whole++;
    }
    pthread_join(th, NULL);
    ck_assert_int_gt(whole, 0);
    free(buf);
    doc_free(d);
}
END_TEST

Suite *doc_suite(void)
{
    Suite *s = suite_create("doc");
    for (int small = 0; small < 2; small++) {
    TCase *tc = tcase_create(small ? "doc-segments" : "doc");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, small ? doc_setup_small_segments : doc_setup,
                              doc_teardown);
    tcase_add_test(tc, test_doc_empty);
    tcase_add_test(tc, test_doc_write_read);
    tcase_add_test(tc, test_doc_write_past_end_leaves_zero_hole);
    tcase_add_test(tc, test_doc_truncate_down_then_up_reads_zeros);
    tcase_add_test(tc, test_doc_truncate_committed_content);
    tcase_add_test(tc, test_doc_commit_stores_what_was_written);
    tcase_add_test(tc, test_doc_identical_content_no_version);
    tcase_add_test(tc, test_doc_empty_document_commits);
    tcase_add_test(tc, test_doc_readonly_and_limits);
    tcase_add_test(tc, test_doc_tampered_chunk_read_is_eio);
    tcase_add_test(tc, test_doc_spill_streaming_bounded);
    tcase_add_test(tc, test_doc_spill_random_writes);
    tcase_add_test(tc, test_doc_one_line_edit_stores_little);
    tcase_add_test(tc, test_doc_coarse_chunks_past_32_mib);
    tcase_add_test(tc, test_doc_stream_read_cold_cached_damaged);
    tcase_add_test(tc, test_doc_read_ahead_slow_shared);
    tcase_add_test(tc, test_doc_spill_keeps_unwritten_tail);
    tcase_add_test(tc, test_doc_append_at_page_boundary_cuts_as_whole);
    tcase_add_test(tc, test_doc_read_atomic_against_rewrites);
    tcase_add_test(tc, test_doc_reads_across_chunks_and_pages);
    tcase_add_test(tc, test_doc_large_list_in_segments);
    tcase_add_test(tc, test_pagemap_sparse);
    tcase_add_test(tc, test_doc_far_apart_writes);
    suite_add_tcase(s, tc);
    }
    return s;
}

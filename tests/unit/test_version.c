/*
 * version: a version record keeps who, when, what size and which chunks;
 * same content is recognised by its chunk list; a tampered or moved record
 * is refused.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "store/version.h"
#include "tests/unit/helpers.h"

static struct tstore t;

static void version_setup(void)
{
    tstore_open(&t);
}

static void version_teardown(void)
{
    tstore_close(&t);
}

static void sample(struct version *v, struct version_chunk *chunks, uint32_t n)
{
    memset(v, 0, sizeof *v);
    v->node = 4242;
    v->number = 3;
    v->state = VERSION_LIVE;
    v->sec = 1767225600;
    v->nsec = 123456789;
    v->uid = 1000;
    v->pid = 31337;
    v->user = "handlaggare";
    v->process = "vim";
    v->mode = 0100640;
    v->from_node = 17;
    v->nchunks = n;
    v->chunks = chunks;
    v->size = 0;
    for (uint32_t i = 0; i < n; i++) {
        memset(chunks[i].id, (int)(0x10 + i), CHUNK_ID_BYTES);
        chunks[i].id[0] = (uint8_t)i;
        chunks[i].len = 4096 + 1000 * i;
        v->size += chunks[i].len;
    }
}

static void put(const struct version *v)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(version_put(t.s, txn, v), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
}

static int get(uint64_t node, uint32_t number, struct version *out)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    int rc = version_get(t.s, txn, node, number, out);
    store_txn_abort(txn);
    return rc;
}

START_TEST(test_version_round_trip)
{
    struct version_chunk chunks[3];
    struct version v, g;
    sample(&v, chunks, 3);
    put(&v);
    ck_assert_int_eq(get(4242, 3, &g), 0);
    ck_assert_uint_eq(g.node, 4242);
    ck_assert_uint_eq(g.number, 3);
    ck_assert_uint_eq(g.state, VERSION_LIVE);
    ck_assert_int_eq(g.sec, 1767225600);
    ck_assert_uint_eq(g.nsec, 123456789);
    ck_assert_uint_eq(g.uid, 1000);
    ck_assert_uint_eq(g.pid, 31337);
    ck_assert_str_eq(g.user, "handlaggare");
    ck_assert_str_eq(g.process, "vim");
    ck_assert_uint_eq(g.size, 4096 + 5096 + 6096);
    ck_assert_uint_eq(g.mode, 0100640);
    ck_assert_uint_eq(g.from_node, 17);
    ck_assert_uint_eq(g.nchunks, 3);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_mem_eq(g.chunks[i].id, chunks[i].id, CHUNK_ID_BYTES);
        ck_assert_uint_eq(g.chunks[i].len, chunks[i].len);
    }
    ck_assert(version_same_content(t.s, &v, &g));
    version_clear(&g);
    ck_assert_ptr_null(g.chunks);

    /* Other numbers of the same node are separate records. */
    ck_assert_int_eq(get(4242, 2, &g), -ENOENT);
    ck_assert_int_eq(get(4242, 4, &g), -ENOENT);
    ck_assert_int_eq(get(4243, 3, &g), -ENOENT);
}
END_TEST

START_TEST(test_version_empty_and_retracted)
{
    struct version v, g;
    sample(&v, NULL, 0);
    v.number = 1;
    v.state = VERSION_RETRACTED;
    put(&v);
    ck_assert_int_eq(get(4242, 1, &g), 0);
    ck_assert_uint_eq(g.size, 0);
    ck_assert_uint_eq(g.nchunks, 0);
    ck_assert_uint_eq(g.state, VERSION_RETRACTED);
    version_clear(&g);
}
END_TEST

START_TEST(test_version_same_content)
{
    struct version_chunk ca[3], cb[3];
    struct version a, b;
    sample(&a, ca, 3);
    sample(&b, cb, 3);
    ck_assert(version_same_content(t.s, &a, &b));
    /* Who and when do not matter, only the content. */
    b.uid = 0;
    b.sec = 1;
    b.user = "someone else";
    b.number = 9;
    ck_assert(version_same_content(t.s, &a, &b));
    cb[1].id[5] ^= 1;
    ck_assert(!version_same_content(t.s, &a, &b));
    cb[1].id[5] ^= 1;
    cb[2].len += 1;
    b.size += 1;
    ck_assert(!version_same_content(t.s, &a, &b));
    cb[2].len -= 1;
    b.size -= 1;
    b.nchunks = 2;
    b.size -= cb[2].len;
    ck_assert(!version_same_content(t.s, &a, &b));
    struct version e1, e2;
    sample(&e1, NULL, 0);
    sample(&e2, NULL, 0);
    ck_assert(version_same_content(t.s, &e1, &e2));
    ck_assert(!version_same_content(t.s, &e1, &a));
}
END_TEST

START_TEST(test_version_tampered_is_eio)
{
    struct version_chunk chunks[2];
    struct version v, g;
    sample(&v, chunks, 2);
    put(&v);
    uint8_t key[12];
    codec_be64_put(key, 4242);
    codec_be32_put(key + 8, 3);
    uint8_t *orig;
    ssize_t len = raw_get(t.s, STORE_DB_VERSIONS, key, 12, &orig);
    ck_assert_int_gt(len, KEYS_SEAL_OVERHEAD);
    ck_assert(memmem(orig, (size_t)len, "handlaggare", 11) == NULL);
    size_t offs[] = {1, KEYS_NONCE_BYTES + 2, (size_t)len - 20, (size_t)len - 1};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        ck_assert_int_eq(raw_put(t.s, STORE_DB_VERSIONS, key, 12, orig, (size_t)len), 0);
        ck_assert_int_eq(raw_flip(t.s, STORE_DB_VERSIONS, key, 12, offs[i], 0x04), 0);
        memset(&g, 0, sizeof g);
        ck_assert_msg(get(4242, 3, &g) == -EIO, "byte %zu flipped: not EIO", offs[i]);
        ck_assert_ptr_null(g.chunks);
    }
    /* The untouched record moved to version 4 of the same node. */
    ck_assert_int_eq(raw_put(t.s, STORE_DB_VERSIONS, key, 12, orig, (size_t)len), 0);
    codec_be32_put(key + 8, 4);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_VERSIONS, key, 12, orig, (size_t)len), 0);
    ck_assert_int_eq(get(4242, 4, &g), -EIO);
    ck_assert_int_eq(get(4242, 3, &g), 0);
    version_clear(&g);
    free(orig);
}
END_TEST

/* A long list is decoded in place into the record's own buffer (each
 * entry below where it was read from): every entry comes back. */
START_TEST(test_version_long_list_round_trip)
{
    const uint32_t n = 50000;
    struct version_chunk *chunks = malloc(n * sizeof *chunks);
    ck_assert_ptr_nonnull(chunks);
    struct version v, g;
    sample(&v, NULL, 0);
    v.nchunks = n;
    v.chunks = chunks;
    for (uint32_t i = 0; i < n; i++) {
        for (int b = 0; b < CHUNK_ID_BYTES; b++)
            chunks[i].id[b] = (uint8_t)(i * 31 + (uint32_t)b * 7 + (i >> 8));
        chunks[i].len = 4096 + i % 61440;
        v.size += chunks[i].len;
    }
    put(&v);
    ck_assert_int_eq(get(4242, 3, &g), 0);
    ck_assert_uint_eq(g.nchunks, n);
    ck_assert_uint_eq(g.size, v.size);
    ck_assert_str_eq(g.user, "handlaggare");
    ck_assert_str_eq(g.process, "vim");
    ck_assert_mem_eq(g.chunks, chunks, (size_t)n * sizeof *chunks);
    version_clear(&g);
    free(chunks);
}
END_TEST

/* A sealed record whose lengths do not add up to its size is damage. */
START_TEST(test_version_lengths_not_size_is_eio)
{
    struct version_chunk chunks[3];
    struct version v, g;
    sample(&v, chunks, 3);
    v.size += 1;
    put(&v);
    memset(&g, 0xa5, sizeof g);
    ck_assert_int_eq(get(4242, 3, &g), -EIO);
    ck_assert_ptr_null(g.chunks);
    ck_assert_ptr_null(g.user);
    ck_assert_uint_eq(g.nchunks, 0);
}
END_TEST

START_TEST(test_version_decode_malformed)
{
    struct version g;
    static const uint8_t junk[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(version_decode(junk, sizeof junk, 1, 1, &g), -EIO);
    ck_assert_int_eq(version_decode(junk, 0, 1, 1, &g), -EIO);
}
END_TEST

/* n chunks whose ids are random-looking (so that about one in 4 ends a
 * segment once 4 are in, with the store's segments made small). */
static struct version_chunk *long_list(uint32_t n, uint64_t seed, uint64_t *size)
{
    struct version_chunk *c = malloc((size_t)n * sizeof *c);
    ck_assert_ptr_nonnull(c);
    *size = 0;
    for (uint32_t i = 0; i < n; i++) {
        fill_random(c[i].id, CHUNK_ID_BYTES, seed * 1000003 + i);
        c[i].len = 4096 + (i * 7919) % 60000;
        *size += c[i].len;
    }
    return c;
}

static int segs_of(const struct version_chunk *c, uint32_t n, struct version *v)
{
    /* cut as the store cuts, each segment stored: v names them */
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    v->segs = calloc(n, sizeof *v->segs);
    v->nsegs = 0;
    for (uint32_t from = 0; from < n;) {
        struct version_seg *g = &v->segs[v->nsegs++];
        g->n = version_seg_len(t.s, c + from, n - from, &g->bytes);
        version_seg_name(t.s, c + from, g->n, g->id);
        ck_assert_int_eq(version_seg_put(t.s, txn, c + from, g->n, g->id), 0);
        from += g->n;
    }
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    return (int)v->nsegs;
}

static int collect(void *arg, uint32_t i, const struct version_chunk *c)
{
    ((struct version_chunk *)arg)[i] = *c;
    return 0;
}

/* A list kept as segments: the record names them, each is sealed on its
 * own, every entry comes back in order, and the digest is the one of the
 * same list kept in a record. */
/* A segment ends at the chunk whose id says so from seg_min chunks on, at
 * seg_max chunks, or at seg_bytes_max bytes of content, whatever the id. */
START_TEST(test_version_seg_cut_by_id_count_and_bytes)
{
    uint8_t hit[CHUNK_ID_BYTES] = {0}, miss[CHUNK_ID_BYTES];
    memset(miss, 0xff, sizeof miss);
    ck_assert_int_eq(version_seg_cut(t.s, hit, STORE_SEG_MIN - 1, 1 << 20), 0);
    ck_assert_int_eq(version_seg_cut(t.s, hit, STORE_SEG_MIN, 1 << 20), 1);
    ck_assert_int_eq(version_seg_cut(t.s, miss, STORE_SEG_MIN, 1 << 20), 0);
    ck_assert_int_eq(version_seg_cut(t.s, miss, STORE_SEG_MAX - 1, 1 << 20), 0);
    ck_assert_int_eq(version_seg_cut(t.s, miss, STORE_SEG_MAX, 1 << 20), 1);
    ck_assert_int_eq(version_seg_cut(t.s, miss, 500, STORE_SEG_BYTES_MAX - 1), 0);
    ck_assert_int_eq(version_seg_cut(t.s, miss, 500, STORE_SEG_BYTES_MAX), 1);
    ck_assert_int_eq(version_seg_cut(t.s, miss, 1, STORE_SEG_BYTES_MAX + 5), 1);
}
END_TEST

START_TEST(test_version_segments_round_trip)
{
    t.s->seg_min = 4;
    t.s->seg_mask = 3;
    t.s->seg_max = 16;
    const uint32_t n = 1000;
    uint64_t size;
    struct version_chunk *c = long_list(n, 5, &size);
    struct version v, g, inl;
    sample(&v, NULL, 0);
    v.nchunks = n;
    v.size = size;
    v.chunks = NULL;
    ck_assert_int_gt(segs_of(c, n, &v), 60);
    for (uint32_t k = 0; k < v.nsegs; k++) {
        ck_assert_uint_ge(v.segs[k].n, k + 1 < v.nsegs ? 4 : 1);
        ck_assert_uint_le(v.segs[k].n, 16);
    }
    put(&v);
    ck_assert_int_eq(get(4242, 3, &g), 0);
    ck_assert_uint_eq(g.nsegs, v.nsegs);
    ck_assert_ptr_null(g.chunks);
    ck_assert_uint_eq(g.nchunks, n);
    ck_assert_uint_eq(g.size, size);
    ck_assert_mem_eq(g.segs, v.segs, v.nsegs * sizeof *v.segs);
    struct version_chunk *back = calloc(n, sizeof *back);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_each_chunk(t.s, txn, &g, collect, back), 0);
    store_txn_abort(txn);
    ck_assert_mem_eq(back, c, (size_t)n * sizeof *c);
    /* the same list in a record: the same content, by digest */
    sample(&inl, NULL, 0);
    inl.nchunks = n;
    inl.size = size;
    inl.chunks = c;
    ck_assert(version_same_content(t.s, &inl, &g));
    uint8_t d1[VERSION_DIGEST], d2[VERSION_DIGEST];
    version_digest(t.s, &inl, d1);
    version_digest(t.s, &g, d2);
    ck_assert_mem_eq(d1, d2, VERSION_DIGEST);
    /* one id changed: not the same */
    c[500].id[3] ^= 1;
    ck_assert(!version_same_content(t.s, &inl, &g));
    c[500].id[3] ^= 1;
    /* a segment tampered with, or missing: the list cannot be read */
    ck_assert_int_eq(raw_flip(t.s, STORE_DB_LISTS, g.segs[7].id, CHUNK_ID_BYTES,
                              KEYS_NONCE_BYTES + 3, 1),
                     0);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(version_each_chunk(t.s, txn, &g, collect, back), -EIO);
    store_txn_abort(txn);
    ck_assert_int_eq(raw_del(t.s, STORE_DB_LISTS, g.segs[7].id, CHUNK_ID_BYTES), 0);
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    struct version_chunk *seg;
    ck_assert_int_eq(version_seg_get(t.s, txn, &g.segs[7], &seg), -EIO);
    ck_assert_ptr_null(seg);
    /* a segment that is not what the record says (another's count) */
    struct version_seg wrong = g.segs[8];
    wrong.n += 1;
    ck_assert_int_eq(version_seg_get(t.s, txn, &wrong, &seg), -EIO);
    wrong = g.segs[8];
    wrong.bytes += 1;
    ck_assert_int_eq(version_seg_get(t.s, txn, &wrong, &seg), -EIO);
    ck_assert_int_eq(version_seg_get(t.s, txn, &g.segs[8], &seg), 0);
    free(seg);
    store_txn_abort(txn);
    /* the store's file holds no list entry in the clear (no chunk is
     * stored here, so an id could only be in a segment) */
    ck_assert_int_eq(store_sync(t.s), 0);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/data.mdb", t.dir);
    ck_assert(!file_contains(path, c[100].id, CHUNK_ID_BYTES));
    version_clear(&g);
    free(v.segs);
    free(back);
    free(c);
}
END_TEST

/* A record naming segments whose counts or lengths do not add up is
 * damage, as is one naming none. */
START_TEST(test_version_segments_malformed)
{
    struct version_seg segs[2];
    memset(segs, 0x33, sizeof segs);
    segs[0].n = 3;
    segs[0].bytes = 20000;
    segs[1].n = 2;
    segs[1].bytes = 9000;
    struct version v, g;
    sample(&v, NULL, 0);
    v.segs = segs;
    v.nsegs = 2;
    v.nchunks = 5;
    v.size = 29000;
    put(&v);
    ck_assert_int_eq(get(4242, 3, &g), 0);
    ck_assert_uint_eq(g.nsegs, 2);
    version_clear(&g);
    v.nchunks = 6; /* counts do not add up */
    put(&v);
    memset(&g, 0, sizeof g);
    ck_assert_int_eq(get(4242, 3, &g), -EIO);
    ck_assert_ptr_null(g.segs);
    v.nchunks = 5;
    v.size = 29001; /* lengths do not add up */
    put(&v);
    ck_assert_int_eq(get(4242, 3, &g), -EIO);
    v.size = 29000;
    segs[1].bytes = 1; /* fewer bytes than chunks */
    segs[0].bytes = 28999;
    put(&v);
    ck_assert_int_eq(get(4242, 3, &g), -EIO);
}
END_TEST

Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, version_setup, version_teardown);
    tcase_add_test(tc, test_version_round_trip);
    tcase_add_test(tc, test_version_empty_and_retracted);
    tcase_add_test(tc, test_version_same_content);
    tcase_add_test(tc, test_version_tampered_is_eio);
    tcase_add_test(tc, test_version_decode_malformed);
    tcase_add_test(tc, test_version_long_list_round_trip);
    tcase_add_test(tc, test_version_lengths_not_size_is_eio);
    tcase_add_test(tc, test_version_seg_cut_by_id_count_and_bytes);
    tcase_add_test(tc, test_version_segments_round_trip);
    tcase_add_test(tc, test_version_segments_malformed);
    suite_add_tcase(s, tc);
    return s;
}

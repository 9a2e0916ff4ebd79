/*
 * chunk: content comes back as stored, identical content is kept once,
 * altered content is refused without handing out its plaintext, and the
 * chunker cuts by content so an insertion disturbs only nearby chunks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/chunk.h"
#include "tests/unit/helpers.h"

#define MIB (1024u * 1024u)

static struct tstore t;

static void chunk_setup(void)
{
    tstore_open(&t);
}

static void chunk_teardown(void)
{
    tstore_close(&t);
}

static int put_one(const uint8_t *p, size_t n, uint8_t id[CHUNK_ID_BYTES])
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    int rc = chunk_put(t.s, txn, p, n, id);
    if (rc == 0)
        return store_txn_commit(t.s, txn);
    store_txn_abort(txn);
    return rc;
}

static int get_one(const uint8_t id[CHUNK_ID_BYTES], uint8_t *buf, size_t *n)
{
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    int rc = chunk_get(t.s, txn, id, buf, n);
    store_txn_abort(txn);
    return rc;
}

START_TEST(test_chunk_round_trip)
{
    static const size_t sizes[] = {1, 100, CHUNK_MIN, 20000, CHUNK_MAX};
    uint8_t *p = malloc(CHUNK_MAX), *back = malloc(CHUNK_MAX);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        fill_random(p, sizes[i], 7 + i);
        uint8_t id[CHUNK_ID_BYTES], want[CHUNK_ID_BYTES];
        ck_assert_int_eq(put_one(p, sizes[i], id), 0);
        chunk_id(t.s, p, sizes[i], want);
        ck_assert_mem_eq(id, want, CHUNK_ID_BYTES);
        size_t n = 0;
        memset(back, 0, CHUNK_MAX);
        ck_assert_int_eq(get_one(id, back, &n), 0);
        ck_assert_uint_eq(n, sizes[i]);
        ck_assert_mem_eq(back, p, sizes[i]);
    }
    free(p);
    free(back);
}
END_TEST

START_TEST(test_chunk_too_big_and_missing)
{
    uint8_t *p = calloc(1, CHUNK_MAX + 1), *back = malloc(CHUNK_MAX);
    uint8_t id[CHUNK_ID_BYTES];
    ck_assert_int_eq(put_one(p, CHUNK_MAX + 1, id), -EINVAL);
    memset(id, 0x5a, sizeof id);
    size_t n = 0;
    ck_assert_int_eq(get_one(id, back, &n), -ENOENT);
    free(p);
    free(back);
}
END_TEST

START_TEST(test_chunk_identical_stored_once)
{
    uint8_t a[5000], b[5000];
    fill_random(a, sizeof a, 1);
    memcpy(b, a, sizeof b);
    b[4999] ^= 1;
    size_t before = raw_count(t.s, STORE_DB_CHUNKS);
    uint8_t id1[CHUNK_ID_BYTES], id2[CHUNK_ID_BYTES], id3[CHUNK_ID_BYTES],
        id4[CHUNK_ID_BYTES];

    /* Twice in one transaction, once more in another. */
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(chunk_put(t.s, txn, a, sizeof a, id1), 0);
    ck_assert_int_eq(chunk_put(t.s, txn, a, sizeof a, id2), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_int_eq(put_one(a, sizeof a, id3), 0);
    ck_assert_mem_eq(id1, id2, CHUNK_ID_BYTES);
    ck_assert_mem_eq(id1, id3, CHUNK_ID_BYTES);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_CHUNKS), before + 1);

    /* One bit of difference is another chunk. */
    ck_assert_int_eq(put_one(b, sizeof b, id4), 0);
    ck_assert(memcmp(id1, id4, CHUNK_ID_BYTES) != 0);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_CHUNKS), before + 2);
}
END_TEST

/* True when any 16-byte window of the plaintext shows up in buf. */
static int leaks(const uint8_t *buf, size_t n, const uint8_t *pt, size_t ptlen)
{
    for (size_t i = 0; i + 16 <= ptlen; i += 16)
        if (memmem(buf, n, pt + i, 16))
            return 1;
    return 0;
}

START_TEST(test_chunk_tampered_is_eio_without_plaintext)
{
    enum { N = 6000 };
    uint8_t pt[N], id[CHUNK_ID_BYTES];
    fill_random(pt, N, 99);
    ck_assert_int_eq(put_one(pt, N, id), 0);
    uint8_t *orig;
    ssize_t len = raw_get(t.s, STORE_DB_CHUNKS, id, CHUNK_ID_BYTES, &orig);
    ck_assert_int_eq(len, N + KEYS_SEAL_OVERHEAD);
    ck_assert(!leaks(orig, (size_t)len, pt, N)); /* encrypted at rest */

    uint8_t *buf = malloc(CHUNK_MAX);
    size_t offs[] = {3, KEYS_NONCE_BYTES, KEYS_NONCE_BYTES + N / 2, (size_t)len - 2};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        ck_assert_int_eq(
            raw_put(t.s, STORE_DB_CHUNKS, id, CHUNK_ID_BYTES, orig, (size_t)len), 0);
        ck_assert_int_eq(
            raw_flip(t.s, STORE_DB_CHUNKS, id, CHUNK_ID_BYTES, offs[i], 0x80), 0);
        memset(buf, 0xee, CHUNK_MAX);
        size_t n = 12345;
        ck_assert_msg(get_one(id, buf, &n) == -EIO, "byte %zu flipped: not EIO", offs[i]);
        ck_assert_msg(!leaks(buf, CHUNK_MAX, pt, N),
                      "byte %zu flipped: plaintext in buffer", offs[i]);
    }
    free(orig);
    free(buf);
}
END_TEST

START_TEST(test_chunk_moved_to_other_id_is_eio)
{
    uint8_t a[4100], b[4100], ida[CHUNK_ID_BYTES], idb[CHUNK_ID_BYTES];
    fill_random(a, sizeof a, 3);
    fill_random(b, sizeof b, 4);
    ck_assert_int_eq(put_one(a, sizeof a, ida), 0);
    ck_assert_int_eq(put_one(b, sizeof b, idb), 0);
    uint8_t *va;
    ssize_t len = raw_get(t.s, STORE_DB_CHUNKS, ida, CHUNK_ID_BYTES, &va);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_CHUNKS, idb, CHUNK_ID_BYTES, va, (size_t)len),
                     0);
    free(va);
    uint8_t *buf = malloc(CHUNK_MAX);
    memset(buf, 0, CHUNK_MAX);
    size_t n;
    ck_assert_int_eq(get_one(idb, buf, &n), -EIO);
    ck_assert(!leaks(buf, CHUNK_MAX, a, sizeof a));
    ck_assert_int_eq(get_one(ida, buf, &n), 0);
    ck_assert_mem_eq(buf, a, sizeof a);
    free(buf);
}
END_TEST

/* A value sealed under a chunk's id but holding other content (which only
 * the key's holder could make) passes chunk_get's authentication; the
 * check verify runs finds it. */
START_TEST(test_chunk_checked_finds_wrong_content)
{
    uint8_t a[5000], b[5000], id[CHUNK_ID_BYTES];
    fill_random(a, sizeof a, 31);
    fill_random(b, sizeof b, 32);
    ck_assert_int_eq(put_one(a, sizeof a, id), 0);
    uint8_t ad[4 + CHUNK_ID_BYTES], sealed[sizeof b + KEYS_SEAL_OVERHEAD];
    memcpy(ad, "chnk", 4);
    memcpy(ad + 4, id, CHUNK_ID_BYTES);
    keys_seal(t.s->keys, KEYS_CONTENT, ad, sizeof ad, b, sizeof b, sealed);
    ck_assert_int_eq(raw_put(t.s, STORE_DB_CHUNKS, id, CHUNK_ID_BYTES, sealed, sizeof sealed),
                     0);
    uint8_t *buf = malloc(CHUNK_MAX);
    size_t n;
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 1, &txn), 0);
    ck_assert_int_eq(chunk_get(t.s, txn, id, buf, &n), 0);
    ck_assert_int_eq(chunk_get_checked(t.s, txn, id, buf, &n), -EIO);
    ck_assert(!leaks(buf, CHUNK_MAX, b, sizeof b));
    store_txn_abort(txn);
    free(buf);
}
END_TEST

/* Cuts p[0..n), which lies at offset `at` of its content, completely;
 * returns the number of chunks, lengths in lens. */
static size_t cut_all(uint64_t at, const uint8_t *p, size_t n, size_t *lens, size_t max)
{
    size_t off = 0, count = 0;
    while (off < n) {
        size_t c = chunk_cut(t.s, at + off, p + off, n - off, 1);
        ck_assert_uint_gt(c, 0);
        ck_assert_uint_le(c, n - off);
        ck_assert_uint_lt(count, max);
        lens[count++] = c;
        off += c;
    }
    return count;
}

START_TEST(test_chunk_cut_bounds_and_determinism)
{
    uint8_t *p = malloc(MIB);
    fill_random(p, MIB, 2026);
    size_t lens[1024], again[1024];
    size_t n = cut_all(0, p, MIB, lens, 1024);
    ck_assert_uint_ge(n, MIB / CHUNK_FINE_MAX);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) /* only the last may be short */
            ck_assert_msg(lens[i] >= CHUNK_MIN && lens[i] <= CHUNK_FINE_MAX,
                          "chunk %zu is %zu bytes", i, lens[i]);
        else
            ck_assert_uint_le(lens[i], CHUNK_FINE_MAX);
        total += lens[i];
    }
    ck_assert_uint_eq(total, MIB);
    /* Random content is cut by content, not only at the maximum. */
    size_t below_max = 0;
    for (size_t i = 0; i + 1 < n; i++)
        below_max += lens[i] < CHUNK_FINE_MAX;
    ck_assert_uint_gt(below_max, n / 2);

    size_t m = cut_all(0, p, MIB, again, 1024);
    ck_assert_uint_eq(m, n);
    ck_assert_mem_eq(again, lens, n * sizeof *lens);
    free(p);
}
END_TEST

/* Chunks starting at CHUNK_COARSE_AT or later are coarse: between their
 * minimum and CHUNK_MAX, about 80 KiB on average on random content, cut by
 * content; a chunk starting a byte before is fine. */
START_TEST(test_chunk_cut_coarse_past_its_offset)
{
    enum { N = 8 * MIB };
    uint8_t *p = malloc(N);
    fill_random(p, N, 2027);
    size_t *lens = malloc(1024 * sizeof *lens);
    size_t n = cut_all(CHUNK_COARSE_AT, p, N, lens, 1024);
    size_t total = 0, below_max = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            ck_assert_msg(lens[i] >= CHUNK_COARSE_MIN && lens[i] <= CHUNK_MAX,
                          "coarse chunk %zu is %zu bytes", i, lens[i]);
            below_max += lens[i] < CHUNK_MAX;
        }
        total += lens[i];
    }
    ck_assert_uint_eq(total, N);
    ck_assert_msg(n >= N / (112 << 10) && n <= N / (56 << 10),
                  "%zu coarse chunks in 8 MiB of random content", n);
    ck_assert_uint_gt(below_max, n * 3 / 4);
    /* The same bytes one byte before the offset: a fine first chunk. */
    size_t c = chunk_cut(t.s, CHUNK_COARSE_AT - 1, p, N, 1);
    ck_assert_uint_le(c, CHUNK_FINE_MAX);
    ck_assert_uint_eq(c, chunk_cut(t.s, 0, p, N, 1));
    ck_assert_uint_eq(chunk_cut(t.s, CHUNK_COARSE_AT, p, N, 1), lens[0]);
    free(lens);
    free(p);
}
END_TEST

START_TEST(test_chunk_cut_short_input)
{
    uint8_t p[CHUNK_MIN + 100];
    fill_random(p, sizeof p, 5);
    ck_assert_uint_eq(chunk_cut(t.s, 0, p, 0, 1), 0);
    ck_assert_uint_eq(chunk_cut(t.s, 0, p, 10, 1), 10);
    ck_assert_uint_eq(chunk_cut(t.s, 0, p, 10, 0), 0); /* wants more bytes */
    ck_assert_uint_eq(chunk_cut(t.s, 0, p, CHUNK_MIN, 0), 0);
    ck_assert_uint_eq(chunk_cut(t.s, 0, p, CHUNK_MIN, 1), CHUNK_MIN);
    /* below a coarse chunk's minimum */
    ck_assert_uint_eq(chunk_cut(t.s, CHUNK_COARSE_AT, p, sizeof p, 0), 0);
    ck_assert_uint_eq(chunk_cut(t.s, CHUNK_COARSE_AT, p, sizeof p, 1), sizeof p);
    /* Zeros never match the boundary pattern: a forced cut at the maximum. */
    uint8_t *z = calloc(1, 3 * CHUNK_MAX);
    size_t c = chunk_cut(t.s, 0, z, 3 * CHUNK_MAX, 0);
    ck_assert(c == CHUNK_FINE_MAX || (c >= CHUNK_MIN && c < CHUNK_FINE_MAX));
    ck_assert_uint_eq(chunk_cut(t.s, 0, z, 3 * CHUNK_MAX, 0), c);
    c = chunk_cut(t.s, CHUNK_COARSE_AT, z, 3 * CHUNK_MAX, 0);
    ck_assert(c == CHUNK_MAX || (c >= CHUNK_COARSE_MIN && c < CHUNK_MAX));
    free(z);
}
END_TEST

/* The cut one byte at a time, as chunk.c's header describes it, with the
 * minimum, bits and maximum of the chunk's kind: the store's chunks depend
 * on these cuts never changing. */
static size_t cut_bytewise(uint64_t at, const uint8_t *p, size_t n, int final)
{
    int coarse = at >= CHUNK_COARSE_AT;
    size_t min = coarse ? CHUNK_COARSE_MIN : CHUNK_MIN;
    size_t max = coarse ? CHUNK_MAX : CHUNK_FINE_MAX;
    unsigned bits = coarse ? CHUNK_COARSE_AVG_BITS : CHUNK_AVG_BITS;
    size_t limit = n < max ? n : max;
    if (limit <= min)
        return (final || n >= max) ? limit : 0;
    uint64_t h = 0;
    for (size_t i = min - 64; i < limit; i++) {
        h = (h << 1) + t.s->keys->gear[p[i]];
        if (i >= min && (h >> (64 - bits)) == 0)
            return i + 1;
    }
    return (limit == max || final) ? limit : 0;
}

static void cut_compare(uint64_t at, const uint8_t *p, size_t n, int final, int kind,
                        size_t off)
{
    ck_assert_msg(chunk_cut(t.s, at, p, n, final) == cut_bytewise(at, p, n, final),
                  "kind %d at %zu (offset %llu), %zu bytes, final %d: cut differs", kind,
                  off, (unsigned long long)at, n, final);
}

/* Every cut compared, and the lengths around each content-defined cut
 * (so that the cut falls in the last bytes of a four-byte step and in the
 * bytes past the last whole step).  Kind 3 has a gear of its own under
 * which most positions match, so that two matches in one step and matches
 * just before the end are common; the store's own gear is put back. */
START_TEST(test_chunk_cut_same_as_bytewise)
{
    enum { N = 4 * MIB };
    uint8_t *p = malloc(N);
    uint64_t gear[256];
    memcpy(gear, t.s->keys->gear, sizeof gear);
    const char *line = "2026-03-04 journal: home visit, the child was at school\n";
    for (int k8 = 0; k8 < 8; k8++) {
        int kind = k8 % 4, coarse = k8 / 4; /* each kind fine, then coarse */
        uint64_t at = coarse ? CHUNK_COARSE_AT : 0;
        size_t min = coarse ? CHUNK_COARSE_MIN : CHUNK_MIN;
        size_t max = coarse ? CHUNK_MAX : CHUNK_FINE_MAX;
        uint64_t seed = 7;
        if (kind == 0)
            fill_random(p, N, 4242);
        else if (kind == 1) /* text whose lines repeat */
            for (size_t i = 0; i < N; i++)
                p[i] = (uint8_t)line[i % strlen(line)];
        else if (kind == 2) /* zeros with a few random bytes */
            for (size_t i = 0; i < N; i++)
                p[i] = (i * 2654435761u) % 4099 == 0 ? (uint8_t)(i * 31) : 0;
        else { /* a byte 1 in eight; only byte 1 reaches the top bits */
            for (size_t i = 0; i < N; i++) {
                seed = seed * 6364136223846793005u + 1442695040888963407u;
                p[i] = (seed >> 61) == 0;
            }
            memset(t.s->keys->gear, 0, sizeof gear);
            t.s->keys->gear[1] = 1ull << 50;
        }
        size_t cuts = 0, lens[4] = {0};
        for (int k = 0; k < 3000; k++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            size_t off = (size_t)(seed >> 33) % (N - 2 * max);
            size_t n = (size_t)(seed >> 13) % (2 * max);
            if (kind == 3)
                n = min - 4 + (size_t)(seed >> 13) % 64;
            int final = (int)(seed >> 7) & 1;
            cut_compare(at, p + off, n, final, kind, off);
            size_t c = cut_bytewise(at, p + off, n, 1);
            if (c > min && c < max && c < n) {
                cuts++;
                lens[c % 4]++;
                for (size_t m = c - 3; m <= c + 3; m++)
                    for (int f = 0; f < 2; f++)
                        cut_compare(at, p + off, m, f, kind, off);
            }
        }
        if (kind == 1 || kind == 2)
            continue; /* repeating and sparse content: mostly forced cuts */
        ck_assert_msg(cuts > 1000, "kind %d (coarse %d): only %zu content-defined cuts",
                      kind, coarse, cuts);
        for (int r = 0; r < 4; r++) /* cuts at every place in a step */
            ck_assert_msg(lens[r] > 50, "kind %d (coarse %d): %zu cuts at %d mod 4", kind,
                          coarse, lens[r], r);
        memcpy(t.s->keys->gear, gear, sizeof gear);
    }
    free(p);
}
END_TEST

/* Ids of the chunks of p[0..n). */
static size_t ids_of(uint64_t at, const uint8_t *p, size_t n,
                     uint8_t (*ids)[CHUNK_ID_BYTES], size_t max)
{
    size_t lens[1024];
    size_t count = cut_all(at, p, n, lens, 1024);
    ck_assert_uint_le(count, max);
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        chunk_id(t.s, p + off, lens[i], ids[i]);
        off += lens[i];
    }
    return count;
}

/* _i: 0 fine chunks (1 MiB at offset 0), 1 coarse ones (6 MiB past
 * CHUNK_COARSE_AT). */
START_TEST(test_chunk_cut_content_defined)
{
    enum { INS = 37, AT = 1000 };
    const size_t N = _i ? 6 * MIB : MIB;
    const uint64_t base = _i ? CHUNK_COARSE_AT : 0;
    uint8_t *p = malloc(N), *q = malloc(N + INS);
    fill_random(p, N, 77);
    memcpy(q, p, AT);
    fill_random(q + AT, INS, 78);
    memcpy(q + AT + INS, p + AT, N - AT);
    uint8_t(*a)[CHUNK_ID_BYTES] = malloc(1024 * CHUNK_ID_BYTES);
    uint8_t(*b)[CHUNK_ID_BYTES] = malloc(1024 * CHUNK_ID_BYTES);
    size_t na = ids_of(base, p, N, a, 1024), nb = ids_of(base, q, N + INS, b, 1024);
    size_t shared = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (memcmp(a[i], b[j], CHUNK_ID_BYTES) == 0) {
                shared++;
                break;
            }
    /* Only the chunks around the insertion differ: the one holding it, and
     * when its end was a forced cut at its kind's maximum (no boundary in
     * 60 KiB of random bytes, or 240 KiB for a coarse chunk: about 2% of
     * chunks either way, as the store's keys fall), those up to the next
     * content-defined boundary, which the shift moves too. */
    ck_assert_msg(na >= 8, "only %zu chunks in %zu bytes", na, N);
    ck_assert_msg(shared + 3 >= na, "%zu of %zu chunks unchanged after an insertion",
                  shared, na);
    free(p);
    free(q);
    free(a);
    free(b);
}
END_TEST

/* Several pieces at once: each id is its content's, each piece reads back,
 * and a piece repeated in the call or already stored is stored once. */
START_TEST(test_chunk_put_many)
{
    enum { K = 7 };
    uint8_t *space = malloc(K * CHUNK_MAX), *back = malloc(CHUNK_MAX);
    const uint8_t *p[K];
    size_t n[K];
    for (size_t i = 0; i < K; i++) {
        n[i] = 3000 + i * 9000;
        p[i] = space + i * CHUNK_MAX;
        fill_random(space + i * CHUNK_MAX, n[i], 40 + i);
    }
    /* piece 4 repeats piece 1; piece 6 was stored before */
    n[4] = n[1];
    memcpy(space + 4 * CHUNK_MAX, p[1], n[1]);
    uint8_t first[CHUNK_ID_BYTES];
    ck_assert_int_eq(put_one(p[6], n[6], first), 0);
    size_t before = raw_count(t.s, STORE_DB_CHUNKS);
    uint8_t ids[K][CHUNK_ID_BYTES];
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(t.s, 0, &txn), 0);
    ck_assert_int_eq(chunk_put_many(t.s, txn, p, n, K, ids), 0);
    ck_assert_int_eq(store_txn_commit(t.s, txn), 0);
    ck_assert_uint_eq(raw_count(t.s, STORE_DB_CHUNKS), before + K - 2);
    ck_assert_mem_eq(ids[4], ids[1], CHUNK_ID_BYTES);
    ck_assert_mem_eq(ids[6], first, CHUNK_ID_BYTES);
    for (size_t i = 0; i < K; i++) {
        uint8_t want[CHUNK_ID_BYTES];
        chunk_id(t.s, p[i], n[i], want);
        ck_assert_mem_eq(ids[i], want, CHUNK_ID_BYTES);
        size_t got = 0;
        ck_assert_int_eq(get_one(ids[i], back, &got), 0);
        ck_assert_uint_eq(got, n[i]);
        ck_assert(memcmp(back, p[i], n[i]) == 0);
    }
    free(space);
    free(back);
}
END_TEST

Suite *chunk_suite(void)
{
    Suite *s = suite_create("chunk");
    TCase *tc = tcase_create("chunk");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, chunk_setup, chunk_teardown);
    tcase_add_test(tc, test_chunk_round_trip);
    tcase_add_test(tc, test_chunk_put_many);
    tcase_add_test(tc, test_chunk_too_big_and_missing);
    tcase_add_test(tc, test_chunk_identical_stored_once);
    tcase_add_test(tc, test_chunk_tampered_is_eio_without_plaintext);
    tcase_add_test(tc, test_chunk_moved_to_other_id_is_eio);
    tcase_add_test(tc, test_chunk_checked_finds_wrong_content);
    tcase_add_test(tc, test_chunk_cut_bounds_and_determinism);
    tcase_add_test(tc, test_chunk_cut_short_input);
    tcase_add_test(tc, test_chunk_cut_same_as_bytewise);
    tcase_add_loop_test(tc, test_chunk_cut_content_defined, 0, 2);
    tcase_add_test(tc, test_chunk_cut_coarse_past_its_offset);
    suite_add_tcase(s, tc);
    return s;
}

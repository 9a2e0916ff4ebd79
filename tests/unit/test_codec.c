/*
 * codec: every record decoder rests on it, so it must give back exactly
 * what was put, and on short or malformed input flag the error and never
 * read a byte past the end of its buffer.  The bounds are checked for real:
 * input is placed flush against an inaccessible page, so a read past the
 * end is a crash (an error in Check's fork mode), not a silent pass.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/codec.h"
#include "tests/unit/helpers.h"

/* A copy of p[0..n) that ends exactly where a PROT_NONE page begins. */
struct guarded {
    uint8_t *map;
    size_t maplen;
    uint8_t *data;
};

static void guarded_new(struct guarded *g, const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = ((n + page - 1) / page) * page;
    if (body == 0)
        body = page;
    g->maplen = body + page;
    g->map =
        mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(g->map, MAP_FAILED);
    ck_assert_int_eq(mprotect(g->map + body, page, PROT_NONE), 0);
    g->data = g->map + body - n;
    if (n)
        memcpy(g->data, p, n);
}

static void guarded_free(struct guarded *g)
{
    munmap(g->map, g->maplen);
}

/* A record with one field of every kind. */
static void put_sample(struct codec_writer *w)
{
    codec_put_u8(w, 0xab);
    codec_put_u32(w, 0xdeadbeefu);
    codec_put_u64(w, 0x0123456789abcdefull);
    codec_put_i64(w, -42);
    codec_put_bytes(w, "RAW!", 4);
    codec_put_str(w, "journal note");
    codec_put_str(w, "");
    codec_put_u32(w, 7);
}

START_TEST(test_codec_round_trip)
{
    struct codec_writer w = {0};
    put_sample(&w);
    ck_assert_int_eq(codec_writer_status(&w), 0);
    ck_assert_uint_eq(w.len, 1 + 4 + 8 + 8 + 4 + (4 + 12) + 4 + 4);

    struct guarded g;
    guarded_new(&g, w.data, w.len);
    struct codec_reader r;
    codec_reader_init(&r, g.data, w.len);
    ck_assert_uint_eq(codec_get_u8(&r), 0xab);
    ck_assert_uint_eq(codec_get_u32(&r), 0xdeadbeefu);
    ck_assert_uint_eq(codec_get_u64(&r), 0x0123456789abcdefull);
    ck_assert_int_eq(codec_get_i64(&r), -42);
    char raw[4];
    codec_get_bytes(&r, raw, 4);
    ck_assert_mem_eq(raw, "RAW!", 4);
    char *s1 = codec_get_str(&r, 64);
    char *s2 = codec_get_str(&r, 64);
    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(s2);
    ck_assert_str_eq(s1, "journal note");
    ck_assert_str_eq(s2, "");
    ck_assert_uint_eq(codec_get_u32(&r), 7);
    ck_assert(codec_reader_ok(&r));
    ck_assert_uint_eq(r.left, 0);
    free(s1);
    free(s2);
    guarded_free(&g);
    codec_writer_free(&w);
    ck_assert_ptr_null(w.data);
    ck_assert_uint_eq(w.len, 0);
}
END_TEST

START_TEST(test_codec_big_endian_layout)
{
    struct codec_writer w = {0};
    codec_put_u32(&w, 0x01020304u);
    codec_put_u64(&w, 0x1112131415161718ull);
    codec_put_i64(&w, -1);
    static const uint8_t want[] = {1,    2,    3,    4,    0x11, 0x12, 0x13,
                                   0x14, 0x15, 0x16, 0x17, 0x18, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_uint_eq(w.len, sizeof want);
    ck_assert_mem_eq(w.data, want, sizeof want);
    codec_writer_free(&w);

    uint8_t b8[8], b4[4];
    codec_be64_put(b8, 0xa1b2c3d4e5f60718ull);
    ck_assert_uint_eq(b8[0], 0xa1);
    ck_assert_uint_eq(b8[7], 0x18);
    ck_assert_uint_eq(codec_be64_get(b8), 0xa1b2c3d4e5f60718ull);
    codec_be32_put(b4, 0xcafef00du);
    ck_assert_uint_eq(b4[0], 0xca);
    ck_assert_uint_eq(b4[3], 0x0d);
    ck_assert_uint_eq(codec_be32_get(b4), 0xcafef00du);
}
END_TEST

START_TEST(test_codec_null_string_is_empty)
{
    struct codec_writer w = {0};
    codec_put_str(&w, NULL);
    ck_assert_uint_eq(w.len, 4);
    struct codec_reader r;
    codec_reader_init(&r, w.data, w.len);
    char *s = codec_get_str(&r, 10);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    ck_assert(codec_reader_ok(&r));
    free(s);
    codec_writer_free(&w);
}
END_TEST

/* Reads the sample record from every proper prefix: the error flag is set,
 * nothing past the end is touched, failed reads return zero/empty. */
START_TEST(test_codec_every_truncation_is_flagged)
{
    struct codec_writer w = {0};
    put_sample(&w);
    for (size_t n = 0; n < w.len; n++) {
        struct guarded g;
        guarded_new(&g, w.data, n);
        struct codec_reader r;
        codec_reader_init(&r, g.data, n);
        uint8_t u8 = codec_get_u8(&r);
        uint32_t u32 = codec_get_u32(&r);
        uint64_t u64 = codec_get_u64(&r);
        int64_t i64 = codec_get_i64(&r);
        char raw[4];
        codec_get_bytes(&r, raw, 4);
        char *s1 = codec_get_str(&r, 64);
        char *s2 = codec_get_str(&r, 64);
        uint32_t last = codec_get_u32(&r);
        ck_assert_msg(!codec_reader_ok(&r), "prefix of %zu bytes read as complete", n);
        ck_assert_uint_eq(last, 0);
        /* Whatever came after the cut reads as zero or NULL. */
        if (n < 1)
            ck_assert_uint_eq(u8, 0);
        if (n < 5)
            ck_assert_uint_eq(u32, 0);
        if (n < 13)
            ck_assert_uint_eq(u64, 0);
        if (n < 21)
            ck_assert_int_eq(i64, 0);
        if (n < 25)
            ck_assert_mem_eq(raw, "\0\0\0\0", 4);
        if (n < 41)
            ck_assert_ptr_null(s1);
        if (n < 45)
            ck_assert_ptr_null(s2);
        free(s1);
        free(s2);
        guarded_free(&g);
    }
    codec_writer_free(&w);
}
END_TEST

START_TEST(test_codec_error_is_sticky)
{
    /* A u32 needs four bytes; two are there.  After that failure even a
     * read that would fit returns zero. */
    static const uint8_t in[] = {0x12, 0x34};
    struct codec_reader r;
    codec_reader_init(&r, in, sizeof in);
    ck_assert_uint_eq(codec_get_u32(&r), 0);
    ck_assert(!codec_reader_ok(&r));
    ck_assert_uint_eq(codec_get_u8(&r), 0);
    ck_assert(!codec_reader_ok(&r));
}
END_TEST

START_TEST(test_codec_string_length_past_end)
{
    /* Length prefix says 1000 bytes, 3 follow: refused, never over-read. */
    static const uint8_t in[] = {0, 0, 0x03, 0xe8, 'a', 'b', 'c'};
    struct guarded g;
    guarded_new(&g, in, sizeof in);
    struct codec_reader r;
    codec_reader_init(&r, g.data, sizeof in);
    ck_assert_ptr_null(codec_get_str(&r, 4096));
    ck_assert(!codec_reader_ok(&r));
    guarded_free(&g);

    /* A length of 0xffffffff must not wrap into a small allocation. */
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'x'};
    guarded_new(&g, huge, sizeof huge);
    codec_reader_init(&r, g.data, sizeof huge);
    ck_assert_ptr_null(codec_get_str(&r, SIZE_MAX));
    ck_assert(!codec_reader_ok(&r));
    guarded_free(&g);
}
END_TEST

START_TEST(test_codec_string_longer_than_max_refused)
{
    struct codec_writer w = {0};
    codec_put_str(&w, "hello");
    codec_put_str(&w, "hello");
    struct codec_reader r;
    codec_reader_init(&r, w.data, w.len);
    char *s = codec_get_str(&r, 5); /* exactly max: fine */
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "hello");
    free(s);
    ck_assert_ptr_null(codec_get_str(&r, 4)); /* one over max */
    ck_assert(!codec_reader_ok(&r));
    codec_writer_free(&w);
}
END_TEST

START_TEST(test_codec_writer_grows)
{
    /* Many appends across several reallocations keep every byte. */
    struct codec_writer w = {0};
    for (uint32_t i = 0; i < 10000; i++)
        codec_put_u32(&w, i * 2654435761u);
    ck_assert_int_eq(codec_writer_status(&w), 0);
    ck_assert_uint_eq(w.len, 40000);
    struct codec_reader r;
    codec_reader_init(&r, w.data, w.len);
    for (uint32_t i = 0; i < 10000; i++)
        ck_assert_uint_eq(codec_get_u32(&r), i * 2654435761u);
    ck_assert(codec_reader_ok(&r));
    ck_assert_uint_eq(r.left, 0);
    codec_writer_free(&w);
}
END_TEST

START_TEST(test_codec_writer_reserved_does_not_move)
{
    /* Room made in advance is used as it is: no copy as the bytes come. */
    struct codec_writer w = {0};
    codec_writer_reserve(&w, 40000);
    ck_assert_int_eq(codec_writer_status(&w), 0);
    const uint8_t *at = w.data;
    size_t cap = w.cap;
    ck_assert_uint_ge(cap, 40000);
    for (uint32_t i = 0; i < 10000; i++)
        codec_put_u32(&w, i * 2654435761u);
    ck_assert_int_eq(codec_writer_status(&w), 0);
    ck_assert_ptr_eq(w.data, at);
    ck_assert_uint_eq(w.cap, cap);
    ck_assert_uint_eq(w.len, 40000);
    struct codec_reader r;
    codec_reader_init(&r, w.data, w.len);
    for (uint32_t i = 0; i < 10000; i++)
        ck_assert_uint_eq(codec_get_u32(&r), i * 2654435761u);
    /* past the room reserved it grows as before */
    codec_put_u32(&w, 7);
    ck_assert_int_eq(codec_writer_status(&w), 0);
    ck_assert_uint_eq(w.len, 40004);
    codec_writer_free(&w);
}
END_TEST

Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_codec_round_trip);
    tcase_add_test(tc, test_codec_writer_reserved_does_not_move);
    tcase_add_test(tc, test_codec_big_endian_layout);
    tcase_add_test(tc, test_codec_null_string_is_empty);
    tcase_add_test(tc, test_codec_every_truncation_is_flagged);
    tcase_add_test(tc, test_codec_error_is_sticky);
    tcase_add_test(tc, test_codec_string_length_past_end);
    tcase_add_test(tc, test_codec_string_longer_than_max_refused);
    tcase_add_test(tc, test_codec_writer_grows);
    suite_add_tcase(s, tc);
    return s;
}

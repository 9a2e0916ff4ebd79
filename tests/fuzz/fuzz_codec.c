/*
 * fuzz_codec — the codec reader (codec_get_*), the base of every decoder of
 * stored records, and its writer as an oracle.
 *
 * Input: byte 0 = number of operations k (mod 33), the next k bytes the
 * operations, the rest the buffer the reader reads.  Checks: the reader
 * never reads past the end (ASan), its cursor only moves forward and stays
 * inside the buffer, once bad every read yields zero/NULL, and re-encoding
 * every value read successfully with the codec writer reproduces exactly
 * the bytes those reads consumed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t k = data[0] % 33;
    if (size < 1 + k)
        return 0;
    const uint8_t *ops = data + 1;
    const uint8_t *buf = data + 1 + k;
    size_t n = size - 1 - k;
    /* Copy so that ASan sees the exact end of what the reader may read. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    if (n)
        memcpy(copy, buf, n);

    struct codec_reader r;
    codec_reader_init(&r, copy, n);
    struct codec_writer w = {0};
    size_t good = 0; /* bytes consumed by the reads that succeeded */
    for (size_t i = 0; i < k; i++) {
        const uint8_t *before = r.p;
        size_t left = r.left;
        int was_bad = r.bad;
        uint8_t op = ops[i];
        switch (op % 6) {
        case 0: {
            uint8_t v = codec_get_u8(&r);
            FUZZ_CHECK(!r.bad || v == 0, "u8 after error");
            if (!r.bad)
                codec_put_u8(&w, v);
            break;
        }
        case 1: {
            uint32_t v = codec_get_u32(&r);
            FUZZ_CHECK(!r.bad || v == 0, "u32 after error");
            if (!r.bad)
                codec_put_u32(&w, v);
            break;
        }
        case 2: {
            uint64_t v = codec_get_u64(&r);
            FUZZ_CHECK(!r.bad || v == 0, "u64 after error");
            if (!r.bad)
                codec_put_u64(&w, v);
            break;
        }
        case 3: {
            int64_t v = codec_get_i64(&r);
            FUZZ_CHECK(!r.bad || v == 0, "i64 after error");
            if (!r.bad)
                codec_put_i64(&w, v);
            break;
        }
        case 4: {
            size_t len = op / 6; /* 0..42 */
            uint8_t out[64];
            memset(out, 0xa5, sizeof out);
            codec_get_bytes(&r, out, len);
            for (size_t j = len; j < sizeof out; j++)
                FUZZ_CHECK(out[j] == 0xa5, "codec_get_bytes wrote past n");
            if (r.bad) {
                for (size_t j = 0; j < len; j++)
                    FUZZ_CHECK(out[j] == 0, "bytes not zero-filled on error");
            } else {
                codec_put_bytes(&w, out, len);
            }
            break;
        }
        default: {
            size_t max = (size_t)(op / 6) * 8; /* 0..336 */
            char *s = codec_get_str(&r, max);
            if (r.bad) {
                FUZZ_CHECK(s == NULL, "string returned with the error flag set");
            } else {
                FUZZ_CHECK(s != NULL, "NULL string without error");
                size_t used = left - r.left;
                FUZZ_CHECK(used >= 4 && used - 4 <= max, "string longer than max");
                /* The string may hold NULs: re-encode its exact bytes. */
                codec_put_u32(&w, (uint32_t)(used - 4));
                codec_put_bytes(&w, s, used - 4);
                FUZZ_CHECK(s[used - 4] == '\0', "string not terminated");
            }
            free(s);
            break;
        }
        }
        FUZZ_CHECK(r.left <= left, "reader went backwards");
        FUZZ_CHECK(r.p >= before && r.p + r.left == copy + n, "cursor left the buffer");
        if (was_bad)
            FUZZ_CHECK(r.bad && r.left == left, "read after error consumed input");
        if (!r.bad)
            good = n - r.left;
    }
    FUZZ_CHECK(codec_reader_ok(&r) == !r.bad, "codec_reader_ok disagrees");
    size_t consumed = good;
    FUZZ_CHECK(codec_writer_status(&w) == 0, "writer failed");
    FUZZ_CHECK(w.len == consumed, "re-encoded %zu bytes, read %zu", w.len, consumed);
    FUZZ_CHECK(consumed == 0 || memcmp(w.data, copy, consumed) == 0,
               "re-encoding differs from the bytes read");
    codec_writer_free(&w);
    FUZZ_CHECK(w.data == NULL && w.len == 0, "writer not reset");

    /* The plain helpers round-trip. */
    if (n >= 8) {
        uint8_t b[8];
        codec_be64_put(b, codec_be64_get(copy));
        FUZZ_CHECK(memcmp(b, copy, 8) == 0, "be64 round trip");
        codec_be32_put(b, codec_be32_get(copy));
        FUZZ_CHECK(memcmp(b, copy, 4) == 0, "be32 round trip");
    }
    free(copy);
    return 0;
}

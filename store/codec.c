/*
 * codec — see codec.h.  Kept deliberately tiny: every decoder of stored data
 * goes through codec_reader, so bounds checking lives in one place.
 */
#include "store/codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

static int writer_reserve(struct codec_writer *w, size_t n)
{
    if (w->failed)
        return -1;
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < w->len + n)
        cap *= 2;
    uint8_t *p = malloc(cap);
    if (!p) {
        w->failed = 1;
        return -1;
    }
    if (w->data) {
        memcpy(p, w->data, w->len);
        sodium_memzero(w->data, w->cap);
        free(w->data);
    }
    w->data = p;
    w->cap = cap;
    return 0;
}

void codec_writer_reserve(struct codec_writer *w, size_t n)
{
    (void)writer_reserve(w, n);
}

void codec_put_bytes(struct codec_writer *w, const void *p, size_t n)
{
    if (n == 0 || writer_reserve(w, n) != 0)
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void codec_put_u8(struct codec_writer *w, uint8_t v)
{
    codec_put_bytes(w, &v, 1);
}

void codec_put_u32(struct codec_writer *w, uint32_t v)
{
    uint8_t b[4];
    codec_be32_put(b, v);
    codec_put_bytes(w, b, 4);
}

void codec_put_u64(struct codec_writer *w, uint64_t v)
{
    uint8_t b[8];
    codec_be64_put(b, v);
    codec_put_bytes(w, b, 8);
}

void codec_put_i64(struct codec_writer *w, int64_t v)
{
    codec_put_u64(w, (uint64_t)v);
}

void codec_put_str(struct codec_writer *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    codec_put_u32(w, (uint32_t)n);
    codec_put_bytes(w, s, n);
}

int codec_writer_status(const struct codec_writer *w)
{
    return w->failed ? -ENOMEM : 0;
}

void codec_writer_free(struct codec_writer *w)
{
    if (w->data) {
        sodium_memzero(w->data, w->cap);
        free(w->data);
    }
    memset(w, 0, sizeof *w);
}

void codec_reader_init(struct codec_reader *r, const void *p, size_t n)
{
    r->p = p;
    r->left = n;
    r->bad = 0;
}

void codec_get_bytes(struct codec_reader *r, void *out, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
}

uint8_t codec_get_u8(struct codec_reader *r)
{
    uint8_t v;
    codec_get_bytes(r, &v, 1);
    return v;
}

uint32_t codec_get_u32(struct codec_reader *r)
{
    uint8_t b[4];
    codec_get_bytes(r, b, 4);
    return codec_be32_get(b);
}

uint64_t codec_get_u64(struct codec_reader *r)
{
    uint8_t b[8];
    codec_get_bytes(r, b, 8);
    return codec_be64_get(b);
}

int64_t codec_get_i64(struct codec_reader *r)
{
    return (int64_t)codec_get_u64(r);
}

char *codec_get_str(struct codec_reader *r, size_t max)
{
    uint32_t n = codec_get_u32(r);
    if (r->bad || n > max || n > r->left) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p, n);
    s[n] = '\0';
    r->p += n;
    r->left -= n;
    return s;
}

int codec_reader_ok(const struct codec_reader *r)
{
    return !r->bad;
}

void codec_be64_put(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t codec_be64_get(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void codec_be32_put(uint8_t out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint32_t codec_be32_get(const uint8_t in[4])
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | in[i];
    return v;
}

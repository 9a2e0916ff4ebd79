/*
 * codec — byte-exact encoding of stored records.
 *
 * Every record casefs keeps in LMDB is a flat sequence of fixed-width
 * big-endian integers and length-prefixed byte strings.  The encoder grows
 * a heap buffer; the decoder reads from a borrowed buffer and never reads
 * past its end: any short or malformed input sets the decoder's error flag,
 * after which every further read returns zero/empty.  Callers check
 * codec_reader_ok() once at the end instead of after each field.
 */
#ifndef CASEFS_CODEC_H
#define CASEFS_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* A growable output buffer.  Zero-initialise, then append; codec_writer_free
 * wipes and frees.  On allocation failure `failed` is set and appends stop. */
struct codec_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed;
};

/* Makes room for n more bytes at once (a writer grows by doubling, each
 * time copying what it holds: a large record known in advance is written
 * without).  Failure is reported by codec_writer_status. */
void codec_writer_reserve(struct codec_writer *w, size_t n);
void codec_put_u8(struct codec_writer *w, uint8_t v);
void codec_put_u32(struct codec_writer *w, uint32_t v);
void codec_put_u64(struct codec_writer *w, uint64_t v);
void codec_put_i64(struct codec_writer *w, int64_t v);
void codec_put_bytes(struct codec_writer *w, const void *p, size_t n); /* raw */
void codec_put_str(struct codec_writer *w, const char *s); /* u32 length + bytes */
/* Returns 0, or -ENOMEM if any append failed. */
int codec_writer_status(const struct codec_writer *w);
void codec_writer_free(struct codec_writer *w);

/* A reader over borrowed bytes. */
struct codec_reader {
    const uint8_t *p;
    size_t left;
    int bad;
};

void codec_reader_init(struct codec_reader *r, const void *p, size_t n);
uint8_t codec_get_u8(struct codec_reader *r);
uint32_t codec_get_u32(struct codec_reader *r);
uint64_t codec_get_u64(struct codec_reader *r);
int64_t codec_get_i64(struct codec_reader *r);
/* Copies n raw bytes to out (zero-filled on error). */
void codec_get_bytes(struct codec_reader *r, void *out, size_t n);
/* Returns a malloc'd NUL-terminated copy of a length-prefixed string, or NULL
 * (and the error flag) when it is longer than max or the input is short. */
char *codec_get_str(struct codec_reader *r, size_t max);
/* True when every read succeeded. */
int codec_reader_ok(const struct codec_reader *r);

/* Plain big-endian helpers for LMDB keys. */
void codec_be64_put(uint8_t out[8], uint64_t v);
uint64_t codec_be64_get(const uint8_t in[8]);
void codec_be32_put(uint8_t out[4], uint32_t v);
uint32_t codec_be32_get(const uint8_t in[4]);

#endif

/*
 * version — see version.h.
 */
#include "store/version.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"

#define VERSION_RECORD_VERSION 1
/* A document of 1 TiB in minimum-size chunks; anything more is corrupt. */
#define VERSION_CHUNKS_MAX (1u << 28)

static void version_key(uint64_t node, uint32_t number, uint8_t key[12])
{
    codec_be64_put(key, node);
    codec_be32_put(key + 8, number);
}

int version_decode(const uint8_t *p, size_t n, uint64_t node, uint32_t number,
                   struct version *out)
{
    struct codec_reader r;
    memset(out, 0, sizeof *out);
    codec_reader_init(&r, p, n);
    if (codec_get_u8(&r) != VERSION_RECORD_VERSION)
        return -EIO;
    out->node = node;
    out->number = number;
    out->state = codec_get_u8(&r);
    out->sec = codec_get_i64(&r);
    out->nsec = codec_get_u32(&r);
    out->uid = codec_get_u32(&r);
    out->pid = codec_get_u32(&r);
    out->user = codec_get_str(&r, STORE_USER_MAX);
    out->process = codec_get_str(&r, STORE_PROCESS_MAX);
    out->size = codec_get_u64(&r);
    out->mode = codec_get_u32(&r);
    out->from_node = codec_get_u64(&r);
    out->nchunks = codec_get_u32(&r);
    if (!codec_reader_ok(&r) || out->nchunks > VERSION_CHUNKS_MAX ||
        (size_t)out->nchunks * (CHUNK_ID_BYTES + 4) != r.left ||
        out->state > VERSION_RETRACTED) {
        version_clear(out);
        return -EIO;
    }
    out->chunks = calloc(out->nchunks ? out->nchunks : 1, sizeof *out->chunks);
    if (!out->chunks) {
        version_clear(out);
        return -ENOMEM;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < out->nchunks; i++) {
        codec_get_bytes(&r, out->chunks[i].id, CHUNK_ID_BYTES);
        out->chunks[i].len = codec_get_u32(&r);
        if (out->chunks[i].len == 0 || out->chunks[i].len > CHUNK_MAX)
            r.bad = 1;
        total += out->chunks[i].len;
    }
    if (!codec_reader_ok(&r) || total != out->size) {
        version_clear(out);
        return -EIO;
    }
    return 0;
}

int version_get(struct store *s, MDB_txn *txn, uint64_t node, uint32_t number,
                struct version *out)
{
    uint8_t key[12], *p;
    size_t n;
    version_key(node, number, key);
    int rc = store_record_get(s, txn, STORE_DB_VERSIONS, key, 12, KEYS_RECORD, &p, &n);
    if (rc)
        return rc;
    rc = version_decode(p, n, node, number, out);
    sodium_memzero(p, n);
    free(p);
    return rc;
}

int version_put(struct store *s, MDB_txn *txn, const struct version *v)
{
    struct codec_writer w = {0};
    codec_put_u8(&w, VERSION_RECORD_VERSION);
    codec_put_u8(&w, v->state);
    codec_put_i64(&w, v->sec);
    codec_put_u32(&w, v->nsec);
    codec_put_u32(&w, v->uid);
    codec_put_u32(&w, v->pid);
    codec_put_str(&w, v->user);
    codec_put_str(&w, v->process);
    codec_put_u64(&w, v->size);
    codec_put_u32(&w, v->mode);
    codec_put_u64(&w, v->from_node);
    codec_put_u32(&w, v->nchunks);
    for (uint32_t i = 0; i < v->nchunks; i++) {
        codec_put_bytes(&w, v->chunks[i].id, CHUNK_ID_BYTES);
        codec_put_u32(&w, v->chunks[i].len);
    }
    int rc = codec_writer_status(&w);
    if (rc == 0) {
        uint8_t key[12];
        version_key(v->node, v->number, key);
        rc = store_record_put(s, txn, STORE_DB_VERSIONS, key, 12, KEYS_RECORD, w.data,
                              w.len);
    }
    codec_writer_free(&w);
    return rc;
}

void version_clear(struct version *v)
{
    free(v->user);
    free(v->process);
    free(v->chunks);
    v->user = v->process = NULL;
    v->chunks = NULL;
    v->nchunks = 0;
}

int version_same_content(const struct version *a, const struct version *b)
{
    if (a->size != b->size || a->nchunks != b->nchunks)
        return 0;
    for (uint32_t i = 0; i < a->nchunks; i++)
        if (a->chunks[i].len != b->chunks[i].len ||
            memcmp(a->chunks[i].id, b->chunks[i].id, CHUNK_ID_BYTES) != 0)
            return 0;
    return 1;
}

/*
 * retract — see retract.h.
 */
#include "store/retract.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "store/log.h"

#define RETRACT_RECORD_VERSION 1

int retract_new_id(struct store *s, MDB_txn *txn, uint64_t *out)
{
    return store_counter_next(s, txn, "next-retraction", out);
}

int retract_put(struct store *s, MDB_txn *txn, const struct retraction *r)
{
    struct codec_writer w = {0};
    codec_put_u8(&w, RETRACT_RECORD_VERSION);
    codec_put_u64(&w, r->node);
    codec_put_u32(&w, r->version);
    codec_put_u8(&w, r->state);
    codec_put_u8(&w, r->is_dir);
    codec_put_str(&w, r->path);
    codec_put_u32(&w, r->uid);
    codec_put_u32(&w, r->pid);
    codec_put_str(&w, r->user);
    codec_put_str(&w, r->process);
    codec_put_i64(&w, r->sec);
    codec_put_str(&w, r->reason);
    codec_put_u32(&w, r->decider_uid);
    codec_put_str(&w, r->decider);
    codec_put_i64(&w, r->decided_sec);
    codec_put_str(&w, r->decision_reason);
    int rc = codec_writer_status(&w);
    if (rc == 0) {
        uint8_t key[8];
        codec_be64_put(key, r->id);
        rc = store_record_put(s, txn, STORE_DB_RETRACTIONS, key, 8, KEYS_RECORD, w.data,
                              w.len);
    }
    codec_writer_free(&w);
    return rc;
}

int retract_decode(const uint8_t *p, size_t n, uint64_t id, struct retraction *out)
{
    struct codec_reader r;
    memset(out, 0, sizeof *out);
    codec_reader_init(&r, p, n);
    if (codec_get_u8(&r) != RETRACT_RECORD_VERSION)
        return -EIO;
    out->id = id;
    out->node = codec_get_u64(&r);
    out->version = codec_get_u32(&r);
    out->state = codec_get_u8(&r);
    out->is_dir = codec_get_u8(&r);
    out->path = codec_get_str(&r, LOG_TEXT_MAX);
    out->uid = codec_get_u32(&r);
    out->pid = codec_get_u32(&r);
    out->user = codec_get_str(&r, STORE_USER_MAX);
    out->process = codec_get_str(&r, STORE_PROCESS_MAX);
    out->sec = codec_get_i64(&r);
    out->reason = codec_get_str(&r, LOG_TEXT_MAX);
    out->decider_uid = codec_get_u32(&r);
    out->decider = codec_get_str(&r, STORE_USER_MAX);
    out->decided_sec = codec_get_i64(&r);
    out->decision_reason = codec_get_str(&r, LOG_TEXT_MAX);
    if (!codec_reader_ok(&r) || r.left || out->state > RETRACT_WITHDRAWN) {
        retract_clear(out);
        return -EIO;
    }
    return 0;
}

int retract_get(struct store *s, MDB_txn *txn, uint64_t id, struct retraction *out)
{
    uint8_t key[8], *p;
    size_t n;
    codec_be64_put(key, id);
    int rc = store_record_get(s, txn, STORE_DB_RETRACTIONS, key, 8, KEYS_RECORD, &p, &n);
    if (rc)
        return rc;
    rc = retract_decode(p, n, id, out);
    sodium_memzero(p, n);
    free(p);
    return rc;
}

void retract_clear(struct retraction *r)
{
    free(r->path);
    free(r->user);
    free(r->process);
    free(r->reason);
    free(r->decider);
    free(r->decision_reason);
    r->path = r->user = r->process = r->reason = r->decider = r->decision_reason = NULL;
}

int retract_each(struct store *s, MDB_txn *txn, retract_each_fn fn, void *arg)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_RETRACTIONS], &c);
    if (rc)
        return store_mdb_err(rc);
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) {
            result = -EIO;
            break;
        }
        uint8_t *p;
        size_t n;
        result = store_record_open(s, STORE_DB_RETRACTIONS, k.mv_data, 8, KEYS_RECORD, &v,
                                   &p, &n);
        if (result)
            break;
        struct retraction r;
        result = retract_decode(p, n, codec_be64_get(k.mv_data), &r);
        free(p);
        if (result)
            break;
        result = fn(&r, arg);
        retract_clear(&r);
        if (result)
            break;
    }
    mdb_cursor_close(c);
    if (result == 0 && rc != MDB_NOTFOUND)
        result = store_mdb_err(rc);
    return result;
}

const char *retract_state_name(uint8_t state)
{
    switch (state) {
    case RETRACT_PENDING:
        return "pending";
    case RETRACT_APPROVED:
        return "approved";
    case RETRACT_REJECTED:
        return "rejected";
    case RETRACT_WITHDRAWN:
        return "withdrawn";
    default:
        return "unknown";
    }
}

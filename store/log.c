/*
 * log — see log.h.
 */
#include "store/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/codec.h"

#define LOG_RECORD_VERSION 1

static void case_of(const char *path, char *out, size_t outlen)
{
    size_t n = path ? strcspn(path, "/") : 0;
    if (n >= outlen)
        n = outlen - 1;
    if (n)
        memcpy(out, path, n);
    out[n] = '\0';
}

int log_head(struct store *s, MDB_txn *txn, uint64_t *seq, uint8_t mac[LOG_MAC_BYTES])
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LOG], &c);
    if (rc)
        return store_mdb_err(rc);
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        memset(mac, 0, LOG_MAC_BYTES);
        rc = 0;
    } else if (rc == 0) {
        if (k.mv_size != 8 || v.mv_size < LOG_MAC_BYTES) {
            rc = -EIO;
        } else {
            *seq = codec_be64_get(k.mv_data);
            memcpy(mac, v.mv_data, LOG_MAC_BYTES);
        }
    } else {
        rc = store_mdb_err(rc);
    }
    mdb_cursor_close(c);
    return rc;
}

static void log_mac(struct store *s, const uint8_t prev[LOG_MAC_BYTES],
                    const uint8_t key[8], const uint8_t *sealed, size_t n,
                    uint8_t out[LOG_MAC_BYTES])
{
    uint8_t head[LOG_MAC_BYTES + 8];
    memcpy(head, prev, LOG_MAC_BYTES);
    memcpy(head + LOG_MAC_BYTES, key, 8);
    keys_hash2(s->keys, KEYS_LOG_MAC, head, sizeof head, sealed, n, out, LOG_MAC_BYTES);
}

int log_append(struct store *s, MDB_txn *txn, const struct store_actor *actor,
               const char *op, const char *path, uint32_t version, int result,
               const char *detail)
{
    struct store_actor named;
    actor = store_actor_named(actor, &named);
    uint64_t seq;
    uint8_t prev[LOG_MAC_BYTES];
    int rc = log_head(s, txn, &seq, prev);
    if (rc)
        return rc;
    seq++;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char case_name[256];
    case_of(path, case_name, sizeof case_name);

    struct codec_writer w = {0};
    codec_put_u8(&w, LOG_RECORD_VERSION);
    codec_put_i64(&w, now.tv_sec);
    codec_put_u32(&w, (uint32_t)now.tv_nsec);
    codec_put_u32(&w, actor->uid);
    codec_put_u32(&w, actor->pid);
    codec_put_str(&w, actor->user);
    codec_put_str(&w, actor->process);
    codec_put_str(&w, op);
    codec_put_str(&w, case_name);
    codec_put_str(&w, path ? path : "");
    codec_put_u32(&w, version);
    codec_put_u32(&w, (uint32_t)(result < 0 ? -result : result));
    codec_put_str(&w, detail ? detail : "");
    rc = codec_writer_status(&w);
    if (rc) {
        codec_writer_free(&w);
        return rc;
    }
    uint8_t key[8], ad[12];
    codec_be64_put(key, seq);
    memcpy(ad, "logv", 4);
    memcpy(ad + 4, key, 8);
    MDB_val k = {8, key}, v = {LOG_MAC_BYTES + w.len + KEYS_SEAL_OVERHEAD, NULL};
    rc = mdb_put(txn, s->dbi[STORE_DB_LOG], &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc == 0) {
        uint8_t *sealed = (uint8_t *)v.mv_data + LOG_MAC_BYTES;
        keys_seal(s->keys, KEYS_LOG, ad, sizeof ad, w.data, w.len, sealed);
        log_mac(s, prev, key, sealed, w.len + KEYS_SEAL_OVERHEAD, v.mv_data);
    }
    codec_writer_free(&w);
    return store_mdb_err(rc);
}

int log_append_alone(struct store *s, const struct store_actor *actor, const char *op,
                     const char *path, uint32_t version, int result, const char *detail)
{
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    if (rc)
        return rc;
    rc = log_append(s, txn, actor, op, path, version, result, detail);
    if (rc) {
        store_txn_abort(txn);
        return rc;
    }
    return store_txn_commit(s, txn);
}

int log_payload_decode(const uint8_t *p, size_t n, struct log_entry *out)
{
    struct codec_reader r;
    codec_reader_init(&r, p, n);
    if (codec_get_u8(&r) != LOG_RECORD_VERSION)
        return -EIO;
    out->sec = codec_get_i64(&r);
    out->nsec = codec_get_u32(&r);
    out->uid = codec_get_u32(&r);
    out->pid = codec_get_u32(&r);
    out->user = codec_get_str(&r, STORE_USER_MAX);
    out->process = codec_get_str(&r, STORE_PROCESS_MAX);
    out->op = codec_get_str(&r, 64);
    out->case_name = codec_get_str(&r, 255);
    out->path = codec_get_str(&r, LOG_TEXT_MAX);
    out->version = codec_get_u32(&r);
    out->result = (int32_t)codec_get_u32(&r);
    out->detail = codec_get_str(&r, LOG_TEXT_MAX);
    if (!codec_reader_ok(&r) || r.left != 0) {
        log_entry_clear(out);
        return -EIO;
    }
    return 0;
}

void log_entry_clear(struct log_entry *e)
{
    free(e->user);
    free(e->process);
    free(e->op);
    free(e->case_name);
    free(e->path);
    free(e->detail);
    e->user = e->process = e->op = e->case_name = e->path = e->detail = NULL;
}

int log_each(struct store *s, MDB_txn *txn, log_each_fn fn, void *arg, uint64_t *bad_seq)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_LOG], &c);
    if (rc)
        return store_mdb_err(rc);
    uint8_t prev[LOG_MAC_BYTES] = {0};
    uint64_t expect = 1;
    MDB_val k, v;
    int result = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), expect++) {
        struct log_entry e;
        memset(&e, 0, sizeof e);
        if (k.mv_size != 8 || codec_be64_get(k.mv_data) != expect ||
            v.mv_size < LOG_MAC_BYTES + KEYS_SEAL_OVERHEAD) {
            result = -EBADMSG;
            break;
        }
        const uint8_t *sealed = (const uint8_t *)v.mv_data + LOG_MAC_BYTES;
        size_t slen = v.mv_size - LOG_MAC_BYTES;
        uint8_t mac[LOG_MAC_BYTES];
        log_mac(s, prev, k.mv_data, sealed, slen, mac);
        if (sodium_memcmp(mac, v.mv_data, LOG_MAC_BYTES) != 0) {
            result = -EBADMSG;
            break;
        }
        memcpy(prev, mac, LOG_MAC_BYTES);
        if (fn) {
            uint8_t ad[12];
            memcpy(ad, "logv", 4);
            memcpy(ad + 4, k.mv_data, 8);
            size_t plen = slen - KEYS_SEAL_OVERHEAD;
            uint8_t *pt = malloc(plen ? plen : 1);
            if (!pt) {
                result = -ENOMEM;
                break;
            }
            if (keys_open(s->keys, KEYS_LOG, ad, sizeof ad, sealed, slen, pt) != 0 ||
                log_payload_decode(pt, plen, &e) != 0) {
                free(pt);
                result = -EBADMSG;
                break;
            }
            free(pt);
            e.seq = expect;
            memcpy(e.mac, mac, LOG_MAC_BYTES);
            result = fn(&e, arg);
            log_entry_clear(&e);
            if (result)
                break;
        }
    }
    mdb_cursor_close(c);
    if (result == -EBADMSG && bad_seq)
        *bad_seq = expect;
    if (result == 0 && rc != MDB_NOTFOUND)
        result = store_mdb_err(rc);
    return result;
}

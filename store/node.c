/*
 * node — see node.h.
 */
#include "store/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/codec.h"
#include "store/scache.h"
#include <stdio.h>

#define NODE_RECORD_VERSION 1

static void node_key(uint64_t id, uint8_t key[8])
{
    codec_be64_put(key, id);
}

int node_decode(const uint8_t *p, size_t n, uint64_t id, struct node *out)
{
    struct codec_reader r;
    memset(out, 0, sizeof *out);
    codec_reader_init(&r, p, n);
    if (codec_get_u8(&r) != NODE_RECORD_VERSION)
        return -EIO;
    out->id = id;
    out->parent = codec_get_u64(&r);
    out->type = codec_get_u8(&r);
    out->state = codec_get_u8(&r);
    out->transient = codec_get_u8(&r);
    out->mode = codec_get_u32(&r);
    out->uid = codec_get_u32(&r);
    out->gid = codec_get_u32(&r);
    out->mtime_sec = codec_get_i64(&r);
    out->mtime_nsec = codec_get_u32(&r);
    out->ctime_sec = codec_get_i64(&r);
    out->ctime_nsec = codec_get_u32(&r);
    out->btime_sec = codec_get_i64(&r);
    out->btime_nsec = codec_get_u32(&r);
    out->version = codec_get_u32(&r);
    out->size = codec_get_u64(&r);
    out->origin = codec_get_u64(&r);
    out->request = codec_get_u64(&r);
    out->name = codec_get_str(&r, NODE_NAME_MAX);
    uint8_t has_reason = codec_get_u8(&r);
    if (has_reason)
        out->reason = codec_get_str(&r, NODE_REASON_MAX);
    if (!codec_reader_ok(&r) || (out->type != NODE_DIR && out->type != NODE_FILE) ||
        out->state > NODE_RETRACTED || out->mtime_nsec >= 1000000000u ||
        out->ctime_nsec >= 1000000000u || out->btime_nsec >= 1000000000u) {
        node_clear(out);
        return -EIO;
    }
    return 0;
}

int node_get(struct store *s, MDB_txn *txn, uint64_t id, struct node *out)
{
    uint8_t key[8], *p, kept[SCACHE_VALUE_MAX];
    size_t n;
    node_key(id, key);
    if (scache_get(s->scache, txn, SCACHE_NODE, key, 8, kept, sizeof kept, &n)) {
        int rc = node_decode(kept, n, id, out);
        sodium_memzero(kept, n);
        return rc;
    }
    int rc = store_record_get(s, txn, STORE_DB_NODES, key, 8, KEYS_RECORD, &p, &n);
    if (rc)
        return rc;
    rc = node_decode(p, n, id, out);
    if (rc == 0)
        scache_put(s->scache, txn, SCACHE_NODE, key, 8, p, n);
    sodium_memzero(p, n);
    free(p);
    return rc;
}

int node_put(struct store *s, MDB_txn *txn, const struct node *n)
{
    struct codec_writer w = {0};
    codec_put_u8(&w, NODE_RECORD_VERSION);
    codec_put_u64(&w, n->parent);
    codec_put_u8(&w, n->type);
    codec_put_u8(&w, n->state);
    codec_put_u8(&w, n->transient);
    codec_put_u32(&w, n->mode);
    codec_put_u32(&w, n->uid);
    codec_put_u32(&w, n->gid);
    codec_put_i64(&w, n->mtime_sec);
    codec_put_u32(&w, n->mtime_nsec);
    codec_put_i64(&w, n->ctime_sec);
    codec_put_u32(&w, n->ctime_nsec);
    codec_put_i64(&w, n->btime_sec);
    codec_put_u32(&w, n->btime_nsec);
    codec_put_u32(&w, n->version);
    codec_put_u64(&w, n->size);
    codec_put_u64(&w, n->origin);
    codec_put_u64(&w, n->request);
    codec_put_str(&w, n->name);
    codec_put_u8(&w, n->reason ? 1 : 0);
    if (n->reason)
        codec_put_str(&w, n->reason);
    int rc = codec_writer_status(&w);
    if (rc == 0) {
        uint8_t key[8];
        node_key(n->id, key);
        scache_note(s->scache, txn, SCACHE_NODE, key, 8);
        rc = store_record_put(s, txn, STORE_DB_NODES, key, 8, KEYS_RECORD, w.data, w.len);
    }
    codec_writer_free(&w);
    return rc;
}

void node_clear(struct node *n)
{
    free(n->name);
    free(n->reason);
    n->name = NULL;
    n->reason = NULL;
}

int node_new_id(struct store *s, MDB_txn *txn, uint64_t *out)
{
    int rc = store_counter_next(s, txn, "next-node", out);
    if (rc == 0 && *out <= NODE_ROOT) /* ids below and at the root are reserved */
        rc = store_counter_next(s, txn, "next-node", out);
    return rc;
}

int node_root_create(struct store *s, MDB_txn *txn, uint32_t uid, uint32_t gid)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct node root = {
        .id = NODE_ROOT,
        .parent = NODE_ROOT,
        .type = NODE_DIR,
        .state = NODE_LIVE,
        .mode = 0040755,
        .uid = uid,
        .gid = gid,
        .mtime_sec = now.tv_sec,
        .mtime_nsec = (uint32_t)now.tv_nsec,
        .ctime_sec = now.tv_sec,
        .ctime_nsec = (uint32_t)now.tv_nsec,
        .btime_sec = now.tv_sec,
        .btime_nsec = (uint32_t)now.tv_nsec,
        .name = "",
    };
    uint64_t first;
    int rc = node_new_id(s, txn, &first); /* consumes the root's id */
    return rc ? rc : node_put(s, txn, &root);
}

static void dirent_key(struct store *s, uint64_t parent, const char *name,
                       uint8_t key[NODE_DIRENT_KEY_BYTES])
{
    size_t n = strlen(name);
    uint8_t buf[8 + NODE_NAME_MAX + 1];
    codec_be64_put(key, parent);
    codec_be64_put(buf, parent);
    if (n > NODE_NAME_MAX)
        n = NODE_NAME_MAX + 1; /* never matches a stored name */
    memcpy(buf + 8, name, n);
    keys_hash(s->keys, KEYS_NAME_ID, buf, 8 + n, key + 8, NODE_ID_HASH_BYTES);
}

/* The cache's key for parent's entry of name: parent || name (0 when too
 * long to be kept). */
static size_t dirent_ckey(uint64_t parent, const char *name, uint8_t ck[SCACHE_KEY_MAX])
{
    size_t n = strlen(name);
    if (8 + n > SCACHE_KEY_MAX)
        return SCACHE_KEY_MAX + 1;
    codec_be64_put(ck, parent);
    memcpy(ck + 8, name, n);
    return 8 + n;
}

int dirent_get(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
               uint64_t *id)
{
    uint8_t ck[SCACHE_KEY_MAX], kept[8];
    size_t cklen = dirent_ckey(parent, name, ck), n;
    if (scache_get(s->scache, txn, SCACHE_DIRENT, ck, cklen, kept, sizeof kept, &n)) {
        if (n != 8)
            return -ENOENT; /* known to be absent */
        *id = codec_be64_get(kept);
        return 0;
    }
    uint8_t key[NODE_DIRENT_KEY_BYTES];
    dirent_key(s, parent, name, key);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(txn, s->dbi[STORE_DB_DIRENTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        scache_put(s->scache, txn, SCACHE_DIRENT, ck, cklen, NULL, 0);
    if (rc)
        return store_mdb_err(rc);
    if (v.mv_size != 8)
        return -EIO;
    scache_put(s->scache, txn, SCACHE_DIRENT, ck, cklen, v.mv_data, 8);
    *id = codec_be64_get(v.mv_data);
    return 0;
}

static void dirent_noted(struct store *s, MDB_txn *txn, uint64_t parent, const char *name)
{
    uint8_t ck[SCACHE_KEY_MAX];
    size_t cklen = dirent_ckey(parent, name, ck);
    scache_note(s->scache, txn, SCACHE_DIRENT, ck, cklen);
}

int dirent_put(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
               uint64_t id)
{
    uint8_t key[NODE_DIRENT_KEY_BYTES], val[8];
    dirent_key(s, parent, name, key);
    codec_be64_put(val, id);
    dirent_noted(s, txn, parent, name);
    MDB_val k = {sizeof key, key}, v = {8, val};
    return store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_DIRENTS], &k, &v, 0));
}

int dirent_del(struct store *s, MDB_txn *txn, uint64_t parent, const char *name)
{
    uint8_t key[NODE_DIRENT_KEY_BYTES];
    dirent_key(s, parent, name, key);
    dirent_noted(s, txn, parent, name);
    MDB_val k = {sizeof key, key};
    return store_mdb_err(mdb_del(txn, s->dbi[STORE_DB_DIRENTS], &k, NULL));
}

static void displaced_key(struct store *s, uint64_t parent, const char *name,
                          uint64_t rank, uint8_t key[NODE_DISPLACED_KEY_BYTES])
{
    dirent_key(s, parent, name, key);
    codec_be64_put(key + NODE_DIRENT_KEY_BYTES, rank);
}

/* Walks the displaced dirents of name in rank order (ascending); fn gets
 * each key and id; non-zero from fn stops the walk and is returned. */
static int displaced_walk(struct store *s, MDB_txn *txn, uint64_t parent,
                          const char *name,
                          int (*fn)(MDB_txn *txn, struct store *s, const MDB_val *k,
                                    uint64_t id, void *arg),
                          void *arg)
{
    uint8_t prefix[NODE_DISPLACED_KEY_BYTES];
    displaced_key(s, parent, name, 0, prefix);
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_DIRENTS], &c);
    if (rc)
        return store_mdb_err(rc);
    int result = 0;
    MDB_val k = {sizeof prefix, prefix}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == NODE_DISPLACED_KEY_BYTES &&
           memcmp(k.mv_data, prefix, NODE_DIRENT_KEY_BYTES) == 0) {
        if (v.mv_size != 8) {
            result = -EIO;
            break;
        }
        result = fn(txn, s, &k, codec_be64_get(v.mv_data), arg);
        if (result)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (result == 0 && rc != 0 && rc != MDB_NOTFOUND)
        result = store_mdb_err(rc);
    return result;
}

int dirent_displace(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
                    uint64_t id, int last)
{
    uint64_t cur;
    int rc = dirent_get(s, txn, parent, name, &cur);
    if (rc == 0 && cur == id)
        rc = dirent_del(s, txn, parent, name);
    else if (rc == 0 || rc == -ENOENT)
        rc = 0;
    uint64_t seq = 0;
    if (rc == 0)
        rc = store_counter_next(s, txn, "next-displaced", &seq);
    if (rc)
        return rc;
    /* Ranks: displaced now, above every earlier one (2^63 + n); or, for
     * `last`, below every one so far (2^62 - n). */
    uint64_t rank = last ? (UINT64_C(1) << 62) - seq : (UINT64_C(1) << 63) + seq;
    uint8_t key[NODE_DISPLACED_KEY_BYTES], val[8];
    displaced_key(s, parent, name, rank, key);
    codec_be64_put(val, id);
    MDB_val k = {sizeof key, key}, v = {8, val};
    return store_mdb_err(mdb_put(txn, s->dbi[STORE_DB_DIRENTS], &k, &v, 0));
}

struct undisplace_ctx {
    uint64_t id;
    uint8_t key[NODE_DISPLACED_KEY_BYTES];
    int found;
};

static int undisplace_find(MDB_txn *txn, struct store *s, const MDB_val *k, uint64_t id,
                           void *arg)
{
    struct undisplace_ctx *u = arg;
    if (id != u->id)
        return 0;
    memcpy(u->key, k->mv_data, sizeof u->key);
    u->found = 1;
    return 1;
}

int dirent_undisplace(struct store *s, MDB_txn *txn, uint64_t parent, const char *name,
                      uint64_t id)
{
    struct undisplace_ctx u = {.id = id};
    int rc = displaced_walk(s, txn, parent, name, undisplace_find, &u);
    if (rc < 0)
        return rc;
    if (!u.found)
        return 0;
    MDB_val k = {sizeof u.key, u.key};
    return store_mdb_err(mdb_del(txn, s->dbi[STORE_DB_DIRENTS], &k, NULL));
}

struct collect_ctx {
    uint64_t *ids;
    size_t n, cap;
};

static int collect_id(MDB_txn *txn, struct store *s, const MDB_val *k, uint64_t id,
                      void *arg)
{
    struct collect_ctx *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        uint64_t *more = realloc(c->ids, cap * sizeof *more);
        if (!more)
            return -ENOMEM;
        c->ids = more;
        c->cap = cap;
    }
    c->ids[c->n++] = id;
    return 0;
}

int dirent_displaced_each(struct store *s, MDB_txn *txn, uint64_t parent,
                          const char *name, int (*fn)(const struct node *n, void *arg),
                          void *arg)
{
    struct collect_ctx c = {NULL, 0, 0};
    int result = displaced_walk(s, txn, parent, name, collect_id, &c);
    while (result == 0 && c.n > 0) {
        struct node nd;
        result = node_get(s, txn, c.ids[--c.n], &nd);
        if (result == 0) {
            result = fn(&nd, arg);
            node_clear(&nd);
        }
    }
    free(c.ids);
    return result;
}

int node_children(struct store *s, MDB_txn *txn, uint64_t parent, node_each_fn fn,
                  void *arg)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[STORE_DB_DIRENTS], &c);
    if (rc)
        return store_mdb_err(rc);
    uint8_t prefix[8];
    codec_be64_put(prefix, parent);
    MDB_val k = {8, prefix}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    int result = 0;
    while (rc == 0) {
        if ((k.mv_size != NODE_DIRENT_KEY_BYTES &&
             k.mv_size != NODE_DISPLACED_KEY_BYTES) ||
            memcmp(k.mv_data, prefix, 8) != 0)
            break;
        if (v.mv_size != 8) {
            result = -EIO;
            break;
        }
        struct node child;
        result = node_get(s, txn, codec_be64_get(v.mv_data), &child);
        if (result)
            break;
        result = fn(&child, arg);
        node_clear(&child);
        if (result)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (result == 0 && rc != 0 && rc != MDB_NOTFOUND)
        result = store_mdb_err(rc);
    return result;
}

/* Builds the path of node id from its parents (for log entries). */
void node_path(struct store *s, MDB_txn *txn, uint64_t id, char *out, size_t len)
{
    char *names[NODE_DEPTH_MAX];
    int n = 0;
    struct node nd;
    while (id != NODE_ROOT && n < NODE_DEPTH_MAX && node_get(s, txn, id, &nd) == 0) {
        names[n++] = nd.name;
        nd.name = NULL;
        id = nd.parent;
        node_clear(&nd);
    }
    size_t pos = 0;
    out[0] = '\0';
    for (int i = n - 1; i >= 0; i--) {
        int w = snprintf(out + pos, len - pos, "%s%s", pos ? "/" : "", names[i]);
        if (w > 0 && (size_t)w < len - pos)
            pos += (size_t)w;
        free(names[i]);
    }
}

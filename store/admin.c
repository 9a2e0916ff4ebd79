/*
 * admin — see admin.h.
 */
#include "store/admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/chunk.h"
#include "store/codec.h"
#include "store/log.h"
#include "store/node.h"
#include "store/retract.h"
#include "store/version.h"

#define ADMIN_PATH_MAX 4096

static int64_t now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* Approve: every version the request covers is marked retracted. */
static int retract_versions(struct store *s, MDB_txn *txn, uint64_t node, uint32_t upto)
{
    for (uint32_t v = 1; v <= upto; v++) {
        struct version ver;
        int rc = version_get(s, txn, node, v, &ver);
        if (rc == -ENOENT)
            continue;
        if (rc)
            return rc;
        if (ver.state != VERSION_RETRACTED) {
            ver.state = VERSION_RETRACTED;
            rc = version_put(s, txn, &ver);
        }
        version_clear(&ver);
        if (rc)
            return rc;
    }
    return 0;
}

/* Reject: the entry comes back under its name, or beside it when another
 * entry has taken the name meanwhile. */
static int restore_entry(struct store *s, MDB_txn *txn, struct node *n, char *detail,
                         size_t len)
{
    uint64_t other;
    /* A removed entry whose name was taken by one of another kind waited
     * displaced (node.h); it comes back under its name when that is free. */
    int rc = dirent_undisplace(s, txn, n->parent, n->name, n->id);
    if (rc == 0)
        rc = dirent_get(s, txn, n->parent, n->name, &other);
    if (rc == -ENOENT) {
        rc = dirent_put(s, txn, n->parent, n->name, n->id);
    } else if (rc == 0 && other != n->id) {
        char name[NODE_NAME_MAX + 1];
        snprintf(name, sizeof name, "%.200s (restored %llu)", n->name,
                 (unsigned long long)n->id);
        rc = dirent_put(s, txn, n->parent, name, n->id);
        if (rc == 0) {
            free(n->name);
            n->name = strdup(name);
            rc = n->name ? 0 : -ENOMEM;
            snprintf(detail, len, "; the name was taken, restored as '%s'", name);
        }
    }
    if (rc == 0) {
        n->state = NODE_LIVE;
        n->request = 0;
    }
    return rc;
}

int admin_retract_decide(struct store *s, const struct store_actor *actor, uint64_t id,
                         int approve, const char *reason)
{
    if (!reason || !*reason)
        return -EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(s, 0, &txn);
    if (rc)
        return rc;
    struct retraction r;
    struct node n;
    memset(&r, 0, sizeof r);
    memset(&n, 0, sizeof n);
    char extra[NODE_NAME_MAX + 64] = "";
    rc = retract_get(s, txn, id, &r);
    if (rc == 0 && r.state != RETRACT_PENDING)
        rc = -EALREADY;
    if (rc == 0)
        rc = node_get(s, txn, r.node, &n);
    if (rc == 0 && approve) {
        if (!r.is_dir)
            rc = retract_versions(s, txn, n.id, r.version);
        if (rc == 0 && n.state == NODE_PENDING && n.request == id) {
            n.state = NODE_RETRACTED;
            n.request = 0;
        }
    } else if (rc == 0 && n.state == NODE_PENDING && n.request == id) {
        rc = restore_entry(s, txn, &n, extra, sizeof extra);
    }
    if (rc == 0)
        rc = node_put(s, txn, &n);
    if (rc == 0) {
        r.state = approve ? RETRACT_APPROVED : RETRACT_REJECTED;
        free(r.decider);
        free(r.decision_reason);
        struct store_actor named;
        r.decider = strdup(store_actor_named(actor, &named)->user);
        r.decision_reason = strdup(reason);
        r.decider_uid = actor->uid;
        r.decided_sec = now_sec();
        rc = (r.decider && r.decision_reason) ? retract_put(s, txn, &r) : -ENOMEM;
    }
    if (rc == 0) {
        size_t dlen = strlen(reason) + sizeof extra + 64;
        char *detail = malloc(dlen);
        if (!detail) {
            rc = -ENOMEM;
        } else {
            snprintf(detail, dlen, "request %llu %s: %s%s", (unsigned long long)id,
                     approve ? "approved" : "rejected", reason, extra);
            rc = log_append(s, txn, actor, approve ? "retract-approve" : "retract-reject",
                            r.path, r.version, 0, detail);
            free(detail);
        }
    }
    if (rc == 0)
        rc = store_txn_commit(s, txn);
    else
        store_txn_abort(txn);
    retract_clear(&r);
    node_clear(&n);
    return rc;
}

/* ---- verify ---- */

struct vctx {
    struct store *s;
    MDB_txn *txn;
    admin_problem_fn fn;
    void *arg;
    long problems;
};

static void problem(struct vctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct vctx *c, const char *fmt, ...)
{
    char line[ADMIN_PATH_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->problems++;
    c->fn(c->arg, line);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static int exists(struct vctx *c, enum store_db db, const void *key, size_t keylen)
{
    MDB_val k = {keylen, (void *)key}, v;
    return mdb_get(c->txn, c->s->dbi[db], &k, &v) == 0;
}

static void verify_nodes(struct vctx *c, struct admin_counts *counts)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[STORE_DB_NODES], &cur))
        return problem(c, "the nodes database cannot be read");
    MDB_val k, v;
    char path[ADMIN_PATH_MAX];
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        counts->nodes++;
        if (k.mv_size != 8) {
            problem(c, "nodes: a key of %zu bytes is not a node id", k.mv_size);
            continue;
        }
        uint64_t id = codec_be64_get(k.mv_data);
        uint8_t *p;
        size_t n;
        struct node nd;
        if (store_record_open(c->s, STORE_DB_NODES, k.mv_data, 8, KEYS_RECORD, &v, &p,
                              &n) != 0) {
            problem(c, "node %llu: record fails authentication (altered or damaged)",
                    (unsigned long long)id);
            continue;
        }
        int bad = node_decode(p, n, id, &nd);
        sodium_memzero(p, n);
        free(p);
        if (bad) {
            problem(c, "node %llu: record is malformed", (unsigned long long)id);
            continue;
        }
        node_path(c->s, c->txn, id, path, sizeof path);
        struct node parent;
        if (id != NODE_ROOT) {
            if (node_get(c->s, c->txn, nd.parent, &parent) != 0)
                problem(c,
                        "%s (node %llu): its folder (node %llu) is missing or unreadable",
                        path, (unsigned long long)id, (unsigned long long)nd.parent);
            else
                node_clear(&parent);
            uint64_t found = 0;
            /* A hidden entry may have given its name to a newer one (a
             * folder renamed onto a removed folder's name); a live one
             * must be reachable by its name. */
            if (nd.state == NODE_LIVE &&
                (dirent_get(c->s, c->txn, nd.parent, nd.name, &found) != 0 ||
                 found != id))
                problem(c, "%s (node %llu): its name does not lead to it", path,
                        (unsigned long long)id);
        }
        for (uint32_t ver = 1; nd.type == NODE_FILE && ver <= nd.version; ver++) {
            uint8_t key[12];
            codec_be64_put(key, id);
            codec_be32_put(key + 8, ver);
            if (!exists(c, STORE_DB_VERSIONS, key, sizeof key))
                problem(c, "%s: version %u is missing", path, ver);
        }
        if (nd.request) {
            uint8_t key[8];
            codec_be64_put(key, nd.request);
            if (!exists(c, STORE_DB_RETRACTIONS, key, 8))
                problem(c, "%s: its retraction request %llu is missing", path,
                        (unsigned long long)nd.request);
        }
        node_clear(&nd);
    }
    mdb_cursor_close(cur);
}

static void verify_dirents(struct vctx *c, struct admin_counts *counts)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[STORE_DB_DIRENTS], &cur))
        return problem(c, "the names database cannot be read");
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        counts->dirents++;
        if ((k.mv_size != NODE_DIRENT_KEY_BYTES &&
             k.mv_size != NODE_DISPLACED_KEY_BYTES) ||
            v.mv_size != 8) {
            problem(c, "names: an entry has the wrong size");
            continue;
        }
        uint64_t parent = codec_be64_get(k.mv_data), id = codec_be64_get(v.mv_data);
        struct node nd;
        if (node_get(c->s, c->txn, id, &nd) != 0) {
            problem(c,
                    "a name in folder node %llu leads to node %llu, which is missing or "
                    "unreadable",
                    (unsigned long long)parent, (unsigned long long)id);
            continue;
        }
        if (nd.parent != parent)
            problem(c, "a name in folder node %llu leads to node %llu of another folder",
                    (unsigned long long)parent, (unsigned long long)id);
        node_clear(&nd);
    }
    mdb_cursor_close(cur);
}

/* Chunk ids that failed, to name their documents afterwards. */
struct badset {
    uint8_t (*ids)[CHUNK_ID_BYTES];
    size_t n, cap;
};

static int bad_has(const struct badset *b, const uint8_t *id)
{
    for (size_t i = 0; i < b->n; i++)
        if (memcmp(b->ids[i], id, CHUNK_ID_BYTES) == 0)
            return 1;
    return 0;
}

static void bad_add(struct badset *b, const uint8_t *id)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        void *p = realloc(b->ids, cap * CHUNK_ID_BYTES);
        if (!p)
            return;
        b->ids = p;
        b->cap = cap;
    }
    memcpy(b->ids[b->n++], id, CHUNK_ID_BYTES);
}

static void verify_chunks(struct vctx *c, struct admin_counts *counts, struct badset *bad)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[STORE_DB_CHUNKS], &cur))
        return problem(c, "the chunks database cannot be read");
    uint8_t *buf = malloc(CHUNK_MAX);
    if (!buf) {
        mdb_cursor_close(cur);
        return problem(c, "out of memory while reading chunks");
    }
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        counts->chunks++;
        size_t n;
        if (k.mv_size != CHUNK_ID_BYTES) {
            problem(c, "chunks: a key of %zu bytes is not a chunk id", k.mv_size);
            continue;
        }
        if (chunk_get_checked(c->s, c->txn, k.mv_data, buf, &n) != 0)
            bad_add(bad, k.mv_data);
    }
    sodium_memzero(buf, CHUNK_MAX);
    free(buf);
    mdb_cursor_close(cur);
}

struct chunk_check {
    struct vctx *c;
    const struct badset *bad;
    int report_users;
    const char *path;
    uint32_t number;
};

static int check_chunk(void *arg, uint32_t i, const struct version_chunk *ch)
{
    struct chunk_check *k = arg;
    char idhex[2 * CHUNK_ID_BYTES + 1];
    if (k->report_users) {
        if (bad_has(k->bad, ch->id)) {
            hex(ch->id, 8, idhex);
            problem(k->c,
                    "%s version %u: chunk %s… (part %u) fails authentication: "
                    "this version cannot be read; restore it from a backup",
                    k->path, k->number, idhex, i + 1);
        }
    } else if (!exists(k->c, STORE_DB_CHUNKS, ch->id, CHUNK_ID_BYTES)) {
        hex(ch->id, 8, idhex);
        problem(k->c, "%s version %u: chunk %s… (part %u) is missing", k->path, k->number,
                idhex, i + 1);
    }
    return 0;
}

/* Walks every version; checks it and its chunks; names users of bad chunks. */
static void verify_versions(struct vctx *c, struct admin_counts *counts,
                            const struct badset *bad, int report_users)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[STORE_DB_VERSIONS], &cur))
        return problem(c, "the versions database cannot be read");
    MDB_val k, v;
    char path[ADMIN_PATH_MAX];
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12) {
            if (!report_users)
                problem(c, "versions: a key of %zu bytes is not a version key",
                        k.mv_size);
            continue;
        }
        uint64_t node = codec_be64_get(k.mv_data);
        uint32_t number = codec_be32_get((const uint8_t *)k.mv_data + 8);
        node_path(c->s, c->txn, node, path, sizeof path);
        uint8_t *p;
        size_t n;
        struct version ver;
        if (store_record_open(c->s, STORE_DB_VERSIONS, k.mv_data, 12, KEYS_RECORD, &v, &p,
                              &n) != 0) {
            if (!report_users)
                problem(c, "%s: version %u fails authentication (altered or damaged)",
                        path, number);
            continue;
        }
        int malformed = version_decode(p, n, node, number, &ver);
        sodium_memzero(p, n);
        free(p);
        if (malformed) {
            if (!report_users)
                problem(c, "%s: version %u is malformed", path, number);
            continue;
        }
        if (!report_users) {
            counts->versions++;
            struct node nd;
            if (node_get(c->s, c->txn, node, &nd) != 0)
                problem(c, "version %u of node %llu belongs to no readable document",
                        number, (unsigned long long)node);
            else
                node_clear(&nd);
        }
        struct chunk_check cc = {c, bad, report_users, path, number};
        int r = version_each_chunk(c->s, c->txn, &ver, check_chunk, &cc);
        if (r && !report_users)
            problem(c, "%s: version %u: its list of chunks (a segment) is missing or "
                       "fails authentication: this version cannot be read; restore it "
                       "from a backup",
                    path, number);
        version_clear(&ver);
    }
    mdb_cursor_close(cur);
}

static void verify_requests(struct vctx *c, struct admin_counts *counts)
{
    MDB_cursor *cur;
    if (mdb_cursor_open(c->txn, c->s->dbi[STORE_DB_RETRACTIONS], &cur))
        return problem(c, "the retractions database cannot be read");
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        counts->requests++;
        if (k.mv_size != 8) {
            problem(c, "retractions: a key of %zu bytes is not a request id", k.mv_size);
            continue;
        }
        uint64_t id = codec_be64_get(k.mv_data);
        uint8_t *p;
        size_t n;
        struct retraction r;
        if (store_record_open(c->s, STORE_DB_RETRACTIONS, k.mv_data, 8, KEYS_RECORD, &v,
                              &p, &n) != 0) {
            problem(c,
                    "retraction request %llu fails authentication (altered or damaged)",
                    (unsigned long long)id);
            continue;
        }
        int malformed = retract_decode(p, n, id, &r);
        free(p);
        if (malformed) {
            problem(c, "retraction request %llu is malformed", (unsigned long long)id);
            continue;
        }
        struct node nd;
        if (node_get(c->s, c->txn, r.node, &nd) != 0)
            problem(c, "retraction request %llu (%s) refers to a missing document",
                    (unsigned long long)id, r.path);
        else
            node_clear(&nd);
        retract_clear(&r);
    }
    mdb_cursor_close(cur);
}

static int count_entry(const struct log_entry *e, void *arg)
{
    (*(uint64_t *)arg)++;
    return 0;
}

long admin_verify(struct store *s, admin_problem_fn fn, void *arg,
                  struct admin_counts *counts)
{
    struct vctx c = {s, NULL, fn, arg, 0};
    memset(counts, 0, sizeof *counts);
    int rc = store_txn_begin(s, 1, &c.txn);
    if (rc)
        return rc;
    struct badset bad = {0};
    verify_nodes(&c, counts);
    verify_dirents(&c, counts);
    verify_chunks(&c, counts, &bad);
    verify_versions(&c, counts, &bad, 0);
    if (bad.n)
        verify_versions(&c, counts, &bad, 1);
    for (size_t i = 0; i < bad.n; i++) {
        /* A damaged chunk no version uses is still a problem of the store. */
        char idhex[2 * CHUNK_ID_BYTES + 1];
        hex(bad.ids[i], 8, idhex);
        problem(&c, "chunk %s… fails authentication (altered or damaged)", idhex);
    }
    free(bad.ids);
    verify_requests(&c, counts);
    uint64_t bad_seq = 0;
    rc = log_each(s, c.txn, count_entry, &counts->log_entries, &bad_seq);
    if (rc == -EBADMSG)
        problem(&c,
                "audit log: entry %llu is altered, missing, out of order or forged; "
                "entries from there on cannot be trusted",
                (unsigned long long)bad_seq);
    else if (rc)
        problem(&c, "audit log cannot be read (%s)", strerror(-rc));
    store_txn_abort(c.txn);
    return c.problems;
}

/* ---- backup ---- */

int admin_backup(struct store *s, const struct store_actor *actor, const char *dest)
{
    int rc = store_dir_claim(dest);
    if (rc)
        return rc;
    rc =
        log_append_alone(s, actor, "backup", "", 0, 0, "compact copy of the whole store");
    if (rc)
        return rc;
    rc = mdb_env_copy2(s->env, dest, MDB_CP_COMPACT);
    if (rc == 0) {
        /* Only its owner may read the copy, as the store itself. */
        char path[4096 + 16];
        snprintf(path, sizeof path, "%s/data.mdb", dest);
        chmod(path, 0600);
    }
    if (rc) {
        rc = store_mdb_err(rc);
        log_append_alone(s, actor, "backup", "", 0, rc, "the copy failed");
    }
    return rc;
}

/* ---- passwd ---- */

int admin_passwd(const char *dir, const char *old, size_t oldlen, const char *new_pass,
                 size_t newlen, const struct store_actor *actor)
{
    if (newlen == 0)
        return -EINVAL;
    struct keys *k;
    int rc = store_unlock(dir, old, oldlen, &k);
    if (rc)
        return rc;
    struct store *s;
    rc = store_open(dir, k, 0, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    struct keys_wrapped old_w, w;
    rc = store_txn_begin(s, 0, &txn);
    if (rc == 0)
        rc = store_wrapped_get(s, txn, &old_w);
    /* Keep the store's own Argon2id limits; new salt and nonce. */
    if (rc == 0)
        rc = keys_wrap(s->keys, new_pass, newlen, old_w.opslimit, old_w.memlimit, &w);
    if (rc == 0)
        rc = store_wrapped_put(s, txn, &w);
    if (rc == 0)
        rc = log_append(s, txn, actor, "passwd", "", 0, 0, "passphrase changed");
    if (rc == 0)
        rc = store_txn_commit(s, txn);
    else
        store_txn_abort(txn);
    if (rc == 0)
        rc = store_sync(s);
    store_close(s);
    return rc;
}

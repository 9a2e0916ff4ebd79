/*
 * tree — see tree.h.
 *
 * Each operation that changes something runs in one write transaction:
 * resolve the path, check permission, change records, append the log
 * entry, commit.  Operations on open documents go through struct doc
 * (doc.h); a doc's mutex is never waited for while a write transaction is
 * held, because doc_commit takes them in the other order.  Lock order:
 * tree.mu, then doc.mu, then LMDB's writer lock.
 */
#include "store/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "store/log.h"
#include "store/names.h"
#include "store/retract.h"
#include "store/version.h"

#define TREE_DEPTH_MAX 256

/* Inode numbers of the read-only version views (node ids stay below 2^40). */
#define INO_VDIR(dir) (((uint64_t)1 << 62) | (dir))
#define INO_VDOC(doc) (((uint64_t)2 << 62) | (doc))
#define INO_VFILE(doc, v) (((uint64_t)3 << 62) | ((doc) << 22) | ((v)&0x3fffff))

#define XATTR_VERSION "user.casefs.version"
#define XATTR_AUTHOR "user.casefs.author"
#define XATTR_STATE "user.casefs.state"
#define XATTR_REASON "user.casefs.reason"
#define XATTR_PREFIX "user.casefs."

struct tree_open {
    struct tree_open *next;
    struct doc *doc;
};

enum res_kind { RES_NODE, RES_VDIR, RES_VDOC, RES_VFILE };

struct res {
    enum res_kind kind;
    struct node node; /* RES_VDIR: the folder; RES_VDOC/RES_VFILE: the document */
    uint32_t version; /* RES_VFILE */
};

static void res_clear(struct res *r)
{
    node_clear(&r->node);
}

static void now_ts(int64_t *sec, uint32_t *nsec)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *sec = ts.tv_sec;
    *nsec = (uint32_t)ts.tv_nsec;
}

/* The path without its leading slash, as logged and shown to users. */
static const char *rel(const char *path)
{
    while (*path == '/')
        path++;
    return path;
}

/* Splits path into components in buf.  Returns the count or -ENAMETOOLONG. */
static int split(const char *path, char *buf, char **comps)
{
    if (strlen(path) >= TREE_PATH_MAX)
        return -ENAMETOOLONG;
    strcpy(buf, path);
    int n = 0;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (n == TREE_DEPTH_MAX)
            return -ENAMETOOLONG;
        if (strlen(c) > NODE_NAME_MAX)
            return -ENAMETOOLONG;
        comps[n++] = c;
    }
    return n;
}

/* Splits path into its parent path (in parent) and last component. */
static int split_last(const char *path, char *parent, const char **name)
{
    size_t n = strlen(path);
    if (n >= TREE_PATH_MAX / 2)
        return -ENAMETOOLONG;
    /* parent holds the parent path, then a NUL, then the last name
     * (without trailing slashes); *name points at the latter. */
    strcpy(parent, path);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash || slash[1] == '\0')
        return -EINVAL; /* the root itself */
    char *last = parent + n + 1;
    strcpy(last, slash + 1);
    *name = last;
    if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return strlen(*name) > NODE_NAME_MAX ? -ENAMETOOLONG : 0;
}

static int in_groups(const struct store_actor *a, uint32_t gid)
{
    if (a->gid == gid)
        return 1;
    for (int i = 0; i < a->ngroups && i < STORE_GROUPS_MAX; i++)
        if (a->groups[i] == gid)
            return 1;
    return 0;
}

/* POSIX permission check against the node's bits; uid 0 passes, except
 * execute on a file that has no execute bit. */
static int may(const struct store_actor *a, const struct node *n, int mask)
{
    if (a->uid == 0) {
        if ((mask & TREE_X) && n->type == NODE_FILE && !(n->mode & 0111))
            return 0;
        return 1;
    }
    uint32_t bits;
    if (a->uid == n->uid)
        bits = (n->mode >> 6) & 7;
    else if (in_groups(a, n->gid))
        bits = (n->mode >> 3) & 7;
    else
        bits = n->mode & 7;
    return ((int)bits & mask) == mask;
}

/* Logs a refusal (permission) and passes rc through. */
static int finish(struct tree *t, struct store_actor *a, const char *op, const char *path,
                  int rc)
{
    if (rc == -EACCES)
        log_append_alone(t->s, a, op, rel(path), 0, EACCES, "permission denied");
    return rc;
}

/* A hidden node with a pending request is being re-created.  When the
 * process that asked for the removal re-creates it within seconds (tar x
 * and cp remove existing files, then create them), the request is
 * withdrawn: the history continues and nothing is left to decide.  The
 * request stays on record with state "withdrawn". */
static int withdraw_if_same_process(struct tree *t, MDB_txn *txn, struct store_actor *a,
                                    struct node *n, const char *path)
{
    if (n->state != NODE_PENDING || n->request == 0)
        return 0;
    struct retraction r;
    int rc = retract_get(t->s, txn, n->request, &r);
    if (rc)
        return rc == -ENOENT ? 0 : rc;
    int64_t sec;
    uint32_t nsec;
    now_ts(&sec, &nsec);
    if (r.state == RETRACT_PENDING && r.pid == a->pid && r.uid == a->uid &&
        sec - r.sec <= RETRACT_WITHDRAW_SECONDS) {
        r.state = RETRACT_WITHDRAWN;
        free(r.decider);
        free(r.decision_reason);
        store_actor_name(a);
        r.decider = strdup(a->user);
        r.decision_reason = strdup("re-created at once by the process that removed it");
        r.decider_uid = a->uid;
        r.decided_sec = sec;
        rc = (r.decider && r.decision_reason) ? retract_put(t->s, txn, &r) : -ENOMEM;
        char detail[64];
        snprintf(detail, sizeof detail, "request %llu", (unsigned long long)r.id);
        if (rc == 0)
            rc =
                log_append(t->s, txn, a, "retract-withdrawn", path, r.version, 0, detail);
        if (rc == 0)
            n->request = 0;
    }
    retract_clear(&r);
    return rc;
}

static int lookup_live(struct tree *t, MDB_txn *txn, uint64_t parent, const char *name,
                       struct node *out)
{
    uint64_t id;
    int rc = dirent_get(t->s, txn, parent, name, &id);
    if (rc)
        return rc;
    rc = node_get(t->s, txn, id, out);
    if (rc)
        return rc;
    if (out->state != NODE_LIVE) {
        node_clear(out);
        return -ENOENT;
    }
    return 0;
}

/* Shows on n the metadata changes waiting in its open document's
 * uncommitted content (chmod, chown, utimens made before the close).  No
 * reference is taken, so this is safe inside a write transaction. */
static void meta_overlay(struct tree *t, struct node *n)
{
    if (n->type != NODE_FILE)
        return;
    pthread_mutex_lock(&t->open_mu);
    for (struct tree_open *o = t->open; o; o = o->next) {
        if (o->doc->node == n->id) {
            doc_meta_apply(o->doc, n);
            break;
        }
    }
    pthread_mutex_unlock(&t->open_mu);
}

static int resolve(struct tree *t, MDB_txn *txn, struct store_actor *a, const char *path,
                   struct res *r)
{
    char buf[TREE_PATH_MAX];
    char *comps[TREE_DEPTH_MAX];
    memset(r, 0, sizeof *r);
    int n = split(path, buf, comps);
    if (n < 0)
        return n;
    int rc = node_get(t->s, txn, NODE_ROOT, &r->node);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        if (r->node.type != NODE_DIR)
            rc = -ENOTDIR;
        else if (!may(a, &r->node, TREE_X))
            rc = -EACCES;
        if (rc)
            goto fail;
        if (strcmp(comps[i], NAMES_VERSIONS_DIR) == 0) {
            if (i == n - 1) {
                r->kind = RES_VDIR;
                return 0;
            }
            struct node d;
            rc = lookup_live(t, txn, r->node.id, comps[i + 1], &d);
            if (rc == 0 && d.type != NODE_FILE) {
                node_clear(&d);
                rc = -ENOENT;
            }
            if (rc)
                goto fail;
            node_clear(&r->node);
            r->node = d;
            if (i + 1 == n - 1) {
                r->kind = RES_VDOC;
                return 0;
            }
            if (i + 2 != n - 1) {
                rc = -ENOENT;
                goto fail;
            }
            unsigned v = names_parse_version(comps[i + 2], d.name);
            struct version ver;
            if (v == 0 || v > d.version) {
                rc = -ENOENT;
                goto fail;
            }
            rc = version_get(t->s, txn, d.id, v, &ver);
            if (rc)
                goto fail;
            int retracted = ver.state == VERSION_RETRACTED;
            version_clear(&ver);
            if (retracted) {
                rc = -ENOENT;
                goto fail;
            }
            r->kind = RES_VFILE;
            r->version = v;
            return 0;
        }
        struct node child;
        rc = lookup_live(t, txn, r->node.id, comps[i], &child);
        if (rc)
            goto fail;
        node_clear(&r->node);
        r->node = child;
    }
    r->kind = RES_NODE;
    meta_overlay(t, &r->node);
    return 0;
fail:
    res_clear(r);
    return rc;
}

/* Resolves the parent folder of a name to be created or removed. */
static int resolve_parent(struct tree *t, MDB_txn *txn, struct store_actor *a,
                          const char *parent, struct node *out)
{
    struct res r;
    int rc = resolve(t, txn, a, parent, &r);
    if (rc)
        return rc;
    if (r.kind != RES_NODE) {
        res_clear(&r);
        return -EROFS;
    }
    if (r.node.type != NODE_DIR) {
        res_clear(&r);
        return -ENOTDIR;
    }
    *out = r.node;
    return 0;
}

/* The ids a name may lead to: its own dirent first, then displaced hidden
 * entries, newest first (node.h). */
#define NAME_CANDIDATES_MAX 16
struct cand_ctx {
    uint64_t *ids;
    int n;
};

static int cand_add(const struct node *n, void *arg)
{
    struct cand_ctx *c = arg;
    if (c->n < NAME_CANDIDATES_MAX)
        c->ids[c->n++] = n->id;
    return 0;
}

static int name_candidates(struct store *s, MDB_txn *txn, uint64_t parent,
                           const char *name, uint64_t ids[NAME_CANDIDATES_MAX])
{
    struct cand_ctx c = {ids, 0};
    uint64_t id;
    int rc = dirent_get(s, txn, parent, name, &id);
    if (rc == 0)
        ids[c.n++] = id;
    else if (rc != -ENOENT)
        return rc;
    rc = dirent_displaced_each(s, txn, parent, name, cand_add, &c);
    return rc ? rc : c.n;
}

/* Resolves comps[i..n) below folder dir.  At the last component a document
 * is preferred (history and cat are about documents); through the others
 * only folders lead on.  A hidden entry displaced from its name is tried
 * after the entry holding the name. */
static int find_from(struct store *s, MDB_txn *txn, uint64_t dir, char **comps, int i,
                     int n, struct node *out)
{
    uint64_t ids[NAME_CANDIDATES_MAX];
    int k = name_candidates(s, txn, dir, comps[i], ids);
    if (k < 0)
        return k;
    if (k == 0)
        return -ENOENT;
    int first_err = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < k; j++) {
            struct node nd;
            int rc = node_get(s, txn, ids[j], &nd);
            if (rc) {
                if (!first_err)
                    first_err = rc;
                continue;
            }
            if (i == n - 1) {
                if (pass == 1 || nd.type == NODE_FILE) {
                    *out = nd;
                    return 0;
                }
            } else if (pass == 0) {
                if (nd.type != NODE_DIR) {
                    rc = -ENOTDIR;
                } else {
                    rc = find_from(s, txn, nd.id, comps, i + 1, n, out);
                    if (rc == 0) {
                        node_clear(&nd);
                        return 0;
                    }
                }
                if (!first_err)
                    first_err = rc;
            }
            node_clear(&nd);
        }
    }
    return first_err ? first_err : -ENOENT;
}

int tree_find(struct store *s, MDB_txn *txn, const char *path, struct node *out)
{
    char buf[TREE_PATH_MAX];
    char *comps[TREE_DEPTH_MAX];
    int n = split(path, buf, comps);
    if (n < 0)
        return n;
    if (n == 0)
        return node_get(s, txn, NODE_ROOT, out);
    return find_from(s, txn, NODE_ROOT, comps, 0, n, out);
}

/* The hidden entry of kind type that waits under name in parent: the one
 * holding the name, else the newest displaced one.  0 with *out, or
 * -ENOENT. */
struct kind_ctx {
    uint8_t type;
    uint64_t id;
};

static int kind_pick(const struct node *n, void *arg)
{
    struct kind_ctx *c = arg;
    if (n->type == c->type && n->state != NODE_LIVE && n->state != NODE_DETACHED) {
        c->id = n->id;
        return 1;
    }
    return 0;
}

static int hidden_of_kind(struct store *s, MDB_txn *txn, uint64_t parent,
                          const char *name, uint8_t type, struct node *out)
{
    struct kind_ctx c = {type, 0};
    uint64_t id;
    if (dirent_get(s, txn, parent, name, &id) == 0) {
        int rc = node_get(s, txn, id, out);
        if (rc)
            return rc;
        if (out->type == type && out->state != NODE_LIVE)
            return 0;
        node_clear(out);
    }
    int rc = dirent_displaced_each(s, txn, parent, name, kind_pick, &c);
    if (rc < 0)
        return rc;
    if (!c.id)
        return -ENOENT;
    return node_get(s, txn, c.id, out);
}

static int count_live(const struct node *child, void *arg)
{
    if (child->state == NODE_LIVE)
        (*(int *)arg)++;
    return 0;
}

static int dir_has_live(struct tree *t, MDB_txn *txn, uint64_t id, int *out)
{
    *out = 0;
    return node_children(t->s, txn, id, count_live, out);
}

static int collect_child(const struct node *n, void *arg)
{
    struct cand_ctx *c = arg;
    uint64_t *more = realloc(c->ids, (size_t)(c->n + 1) * sizeof *more);
    if (!more)
        return -ENOMEM;
    c->ids = more;
    c->ids[c->n++] = n->id;
    return 0;
}

/* Moves every (hidden) entry of folder from into folder to: under its own
 * name when that is free there, else displaced (node.h). */
static int merge_hidden(struct tree *t, MDB_txn *txn, uint64_t from, uint64_t to)
{
    struct cand_ctx c = {NULL, 0};
    int rc = node_children(t->s, txn, from, collect_child, &c);
    for (int i = 0; rc == 0 && i < c.n; i++) {
        struct node ch;
        rc = node_get(t->s, txn, c.ids[i], &ch);
        if (rc)
            break;
        uint64_t held;
        if (dirent_get(t->s, txn, from, ch.name, &held) == 0 && held == ch.id)
            rc = dirent_del(t->s, txn, from, ch.name);
        else
            rc = dirent_undisplace(t->s, txn, from, ch.name, ch.id);
        if (rc == 0) {
            ch.parent = to;
            rc = node_put(t->s, txn, &ch);
        }
        if (rc == 0) {
            if (dirent_get(t->s, txn, to, ch.name, &held) == 0) {
                /* A removed folder meeting a folder of its name hands its
                 * removed entries down the same way, so that every path
                 * keeps leading to what was removed there. */
                struct node h;
                int live = 0;
                if (ch.type == NODE_DIR && node_get(t->s, txn, held, &h) == 0) {
                    if (h.type == NODE_DIR &&
                        (rc = dir_has_live(t, txn, ch.id, &live)) == 0 && !live)
                        rc = merge_hidden(t, txn, ch.id, h.id);
                    node_clear(&h);
                }
                if (rc == 0)
                    rc = dirent_displace(t->s, txn, to, ch.name, ch.id, 1);
            } else {
                rc = dirent_put(t->s, txn, to, ch.name, ch.id);
            }
        }
        node_clear(&ch);
    }
    free(c.ids);
    return rc;
}

/* Gives name in parent to the hidden entry `back` (which waited displaced
 * or already holds it), displacing the hidden entry `holder` (0: none). */
static int name_give_back(struct store *s, MDB_txn *txn, uint64_t parent,
                          const char *name, uint64_t holder, uint64_t back)
{
    if (holder == back)
        return 0;
    int rc = holder ? dirent_displace(s, txn, parent, name, holder, 0) : 0;
    if (rc == 0)
        rc = dirent_undisplace(s, txn, parent, name, back);
    if (rc == 0)
        rc = dirent_put(s, txn, parent, name, back);
    return rc;
}

const char *tree_state_name(uint8_t state)
{
    switch (state) {
    case NODE_LIVE:
        return "live";
    case NODE_PENDING:
        return "pending-retraction";
    case NODE_RENAMED:
        return "renamed-away";
    case NODE_DETACHED:
        return "detached";
    case NODE_RETRACTED:
        return "retracted";
    default:
        return "unknown";
    }
}

/* ---- the open-document table ---- */

int tree_new(struct store *s, struct tree **out)
{
    struct tree *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->s = s;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->open_mu, NULL);
    /* Writers first: a stream of opens must not keep a save waiting. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&t->inode_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    *out = t;
    return 0;
}

void tree_free(struct tree *t)
{
    if (!t)
        return;
    struct store_actor self;
    store_actor_self(&self);
    while (t->open) {
        struct tree_open *o = t->open;
        t->open = o->next;
        if (o->doc->dirty) {
            /* Still open for writing at unmount: what was written is kept. */
            char path[TREE_PATH_MAX];
            MDB_txn *txn;
            path[0] = '\0';
            if (store_txn_begin(t->s, 1, &txn) == 0) {
                node_path(t->s, txn, o->doc->node, path, sizeof path);
                store_txn_abort(txn);
            }
            doc_commit(t->s, o->doc, &self, path, NULL);
        }
        doc_free(o->doc);
        free(o);
    }
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->open_mu);
    pthread_rwlock_destroy(&t->inode_lock);
    free(t->fwd.slot);
    free(t->inc.slot);
    free(t->alias.slot);
    free(t->stale.slot);
    free(t);
}

/* ---- inode numbers ---- */

/* Open addressing over cap slots (a power of two); key 0 is empty.
 * Called with t->mu held. */
static size_t idmap_slot(const struct tree_idmap *m, uint64_t key)
{
    size_t i = (size_t)(key * UINT64_C(0x9e3779b97f4a7c15)) & (m->cap - 1);
    while (m->slot[i][0] && m->slot[i][0] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint64_t idmap_get(const struct tree_idmap *m, uint64_t key)
{
    if (!m->cap)
        return 0;
    size_t i = idmap_slot(m, key);
    return m->slot[i][0] ? m->slot[i][1] : 0;
}

static void idmap_put(struct tree_idmap *m, uint64_t key, uint64_t val)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        uint64_t(*old)[2] = m->slot;
        size_t oldcap = m->cap;
        uint64_t(*tab)[2] = calloc(cap, sizeof *tab);
        if (!tab)
            return; /* forwarding and incarnations are a help, not a must */
        m->slot = tab;
        m->cap = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i][0]) {
                size_t j = idmap_slot(m, old[i][0]);
                m->slot[j][0] = old[i][0];
                m->slot[j][1] = old[i][1];
            }
        free(old);
    }
    size_t i = idmap_slot(m, key);
    if (!m->slot[i][0])
        m->n++;
    m->slot[i][0] = key;
    m->slot[i][1] = val;
}

static void idmap_del(struct tree_idmap *m, uint64_t key)
{
    if (!m->cap)
        return;
    size_t i = idmap_slot(m, key);
    if (!m->slot[i][0])
        return;
    m->slot[i][0] = m->slot[i][1] = 0;
    m->n--;
    /* Re-place the rest of the cluster (linear probing deletion). */
    for (size_t j = (i + 1) & (m->cap - 1); m->slot[j][0]; j = (j + 1) & (m->cap - 1)) {
        uint64_t k = m->slot[j][0], v = m->slot[j][1];
        m->slot[j][0] = m->slot[j][1] = 0;
        size_t x = idmap_slot(m, k);
        m->slot[x][0] = k;
        m->slot[x][1] = v;
    }
}

#define INO_KIND(ino) ((unsigned)((ino) >> 62))
#define INO_INC_SHIFT 40
#define INO_INC_MASK ((((uint64_t)1 << 62) - 1) & ~(((uint64_t)1 << INO_INC_SHIFT) - 1))

/* tree_nodeid with t->mu held. */
static uint64_t nodeid_locked(struct tree *t, uint64_t ino)
{
    if (INO_KIND(ino) != 0)
        return ino;
    uint64_t alias = idmap_get(&t->alias, ino);
    if (alias)
        return alias;
    return ino | ((idmap_get(&t->inc, ino) << INO_INC_SHIFT) & INO_INC_MASK);
}

uint64_t tree_nodeid(struct tree *t, uint64_t ino)
{
    pthread_mutex_lock(&t->mu);
    uint64_t id = nodeid_locked(t, ino);
    pthread_mutex_unlock(&t->mu);
    return id;
}

/* Gives node a kernel inode number the kernel has not seen for it (t->mu
 * held): its alias goes, its incarnation moves on. */
static void new_incarnation(struct tree *t, uint64_t node)
{
    idmap_del(&t->alias, node);
    idmap_put(&t->inc, node, idmap_get(&t->inc, node) + 1);
}

void tree_forget(struct tree *t, uint64_t ino)
{
    pthread_mutex_lock(&t->mu);
    uint64_t to = idmap_get(&t->fwd, ino);
    if (to) {
        idmap_del(&t->fwd, ino);
        /* The document known by that inode gets a fresh one next time. */
        if (idmap_get(&t->alias, to) == ino)
            new_incarnation(t, to);
    }
    pthread_mutex_unlock(&t->mu);
}

int tree_ino_path(struct tree *t, uint64_t ino, char *out, size_t len)
{
    if (ino == NODE_ROOT) {
        snprintf(out, len, "/");
        return 0;
    }
    unsigned kind = INO_KIND(ino);
    uint64_t id = kind == 3 ? (ino & ((UINT64_C(1) << 62) - 1)) >> 22
                            : ino & ((UINT64_C(1) << 62) - 1);
    uint64_t fwd_key = ino; /* forwarding is by the kernel's inode */
    if (kind == 0)
        id &= ~INO_INC_MASK;
    uint32_t version = kind == 3 ? (uint32_t)(ino & 0x3fffff) : 0;
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    struct node n;
    memset(&n, 0, sizeof n);
    /* A hidden or merged node is reached through its forwarding only;
     * a live one is itself (a revived document drops its forwarding). */
    for (int hops = 0;; hops++) {
        rc = node_get(t->s, txn, id, &n);
        if (rc || n.state == NODE_LIVE || hops == 8)
            break;
        pthread_mutex_lock(&t->mu);
        uint64_t to = kind == 0 ? idmap_get(&t->fwd, fwd_key) : 0;
        uint64_t next_key = to ? nodeid_locked(t, to) : 0;
        pthread_mutex_unlock(&t->mu);
        node_clear(&n);
        if (!to) {
            rc = -ENOENT;
            break;
        }
        id = to;
        fwd_key = next_key;
    }
    if (rc == 0 && n.state != NODE_LIVE)
        rc = -ENOENT;
    if (rc == 0 && kind != 0 && kind != 1 && n.type != NODE_FILE)
        rc = -ENOENT;
    if (rc == 0 && kind == 1 && n.type != NODE_DIR)
        rc = -ENOENT;
    char path[TREE_PATH_MAX];
    if (rc == 0) {
        node_path(t->s, txn, id, path, sizeof path);
        int w;
        if (kind == 0) {
            w = snprintf(out, len, "/%s", path);
        } else if (kind == 1) {
            w = snprintf(out, len, "%s%s/.versions", path[0] ? "/" : "", path);
        } else {
            char *slash = strrchr(path, '/');
            const char *name = slash ? slash + 1 : path;
            int dirlen = slash ? (int)(slash - path) : 0;
            if (kind == 2)
                w = snprintf(out, len, "/%.*s%s.versions/%s", dirlen, path,
                             slash ? "/" : "", name);
            else
                w = snprintf(out, len, "/%.*s%s.versions/%s/v%u%s", dirlen, path,
                             slash ? "/" : "", name, version, names_extension(name));
        }
        if (w < 0 || (size_t)w >= len)
            rc = -ENAMETOOLONG;
    }
    node_clear(&n);
    store_txn_abort(txn);
    return rc;
}

/* Takes node's open doc out of the table (t->mu held): its handles keep
 * the content they had, as handles of a replaced or removed file do on a
 * local filesystem; new opens start from the stored versions. */
static void orphan_locked(struct tree *t, uint64_t node)
{
    /* The document's new content gets a kernel inode of its own: what the
     * kernel caches of the old one (pages, size) must not be taken for
     * it.  The old inode's page cache still serves handles that are open,
     * and its attributes stay those of the content they read. */
    uint64_t old_ino = nodeid_locked(t, node);
    new_incarnation(t, node);
    for (struct tree_open **p = &t->open; *p; p = &(*p)->next) {
        if ((*p)->doc->node == node) {
            struct tree_open *o = *p;
            struct doc *d = o->doc;
            pthread_mutex_lock(&t->open_mu);
            *p = o->next;
            pthread_mutex_unlock(&t->open_mu);
            free(o);
            d->orphaned = 1;
            d->kernel_ino = old_ino;
            idmap_put(&t->stale, d->kernel_ino, (uint64_t)(uintptr_t)d);
            return;
        }
    }
}

/* Takes a reference on the open doc of node (creating it). */
static int doc_acquire(struct tree *t, uint64_t node, struct doc **out)
{
    pthread_mutex_lock(&t->mu);
    for (struct tree_open *o = t->open; o; o = o->next) {
        if (o->doc->node == node) {
            o->doc->refs++;
            *out = o->doc;
            pthread_mutex_unlock(&t->mu);
            return 0;
        }
    }
    struct tree_open *o = calloc(1, sizeof *o);
    MDB_txn *txn = NULL;
    int rc = o ? store_txn_begin(t->s, 1, &txn) : -ENOMEM;
    struct node n;
    memset(&n, 0, sizeof n);
    if (rc == 0)
        rc = node_get(t->s, txn, node, &n);
    if (rc == 0)
        rc = doc_new(t->s, txn, node, n.version, &o->doc);
    node_clear(&n);
    store_txn_abort(txn);
    if (rc) {
        free(o);
        pthread_mutex_unlock(&t->mu);
        return rc;
    }
    o->doc->refs = 1;
    pthread_mutex_lock(&t->open_mu);
    o->next = t->open;
    t->open = o;
    pthread_mutex_unlock(&t->open_mu);
    *out = o->doc;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* Finds the open doc of node and takes a reference, or NULL. */
static struct doc *doc_find(struct tree *t, uint64_t node)
{
    struct doc *d = NULL;
    pthread_mutex_lock(&t->mu);
    for (struct tree_open *o = t->open; o; o = o->next) {
        if (o->doc->node == node) {
            d = o->doc;
            d->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return d;
}

/* A doc whose document was replaced by a rename while it was open: what
 * its handles write is not the replacing content's next version (on a
 * local filesystem it would go to the replaced, unlinked file).  It is
 * kept, unlisted, as a detached document of its own, and logged. */
static int orphan_rehome(struct tree *t, struct doc *d, const struct store_actor *a)
{
    if (!d->orphaned || !d->dirty)
        return 0;
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node old, n;
    memset(&old, 0, sizeof old);
    memset(&n, 0, sizeof n);
    char path[TREE_PATH_MAX], detail[128];
    rc = node_get(t->s, txn, d->node, &old);
    if (rc == 0) {
        n = old;
        old.name = old.reason = NULL;
        n.reason = NULL;
        n.state = NODE_DETACHED;
        n.version = 0;
        n.size = 0;
        n.origin = d->node;
        n.request = 0;
        rc = node_new_id(t->s, txn, &n.id);
    }
    if (rc == 0)
        rc = node_put(t->s, txn, &n);
    if (rc == 0) {
        node_path(t->s, txn, d->node, path, sizeof path);
        snprintf(detail, sizeof detail,
                 "written through a handle on the replaced document: kept as node %llu "
                 "(casefs cat --node)",
                 (unsigned long long)n.id);
        rc = log_append(t->s, txn, a, "keep-replaced", path, 0, 0, detail);
    }
    if (rc == 0)
        rc = store_txn_commit(t->s, txn);
    else
        store_txn_abort(txn);
    if (rc == 0) {
        pthread_mutex_lock(&d->mu);
        d->node = n.id;
        d->orphaned = 0;
        pthread_mutex_unlock(&d->mu);
    }
    node_clear(&old);
    node_clear(&n);
    return rc;
}

/* Drops a reference; the last one commits leftovers (as actor) and frees. */
static int doc_put(struct tree *t, struct doc *d, const struct store_actor *actor)
{
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    if (--d->refs > 0) {
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    for (struct tree_open **p = &t->open; *p; p = &(*p)->next) {
        if ((*p)->doc == d) {
            struct tree_open *o = *p;
            pthread_mutex_lock(&t->open_mu);
            *p = o->next;
            pthread_mutex_unlock(&t->open_mu);
            free(o);
            break;
        }
    }
    if (d->dirty && actor) {
        orphan_rehome(t, d, actor);
        char path[TREE_PATH_MAX];
        MDB_txn *txn;
        path[0] = '\0';
        if (store_txn_begin(t->s, 1, &txn) == 0) {
            node_path(t->s, txn, d->node, path, sizeof path);
            store_txn_abort(txn);
        }
        rc = doc_commit(t->s, d, actor, path, NULL);
    }
    __atomic_add_fetch(&t->closed_gen, 1, __ATOMIC_RELEASE);
    if (d->kernel_ino && idmap_get(&t->stale, d->kernel_ino) == (uint64_t)(uintptr_t)d)
        idmap_del(&t->stale, d->kernel_ino);
    pthread_mutex_unlock(&t->mu);
    doc_free(d);
    return rc;
}

static void attr_of_node(const struct node *n, struct tree_attr *o)
{
    memset(o, 0, sizeof *o);
    o->ino = n->id;
    o->mode = n->mode;
    o->nlink = n->type == NODE_DIR ? 2 : 1;
    o->uid = n->uid;
    o->gid = n->gid;
    o->size = n->type == NODE_DIR ? 4096 : n->size;
    o->mtime_sec = n->mtime_sec;
    o->mtime_nsec = n->mtime_nsec;
    o->ctime_sec = n->ctime_sec;
    o->ctime_nsec = n->ctime_nsec;
}

static int attr_of_res(struct tree *t, MDB_txn *txn, const struct res *r,
                       struct tree_attr *o)
{
    attr_of_node(&r->node, o);
    switch (r->kind) {
    case RES_NODE:
        if (r->node.type == NODE_FILE) {
            struct doc *d = doc_find(t, r->node.id);
            if (d) {
                o->size = doc_size(d);
                doc_put(t, d, NULL);
            }
        }
        return 0;
    case RES_VDIR:
        o->ino = INO_VDIR(r->node.id);
        o->mode = S_IFDIR | (r->node.mode & 0555);
        return 0;
    case RES_VDOC:
        o->ino = INO_VDOC(r->node.id);
        o->mode = S_IFDIR | ((r->node.mode & 0444) | ((r->node.mode & 0444) >> 2));
        o->nlink = 2;
        o->size = 4096;
        return 0;
    case RES_VFILE: {
        struct version v;
        int rc = version_get(t->s, txn, r->node.id, r->version, &v);
        if (rc)
            return rc;
        o->ino = INO_VFILE(r->node.id, r->version);
        o->mode = S_IFREG | (v.mode & 0444);
        o->size = v.size;
        o->mtime_sec = o->ctime_sec = v.sec;
        o->mtime_nsec = o->ctime_nsec = v.nsec;
        version_clear(&v);
        return 0;
    }
    }
    return -EIO;
}

int tree_getattr(struct tree *t, struct store_actor *a, const char *path,
                 struct tree_handle *h, struct tree_attr *out)
{
    if (!path)
        path = h ? h->path : NULL;
    if (!path)
        return -ENOENT;
    int rc;
    /* A document whose last handle goes away while the snapshot is read
     * is neither in the table nor committed in the snapshot: its size
     * would be the old one (and the kernel caches it), so read again. */
    for (int tries = 0;; tries++) {
        uint64_t gen = __atomic_load_n(&t->closed_gen, __ATOMIC_ACQUIRE);
        MDB_txn *txn;
        rc = store_txn_begin(t->s, 1, &txn);
        if (rc)
            return rc;
        struct res r;
        if (h && !h->version_file) {
            memset(&r, 0, sizeof r);
            rc = node_get(t->s, txn, h->doc->node, &r.node);
            r.kind = RES_NODE;
            if (rc == 0)
                meta_overlay(t, &r.node);
        } else {
            rc = resolve(t, txn, a, path, &r);
        }
        if (rc == 0) {
            rc = attr_of_res(t, txn, &r, out);
            /* Through a handle, the size is that handle's content (it may
             * be a replaced document's, no longer in the table). */
            if (rc == 0 && h && !h->version_file)
                out->size = doc_size(h->doc);
            res_clear(&r);
        }
        store_txn_abort(txn);
        if (tries == 4 || gen == __atomic_load_n(&t->closed_gen, __ATOMIC_ACQUIRE))
            break;
    }
    return finish(t, a, "stat", path, rc);
}

struct readdir_ctx {
    struct tree *t;
    tree_fill_fn fn;
    void *arg;
    int versions; /* listing a .versions folder */
};

static int readdir_one(const struct node *child, void *arg)
{
    struct readdir_ctx *c = arg;
    if (child->state != NODE_LIVE)
        return 0;
    if (c->versions && (child->type != NODE_FILE || child->version == 0))
        return 0;
    struct tree_attr at;
    attr_of_node(child, &at);
    if (c->versions) {
        at.ino = INO_VDOC(child->id);
        at.mode = S_IFDIR | 0555;
    }
    return c->fn(c->arg, child->name, &at) ? 1 : 0;
}

int tree_readdir(struct tree *t, struct store_actor *a, const char *path, tree_fill_fn fn,
                 void *arg)
{
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    struct res r;
    rc = resolve(t, txn, a, path, &r);
    if (rc == 0) {
        if (r.kind == RES_NODE && r.node.type != NODE_DIR)
            rc = -ENOTDIR;
        else if (r.kind == RES_VFILE)
            rc = -ENOTDIR;
        else if (!may(a, &r.node, TREE_R))
            rc = -EACCES;
    }
    if (rc == 0) {
        struct tree_attr self;
        attr_of_res(t, txn, &r, &self);
        fn(arg, ".", &self);
        fn(arg, "..", NULL);
        if (r.kind == RES_VDOC) {
            for (uint32_t v = 1; v <= r.node.version; v++) {
                struct version ver;
                if (version_get(t->s, txn, r.node.id, v, &ver) != 0)
                    continue;
                if (ver.state == VERSION_LIVE) {
                    char name[64];
                    snprintf(name, sizeof name, "v%u%s", v, names_extension(r.node.name));
                    struct tree_attr at;
                    attr_of_node(&r.node, &at);
                    at.ino = INO_VFILE(r.node.id, v);
                    at.mode = S_IFREG | (ver.mode & 0444);
                    at.size = ver.size;
                    at.mtime_sec = at.ctime_sec = ver.sec;
                    at.mtime_nsec = at.ctime_nsec = ver.nsec;
                    if (fn(arg, name, &at)) {
                        version_clear(&ver);
                        break;
                    }
                }
                version_clear(&ver);
            }
        } else {
            struct readdir_ctx c = {t, fn, arg, r.kind == RES_VDIR};
            rc = node_children(t->s, txn, r.node.id, readdir_one, &c);
            if (rc > 0)
                rc = 0;
        }
    }
    res_clear(&r);
    store_txn_abort(txn);
    return finish(t, a, "readdir", path, rc);
}

int tree_access(struct tree *t, struct store_actor *a, const char *path, int mask)
{
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    struct res r;
    rc = resolve(t, txn, a, path, &r);
    if (rc == 0) {
        if ((mask & TREE_W) && r.kind != RES_NODE)
            rc = -EROFS;
        else if (!may(a, &r.node, mask & 7))
            rc = -EACCES;
        res_clear(&r);
    }
    store_txn_abort(txn);
    return finish(t, a, "access", path, rc);
}

/* Updates a folder's times after a change of its entries. */
static int touch_dir(struct tree *t, MDB_txn *txn, uint64_t id)
{
    struct node n;
    int rc = node_get(t->s, txn, id, &n);
    if (rc)
        return rc;
    now_ts(&n.mtime_sec, &n.mtime_nsec);
    n.ctime_sec = n.mtime_sec;
    n.ctime_nsec = n.mtime_nsec;
    rc = node_put(t->s, txn, &n);
    node_clear(&n);
    return rc;
}

static int commit_or_abort(struct tree *t, MDB_txn *txn, int rc)
{
    if (rc == 0)
        return store_txn_commit(t->s, txn);
    store_txn_abort(txn);
    return rc;
}

/* Creates a node (folder or document) named name in parent. */
static int node_make(struct tree *t, MDB_txn *txn, struct store_actor *a,
                     const struct node *parent, const char *name, uint8_t type,
                     uint32_t mode, struct node *out)
{
    memset(out, 0, sizeof *out);
    int rc = node_new_id(t->s, txn, &out->id);
    if (rc)
        return rc;
    out->parent = parent->id;
    out->type = type;
    out->state = NODE_LIVE;
    out->transient = type == NODE_FILE && names_is_transient(name);
    out->mode = (type == NODE_DIR ? S_IFDIR : S_IFREG) | (mode & 07777);
    out->uid = a->uid;
    out->gid = (parent->mode & S_ISGID) ? parent->gid : a->gid;
    now_ts(&out->btime_sec, &out->btime_nsec);
    out->mtime_sec = out->ctime_sec = out->btime_sec;
    out->mtime_nsec = out->ctime_nsec = out->btime_nsec;
    out->name = strdup(name);
    if (!out->name)
        return -ENOMEM;
    rc = dirent_put(t->s, txn, parent->id, name, out->id);
    if (rc == 0)
        rc = node_put(t->s, txn, out);
    return rc;
}

int tree_mkdir(struct tree *t, struct store_actor *a, const char *path, uint32_t mode)
{
    char parent_path[TREE_PATH_MAX];
    const char *name;
    int rc = split_last(path, parent_path, &name);
    if (rc)
        return rc == -EINVAL ? -EEXIST : rc;
    MDB_txn *txn;
    rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node parent, n, old;
    memset(&parent, 0, sizeof parent);
    memset(&n, 0, sizeof n);
    memset(&old, 0, sizeof old);
    const char *detail = "";
    rc = resolve_parent(t, txn, a, parent_path, &parent);
    int at_root = rc == 0 && parent.id == NODE_ROOT;
    if (rc == 0)
        rc = names_check_new(name, at_root);
    if (rc == 0 && !may(a, &parent, TREE_W | TREE_X))
        rc = -EACCES;
    uint64_t oldid, holder = 0;
    if (rc == 0 && dirent_get(t->s, txn, parent.id, name, &oldid) == 0) {
        rc = node_get(t->s, txn, oldid, &old);
        if (rc == 0 && old.state == NODE_LIVE)
            rc = -EEXIST;
        holder = oldid;
        node_clear(&old);
    }
    if (rc == 0) {
        int hr = hidden_of_kind(t->s, txn, parent.id, name, NODE_DIR, &old);
        if (hr == 0) {
            /* A folder removed (pending) and made again continues as itself;
             * a removed document holding the name waits displaced. */
            rc = name_give_back(t->s, txn, parent.id, name, holder, old.id);
            if (rc == 0)
                rc = withdraw_if_same_process(t, txn, a, &old, rel(path));
            old.state = NODE_LIVE;
            old.mode = S_IFDIR | ((mode & 07777) & (at_root ? 07770 : 07777));
            now_ts(&old.ctime_sec, &old.ctime_nsec);
            if (rc == 0)
                rc = node_put(t->s, txn, &old);
            detail = "re-created: continues the removed folder";
            goto logged;
        } else if (hr != -ENOENT) {
            rc = hr;
        } else if (holder) {
            /* A removed document keeps its history, reachable by path. */
            rc = dirent_displace(t->s, txn, parent.id, name, holder, 0);
        }
    }
    /* Cases are private to their owner and group unless widened by chmod. */
    if (rc == 0)
        rc = node_make(t, txn, a, &parent, name, NODE_DIR,
                       at_root ? (mode & 07770) : mode, &n);
logged:
    if (rc == 0)
        rc = touch_dir(t, txn, parent.id);
    if (rc == 0)
        rc = log_append(t->s, txn, a, "mkdir", rel(path), 0, 0, detail);
    rc = commit_or_abort(t, txn, rc);
    node_clear(&parent);
    node_clear(&n);
    node_clear(&old);
    return finish(t, a, "mkdir", path, rc);
}

static int handle_new(struct tree *t, struct store_actor *a, const char *path,
                      uint64_t node, int flags, struct tree_handle **out)
{
    struct tree_handle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->path = strdup(rel(path));
    int rc = h->path ? doc_acquire(t, node, &h->doc) : -ENOMEM;
    if (rc) {
        free(h->path);
        free(h);
        return rc;
    }
    h->node = node;
    h->flags = flags;
    store_actor_name(a);
    h->actor = *a;
    *out = h;
    return 0;
}

static int create_locked(struct tree *t, struct store_actor *a, const char *path,
                         uint32_t mode, int flags, struct tree_handle **out)
{
    char parent_path[TREE_PATH_MAX];
    const char *name;
    int rc = split_last(path, parent_path, &name);
    if (rc)
        return rc == -EINVAL ? -EISDIR : rc;
    MDB_txn *txn;
    rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node parent, n;
    memset(&parent, 0, sizeof parent);
    memset(&n, 0, sizeof n);
    int revived = 0;
    rc = resolve_parent(t, txn, a, parent_path, &parent);
    if (rc == 0)
        rc = names_check_new(name, parent.id == NODE_ROOT);
    if (rc == 0 && parent.id == NODE_ROOT)
        rc = -EPERM; /* only case folders at the root */
    if (rc == 0 && !may(a, &parent, TREE_W | TREE_X))
        rc = -EACCES;
    uint64_t oldid, holder = 0;
    if (rc == 0 && dirent_get(t->s, txn, parent.id, name, &oldid) == 0) {
        rc = node_get(t->s, txn, oldid, &n);
        if (rc == 0 && n.state == NODE_LIVE)
            rc = -EEXIST;
        holder = oldid;
        node_clear(&n);
    }
    if (rc == 0) {
        int hr = hidden_of_kind(t->s, txn, parent.id, name, NODE_FILE, &n);
        if (hr == 0) {
            /* Re-created while hidden (retraction pending, or renamed away
             * by an editor): the same document, the same history; a
             * removed folder holding the name waits displaced. */
            rc = name_give_back(t->s, txn, parent.id, name, holder, n.id);
            if (rc == 0)
                rc = withdraw_if_same_process(t, txn, a, &n, rel(path));
            n.state = NODE_LIVE;
            n.transient = names_is_transient(name);
            now_ts(&n.ctime_sec, &n.ctime_nsec);
            if (rc == 0)
                rc = node_put(t->s, txn, &n);
            revived = 1;
        } else if (hr != -ENOENT) {
            rc = hr;
        } else if (holder) {
            /* A removed folder keeps its documents, reachable by path. */
            rc = dirent_displace(t->s, txn, parent.id, name, holder, 0);
        }
    }
    if (rc == 0 && !revived)
        rc = node_make(t, txn, a, &parent, name, NODE_FILE, mode, &n);
    if (rc == 0)
        rc = touch_dir(t, txn, parent.id);
    if (rc == 0)
        rc = log_append(t->s, txn, a, "create", rel(path), n.version, 0,
                        revived ? "re-created: continues the document's history" : "");
    rc = commit_or_abort(t, txn, rc);
    uint64_t id = n.id;
    node_clear(&parent);
    node_clear(&n);
    if (rc == 0 && revived) {
        /* Handles still open on the removed document keep what they had,
         * as handles of an unlinked file do on a local filesystem; what
         * they write is kept as a detached document (orphan_rehome), not
         * mixed into the re-created one. */
        pthread_mutex_lock(&t->mu);
        orphan_locked(t, id);
        pthread_mutex_unlock(&t->mu);
    }
    if (rc == 0)
        rc = handle_new(t, a, path, id, flags, out);
    if (rc == 0) {
        /* The doc is dirty; this handle has not written yet, so a close
         * of a duplicate descriptor (a shell's redirection) commits
         * nothing; an empty document is committed at release. */
        if (revived)
            rc = doc_truncate(t->s, (*out)->doc, 0);
        else
            doc_touch((*out)->doc);
        __atomic_store_n(&(*out)->doc->writer_pid, a->pid, __ATOMIC_RELAXED);
    }
    return finish(t, a, "create", path, rc);
}

int tree_open(struct tree *t, struct store_actor *a, const char *path, int flags,
              struct tree_handle **out)
{
    int acc = flags & O_ACCMODE;
    int mask = acc == O_RDONLY ? TREE_R : acc == O_WRONLY ? TREE_W : TREE_R | TREE_W;
    if (flags & O_TRUNC)
        mask |= TREE_W;
    int tries = 0;
again:;
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct res r;
    rc = resolve(t, txn, a, path, &r);
    if (rc) {
        store_txn_abort(txn);
        return finish(t, a, "open", path, rc);
    }
    char detail[64];
    if (r.kind == RES_VFILE) {
        if (mask & TREE_W)
            rc = -EROFS;
        else if (!may(a, &r.node, TREE_R))
            rc = -EACCES;
        snprintf(detail, sizeof detail, "read retained version");
    } else if (r.kind != RES_NODE || r.node.type == NODE_DIR) {
        rc = -EISDIR;
    } else if (!may(a, &r.node, mask)) {
        rc = -EACCES;
    } else {
        snprintf(detail, sizeof detail, "%s%s",
                 acc == O_RDONLY   ? "read"
                 : acc == O_WRONLY ? "write"
                                   : "read-write",
                 (flags & O_TRUNC) ? ", truncate" : "");
    }
    uint32_t version = r.kind == RES_VFILE ? r.version : r.node.version;
    if (rc == 0)
        rc = log_append(t->s, txn, a, "open", rel(path), version, 0, detail);
    rc = commit_or_abort(t, txn, rc);
    if (rc == -ENOSPC && tries++ == 0) {
        /* A full disk: the pages the last commits freed are kept for the
         * durable point (store/durable.h) until the next one, which the
         * open's entry may need.  Made now, it lets them be reused, so
         * what was saved stays readable (and its reading logged) while
         * the store file cannot grow. */
        res_clear(&r);
        store_sync_release(t->s);
        goto again;
    }
    if (rc == 0 && r.kind == RES_VFILE) {
        struct tree_handle *h = calloc(1, sizeof *h);
        MDB_txn *rt = NULL;
        rc = h ? store_txn_begin(t->s, 1, &rt) : -ENOMEM;
        if (rc == 0)
            rc = doc_new(t->s, rt, r.node.id, r.version, &h->doc);
        store_txn_abort(rt);
        if (rc == 0) {
            h->doc->readonly = 1;
            h->doc->refs = 1;
            h->version_file = 1;
            h->node = r.node.id;
            h->flags = flags;
            store_actor_name(a);
            h->actor = *a;
            h->path = strdup(rel(path));
            *out = h;
        } else {
            free(h);
        }
    } else if (rc == 0) {
        rc = handle_new(t, a, path, r.node.id, flags, out);
        if (rc == 0 && (flags & O_TRUNC)) {
            rc = doc_truncate(t->s, (*out)->doc, 0);
            __atomic_store_n(&(*out)->doc->writer_pid, a->pid, __ATOMIC_RELAXED);
        }
    }
    res_clear(&r);
    return finish(t, a, "open", path, rc);
}

ssize_t tree_read(struct tree *t, struct tree_handle *h, void *buf, size_t size,
                  uint64_t off)
{
    ssize_t rc = doc_read(t->s, h->doc, buf, size, off);
    if (rc == -EIO)
        log_append_alone(t->s, &h->actor, "read", h->path, h->doc->base.number, EIO,
                         "content failed authentication: not returned");
    return rc;
}

ssize_t tree_write(struct tree *t, struct tree_handle *h, const void *buf, size_t size,
                   uint64_t off)
{
    if (h->version_file)
        return -EROFS;
    if ((h->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    ssize_t rc = doc_write(t->s, h->doc, buf, size, off);
    if (rc > 0) {
        h->wrote = 1;
        __atomic_store_n(&h->doc->writer_pid, h->actor.pid, __ATOMIC_RELAXED);
    }
    return rc;
}

/* Commits h's doc, logging under its current path. */
static int commit_handle(struct tree *t, struct tree_handle *h,
                         const struct store_actor *a)
{
    int orc = orphan_rehome(t, h->doc, a);
    if (orc)
        return orc;
    char path[TREE_PATH_MAX];
    MDB_txn *txn;
    snprintf(path, sizeof path, "%s", h->path);
    if (store_txn_begin(t->s, 1, &txn) == 0) {
        struct node n;
        if (node_get(t->s, txn, h->doc->node, &n) == 0) {
            if (n.state != NODE_DETACHED)
                node_path(t->s, txn, h->doc->node, path, sizeof path);
            node_clear(&n);
        }
        store_txn_abort(txn);
    }
    int rc = doc_commit(t->s, h->doc, a, path, NULL);
    if (rc == -ENOSPC)
        log_append_alone(t->s, a, "version", path, 0, ENOSPC,
                         "disk full: version not stored");
    return rc;
}

int tree_handle_path(struct tree *t, struct tree_handle *h, char *out, size_t len)
{
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    out[0] = '/';
    node_path(t->s, txn, h->doc->node, out + 1, len - 1);
    store_txn_abort(txn);
    return 0;
}

int tree_truncate(struct tree *t, struct store_actor *a, const char *path,
                  struct tree_handle *h, uint64_t size)
{
    if (h) {
        if (h->version_file)
            return -EROFS;
        int rc = doc_truncate(t->s, h->doc, size);
        if (rc == 0) {
            h->wrote = 1;
            __atomic_store_n(&h->doc->writer_pid, h->actor.pid, __ATOMIC_RELAXED);
        }
        return rc;
    }
    struct tree_handle *tmp;
    int rc = tree_open(t, a, path, O_WRONLY, &tmp);
    if (rc)
        return rc;
    rc = doc_truncate(t->s, tmp->doc, size);
    if (rc == 0)
        rc = commit_handle(t, tmp, a);
    tmp->wrote = 0;
    int rc2 = tree_release(t, tmp);
    return rc ? rc : rc2;
}

int tree_flush(struct tree *t, struct tree_handle *h)
{
    if (!h->wrote || h->version_file)
        return 0;
    int rc = commit_handle(t, h, &h->actor);
    if (rc == 0)
        h->wrote = 0;
    return rc;
}

int tree_fsync(struct tree *t, struct tree_handle *h)
{
    int rc = 0;
    if (!h->version_file) {
        rc = commit_handle(t, h, &h->actor);
        if (rc == 0)
            h->wrote = 0;
    }
    if (rc == 0)
        rc = store_fsync(t->s);
    return rc;
}

int tree_release(struct tree *t, struct tree_handle *h)
{
    int rc;
    if (h->version_file) {
        doc_free(h->doc);
        rc = 0;
    } else {
        if (h->wrote)
            commit_handle(t, h, &h->actor);
        rc = doc_put(t, h->doc, &h->actor);
    }
    free(h->path);
    free(h);
    return rc;
}

/* Records a retraction request for node n (live), hides it, logs both. */
static int request_retraction(struct tree *t, MDB_txn *txn, struct store_actor *a,
                              struct node *n, const char *path, const char *op,
                              const char *why)
{
    struct retraction r;
    memset(&r, 0, sizeof r);
    int rc = retract_new_id(t->s, txn, &r.id);
    if (rc)
        return rc;
    r.node = n->id;
    r.version = n->type == NODE_FILE ? n->version : 0;
    r.state = RETRACT_PENDING;
    r.is_dir = n->type == NODE_DIR;
    r.path = (char *)path;
    r.uid = a->uid;
    r.pid = a->pid;
    store_actor_name(a);
    r.user = a->user;
    r.process = a->process;
    int64_t sec;
    uint32_t nsec;
    now_ts(&sec, &nsec);
    r.sec = sec;
    r.reason = n->reason ? n->reason : (char *)(why ? why : "");
    r.decider = "";
    r.decision_reason = "";
    rc = retract_put(t->s, txn, &r);
    if (rc)
        return rc;
    free(n->reason);
    n->reason = NULL;
    n->state = NODE_PENDING;
    n->request = r.id;
    n->ctime_sec = sec;
    n->ctime_nsec = nsec;
    rc = node_put(t->s, txn, n);
    char detail[96];
    snprintf(detail, sizeof detail, "left the live view; retraction request %llu",
             (unsigned long long)r.id);
    if (rc == 0 && op)
        rc = log_append(t->s, txn, a, op, path, r.version, 0, detail);
    snprintf(detail, sizeof detail, "request %llu", (unsigned long long)r.id);
    if (rc == 0)
        rc = log_append(t->s, txn, a, "retract-request", path, r.version, 0, detail);
    return rc;
}

/* Removes a scratch file: no request, but if it is the only copy left of a
 * document renamed away to it, that document gets a request instead. */
static int remove_transient(struct tree *t, MDB_txn *txn, struct store_actor *a,
                            struct node *n, const char *path)
{
    int rc = dirent_del(t->s, txn, n->parent, n->name);
    if (rc)
        return rc;
    n->state = NODE_DETACHED;
    rc = node_put(t->s, txn, n);
    if (rc == 0)
        rc = log_append(t->s, txn, a, "unlink", path, n->version, 0,
                        "scratch file: kept unlisted, no retraction request");
    if (rc == 0 && n->origin) {
        struct node o;
        if (node_get(t->s, txn, n->origin, &o) == 0) {
            if (o.state == NODE_RENAMED) {
                char opath[TREE_PATH_MAX];
                node_path(t->s, txn, o.id, opath, sizeof opath);
                o.state = NODE_LIVE; /* request_retraction hides it again */
                rc = request_retraction(t, txn, a, &o, opath, NULL,
                                        "removed by removing its renamed copy");
            }
            node_clear(&o);
        }
    }
    return rc;
}

int tree_unlink(struct tree *t, struct store_actor *a, const char *path)
{
    char parent_path[TREE_PATH_MAX];
    const char *name;
    int rc = split_last(path, parent_path, &name);
    if (rc)
        return rc == -EINVAL ? -EISDIR : rc;
    MDB_txn *txn;
    rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node parent, n;
    memset(&parent, 0, sizeof parent);
    memset(&n, 0, sizeof n);
    rc = resolve_parent(t, txn, a, parent_path, &parent);
    if (rc == 0 && strcmp(name, NAMES_VERSIONS_DIR) == 0)
        rc = -EROFS;
    if (rc == 0)
        rc = lookup_live(t, txn, parent.id, name, &n);
    if (rc == 0 && n.type == NODE_DIR)
        rc = -EISDIR;
    if (rc == 0 && !may(a, &parent, TREE_W | TREE_X))
        rc = -EACCES;
    if (rc == 0 && (parent.mode & S_ISVTX) && a->uid != 0 && a->uid != n.uid &&
        a->uid != parent.uid)
        rc = -EACCES;
    if (rc == 0)
        rc = n.transient ? remove_transient(t, txn, a, &n, rel(path))
                         : request_retraction(t, txn, a, &n, rel(path), "unlink", NULL);
    if (rc == 0)
        rc = touch_dir(t, txn, parent.id);
    rc = commit_or_abort(t, txn, rc);
    node_clear(&parent);
    node_clear(&n);
    return finish(t, a, "unlink", path, rc);
}

int tree_rmdir(struct tree *t, struct store_actor *a, const char *path)
{
    char parent_path[TREE_PATH_MAX];
    const char *name;
    int rc = split_last(path, parent_path, &name);
    if (rc)
        return rc == -EINVAL ? -EBUSY : rc;
    MDB_txn *txn;
    rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node parent, n;
    memset(&parent, 0, sizeof parent);
    memset(&n, 0, sizeof n);
    int live = 0;
    rc = resolve_parent(t, txn, a, parent_path, &parent);
    if (rc == 0 && strcmp(name, NAMES_VERSIONS_DIR) == 0)
        rc = -EROFS;
    if (rc == 0)
        rc = lookup_live(t, txn, parent.id, name, &n);
    if (rc == 0 && n.type != NODE_DIR)
        rc = -ENOTDIR;
    if (rc == 0 && !may(a, &parent, TREE_W | TREE_X))
        rc = -EACCES;
    if (rc == 0)
        rc = dir_has_live(t, txn, n.id, &live);
    if (rc == 0 && live)
        rc = -ENOTEMPTY;
    if (rc == 0)
        rc = request_retraction(t, txn, a, &n, rel(path), "rmdir", NULL);
    if (rc == 0)
        rc = touch_dir(t, txn, parent.id);
    rc = commit_or_abort(t, txn, rc);
    node_clear(&parent);
    node_clear(&n);
    return finish(t, a, "rmdir", path, rc);
}

/* Makes src's current content dst's next version (unless equal).  Sets
 * *made to the new version number or 0. */
static int content_into(struct tree *t, MDB_txn *txn, struct store_actor *a,
                        struct node *dst, const struct node *src, const char *dst_path,
                        uint32_t *made)
{
    struct version sv, dv;
    memset(&sv, 0, sizeof sv);
    memset(&dv, 0, sizeof dv);
    *made = 0;
    int rc = 0;
    if (src->version > 0)
        rc = version_get(t->s, txn, src->id, src->version, &sv);
    if (rc == 0 && dst->version > 0)
        rc = version_get(t->s, txn, dst->id, dst->version, &dv);
    if (rc == 0 && !(dst->version > 0 && version_same_content(t->s, &sv, &dv))) {
        int64_t sec;
        uint32_t nsec;
        now_ts(&sec, &nsec);
        struct version v = sv;
        v.node = dst->id;
        v.number = dst->version + 1;
        v.state = VERSION_LIVE;
        v.sec = sec;
        v.nsec = nsec;
        v.uid = a->uid;
        v.pid = a->pid;
        store_actor_name(a);
        v.user = a->user;
        v.process = a->process;
        v.mode = src->mode;
        v.from_node = src->id;
        rc = version_put(t->s, txn, &v);
        if (rc == 0) {
            dst->version = v.number;
            dst->size = v.size;
            *made = v.number;
            char detail[64];
            snprintf(detail, sizeof detail, "%llu bytes, by rename",
                     (unsigned long long)v.size);
            rc = log_append(t->s, txn, a, "version", dst_path, v.number, 0, detail);
        }
    }
    version_clear(&sv);
    version_clear(&dv);
    return rc;
}

/* Case folder of a path (first component) and its depth. */
static int path_case(const char *path, char *out)
{
    char buf[TREE_PATH_MAX];
    char *comps[TREE_DEPTH_MAX];
    int n = split(path, buf, comps);
    if (n < 0)
        return n;
    snprintf(out, NODE_NAME_MAX + 1, "%s", n ? comps[0] : "");
    for (int i = 0; i < n; i++)
        if (strcmp(comps[i], NAMES_VERSIONS_DIR) == 0)
            return -EROFS;
    return n;
}

/* True when dir id `anc` is dir `id` or one of its ancestors. */
static int is_ancestor(struct tree *t, MDB_txn *txn, uint64_t anc, uint64_t id)
{
    for (int i = 0; i < TREE_DEPTH_MAX; i++) {
        if (id == anc)
            return 1;
        if (id == NODE_ROOT)
            return 0;
        struct node n;
        if (node_get(t->s, txn, id, &n) != 0)
            return 0;
        id = n.parent;
        node_clear(&n);
    }
    return 0;
}

static void take_meta(struct node *dst, const struct node *src)
{
    dst->mode = (dst->mode & S_IFMT) | (src->mode & 07777);
    dst->uid = src->uid;
    dst->gid = src->gid;
    dst->mtime_sec = src->mtime_sec;
    dst->mtime_nsec = src->mtime_nsec;
}

static int rename_in_txn(struct tree *t, MDB_txn *txn, struct store_actor *a,
                         const char *from, const char *to, unsigned flags,
                         uint64_t *changed, uint64_t *moved_from)
{
    char fpp[TREE_PATH_MAX], tpp[TREE_PATH_MAX], detail[TREE_PATH_MAX + 64];
    const char *fname, *tname;
    int rc = split_last(from, fpp, &fname);
    if (rc == 0)
        rc = split_last(to, tpp, &tname);
    if (rc)
        return rc == -EINVAL ? -EBUSY : rc;
    struct node fp, tp, src, dst;
    memset(&fp, 0, sizeof fp);
    memset(&tp, 0, sizeof tp);
    memset(&src, 0, sizeof src);
    memset(&dst, 0, sizeof dst);
    int have_dst = 0;
    uint32_t made = 0;
    rc = resolve_parent(t, txn, a, fpp, &fp);
    if (rc == 0)
        rc = resolve_parent(t, txn, a, tpp, &tp);
    if (rc == 0)
        rc = lookup_live(t, txn, fp.id, fname, &src);
    if (rc == 0)
        rc = names_check_new(tname, tp.id == NODE_ROOT);
    if (rc == -EEXIST)
        rc = -EROFS; /* onto .versions */
    if (rc == 0 && tp.id == NODE_ROOT && src.type != NODE_DIR)
        rc = -EPERM;
    if (rc == 0 && (!may(a, &fp, TREE_W | TREE_X) || !may(a, &tp, TREE_W | TREE_X)))
        rc = -EACCES;
    if (rc == 0 && src.type == NODE_DIR && is_ancestor(t, txn, src.id, tp.id))
        rc = -EINVAL;
    uint64_t did;
    if (rc == 0 && dirent_get(t->s, txn, tp.id, tname, &did) == 0) {
        rc = node_get(t->s, txn, did, &dst);
        have_dst = rc == 0;
    }
    /* A removed document of this name that waits displaced comes back for
     * a document renamed here, as it does when re-created. */
    if (rc == 0 && src.type == NODE_FILE &&
        (!have_dst || (dst.state != NODE_LIVE && dst.type != NODE_FILE))) {
        struct node back;
        int hr = hidden_of_kind(t->s, txn, tp.id, tname, NODE_FILE, &back);
        if (hr == 0) {
            rc = name_give_back(t->s, txn, tp.id, tname, have_dst ? dst.id : 0, back.id);
            if (have_dst)
                node_clear(&dst);
            dst = back;
            have_dst = 1;
        } else if (hr != -ENOENT) {
            rc = hr;
        }
    }
    const char *tpath = rel(to);
    snprintf(detail, sizeof detail, "to %s", tpath);
    if (rc)
        goto out;
    if (have_dst && dst.id == src.id)
        goto out; /* same entry: nothing to do */
    if (have_dst && dst.state == NODE_LIVE) {
        if (flags & RENAME_NOREPLACE) {
            rc = -EEXIST;
        } else if (src.type == NODE_DIR) {
            int live = 0;
            if (dst.type != NODE_DIR)
                rc = -ENOTDIR;
            else if ((rc = dir_has_live(t, txn, dst.id, &live)) == 0 && live)
                rc = -ENOTEMPTY;
            if (rc == 0) {
                /* An empty folder replaced by another: nothing in it is lost.
                 * What was removed from it (pending requests) moves into the
                 * folder taking its name, so that it stays reachable by path
                 * and re-creating a name there continues its history. */
                rc = merge_hidden(t, txn, dst.id, src.id);
                dst.state = NODE_DETACHED;
                rc = dirent_del(t->s, txn, tp.id, tname);
                if (rc == 0)
                    rc = node_put(t->s, txn, &dst);
                have_dst = 0;
            }
        } else if (dst.type == NODE_DIR) {
            rc = -EISDIR;
        } else if (!src.transient && dst.transient) {
            /* A document saved away onto an existing scratch name. */
            rc = content_into(t, txn, a, &dst, &src, tpath, &made);
            take_meta(&dst, &src);
            dst.origin = src.id;
            src.state = NODE_RENAMED;
            if (rc == 0)
                rc = node_put(t->s, txn, &dst);
            if (rc == 0)
                rc = node_put(t->s, txn, &src);
            *changed = dst.id;
            *moved_from = src.id;
            goto logged;
        } else {
            /* The usual save: content renamed onto a document becomes its
             * next version; the source's own history stays, detached. */
            rc = content_into(t, txn, a, &dst, &src, tpath, &made);
            take_meta(&dst, &src);
            now_ts(&dst.ctime_sec, &dst.ctime_nsec);
            src.state = NODE_DETACHED;
            if (rc == 0)
                rc = dirent_del(t->s, txn, fp.id, fname);
            if (rc == 0)
                rc = node_put(t->s, txn, &dst);
            if (rc == 0)
                rc = node_put(t->s, txn, &src);
            *changed = dst.id;
            *moved_from = src.id;
            snprintf(detail, sizeof detail, "onto %s: became version %u", tpath,
                     dst.version);
            goto logged;
        }
    } else if (have_dst) {
        if (dst.type == NODE_FILE && src.type == NODE_FILE) {
            /* Onto a hidden document of that name: it comes back, same history. */
            rc = withdraw_if_same_process(t, txn, a, &dst, tpath);
            if (rc == 0)
                rc = content_into(t, txn, a, &dst, &src, tpath, &made);
            take_meta(&dst, &src);
            dst.state = NODE_LIVE;
            dst.transient = names_is_transient(tname);
            now_ts(&dst.ctime_sec, &dst.ctime_nsec);
            src.state = NODE_DETACHED;
            if (rc == 0)
                rc = dirent_del(t->s, txn, fp.id, fname);
            if (rc == 0)
                rc = node_put(t->s, txn, &dst);
            if (rc == 0)
                rc = node_put(t->s, txn, &src);
            *changed = dst.id;
            *moved_from = src.id;
            snprintf(detail, sizeof detail, "onto %s (re-created): version %u", tpath,
                     dst.version);
            goto logged;
        }
        /* A hidden entry of another kind (or a removed folder under a
         * folder renamed here) gives up its name; it stays stored and
         * reachable by path, displaced. */
        if (src.type == NODE_DIR && dst.type == NODE_DIR) {
            /* A folder renamed onto a removed one takes over what was
             * removed in it, as onto an empty folder: making a name there
             * again continues its history. */
            int live = 0;
            rc = dir_has_live(t, txn, dst.id, &live);
            if (rc == 0 && !live)
                rc = merge_hidden(t, txn, dst.id, src.id);
        }
        if (rc == 0)
            rc = dirent_displace(t->s, txn, tp.id, tname, dst.id, 0);
        have_dst = 0;
    }
    if (rc)
        goto out;
    if (src.type == NODE_FILE && !src.transient && names_is_transient(tname)) {
        /* A document renamed to a scratch name (an editor's backup): the
         * scratch name gets a copy, the document waits to be re-created. */
        struct node copy;
        rc = node_make(t, txn, a, &tp, tname, NODE_FILE, src.mode, &copy);
        if (rc == 0) {
            rc = content_into(t, txn, a, &copy, &src, tpath, &made);
            take_meta(&copy, &src);
            copy.origin = src.id;
            if (rc == 0)
                rc = node_put(t->s, txn, &copy);
        }
        *changed = copy.id;
        *moved_from = src.id;
        node_clear(&copy);
        src.state = NODE_RENAMED;
        if (rc == 0)
            rc = node_put(t->s, txn, &src);
        snprintf(detail, sizeof detail,
                 "to %s: scratch copy, document awaits re-creation", tpath);
    } else {
        rc = dirent_del(t->s, txn, fp.id, fname);
        if (rc == 0)
            rc = dirent_put(t->s, txn, tp.id, tname, src.id);
        if (rc == 0) {
            free(src.name);
            src.name = strdup(tname);
            src.parent = tp.id;
            src.transient = src.type == NODE_FILE && names_is_transient(tname);
            now_ts(&src.ctime_sec, &src.ctime_nsec);
            rc = src.name ? node_put(t->s, txn, &src) : -ENOMEM;
        }
    }
logged:
    if (rc == 0)
        rc = touch_dir(t, txn, fp.id);
    if (rc == 0 && tp.id != fp.id)
        rc = touch_dir(t, txn, tp.id);
    if (rc == 0)
        rc = log_append(t->s, txn, a, "rename", rel(from), made, 0, detail);
out:
    node_clear(&fp);
    node_clear(&tp);
    node_clear(&src);
    node_clear(&dst);
    return rc;
}

/* After content moved from node `from` into node `to` by a rename, open
 * handles behave as on a local filesystem: a handle open on the source
 * follows its content to the new name, and a handle open on the replaced
 * target keeps the content it had (new opens see the new content). */
static void docs_follow_rename(struct tree *t, struct store_actor *a, uint64_t to,
                               uint64_t from)
{
    struct doc *moved = NULL;
    pthread_mutex_lock(&t->mu);
    orphan_locked(t, to);
    for (struct tree_open *o = t->open; from && o; o = o->next) {
        if (o->doc->node == from) {
            moved = o->doc;
            pthread_mutex_lock(&t->open_mu);
            moved->node = to;
            pthread_mutex_unlock(&t->open_mu);
            moved->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    if (moved) {
        doc_rebase(t->s, moved);
        doc_put(t, moved, a);
    }
}

static int rename_locked(struct tree *t, struct store_actor *a, const char *from,
                         const char *to, unsigned flags)
{
    if (flags & ~(unsigned)RENAME_NOREPLACE)
        return -EINVAL;
    char fc[NODE_NAME_MAX + 1], tc[NODE_NAME_MAX + 1];
    int fd = path_case(from, fc), td = path_case(to, tc);
    if (fd < 0)
        return fd;
    if (td < 0)
        return td;
    if ((fd == 1) != (td == 1) || (fd > 1 && strcmp(fc, tc) != 0)) {
        log_append_alone(t->s, a, "rename", rel(from), 0, EXDEV,
                         "between cases: copy and retract instead");
        return -EXDEV;
    }
    /* When the source's content is copied into another document (renamed
     * onto an existing name, or to a scratch name), what is being written
     * to it is committed first, so that the copy carries every byte.  A
     * plain move takes the open document along and commits nothing. */
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    struct res r;
    struct node target;
    rc = resolve(t, txn, a, from, &r);
    int copies = tree_find(t->s, txn, to, &target) == 0;
    if (copies) {
        /* Onto itself (the kernel may ask when it holds two inodes for one
         * name after an atomic save): nothing is copied, nothing commits.
         * Only a document of that name (live, or removed and waiting to
         * come back) takes a copy: a removed folder's name is simply
         * taken, and a document moved there commits nothing. */
        if (rc == 0 && r.kind == RES_NODE && target.id == r.node.id)
            copies = 0;
        if (target.type != NODE_FILE)
            copies = 0;
        node_clear(&target);
    }
    store_txn_abort(txn);
    const char *tname = strrchr(to, '/') ? strrchr(to, '/') + 1 : to;
    if (rc == 0 && !copies && r.kind == RES_NODE && !r.node.transient &&
        names_is_transient(tname))
        copies = 1;
    if (rc)
        return finish(t, a, "rename", from, rc);
    if (r.kind != RES_NODE) {
        res_clear(&r);
        return -EROFS;
    }
    if (r.node.type == NODE_FILE && copies) {
        struct doc *d = doc_find(t, r.node.id);
        if (d) {
            doc_commit(t->s, d, a, rel(from), NULL);
            doc_put(t, d, a);
        }
    }
    res_clear(&r);
    uint64_t changed = 0, moved_from = 0;
    rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    rc = rename_in_txn(t, txn, a, from, to, flags, &changed, &moved_from);
    rc = commit_or_abort(t, txn, rc);
    uint64_t src_ino = moved_from ? tree_nodeid(t, moved_from) : 0;
    if (rc == 0 && changed)
        docs_follow_rename(t, a, changed, moved_from);
    if (rc == 0 && changed && moved_from && changed != moved_from) {
        /* The kernel now knows the target under the source's inode (it
         * moved that inode to the target name): that inode becomes the
         * target's, and the source gets a new one should it come back. */
        pthread_mutex_lock(&t->mu);
        idmap_put(&t->fwd, src_ino, changed);
        idmap_put(&t->alias, changed, src_ino);
        new_incarnation(t, moved_from);
        pthread_mutex_unlock(&t->mu);
    }
    return finish(t, a, "rename", from, rc);
}

/* Resolves path to a live node for a metadata change (not the views). */
static int resolve_node(struct tree *t, MDB_txn *txn, struct store_actor *a,
                        const char *path, struct node *out)
{
    struct res r;
    int rc = resolve(t, txn, a, path, &r);
    if (rc)
        return rc;
    if (r.kind != RES_NODE) {
        res_clear(&r);
        return -EROFS;
    }
    *out = r.node;
    return 0;
}

/* The open document of node id while it has content not yet committed
 * that process pid wrote: locked (d->mu) and referenced; NULL otherwise.
 * Give it back with pthread_mutex_unlock and doc_put(t, d, actor).  Only
 * the writer's own changes wait for its close: another process's chmod
 * (an administrator narrowing access) must not depend on when, or
 * whether, the writer closes. */
static struct doc *dirty_doc(struct tree *t, uint64_t id, uint32_t pid)
{
    struct doc *d = doc_find(t, id);
    if (!d)
        return NULL;
    pthread_mutex_lock(&d->mu);
    if (d->dirty && !d->readonly && __atomic_load_n(&d->writer_pid, __ATOMIC_RELAXED) == pid)
        return d;
    pthread_mutex_unlock(&d->mu);
    doc_put(t, d, NULL); /* not dirty: nothing for a last reference to commit */
    return NULL;
}

/* The node at path as it stands (a read transaction). */
static int current_node(struct tree *t, struct store_actor *a, const char *path,
                        struct node *n)
{
    MDB_txn *txn;
    memset(n, 0, sizeof *n);
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    rc = resolve_node(t, txn, a, path, n);
    store_txn_abort(txn);
    return rc;
}

/* A metadata change (op, the change in m, log detail) to the document at
 * path: when the document is open with content the same process wrote and
 * has not closed, the change waits and is committed with that content at
 * its close (one commit for the save, as tar and cp -a set times, owner
 * and mode on the descriptor they write through); otherwise it is
 * committed now.  check() decides on
 * the node as it stands and fills m and detail. */
typedef int (*meta_check_fn)(struct store_actor *a, const struct node *n, const void *arg,
                             struct doc_meta *m, char *detail, size_t len);

static int meta_change(struct tree *t, struct store_actor *a, const char *path,
                       const char *op, meta_check_fn check, const void *arg)
{
    struct node n;
    struct doc_meta m;
    char detail[64];
    memset(&m, 0, sizeof m);
    detail[0] = '\0';
    int rc = current_node(t, a, path, &n);
    struct doc *d = rc == 0 && n.type == NODE_FILE ? dirty_doc(t, n.id, a->pid) : NULL;
    if (d) {
        rc = check(a, &n, arg, &m, detail, sizeof detail);
        if (rc == 0) {
            now_ts(&m.ctime_sec, &m.ctime_nsec);
            rc = doc_meta_add(d, &m, op, detail, rel(path), a);
        }
        /* An explicit time outlasts the time of the writes before it. */
        if (rc == 0 && m.mtime_set)
            d->write_sec = 0;
        pthread_mutex_unlock(&d->mu);
        doc_put(t, d, a);
        node_clear(&n);
        return finish(t, a, op, path, rc);
    }
    /* An open document is held locked across the change: its commit (which
     * takes the doc's lock before its transaction) may otherwise read the
     * new time and put the write's time back over it (rsync sets the time
     * of a new, empty document whose release the kernel sends later). */
    if (rc == 0 && n.type == NODE_FILE)
        d = doc_find(t, n.id);
    node_clear(&n);
    if (rc)
        return finish(t, a, op, path, rc);
    MDB_txn *txn;
    if (d)
        pthread_mutex_lock(&d->mu);
    rc = store_txn_begin(t->s, 0, &txn);
    if (rc == 0) {
        rc = resolve_node(t, txn, a, path, &n);
        if (rc == 0)
            rc = check(a, &n, arg, &m, detail, sizeof detail);
        if (rc == 0) {
            if (m.mode_set)
                n.mode = (n.mode & S_IFMT) | (m.mode & 07777);
            if (m.owner_set) {
                n.uid = m.uid;
                n.gid = m.gid;
            }
            if (m.mtime_set) {
                n.mtime_sec = m.mtime_sec;
                n.mtime_nsec = m.mtime_nsec;
            }
            now_ts(&n.ctime_sec, &n.ctime_nsec);
            rc = node_put(t->s, txn, &n);
        }
        if (rc == 0)
            rc = log_append(t->s, txn, a, op, rel(path), n.version, 0, detail);
        rc = commit_or_abort(t, txn, rc);
        node_clear(&n);
    }
    if (d) {
        if (rc == 0 && m.mtime_set)
            d->write_sec = 0;
        pthread_mutex_unlock(&d->mu);
        doc_put(t, d, a);
    }
    return finish(t, a, op, path, rc);
}

static int utimens_check(struct store_actor *a, const struct node *n, const void *arg,
                         struct doc_meta *m, char *detail, size_t len)
{
    const struct timespec *ts = arg;
    int both_now = ts[0].tv_nsec == UTIME_NOW && ts[1].tv_nsec == UTIME_NOW;
    if (a->uid != 0 && a->uid != n->uid) {
        if (!both_now)
            return -EPERM;
        if (!may(a, n, TREE_W))
            return -EACCES;
    }
    if (ts[1].tv_nsec != UTIME_OMIT) {
        m->mtime_set = 1;
        if (ts[1].tv_nsec == UTIME_NOW) {
            now_ts(&m->mtime_sec, &m->mtime_nsec);
        } else {
            m->mtime_sec = ts[1].tv_sec;
            m->mtime_nsec = (uint32_t)ts[1].tv_nsec;
        }
    }
    (void)detail;
    (void)len;
    return 0;
}

int tree_utimens(struct tree *t, struct store_actor *a, const char *path,
                 const struct timespec ts[2])
{
    return meta_change(t, a, path, "utimens", utimens_check, ts);
}

static int chmod_check(struct store_actor *a, const struct node *n, const void *arg,
                       struct doc_meta *m, char *detail, size_t len)
{
    uint32_t mode = *(const uint32_t *)arg;
    if (n->id == NODE_ROOT || (a->uid != 0 && a->uid != n->uid))
        return -EPERM;
    snprintf(detail, len, "%04o -> %04o", n->mode & 07777, mode & 07777);
    m->mode_set = 1;
    m->mode = mode & 07777;
    return 0;
}

int tree_chmod(struct tree *t, struct store_actor *a, const char *path, uint32_t mode)
{
    return meta_change(t, a, path, "chmod", chmod_check, &mode);
}

struct owner {
    uint32_t uid, gid;
};

static int chown_check(struct store_actor *a, const struct node *n, const void *arg,
                       struct doc_meta *m, char *detail, size_t len)
{
    const struct owner *o = arg;
    if (n->id == NODE_ROOT)
        return -EPERM;
    if (a->uid != 0) {
        if (o->uid != (uint32_t)-1 && o->uid != n->uid)
            return -EPERM;
        if (o->gid != (uint32_t)-1 && (a->uid != n->uid || !in_groups(a, o->gid)))
            return -EPERM;
    }
    m->owner_set = 1;
    m->uid = o->uid != (uint32_t)-1 ? o->uid : n->uid;
    m->gid = o->gid != (uint32_t)-1 ? o->gid : n->gid;
    snprintf(detail, len, "owner %u:%u", m->uid, m->gid);
    return 0;
}

int tree_chown(struct tree *t, struct store_actor *a, const char *path, uint32_t uid,
               uint32_t gid)
{
    struct owner o = {uid, gid};
    return meta_change(t, a, path, "chown", chown_check, &o);
}

/* Puts value into buf following the getxattr(2) size rules. */
static ssize_t xattr_reply(const char *value, size_t len, char *buf, size_t size)
{
    if (size == 0)
        return (ssize_t)len;
    if (size < len)
        return -ERANGE;
    memcpy(buf, value, len);
    return (ssize_t)len;
}

ssize_t tree_getxattr(struct tree *t, struct store_actor *a, const char *path,
                      const char *name, char *buf, size_t size)
{
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    struct res r;
    rc = resolve(t, txn, a, path, &r);
    if (rc) {
        store_txn_abort(txn);
        return finish(t, a, "getxattr", path, rc);
    }
    ssize_t out = -ENODATA;
    char value[128];
    uint32_t vnum = r.kind == RES_VFILE ? r.version : r.node.version;
    int is_doc = (r.kind == RES_NODE && r.node.type == NODE_FILE) || r.kind == RES_VFILE;
    if (!may(a, &r.node, TREE_R)) {
        out = -EACCES;
    } else if (strcmp(name, XATTR_STATE) == 0 && r.kind != RES_VDIR &&
               r.kind != RES_VDOC) {
        const char *st = tree_state_name(r.node.state);
        if (r.kind == RES_VFILE) {
            struct version v;
            st = "live";
            if (version_get(t->s, txn, r.node.id, vnum, &v) == 0) {
                st = v.state == VERSION_RETRACTED ? "retracted" : "live";
                version_clear(&v);
            }
        }
        out = xattr_reply(st, strlen(st), buf, size);
    } else if (is_doc && vnum > 0 && strcmp(name, XATTR_VERSION) == 0) {
        int n = snprintf(value, sizeof value, "%u", vnum);
        out = xattr_reply(value, (size_t)n, buf, size);
    } else if (is_doc && vnum > 0 && strcmp(name, XATTR_AUTHOR) == 0) {
        struct version v;
        out = version_get(t->s, txn, r.node.id, vnum, &v);
        if (out == 0) {
            out = xattr_reply(v.user, strlen(v.user), buf, size);
            version_clear(&v);
        }
    } else if (r.kind == RES_NODE && strcmp(name, XATTR_REASON) == 0 && r.node.reason) {
        out = xattr_reply(r.node.reason, strlen(r.node.reason), buf, size);
    }
    res_clear(&r);
    store_txn_abort(txn);
    return finish(t, a, "getxattr", path, (int)out);
}

ssize_t tree_listxattr(struct tree *t, struct store_actor *a, const char *path, char *buf,
                       size_t size)
{
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 1, &txn);
    if (rc)
        return rc;
    struct res r;
    rc = resolve(t, txn, a, path, &r);
    if (rc) {
        store_txn_abort(txn);
        return finish(t, a, "listxattr", path, rc);
    }
    char list[128];
    size_t len = 0;
    int is_doc = (r.kind == RES_NODE && r.node.type == NODE_FILE) || r.kind == RES_VFILE;
    if (r.kind == RES_NODE || r.kind == RES_VFILE) {
        memcpy(list + len, XATTR_STATE, sizeof XATTR_STATE);
        len += sizeof XATTR_STATE;
    }
    if (is_doc && r.node.version > 0) {
        memcpy(list + len, XATTR_VERSION, sizeof XATTR_VERSION);
        len += sizeof XATTR_VERSION;
        memcpy(list + len, XATTR_AUTHOR, sizeof XATTR_AUTHOR);
        len += sizeof XATTR_AUTHOR;
    }
    if (r.kind == RES_NODE && r.node.reason) {
        memcpy(list + len, XATTR_REASON, sizeof XATTR_REASON);
        len += sizeof XATTR_REASON;
    }
    res_clear(&r);
    store_txn_abort(txn);
    return xattr_reply(list, len, buf, size);
}

int tree_setxattr(struct tree *t, struct store_actor *a, const char *path,
                  const char *name, const char *value, size_t size, int flags)
{
    if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
        return -ENOTSUP;
    if (strcmp(name, XATTR_REASON) != 0)
        return -ENOTSUP; /* version, author and state are kept by casefs;
                            ENOTSUP lets cp -a and mv skip them quietly */
    if (size == 0 || size > NODE_REASON_MAX || memchr(value, '\0', size))
        return -EINVAL;
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node n;
    memset(&n, 0, sizeof n);
    rc = resolve_node(t, txn, a, path, &n);
    if (rc == 0 && n.id == NODE_ROOT)
        rc = -EPERM;
    if (rc == 0 && !may(a, &n, TREE_W))
        rc = -EACCES;
    if (rc == 0 && (flags & XATTR_CREATE) && n.reason)
        rc = -EEXIST;
    if (rc == 0 && (flags & XATTR_REPLACE) && !n.reason)
        rc = -ENODATA;
    if (rc == 0) {
        free(n.reason);
        n.reason = strndup(value, size);
        rc = n.reason ? node_put(t->s, txn, &n) : -ENOMEM;
    }
    if (rc == 0)
        rc = log_append(t->s, txn, a, "setxattr", rel(path), n.version, 0,
                        "reason attached for a retraction request");
    rc = commit_or_abort(t, txn, rc);
    node_clear(&n);
    return finish(t, a, "setxattr", path, rc);
}

int tree_removexattr(struct tree *t, struct store_actor *a, const char *path,
                     const char *name)
{
    if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
        return -ENODATA;
    if (strcmp(name, XATTR_REASON) != 0)
        return -EPERM;
    MDB_txn *txn;
    int rc = store_txn_begin(t->s, 0, &txn);
    if (rc)
        return rc;
    struct node n;
    memset(&n, 0, sizeof n);
    rc = resolve_node(t, txn, a, path, &n);
    if (rc == 0 && !may(a, &n, TREE_W))
        rc = -EACCES;
    if (rc == 0 && !n.reason)
        rc = -ENODATA;
    if (rc == 0) {
        free(n.reason);
        n.reason = NULL;
        rc = node_put(t->s, txn, &n);
    }
    if (rc == 0)
        rc = log_append(t->s, txn, a, "removexattr", rel(path), n.version, 0,
                        "retraction reason removed");
    rc = commit_or_abort(t, txn, rc);
    node_clear(&n);
    return finish(t, a, "removexattr", path, rc);
}

/* ---- changes that may give a document a new incarnation ---- */

int tree_create(struct tree *t, struct store_actor *a, const char *path, uint32_t mode,
                int flags, struct tree_handle **out)
{
    pthread_rwlock_wrlock(&t->inode_lock);
    int rc = create_locked(t, a, path, mode, flags, out);
    pthread_rwlock_unlock(&t->inode_lock);
    return rc;
}

int tree_rename(struct tree *t, struct store_actor *a, const char *from, const char *to,
                unsigned flags)
{
    pthread_rwlock_wrlock(&t->inode_lock);
    int rc = rename_locked(t, a, from, to, flags);
    pthread_rwlock_unlock(&t->inode_lock);
    return rc;
}

int tree_entry(struct tree *t, struct store_actor *a, const char *path,
               struct tree_attr *out, uint64_t *nodeid)
{
    pthread_rwlock_rdlock(&t->inode_lock);
    int rc = tree_getattr(t, a, path, NULL, out);
    if (rc == 0)
        *nodeid = tree_nodeid(t, out->ino);
    pthread_rwlock_unlock(&t->inode_lock);
    return rc;
}

int tree_getattr_ino(struct tree *t, struct store_actor *a, uint64_t ino,
                     struct tree_attr *out)
{
    char path[TREE_PATH_MAX];
    pthread_rwlock_rdlock(&t->inode_lock);
    int rc = tree_ino_path(t, ino, path, sizeof path);
    if (rc == 0)
        rc = tree_getattr(t, a, path, NULL, out);
    if (rc == 0 && INO_KIND(ino) == 0 && tree_nodeid(t, out->ino) != ino) {
        /* An earlier incarnation still open: the size of the content its
         * handles read. */
        pthread_mutex_lock(&t->mu);
        struct doc *d = (struct doc *)(uintptr_t)idmap_get(&t->stale, ino);
        if (d)
            out->size = doc_size(d);
        pthread_mutex_unlock(&t->mu);
    }
    pthread_rwlock_unlock(&t->inode_lock);
    return rc;
}

void tree_inodes_hold(struct tree *t)
{
    pthread_rwlock_rdlock(&t->inode_lock);
}

void tree_inodes_release(struct tree *t)
{
    pthread_rwlock_unlock(&t->inode_lock);
}

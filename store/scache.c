/*
 * scache — see scache.h.
 */
#include "store/scache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    unsigned kind; /* 0: empty */
    uint8_t keylen;
    uint8_t key[SCACHE_KEY_MAX];
    uint64_t tag; /* the snapshot the value was read from */
    size_t len;
    uint8_t *val; /* malloc'ed (NULL when len is 0) */
};

struct note {
    unsigned kind;
    uint8_t keylen;
    uint8_t key[SCACHE_KEY_MAX];
};

struct scache {
    pthread_mutex_t mu;
    uint64_t newest;  /* the newest snapshot this cache knows of */
    uint64_t pending; /* the id a commit under way will have; 0: none */
    MDB_txn *wtxn;    /* LMDB's write transaction (one object, reused) */
    /* What the write transaction changed (only its thread touches these). */
    int nnotes;
    int all; /* more than SCACHE_NOTES_MAX changes */
    struct note notes[SCACHE_NOTES_MAX];
    struct slot slot[SCACHE_SLOTS];
};

struct scache *scache_new(void)
{
    struct scache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void slot_clear(struct slot *sl)
{
    if (sl->val) {
        sodium_memzero(sl->val, sl->len);
        free(sl->val);
    }
    sl->val = NULL;
    sl->len = 0;
    sl->kind = 0;
}

static void clear_all(struct scache *c)
{
    for (size_t i = 0; i < SCACHE_SLOTS; i++)
        if (c->slot[i].kind)
            slot_clear(&c->slot[i]);
}

void scache_free(struct scache *c)
{
    if (!c)
        return;
    clear_all(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* FNV-1a over the kind and the key. */
static struct slot *slot_of(struct scache *c, unsigned kind, const uint8_t *key,
                            size_t keylen)
{
    uint64_t h = 1469598103934665603ULL ^ kind;
    for (size_t i = 0; i < keylen; i++) {
        h ^= key[i];
        h *= 1099511628211ULL;
    }
    return &c->slot[(size_t)(h ^ (h >> 31)) % SCACHE_SLOTS];
}

static int same(const struct slot *sl, unsigned kind, const void *key, size_t keylen)
{
    return sl->kind == kind && sl->keylen == keylen && memcmp(sl->key, key, keylen) == 0;
}

static int is_write(const struct scache *c, MDB_txn *txn)
{
    MDB_txn *w = __atomic_load_n(&c->wtxn, __ATOMIC_RELAXED);
    return w && txn == w;
}

/* The snapshot txn reads. */
static uint64_t snapshot_of(const struct scache *c, MDB_txn *txn)
{
    uint64_t id = (uint64_t)mdb_txn_id(txn);
    return is_write(c, txn) ? id - 1 : id;
}

/* A snapshot newer than any this process made or is making: another
 * process committed, and nothing here is known to hold (c->mu held). */
static void see(struct scache *c, uint64_t snap)
{
    if (snap > c->newest && snap != c->pending) {
        clear_all(c);
        c->newest = snap;
    }
}

static int noted(const struct scache *c, unsigned kind, const void *key, size_t keylen)
{
    if (c->all)
        return 1;
    for (int i = 0; i < c->nnotes; i++)
        if (c->notes[i].kind == kind && c->notes[i].keylen == keylen &&
            memcmp(c->notes[i].key, key, keylen) == 0)
            return 1;
    return 0;
}

void scache_write_begin(struct scache *c, MDB_txn *txn)
{
    if (!c)
        return;
    __atomic_store_n(&c->wtxn, txn, __ATOMIC_RELAXED);
    c->nnotes = 0;
    c->all = 0;
}

void scache_note(struct scache *c, MDB_txn *txn, unsigned kind, const void *key,
                 size_t keylen)
{
    /* (a key too long to be kept is never in the cache) */
    if (!c || keylen > SCACHE_KEY_MAX || !is_write(c, txn) || noted(c, kind, key, keylen))
        return;
    if (c->nnotes == SCACHE_NOTES_MAX) {
        c->all = 1;
        return;
    }
    struct note *n = &c->notes[c->nnotes++];
    n->kind = kind;
    n->keylen = (uint8_t)keylen;
    memcpy(n->key, key, keylen);
}

void scache_commit_begin(struct scache *c, MDB_txn *txn)
{
    if (!c || !is_write(c, txn))
        return;
    pthread_mutex_lock(&c->mu);
    uint64_t snap = snapshot_of(c, txn);
    if (c->all || snap != c->newest) {
        /* Many changes, or the transaction began after another process's
         * commit this cache has not seen: nothing here is known to hold. */
        clear_all(c);
    } else {
        for (int i = 0; i < c->nnotes; i++) {
            struct note *n = &c->notes[i];
            struct slot *sl = slot_of(c, n->kind, n->key, n->keylen);
            if (same(sl, n->kind, n->key, n->keylen))
                slot_clear(sl);
        }
    }
    c->pending = snap + 1;
    pthread_mutex_unlock(&c->mu);
    c->nnotes = 0;
    c->all = 0;
    /* done with: a later one begins with scache_write_begin */
    __atomic_store_n(&c->wtxn, NULL, __ATOMIC_RELAXED);
}

void scache_commit_end(struct scache *c, int ok)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->pending) {
        if (ok && c->pending > c->newest)
            c->newest = c->pending;
        c->pending = 0;
    }
    pthread_mutex_unlock(&c->mu);
}

int scache_get(struct scache *c, MDB_txn *txn, unsigned kind, const void *key,
               size_t keylen, void *val, size_t cap, size_t *len)
{
    if (!c || keylen > SCACHE_KEY_MAX)
        return 0;
    int write = is_write(c, txn);
    if (write && noted(c, kind, key, keylen))
        return 0;
    uint64_t snap = snapshot_of(c, txn);
    struct slot *sl = slot_of(c, kind, key, keylen);
    int hit = 0;
    pthread_mutex_lock(&c->mu);
    see(c, snap);
    if (same(sl, kind, key, keylen) && sl->tag <= snap && sl->len <= cap) {
        if (sl->len)
            memcpy(val, sl->val, sl->len);
        *len = sl->len;
        hit = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void scache_put(struct scache *c, MDB_txn *txn, unsigned kind, const void *key,
                size_t keylen, const void *val, size_t len)
{
    if (!c || keylen > SCACHE_KEY_MAX || len > SCACHE_VALUE_MAX)
        return;
    if (is_write(c, txn) && noted(c, kind, key, keylen))
        return; /* its own change, not yet committed */
    uint64_t snap = snapshot_of(c, txn);
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return;
        memcpy(copy, val, len);
    }
    struct slot *sl = slot_of(c, kind, key, keylen);
    pthread_mutex_lock(&c->mu);
    see(c, snap);
    if (snap == c->newest && c->pending == 0) {
        slot_clear(sl);
        sl->kind = kind;
        sl->keylen = (uint8_t)keylen;
        memcpy(sl->key, key, keylen);
        sl->tag = snap;
        sl->len = len;
        sl->val = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (copy) {
        sodium_memzero(copy, len);
        free(copy);
    }
}

/*
 * rcache — see rcache.h.
 */
#include "store/rcache.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    unsigned db;
    size_t keylen;
    uint8_t key[RCACHE_KEY_MAX];
    size_t sealed_len;
    size_t plain_len;
    uint8_t *buf; /* sealed bytes, then the plaintext; NULL: empty */
};

struct rcache {
    pthread_mutex_t mu;
    struct slot slot[RCACHE_SLOTS];
};

struct rcache *rcache_new(void)
{
    struct rcache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void slot_clear(struct slot *sl)
{
    if (sl->buf) {
        sodium_memzero(sl->buf, sl->sealed_len + sl->plain_len);
        free(sl->buf);
    }
    sl->buf = NULL;
}

void rcache_free(struct rcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < RCACHE_SLOTS; i++)
        slot_clear(&c->slot[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* FNV-1a over the database and the key. */
static size_t slot_of(unsigned db, const uint8_t *key, size_t keylen)
{
    uint64_t h = 1469598103934665603ULL ^ db;
    for (size_t i = 0; i < keylen; i++) {
        h ^= key[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) % RCACHE_SLOTS;
}

static int fits(size_t keylen, size_t sealed_len)
{
    return keylen <= RCACHE_KEY_MAX && sealed_len <= RCACHE_RECORD_MAX;
}

int rcache_get(struct rcache *c, unsigned db, const void *key, size_t keylen,
               const void *sealed, size_t sealed_len, uint8_t **out, size_t *outlen)
{
    if (!c || !fits(keylen, sealed_len))
        return 0;
    struct slot *sl = &c->slot[slot_of(db, key, keylen)];
    int hit = 0;
    pthread_mutex_lock(&c->mu);
    if (sl->buf && sl->db == db && sl->keylen == keylen && sl->sealed_len == sealed_len &&
        memcmp(sl->key, key, keylen) == 0 && memcmp(sl->buf, sealed, sealed_len) == 0) {
        uint8_t *p = malloc(sl->plain_len ? sl->plain_len : 1);
        if (!p) {
            pthread_mutex_unlock(&c->mu);
            return -ENOMEM;
        }
        memcpy(p, sl->buf + sealed_len, sl->plain_len);
        *out = p;
        *outlen = sl->plain_len;
        hit = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void rcache_put(struct rcache *c, unsigned db, const void *key, size_t keylen,
                const void *sealed, size_t sealed_len, const void *plain, size_t plain_len)
{
    if (!c || !fits(keylen, sealed_len))
        return;
    uint8_t *buf = malloc(sealed_len + plain_len);
    if (!buf)
        return;
    memcpy(buf, sealed, sealed_len);
    memcpy(buf + sealed_len, plain, plain_len);
    struct slot *sl = &c->slot[slot_of(db, key, keylen)];
    pthread_mutex_lock(&c->mu);
    slot_clear(sl);
    sl->db = db;
    sl->keylen = keylen;
    memcpy(sl->key, key, keylen);
    sl->sealed_len = sealed_len;
    sl->plain_len = plain_len;
    sl->buf = buf;
    pthread_mutex_unlock(&c->mu);
}

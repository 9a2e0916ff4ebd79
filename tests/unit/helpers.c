/*
 * helpers — see helpers.h.
 */
#include "tests/unit/helpers.h"

#include "store/version.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/keys.h"

static char template_root[PATH_MAX];     /* the temporary directory */
static char template_dir[PATH_MAX + 16]; /* the store inside it */
static struct keys *template_keys;

/* Every test's directory lives inside the template's directory, which
 * main() removes at the end: a failing test stops at its assertion (with
 * _exit in fork mode, before any clean-up), and nothing is left behind. */
void helper_tmpdir(char *buf, size_t len)
{
    int n = template_root[0] ? snprintf(buf, len, "%s/t-XXXXXX", template_root)
                             : snprintf(buf, len, "/tmp/casefs-unit-XXXXXX");
    ck_assert_msg(n > 0 && (size_t)n < len, "temporary path too long");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -errno;
}

int helper_rm_rf(const char *path)
{
    if (!path || !*path || strcmp(path, "/") == 0)
        return -EINVAL;
    int rc = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == -1)
        return -errno;
    return rc;
}

int helper_store_create(const char *dir, struct store **out, struct store_actor *actor)
{
    store_actor_self(actor);
    int rc = store_create(dir, TEST_PASS, strlen(TEST_PASS), actor);
    if (rc)
        return rc;
    struct keys *k;
    rc = store_unlock(dir, TEST_PASS, strlen(TEST_PASS), &k);
    if (rc)
        return rc;
    return store_open(dir, k, 0, out);
}

void helpers_init(void)
{
    if (keys_init() != 0) {
        fprintf(stderr, "unit tests: libsodium failed to initialise\n");
        exit(1);
    }
    snprintf(template_root, sizeof template_root, "/tmp/casefs-unit-XXXXXX");
    if (!mkdtemp(template_root)) {
        fprintf(stderr, "unit tests: mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    snprintf(template_dir, sizeof template_dir, "%s/store", template_root);
    struct store_actor a;
    store_actor_self(&a);
    int rc = store_create(template_dir, TEST_PASS, strlen(TEST_PASS), &a);
    if (rc == 0)
        rc = store_unlock(template_dir, TEST_PASS, strlen(TEST_PASS), &template_keys);
    if (rc) {
        fprintf(stderr, "unit tests: cannot create the template store in %s: %s\n",
                template_dir, strerror(-rc));
        helper_rm_rf(template_root);
        exit(1);
    }
}

void helpers_cleanup(void)
{
    keys_free(template_keys);
    template_keys = NULL;
    if (template_root[0])
        helper_rm_rf(template_root);
    template_root[0] = '\0';
}

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            rc = -EIO;
            break;
        }
    }
    if (n < 0)
        rc = -errno;
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

void tstore_open(struct tstore *t)
{
    memset(t, 0, sizeof *t);
    ck_assert_msg(template_keys != NULL, "helpers_init was not called");
    helper_tmpdir(t->dir, sizeof t->dir);
    char from[PATH_MAX + 32], to[PATH_MAX + 16];
    snprintf(from, sizeof from, "%s/data.mdb", template_dir);
    snprintf(to, sizeof to, "%s/data.mdb", t->dir);
    int rc = copy_file(from, to);
    ck_assert_msg(rc == 0, "copying the template store: %s", strerror(-rc));
    tstore_reopen(t);
}

void tstore_reopen(struct tstore *t)
{
    ck_assert_msg(t->s == NULL, "tstore_reopen of an open store");
    struct keys *k;
    ck_assert_int_eq(keys_new_random(&k), 0);
    memcpy(k, template_keys, sizeof *k);
    int rc = store_open(t->dir, k, 0, &t->s);
    ck_assert_msg(rc == 0, "store_open of %s: %s", t->dir, strerror(-rc));
    store_actor_self(&t->actor);
}

void tstore_shut(struct tstore *t)
{
    store_close(t->s);
    t->s = NULL;
}

void tstore_close(struct tstore *t)
{
    tstore_shut(t);
    if (t->dir[0])
        helper_rm_rf(t->dir);
    t->dir[0] = '\0';
}

ssize_t raw_get(struct store *s, enum store_db db, const void *key, size_t keylen,
                uint8_t **out)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return -EIO;
    MDB_val k = {keylen, (void *)key}, v;
    rc = mdb_get(txn, s->dbi[db], &k, &v);
    ssize_t result;
    if (rc == MDB_NOTFOUND) {
        result = -ENOENT;
    } else if (rc) {
        result = -EIO;
    } else {
        *out = malloc(v.mv_size ? v.mv_size : 1);
        if (*out) {
            memcpy(*out, v.mv_data, v.mv_size);
            result = (ssize_t)v.mv_size;
        } else {
            result = -ENOMEM;
        }
    }
    mdb_txn_abort(txn);
    return result;
}

int raw_put(struct store *s, enum store_db db, const void *key, size_t keylen,
            const void *val, size_t vallen)
{
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, 0, &txn))
        return -EIO;
    MDB_val k = {keylen, (void *)key}, v = {vallen, (void *)val};
    int rc = mdb_put(txn, s->dbi[db], &k, &v, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return -EIO;
    }
    return mdb_txn_commit(txn) ? -EIO : 0;
}

int raw_del(struct store *s, enum store_db db, const void *key, size_t keylen)
{
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, 0, &txn))
        return -EIO;
    MDB_val k = {keylen, (void *)key};
    int rc = mdb_del(txn, s->dbi[db], &k, NULL);
    if (rc) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? -ENOENT : -EIO;
    }
    return mdb_txn_commit(txn) ? -EIO : 0;
}

int raw_flip(struct store *s, enum store_db db, const void *key, size_t keylen,
             size_t off, uint8_t mask)
{
    uint8_t *v;
    ssize_t n = raw_get(s, db, key, keylen, &v);
    if (n < 0)
        return (int)n;
    if (off >= (size_t)n) {
        free(v);
        return -ERANGE;
    }
    v[off] ^= mask;
    int rc = raw_put(s, db, key, keylen, v, (size_t)n);
    free(v);
    return rc;
}

size_t raw_count(struct store *s, enum store_db db)
{
    MDB_txn *txn;
    MDB_stat st;
    ck_assert_int_eq(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_stat(txn, s->dbi[db], &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

int file_contains(const char *path, const void *needle, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int found = memmem(buf, got, needle, n) != NULL;
    free(buf);
    return found;
}

void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    /* splitmix64: reproducible, and good enough to defeat any chunker. */
    uint64_t x = seed;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        for (size_t j = 0; j < 8 && i + j < n; j++)
            p[i + j] = (uint8_t)(z >> (8 * j));
    }
}

static int list_add(void *arg, uint32_t i, const struct version_chunk *c)
{
    ((struct version_chunk *)arg)[i] = *c;
    return 0;
}

struct version_chunk *test_version_list(struct store *s, MDB_txn *txn,
                                        const struct version *v)
{
    struct version_chunk *c = calloc(v->nchunks ? v->nchunks : 1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(version_each_chunk(s, txn, v, list_add, c), 0);
    return c;
}

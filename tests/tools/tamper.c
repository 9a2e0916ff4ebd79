/*
 * cfs-tamper — damages a casefs store on purpose, for the tests that prove
 * damage is found.  It knows LMDB, not casefs: records are addressed by
 * database name and 1-based position in key order.
 *
 *   cfs-tamper STORE list DB               index, key size, value size
 *   cfs-tamper STORE flip DB N OFFSET      flip one bit of value N at OFFSET
 *                                          (negative OFFSET: from the end)
 *   cfs-tamper STORE delete DB N           remove record N
 *   cfs-tamper STORE swap DB N M           exchange the values of N and M
 *   cfs-tamper STORE cut DB N              remove records N and after
 *   cfs-tamper STORE biggest DB            index of the largest value
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what, int rc)
{
    fprintf(stderr, "cfs-tamper: %s: %s\n", what,
            rc ? mdb_strerror(rc) : "bad arguments");
    return 2;
}

/* Positions a cursor on record n (1-based). */
static int seek(MDB_cursor *c, long n, MDB_val *k, MDB_val *v)
{
    int rc = mdb_cursor_get(c, k, v, MDB_FIRST);
    for (long i = 1; rc == 0 && i < n; i++)
        rc = mdb_cursor_get(c, k, v, MDB_NEXT);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return die("usage: cfs-tamper STORE list|flip|delete|swap|cut|biggest DB ...", 0);
    const char *dir = argv[1], *cmd = argv[2], *db = argv[3];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    int rc = mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, (size_t)1 << 40);
    if (rc || (rc = mdb_env_open(env, dir, 0, 0600)))
        return die("open", rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, db, 0, &dbi)) || (rc = mdb_cursor_open(txn, dbi, &c)))
        return die(db, rc);
    MDB_val k, v;
    if (strcmp(cmd, "list") == 0 || strcmp(cmd, "biggest") == 0) {
        long i = 1, best = 0;
        size_t bestsize = 0;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), i++) {
            if (cmd[0] == 'l')
                printf("%ld\t%zu\t%zu\n", i, k.mv_size, v.mv_size);
            if (v.mv_size > bestsize) {
                bestsize = v.mv_size;
                best = i;
            }
        }
        if (cmd[0] == 'b')
            printf("%ld\n", best);
        mdb_cursor_close(c);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        return 0;
    }
    long n = argc > 4 ? atol(argv[4]) : 0;
    if (n < 1)
        return die(cmd, 0);
    if ((rc = seek(c, n, &k, &v)))
        return die("record", rc);
    if (strcmp(cmd, "flip") == 0 && argc > 5) {
        long off = atol(argv[5]);
        if (off < 0)
            off += (long)v.mv_size;
        if (off < 0 || (size_t)off >= v.mv_size)
            return die("offset", 0);
        unsigned char *copy = malloc(v.mv_size);
        memcpy(copy, v.mv_data, v.mv_size);
        copy[off] ^= 0x01;
        MDB_val nv = {v.mv_size, copy};
        rc = mdb_cursor_put(c, &k, &nv, MDB_CURRENT);
        free(copy);
    } else if (strcmp(cmd, "delete") == 0) {
        rc = mdb_cursor_del(c, 0);
    } else if (strcmp(cmd, "cut") == 0) {
        while (rc == 0) {
            rc = mdb_cursor_del(c, 0);
            if (rc == 0)
                rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
        }
        if (rc == MDB_NOTFOUND || rc == EINVAL)
            rc = 0;
    } else if (strcmp(cmd, "swap") == 0 && argc > 5) {
        long m = atol(argv[5]);
        MDB_val k2, v2;
        void *a = malloc(v.mv_size), *ka = malloc(k.mv_size);
        size_t alen = v.mv_size, kalen = k.mv_size;
        memcpy(a, v.mv_data, alen);
        memcpy(ka, k.mv_data, kalen);
        if ((rc = seek(c, m, &k2, &v2)))
            return die("record", rc);
        void *b = malloc(v2.mv_size), *kb = malloc(k2.mv_size);
        size_t blen = v2.mv_size, kblen = k2.mv_size;
        memcpy(b, v2.mv_data, blen);
        memcpy(kb, k2.mv_data, kblen);
        MDB_val K1 = {kalen, ka}, V1 = {blen, b}, K2 = {kblen, kb}, V2 = {alen, a};
        rc = mdb_put(txn, dbi, &K1, &V1, 0);
        if (rc == 0)
            rc = mdb_put(txn, dbi, &K2, &V2, 0);
        free(a);
        free(ka);
        free(b);
        free(kb);
    } else {
        return die(cmd, 0);
    }
    if (rc)
        return die(cmd, rc);
    mdb_cursor_close(c);
    if ((rc = mdb_txn_commit(txn)))
        return die("commit", rc);
    mdb_env_close(env);
    return 0;
}

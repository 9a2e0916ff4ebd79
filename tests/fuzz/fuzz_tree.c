/*
 * fuzz_tree — path handling of the tree layer (store/tree.c): the paths
 * the FUSE adapter passes on unchanged from the kernel and that the
 * command line takes from users.
 *
 * One store per process (fuzz_common.h), with a case "/fz" holding a
 * document "/fz/doc.txt" (two versions) and a folder "/fz/dir", so that
 * mutated paths reach existing names and the ".versions" views.
 *
 * Input: a sequence of operations, each one byte followed by its
 * NUL-terminated path arguments:
 *   op % 12: 0 getattr P, 1 mkdir P, 2 create P (+ write, release),
 *            3 rename P Q, 4 unlink P, 5 rmdir P, 6 readdir P,
 *            7 getxattr P NAME, 8 open P (+ read, release), 9 truncate P,
 *            10 access P, 11 tree_find P
 *   op & 0x80: as an unprivileged user (uid 4242) instead of the test actor.
 *   op & 0x40: RENAME_NOREPLACE for rename.
 * Checks: every result is 0, a count or a negative errno; every name
 * readdir lists can be looked up again; every log entry the operations
 * appended can be read back (fuzz_log_check_tail).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/tree.h"
#include "tests/fuzz/fuzz_common.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 12
#define LIST_MAX 32

struct listing {
    int n;
    char *names[LIST_MAX];
};

static int collect(void *arg, const char *name, const struct tree_attr *attr)
{
    struct listing *l = arg;
    (void)attr;
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    if (l->n == LIST_MAX)
        return 1;
    l->names[l->n] = strdup(name);
    if (!l->names[l->n])
        abort();
    l->n++;
    return 0;
}

static void write_version(struct fuzz_store *f, const char *path, const char *text)
{
    struct tree_handle *h;
    int rc = tree_open(f->t, &f->root, path, O_WRONLY | O_TRUNC, &h);
    FUZZ_CHECK(rc == 0, "open %s: %d", path, rc);
    FUZZ_CHECK(tree_write(f->t, h, text, strlen(text), 0) == (ssize_t)strlen(text),
               "write");
    FUZZ_CHECK(tree_release(f->t, h) == 0, "release");
}

static void seed_tree(struct fuzz_store *f)
{
    static int done;
    if (done)
        return;
    done = 1;
    struct tree_handle *h;
    FUZZ_CHECK(tree_mkdir(f->t, &f->root, "/fz", 0775) == 0, "mkdir /fz");
    FUZZ_CHECK(tree_mkdir(f->t, &f->root, "/fz/dir", 0775) == 0, "mkdir /fz/dir");
    int rc = tree_create(f->t, &f->root, "/fz/doc.txt", 0664, O_WRONLY | O_CREAT, &h);
    FUZZ_CHECK(rc == 0, "create /fz/doc.txt: %d", rc);
    FUZZ_CHECK(tree_write(f->t, h, "one\n", 4, 0) == 4, "write");
    FUZZ_CHECK(tree_release(f->t, h) == 0, "release");
    write_version(f, "/fz/doc.txt", "two\n");
    fuzz_log_check_tail(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_store *f = fuzz_store_get();
    seed_tree(f);
    struct fuzz_in in = {data, size};
    for (int i = 0; i < MAX_OPS && in.left; i++) {
        uint8_t op = fuzz_u8(&in);
        struct store_actor *a = (op & 0x80) ? &f->user : &f->root;
        char *p = fuzz_str(&in, NULL);
        long rc = 0;
        switch (op % 12) {
        case 0: {
            struct tree_attr at;
            rc = tree_getattr(f->t, a, p, NULL, &at);
            break;
        }
        case 1:
            rc = tree_mkdir(f->t, a, p, 0775);
            break;
        case 2: {
            struct tree_handle *h = NULL;
            rc = tree_create(f->t, a, p, 0664, O_WRONLY | O_CREAT, &h);
            if (rc == 0) {
                FUZZ_CHECK(h != NULL, "create gave no handle");
                ssize_t w = tree_write(f->t, h, p, strlen(p), 0);
                FUZZ_CHECK(fuzz_errno_ok(w), "write %zd", w);
                int r2 = tree_release(f->t, h);
                FUZZ_CHECK(fuzz_errno_ok(r2), "release %d", r2);
            }
            break;
        }
        case 3: {
            char *q = fuzz_str(&in, NULL);
            rc = tree_rename(f->t, a, p, q, (op & 0x40) ? RENAME_NOREPLACE : 0);
            free(q);
            break;
        }
        case 4:
            rc = tree_unlink(f->t, a, p);
            break;
        case 5:
            rc = tree_rmdir(f->t, a, p);
            break;
        case 6: {
            struct listing l = {0};
            rc = tree_readdir(f->t, a, p, collect, &l);
            for (int j = 0; j < l.n; j++) {
                if (rc == 0 && a == &f->root) {
                    size_t len = strlen(p) + strlen(l.names[j]) + 2;
                    char *child = malloc(len);
                    if (!child)
                        abort();
                    snprintf(child, len, "%s/%s", p, l.names[j]);
                    struct tree_attr at;
                    int r2 = tree_getattr(f->t, a, child, NULL, &at);
                    FUZZ_CHECK(r2 == 0 || r2 == -ENAMETOOLONG,
                               "readdir of '%s' lists '%s', whose getattr gives %d", p,
                               l.names[j], r2);
                    free(child);
                }
                free(l.names[j]);
            }
            break;
        }
        case 7: {
            char *name = fuzz_str(&in, NULL);
            char buf[2048];
            rc = tree_getxattr(f->t, a, p, name, buf, sizeof buf);
            FUZZ_CHECK(rc < (long)sizeof buf, "getxattr %ld", rc);
            ssize_t l = tree_listxattr(f->t, a, p, buf, sizeof buf);
            FUZZ_CHECK(fuzz_errno_ok(l) && l < (ssize_t)sizeof buf, "listxattr %zd", l);
            free(name);
            break;
        }
        case 8: {
            struct tree_handle *h = NULL;
            rc = tree_open(f->t, a, p, O_RDONLY, &h);
            if (rc == 0) {
                char buf[256];
                ssize_t r = tree_read(f->t, h, buf, sizeof buf, 0);
                FUZZ_CHECK(fuzz_errno_ok(r) && r <= (ssize_t)sizeof buf, "read %zd", r);
                char hp[4096];
                int r3 = tree_handle_path(f->t, h, hp, sizeof hp);
                FUZZ_CHECK(fuzz_errno_ok(r3), "handle_path %d", r3);
                int r2 = tree_release(f->t, h);
                FUZZ_CHECK(fuzz_errno_ok(r2), "release %d", r2);
            }
            break;
        }
        case 9:
            rc = tree_truncate(f->t, a, p, NULL, strlen(p) % 7);
            break;
        case 10:
            rc = tree_access(f->t, a, p, (op >> 4) & 7);
            break;
        case 11: {
            MDB_txn *txn;
            if (store_txn_begin(f->s, 1, &txn) != 0)
                abort();
            struct node n;
            memset(&n, 0, sizeof n);
            rc = tree_find(f->s, txn, p, &n);
            if (rc == 0)
                node_clear(&n);
            store_txn_abort(txn);
            break;
        }
        }
        FUZZ_CHECK(fuzz_errno_ok(rc), "op %u on '%s' returned %ld", op % 12, p, rc);
        free(p);
    }
    fuzz_log_check_tail(f);
    return 0;
}

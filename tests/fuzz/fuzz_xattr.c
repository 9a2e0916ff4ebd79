/*
 * fuzz_xattr — extended attribute values: tree_setxattr of
 * user.casefs.reason (the reason a caseworker attaches before removing a
 * document), read back with tree_getxattr and tree_listxattr, and removed.
 *
 * Input: byte 0: bits 0-1 pick the target (case folder, document, folder,
 * root), bit 2 the unprivileged actor, bits 3-4 the flags (XATTR_CREATE,
 * XATTR_REPLACE), bit 5 a name from the input instead of
 * user.casefs.reason, bit 6 remove it afterwards.  Then the name (when bit
 * 5), NUL-terminated, then the value (the rest, any bytes).
 * Checks: an accepted value reads back byte for byte; results are errno
 * values; every log entry appended reads back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "store/tree.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const targets[] = {"/xa", "/xa/doc.txt", "/xa/dir", "/"};

static void seed(struct fuzz_store *f)
{
    static int done;
    if (done)
        return;
    done = 1;
    struct tree_handle *h;
    FUZZ_CHECK(tree_mkdir(f->t, &f->root, "/xa", 0775) == 0, "mkdir /xa");
    FUZZ_CHECK(tree_mkdir(f->t, &f->root, "/xa/dir", 0775) == 0, "mkdir /xa/dir");
    int rc = tree_create(f->t, &f->root, "/xa/doc.txt", 0664, O_WRONLY | O_CREAT, &h);
    FUZZ_CHECK(rc == 0, "create: %d", rc);
    FUZZ_CHECK(tree_write(f->t, h, "text\n", 5, 0) == 5, "write");
    FUZZ_CHECK(tree_release(f->t, h) == 0, "release");
    fuzz_log_check_tail(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_store *f = fuzz_store_get();
    seed(f);
    if (size < 1)
        return 0;
    struct fuzz_in in = {data, size};
    uint8_t ctl = fuzz_u8(&in);
    const char *path = targets[ctl & 3];
    struct store_actor *a = (ctl & 4) ? &f->user : &f->root;
    int flags = ((ctl >> 3) & 1 ? XATTR_CREATE : 0) | ((ctl >> 4) & 1 ? XATTR_REPLACE : 0);
    char *name = (ctl & 0x20) ? fuzz_str(&in, NULL) : strdup("user.casefs.reason");
    if (!name)
        abort();
    const char *value = (const char *)in.p;
    size_t vlen = in.left;

    char before[2048];
    ssize_t had = tree_getxattr(f->t, &f->root, path, "user.casefs.reason", before,
                                sizeof before);
    int rc = tree_setxattr(f->t, a, path, name, value, vlen, flags);
    FUZZ_CHECK(fuzz_errno_ok(rc) && rc <= 0, "setxattr returned %d", rc);
    char buf[2048];
    ssize_t got = tree_getxattr(f->t, &f->root, path, "user.casefs.reason", buf, sizeof buf);
    FUZZ_CHECK(fuzz_errno_ok(got) && got < (ssize_t)sizeof buf, "getxattr %zd", got);
    if (rc == 0) {
        FUZZ_CHECK(strcmp(name, "user.casefs.reason") == 0, "accepted name '%s'", name);
        FUZZ_CHECK(got == (ssize_t)vlen && memcmp(buf, value, vlen) == 0,
                   "set %zu bytes, read back %zd", vlen, got);
        /* The size probe (size 0) and a too small buffer. */
        ssize_t probe = tree_getxattr(f->t, &f->root, path, "user.casefs.reason", NULL, 0);
        FUZZ_CHECK(probe == (ssize_t)vlen, "size probe %zd", probe);
        if (vlen > 1) {
            ssize_t small = tree_getxattr(f->t, &f->root, path, "user.casefs.reason", buf,
                                          vlen - 1);
            FUZZ_CHECK(small == -ERANGE, "small buffer gave %zd", small);
        }
    } else {
        /* A refused value changes nothing. */
        FUZZ_CHECK(got == had && (got <= 0 || memcmp(buf, before, (size_t)got) == 0),
                   "refused setxattr (%d) changed the reason", rc);
    }
    char list[512];
    ssize_t l = tree_listxattr(f->t, a, path, list, sizeof list);
    FUZZ_CHECK(fuzz_errno_ok(l) && l < (ssize_t)sizeof list, "listxattr %zd", l);
    if (l > 0)
        FUZZ_CHECK(list[l - 1] == '\0', "list not NUL-terminated");
    if (ctl & 0x40) {
        rc = tree_removexattr(f->t, a, path, name);
        FUZZ_CHECK(fuzz_errno_ok(rc) && rc <= 0, "removexattr returned %d", rc);
    }
    free(name);
    fuzz_log_check_tail(f);
    return 0;
}

/*
 * tree: the mount's rules without FUSE.  Each test plays what a user or an
 * editor does through the file system (create, write, close, rename,
 * remove) and checks what DESIGN.md promises: every save is one version
 * and every version reads back byte for byte, a removal is a retraction
 * request and the content stays, editors' scratch files leave no trace,
 * cases do not exchange documents, and refusals are logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/log.h"
#include "store/names.h"
#include "store/retract.h"
#include "store/tree.h"
#include "tests/unit/helpers.h"

static struct tstore ts;
static struct tree *tr;
static struct store_actor root;

static void tree_setup(void)
{
    tstore_open(&ts);
    ck_assert_int_eq(tree_new(ts.s, &tr), 0);
    store_actor_fill(&root, 0, 0, (uint32_t)getpid());
}

static void tree_teardown(void)
{
    tree_free(tr);
    tr = NULL;
    tstore_close(&ts);
}

static void write_all(struct tree_handle *h, const void *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t piece = n - off < 50000 ? n - off : 50000; /* like FUSE's requests */
        ck_assert_int_eq(tree_write(tr, h, (const uint8_t *)p + off, piece, off),
                         (ssize_t)piece);
        off += piece;
    }
}

/* One save as an editor does it: open (or create), write, close. */
static void save(struct store_actor *a, const char *path, const void *p, size_t n,
                 int create)
{
    struct tree_handle *h = NULL;
    if (create)
        ck_assert_int_eq(tree_create(tr, a, path, 0640, O_WRONLY | O_CREAT | O_TRUNC, &h),
                         0);
    else
        ck_assert_int_eq(tree_open(tr, a, path, O_WRONLY | O_TRUNC, &h), 0);
    write_all(h, p, n);
    ck_assert_int_eq(tree_flush(tr, h), 0);
    ck_assert_int_eq(tree_release(tr, h), 0);
}

/* Reads a whole file through the tree; NULL with *err on failure. */
static uint8_t *read_path(const char *path, size_t *len, int *err)
{
    struct tree_handle *h = NULL;
    *err = tree_open(tr, &root, path, O_RDONLY, &h);
    if (*err)
        return NULL;
    size_t cap = 4096, off = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (off == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = tree_read(tr, h, buf + off, cap - off, off);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        off += (size_t)n;
    }
    ck_assert_int_eq(tree_release(tr, h), 0);
    *len = off;
    return buf;
}

static void expect_content(const char *path, const void *want, size_t n)
{
    size_t len = 0;
    int err = 0;
    uint8_t *got = read_path(path, &len, &err);
    ck_assert_msg(err == 0, "open %s: %s", path, strerror(-err));
    ck_assert_msg(len == n, "%s: %zu bytes, expected %zu", path, len, n);
    ck_assert_mem_eq(got, want, n);
    free(got);
}

static struct node find(const char *path)
{
    MDB_txn *txn;
    struct node n;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    int rc = tree_find(ts.s, txn, path, &n);
    store_txn_abort(txn);
    ck_assert_msg(rc == 0, "tree_find %s: %s", path, strerror(-rc));
    return n;
}

/* Version `number` of the document at path, as stored. */
static struct version stored_version(const char *path, uint32_t number)
{
    struct node n = find(path);
    MDB_txn *txn;
    struct version ver;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(version_get(ts.s, txn, n.id, number, &ver), 0);
    store_txn_abort(txn);
    node_clear(&n);
    return ver;
}

static uint32_t version_of(const char *path)
{
    struct node n = find(path);
    uint32_t v = n.version;
    node_clear(&n);
    return v;
}

struct requests {
    int count;
    uint64_t node[8];
    uint32_t version[8];
    char path[8][128];
    uint8_t state[8];
    uint32_t uid[8];
};

static int collect_request(const struct retraction *r, void *arg)
{
    struct requests *q = arg;
    if (q->count < 8) {
        q->node[q->count] = r->node;
        q->version[q->count] = r->version;
        q->state[q->count] = r->state;
        q->uid[q->count] = r->uid;
        snprintf(q->path[q->count], sizeof q->path[0], "%s", r->path);
    }
    q->count++;
    return 0;
}

static struct requests requests(void)
{
    struct requests q;
    memset(&q, 0, sizeof q);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(retract_each(ts.s, txn, collect_request, &q), 0);
    store_txn_abort(txn);
    return q;
}

struct listing {
    int count;
    char names[16][64];
};

static int fill(void *arg, const char *name, const struct tree_attr *attr)
{
    (void)attr;
    struct listing *l = arg;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    if (l->count < 16)
        snprintf(l->names[l->count], sizeof l->names[0], "%s", name);
    l->count++;
    return 0;
}

static int listed(const struct listing *l, const char *name)
{
    for (int i = 0; i < l->count && i < 16; i++)
        if (strcmp(l->names[i], name) == 0)
            return 1;
    return 0;
}

static struct listing list(const char *path)
{
    struct listing l;
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(tree_readdir(tr, &root, path, fill, &l), 0);
    return l;
}

static const char V1[] = "First note: the family was visited on Monday.\n";
static const char V2[] = "First note: the family was visited on Tuesday.\n";
static const char V3[] = "First note: the family was visited on Tuesday.\nSecond note.\n";

/* Walks the whole log with fn (the chain must verify). */
static void walk_log(log_each_fn fn, void *arg)
{
    MDB_txn *txn;
    uint64_t bad = 0;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(log_each(ts.s, txn, fn, arg, &bad), 0);
    store_txn_abort(txn);
}

struct oplist {
    char ops[16][16];
    int n;
};

static int list_ops_for(const struct log_entry *e, void *arg)
{
    struct oplist *l = arg;
    if (strcmp(e->path, "case/tar.txt") == 0 && e->result == 0 && l->n < 16)
        snprintf(l->ops[l->n++], sizeof l->ops[0], "%s", e->op);
    return 0;
}

/* tar x and cp -a set time, owner and mode on the descriptor they are
 * writing through: those changes are shown at once, enforced at once, and
 * committed with the content at the close, each logged before the version
 * (one commit for the whole save). */
START_TEST(test_tree_metadata_of_open_document_commits_with_it)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0755), 0);
    ck_assert_int_eq(tree_chmod(tr, &root, "/case", 0755), 0); /* a case drops "other" */
    struct tree_handle *h = NULL;
    ck_assert_int_eq(
        tree_create(tr, &root, "/case/tar.txt", 0600, O_WRONLY | O_CREAT | O_EXCL, &h), 0);
    write_all(h, V1, sizeof V1 - 1);
    struct timespec when[2] = {{0, UTIME_OMIT}, {1700000000, 5}};
    ck_assert_int_eq(tree_utimens(tr, &root, "/case/tar.txt", when), 0);
    ck_assert_int_eq(tree_chown(tr, &root, "/case/tar.txt", 1000, 1000), 0);
    ck_assert_int_eq(tree_chmod(tr, &root, "/case/tar.txt", 0640), 0);
    /* shown before the close, through the path and the handle */
    struct tree_attr at;
    ck_assert_int_eq(tree_getattr(tr, &root, "/case/tar.txt", NULL, &at), 0);
    ck_assert_uint_eq(at.mode & 07777, 0640);
    ck_assert_uint_eq(at.uid, 1000);
    ck_assert_int_eq(at.mtime_sec, 1700000000);
    ck_assert_int_eq(tree_getattr(tr, &root, NULL, h, &at), 0);
    ck_assert_uint_eq(at.mode & 07777, 0640);
    ck_assert_uint_eq(at.size, sizeof V1 - 1);
    /* enforced before the close: the new owner may now chmod it, another
     * user may read it through the group bit only */
    struct store_actor owner, other;
    store_actor_fill(&owner, 1000, 1000, (uint32_t)getpid());
    store_actor_fill(&other, 2000, 2000, (uint32_t)getpid());
    owner.ngroups = other.ngroups = 0;
    struct tree_handle *r = NULL;
    ck_assert_int_eq(tree_open(tr, &other, "/case/tar.txt", O_RDONLY, &r), -EACCES);
    ck_assert_int_eq(tree_chmod(tr, &owner, "/case/tar.txt", 0644), 0);
    ck_assert_int_eq(tree_open(tr, &other, "/case/tar.txt", O_RDONLY, &r), 0);
    ck_assert_int_eq(tree_release(tr, r), 0);
    struct oplist l;
    memset(&l, 0, sizeof l);
    walk_log(list_ops_for, &l);
    ck_assert_int_eq(l.n, 2); /* create and the other user's open: nothing else yet */
    ck_assert_int_eq(tree_release(tr, h), 0);
    struct node n = find("/case/tar.txt");
    ck_assert_uint_eq(n.mode & 07777, 0644);
    ck_assert_uint_eq(n.uid, 1000);
    ck_assert_uint_eq(n.gid, 1000);
    ck_assert_int_eq(n.mtime_sec, 1700000000);
    ck_assert_uint_eq(n.version, 1);
    node_clear(&n);
    memset(&l, 0, sizeof l);
    walk_log(list_ops_for, &l);
    const char *want[] = {"create", "open", "utimens", "chown", "chmod", "chmod", "version"};
    ck_assert_int_eq(l.n, 7);
    for (int i = 0; i < 7; i++)
        ck_assert_str_eq(l.ops[i], want[i]);
    /* once closed, a change is committed at once */
    ck_assert_int_eq(tree_chmod(tr, &root, "/case/tar.txt", 0600), 0);
    n = find("/case/tar.txt");
    ck_assert_uint_eq(n.mode & 07777, 0600);
    node_clear(&n);
}
END_TEST

/* Another process's change (an administrator narrowing access while a
 * caseworker still writes) is committed at once, not at the writer's
 * close. */
START_TEST(test_tree_metadata_by_other_process_commits_at_once)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0755), 0);
    struct tree_handle *h = NULL;
    ck_assert_int_eq(
        tree_create(tr, &root, "/case/tar.txt", 0644, O_WRONLY | O_CREAT | O_EXCL, &h), 0);
    write_all(h, V1, sizeof V1 - 1);
    struct store_actor admin = root;
    admin.pid = root.pid + 1;
    ck_assert_int_eq(tree_chmod(tr, &admin, "/case/tar.txt", 0600), 0);
    struct node n = find("/case/tar.txt");
    ck_assert_uint_eq(n.mode & 07777, 0600); /* in the store already */
    ck_assert_uint_eq(n.version, 0);
    node_clear(&n);
    ck_assert_int_eq(tree_release(tr, h), 0);
    n = find("/case/tar.txt");
    ck_assert_uint_eq(n.mode & 07777, 0600);
    ck_assert_uint_eq(n.version, 1);
    node_clear(&n);
}
END_TEST

START_TEST(test_tree_three_saves_three_versions)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 1);
    save(&root, "/case/doc.txt", V2, sizeof V2 - 1, 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 2);
    /* The third one big enough to span several chunks. */
    size_t big = 300 * 1024;
    uint8_t *p3 = malloc(big);
    fill_random(p3, big, 3);
    memcpy(p3, V3, sizeof V3 - 1);
    save(&root, "/case/doc.txt", p3, big, 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 3);

    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
    expect_content("/case/.versions/doc.txt/v2.txt", V2, sizeof V2 - 1);
    expect_content("/case/.versions/doc.txt/v3.txt", p3, big);
    expect_content("/case/doc.txt", p3, big);
    size_t len;
    int err;
    ck_assert_ptr_null(read_path("/case/.versions/doc.txt/v4.txt", &len, &err));
    ck_assert_int_eq(err, -ENOENT);
    ck_assert_ptr_null(read_path("/case/.versions/doc.txt/v1.docx", &len, &err));
    ck_assert_int_eq(err, -ENOENT);

    struct listing l = list("/case/.versions/doc.txt");
    ck_assert_int_eq(l.count, 3);
    ck_assert(listed(&l, "v1.txt") && listed(&l, "v2.txt") && listed(&l, "v3.txt"));
    l = list("/case");
    ck_assert_int_eq(l.count, 1);
    ck_assert(listed(&l, "doc.txt"));

    struct tree_attr at;
    ck_assert_int_eq(tree_getattr(tr, &root, "/case/doc.txt", NULL, &at), 0);
    ck_assert_uint_eq(at.size, big);
    ck_assert(S_ISREG(at.mode));
    ck_assert_int_eq(tree_getattr(tr, &root, "/case/.versions/doc.txt/v2.txt", NULL, &at),
                     0);
    ck_assert_uint_eq(at.size, sizeof V2 - 1);
    free(p3);
}
END_TEST

START_TEST(test_tree_versions_are_read_only)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct tree_handle *h = NULL;
    ck_assert_int_eq(tree_open(tr, &root, "/case/.versions/doc.txt/v1.txt", O_WRONLY, &h),
                     -EROFS);
    ck_assert_int_eq(tree_open(tr, &root, "/case/.versions/doc.txt/v1.txt", O_RDWR, &h),
                     -EROFS);
    ck_assert_int_eq(tree_create(tr, &root, "/case/.versions/doc.txt/v9.txt", 0640,
                                 O_WRONLY | O_CREAT, &h),
                     -EROFS);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/.versions/doc.txt/v1.txt"), -EROFS);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 1);
    expect_content("/case/doc.txt", V1, sizeof V1 - 1);
}
END_TEST

START_TEST(test_tree_open_close_without_write_no_version)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    size_t versions = raw_count(ts.s, STORE_DB_VERSIONS);
    static const int modes[] = {O_RDONLY, O_WRONLY, O_RDWR};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        struct tree_handle *h = NULL;
        ck_assert_int_eq(tree_open(tr, &root, "/case/doc.txt", modes[i], &h), 0);
        ck_assert_int_eq(tree_flush(tr, h), 0);
        ck_assert_int_eq(tree_release(tr, h), 0);
    }
    ck_assert_uint_eq(version_of("/case/doc.txt"), 1);
    ck_assert_uint_eq(raw_count(ts.s, STORE_DB_VERSIONS), versions);
    /* Saving the same bytes again is no version either. */
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 1);
    ck_assert_uint_eq(raw_count(ts.s, STORE_DB_VERSIONS), versions);
}
END_TEST

START_TEST(test_tree_handles_share_content)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct tree_handle *w = NULL, *r = NULL;
    ck_assert_int_eq(tree_open(tr, &root, "/case/doc.txt", O_WRONLY, &w), 0);
    ck_assert_int_eq(tree_open(tr, &root, "/case/doc.txt", O_RDONLY, &r), 0);
    ck_assert_int_eq(tree_write(tr, w, "Second", 6, 0), 6);
    char buf[16];
    ck_assert_int_eq(tree_read(tr, r, buf, 6, 0), 6);
    ck_assert_mem_eq(buf, "Second", 6);
    ck_assert_int_eq(tree_write(tr, r, "x", 1, 0), -EBADF);
    ck_assert_int_eq(tree_release(tr, r), 0);
    ck_assert_int_eq(tree_flush(tr, w), 0);
    ck_assert_int_eq(tree_release(tr, w), 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 2);
}
END_TEST

START_TEST(test_tree_unlink_makes_request_content_stays)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    save(&root, "/case/doc.txt", V2, sizeof V2 - 1, 0);
    save(&root, "/case/doc.txt", V3, sizeof V3 - 1, 0);
    struct node before = find("/case/doc.txt");
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/doc.txt"), 0);

    struct requests q = requests();
    ck_assert_int_eq(q.count, 1);
    ck_assert_str_eq(q.path[0], "case/doc.txt");
    ck_assert_uint_eq(q.version[0], 3);
    ck_assert_uint_eq(q.node[0], before.id);
    ck_assert_uint_eq(q.state[0], RETRACT_PENDING);
    ck_assert_uint_eq(q.uid[0], 0);

    /* Gone from the live view at once... */
    struct tree_attr at;
    ck_assert_int_eq(tree_getattr(tr, &root, "/case/doc.txt", NULL, &at), -ENOENT);
    struct listing l = list("/case");
    ck_assert_int_eq(l.count, 0);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/doc.txt"), -ENOENT);

    /* ...but every version is still stored and readable. */
    struct node n = find("/case/doc.txt");
    ck_assert_uint_eq(n.id, before.id);
    ck_assert_uint_eq(n.state, NODE_PENDING);
    ck_assert_uint_eq(n.version, 3);
    const char *want[] = {V1, V2, V3};
    for (uint32_t v = 1; v <= 3; v++) {
        MDB_txn *txn;
        struct version ver;
        struct doc *d = NULL;
        ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
        ck_assert_int_eq(version_get(ts.s, txn, n.id, v, &ver), 0);
        ck_assert_uint_eq(ver.size, strlen(want[v - 1]));
        ck_assert_int_eq(doc_new(ts.s, txn, n.id, v, &d), 0);
        store_txn_abort(txn);
        char buf[128];
        ck_assert_int_eq(doc_read(ts.s, d, buf, sizeof buf, 0), (ssize_t)ver.size);
        ck_assert_mem_eq(buf, want[v - 1], ver.size);
        doc_free(d);
        version_clear(&ver);
    }
    node_clear(&n);
    node_clear(&before);
}
END_TEST

START_TEST(test_tree_recreate_after_unlink_continues_history)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct node before = find("/case/doc.txt");
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/doc.txt"), 0);
    save(&root, "/case/doc.txt", V2, sizeof V2 - 1, 1);
    struct node after = find("/case/doc.txt");
    ck_assert_uint_eq(after.id, before.id);
    ck_assert_uint_eq(after.version, 2);
    ck_assert_uint_eq(after.state, NODE_LIVE);
    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
    expect_content("/case/doc.txt", V2, sizeof V2 - 1);
    node_clear(&before);
    node_clear(&after);
}
END_TEST

START_TEST(test_tree_transient_unlink_no_request)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    static const char *const scratch[] = {"/case/x.tmp", "/case/4913",
                                          "/case/.doc.txt.swp", "/case/doc.txt~",
                                          "/case/.~lock.doc.odt#"};
    for (size_t i = 0; i < sizeof scratch / sizeof *scratch; i++) {
        save(&root, scratch[i], "scratch", 7, 1);
        ck_assert_int_eq(tree_unlink(tr, &root, scratch[i]), 0);
        struct tree_attr at;
        ck_assert_int_eq(tree_getattr(tr, &root, scratch[i], NULL, &at), -ENOENT);
    }
    struct requests q = requests();
    ck_assert_int_eq(q.count, 0);
    struct listing l = list("/case");
    ck_assert_int_eq(l.count, 0);
}
END_TEST

START_TEST(test_tree_rename_between_cases_exdev)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case-a", 0770), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case-b", 0770), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case-a/sub", 0770), 0);
    save(&root, "/case-a/doc.txt", V1, sizeof V1 - 1, 1);
    ck_assert_int_eq(tree_rename(tr, &root, "/case-a/doc.txt", "/case-b/doc.txt", 0),
                     -EXDEV);
    ck_assert_int_eq(tree_rename(tr, &root, "/case-a/doc.txt", "/case-b/other.txt", 0),
                     -EXDEV);
    ck_assert_int_eq(tree_rename(tr, &root, "/case-a/sub", "/case-b/sub", 0), -EXDEV);
    /* Nothing moved. */
    expect_content("/case-a/doc.txt", V1, sizeof V1 - 1);
    struct tree_attr at;
    ck_assert_int_eq(tree_getattr(tr, &root, "/case-b/doc.txt", NULL, &at), -ENOENT);
    /* Within one case a rename carries the history. */
    save(&root, "/case-a/doc.txt", V2, sizeof V2 - 1, 0);
    ck_assert_int_eq(
        tree_rename(tr, &root, "/case-a/doc.txt", "/case-a/sub/moved.txt", 0), 0);
    ck_assert_uint_eq(version_of("/case-a/sub/moved.txt"), 2);
    expect_content("/case-a/sub/.versions/moved.txt/v1.txt", V1, sizeof V1 - 1);
    ck_assert_int_eq(tree_getattr(tr, &root, "/case-a/doc.txt", NULL, &at), -ENOENT);
    ck_assert_int_eq(requests().count, 0);
}
END_TEST

START_TEST(test_tree_sed_temp_renamed_onto_document)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    /* sed -i: write the result to sedXXXXXX, rename it over the original. */
    save(&root, "/case/sedAb12Cd", V2, sizeof V2 - 1, 1);
    ck_assert_int_eq(tree_rename(tr, &root, "/case/sedAb12Cd", "/case/doc.txt", 0), 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 2);
    expect_content("/case/doc.txt", V2, sizeof V2 - 1);
    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
    expect_content("/case/.versions/doc.txt/v2.txt", V2, sizeof V2 - 1);
    struct listing l = list("/case");
    ck_assert_int_eq(l.count, 1);
    ck_assert(listed(&l, "doc.txt"));
    ck_assert_int_eq(requests().count, 0);

    /* The same with rsync's and Python's ".NAME.XXXXXX" temporary. */
    save(&root, "/case/.doc.txt.A1b2C3", V3, sizeof V3 - 1, 1);
    ck_assert_int_eq(tree_rename(tr, &root, "/case/.doc.txt.A1b2C3", "/case/doc.txt", 0),
                     0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 3);
    expect_content("/case/doc.txt", V3, sizeof V3 - 1);
    l = list("/case");
    ck_assert_int_eq(l.count, 1);
    ck_assert_int_eq(requests().count, 0);
}
END_TEST

START_TEST(test_tree_vim_save)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct node before = find("/case/doc.txt");

    /* vim :w with its defaults: probe 4913, rename the file to its backup,
     * write a new file, fsync, close, remove the backup. */
    struct tree_handle *h = NULL;
    ck_assert_int_eq(
        tree_create(tr, &root, "/case/4913", 0640, O_WRONLY | O_CREAT | O_EXCL, &h), 0);
    ck_assert_int_eq(tree_release(tr, h), 0);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/4913"), 0);
    ck_assert_int_eq(tree_rename(tr, &root, "/case/doc.txt", "/case/doc.txt~", 0), 0);
    ck_assert_int_eq(
        tree_create(tr, &root, "/case/doc.txt", 0640, O_WRONLY | O_CREAT | O_TRUNC, &h),
        0);
    write_all(h, V2, sizeof V2 - 1);
    ck_assert_int_eq(tree_fsync(tr, h), 0);
    ck_assert_int_eq(tree_flush(tr, h), 0);
    ck_assert_int_eq(tree_release(tr, h), 0);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/doc.txt~"), 0);

    struct node after = find("/case/doc.txt");
    ck_assert_uint_eq(after.id, before.id); /* one history */
    ck_assert_uint_eq(after.version, 2);    /* exactly one new version */
    ck_assert_uint_eq(after.state, NODE_LIVE);
    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
    expect_content("/case/.versions/doc.txt/v2.txt", V2, sizeof V2 - 1);
    expect_content("/case/doc.txt", V2, sizeof V2 - 1);
    ck_assert_int_eq(requests().count, 0);
    struct listing l = list("/case");
    ck_assert_int_eq(l.count, 1);
    ck_assert(listed(&l, "doc.txt"));
    node_clear(&before);
    node_clear(&after);
}
END_TEST

struct denied {
    int count;
    uint32_t uid;
    char op[32];
    char path[64];
};

static int find_denied(const struct log_entry *e, void *arg)
{
    struct denied *d = arg;
    if (e->result == EACCES && e->uid == 65534) {
        d->count++;
        d->uid = e->uid;
        snprintf(d->op, sizeof d->op, "%s", e->op);
        snprintf(d->path, sizeof d->path, "%s", e->path);
    }
    return 0;
}

START_TEST(test_tree_other_user_refused_and_logged)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/private", 0700), 0);
    save(&root, "/private/doc.txt", V1, sizeof V1 - 1, 1);
    struct store_actor nobody;
    store_actor_fill(&nobody, 65534, 65534, (uint32_t)getpid());
    nobody.ngroups = 0;

    struct tree_handle *h = NULL;
    ck_assert_int_eq(
        tree_create(tr, &nobody, "/private/new.txt", 0644, O_WRONLY | O_CREAT, &h),
        -EACCES);
    struct denied d;
    memset(&d, 0, sizeof d);
    walk_log(find_denied, &d);
    ck_assert_int_eq(d.count, 1);
    ck_assert_uint_eq(d.uid, 65534);
    ck_assert_str_eq(d.op, "create");
    ck_assert_str_eq(d.path, "private/new.txt");

    /* Reading, listing and removing are refused as well, each logged. */
    ck_assert_int_eq(tree_open(tr, &nobody, "/private/doc.txt", O_RDONLY, &h), -EACCES);
    struct listing l;
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(tree_readdir(tr, &nobody, "/private", fill, &l), -EACCES);
    ck_assert_int_eq(l.count, 0);
    ck_assert_int_eq(tree_unlink(tr, &nobody, "/private/doc.txt"), -EACCES);
    memset(&d, 0, sizeof d);
    walk_log(find_denied, &d);
    ck_assert_int_eq(d.count, 4);
    ck_assert_int_eq(requests().count, 0);
    ck_assert_uint_eq(version_of("/private/doc.txt"), 1);

    /* The owner's group gets in once the mode lets it. */
    nobody.gid = 0;
    ck_assert_int_eq(tree_chmod(tr, &root, "/private", 0750), 0);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(tree_readdir(tr, &nobody, "/private", fill, &l), 0);
    ck_assert_int_eq(l.count, 1);
}
END_TEST

START_TEST(test_tree_case_mode_and_root_rules)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/open-case", 0777), 0);
    struct node n = find("/open-case");
    ck_assert(S_ISDIR(n.mode));
    ck_assert_uint_eq(n.mode & 07777, 0770);
    node_clear(&n);
    struct tree_attr at;
    ck_assert_int_eq(tree_getattr(tr, &root, "/open-case", NULL, &at), 0);
    ck_assert_uint_eq(at.mode & 07777, 0770);

    ck_assert_int_eq(tree_mkdir(tr, &root, "/open-case", 0770), -EEXIST);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/.hidden", 0770), -EPERM);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/open-case/.versions", 0770), -EEXIST);
    struct tree_handle *h = NULL;
    ck_assert_int_eq(tree_create(tr, &root, "/loose.txt", 0640, O_WRONLY | O_CREAT, &h),
                     -EPERM);
    struct listing l = list("/");
    ck_assert_int_eq(l.count, 1);
    ck_assert(listed(&l, "open-case"));
}
END_TEST

START_TEST(test_tree_empty_document_and_truncate)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    /* touch: created and closed without a write is an empty version 1. */
    struct tree_handle *h = NULL;
    ck_assert_int_eq(
        tree_create(tr, &root, "/case/empty.txt", 0640, O_WRONLY | O_CREAT, &h), 0);
    ck_assert_int_eq(tree_flush(tr, h), 0);
    ck_assert_int_eq(tree_release(tr, h), 0);
    ck_assert_uint_eq(version_of("/case/empty.txt"), 1);
    expect_content("/case/.versions/empty.txt/v1.txt", "", 0);

    /* truncate(1) by path: one version, zeros past the old end. */
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    ck_assert_int_eq(tree_truncate(tr, &root, "/case/doc.txt", NULL, 5), 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 2);
    expect_content("/case/doc.txt", V1, 5);
    ck_assert_int_eq(tree_truncate(tr, &root, "/case/doc.txt", NULL, 12), 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 3);
    char want[12];
    memcpy(want, V1, 5);
    memset(want + 5, 0, 7);
    expect_content("/case/doc.txt", want, 12);
    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
}
END_TEST

START_TEST(test_tree_renamed_away_then_removed_makes_request)
{
    /* mv doc.txt doc.txt~ && rm doc.txt~ removes the document: that must
     * leave a request, not vanish as a scratch file. */
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct node n = find("/case/doc.txt");
    ck_assert_int_eq(tree_rename(tr, &root, "/case/doc.txt", "/case/doc.txt~", 0), 0);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/doc.txt~"), 0);
    struct requests q = requests();
    ck_assert_int_eq(q.count, 1);
    ck_assert_uint_eq(q.node[0], n.id);
    ck_assert_str_eq(q.path[0], "case/doc.txt");
    ck_assert_uint_eq(q.version[0], 1);
    struct listing l = list("/case");
    ck_assert_int_eq(l.count, 0);
    node_clear(&n);
}
END_TEST

struct reasons {
    int count;
    char reason[128];
};

static int collect_reason(const struct retraction *r, void *arg)
{
    struct reasons *q = arg;
    q->count++;
    snprintf(q->reason, sizeof q->reason, "%s", r->reason);
    return 0;
}

START_TEST(test_tree_reason_attached_to_request)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    static const char why[] = "written on the wrong person";
    ck_assert_int_eq(tree_setxattr(tr, &root, "/case/doc.txt", "user.casefs.reason", why,
                                   sizeof why - 1, 0),
                     0);
    char buf[64];
    ck_assert_int_eq(
        tree_getxattr(tr, &root, "/case/doc.txt", "user.casefs.version", buf, sizeof buf),
        1);
    ck_assert_mem_eq(buf, "1", 1);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/doc.txt"), 0);
    struct reasons q;
    memset(&q, 0, sizeof q);
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(retract_each(ts.s, txn, collect_reason, &q), 0);
    store_txn_abort(txn);
    ck_assert_int_eq(q.count, 1);
    ck_assert_str_eq(q.reason, why);
}
END_TEST

START_TEST(test_tree_folder_rules)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case/a", 0770), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case/a/b", 0770), 0);
    ck_assert_int_eq(tree_rename(tr, &root, "/case/a", "/case/a/b/c", 0), -EINVAL);
    save(&root, "/case/a/b/doc.txt", V1, sizeof V1 - 1, 1);
    ck_assert_int_eq(tree_rmdir(tr, &root, "/case/a/b"), -ENOTEMPTY);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/a/b/doc.txt"), 0);
    ck_assert_int_eq(tree_rmdir(tr, &root, "/case/a/b"), 0);
    ck_assert_int_eq(tree_rmdir(tr, &root, "/case/a"), 0);
    struct requests q = requests();
    ck_assert_int_eq(q.count, 3);
    ck_assert_str_eq(q.path[1], "case/a/b");
    ck_assert_uint_eq(q.version[1], 0);
    struct listing l = list("/case");
    ck_assert_int_eq(l.count, 0);
}
END_TEST

struct ops {
    int version, open_read, read_eio;
};

static int count_ops(const struct log_entry *e, void *arg)
{
    struct ops *o = arg;
    if (strcmp(e->op, "version") == 0 && strcmp(e->path, "case/doc.txt") == 0 &&
        e->result == 0)
        o->version++;
    if (strcmp(e->op, "open") == 0 && strcmp(e->path, "case/doc.txt") == 0 &&
        strncmp(e->detail, "read", 4) == 0)
        o->open_read++;
    if (e->result == EIO)
        o->read_eio++;
    return 0;
}

static struct ops ops(void)
{
    struct ops o = {0, 0, 0};
    walk_log(count_ops, &o);
    return o;
}

START_TEST(test_tree_saves_and_reads_are_logged)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    save(&root, "/case/doc.txt", V2, sizeof V2 - 1, 0);
    expect_content("/case/doc.txt", V2, sizeof V2 - 1);
    struct ops o = ops();
    ck_assert_int_eq(o.version, 2);
    ck_assert_int_eq(o.open_read, 1);
    ck_assert_int_eq(o.read_eio, 0);
}
END_TEST

struct named_entries {
    int count, named;
    char user[64], process[32];
};

static int check_names(const struct log_entry *e, void *arg)
{
    struct named_entries *c = arg;
    c->count++;
    if (strcmp(e->user, c->user) == 0 && strcmp(e->process, c->process) == 0)
        c->named++;
    return 0;
}

/* The user and process names of a request are looked up only when
 * something records them, and then every record carries them: log
 * entries, versions, metadata changes that wait for the close. */
START_TEST(test_tree_records_name_the_actor)
{
    struct store_actor self;
    store_actor_self(&self); /* the names as the command-line tools take them */
    struct store_actor a;
    store_actor_fill(&a, 0, 0, (uint32_t)getpid());
    ck_assert_int_eq(a.named, 0);
    ck_assert_int_eq(tree_mkdir(tr, &a, "/case", 0770), 0);
    struct tree_attr at;
    struct store_actor look;
    store_actor_fill(&look, 0, 0, (uint32_t)getpid());
    ck_assert_int_eq(tree_getattr(tr, &look, "/case", NULL, &at), 0);
    ck_assert_int_eq(look.named, 0); /* a lookup records nothing */
    struct store_actor w;
    store_actor_fill(&w, 0, 0, (uint32_t)getpid());
    struct tree_handle *h = NULL;
    ck_assert_int_eq(tree_create(tr, &w, "/case/doc.txt", 0640, O_WRONLY | O_CREAT, &h), 0);
    write_all(h, V1, sizeof V1 - 1);
    struct store_actor c;
    store_actor_fill(&c, 0, 0, (uint32_t)getpid());
    ck_assert_int_eq(tree_chmod(tr, &c, "/case/doc.txt", 0600), 0); /* waits for the close */
    ck_assert_int_eq(tree_release(tr, h), 0);
    struct named_entries e;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "%s", self.user);
    snprintf(e.process, sizeof e.process, "%s", self.process);
    ck_assert_str_ne(e.user, "");
    ck_assert_str_ne(e.process, "");
    walk_log(check_names, &e);
    ck_assert_int_ge(e.count, 4); /* mkdir, create, chmod, version */
    ck_assert_int_eq(e.named, e.count);
    struct version ver = stored_version("/case/doc.txt", 1);
    ck_assert_str_eq(ver.user, self.user);
    ck_assert_str_eq(ver.process, self.process);
    version_clear(&ver);
}
END_TEST

/* A document created and closed without a write is committed at its last
 * reference, while the open-document table is held; meanwhile opens by
 * another thread resolve their path inside a write transaction, showing
 * pending metadata of open documents.  Neither may wait for the other. */
struct touch_loop {
    int n;
    int rc;
};

static void *touch_thread(void *arg)
{
    struct touch_loop *l = arg;
    struct store_actor a;
    store_actor_fill(&a, 0, 0, (uint32_t)getpid());
    for (int i = 0; i < l->n && l->rc == 0; i++) {
        char path[64];
        snprintf(path, sizeof path, "/case/touched-%04d.txt", i);
        struct tree_handle *h = NULL;
        l->rc = tree_create(tr, &a, path, 0640, O_WRONLY | O_CREAT, &h);
        if (l->rc == 0)
            l->rc = tree_release(tr, h);
    }
    return NULL;
}

static void *open_thread(void *arg)
{
    struct touch_loop *l = arg;
    struct store_actor a;
    store_actor_fill(&a, 0, 0, (uint32_t)getpid());
    for (int i = 0; i < l->n && l->rc == 0; i++) {
        struct tree_handle *h = NULL;
        l->rc = tree_open(tr, &a, "/case/doc.txt", O_RDONLY, &h);
        if (l->rc == 0)
            l->rc = tree_release(tr, h);
    }
    return NULL;
}

START_TEST(test_tree_empty_creates_and_opens_at_once)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct touch_loop a = {400, 0}, b = {1200, 0};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, touch_thread, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, open_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_uint_eq(version_of("/case/touched-0399.txt"), 1); /* empty, committed */
}
END_TEST

START_TEST(test_tree_tampered_read_is_eio_and_logged)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct version ver = stored_version("/case/doc.txt", 1);
    ck_assert_int_eq(raw_flip(ts.s, STORE_DB_CHUNKS, ver.chunks[0].id, CHUNK_ID_BYTES,
                              KEYS_NONCE_BYTES + 1, 4),
                     0);
    version_clear(&ver);
    struct tree_handle *h = NULL;
    ck_assert_int_eq(tree_open(tr, &root, "/case/doc.txt", O_RDONLY, &h), 0);
    char buf[128];
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(tree_read(tr, h, buf, sizeof buf, 0), -EIO);
    ck_assert(memmem(buf, sizeof buf, "family", 6) == NULL);
    ck_assert_int_eq(tree_release(tr, h), 0);
    ck_assert_int_eq(ops().read_eio, 1);
}
END_TEST

START_TEST(test_tree_disk_full_enospc_keeps_earlier)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    MDB_envinfo info;
    MDB_stat est;
    ck_assert_int_eq(mdb_env_info(ts.s->env, &info), 0);
    ck_assert_int_eq(mdb_env_stat(ts.s->env, &est), 0);
    size_t used = (info.me_last_pgno + 1) * (size_t)est.ms_psize;
    ck_assert_int_eq(store_map_resize(ts.s, used + 256 * 1024), 0);

    size_t big = 2 * 1024 * 1024;
    uint8_t *p = malloc(big);
    fill_random(p, big, 5);
    struct tree_handle *h = NULL;
    ck_assert_int_eq(tree_open(tr, &root, "/case/doc.txt", O_WRONLY | O_TRUNC, &h), 0);
    write_all(h, p, big);
    ck_assert_int_eq(tree_flush(tr, h), -ENOSPC);
    ck_assert_int_eq(tree_fsync(tr, h), -ENOSPC);
    /* Nothing of the failed save was stored; the earlier version is whole. */
    ck_assert_uint_eq(version_of("/case/doc.txt"), 1);
    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
    /* The writer still sees its bytes (they stay dirty, not lost). */
    uint8_t head[64];
    ck_assert_int_eq(tree_read(tr, h, head, sizeof head, 0), (ssize_t)sizeof head);
    ck_assert_mem_eq(head, p, sizeof head);
    tree_release(tr, h);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 1);
    /* The store cannot grow: what was saved stays readable, again and
     * again, each open logged (the pages earlier entries freed are
     * reused once a durable point lets go of them). */
    size_t log_before = raw_count(ts.s, STORE_DB_LOG);
    for (int i = 0; i < 300; i++) {
        struct tree_handle *rh = NULL;
        ck_assert_msg(tree_open(tr, &root, "/case/doc.txt", O_RDONLY, &rh) == 0,
                      "open %d for reading on a full store failed", i);
        char got[sizeof V1];
        ck_assert_int_eq(tree_read(tr, rh, got, sizeof got, 0), (ssize_t)(sizeof V1 - 1));
        ck_assert_mem_eq(got, V1, sizeof V1 - 1);
        ck_assert_int_eq(tree_release(tr, rh), 0);
    }
    ck_assert_uint_eq(raw_count(ts.s, STORE_DB_LOG), log_before + 300);
    uint64_t bad = 0;
    MDB_txn *txn;
    ck_assert_int_eq(store_txn_begin(ts.s, 1, &txn), 0);
    ck_assert_int_eq(log_each(ts.s, txn, NULL, NULL, &bad), 0);
    store_txn_abort(txn);
    free(p);
}
END_TEST

/* tree.h: tree_free "commits what is still dirty" (an unmount while a
 * writer has not closed yet must not lose its bytes). */
START_TEST(test_tree_free_commits_dirty)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct tree_handle *h = NULL;
    ck_assert_int_eq(tree_open(tr, &root, "/case/doc.txt", O_WRONLY, &h), 0);
    write_all(h, V3, sizeof V3 - 1);
    tree_free(tr);
    tr = NULL;
    /* The handle itself belongs to the adapter; its doc went with the tree. */
    free(h->path);
    free(h);
    ck_assert_int_eq(tree_new(ts.s, &tr), 0);
    ck_assert_uint_eq(version_of("/case/doc.txt"), 2);
    expect_content("/case/doc.txt", V3, sizeof V3 - 1);
}
END_TEST

/* rsync creates a document, closes it and sets its time; the kernel may
 * deliver the release (which commits the new document) while the time is
 * being set.  Whatever the order, the time set is the one that stays. */
struct release_arg {
    struct tree_handle *h;
    int rc;
};

static void *release_thread(void *p)
{
    struct release_arg *ra = p;
    ra->rc = tree_release(tr, ra->h);
    return NULL;
}

START_TEST(test_tree_utimens_racing_release_keeps_time)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    for (int i = 0; i < 200; i++) {
        char path[64];
        snprintf(path, sizeof path, "/case/empty%d.txt", i);
        struct tree_handle *h = NULL;
        ck_assert_int_eq(
            tree_create(tr, &root, path, 0644, O_WRONLY | O_CREAT | O_EXCL, &h), 0);
        if (i % 2)
            write_all(h, V1, sizeof V1 - 1);
        ck_assert_int_eq(tree_flush(tr, h), 0);
        struct release_arg ra = {h, -1};
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, release_thread, &ra), 0);
        struct timespec times[2] = {{1746421505, 0}, {1746421505, 250000000}};
        ck_assert_int_eq(tree_utimens(tr, &root, path, times), 0);
        pthread_join(th, NULL);
        ck_assert_int_eq(ra.rc, 0);
        struct tree_attr at;
        ck_assert_int_eq(tree_getattr(tr, &root, path, NULL, &at), 0);
        ck_assert_int_eq(at.mtime_sec, 1746421505);
        ck_assert_uint_eq(at.mtime_nsec, 250000000);
        ck_assert_uint_eq(at.size, i % 2 ? sizeof V1 - 1 : 0);
        ck_assert_uint_eq(version_of(path), 1);
    }
}
END_TEST

/* A removed document's name given to a folder (and back): its history
 * stays reachable by path, and making a document there again continues
 * it; the folder's documents stay reachable too. */
START_TEST(test_tree_removed_name_taken_by_other_kind)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/x", V1, sizeof V1 - 1, 1);
    save(&root, "/case/x", V2, sizeof V2 - 1, 0);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/x"), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case/x", 0770), 0);
    save(&root, "/case/x/inner.txt", V3, sizeof V3 - 1, 1);
    struct node n = find("/case/x");
    ck_assert_int_eq(n.type, NODE_FILE);
    ck_assert_uint_eq(n.version, 2);
    ck_assert_int_eq(n.state, NODE_PENDING);
    node_clear(&n);
    ck_assert_uint_eq(version_of("/case/x/inner.txt"), 1);
    /* The folder is removed in turn; a document made at the name is the
     * removed document again, with its history. */
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/x/inner.txt"), 0);
    ck_assert_int_eq(tree_rmdir(tr, &root, "/case/x"), 0);
    save(&root, "/case/x", V3, sizeof V3 - 1, 1);
    ck_assert_uint_eq(version_of("/case/x"), 3);
    expect_content("/case/x", V3, sizeof V3 - 1);
    n = find("/case/x/inner.txt");
    ck_assert_int_eq(n.state, NODE_PENDING);
    ck_assert_uint_eq(n.version, 1);
    node_clear(&n);
    /* And the folder comes back as itself for mkdir. */
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/x"), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case/x", 0770), 0);
    save(&root, "/case/x/inner.txt", V1, sizeof V1 - 1, 1);
    ck_assert_uint_eq(version_of("/case/x/inner.txt"), 2);
    ck_assert_uint_eq(version_of("/case/x"), 3);
}
END_TEST

/* A folder renamed onto an empty folder whose documents were removed: the
 * removed documents move into it, reachable by path, and continue when
 * made again. */
START_TEST(test_tree_folder_replaced_keeps_removed_documents)
{
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case/a", 0770), 0);
    save(&root, "/case/a/n.txt", V1, sizeof V1 - 1, 1);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/a/n.txt"), 0);
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case/b", 0770), 0);
    save(&root, "/case/b/n.txt", V2, sizeof V2 - 1, 1);
    ck_assert_int_eq(tree_unlink(tr, &root, "/case/b/n.txt"), 0);
    ck_assert_int_eq(tree_rename(tr, &root, "/case/b", "/case/a", 0), 0);
    /* Both removed n.txt are kept; the path leads to one of them. */
    struct node n = find("/case/a/n.txt");
    ck_assert_int_eq(n.state, NODE_PENDING);
    node_clear(&n);
    ck_assert_int_eq(requests().count, 2);
    save(&root, "/case/a/n.txt", V3, sizeof V3 - 1, 1);
    ck_assert_uint_eq(version_of("/case/a/n.txt"), 2);
}
END_TEST

START_TEST(test_tree_emacs_saves_keep_one_history)
{
    /* Two saves with a kept backup: rename to NAME~ (onto the old backup
     * the second time), write NAME anew. */
    ck_assert_int_eq(tree_mkdir(tr, &root, "/case", 0770), 0);
    save(&root, "/case/doc.txt", V1, sizeof V1 - 1, 1);
    struct node before = find("/case/doc.txt");
    ck_assert_int_eq(tree_rename(tr, &root, "/case/doc.txt", "/case/doc.txt~", 0), 0);
    save(&root, "/case/doc.txt", V2, sizeof V2 - 1, 1);
    ck_assert_int_eq(tree_rename(tr, &root, "/case/doc.txt", "/case/doc.txt~", 0), 0);
    save(&root, "/case/doc.txt", V3, sizeof V3 - 1, 1);
    struct node after = find("/case/doc.txt");
    ck_assert_uint_eq(after.id, before.id);
    ck_assert_uint_eq(after.version, 3);
    expect_content("/case/.versions/doc.txt/v1.txt", V1, sizeof V1 - 1);
    expect_content("/case/.versions/doc.txt/v2.txt", V2, sizeof V2 - 1);
    expect_content("/case/doc.txt", V3, sizeof V3 - 1);
    expect_content("/case/doc.txt~", V2, sizeof V2 - 1);
    ck_assert_int_eq(requests().count, 0);
    node_clear(&before);
    node_clear(&after);
}
END_TEST

START_TEST(test_tree_no_plaintext_in_store_files)
{
    static const char *const markers[] = {"Case-Marker-4711", "Name-Marker-0815.txt",
                                          "Content-Marker-Q9", "Reason-Marker-Z7",
                                          "User-Marker-K3"};
    struct store_actor a = root;
    store_actor_name(&a);
    snprintf(a.user, sizeof a.user, "%s", markers[4]);
    ck_assert_int_eq(tree_mkdir(tr, &a, "/Case-Marker-4711", 0770), 0);
    char content[256];
    snprintf(content, sizeof content, "%s and more text around it\n", markers[2]);
    save(&a, "/Case-Marker-4711/Name-Marker-0815.txt", content, strlen(content), 1);
    save(&a, "/Case-Marker-4711/Name-Marker-0815.txt", V1, sizeof V1 - 1, 0);
    ck_assert_int_eq(tree_setxattr(tr, &a, "/Case-Marker-4711/Name-Marker-0815.txt",
                                   "user.casefs.reason", markers[3], strlen(markers[3]),
                                   0),
                     0);
    expect_content("/Case-Marker-4711/.versions/Name-Marker-0815.txt/v1.txt", content,
                   strlen(content));
    ck_assert_int_eq(tree_unlink(tr, &a, "/Case-Marker-4711/Name-Marker-0815.txt"), 0);
    tree_free(tr);
    tr = NULL;
    tstore_shut(&ts);
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    for (size_t f = 0; f < 2; f++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", ts.dir, files[f]);
        for (size_t i = 0; i < sizeof markers / sizeof *markers; i++) {
            int found = file_contains(path, markers[i], strlen(markers[i]));
            ck_assert_msg(found == 0, "%s holds \"%s\" in the clear (%d)", files[f],
                          markers[i], found);
        }
    }
}
END_TEST

Suite *tree_suite(void)
{
    Suite *s = suite_create("tree");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_test(tc, test_tree_three_saves_three_versions);
    tcase_add_test(tc, test_tree_records_name_the_actor);
    tcase_add_test(tc, test_tree_empty_creates_and_opens_at_once);
    tcase_add_test(tc, test_tree_metadata_of_open_document_commits_with_it);
    tcase_add_test(tc, test_tree_metadata_by_other_process_commits_at_once);
    tcase_add_test(tc, test_tree_versions_are_read_only);
    tcase_add_test(tc, test_tree_open_close_without_write_no_version);
    tcase_add_test(tc, test_tree_handles_share_content);
    tcase_add_test(tc, test_tree_unlink_makes_request_content_stays);
    tcase_add_test(tc, test_tree_recreate_after_unlink_continues_history);
    tcase_add_test(tc, test_tree_transient_unlink_no_request);
    tcase_add_test(tc, test_tree_rename_between_cases_exdev);
    tcase_add_test(tc, test_tree_sed_temp_renamed_onto_document);
    tcase_add_test(tc, test_tree_vim_save);
    tcase_add_test(tc, test_tree_other_user_refused_and_logged);
    tcase_add_test(tc, test_tree_case_mode_and_root_rules);
    tcase_add_test(tc, test_tree_empty_document_and_truncate);
    tcase_add_test(tc, test_tree_renamed_away_then_removed_makes_request);
    tcase_add_test(tc, test_tree_reason_attached_to_request);
    tcase_add_test(tc, test_tree_folder_rules);
    tcase_add_test(tc, test_tree_saves_and_reads_are_logged);
    tcase_add_test(tc, test_tree_tampered_read_is_eio_and_logged);
    tcase_add_test(tc, test_tree_disk_full_enospc_keeps_earlier);
    tcase_add_test(tc, test_tree_free_commits_dirty);
    tcase_add_test(tc, test_tree_utimens_racing_release_keeps_time);
    tcase_add_test(tc, test_tree_removed_name_taken_by_other_kind);
    tcase_add_test(tc, test_tree_folder_replaced_keeps_removed_documents);
    tcase_add_test(tc, test_tree_emacs_saves_keep_one_history);
    tcase_add_test(tc, test_tree_no_plaintext_in_store_files);
    suite_add_tcase(s, tc);
    return s;
}

/*
 * casefs history, cat, retractions, log — reading a store, mounted or not.
 * Each read of content or history is itself logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/admin.h"
#include "store/log.h"
#include "store/node.h"
#include "store/retract.h"
#include "store/tree.h"
#include "store/version.h"
#include "tools/args.h"
#include "tools/cli.h"
#include "tools/commands.h"

static const char *strip(const char *path)
{
    while (*path == '/')
        path++;
    return path;
}

/* Finds a document by path whatever its state; prints the error. */
static int find_doc(struct store *s, MDB_txn *txn, const char *path, struct node *n)
{
    int rc = tree_find(s, txn, path, n);
    if (rc == -ENOENT || rc == -ENOTDIR)
        return cli_fail(CLI_REFUSED,
                        "no document %s in the store: check the path (as seen "
                        "from the mount's root)",
                        path);
    if (rc)
        return cli_fail(CLI_REFUSED, "cannot read %s: %s; run 'casefs verify'", path,
                        strerror(-rc));
    if (n->type != NODE_FILE) {
        node_clear(n);
        return cli_fail(CLI_REFUSED, "%s is a folder: give a document's path", path);
    }
    return 0;
}

/* The document a command names: PATH, or --node N for one that no path
 * reaches any more (kept after being replaced while open, a scratch file
 * removed, a source merged by a rename: the log names its number).  label
 * gets what messages and the log call it.  0 or an exit status. */
static int find_target(struct store *s, MDB_txn *txn, const struct args *a,
                       struct node *n, char *label, size_t len)
{
    if (!a->node) {
        snprintf(label, len, "%s", strip(a->pos[1]));
        return find_doc(s, txn, a->pos[1], n);
    }
    char *end;
    unsigned long long id = strtoull(a->node, &end, 10);
    if (*end || id <= NODE_ROOT)
        return cli_fail(CLI_USAGE,
                        "--node takes a document's number (as the log names it), "
                        "not '%s'",
                        a->node);
    int rc = node_get(s, txn, (uint64_t)id, n);
    if (rc == 0 && n->type != NODE_FILE) {
        node_clear(n);
        rc = -ENOENT;
    }
    if (rc == -ENOENT)
        return cli_fail(CLI_REFUSED,
                        "no document number %llu in the store: see the "
                        "keep-replaced entries of 'casefs log'",
                        id);
    if (rc)
        return cli_fail(CLI_REFUSED,
                        "cannot read document number %llu: %s; run "
                        "'casefs verify'",
                        id, strerror(-rc));
    char path[TREE_PATH_MAX];
    node_path(s, txn, n->id, path, sizeof path);
    snprintf(label, len, "%s (node %llu)", path, id);
    return 0;
}

int cmd_history(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "history", "passphrase-file,node");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs history STORE PATH [--passphrase-file FILE]\n"
             "       casefs history STORE --node N [--passphrase-file FILE]\n"
             "Lists every version of a document: number, time (UTC), size, author, "
             "state.  --node N names a document no path reaches any more by the\n"
             "number the log gives it (keep-replaced entries).");
        return 0;
    }
    if (a.npos != (a.node ? 1 : 2))
        return cli_fail(CLI_USAGE, "history: give STORE and PATH (or --node N): casefs "
                                   "history STORE case/doc.txt");
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, 0, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    struct node n;
    memset(&n, 0, sizeof n);
    rc = store_txn_begin(s, 0, &txn);
    if (rc) {
        store_close(s);
        return cli_fail(CLI_REFUSED, "cannot read the store: %s", strerror(-rc));
    }
    char label[TREE_PATH_MAX + 32];
    rc = find_target(s, txn, &a, &n, label, sizeof label);
    if (rc) {
        store_txn_abort(txn);
        store_close(s);
        return rc;
    }
    for (uint32_t i = 1; i <= n.version; i++) {
        struct version v;
        int r = version_get(s, txn, n.id, i, &v);
        if (r) {
            printf("%u\t-\t-\t-\tunreadable (%s)\n", i, strerror(-r));
            rc = CLI_REFUSED;
            continue;
        }
        char when[32];
        cli_time(v.sec, when, sizeof when);
        printf("%u\t%s\t%llu\t%s\t%s\n", i, when, (unsigned long long)v.size, v.user,
               v.state == VERSION_RETRACTED ? "retracted" : "live");
        version_clear(&v);
    }
    struct store_actor me;
    store_actor_self(&me);
    int lr = log_append(s, txn, &me, "history", label, n.version, 0, "");
    if (lr == 0)
        lr = store_txn_commit(s, txn);
    else
        store_txn_abort(txn);
    node_clear(&n);
    store_close(s);
    if (lr)
        return cli_fail(CLI_REFUSED, "could not log this read: %s", strerror(-lr));
    return rc;
}

struct cat_out {
    struct store *s;
    MDB_txn *txn;
    uint8_t *buf;
    uint32_t at; /* the chunk being written */
    int unwritable, chunk_failed;
};

static int cat_chunk(void *arg, uint32_t i, const struct version_chunk *c)
{
    struct cat_out *o = arg;
    size_t len;
    o->at = i;
    int r = chunk_get(o->s, o->txn, c->id, o->buf, &len);
    if (r) {
        o->chunk_failed = 1;
        return r;
    }
    if (fwrite(o->buf, 1, len, stdout) != len) {
        o->unwritable = 1;
        return -EIO;
    }
    return 0;
}

int cmd_cat(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "cat", "passphrase-file,version,node");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs cat STORE PATH [--version N] [--passphrase-file FILE]\n"
             "       casefs cat STORE --node N [--version N] [--passphrase-file FILE]\n"
             "Writes the current (or Nth) version of a document to standard output.\n"
             "--node N names a document no path reaches any more by the number the\n"
             "log gives it (keep-replaced entries).");
        return 0;
    }
    if (a.npos != (a.node ? 1 : 2))
        return cli_fail(CLI_USAGE,
                        "cat: give STORE and PATH (or --node N): casefs cat STORE "
                        "case/doc.txt");
    unsigned long want = 0;
    if (a.version) {
        char *end;
        want = strtoul(a.version, &end, 10);
        if (*end || want == 0 || want > UINT32_MAX)
            return cli_fail(CLI_USAGE,
                            "cat: --version takes a version number (1, 2, ...), "
                            "not '%s'",
                            a.version);
    }
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, 0, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    struct node n;
    memset(&n, 0, sizeof n);
    rc = store_txn_begin(s, 0, &txn);
    if (rc) {
        store_close(s);
        return cli_fail(CLI_REFUSED, "cannot read the store: %s", strerror(-rc));
    }
    char label[TREE_PATH_MAX + 32];
    rc = find_target(s, txn, &a, &n, label, sizeof label);
    int found = rc == 0, damaged = 0;
    if (rc == 0 && n.version == 0)
        rc = cli_fail(CLI_REFUSED, "%s has no committed version yet", label);
    if (rc == 0 && want > n.version)
        rc = cli_fail(CLI_REFUSED,
                      "%s has versions 1 to %u, not %lu: see 'casefs history'", label,
                      n.version, want);
    struct version v;
    memset(&v, 0, sizeof v);
    uint32_t number = want ? (uint32_t)want : n.version;
    if (rc == 0 && version_get(s, txn, n.id, number, &v) != 0) {
        damaged = 1;
        rc = cli_fail(CLI_REFUSED, "version %u of %s is unreadable: run 'casefs verify'",
                      number, label);
    }
    struct store_actor me;
    store_actor_self(&me);
    uint8_t *buf = rc == 0 ? malloc(CHUNK_MAX) : NULL;
    if (rc == 0 && !buf)
        rc = cli_fail(CLI_REFUSED, "out of memory");
    if (rc == 0) {
        struct cat_out o = {s, txn, buf, 0, 0, 0};
        int r = version_each_chunk(s, txn, &v, cat_chunk, &o);
        if (r && o.unwritable) {
            rc = cli_fail(CLI_REFUSED, "cannot write to standard output");
        } else if (r && !o.chunk_failed) {
            damaged = 1;
            rc = cli_fail(CLI_REFUSED,
                          "version %u of %s is damaged (a segment of its chunk list "
                          "failed authentication): run 'casefs verify'",
                          number, label);
        } else if (r) {
            damaged = 1;
            rc = cli_fail(CLI_REFUSED,
                          "version %u of %s is damaged (chunk %u failed "
                          "authentication): run 'casefs verify'",
                          number, label, o.at);
        }
    }
    if (buf) {
        sodium_memzero(buf, CHUNK_MAX);
        free(buf);
    }
    if (found) {
        char detail[64];
        snprintf(detail, sizeof detail, "read by the administration tool");
        int lr = log_append(s, txn, &me, "cat", label, number,
                            damaged ? EIO
                            : rc    ? ENOENT
                                    : 0,
                            detail);
        if (lr == 0)
            lr = store_txn_commit(s, txn);
        else
            store_txn_abort(txn);
        if (lr && rc == 0)
            rc = cli_fail(CLI_REFUSED, "could not log this read: %s", strerror(-lr));
    } else {
        store_txn_abort(txn);
    }
    fflush(stdout);
    version_clear(&v);
    node_clear(&n);
    store_close(s);
    return rc;
}

static int print_request(const struct retraction *r, void *arg)
{
    int all = *(int *)arg;
    if (!all && r->state != RETRACT_PENDING)
        return 0;
    char when[32];
    cli_time(r->sec, when, sizeof when);
    printf("%llu\t%s\tv%u\t%s(%u)\t%s\t%s\t%s\n", (unsigned long long)r->id, r->path,
           r->version, r->user, r->uid, when, r->reason && *r->reason ? r->reason : "-",
           retract_state_name(r->state));
    return 0;
}

int cmd_retractions(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "retractions", "passphrase-file,all");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs retractions STORE [--all] [--passphrase-file FILE]\n"
             "Lists pending retraction requests (all requests with --all):\n"
             "id, path, version, requested by, when, reason, state.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE,
                        "retractions: give the STORE: casefs retractions STORE");
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, STORE_OPEN_RDONLY, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    rc = store_txn_begin(s, 1, &txn);
    if (rc == 0) {
        rc = retract_each(s, txn, print_request, &a.all);
        store_txn_abort(txn);
    }
    store_close(s);
    if (rc)
        return cli_fail(CLI_REFUSED,
                        "cannot read the retraction requests: %s; run 'casefs "
                        "verify'",
                        strerror(-rc));
    return 0;
}

/* ---- retract approve|reject ---- */

int cmd_retract(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "retract", "passphrase-file,reason");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs retract approve|reject STORE ID --reason TEXT "
             "[--passphrase-file FILE]\n"
             "Decides retraction request ID (see 'casefs retractions'):\n"
             "  approve  the versions it covers are marked retracted: kept, readable "
             "with\n"
             "           'casefs history'/'cat', hidden from the mount\n"
             "  reject   the document or folder returns to the mount\n"
             "The decision, who made it and the reason go into the audit log.");
        return 0;
    }
    if (a.npos != 3 || (strcmp(a.pos[0], "approve") && strcmp(a.pos[0], "reject")))
        return cli_fail(CLI_USAGE,
                        "retract: usage is 'casefs retract approve|reject STORE ID "
                        "--reason TEXT'");
    char *end;
    unsigned long long id = strtoull(a.pos[2], &end, 10);
    if (*end || id == 0)
        return cli_fail(CLI_USAGE,
                        "retract: '%s' is not a request id: see 'casefs "
                        "retractions STORE'",
                        a.pos[2]);
    if (!a.reason || !*a.reason)
        return cli_fail(CLI_USAGE,
                        "retract: a decision needs --reason TEXT (it goes into the "
                        "audit log)");
    struct store *s;
    rc = cli_store_open(a.pos[1], a.passphrase_file, 0, &s);
    if (rc)
        return rc;
    struct store_actor me;
    store_actor_self(&me);
    int approve = strcmp(a.pos[0], "approve") == 0;
    rc = admin_retract_decide(s, &me, id, approve, a.reason);
    store_close(s);
    if (rc == -ENOENT)
        return cli_fail(CLI_REFUSED,
                        "there is no retraction request %llu: see 'casefs "
                        "retractions STORE --all'",
                        id);
    if (rc == -EALREADY)
        return cli_fail(CLI_REFUSED,
                        "retraction request %llu is already decided: see 'casefs "
                        "retractions STORE --all'",
                        id);
    if (rc)
        return cli_fail(CLI_REFUSED,
                        "could not record the decision (%s): nothing was "
                        "changed",
                        strerror(-rc));
    printf("request %llu %s\n", id, approve ? "approved" : "rejected");
    return 0;
}

/* ---- log ---- */

struct log_filter {
    const char *case_name;
    long long since;
    int json;
};

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static const char *result_name(int32_t result)
{
    if (!result)
        return "ok";
    const char *name = strerrorname_np(result);
    return name ? name : "error";
}

static int print_entry(const struct log_entry *e, void *arg)
{
    const struct log_filter *f = arg;
    if (f->case_name && strcmp(f->case_name, e->case_name) != 0)
        return 0;
    if (e->sec < f->since)
        return 0;
    char when[32];
    cli_time(e->sec, when, sizeof when);
    if (f->json) {
        printf("{\"seq\":%llu,\"time\":\"%s\",\"uid\":%u,\"user\":",
               (unsigned long long)e->seq, when, e->uid);
        json_str(e->user);
        printf(",\"pid\":%u,\"process\":", e->pid);
        json_str(e->process);
        fputs(",\"operation\":", stdout);
        json_str(e->op);
        fputs(",\"case\":", stdout);
        json_str(e->case_name);
        fputs(",\"path\":", stdout);
        json_str(e->path);
        printf(",\"version\":%u,\"result\":\"%s\",\"detail\":", e->version,
               result_name(e->result));
        json_str(e->detail);
        fputs("}\n", stdout);
        return 0;
    }
    printf("%llu\t%s\t%s(%u)\t%s[%u]\t%s\t%s\tv%u\t%s\t%s\n", (unsigned long long)e->seq,
           when, e->user, e->uid, e->process, e->pid, e->op, e->path, e->version,
           result_name(e->result), e->detail);
    return 0;
}

/* Parses UTC "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS][Z]" or "YYYY-MM-DD HH:MM[:SS]". */
static int parse_time(const char *text, long long *out)
{
    static const char *const formats[] = {
        "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%dT%H:%M",     "%Y-%m-%d %H:%M",    "%Y-%m-%d",
    };
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(text, formats[i], &tm);
        if (end && *end == '\0') {
            *out = (long long)timegm(&tm);
            return 0;
        }
    }
    return -1;
}

static int log_verify(int argc, char **argv);
static int log_head_cmd(int argc, char **argv);

int cmd_log(int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "verify") == 0)
        return log_verify(argc - 1, argv + 1);
    if (argc > 0 && strcmp(argv[0], "head") == 0)
        return log_head_cmd(argc - 1, argv + 1);
    struct args a;
    int rc = args_parse(&a, argc, argv, "log", "passphrase-file,case,since,json");
    if (rc)
        return rc;
    if (a.help) {
        puts(
            "usage: casefs log STORE [--case NAME] [--since TIME] [--json] "
            "[--passphrase-file FILE]\n"
            "       casefs log verify STORE [--head SEQ:HASH | HASH]\n"
            "       casefs log head STORE\n"
            "Prints the audit log, one entry a line: sequence, time (UTC), user(uid),\n"
            "process[pid], operation, path, version, result, detail.  --case keeps one\n"
            "case's entries, --since TIME (UTC, 2026-11-23 or 2026-11-23T09:00:00Z) the\n"
            "newer ones, --json prints one JSON object a line.\n"
            "'log verify' checks the MAC chain (and that it extends a head kept "
            "earlier);\n"
            "'log head' prints the newest sequence number and hash, to keep elsewhere.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE, "log: give the STORE: casefs log STORE");
    struct log_filter f = {a.case_name, 0, a.json};
    if (a.since && parse_time(a.since, &f.since) != 0)
        return cli_fail(CLI_USAGE,
                        "log: --since takes a UTC time such as 2026-11-23 or "
                        "2026-11-23T09:00:00Z, not '%s'",
                        a.since);
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, STORE_OPEN_RDONLY, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    uint64_t bad = 0;
    rc = store_txn_begin(s, 1, &txn);
    if (rc == 0) {
        rc = log_each(s, txn, print_entry, &f, &bad);
        store_txn_abort(txn);
    }
    store_close(s);
    fflush(stdout);
    if (rc == -EBADMSG)
        return cli_fail(CLI_REFUSED,
                        "the log is damaged at entry %llu: entries from there on "
                        "cannot be trusted; run 'casefs log verify'",
                        (unsigned long long)bad);
    if (rc)
        return cli_fail(CLI_REFUSED, "cannot read the log: %s", strerror(-rc));
    return 0;
}

struct head_check {
    uint64_t seq;
    uint8_t mac[LOG_MAC_BYTES];
    int found;
};

static int find_head(const struct log_entry *e, void *arg)
{
    struct head_check *h = arg;
    if (h->seq == 0) { /* a bare hash: any entry may carry it */
        if (sodium_memcmp(e->mac, h->mac, LOG_MAC_BYTES) == 0) {
            h->found = 1;
            h->seq = e->seq;
        }
    } else if (e->seq == h->seq) {
        h->found = sodium_memcmp(e->mac, h->mac, LOG_MAC_BYTES) == 0 ? 1 : -1;
    }
    return 0;
}

static int parse_head(const char *text, struct head_check *h)
{
    char *end;
    unsigned long long seq = 0;
    const char *hexs = text;
    if (strlen(text) != 2 * LOG_MAC_BYTES) {
        seq = strtoull(text, &end, 10);
        if (end == text || (*end != ':' && *end != ' ') || seq == 0)
            return -1;
        hexs = end + 1;
    }
    size_t bin_len;
    if (sodium_hex2bin(h->mac, LOG_MAC_BYTES, hexs, strlen(hexs), NULL, &bin_len, NULL) !=
            0 ||
        bin_len != LOG_MAC_BYTES)
        return -1;
    h->seq = seq;
    h->found = 0;
    return 0;
}

static int log_verify(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "log verify", "passphrase-file,head");
    if (rc)
        return rc;
    if (a.help) {
        puts(
            "usage: casefs log verify STORE [--head SEQ:HASH] [--passphrase-file FILE]\n"
            "Checks every entry's MAC, its place in the chain and its seal; with --head\n"
            "(from an earlier 'casefs log head') also that the log still reaches that\n"
            "entry unchanged, so a cut tail is found.  Exit 0 only when intact.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE, "log verify: give the STORE: casefs log verify STORE");
    struct head_check h = {0};
    if (a.head && parse_head(a.head, &h) != 0)
        return cli_fail(CLI_USAGE,
                        "log verify: --head takes SEQ:HASH as printed by 'casefs log "
                        "head', not '%s'",
                        a.head);
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, STORE_OPEN_RDONLY, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    uint64_t bad = 0, last = 0;
    uint8_t mac[LOG_MAC_BYTES];
    rc = store_txn_begin(s, 1, &txn);
    if (rc == 0) {
        rc = log_each(s, txn, find_head, &h, &bad);
        if (rc == 0)
            rc = log_head(s, txn, &last, mac);
        store_txn_abort(txn);
    }
    store_close(s);
    if (rc == -EBADMSG)
        return cli_fail(CLI_REFUSED,
                        "log broken at entry %llu: it was altered, removed, "
                        "reordered or forged there",
                        (unsigned long long)bad);
    if (rc)
        return cli_fail(CLI_REFUSED, "cannot read the log: %s", strerror(-rc));
    if (a.head && h.found == 0 && h.seq == 0)
        return cli_fail(CLI_REFUSED,
                        "log cut or rewritten: no entry carries the head kept "
                        "earlier (the log ends at entry %llu)",
                        (unsigned long long)last);
    if (a.head && h.found == 0)
        return cli_fail(CLI_REFUSED,
                        "log cut: it ends at entry %llu but the head kept earlier "
                        "is entry %llu; entries were removed from the end",
                        (unsigned long long)last, (unsigned long long)h.seq);
    if (a.head && h.found < 0)
        return cli_fail(CLI_REFUSED,
                        "log rewritten: entry %llu differs from the head kept "
                        "earlier",
                        (unsigned long long)h.seq);
    printf("log intact: %llu entries%s\n", (unsigned long long)last,
           a.head ? ", extends the given head" : "");
    return 0;
}

static int log_head_cmd(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "log head", "passphrase-file");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs log head STORE [--passphrase-file FILE]\n"
             "Prints SEQ:HASH of the newest log entry.  Keep it elsewhere; later\n"
             "'casefs log verify STORE --head SEQ:HASH' finds a log cut since.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE, "log head: give the STORE: casefs log head STORE");
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, STORE_OPEN_RDONLY, &s);
    if (rc)
        return rc;
    MDB_txn *txn;
    uint64_t seq = 0;
    uint8_t mac[LOG_MAC_BYTES];
    rc = store_txn_begin(s, 1, &txn);
    if (rc == 0) {
        rc = log_head(s, txn, &seq, mac);
        store_txn_abort(txn);
    }
    store_close(s);
    if (rc)
        return cli_fail(CLI_REFUSED, "cannot read the log: %s", strerror(-rc));
    char hexs[2 * LOG_MAC_BYTES + 1];
    sodium_bin2hex(hexs, sizeof hexs, mac, LOG_MAC_BYTES);
    printf("%llu:%s\n", (unsigned long long)seq, hexs);
    return 0;
}

/* ---- verify, backup, passwd ---- */

static void print_problem(void *arg, const char *problem)
{
    (*(long *)arg)++;
    printf("problem: %s\n", problem);
}

int cmd_verify(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "verify", "passphrase-file");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs verify STORE [--passphrase-file FILE]\n"
             "Decrypts and authenticates every record, name, chunk and log entry and\n"
             "checks every reference.  Lists each problem (naming the documents and\n"
             "versions affected) and exits 1 when there is any.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE, "verify: give the STORE: casefs verify STORE");
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, STORE_OPEN_RDONLY, &s);
    if (rc)
        return rc;
    long seen = 0;
    struct admin_counts n;
    long problems = admin_verify(s, print_problem, &seen, &n);
    store_close(s);
    fflush(stdout);
    if (problems < 0)
        return cli_fail(CLI_REFUSED, "cannot read the store: %s",
                        strerror((int)-problems));
    if (problems > 0)
        return cli_fail(CLI_REFUSED, "%ld problem%s found in %s: see the lines above",
                        problems, problems == 1 ? "" : "s", a.pos[0]);
    printf(
        "store sound: %llu nodes, %llu names, %llu versions, %llu chunks, %llu requests, "
        "%llu log entries\n",
        (unsigned long long)n.nodes, (unsigned long long)n.dirents,
        (unsigned long long)n.versions, (unsigned long long)n.chunks,
        (unsigned long long)n.requests, (unsigned long long)n.log_entries);
    return 0;
}

int cmd_backup(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "backup", "passphrase-file");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs backup STORE DEST [--passphrase-file FILE]\n"
             "Copies STORE, consistent and compacted, still encrypted, into the new or\n"
             "empty folder DEST, also while STORE is mounted and in use.  DEST is a\n"
             "store with the same passphrase.  The backup is logged.");
        return 0;
    }
    if (a.npos != 2)
        return cli_fail(CLI_USAGE,
                        "backup: give STORE and DEST: casefs backup STORE DEST");
    struct store *s;
    rc = cli_store_open(a.pos[0], a.passphrase_file, 0, &s);
    if (rc)
        return rc;
    struct store_actor me;
    store_actor_self(&me);
    rc = admin_backup(s, &me, a.pos[1]);
    store_close(s);
    if (rc == -EEXIST)
        return cli_fail(CLI_REFUSED,
                        "%s is not empty: back up into a new or empty folder", a.pos[1]);
    if (rc == -ENOSPC)
        return cli_fail(CLI_REFUSED,
                        "no space left for the backup in %s: free space and try "
                        "again",
                        a.pos[1]);
    if (rc)
        return cli_fail(CLI_REFUSED, "backup into %s failed (%s): the store is unchanged",
                        a.pos[1], strerror(-rc));
    printf("backup of %s written to %s\n", a.pos[0], a.pos[1]);
    return 0;
}

int cmd_passwd(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "passwd", "passphrase-file,new-passphrase-file");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs passwd STORE [--passphrase-file FILE] [--new-passphrase-file "
             "FILE]\n"
             "Changes the passphrase.  Only the wrapped master key is rewritten, in one\n"
             "transaction: nothing else is re-encrypted, and an interrupted change "
             "leaves\n"
             "either the old or the new passphrase working.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE, "passwd: give the STORE: casefs passwd STORE");
    if (a.passphrase_file && a.new_passphrase_file &&
        strcmp(a.passphrase_file, "-") == 0 && strcmp(a.new_passphrase_file, "-") == 0)
        return cli_fail(CLI_USAGE,
                        "passwd: only one of the passphrases can come on stdin");
    rc = store_probe(a.pos[0], NULL);
    if (rc)
        return cli_store_error(a.pos[0], rc);
    char *old, *new1, *new2 = NULL;
    size_t oldlen, len1, len2 = 0;
    rc = cli_passphrase_read(a.passphrase_file, "Current passphrase: ", &old, &oldlen);
    if (rc)
        return rc;
    rc = cli_passphrase_read(a.new_passphrase_file, "New passphrase: ", &new1, &len1);
    if (rc) {
        cli_passphrase_free(old);
        return rc;
    }
    if (!a.new_passphrase_file) {
        rc = cli_passphrase_read(NULL, "New passphrase again: ", &new2, &len2);
        if (rc == 0 && (len1 != len2 || sodium_memcmp(new1, new2, len1) != 0))
            rc =
                cli_fail(CLI_USAGE, "passwd: the two new passphrases differ: nothing was "
                                    "changed");
        cli_passphrase_free(new2);
        if (rc) {
            cli_passphrase_free(old);
            cli_passphrase_free(new1);
            return rc;
        }
    }
    struct store_actor me;
    store_actor_self(&me);
    rc = admin_passwd(a.pos[0], old, oldlen, new1, len1, &me);
    cli_passphrase_free(old);
    cli_passphrase_free(new1);
    if (rc)
        return cli_store_error(a.pos[0], rc);
    printf("passphrase of %s changed\n", a.pos[0]);
    return 0;
}

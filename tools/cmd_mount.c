/*
 * casefs init, mount, umount.
 *
 * `mount` does every check it can in the foreground (the store, its
 * format, the passphrase, the mountpoint, /dev/fuse, a second mount of the
 * same store) so that each failure is one clear line and exit status 1.
 * It then forks; the child opens the LMDB environment (an environment must
 * not cross fork), mounts, and reports "ready" or its error through a pipe
 * before the parent returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "tools/args.h"
#include "tools/cli.h"
#include "tools/commands.h"

#define LOCK_NAME "mount.lock"

int cmd_init(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "init", "passphrase-file");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs init STORE [--passphrase-file FILE]\n"
             "Creates a new, empty, encrypted store in the folder STORE.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE,
                        "init: give exactly one STORE folder: casefs init STORE");
    const char *dir = a.pos[0];
    struct stat st;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) == 0)
        return cli_fail(CLI_REFUSED,
                        "%s already holds a store: nothing was changed; choose "
                        "another folder",
                        dir);
    char *pass;
    size_t len;
    rc = cli_passphrase_read(a.passphrase_file, "New passphrase: ", &pass, &len);
    if (rc)
        return rc;
    struct store_actor actor;
    store_actor_self(&actor);
    rc = store_create(dir, pass, len, &actor);
    cli_passphrase_free(pass);
    if (rc == -EEXIST)
        return cli_fail(CLI_REFUSED,
                        "%s exists and is not empty: choose a new or empty folder", dir);
    if (rc)
        return cli_fail(CLI_REFUSED, "cannot create a store in %s: %s", dir,
                        strerror(-rc));
    printf("created store %s\n", dir);
    return 0;
}

/* Opens and locks STORE/mount.lock; waits up to wait_ms for a store that
 * is just being unmounted.  Returns the fd, or -1 when it stays locked. */
static int lock_store(const char *dir, int wait_ms)
{
    char path[PATH_MAX + sizeof LOCK_NAME + 1];
    snprintf(path, sizeof path, "%s/%s", dir, LOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    for (int waited = 0;; waited += 50) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (waited >= wait_ms)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    close(fd);
    return -1;
}

/* Splits -o options: sync=close is casefs's, the rest goes to libfuse. */
static int mount_options(const char *opts, struct fs_options *fo, char *extra, size_t len)
{
    extra[0] = '\0';
    if (!opts)
        return 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", opts);
    char *save = NULL;
    for (char *o = strtok_r(buf, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (strcmp(o, "sync=close") == 0) {
            fo->sync_close = 1;
        } else if (strncmp(o, "sync=", 5) == 0) {
            return cli_fail(CLI_USAGE,
                            "mount: unknown value in '-o %s': the choice is "
                            "sync=close",
                            o);
        } else if (strcmp(o, "default_permissions") == 0) {
            return cli_fail(CLI_USAGE,
                            "mount: '-o default_permissions' is not allowed: casefs "
                            "checks and logs every access itself");
        } else {
            if (strlen(extra) + strlen(o) + 2 > len)
                return cli_fail(CLI_USAGE, "mount: -o options too long");
            if (extra[0])
                strcat(extra, ",");
            strcat(extra, o);
        }
    }
    return 0;
}

int cmd_mount(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "mount", "passphrase-file,f,o");
    if (rc)
        return rc;
    if (a.help) {
        puts(
            "usage: casefs mount STORE MOUNTPOINT [-f] [-o OPT,...] [--passphrase-file "
            "FILE]\n"
            "Mounts STORE on the empty folder MOUNTPOINT and returns once it is usable.\n"
            "  -f              stay in the foreground\n"
            "  -o sync=close   make every close durable (fsync of the store)\n"
            "  -o OPT          other options are passed to libfuse");
        return 0;
    }
    if (a.npos != 2)
        return cli_fail(CLI_USAGE, "mount: give STORE and MOUNTPOINT: casefs mount STORE "
                                   "MOUNTPOINT");
    const char *mp = a.pos[1];
    /* The daemon leaves the working folder: it needs the store's full path. */
    char dir[PATH_MAX];
    if (!realpath(a.pos[0], dir))
        snprintf(dir, sizeof dir, "%s", a.pos[0]);
    struct fs_options fo = {0};
    char extra[1024];
    rc = mount_options(a.fuse_opts, &fo, extra, sizeof extra);
    if (rc)
        return rc;
    fo.extra = extra;

    rc = store_probe(dir, NULL);
    if (rc)
        return cli_store_error(dir, rc);
    struct stat st;
    if (stat(mp, &st) != 0)
        return cli_fail(CLI_REFUSED,
                        "mountpoint %s does not exist: create it with 'mkdir %s'", mp,
                        mp);
    if (!S_ISDIR(st.st_mode))
        return cli_fail(CLI_REFUSED,
                        "mountpoint %s is not a folder: mount on an empty folder", mp);
    int entries = store_dir_entries(mp);
    if (entries < 0)
        return cli_fail(CLI_REFUSED, "cannot read mountpoint %s: %s", mp,
                        strerror(-entries));
    if (entries > 0)
        return cli_fail(CLI_REFUSED,
                        "mountpoint %s is not empty: mount on an empty folder", mp);
    if (access("/dev/fuse", R_OK | W_OK) != 0)
        return cli_fail(CLI_REFUSED,
                        "/dev/fuse is missing or not usable: load the fuse "
                        "module ('modprobe fuse') or run where FUSE is available");
    int lock = lock_store(dir, 2000);
    if (lock < 0)
        return cli_fail(CLI_REFUSED,
                        "%s is already mounted: unmount it first with 'casefs "
                        "umount MOUNTPOINT'",
                        dir);
    char *pass;
    size_t len;
    rc = cli_passphrase_read(a.passphrase_file, "Passphrase: ", &pass, &len);
    if (rc) {
        close(lock);
        return rc;
    }
    struct keys *keys;
    rc = store_unlock(dir, pass, len, &keys);
    cli_passphrase_free(pass);
    if (rc) {
        close(lock);
        return cli_store_error(dir, rc);
    }
    char absmp[PATH_MAX];
    if (!realpath(mp, absmp))
        snprintf(absmp, sizeof absmp, "%s", mp);

    if (a.foreground) {
        struct store *s;
        char err[512];
        struct fs *f;
        rc = store_open(dir, keys, 0, &s);
        if (rc) {
            close(lock);
            return cli_store_error(dir, rc);
        }
        if (fs_mount(s, absmp, &fo, &f, err, sizeof err) != 0) {
            close(lock);
            return cli_fail(CLI_REFUSED, "%s", err);
        }
        rc = fs_run(f);
        close(lock);
        return rc ? CLI_REFUSED : 0;
    }

    int pfd[2];
    if (pipe(pfd) != 0) {
        keys_free(keys);
        close(lock);
        return cli_fail(CLI_REFUSED, "cannot create a pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        keys_free(keys);
        close(lock);
        return cli_fail(CLI_REFUSED, "cannot fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(pfd[0]);
        setsid();
        struct store *s;
        struct fs *f;
        char msg[1024];
        rc = store_open(dir, keys, 0, &s);
        if (rc) {
            cli_store_error_text(dir, rc, msg, sizeof msg);
        } else if (fs_mount(s, absmp, &fo, &f, msg, sizeof msg) == 0) {
            rc = 0;
        } else {
            rc = -1;
        }
        if (rc) {
            if (write(pfd[1], msg, strlen(msg)) < 0)
                _exit(1);
            _exit(1);
        }
        if (write(pfd[1], "ready", 5) != 5)
            _exit(1);
        close(pfd[1]);
        if (chdir("/") != 0)
            _exit(1);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        rc = fs_run(f);
        close(lock);
        _exit(rc ? 1 : 0);
    }
    keys_free(keys);
    close(lock);
    close(pfd[1]);
    char msg[1024];
    ssize_t n = 0, r;
    while ((r = read(pfd[0], msg + n, sizeof msg - 1 - (size_t)n)) > 0)
        n += r;
    close(pfd[0]);
    msg[n > 0 ? n : 0] = '\0';
    if (strcmp(msg, "ready") == 0)
        return 0;
    int status;
    waitpid(pid, &status, 0);
    return cli_fail(CLI_REFUSED, "%s",
                    n > 0 ? msg
                          : "the mount process stopped: see the "
                            "system log");
}

static int is_mounted(const char *absmp)
{
    FILE *f = fopen("/proc/self/mounts", "re");
    if (!f)
        return -1;
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char dev[1024], mnt[2048];
        if (sscanf(line, "%1023s %2047s", dev, mnt) == 2 && strcmp(mnt, absmp) == 0)
            found = 1;
    }
    fclose(f);
    return found;
}

int cmd_umount(int argc, char **argv)
{
    struct args a;
    int rc = args_parse(&a, argc, argv, "umount", "");
    if (rc)
        return rc;
    if (a.help) {
        puts("usage: casefs umount MOUNTPOINT\nUnmounts a casefs mount; every closed "
             "document is already committed.");
        return 0;
    }
    if (a.npos != 1)
        return cli_fail(CLI_USAGE,
                        "umount: give the MOUNTPOINT: casefs umount MOUNTPOINT");
    char absmp[PATH_MAX];
    if (!realpath(a.pos[0], absmp))
        return cli_fail(CLI_REFUSED, "mountpoint %s does not exist: check the path",
                        a.pos[0]);
    if (is_mounted(absmp) == 0)
        return cli_fail(CLI_REFUSED, "%s is not mounted: nothing to do", absmp);
    if (geteuid() == 0) {
        if (umount2(absmp, 0) != 0) {
            if (errno == EBUSY)
                return cli_fail(CLI_REFUSED,
                                "%s is busy: close the files and shells open in "
                                "it, then try again",
                                absmp);
            return cli_fail(CLI_REFUSED, "cannot unmount %s: %s", absmp, strerror(errno));
        }
    } else {
        pid_t pid = fork();
        if (pid == 0) {
            execlp("fusermount3", "fusermount3", "-u", absmp, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return cli_fail(CLI_REFUSED, "cannot unmount %s: see the message above",
                            absmp);
    }
    return 0;
}

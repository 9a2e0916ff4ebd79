#!/usr/bin/env python3
"""exerciser.py - seeded random file operations on a casefs mount and on a
plain reference directory, compared after every step.

    python3 tests/exerciser.py --seed S --ops N --mnt MNT --ref REF \
        --store STORE --casefs BIN --pass PASSFILE [--remount-every K] \
        [--crash-at I] [--case NAME] [-v]

Every operation (create, open, write at an offset, append, truncate up and
down through a handle or by path, mmap reads and writes, rename, unlink,
mkdir, rmdir, fsync, close, a whole-file save, a cross-case rename) is
applied to MNT/CASE and to REF/CASE; both must give the same result or the
same errno (a rename into the second case must give EXDEV on the mount,
DESIGN.md).  After each step every folder's listing and every file's type,
size and content must be equal on both sides.

A model of versions follows DESIGN.md: a version is committed when a handle
that wrote is closed, at fsync, when the last handle of a dirty document
goes away (a created, never written document gets an empty first version),
and by truncate(2) of a path; identical content makes no version.  A rename
onto an existing (or removed, still pending) document makes the source's
content the target's next version; unlink keeps the history, and a
document re-created under the same name continues it.  Every K operations
all handles are closed and casefs is unmounted and mounted again; then each
live document's .versions/ must list exactly the expected versions, byte
for byte, and the count of versions never decreases.  At the end every
version of every document is compared with `casefs cat --version N` and
`casefs history`.

With --crash-at I the casefs daemon is killed with SIGKILL before
operation I; the mount is lazily unmounted and mounted again, every version
whose close or fsync returned must be intact, `casefs verify` must exit 0,
and the run continues against the re-mounted store.

The exit status is 0 when everything matched, 1 on the first difference
(printed with the operations that led to it and a one-line replay
command), 2 on bad usage.
"""

import argparse
import errno
import mmap
import os
import random
import shlex
import signal
import subprocess
import sys
import time

CASE2_SUFFIX = "-other"
DIRS = ["d0", "d1", "d2"]
FILES = ["f0.txt", "f1.txt", "f2", "f3.dat", "f4.txt", "g5.txt"]
MAX_HANDLES = 6
MAX_SIZE = 200000


class Mismatch(Exception):
    pass


class Doc:
    """A document's history: the committed versions (bytes) and whether its
    content changed since the last commit."""

    _next = 0

    def __init__(self):
        Doc._next += 1
        self.id = Doc._next
        self.versions = []
        self.dirty = True  # a created document commits at its last close
        self.detached = False  # no path reaches it any more
        self.handles = []


class Handle:
    def __init__(self, hid, doc, fd_m, fd_r, flags, path):
        self.id = hid
        self.doc = doc
        self.fd_m = fd_m
        self.fd_r = fd_r
        self.flags = flags
        self.wrote = False
        self.path = path  # as opened (for the log of operations)


def ename(e):
    return errno.errorcode.get(e, str(e))


def attempt(fn):
    try:
        return ("ok", fn())
    except OSError as e:
        return ("err", ename(e.errno))


class Exerciser:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.case = a.case
        self.case2 = a.case + CASE2_SUFFIX
        self.mroot = os.path.join(a.mnt, self.case)
        self.rroot = os.path.join(a.ref, self.case)
        self.docs = {}  # live path (relative to the case) -> Doc
        self.ghosts = {}  # removed path -> Doc (re-creating continues it)
        self.handles = []
        self.hid = 0
        self.history = []  # the operations done, for the report
        self.seen_counts = {}  # doc id -> highest version count seen
        self.opno = 0
        self.crashed = False

    # --- reporting -------------------------------------------------------

    def log(self, text):
        self.history.append("%d: %s" % (self.opno, text))
        if self.a.verbose:
            print("%d: %s" % (self.opno, text), flush=True)

    def replay(self):
        a = self.a
        cmd = ["python3", os.path.abspath(__file__), "--seed", str(a.seed), "--ops", str(a.ops),
               "--remount-every", str(a.remount_every), "--casefs", a.casefs]
        if a.crash_at is not None:
            cmd += ["--crash-at", str(a.crash_at)]
        for x in a.avoid:
            cmd += ["--avoid", x]
        return " ".join(shlex.quote(c) for c in cmd) + ' --workdir "$(mktemp -d)" -v'


    # --- casefs commands -------------------------------------------------

    def cfs(self, *args, check=True):
        p = subprocess.run([self.a.casefs] + list(args) + ["--passphrase-file", self.a.passfile],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and p.returncode != 0:
            raise Mismatch("casefs %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                           p.stderr.decode(errors="replace").strip()))
        return p

    def daemon_pids(self):
        want = os.path.abspath(self.a.store)
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            argv = [x.decode(errors="replace") for x in argv if x]
            if len(argv) >= 3 and os.path.basename(argv[0]) == "casefs" and argv[1] == "mount":
                if os.path.abspath(argv[2]) == want:
                    pids.append(int(d))
        return pids

    def is_mounted(self):
        m = os.path.abspath(self.a.mnt)
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == m for line in f)

    def wait_daemon_gone(self):
        for _ in range(100):
            if not self.daemon_pids():
                return
            time.sleep(0.1)
        raise Mismatch("casefs daemon still running 10 s after unmount: %s" % self.daemon_pids())

    def mount(self):
        self.cfs("mount", self.a.store, self.a.mnt)
        if not self.is_mounted():
            raise Mismatch("casefs mount returned but %s is not mounted" % self.a.mnt)

    def remount(self):
        self.close_all()
        self.log("remount")
        p = subprocess.run([self.a.casefs, "umount", self.a.mnt], stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise Mismatch("casefs umount failed: %s" % p.stderr.decode(errors="replace").strip())
        self.wait_daemon_gone()
        self.mount()
        self.check_tree()
        self.check_versions_in_mount()

    def crash(self):
        """kill -9 of the daemon, lazy unmount, mount again, checks."""
        pids = self.daemon_pids()
        if len(pids) != 1:
            raise Mismatch("expected one casefs daemon, found %s" % pids)
        self.log("kill -9 %d" % pids[0])
        os.kill(pids[0], signal.SIGKILL)
        # every handle is dead now: closing them fails (ENOTCONN) and
        # commits nothing; the reference side forgets uncommitted data
        for h in list(self.handles):
            try:
                os.close(h.fd_m)
            except OSError:
                pass
            os.close(h.fd_r)
            h.doc.handles.remove(h)
        self.handles = []
        subprocess.run(["fusermount3", "-u", "-z", self.a.mnt], stderr=subprocess.DEVNULL)
        self.wait_daemon_gone()
        if self.is_mounted():
            raise Mismatch("%s still mounted after fusermount3 -u -z" % self.a.mnt)
        p = self.cfs("verify", self.a.store, check=False)
        if p.returncode != 0:
            raise Mismatch("casefs verify after kill -9 exited %d: %s %s" % (
                p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")))
        self.mount()
        # what survives: each document's committed versions; a dirty
        # document's uncommitted bytes are gone.  A created document that
        # never committed a version shows empty.
        for path, doc in list(self.docs.items()) + list(self.ghosts.items()):
            n = self.history_count(path)
            k = len(doc.versions)
            if n < k:
                raise Mismatch("%s: %d versions committed before the crash, history lists %d"
                               % (path, k, n))
            if n > k:
                raise Mismatch("%s: history lists %d versions, only %d committed" % (path, n, k))
            self.check_store_versions(path, doc, range(len(doc.versions)))
            doc.dirty = False
        for path, doc in self.docs.items():
            want = doc.versions[-1] if doc.versions else b""
            with open(os.path.join(self.rroot, path), "wb") as f:
                f.write(want)
        self.crashed = True
        self.log("after the crash: verify clean, every committed version intact")
        self.check_tree()

    # --- the model -------------------------------------------------------

    def ref_content(self, doc):
        for h in doc.handles:
            # a new reading fd on the same file (the handle may be O_WRONLY,
            # the file may be unlinked)
            fd = os.open("/proc/self/fd/%d" % h.fd_r, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                return os.pread(fd, size, 0) if size else b""
            finally:
                os.close(fd)
        for path, d in self.docs.items():
            if d is doc:
                with open(os.path.join(self.rroot, path), "rb") as f:
                    return f.read()
        raise AssertionError("no way to read doc %d" % doc.id)

    def commit(self, doc, why):
        if not doc.dirty:
            return
        if doc.detached:
            doc.dirty = False
            return
        content = self.ref_content(doc)
        doc.dirty = False
        if doc.versions and doc.versions[-1] == content:
            return
        doc.versions.append(content)
        self.log("  model: v%d of doc %d (%d bytes, %s)" % (len(doc.versions), doc.id,
                                                            len(content), why))

    def release(self, h, wrote):
        """The model's side of closing h (called while h's reference fd is
        still open: the content does not change at close)."""
        doc = h.doc
        if wrote:
            self.commit(doc, "close")
        if len(doc.handles) == 1:
            self.commit(doc, "last close")
        doc.handles.remove(h)

    def recreate(self, path):
        """The document made at path: a removed one's history continues
        (DESIGN.md); handles still open on the removed document keep what
        they had, as on a local filesystem, and what they write is kept by
        casefs as a detached document."""
        doc = self.ghosts.pop(path, None)
        if doc is None:
            return Doc()
        if doc.handles:
            old = Doc()
            old.detached = True
            old.dirty = False
            old.handles = doc.handles
            for h in old.handles:
                h.doc = old
            doc.handles = []
        return doc

    def doc_paths(self):
        return sorted(self.docs)

    def ref_dirs(self):
        out = [""]
        for top, dirs, _ in os.walk(self.rroot):
            for d in dirs:
                out.append(os.path.relpath(os.path.join(top, d), self.rroot))
        return sorted(out)

    # --- random choices ----------------------------------------------------

    def pick_dir(self, existing=0.9):
        dirs = self.ref_dirs()
        if self.rng.random() < existing:
            return self.rng.choice(dirs)
        base = self.rng.choice(dirs)
        return os.path.join(base, self.rng.choice(DIRS)) if base else self.rng.choice(DIRS)

    def pick_path(self, files=True):
        # mostly an existing document, otherwise a name in some folder
        if files and self.docs and self.rng.random() < 0.6:
            return self.rng.choice(self.doc_paths())
        d = self.pick_dir()
        name = self.rng.choice(FILES if files else DIRS)
        return os.path.join(d, name) if d else name

    def data(self, n):
        kind = self.rng.random()
        if kind < 0.3:
            return bytes([self.rng.randrange(256)]) * n
        if kind < 0.6:
            word = ("op%d-%d " % (self.opno, self.a.seed)).encode()
            return (word * (n // len(word) + 1))[:n]
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def size_choice(self, cur):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.randrange(0, 64)
        if r < 0.6:
            return self.rng.randrange(0, cur + 1) if cur else 0
        if r < 0.9:
            return cur + self.rng.randrange(1, 5000)
        return self.rng.choice([4095, 4096, 4097, 65535, 65536, 65537, 131072])

    # --- both sides --------------------------------------------------------

    def both(self, what, fm, fr, expect_m=None):
        """Runs fm (mount) and fr (reference); the results must agree."""
        rm = attempt(fm)
        rr = attempt(fr) if expect_m is None else ("err", expect_m)
        self.log("%s -> mount %s, ref %s" % (what, rm if rm[0] == "err" else "ok",
                                             rr if rr[0] == "err" else "ok"))
        if rm[0] != rr[0] or (rm[0] == "err" and rm[1] != rr[1]):
            raise Mismatch("%s: mount gave %s, reference gave %s" % (what, rm, rr))
        if rm[0] == "ok" and rr[0] == "ok" and isinstance(rm[1], bytes) and rm[1] != rr[1]:
            raise Mismatch("%s: mount read %d bytes %r..., reference %d bytes %r..."
                           % (what, len(rm[1]), rm[1][:40], len(rr[1]), rr[1][:40]))
        return rm[0] == "ok", rm[1], rr[1] if rr[0] == "ok" else None

    def M(self, path):
        return os.path.join(self.mroot, path)

    def R(self, path):
        return os.path.join(self.rroot, path)

    # --- operations --------------------------------------------------------

    def op_open(self):
        if len(self.handles) >= MAX_HANDLES:
            return self.op_close()
        path = self.pick_path()
        acc = self.rng.choice([os.O_RDWR, os.O_RDWR, os.O_WRONLY, os.O_RDONLY])
        flags = acc
        if self.rng.random() < 0.5:
            flags |= os.O_CREAT
            if self.rng.random() < 0.2:
                flags |= os.O_EXCL
        if acc != os.O_RDONLY and self.rng.random() < 0.15:
            flags |= os.O_TRUNC
        if acc != os.O_RDONLY and self.rng.random() < 0.15:
            flags |= os.O_APPEND
        existed = path in self.docs
        ok, fd_m, fd_r = self.both("open %s flags %o" % (path, flags),
                                   lambda: os.open(self.M(path), flags, 0o644),
                                   lambda: os.open(self.R(path), flags, 0o644))
        if not ok:
            return
        if not existed:
            doc = self.recreate(path)
            doc.dirty = True
            self.docs[path] = doc
        doc = self.docs[path]
        if flags & os.O_TRUNC:
            doc.dirty = True
        self.hid += 1
        h = Handle(self.hid, doc, fd_m, fd_r, flags, path)
        doc.handles.append(h)
        self.handles.append(h)
        self.log("  handle %d on doc %d" % (h.id, doc.id))

    def pick_handle(self, writable=False):
        hs = [h for h in self.handles
              if not writable or (h.flags & os.O_ACCMODE) != os.O_RDONLY]
        return self.rng.choice(hs) if hs else None

    def op_write(self, append=False):
        h = self.pick_handle(writable=self.rng.random() < 0.9)
        if not h:
            return self.op_open()
        size = os.fstat(h.fd_r).st_size
        n = self.rng.choice([1, 7, 100, 512, 4096, 5000, self.rng.randrange(1, 20000)])
        if append or h.flags & os.O_APPEND:
            off = size
        else:
            off = self.size_choice(size)
        if off + n > MAX_SIZE:
            off = self.rng.randrange(0, max(1, size))
        buf = self.data(n)
        ok, _, _ = self.both("write handle %d (%s) %d bytes at %d%s" % (
            h.id, h.path, n, off, " (append)" if append else ""),
            lambda: os.write(h.fd_m, buf) if append else os.pwrite(h.fd_m, buf, off),
            lambda: os.write(h.fd_r, buf) if append else os.pwrite(h.fd_r, buf, off))
        if ok:
            h.wrote = True
            h.doc.dirty = True

    def op_append(self):
        h = self.pick_handle(writable=True)
        if not h:
            return self.op_open()
        # os.write at the end: lseek the reference and mount fds alike
        size = os.fstat(h.fd_r).st_size
        if not h.flags & os.O_APPEND:
            os.lseek(h.fd_m, size, os.SEEK_SET)
            os.lseek(h.fd_r, size, os.SEEK_SET)
        self.op_write_at_end(h)

    def op_write_at_end(self, h):
        n = self.rng.choice([1, 10, 300, 4096, 9000])
        buf = self.data(n)
        ok, _, _ = self.both("append handle %d (%s) %d bytes" % (h.id, h.path, n),
                             lambda: os.write(h.fd_m, buf), lambda: os.write(h.fd_r, buf))
        if ok:
            h.wrote = True
            h.doc.dirty = True

    def op_read(self):
        h = self.pick_handle()
        if not h:
            return self.op_open()
        size = os.fstat(h.fd_r).st_size
        off = self.rng.randrange(0, size + 10)
        n = self.rng.choice([1, 100, 4096, 70000])
        self.both("read handle %d (%s) %d at %d" % (h.id, h.path, n, off),
                  lambda: os.pread(h.fd_m, n, off), lambda: os.pread(h.fd_r, n, off))

    def op_ftruncate(self):
        h = self.pick_handle(writable=self.rng.random() < 0.9)
        if not h:
            return self.op_open()
        size = self.size_choice(os.fstat(h.fd_r).st_size)
        ok, _, _ = self.both("ftruncate handle %d (%s) to %d" % (h.id, h.path, size),
                             lambda: os.ftruncate(h.fd_m, size), lambda: os.ftruncate(h.fd_r, size))
        if ok:
            h.wrote = True
            h.doc.dirty = True

    def op_truncate_path(self):
        path = self.pick_path()
        cur = os.path.getsize(self.R(path)) if path in self.docs else 0
        size = self.size_choice(cur)
        ok, _, _ = self.both("truncate %s to %d" % (path, size),
                             lambda: os.truncate(self.M(path), size),
                             lambda: os.truncate(self.R(path), size))
        if ok:
            doc = self.docs[path]
            doc.dirty = True
            self.commit(doc, "truncate(2)")

    def op_fsync(self):
        h = self.pick_handle()
        if not h:
            return self.op_open()
        ok, _, _ = self.both("fsync handle %d (%s)" % (h.id, h.path),
                             lambda: os.fsync(h.fd_m), lambda: os.fsync(h.fd_r))
        if ok:
            self.commit(h.doc, "fsync")
            h.wrote = False

    def op_close(self, h=None):
        h = h or self.pick_handle()
        if not h:
            return self.op_open()
        self.handles.remove(h)
        self.release(h, h.wrote)
        self.both("close handle %d (%s)" % (h.id, h.path),
                  lambda: os.close(h.fd_m), lambda: os.close(h.fd_r))

    def close_all(self):
        for h in list(self.handles):
            self.op_close(h)

    def op_mmap(self):
        """mmap reads and writes on a fresh O_RDWR handle of a document no
        other handle has open (so the write-back belongs to this handle)."""
        cands = [p for p, d in self.docs.items() if not d.handles]
        if not cands:
            return self.op_save()
        path = self.rng.choice(sorted(cands))
        size = os.path.getsize(self.R(path))
        if size == 0:
            return self.op_save(path)
        doc = self.docs[path]
        fd_m = os.open(self.M(path), os.O_RDWR)
        fd_r = os.open(self.R(path), os.O_RDWR)
        mm = mmap.mmap(fd_m, size)
        mr = mmap.mmap(fd_r, size)
        try:
            off = self.rng.randrange(0, size)
            n = self.rng.randrange(1, min(size - off, 9000) + 1)
            self.log("mmap %s (%d bytes): read %d at %d" % (path, size, n, off))
            if mm[off:off + n] != mr[off:off + n]:
                raise Mismatch("mmap read of %s at %d (%d bytes) differs" % (path, off, n))
            wrote = False
            if self.rng.random() < 0.7:
                off = self.rng.randrange(0, size)
                n = self.rng.randrange(1, min(size - off, 9000) + 1)
                buf = self.data(n)
                self.log("mmap %s: write %d at %d, flush" % (path, n, off))
                mm[off:off + n] = buf
                mr[off:off + n] = buf
                mm.flush()
                mr.flush()
                wrote = True
                if mm[:] != mr[:]:
                    raise Mismatch("mmap of %s after the write differs" % path)
        finally:
            mm.close()
            mr.close()
        os.close(fd_m)
        os.close(fd_r)
        if wrote:
            doc.dirty = True
            self.commit(doc, "close after mmap write")

    def op_save(self, path=None):
        """A whole-file save: O_WRONLY|O_CREAT|O_TRUNC, write, close."""
        path = path or self.pick_path()
        buf = self.data(self.rng.choice([0, 5, 200, 4096, 10000]))

        def save(p):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, buf)
            finally:
                os.close(fd)
        existed = path in self.docs
        ok, _, _ = self.both("save %s (%d bytes)" % (path, len(buf)),
                             lambda: save(self.M(path)), lambda: save(self.R(path)))
        if ok:
            if not existed:
                self.docs[path] = self.recreate(path)
            doc = self.docs[path]
            doc.dirty = True
            if buf:
                self.commit(doc, "save")
            elif not doc.handles:
                self.commit(doc, "save (last close)")

    def op_rename(self):
        if self.rng.random() < 0.75:
            src = self.pick_path()
            dst = self.pick_path(files=self.rng.random() < 0.9)
        else:
            src = self.pick_path(files=False)
            if self.rng.random() < 0.5:
                src = self.rng.choice(self.ref_dirs()[1:] or [src])
            dst = self.pick_path(files=False)
        if "open-rename" in self.a.avoid:
            for p in (src, dst):
                for h in list(self.docs[p].handles if p in self.docs else
                              self.ghosts[p].handles if p in self.ghosts else []):
                    self.op_close(h)
        ok, _, _ = self.both("rename %s -> %s" % (src, dst),
                             lambda: os.rename(self.M(src), self.M(dst)),
                             lambda: os.rename(self.R(src), self.R(dst)))
        if not ok or src == dst:
            return
        if os.path.isdir(self.R(dst)):
            moved = {}
            for table in (self.docs, self.ghosts):
                for p in list(table):
                    if p.startswith(src + "/"):
                        moved[(id(table), p)] = table.pop(p)
            for (tid, p), doc in moved.items():
                table = self.docs if tid == id(self.docs) else self.ghosts
                table[dst + p[len(src):]] = doc
            return
        doc = self.docs.pop(src)
        target = self.docs.pop(dst, None) or self.ghosts.pop(dst, None)
        if target is None:
            self.docs[dst] = doc
            return
        # the source's content becomes the target's next version; the
        # source's handles now reach the target (as on a local filesystem),
        # the target's old handles reach nothing
        content = self.ref_content_via_path(dst)
        if not target.versions or target.versions[-1] != content:
            target.versions.append(content)
            self.log("  model: v%d of doc %d (%d bytes, rename onto it)"
                     % (len(target.versions), target.id, len(content)))
        for h in target.handles:
            h.doc = Doc()
            h.doc.detached = True
            h.doc.dirty = False
            h.doc.handles.append(h)
        target.handles = []
        for h in doc.handles:
            h.doc = target
            target.handles.append(h)
        target.dirty = doc.dirty and bool(doc.handles)
        doc.detached = True
        self.docs[dst] = target

    def ref_content_via_path(self, path):
        with open(self.R(path), "rb") as f:
            return f.read()

    def op_cross_case_rename(self):
        if not self.docs:
            return self.op_save()
        src = self.rng.choice(self.doc_paths())
        dst = self.rng.choice(FILES)
        self.both("rename %s -> other case %s" % (src, dst),
                  lambda: os.rename(self.M(src), os.path.join(self.a.mnt, self.case2, dst)),
                  None, expect_m="EXDEV")

    def op_unlink(self):
        path = self.pick_path()
        ok, _, _ = self.both("unlink %s" % path,
                             lambda: os.unlink(self.M(path)), lambda: os.unlink(self.R(path)))
        if ok:
            doc = self.docs.pop(path)
            self.ghosts[path] = doc

    def op_mkdir(self):
        path = self.pick_path(files=False)
        self.both("mkdir %s" % path, lambda: os.mkdir(self.M(path)), lambda: os.mkdir(self.R(path)))

    def op_rmdir(self):
        path = self.pick_path(files=False)
        if self.rng.random() < 0.5 and len(self.ref_dirs()) > 1:
            path = self.rng.choice(self.ref_dirs()[1:])
        self.both("rmdir %s" % path, lambda: os.rmdir(self.M(path)), lambda: os.rmdir(self.R(path)))

    def op_stat(self):
        path = self.pick_path(files=self.rng.random() < 0.7)
        self.both("stat %s" % path,
                  lambda: (lambda s: (s.st_mode & 0o170000, s.st_size if not
                                      os.path.isdir(self.M(path)) else 0))(os.stat(self.M(path))),
                  lambda: (lambda s: (s.st_mode & 0o170000, s.st_size if not
                                      os.path.isdir(self.R(path)) else 0))(os.stat(self.R(path))))

    OPS = [
        ("open", 14), ("write", 18), ("append", 6), ("read", 6), ("ftruncate", 6),
        ("truncate_path", 4), ("fsync", 5), ("close", 12), ("mmap", 5), ("save", 8),
        ("rename", 8), ("cross_case_rename", 1), ("unlink", 5), ("mkdir", 4), ("rmdir", 3),
        ("stat", 3),
    ]

    # --- checks ------------------------------------------------------------

    def check_tree(self):
        for top, dirs, files in os.walk(self.rroot):
            rel = os.path.relpath(top, self.rroot)
            mtop = self.mroot if rel == "." else os.path.join(self.mroot, rel)
            want = sorted([".", ".."] + dirs + files)
            try:
                got = sorted([".", ".."] + os.listdir(mtop))
            except OSError as e:
                raise Mismatch("listing %s on the mount: %s" % (rel, ename(e.errno)))
            if got != want:
                raise Mismatch("listing of %s: mount %s, reference %s" % (rel, got, want))
            for d in dirs:
                if not os.path.isdir(os.path.join(mtop, d)):
                    raise Mismatch("%s/%s: a folder in the reference, not on the mount" % (rel, d))
            for f in files:
                rp = os.path.join(top, f)
                mp = os.path.join(mtop, f)
                st = os.stat(mp)
                if not os.path.isfile(mp):
                    raise Mismatch("%s/%s: a file in the reference, not on the mount" % (rel, f))
                rs = os.path.getsize(rp)
                if st.st_size != rs:
                    raise Mismatch("%s/%s: size %d on the mount, %d in the reference"
                                   % (rel, f, st.st_size, rs))
                with open(mp, "rb") as fm, open(rp, "rb") as fr:
                    cm, cr = fm.read(), fr.read()
                if cm != cr:
                    at = next((i for i in range(min(len(cm), len(cr))) if cm[i] != cr[i]),
                              min(len(cm), len(cr)))
                    raise Mismatch("%s/%s: content differs from byte %d (mount %d bytes, "
                                   "reference %d)" % (rel, f, at, len(cm), len(cr)))
        # the other case stays empty
        if os.listdir(os.path.join(self.a.mnt, self.case2)):
            raise Mismatch("the other case is not empty: %s"
                           % os.listdir(os.path.join(self.a.mnt, self.case2)))

    def note_count(self, doc, n, path):
        seen = self.seen_counts.get(doc.id, 0)
        if n < seen:
            raise Mismatch("%s: the number of versions went down from %d to %d (doc %d, "
                           "expected %d)" % (path, seen, n, doc.id, len(doc.versions)))
        self.seen_counts[doc.id] = n

    def check_versions_in_mount(self):
        """.versions/NAME/ of each live document lists exactly the expected
        versions, each byte for byte."""
        for path, doc in sorted(self.docs.items()):
            d, name = os.path.split(path)
            vdir = os.path.join(self.mroot, d, ".versions", name)
            ext = os.path.splitext(name)[1]
            want = ["v%d%s" % (i + 1, ext) for i in range(len(doc.versions))]
            try:
                got = os.listdir(vdir)
            except OSError as e:
                got = [] if e.errno == errno.ENOENT else ["<%s>" % ename(e.errno)]
            got.sort(key=lambda s: int(s[1:].split(".")[0]) if s[1:].split(".")[0].isdigit() else 0)
            self.note_count(doc, len(got), path)
            if got != want:
                raise Mismatch("%s: .versions lists %s, expected %s" % (path, got, want))
            for i, v in enumerate(doc.versions):
                with open(os.path.join(vdir, want[i]), "rb") as f:
                    c = f.read()
                if c != v:
                    raise Mismatch("%s: .versions/%s differs from what was saved (%d bytes, "
                                   "expected %d)" % (path, want[i], len(c), len(v)))
            cur = self.ref_content_via_path(path)
            if doc.versions and not doc.dirty and doc.versions[-1] != cur:
                raise Mismatch("%s: the last version is not the current content" % path)

    def history_count(self, path):
        p = self.cfs("history", self.a.store, os.path.join(self.case, path), check=False)
        if p.returncode != 0:
            return 0
        return len([l for l in p.stdout.decode(errors="replace").splitlines() if l.strip()])

    def check_store_versions(self, path, doc, numbers):
        full = os.path.join(self.case, path)
        for i in numbers:
            v = doc.versions[i]
            p = self.cfs("cat", self.a.store, full, "--version", str(i + 1), check=False)
            if p.returncode != 0:
                raise Mismatch("casefs cat %s --version %d failed: %s"
                               % (full, i + 1, p.stderr.decode(errors="replace").strip()))
            if p.stdout != v:
                raise Mismatch("casefs cat %s --version %d: %d bytes, expected %d as saved"
                               % (full, i + 1, len(p.stdout), len(v)))

    def check_store(self):
        """Each document's history through casefs (reading the store itself):
        the number of versions of every document, every version of the
        documents no path on the mount reaches, and the last version of the
        others (the mount's .versions showed each of theirs byte for byte
        just before; every casefs call unlocks the store, which costs a
        fifth of a second)."""
        for path, doc in sorted(self.docs.items()) + sorted(self.ghosts.items()):
            n = self.history_count(path)
            self.note_count(doc, n, path)
            if n != len(doc.versions):
                raise Mismatch("%s: casefs history lists %d versions, expected %d"
                               % (path, n, len(doc.versions)))
        for path, doc in sorted(self.docs.items()):
            self.check_store_versions(path, doc, range(len(doc.versions))[-1:])
        for path, doc in sorted(self.ghosts.items()):
            self.check_store_versions(path, doc, range(len(doc.versions)))

    # --- the run -------------------------------------------------------------

    def setup(self):
        for root in (self.a.mnt, self.a.ref):
            for c in (self.case, self.case2):
                if not os.path.isdir(os.path.join(root, c)):
                    os.mkdir(os.path.join(root, c))
        if os.listdir(self.rroot) or os.listdir(self.mroot):
            raise Mismatch("case %s is not empty at the start (use a fresh case name)" % self.case)

    def run(self):
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        self.setup()
        for i in range(1, self.a.ops + 1):
            self.opno = i
            if self.a.crash_at is not None and i == self.a.crash_at:
                self.crash()
            name = self.rng.choices(names, weights)[0]
            getattr(self, "op_" + name)()
            self.check_tree()
            if self.a.remount_every and i % self.a.remount_every == 0:
                self.remount()
        self.opno += 1
        self.close_all()
        self.check_tree()
        self.remount()
        self.check_store()
        p = self.cfs("verify", self.a.store, check=False)
        if p.returncode != 0:
            raise Mismatch("casefs verify exited %d: %s" % (p.returncode, p.stdout.decode(
                errors="replace")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--workdir", help="an empty folder: make a store, a mount and a reference"
                    " there (instead of --mnt, --ref, --store, --pass)")
    ap.add_argument("--mnt", help="the casefs mount point")
    ap.add_argument("--ref", help="a plain directory")
    ap.add_argument("--store")
    ap.add_argument("--casefs", required=True, help="the casefs binary")
    ap.add_argument("--pass", dest="passfile", help="passphrase file")
    ap.add_argument("--case", default=None, help="case folder to use (default x-SEED)")
    ap.add_argument("--remount-every", type=int, default=100)
    ap.add_argument("--crash-at", type=int, default=None,
                    help="kill -9 the daemon before this operation")
    ap.add_argument("--avoid", action="append", default=[], choices=["open-rename"],
                    help="leave out a pattern that hits a known casefs bug, to hunt for "
                    "others (open-rename: close the handles of both documents before a "
                    "rename onto an existing document); the test suite never does this")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.case is None:
        a.case = "x-%d" % a.seed
    if a.workdir:
        a.mnt, a.ref, a.store, a.passfile = (os.path.join(a.workdir, n)
                                             for n in ("mnt", "ref", "store", "pass"))
        os.makedirs(a.mnt, exist_ok=True)
        os.makedirs(a.ref, exist_ok=True)
        with open(a.passfile, "w") as f:
            f.write("exerciser passphrase\n")
        for cmd in (["init", a.store], ["mount", a.store, a.mnt]):
            p = subprocess.run([a.casefs] + cmd + ["--passphrase-file", a.passfile])
            if p.returncode != 0:
                sys.exit("exerciser: casefs %s failed" % cmd[0])
    elif not (a.mnt and a.ref and a.store and a.passfile):
        ap.error("give --workdir or all of --mnt, --ref, --store, --pass")
    for attr in ("mnt", "ref", "store", "casefs", "passfile"):
        setattr(a, attr, os.path.abspath(getattr(a, attr)))
    ex = Exerciser(a)
    t0 = time.time()
    try:
        ex.run()
    except BaseException as e:  # a crash of the exerciser itself counts as a failure too
        if isinstance(e, SystemExit):
            raise
        print("FAIL seed %d at operation %d: %s: %s" % (a.seed, ex.opno, type(e).__name__, e))
        print("last operations:")
        for line in ex.history[-25:]:
            print("  " + line)
        print("replay: " + ex.replay())
        finish(a)
        sys.exit(1)
    nv = sum(len(d.versions) for d in list(ex.docs.values()) + list(ex.ghosts.values()))
    print("ok seed %d: %d operations, %d documents, %d versions checked%s (%.1f s)"
          % (a.seed, a.ops, len(ex.docs) + len(ex.ghosts), nv,
             ", survived kill -9 at %d" % a.crash_at if ex.crashed else "", time.time() - t0))
    finish(a)


def finish(a):
    """With --workdir: unmount (the folder stays for a post mortem)."""
    if a.workdir:
        subprocess.run([a.casefs, "umount", a.mnt], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()

#!/bin/bash
# t3300-errno: the usual error cases give the same errno as on ext4.  The
# same Python probes run on a plain folder and inside a case of the mount,
# and their answers are compared line by line.

. "$(dirname "$0")/lib.sh"

C=2026-3300

# probe DIR: one line per case, "name errno-name".
probe () {
    python3 - "$1" <<-\PY
	import errno, os, sys
	d = sys.argv[1]
	def attempt(name, fn):
	    try:
	        fn()
	        print(name, "OK")
	    except OSError as e:
	        print(name, errno.errorcode.get(e.errno, e.errno))
	open(os.path.join(d, "file.txt"), "w").write("x\n")
	os.mkdir(os.path.join(d, "dir"))
	open(os.path.join(d, "dir", "inner.txt"), "w").write("y\n")
	p = lambda *a: os.path.join(d, *a)
	attempt("open-missing", lambda: open(p("missing.txt")))
	attempt("stat-missing", lambda: os.stat(p("missing", "deeper")))
	attempt("mkdir-existing", lambda: os.mkdir(p("dir")))
	attempt("create-excl-existing", lambda: os.open(p("file.txt"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
	attempt("path-through-file", lambda: open(p("file.txt", "x")))
	attempt("mkdir-under-file", lambda: os.mkdir(p("file.txt", "sub")))
	attempt("open-dir-for-write", lambda: os.open(p("dir"), os.O_WRONLY))
	attempt("unlink-dir", lambda: os.unlink(p("dir")))
	attempt("rmdir-file", lambda: os.rmdir(p("file.txt")))
	attempt("rmdir-not-empty", lambda: os.rmdir(p("dir")))
	attempt("rmdir-missing", lambda: os.rmdir(p("nodir")))
	attempt("unlink-missing", lambda: os.unlink(p("missing.txt")))
	attempt("rename-missing", lambda: os.rename(p("missing.txt"), p("other.txt")))
	attempt("rename-dir-onto-file", lambda: os.rename(p("dir"), p("file.txt")))
	attempt("rename-file-onto-dir", lambda: os.rename(p("file.txt"), p("dir")))
	attempt("rename-dir-onto-nonempty-dir", lambda: (os.mkdir(p("dir2")), os.rename(p("dir2"), p("dir"))))
	attempt("name-too-long", lambda: open(p("n" * 256), "w"))
	attempt("name-255-ok", lambda: open(p("n" * 255), "w").close())
	attempt("listdir-file", lambda: os.listdir(p("file.txt")))
	attempt("read-dir", lambda: os.read(os.open(p("dir"), os.O_RDONLY), 10))
	PY
}

test_expect_success 'the usual error cases answer as on ext4' '
    mkdir "$MNT/$C" "$SCRATCH/plain" &&
    probe "$SCRATCH/plain" >"$TMP/plain" &&
    probe "$MNT/$C" >"$TMP/mount" &&
    cat "$TMP/mount" &&
    test_cmp "$TMP/plain" "$TMP/mount"
'

test_expect_success 'the answers are the expected ones (not both wrong alike)' '
    grep -qx "open-missing ENOENT" "$TMP/mount" &&
    grep -qx "mkdir-existing EEXIST" "$TMP/mount" &&
    grep -qx "path-through-file ENOTDIR" "$TMP/mount" &&
    grep -qx "open-dir-for-write EISDIR" "$TMP/mount" &&
    grep -qx "rmdir-not-empty ENOTEMPTY" "$TMP/mount" &&
    grep -qx "name-too-long ENAMETOOLONG" "$TMP/mount" &&
    grep -qx "name-255-ok OK" "$TMP/mount"
'

test_expect_success 'EACCES for another user, as on ext4 with the same modes' '
    mkdir -m 0700 "$MNT/$C/private" "$SCRATCH/private" &&
    echo secret >"$MNT/$C/private/s.txt" && echo secret >"$SCRATCH/private/s.txt" &&
    chmod 755 "$MNT/$C" &&
    for d in "$SCRATCH" "$MNT/$C"; do
        setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "
import errno, os, sys
for op, fn in [(\"list\", lambda: os.listdir(sys.argv[1] + \"/private\")),
               (\"read\", lambda: open(sys.argv[1] + \"/private/s.txt\").read()),
               (\"create\", lambda: open(sys.argv[1] + \"/private/new.txt\", \"w\"))]:
    try:
        fn(); print(op, \"OK\")
    except OSError as e:
        print(op, errno.errorcode[e.errno])
" "$d" >"$TMP/acc.$(basename "$d")" || return 1
    done &&
    cat "$TMP/acc.$C" &&
    test_cmp "$TMP/acc.scratch" "$TMP/acc.$C" &&
    test_eq "list EACCES
read EACCES
create EACCES" "$(cat "$TMP/acc.$C")" "answers"
'

test_done

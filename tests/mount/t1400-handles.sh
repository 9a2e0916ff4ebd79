#!/bin/bash
# t1400-handles: what a program sees right after a save, and what open
# handles of a removed document do when the name is made again.  Each case
# runs the same Python on a plain folder and on the mount and compares.

. "$(dirname "$0")/lib.sh"

C=2026-1400

# resave DIR N: N times write 10000 bytes, rewrite part through mmap, then
# save the document empty (O_TRUNC) and stat it at once.  Prints the sizes
# seen right after each empty save.
resave () {
    python3 - "$1" "$2" <<-\PY
	import mmap, os, sys
	p = os.path.join(sys.argv[1], "f.dat")
	sizes = []
	for i in range(int(sys.argv[2])):
	    with open(p, "wb") as f:
	        f.write(b"%05d" % i * 2000)
	    fd = os.open(p, os.O_RDWR)
	    if i % 2:
	        mm = mmap.mmap(fd, 10000)
	        mm[6000:6100] = b"x" * 100
	        mm.flush()
	        mm.close()
	    os.close(fd)
	    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	    os.close(fd)
	    sizes.append(os.stat(p).st_size)
	print(" ".join(map(str, sorted(set(sizes)))))
	PY
}

test_expect_success 'a stat right after an emptying save sees size 0 (50 times)' '
    mkdir "$MNT/$C" "$SCRATCH/plain" &&
    resave "$SCRATCH/plain" 50 >"$TMP/plain" &&
    resave "$MNT/$C" 50 >"$TMP/mount" &&
    test_eq 0 "$(cat "$TMP/plain")" "sizes on a plain folder" &&
    test_cmp "$TMP/plain" "$TMP/mount"
'

# reopen DIR: a handle stays open on a document while it is removed and
# made again under the same name; prints what each side reads afterwards.
reopen () {
    python3 - "$1" <<-\PY
	import os, sys
	p = os.path.join(sys.argv[1], "note.txt")
	with open(p, "w") as f:
	    f.write("first note\n")
	old = os.open(p, os.O_RDWR)
	os.pwrite(old, b"FIRST", 0)
	os.unlink(p)
	with open(p, "w") as f:
	    f.write("second note, longer\n")
	os.pwrite(old, b"!", 10)
	print("old handle:", os.pread(old, 100, 0))
	print("by name:", open(p, "rb").read())
	os.close(old)
	print("after close:", open(p, "rb").read())
	PY
}

test_expect_success 'a handle open across unlink and re-create keeps the removed content' '
    mkdir "$SCRATCH/plain2" &&
    reopen "$SCRATCH/plain2" >"$TMP/plain2" &&
    reopen "$MNT/$C" >"$TMP/mount2" &&
    cat "$TMP/mount2" &&
    test_cmp "$TMP/plain2" "$TMP/mount2"
'

test_expect_success 'the re-created document continues the history; the old handle made none of it' '
    hist=$(cfs history "$STORE" "$C/note.txt") &&
    printf "%s\n" "$hist" &&
    test_eq 2 "$(printf "%s\n" "$hist" | wc -l)" "versions of note.txt" &&
    test_eq "first note" "$(cfs cat "$STORE" "$C/note.txt" --version 1)" "version 1" &&
    test_eq "second note, longer" "$(cfs cat "$STORE" "$C/note.txt" --version 2)" "version 2"
'

test_expect_success 'what the old handle wrote is kept and logged, not lost' '
    cfs log "$STORE" >"$TMP/log" &&
    grep "keep-replaced" "$TMP/log" | grep "$C/note.txt" >"$TMP/kept" &&
    test_lines 1 "$TMP/kept" &&
    node=$(sed -n "s/.*kept as node \([0-9]*\).*/\1/p" "$TMP/kept") &&
    test -n "$node" &&
    test_eq 1 "$(cfs history "$STORE" --node "$node" | wc -l)" "versions kept" &&
    printf "FIRST note!" >"$TMP/want" &&
    cfs cat "$STORE" --node "$node" >"$TMP/got" &&
    test_cmp "$TMP/want" "$TMP/got" &&
    cfs verify "$STORE"
'

test_expect_success 'casefs cat --node: a wrong number is one clear line, exit 1 or 2' '
    expect_error 1 "no document number" cfs cat "$STORE" --node 999999 &&
    expect_error 2 "node" cfs cat "$STORE" --node abc &&
    expect_error 2 "PATH" cfs history "$STORE" --node 5 extra/path
'

test_done

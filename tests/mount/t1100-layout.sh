#!/bin/bash
# t1100-layout: what the mount allows, and how renames and open handles
# behave (DESIGN.md "What the mount shows" and "Versions").

. "$(dirname "$0")/lib.sh"

C=2026-0101

test_expect_success 'a case folder is made with mkdir at the root' '
    mkdir "$MNT/$C" && test -d "$MNT/$C"
'

test_expect_success 'names beginning with . are reserved at the root' '
    expect_errno_text "Operation not permitted" mkdir "$MNT/.hidden-case" &&
    test_missing "$MNT/.hidden-case"
'

test_expect_success 'documents are not made at the root, only cases' '
    expect_errno_text "Operation not permitted" touch "$MNT/loose.txt" &&
    test_missing "$MNT/loose.txt"
'

test_expect_success 'hard links, symlinks, FIFOs and device nodes are refused' '
    echo text >"$MNT/$C/doc.txt" &&
    expect_errno_text "Operation not permitted" ln "$MNT/$C/doc.txt" "$MNT/$C/hard" &&
    expect_errno_text "Operation not permitted" ln -s doc.txt "$MNT/$C/soft" &&
    expect_errno_text "Operation not permitted" mkfifo "$MNT/$C/fifo" &&
    expect_errno_text "Operation not permitted" mknod "$MNT/$C/dev" c 1 3 &&
    test_eq ".
..
doc.txt" "$(listing "$MNT/$C")" "listing"
'

test_expect_success 'a reader sees a writer'"'"'s bytes before the writer closes' '
    python3 - "$MNT/$C/shared.txt" <<-\PY
	import os, sys
	p = sys.argv[1]
	w = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
	r = os.open(p, os.O_RDONLY)
	os.write(w, b"written, not closed\n")
	got = os.read(r, 100)
	assert got == b"written, not closed\n", got
	os.close(r)
	os.close(w)
	PY
'

test_expect_success 'mv a b carries the history of a to b' '
    echo one >"$MNT/$C/a.txt" && model_add "$C/b.txt" "$MNT/$C/a.txt" &&
    echo two >"$MNT/$C/a.txt" && model_add "$C/b.txt" "$MNT/$C/a.txt" &&
    mv "$MNT/$C/a.txt" "$MNT/$C/b.txt" &&
    test_missing "$MNT/$C/a.txt" &&
    check_versions "$C/b.txt" &&
    test_eq 0 "$(requests_count)" "requests"
'

test_expect_success 'mv a b onto an existing b: a becomes b'"'"'s next version, b loses nothing' '
    echo "other one" >"$MNT/$C/other.txt" &&
    mv "$MNT/$C/other.txt" "$MNT/$C/b.txt" &&
    model_add "$C/b.txt" &&
    test_eq "other one" "$(cat "$MNT/$C/b.txt")" "content" &&
    check_versions "$C/b.txt" &&
    test_eq 0 "$(requests_count)" "requests"
'

test_expect_success 'renaming a folder keeps what is in it' '
    mkdir "$MNT/$C/old" && echo inside >"$MNT/$C/old/in.txt" &&
    mv "$MNT/$C/old" "$MNT/$C/new" &&
    test_eq inside "$(cat "$MNT/$C/new/in.txt")" "content" &&
    test_eq 1 "$(versions_of "$C/new/in.txt")" "versions"
'

test_expect_success 'a folder cannot be moved into itself' '
    expect_errno_text "Invalid argument" python3 -c "import os, sys; os.rename(sys.argv[1], sys.argv[2])" "$MNT/$C/new" "$MNT/$C/new/deeper"
'

test_expect_success 'a process that removes and at once re-creates a document leaves nothing to decide' '
    echo "keep me" >"$MNT/$C/replace.txt" &&
    python3 - "$MNT/$C/replace.txt" <<-\PY &&
	import os, sys
	os.unlink(sys.argv[1])
	with open(sys.argv[1], "w") as f:
	    f.write("replaced\n")
	PY
    test_eq replaced "$(cat "$MNT/$C/replace.txt")" "content" &&
    test_eq 2 "$(versions_of "$C/replace.txt")" "versions" &&
    test_eq 0 "$(requests_count)" "pending requests" &&
    cfs retractions "$STORE" --all >"$TMP/all" &&
    grep -P "\t$C/replace.txt\tv1\troot\(0\)\t.*\twithdrawn\$" "$TMP/all" &&
    cfs log "$STORE" | grep -P "\tretract-withdrawn\t$C/replace.txt\t"
'

test_expect_success 'removal by one process and re-creation by another keeps the request pending' '
    rm "$MNT/$C/replace.txt" &&
    echo "again" >"$MNT/$C/replace.txt" &&
    test_eq 3 "$(versions_of "$C/replace.txt")" "versions" &&
    test_eq 1 "$(requests_count)" "pending requests"
'

test_expect_success '-o sync=close mounts, and a save through it is committed' '
    umount_store &&
    "$CASEFS" mount "$STORE" "$MNT" -o sync=close --passphrase-file "$PASS" &&
    echo durable >"$MNT/$C/durable.txt" &&
    test_eq 1 "$(versions_of "$C/durable.txt")" "versions" &&
    test_eq durable "$(cfs cat "$STORE" "$C/durable.txt")" "content" &&
    remount
'

test_expect_success 'an unknown -o sync= value is bad usage' '
    umount_store &&
    expect_error 2 "sync=close" "$CASEFS" mount "$STORE" "$MNT" -o sync=always --passphrase-file "$PASS" &&
    ! is_mounted "$MNT" &&
    mount_store
'

test_expect_success 'statfs answers (df works on the mount)' '
    df -P "$MNT" >"$TMP/df" && test_lines 2 "$TMP/df"
'

test_done

#!/bin/bash
# t0300-editors: real programs save the way they always do.
#
# vim (default settings, backup-and-rename), sed -i, Python's atomic save
# (temporary file then os.replace), cp -a, tar x / tar c and rsync in and
# out: each save adds exactly one version, no stray file is visible, no
# retraction request is made and every earlier version reads back byte for
# byte.

. "$(dirname "$0")/lib.sh"

C=2026-0100
D=$C/doc.txt

# no_requests: since the last call, no retraction request was made that
# awaits a decision.  `casefs retractions --all` may list new requests only
# in state "withdrawn": a tool that removes a file and at once re-creates
# it (tar x over existing files does) leaves its request on record,
# withdrawn, with nothing for an administrator to decide.
no_requests () {
    local rc=0
    cfs retractions "$STORE" --all >"$TMP/req" || return 1
    touch "$TMP/req.known"
    if ! cmp -s "$TMP/req.known" "$TMP/req"; then
        diff "$TMP/req.known" "$TMP/req" | sed -n "s/^> //p" >"$TMP/req.new"
        if awk -F"\t" '$7 != "withdrawn"' "$TMP/req.new" | grep -q .; then
            say "new retraction requests:"
            cat "$TMP/req.new"
            rc=1
        fi
    fi
    cp "$TMP/req" "$TMP/req.known"
    return $rc
}

# last_version PATH: the file holding the last recorded version of PATH.
last_version () {
    printf '%s\n' "$TMP/model/$1/$(model_count "$1")"
}

# saved_once PATH: PATH's history is its recorded versions (one more than
# before the save under test) and each reads back byte for byte.
saved_once () {
    test_eq "$(model_count "$1")" "$(versions_of "$1")" "versions of $1" &&
    check_versions "$1"
}

# check_all: check_versions for every document recorded under PREFIX.
check_all () {
    local p
    for p in $(find "$TMP/model/$1" -type f -printf '%h\n' | sort -u | sed "s|^$TMP/model/||"); do
        check_versions "$p" || return 1
    done
}

# make_tree DIR: a small tree of documents with their own modes and times
# (one empty file, one binary, one nested two levels).
make_tree () {
    mkdir -p "$1/sub/deeper" &&
    printf 'alpha\nbeta\n' >"$1/a.txt" &&
    printf 'in a subfolder\n' >"$1/sub/b.txt" &&
    head -c 200000 /dev/urandom >"$1/sub/c.bin" &&
    printf 'deep\n' >"$1/sub/deeper/d.txt" &&
    : >"$1/empty.txt" &&
    chmod 640 "$1/a.txt" &&
    chmod 600 "$1/sub/c.bin" &&
    chmod 750 "$1/sub/deeper" &&
    touch -d '2025-01-02 03:04:05.123456789' "$1/a.txt" &&
    touch -d '2024-06-07 08:09:10.5' "$1/sub/b.txt" "$1/sub/c.bin" &&
    touch -d '2023-12-31 23:59:59' "$1/sub/deeper/d.txt" "$1/sub/deeper" &&
    touch -d '2025-05-05 05:05:05' "$1/sub" "$1/empty.txt" "$1"
}

# model_tree SRC DST: records every non-empty file of SRC as the next
# version of the document at DST (a path below the mount root).
model_tree () {
    local f
    for f in $(cd "$1" && find . -type f ! -empty | sed 's|^\./||'); do
        model_add "$2/$f" "$1/$f" || return 1
    done
}

test_expect_success 'set-up: a case with one document' '
    mkdir "$MNT/$C" &&
    printf "alpha\nbanana\ncabbage\n" >"$MNT/$D" &&
    model_add "$D" &&
    test_eq 1 "$(versions_of "$D")" "versions"
'

test_expect_success 'vim :w (default settings, backup and rename) adds one version' '
    (cd "$MNT/$C" &&
     vim -E -s -N -u DEFAULTS -i NONE -c "set backupskip=" -c "%s/a/A/" -c "wq" doc.txt \
        </dev/null) &&
    sed "s/a/A/" "$(last_version "$D")" >"$SCRATCH/want" &&
    cmp "$SCRATCH/want" "$MNT/$D" &&
    model_add "$D" "$SCRATCH/want" &&
    saved_once "$D"
'

test_expect_success 'vim left no stray file and made no request' '
    test_eq ".
..
doc.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    no_requests
'

test_expect_success 'vim took the rename path (log shows doc.txt renamed to doc.txt~)' '
    cfs log "$STORE" >"$TMP/log" &&
    awk -F"\t" "\$5 == \"rename\"" "$TMP/log" >"$TMP/renames" &&
    cat "$TMP/renames" &&
    grep -F "doc.txt~" "$TMP/renames"
'

test_expect_success 'vim a second time adds one more version' '
    (cd "$MNT/$C" &&
     vim -E -s -N -u DEFAULTS -i NONE -c "set backupskip=" -c "call append(line(\"\$\"), \"added by vim\")" \
        -c "wq" doc.txt </dev/null) &&
    { cat "$(last_version "$D")"; echo "added by vim"; } >"$SCRATCH/want" &&
    cmp "$SCRATCH/want" "$MNT/$D" &&
    model_add "$D" "$SCRATCH/want" &&
    saved_once "$D" &&
    test_eq ".
..
doc.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    no_requests
'

test_expect_success 'sed -i adds one version, no stray file, no request' '
    sed -i "s/^/> /" "$MNT/$D" &&
    sed "s/^/> /" "$(last_version "$D")" >"$SCRATCH/want" &&
    ! cmp -s "$SCRATCH/want" "$(last_version "$D")" &&
    cmp "$SCRATCH/want" "$MNT/$D" &&
    model_add "$D" "$SCRATCH/want" &&
    saved_once "$D" &&
    test_eq ".
..
doc.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    no_requests
'

cat >"$SCRATCH/atomic_save.py" <<'EOF'
# Python's usual atomic save: a named temporary file in the same folder,
# written, flushed and fsynced, then os.replace onto the document.
import os
import sys
import tempfile

path, text = sys.argv[1], sys.argv[2]
with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), delete=False) as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
os.replace(f.name, path)
EOF

test_expect_success 'Python atomic save (NamedTemporaryFile + os.replace) adds one version' '
    python3 "$SCRATCH/atomic_save.py" "$MNT/$D" "saved atomically by python
second line
" &&
    printf "saved atomically by python\nsecond line\n" >"$SCRATCH/want" &&
    cmp "$SCRATCH/want" "$MNT/$D" &&
    model_add "$D" "$SCRATCH/want" &&
    saved_once "$D" &&
    test_eq ".
..
doc.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    no_requests
'

test_expect_success 'Python atomic save of a new document makes it with one version' '
    python3 "$SCRATCH/atomic_save.py" "$MNT/$C/new.txt" "brand new
" &&
    model_add "$C/new.txt" &&
    test_eq 1 "$(versions_of "$C/new.txt")" "versions" &&
    check_versions "$C/new.txt" &&
    test_eq ".
..
doc.txt
new.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    no_requests
'

test_expect_success 'cp -a of a tree into the mount' '
    make_tree "$SCRATCH/cpsrc" &&
    cp -a "$SCRATCH/cpsrc" "$MNT/$C/cptree" &&
    model_tree "$SCRATCH/cpsrc" "$C/cptree" &&
    diff -r "$SCRATCH/cpsrc" "$MNT/$C/cptree" &&
    tree_state "$SCRATCH/cpsrc" >"$TMP/state.src" &&
    tree_state "$MNT/$C/cptree" >"$TMP/state.mnt" &&
    test_cmp "$TMP/state.src" "$TMP/state.mnt" &&
    check_all "$C/cptree" &&
    no_requests
'

test_expect_success 'cp -a again after one change adds one version to that file only' '
    printf "alpha\nbeta\ngamma\n" >"$SCRATCH/cpsrc/a.txt" &&
    cp -a "$SCRATCH/cpsrc/." "$MNT/$C/cptree/" &&
    model_add "$C/cptree/a.txt" "$SCRATCH/cpsrc/a.txt" &&
    diff -r "$SCRATCH/cpsrc" "$MNT/$C/cptree" &&
    tree_state "$SCRATCH/cpsrc" >"$TMP/state.src" &&
    tree_state "$MNT/$C/cptree" >"$TMP/state.mnt" &&
    test_cmp "$TMP/state.src" "$TMP/state.mnt" &&
    check_all "$C/cptree" &&
    no_requests
'

test_expect_success 'tar x into the mount' '
    make_tree "$SCRATCH/tarsrc" &&
    tar --format=posix -C "$SCRATCH/tarsrc" -cf "$SCRATCH/tree.tar" . &&
    mkdir "$MNT/$C/tartree" &&
    tar -C "$MNT/$C/tartree" -xf "$SCRATCH/tree.tar" &&
    model_tree "$SCRATCH/tarsrc" "$C/tartree" &&
    diff -r "$SCRATCH/tarsrc" "$MNT/$C/tartree" &&
    tree_state "$SCRATCH/tarsrc" >"$TMP/state.src" &&
    tree_state "$MNT/$C/tartree" >"$TMP/state.mnt" &&
    test_cmp "$TMP/state.src" "$TMP/state.mnt" &&
    check_all "$C/tartree" &&
    no_requests
'

test_expect_success 'tar c out of the mount gives the same tree' '
    tar --format=posix -C "$MNT/$C/tartree" -cf "$SCRATCH/out.tar" . &&
    mkdir "$SCRATCH/tarout" &&
    tar -C "$SCRATCH/tarout" -xf "$SCRATCH/out.tar" &&
    diff -r "$SCRATCH/tarsrc" "$SCRATCH/tarout" &&
    tree_state "$SCRATCH/tarsrc" >"$TMP/state.src" &&
    tree_state "$SCRATCH/tarout" >"$TMP/state.out" &&
    test_cmp "$TMP/state.src" "$TMP/state.out" &&
    tar -tvf "$SCRATCH/tree.tar" | sort >"$TMP/list.in" &&
    tar -tvf "$SCRATCH/out.tar" | sort >"$TMP/list.out" &&
    test_cmp "$TMP/list.in" "$TMP/list.out"
'

test_expect_success 'tar x of a changed archive over the tree: one version per changed file' '
    printf "in a subfolder, edited\n" >"$SCRATCH/tarsrc/sub/b.txt" &&
    printf "deep and changed\n" >"$SCRATCH/tarsrc/sub/deeper/d.txt" &&
    touch -d "2025-07-07 07:07:07" "$SCRATCH/tarsrc/sub/b.txt" &&
    tar --format=posix -C "$SCRATCH/tarsrc" -cf "$SCRATCH/tree2.tar" . &&
    tar -C "$MNT/$C/tartree" -xf "$SCRATCH/tree2.tar" &&
    model_add "$C/tartree/sub/b.txt" "$SCRATCH/tarsrc/sub/b.txt" &&
    model_add "$C/tartree/sub/deeper/d.txt" "$SCRATCH/tarsrc/sub/deeper/d.txt" &&
    diff -r "$SCRATCH/tarsrc" "$MNT/$C/tartree" &&
    tree_state "$SCRATCH/tarsrc" >"$TMP/state.src" &&
    tree_state "$MNT/$C/tartree" >"$TMP/state.mnt" &&
    test_cmp "$TMP/state.src" "$TMP/state.mnt" &&
    check_all "$C/tartree" &&
    no_requests
'

test_expect_success 'rsync -a into the mount' '
    make_tree "$SCRATCH/rsrc" &&
    rsync -a "$SCRATCH/rsrc/" "$MNT/$C/rtree/" &&
    model_tree "$SCRATCH/rsrc" "$C/rtree" &&
    diff -r "$SCRATCH/rsrc" "$MNT/$C/rtree" &&
    tree_state "$SCRATCH/rsrc" >"$TMP/state.src" &&
    tree_state "$MNT/$C/rtree" >"$TMP/state.mnt" &&
    test_cmp "$TMP/state.src" "$TMP/state.mnt" &&
    check_all "$C/rtree" &&
    no_requests
'

test_expect_success 'rsync -a into the mount a second time transfers nothing' '
    rsync -ai "$SCRATCH/rsrc/" "$MNT/$C/rtree/" >"$TMP/itemized" &&
    test_lines 0 "$TMP/itemized" &&
    check_all "$C/rtree"
'

test_expect_success 'rsync -a out of the mount, then again: nothing transferred' '
    rsync -a "$MNT/$C/rtree/" "$SCRATCH/rout/" &&
    diff -r "$SCRATCH/rsrc" "$SCRATCH/rout" &&
    tree_state "$SCRATCH/rsrc" >"$TMP/state.src" &&
    tree_state "$SCRATCH/rout" >"$TMP/state.out" &&
    test_cmp "$TMP/state.src" "$TMP/state.out" &&
    rsync -ai "$MNT/$C/rtree/" "$SCRATCH/rout/" >"$TMP/itemized" &&
    test_lines 0 "$TMP/itemized"
'

test_expect_success 'rsync -a of one changed file adds one version to it only' '
    printf "alpha\nbeta\nchanged for rsync\n" >"$SCRATCH/rsrc/a.txt" &&
    rsync -ai "$SCRATCH/rsrc/" "$MNT/$C/rtree/" >"$TMP/itemized" &&
    cat "$TMP/itemized" &&
    grep -q "a.txt" "$TMP/itemized" &&
    model_add "$C/rtree/a.txt" "$SCRATCH/rsrc/a.txt" &&
    diff -r "$SCRATCH/rsrc" "$MNT/$C/rtree" &&
    tree_state "$SCRATCH/rsrc" >"$TMP/state.src" &&
    tree_state "$MNT/$C/rtree" >"$TMP/state.mnt" &&
    test_cmp "$TMP/state.src" "$TMP/state.mnt" &&
    check_all "$C/rtree" &&
    no_requests
'

test_expect_success 'no stray file anywhere in the case' '
    (cd "$MNT/$C" && find . | LC_ALL=C sort) >"$TMP/all" &&
    { echo . && echo ./doc.txt && echo ./new.txt &&
      for t in cptree tartree rtree; do
          (cd "$SCRATCH/cpsrc" && find . | sed "s|^\.|./$t|") || return 1
      done; } | LC_ALL=C sort >"$TMP/want" &&
    test_cmp "$TMP/want" "$TMP/all"
'

# Every name in a folder's .versions/ is a document of that folder: the
# scratch files of vim, sed, Python, tar and rsync are not listed.
test_expect_success 'no scratch file is listed in any .versions folder' '
    for dir in $(cd "$MNT/$C" && find . -type d); do
        (cd "$MNT/$C/$dir" && find . -maxdepth 1 -type f | sed "s|^\./||" | LC_ALL=C sort) >"$TMP/docs" &&
        (cd "$MNT/$C/$dir" && find . -maxdepth 1 -type f ! -empty | sed "s|^\./||" | LC_ALL=C sort) >"$TMP/nonempty" &&
        ls -A "$MNT/$C/$dir/.versions" | LC_ALL=C sort >"$TMP/versions" &&
        LC_ALL=C comm -13 "$TMP/docs" "$TMP/versions" >"$TMP/extra" &&
        LC_ALL=C comm -23 "$TMP/nonempty" "$TMP/versions" >"$TMP/missing" &&
        { test_lines 0 "$TMP/extra" || fail "$dir/.versions lists names that are no documents"; } &&
        { test_lines 0 "$TMP/missing" || fail "$dir/.versions misses documents"; } || return 1
    done
'

test_expect_success 'after a remount every version still reads back byte for byte' '
    remount &&
    check_all "$C" &&
    no_requests
'

test_done

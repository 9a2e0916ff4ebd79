#!/bin/bash
# t2200-verify: `casefs verify` authenticates every record and checks every
# reference.  A sound store (also while mounted) exits 0 with "store
# sound: ...".  A damaged chunk is named with the path and version of every
# document version that uses it; a damaged node, version, name or log
# record is reported; each problem is a `problem:` line on stdout and the
# exit status is 1 with a summary line on stderr.  Each damage is done with
# cfs-tamper on its own copy of the unmounted store.

. "$(dirname "$0")/lib.sh"

TAMPER=$BUILD/cfs-tamper
A=2026-2200
B=2026-2201

copy_store () {
    rm -rf "$TMP/$1" && cp -a "$STORE" "$TMP/$1"
}

# verify_fails COPY: casefs verify COPY exits 1 with problem lines on stdout
# (and only those) and one summary line on stderr.
verify_fails () {
    run_capture cfs verify "$TMP/$1"
    cat "$TMP/stdout" "$TMP/stderr"
    test_eq 1 "$run_rc" "exit status" &&
    grep -q "^problem: " "$TMP/stdout" ||
        fail "no problem: line" || return 1
    [ "$(grep -vc "^problem: " "$TMP/stdout")" -eq 0 ] || fail "stdout has lines other than problem:" || return 1
    test_eq 1 "$(awk "END { print NR }" "$TMP/stderr")" "lines on stderr" &&
    grep -q "^casefs: " "$TMP/stderr" || fail "stderr does not start with casefs:"
}

# record_with_size DB MIN MAX: the index of the one record of DB whose
# value size lies in MIN..MAX.
record_with_size () {
    "$TAMPER" "$STORE" list "$1" >"$TMP/records" || return 1
    awk -v lo="$2" -v hi="$3" "\$3 >= lo && \$3 <= hi { print \$1 }" "$TMP/records" >"$TMP/found"
    test_lines 1 "$TMP/found" || { cat "$TMP/records"; return 1; }
    cat "$TMP/found"
}

# The shared content is one chunk (4,000 bytes, under the chunker's 4 KiB
# minimum); the other content too (3,000 bytes), so that no piece of it can
# be a record of the shared chunk's size.
test_expect_success 'set-up: one content shared by three document versions' '
    mkdir "$MNT/$A" "$MNT/$B" &&
    head -c 4000 /dev/urandom >"$SCRATCH/shared" &&
    head -c 3000 /dev/urandom >"$SCRATCH/other" &&
    cp "$SCRATCH/shared" "$MNT/$A/report.bin" &&
    cp "$SCRATCH/other" "$MNT/$A/report.bin" &&
    cp "$SCRATCH/shared" "$MNT/$A/report.bin" &&
    cp "$SCRATCH/shared" "$MNT/$B/copy.bin" &&
    echo "an unrelated note" >"$MNT/$B/note.txt" &&
    test_eq 3 "$(versions_of "$A/report.bin")" "versions of report.bin" &&
    test_eq 1 "$(versions_of "$B/copy.bin")" "versions of copy.bin" &&
    cmp "$SCRATCH/shared" "$MNT/$A/report.bin" &&
    cmp "$SCRATCH/other" "$MNT/$A/.versions/report.bin/v2.bin"
'

test_expect_success 'a sound store verifies while mounted: exit 0, one line' '
    run_capture cfs verify "$STORE" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_lines 1 "$TMP/stdout" &&
    test_lines 0 "$TMP/stderr" &&
    test_match "^store sound: " "$(cat "$TMP/stdout")" "output"
'

test_expect_success 'verify does not change the store (log unchanged)' '
    cfs log head "$STORE" >"$TMP/head1" &&
    cfs verify "$STORE" >/dev/null &&
    cfs log head "$STORE" >"$TMP/head2" &&
    test_cmp "$TMP/head1" "$TMP/head2"
'

test_expect_success 'set-up: unmount, the store is still sound, copies for each damage' '
    umount_store &&
    cfs verify "$STORE" >"$TMP/out" && cat "$TMP/out" &&
    grep -q "^store sound: " "$TMP/out" &&
    for c in chunk chunk-gone node dirent log; do
        copy_store "$c" || return 1
    done
'

test_expect_success 'a flipped byte in a shared chunk: exit 1' '
    n=$(record_with_size chunks 4000 4200) &&
    echo "$n" >"$TMP/shared.index" &&
    "$TAMPER" "$TMP/chunk" flip chunks "$n" 100 &&
    verify_fails chunk
'

test_expect_success 'the damaged chunk is named with every document version using it' '
    cfs verify "$TMP/chunk" >"$TMP/problems" 2>/dev/null;
    cat "$TMP/problems" &&
    grep -q "$A/report.bin version 1\b" "$TMP/problems" &&
    grep -q "$A/report.bin version 3\b" "$TMP/problems" &&
    grep -q "$B/copy.bin version 1\b" "$TMP/problems" || fail "a version using the chunk is not named"
'

test_expect_success 'versions that do not use the damaged chunk are not named' '
    ! grep -q "report.bin version 2\b" "$TMP/problems" &&
    ! grep -q "note.txt" "$TMP/problems"
'

test_expect_success 'the damaged chunk makes casefs cat of those versions fail, not the others' '
    run_capture cfs cat "$TMP/chunk" "$A/report.bin" --version 1 &&
    test "$run_rc" -ne 0 &&
    test_eq 0 "$(wc -c <"$TMP/stdout")" "bytes written" &&
    cfs cat "$TMP/chunk" "$A/report.bin" --version 2 >"$TMP/v2" &&
    cmp "$SCRATCH/other" "$TMP/v2"
'

test_expect_success 'a missing chunk is named with every document version using it' '
    "$TAMPER" "$TMP/chunk-gone" delete chunks "$(cat "$TMP/shared.index")" &&
    verify_fails chunk-gone &&
    grep -q "$A/report.bin version 1\b" "$TMP/stdout" &&
    grep -q "$A/report.bin version 3\b" "$TMP/stdout" &&
    grep -q "$B/copy.bin version 1\b" "$TMP/stdout" &&
    ! grep -q "report.bin version 2\b" "$TMP/stdout"
'

test_expect_success 'a flipped byte in a node record is reported' '
    "$TAMPER" "$TMP/node" list nodes >"$TMP/records" &&
    n=$(wc -l <"$TMP/records") &&
    "$TAMPER" "$TMP/node" flip nodes "$n" -3 &&
    verify_fails node &&
    grep -qi "node" "$TMP/stdout"
'

test_expect_success 'a flipped byte in a version record is reported with the document' '
    "$TAMPER" "$STORE" list versions >"$TMP/records" &&
    cat "$TMP/records" &&
    test_eq 5 "$(wc -l <"$TMP/records")" "version records" &&
    for n in 1 2 3 4 5; do
        copy_store "version-$n" &&
        "$TAMPER" "$TMP/version-$n" flip versions "$n" -3 &&
        verify_fails "version-$n" &&
        grep -Eq "($A/report.bin|$B/copy.bin|$B/note.txt).*version [1-3]\b" "$TMP/stdout" ||
            fail "version record $n: the report names no document version" || return 1
    done
'

test_expect_success 'a flipped byte in a name record is reported' '
    "$TAMPER" "$TMP/dirent" flip dirents 2 -2 &&
    verify_fails dirent
'

test_expect_success 'a flipped byte in a log entry is reported' '
    "$TAMPER" "$TMP/log" flip log 3 -5 &&
    verify_fails log &&
    grep -q "3" "$TMP/stdout"
'

test_expect_success 'the original store is still sound and mounts' '
    cfs verify "$STORE" >"$TMP/out" && cat "$TMP/out" &&
    grep -q "^store sound: " "$TMP/out" &&
    mount_store &&
    cmp "$SCRATCH/shared" "$MNT/$A/report.bin" &&
    cmp "$SCRATCH/shared" "$MNT/$B/copy.bin"
'

test_done

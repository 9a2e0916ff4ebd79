#!/bin/bash
# t1300-diskfull: a store on a small filesystem that fills up.  The writer
# whose save cannot be stored gets ENOSPC; everything committed before
# stays readable and the mount stays usable.

test_no_init=1
. "$(dirname "$0")/lib.sh"

SMALL=$TMP/small
C=2026-0303

test_expect_success 'a store on a 24 MiB filesystem is created and mounted' '
    mkdir "$SMALL" &&
    mount -t tmpfs -o size=24m tmpfs "$SMALL" &&
    STORE=$SMALL/store &&
    cfs init "$STORE" &&
    mount_store &&
    mkdir "$MNT/$C"
'

test_expect_success 'saves succeed until the disk is full, then close reports ENOSPC' '
    i=0 && full=0 &&
    while [ $i -lt 100 ]; do
        i=$((i + 1))
        head -c 1048576 /dev/urandom >"$SCRATCH/chunk.$i" &&
        if cp "$SCRATCH/chunk.$i" "$MNT/$C/doc-$i.bin" 2>"$TMP/cp.err"; then
            echo $i >>"$TMP/saved"
        else
            cat "$TMP/cp.err"
            grep -q "No space left on device" "$TMP/cp.err" || fail "unexpected error" || return 1
            full=1
            break
        fi
    done &&
    test_eq 1 "$full" "ran out of space" &&
    test "$(wc -l <"$TMP/saved")" -ge 5
'

test_expect_success 'every document saved before is intact, and the mount still answers' '
    for i in $(cat "$TMP/saved"); do
        cmp "$SCRATCH/chunk.$i" "$MNT/$C/doc-$i.bin" || return 1
    done &&
    ls "$MNT/$C" >/dev/null
'

test_expect_success 'after unmount and mount on a larger filesystem, the saved documents are there' '
    umount_store &&
    mount -o remount,size=64m "$SMALL" &&
    mount_store &&
    for i in $(cat "$TMP/saved"); do
        cmp "$SCRATCH/chunk.$i" "$MNT/$C/doc-$i.bin" || return 1
    done &&
    echo "after" >"$MNT/$C/after.txt" &&
    test_eq after "$(cat "$MNT/$C/after.txt")" "new save"
'

test_expect_success 'clean up the small filesystem' '
    umount_store && umount "$SMALL"
'

test_done

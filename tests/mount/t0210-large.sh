#!/bin/bash
# t0210-large: a document large enough that its chunk list is stored in
# segments (store/version.h) keeps every version exactly: written, edited
# in the middle, appended to, saved unchanged while another handle holds
# it open, and read back after a remount and through `casefs cat`.

. "$(dirname "$0")/lib.sh"

TAMPER=$BUILD/cfs-tamper

C=2026-0210
B=$C/large.bin
# (two segments at least: none holds more than 128 MiB of content)
MIB=160

test_expect_success "a document of $MIB MiB is stored and reads back" '
    mkdir "$MNT/$C" &&
    head -c $((MIB << 20)) /dev/urandom >"$SCRATCH/l1" &&
    cp "$SCRATCH/l1" "$MNT/$B" &&
    model_add "$B" "$SCRATCH/l1" &&
    cmp "$SCRATCH/l1" "$MNT/$B" &&
    test_eq 1 "$(versions_of "$B")" "versions"
'

test_expect_success "its chunk list is stored as segments" '
    "$TAMPER" "$STORE" list lists >"$TMP/lists1" &&
    cat "$TMP/lists1" &&
    test "$(wc -l <"$TMP/lists1")" -ge 2
'

test_expect_success 'twenty bytes changed in the middle: one version more, the rest as it was' '
    cp "$SCRATCH/l1" "$SCRATCH/l2" &&
    printf "date corrected: 0211" | dd of="$SCRATCH/l2" bs=1 seek=$((MIB << 19)) conv=notrunc 2>/dev/null &&
    printf "date corrected: 0211" | dd of="$MNT/$B" bs=1 seek=$((MIB << 19)) conv=notrunc 2>/dev/null &&
    model_add "$B" "$SCRATCH/l2" &&
    cmp "$SCRATCH/l2" "$MNT/$B" &&
    test_eq 2 "$(versions_of "$B")" "versions" &&
    "$TAMPER" "$STORE" list lists >"$TMP/lists2" &&
    added=$(( $(wc -l <"$TMP/lists2") - $(wc -l <"$TMP/lists1") )) &&
    test "$added" -ge 1 && test "$added" -le 3 || fail "$added segments stored for the edit"
'

test_expect_success 'appended to: the new end reads back' '
    head -c 3000000 /dev/urandom >"$SCRATCH/tail" &&
    cat "$SCRATCH/l2" "$SCRATCH/tail" >"$SCRATCH/l3" &&
    cat "$SCRATCH/tail" >>"$MNT/$B" &&
    model_add "$B" "$SCRATCH/l3" &&
    cmp "$SCRATCH/l3" "$MNT/$B" &&
    test_eq 3 "$(versions_of "$B")" "versions"
'

test_expect_success 'written again unchanged while another handle holds it: no version, nothing lost' '
    exec 7<"$MNT/$B" &&
    dd if="$SCRATCH/l3" of="$MNT/$B" bs=1M conv=notrunc 2>/dev/null &&
    test_eq 3 "$(versions_of "$B")" "versions" &&
    cmp "$SCRATCH/l3" "$MNT/$B" &&
    cmp "$SCRATCH/l3" /dev/fd/7 &&
    exec 7<&-
'

test_expect_success 'every version reads back through casefs cat and .versions' '
    check_versions "$B"
'

test_expect_success 'after a remount every version still reads back, and verify finds it sound' '
    remount &&
    cmp "$SCRATCH/l3" "$MNT/$B" &&
    check_versions "$B" &&
    cfs verify "$STORE" >"$TMP/verify" 2>&1 &&
    grep -q "sound" "$TMP/verify"
'

test_expect_success 'a segment damaged: reading fails loudly, cat and verify say so' '
    umount_store &&
    "$TAMPER" "$STORE" flip lists 1 60 &&
    mount_store &&
    failed=0 &&
    for n in 1 2 3; do
        if ! cfs cat "$STORE" "$B" --version $n >"$TMP/out" 2>"$TMP/err"; then
            failed=$((failed + 1)) &&
            grep -q "damaged" "$TMP/err" || fail "cat --version $n: $(cat "$TMP/err")" || return 1
        fi
    done &&
    test "$failed" -ge 1 || fail "no version failed to read" &&
    run_capture cfs verify "$STORE" &&
    test_eq 1 "$run_rc" "verify exit status" &&
    grep -q "^problem: .*large.bin.*list of chunks" "$TMP/stdout" || fail "no problem line: $(cat "$TMP/stdout")"
'

test_done

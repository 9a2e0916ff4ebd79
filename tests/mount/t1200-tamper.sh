#!/bin/bash
# t1200-tamper: damaged ciphertext is never returned.  A flipped bit in a
# stored chunk makes the read fail with EIO, and the failure is logged.

. "$(dirname "$0")/lib.sh"

TAMPER=$BUILD/cfs-tamper
C=2026-0202

test_expect_success 'a document of one chunk is saved and read back' '
    mkdir "$MNT/$C" &&
    head -c 3000 /dev/urandom >"$SCRATCH/doc.bin" &&
    cp "$SCRATCH/doc.bin" "$MNT/$C/doc.bin" &&
    cmp "$SCRATCH/doc.bin" "$MNT/$C/doc.bin" &&
    "$TAMPER" "$STORE" list chunks >"$TMP/chunks" &&
    test_lines 1 "$TMP/chunks"
'

test_expect_success 'after a bit of the chunk is flipped, reading fails with EIO' '
    "$TAMPER" "$STORE" flip chunks 1 100 &&
    expect_errno_text "Input/output error" cat "$MNT/$C/doc.bin" &&
    ! grep -c . "$TMP/stdout"
'

test_expect_success 'the failed read is in the audit log' '
    cfs log "$STORE" >"$TMP/log" &&
    grep -P "\tread\t$C/doc.bin\tv1\tEIO\t" "$TMP/log"
'

test_expect_success 'casefs cat refuses the damaged version too, with one clear line' '
    expect_error 1 "damaged" cfs cat "$STORE" "$C/doc.bin" &&
    test_eq 0 "$(wc -c <"$TMP/stdout")" "bytes written"
'

test_expect_success 'a flipped bit in a log entry is found' '
    n=$("$TAMPER" "$STORE" list log | wc -l) &&
    "$TAMPER" "$STORE" flip log 3 -5 &&
    expect_error 1 "damaged at entry 3" cfs log "$STORE"
'

test_done

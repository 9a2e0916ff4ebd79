#!/bin/bash
# t2300-backup: a hot backup while caseworkers keep saving.
#
# `casefs backup STORE DEST` copies the store, consistent and compacted,
# into a new or empty folder while the mount is written to.  The copy is a
# store with the same passphrase: it verifies, its history and log are
# whole, and mounted on a second mount point it shows every save that was
# complete before the backup began, byte for byte.  A non-empty DEST is
# refused.

. "$(dirname "$0")/lib.sh"

A=2026-2300
BK=$TMP/backup
MNT2=$TMP/mnt2

# The writer: saves stream.txt again and again (each save a new version
# with content of its own), and every fifth save also a new document
# doc-N.bin.  After each save has returned (close done) its number is
# appended to $TMP/done; its content is kept in $SCRATCH/save-N.
writer () {
    local i=0
    while [ ! -e "$TMP/stop" ]; do
        i=$((i + 1))
        { printf 'save %d\n' "$i"; head -c $((200 + i * 37 % 3000)) /dev/urandom | base64; } >"$SCRATCH/save-$i" &&
        cp "$SCRATCH/save-$i" "$MNT/$A/stream.txt" || { echo "save $i failed" >>"$TMP/writer.err"; return 1; }
        if [ $((i % 5)) -eq 0 ]; then
            head -c $((5000 + i * 101)) /dev/urandom >"$SCRATCH/doc-$i.bin" &&
            cp "$SCRATCH/doc-$i.bin" "$MNT/$A/doc-$i.bin" || { echo "doc $i failed" >>"$TMP/writer.err"; return 1; }
        fi
        echo "$i" >>"$TMP/done"
    done
}

test_expect_success 'set-up: a case with some history before the stream' '
    mkdir "$MNT/$A" &&
    head -c 300000 /dev/urandom >"$SCRATCH/large.bin" &&
    cp "$SCRATCH/large.bin" "$MNT/$A/large.bin" &&
    echo "to be removed" >"$MNT/$A/removed.txt" &&
    rm "$MNT/$A/removed.txt" &&
    : >"$TMP/done"
'

test_expect_success 'backup while a writer streams saves into the mount' '
    writer >"$TMP/writer.out" 2>&1 &
    wpid=$! &&
    sleep 1.5 &&
    cp "$TMP/done" "$TMP/done.before" &&
    run_capture cfs backup "$STORE" "$BK" &&
    du -k "$BK/data.mdb" | cut -f1 >"$TMP/copy-kib" &&
    sleep 0.5 &&
    touch "$TMP/stop" &&
    wait "$wpid" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status of backup" &&
    test_lines 0 "$TMP/stderr" &&
    K=$(tail -n 1 "$TMP/done.before") &&
    echo "$K" >"$TMP/K" &&
    say "saves completed before the backup: $K, in all: $(tail -n 1 "$TMP/done")" &&
    test "$K" -ge 3 &&
    test "$(tail -n 1 "$TMP/done")" -gt "$K" &&
    test_missing "$TMP/writer.err"
'

test_expect_success 'the writer saw every save land in the original' '
    n=$(tail -n 1 "$TMP/done") &&
    test_eq "$n" "$(versions_of "$A/stream.txt")" "versions of stream.txt" &&
    cmp "$SCRATCH/save-$n" "$MNT/$A/stream.txt"
'

test_expect_success 'the copy verifies as a sound store' '
    run_capture cfs verify "$BK" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_match "^store sound: " "$(cat "$TMP/stdout")" "output"
'

test_expect_success 'the copy log is intact' '
    run_capture cfs log verify "$BK" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_match "^log intact: " "$(cat "$TMP/stdout")" "output"
'

test_expect_success 'history on the copy lists every save completed before the backup' '
    K=$(cat "$TMP/K") &&
    cfs history "$BK" "$A/stream.txt" >"$TMP/hist" &&
    cat "$TMP/hist" &&
    n=$(wc -l <"$TMP/hist") &&
    test "$n" -ge "$K" || fail "the copy has $n versions, $K saves were complete"
'

test_expect_success 'cat on the copy gives each of those saves byte for byte' '
    K=$(cat "$TMP/K") &&
    n=$(wc -l <"$TMP/hist") &&
    for i in $(seq "$n"); do
        test_eq "$i" "$(awk -F"\t" -v i="$i" "NR == i { print \$1 }" "$TMP/hist")" "number" &&
        test_eq "$(stat -c %s "$SCRATCH/save-$i")" "$(awk -F"\t" -v i="$i" "NR == i { print \$3 }" "$TMP/hist")" "size of v$i" &&
        test_eq live "$(awk -F"\t" -v i="$i" "NR == i { print \$5 }" "$TMP/hist")" "state of v$i" &&
        cfs cat "$BK" "$A/stream.txt" --version "$i" >"$TMP/v" &&
        cmp "$SCRATCH/save-$i" "$TMP/v" || return 1
    done
'

test_expect_success 'the copy mounts on a second mount point beside the original' '
    mkdir "$MNT2" &&
    cfs mount "$BK" "$MNT2" &&
    is_mounted "$MNT2" &&
    is_mounted "$MNT"
'

test_expect_success 'the mounted copy shows every save completed before the backup' '
    K=$(cat "$TMP/K") &&
    for i in $(seq "$K"); do
        cmp "$SCRATCH/save-$i" "$MNT2/$A/.versions/stream.txt/v$i.txt" || return 1
        if [ $((i % 5)) -eq 0 ]; then
            cmp "$SCRATCH/doc-$i.bin" "$MNT2/$A/doc-$i.bin" || return 1
        fi
    done &&
    cmp "$SCRATCH/large.bin" "$MNT2/$A/large.bin" &&
    n=$(ls "$MNT2/$A/.versions/stream.txt" | wc -l) &&
    cmp "$SCRATCH/save-$n" "$MNT2/$A/stream.txt"
'

test_expect_success 'the copy holds nothing that was not in the original, and no torn save' '
    n=$(ls "$MNT2/$A/.versions/stream.txt" | wc -l) &&
    for i in $(seq "$n"); do
        cmp "$SCRATCH/save-$i" "$MNT2/$A/.versions/stream.txt/v$i.txt" || return 1
    done &&
    for f in "$MNT2/$A"/doc-*.bin; do
        # a document the backup caught between its creation and its first
        # close is in the copy as it was then: empty, with no version
        if [ ! -s "$f" ] && [ -z "$(ls "$MNT2/$A/.versions/${f##*/}")" ]; then
            continue
        fi
        cmp "$SCRATCH/${f##*/}" "$f" || return 1
    done
'

test_expect_success 'the pending request is in the copy as well' '
    cfs retractions "$BK" >"$TMP/req.copy" &&
    cfs retractions "$STORE" >"$TMP/req.orig" &&
    test_cmp "$TMP/req.orig" "$TMP/req.copy" &&
    grep -q "	$A/removed.txt	" "$TMP/req.copy" &&
    test_missing "$MNT2/$A/removed.txt"
'

test_expect_success 'the copy is independent: saves to it do not reach the original' '
    echo "only in the copy" >"$MNT2/$A/copy-only.txt" &&
    test_missing "$MNT/$A/copy-only.txt" &&
    echo "only in the original" >"$MNT/$A/orig-only.txt" &&
    test_missing "$MNT2/$A/orig-only.txt" &&
    "$CASEFS" umount "$MNT2" && wait_daemon_gone "$BK"
'

test_expect_success 'the backup is in the original log' '
    cfs log "$STORE" >"$TMP/log" &&
    grep -P "\troot\(0\)\tcasefs\[[0-9]+\]\tbackup\t" "$TMP/log"
'

# (the copy as the backup made it: mounting and saving to it since has
# grown it like any store)
test_expect_success 'the copy is compacted: not larger than the original' '
    a=$(du -k "$STORE/data.mdb" | cut -f1) &&
    b=$(cat "$TMP/copy-kib") &&
    say "original $a KiB, copy $b KiB" &&
    test "$b" -le "$a"
'

test_expect_success 'the copy opens with the same passphrase only' '
    expect_error 1 "passphrase" "$CASEFS" verify "$BK" --passphrase-file "$WRONGPASS"
'

test_expect_success 'backup into a non-empty folder is refused: exit 1, one line, untouched' '
    mkdir "$TMP/nonempty" &&
    echo "keep me" >"$TMP/nonempty/file" &&
    expect_error 1 "" cfs backup "$STORE" "$TMP/nonempty" &&
    test_eq "file" "$(ls -A "$TMP/nonempty")" "contents" &&
    test_eq "keep me" "$(cat "$TMP/nonempty/file")" "file"
'

test_expect_success 'backup onto an existing store is refused' '
    expect_error 1 "" cfs backup "$STORE" "$BK" &&
    cfs verify "$BK" >/dev/null
'

test_expect_success 'backup into an existing empty folder works' '
    mkdir "$TMP/empty" &&
    cfs backup "$STORE" "$TMP/empty" &&
    cfs verify "$TMP/empty" >"$TMP/out" &&
    grep -q "^store sound: " "$TMP/out" &&
    cfs cat "$TMP/empty" "$A/orig-only.txt" >"$TMP/out" &&
    test_eq "only in the original" "$(cat "$TMP/out")" "content"
'

test_done

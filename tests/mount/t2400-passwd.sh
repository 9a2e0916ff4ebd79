#!/bin/bash
# t2400-passwd: changing the passphrase.
#
# `casefs passwd STORE --passphrase-file OLD --new-passphrase-file NEW`
# rewraps the master key: afterwards OLD is refused ("wrong passphrase",
# exit 1) and NEW opens the store (commands and mount); the content is the
# same and is not re-encrypted.  It works while the store is mounted, and
# the mount keeps working.  A passwd killed with SIGKILL at any point
# leaves exactly one of the two passphrases working and the store sound.

. "$(dirname "$0")/lib.sh"

A=2026-2400
P1=$TMP/pass1
P2=$TMP/pass2

# with PASSFILE CMD ARGS...: casefs CMD with that passphrase file.
with () {
    local p=$1
    shift
    "$CASEFS" "$@" --passphrase-file "$p"
}

# opens PASSFILE: the store opens with that passphrase (log head works).
opens () {
    "$CASEFS" log head "$STORE" --passphrase-file "$1" >/dev/null 2>"$TMP/opens.err"
}

# refused PASSFILE: exit 1 and one line saying the passphrase is wrong.
refused () {
    expect_error 1 "wrong passphrase" "$CASEFS" log head "$STORE" --passphrase-file "$1"
}

# distinct_pages OLD NEW: how many 4 KiB pages of file NEW do not occur
# anywhere in file OLD (all-zero pages not counted).
distinct_pages () {
    python3 -c "
import sys
def pages(p):
    d = open(p, \"rb\").read()
    return [d[i:i + 4096] for i in range(0, len(d), 4096)]
old = set(pages(sys.argv[1]))
zero = bytes(4096)
print(sum(1 for p in pages(sys.argv[2]) if p not in old and p != zero))
" "$1" "$2"
}

test_expect_success 'set-up: documents, versions and a request' '
    printf "a new passphrase for the unit\n" >"$P1" &&
    printf "and another one, after the audit\n" >"$P2" &&
    chmod 600 "$P1" "$P2" &&
    mkdir "$MNT/$A" &&
    echo "first" >"$MNT/$A/note.txt" && model_add "$A/note.txt" &&
    echo "second" >"$MNT/$A/note.txt" && model_add "$A/note.txt" &&
    head -c 1500000 /dev/urandom >"$SCRATCH/big.bin" &&
    cp "$SCRATCH/big.bin" "$MNT/$A/big.bin" && model_add "$A/big.bin" &&
    echo "removed" >"$MNT/$A/gone.txt" && rm "$MNT/$A/gone.txt" &&
    check_versions "$A/note.txt" &&
    umount_store
'

test_expect_success 'passwd on the unmounted store: exit 0' '
    cp "$STORE/data.mdb" "$TMP/data.before" &&
    cfs log "$STORE" >"$TMP/log.before" &&
    cfs retractions "$STORE" --all >"$TMP/req.before" &&
    run_capture "$CASEFS" passwd "$STORE" --passphrase-file "$PASS" --new-passphrase-file "$P1" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_lines 0 "$TMP/stderr"
'

test_expect_success 'the old passphrase is refused with one line, exit 1' '
    refused "$PASS" &&
    expect_error 1 "wrong passphrase" "$CASEFS" history "$STORE" "$A/note.txt" --passphrase-file "$PASS" &&
    expect_error 1 "wrong passphrase" "$CASEFS" verify "$STORE" --passphrase-file "$PASS" &&
    expect_error 1 "wrong passphrase" "$CASEFS" mount "$STORE" "$MNT" --passphrase-file "$PASS" &&
    ! is_mounted "$MNT"
'

test_expect_success 'the new passphrase opens the store: verify, log verify, history, cat' '
    with "$P1" verify "$STORE" >"$TMP/out" && cat "$TMP/out" &&
    grep -q "^store sound: " "$TMP/out" &&
    with "$P1" log verify "$STORE" >"$TMP/out" && cat "$TMP/out" &&
    grep -q "^log intact: " "$TMP/out" &&
    PASS=$P1 check_versions "$A/note.txt" &&
    PASS=$P1 check_versions "$A/big.bin"
'

test_expect_success 'the log and the requests are unchanged, the change itself is logged' '
    with "$P1" log "$STORE" >"$TMP/log.after" &&
    n=$(wc -l <"$TMP/log.before") &&
    head -n "$n" "$TMP/log.after" >"$TMP/log.head" &&
    test_cmp "$TMP/log.before" "$TMP/log.head" &&
    grep -P "\troot\(0\)\tcasefs\[[0-9]+\]\tpasswd\t" "$TMP/log.after" &&
    with "$P1" retractions "$STORE" --all >"$TMP/req.after" &&
    test_cmp "$TMP/req.before" "$TMP/req.after"
'

test_expect_success 'the content was not re-encrypted: almost every page is unchanged' '
    n=$(stat -c %s "$TMP/data.before") &&
    test $((n / 4096)) -ge 300 &&
    d=$(distinct_pages "$TMP/data.before" "$STORE/data.mdb") &&
    say "pages new after passwd: $d of $((n / 4096))" &&
    test "$d" -le $((n / 4096 / 10))
'

test_expect_success 'the new passphrase mounts; content is unchanged' '
    with "$P1" mount "$STORE" "$MNT" &&
    is_mounted "$MNT" &&
    cmp "$SCRATCH/big.bin" "$MNT/$A/big.bin" &&
    PASS=$P1 check_versions "$A/note.txt" &&
    test_missing "$MNT/$A/gone.txt"
'

test_expect_success 'passwd while mounted works and the mount keeps working' '
    run_capture "$CASEFS" passwd "$STORE" --passphrase-file "$P1" --new-passphrase-file "$P2" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    refused "$P1" &&
    opens "$P2" &&
    cmp "$SCRATCH/big.bin" "$MNT/$A/big.bin" &&
    echo "third, after the change" >"$MNT/$A/note.txt" && model_add "$A/note.txt" &&
    mkdir "$MNT/$A/new" && echo "new" >"$MNT/$A/new/doc.txt" &&
    PASS=$P2 check_versions "$A/note.txt" &&
    test_eq "new" "$(cat "$MNT/$A/new/doc.txt")" "new document"
'

test_expect_success 'after a remount with the new passphrase everything is there' '
    "$CASEFS" umount "$MNT" && wait_daemon_gone &&
    expect_error 1 "wrong passphrase" "$CASEFS" mount "$STORE" "$MNT" --passphrase-file "$P1" &&
    with "$P2" mount "$STORE" "$MNT" &&
    PASS=$P2 check_versions "$A/note.txt" &&
    cmp "$SCRATCH/big.bin" "$MNT/$A/big.bin" &&
    test_eq "new" "$(cat "$MNT/$A/new/doc.txt")" "new document" &&
    with "$P2" log verify "$STORE" >/dev/null
'

test_expect_success 'passwd with a wrong current passphrase: exit 1, nothing changes' '
    expect_error 1 "wrong passphrase" "$CASEFS" passwd "$STORE" --passphrase-file "$WRONGPASS" --new-passphrase-file "$P1" &&
    opens "$P2" &&
    refused "$P1"
'

test_expect_success 'passwd with a missing new passphrase file: one line, nothing changes' '
    run_capture "$CASEFS" passwd "$STORE" --passphrase-file "$P2" --new-passphrase-file "$TMP/no-such-file" &&
    cat "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    test_eq 1 "$(awk "END { print NR }" "$TMP/stderr")" "lines on stderr" &&
    opens "$P2"
'

test_expect_success 'the current passphrase can come from stdin' '
    "$CASEFS" passwd "$STORE" --passphrase-file - --new-passphrase-file "$P1" <"$P2" &&
    opens "$P1" &&
    refused "$P2" &&
    "$CASEFS" umount "$MNT" && wait_daemon_gone
'

test_expect_success 'passwd killed with SIGKILL at random points: exactly one passphrase works' '
    cur=$P1 &&
    old_seen=0 new_seen=0 &&
    for i in $(seq 12); do
        next=$TMP/kill-pass-$i &&
        printf "kill test passphrase %d\n" "$i" >"$next" &&
        ms=$(( (RANDOM % 300) + 2 )) &&
        if [ "$i" -le 2 ]; then ms=$((i * 3)); fi &&
        timeout -s KILL "$(printf "0.%03d" "$ms")" \
            "$CASEFS" passwd "$STORE" --passphrase-file "$cur" --new-passphrase-file "$next" >/dev/null 2>&1;
        a=0 b=0;
        opens "$cur" && a=1;
        opens "$next" && b=1;
        say "round $i: killed after ${ms} ms; old opens: $a, new opens: $b";
        [ $((a + b)) -eq 1 ] || fail "round $i: old $a, new $b" || return 1
        if [ "$b" -eq 1 ]; then
            refused "$cur" >/dev/null || return 1
            cur=$next new_seen=$((new_seen + 1))
        else
            refused "$next" >/dev/null || return 1
            old_seen=$((old_seen + 1))
        fi
        with "$cur" verify "$STORE" >"$TMP/out" || { cat "$TMP/out"; fail "round $i: verify"; return 1; }
        grep -q "^store sound: " "$TMP/out" || return 1
        with "$cur" log verify "$STORE" >/dev/null || fail "round $i: log verify" || return 1
    done &&
    say "old kept $old_seen times, new took effect $new_seen times" &&
    echo "$cur" >"$TMP/cur"
'

test_expect_success 'after the interrupted changes the store mounts with the working passphrase' '
    cur=$(cat "$TMP/cur") &&
    with "$cur" mount "$STORE" "$MNT" &&
    cmp "$SCRATCH/big.bin" "$MNT/$A/big.bin" &&
    PASS=$cur check_versions "$A/note.txt"
'

test_done

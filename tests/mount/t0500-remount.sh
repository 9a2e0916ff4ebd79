#!/bin/bash
# t0500-remount: everything the mount shows survives umount and mount.
#
# Several cases with folders and documents, their own modes, owners and
# times; after a remount the listing, contents, modes, owners, times, inode
# numbers and every version are as they were.

. "$(dirname "$0")/lib.sh"

# state_of DIR: everything a user can see of the tree below DIR.
state_of () {
    (cd "$1" && find . -printf '%p %y %m %U:%G %T@ %i\n' | LC_ALL=C sort)
}

test_expect_success 'set-up: cases, folders and documents with modes and times' '
    mkdir "$MNT/2026-0001" "$MNT/2026-0002" "$MNT/2026-0003" &&
    mkdir -p "$MNT/2026-0001/journal/2026" "$MNT/2026-0001/letters" "$MNT/2026-0002/private" &&
    echo "journal one" >"$MNT/2026-0001/journal/2026/one.txt" &&
    model_add 2026-0001/journal/2026/one.txt &&
    echo "journal one, edited" >"$MNT/2026-0001/journal/2026/one.txt" &&
    model_add 2026-0001/journal/2026/one.txt &&
    echo "journal one, edited again" >>"$MNT/2026-0001/journal/2026/one.txt" &&
    model_add 2026-0001/journal/2026/one.txt &&
    printf "Dear Sir,\n" >"$MNT/2026-0001/letters/letter.txt" &&
    model_add 2026-0001/letters/letter.txt &&
    head -c 1500000 /dev/urandom >"$SCRATCH/scan.pdf" &&
    cp "$SCRATCH/scan.pdf" "$MNT/2026-0002/scan.pdf" &&
    model_add 2026-0002/scan.pdf &&
    echo "private" >"$MNT/2026-0002/private/secret.txt" &&
    model_add 2026-0002/private/secret.txt &&
    echo "README" >"$MNT/2026-0003/README" &&
    model_add 2026-0003/README &&
    chmod 600 "$MNT/2026-0002/private/secret.txt" &&
    chmod 700 "$MNT/2026-0002/private" &&
    chmod 640 "$MNT/2026-0001/letters/letter.txt" &&
    chmod 750 "$MNT/2026-0003" &&
    chown 65534:65534 "$MNT/2026-0003/README" &&
    touch -d "2024-02-29 12:34:56.789" "$MNT/2026-0001/letters/letter.txt" &&
    touch -d "2025-10-10 10:10:10" "$MNT/2026-0001/journal/2026" &&
    touch -d "2020-01-01 00:00:01.000000001" "$MNT/2026-0002/scan.pdf" &&
    touch -d "2026-03-03 03:03:03" "$MNT/2026-0001/letters" &&
    test_eq 600 "$(stat -c %a "$MNT/2026-0002/private/secret.txt")" "mode" &&
    test_eq 65534:65534 "$(stat -c %u:%g "$MNT/2026-0003/README")" "owner" &&
    test_eq "2024-02-29 12:34:56.789000000" \
        "$(stat -c %y "$MNT/2026-0001/letters/letter.txt" | cut -c1-29)" "mtime"
'

test_expect_success 'inode numbers are distinct' '
    state_of "$MNT" >"$TMP/state.before" &&
    cat "$TMP/state.before" &&
    test_eq 0 "$(awk "{ print \$NF }" "$TMP/state.before" | sort | uniq -d | wc -l)" "shared inode numbers"
'

test_expect_success 'umount and mount again' '
    (cd "$MNT" && find . -type f -exec md5sum {} + | LC_ALL=C sort -k2) >"$TMP/sums.before" &&
    remount &&
    test_eq 3 "$(ls "$MNT" | wc -l)" "cases"
'

test_expect_success 'listing, modes, owners, times and inode numbers are as before' '
    state_of "$MNT" >"$TMP/state.after" &&
    test_cmp "$TMP/state.before" "$TMP/state.after"
'

test_expect_success 'the mount reads ahead 1 MiB (the largest request it takes), after a remount too' '
    test "$(id -u)" = 0 || fail "the suite runs as root (FUSE mounts, allow_other)" &&
    test_eq 1024 "$(cat "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb")" "read_ahead_kb"
'

test_expect_success 'contents are as before' '
    (cd "$MNT" && find . -type f -exec md5sum {} + | LC_ALL=C sort -k2) >"$TMP/sums.after" &&
    test_cmp "$TMP/sums.before" "$TMP/sums.after"
'

test_expect_success 'every version reads back byte for byte' '
    check_versions 2026-0001/journal/2026/one.txt &&
    check_versions 2026-0001/letters/letter.txt &&
    check_versions 2026-0002/scan.pdf &&
    check_versions 2026-0002/private/secret.txt &&
    check_versions 2026-0003/README
'

test_expect_success 'authors are kept: the version made by root stays root'"'"'s' '
    test_eq root "$(getfattr --only-values -n user.casefs.author "$MNT/2026-0003/README")" "author" &&
    test_eq 3 "$(getfattr --only-values -n user.casefs.version "$MNT/2026-0001/journal/2026/one.txt")" "version"
'

test_expect_success 'saving after the remount continues the history' '
    echo "journal one, after remount" >"$MNT/2026-0001/journal/2026/one.txt" &&
    model_add 2026-0001/journal/2026/one.txt &&
    check_versions 2026-0001/journal/2026/one.txt &&
    test_eq "$(grep "^./2026-0001/journal/2026/one.txt " "$TMP/state.before" | awk "{ print \$NF }")" \
        "$(stat -c %i "$MNT/2026-0001/journal/2026/one.txt")" "inode after a save"
'

test_expect_success 'mount right after umount works (umount waits for the store to close)' '
    state_of "$MNT" >"$TMP/state.before" &&
    "$CASEFS" umount "$MNT" &&
    cfs mount "$STORE" "$MNT" &&
    state_of "$MNT" >"$TMP/state.after" &&
    test_cmp "$TMP/state.before" "$TMP/state.after"
'

test_expect_success 'a second remount changes nothing either' '
    remount &&
    state_of "$MNT" >"$TMP/state.again" &&
    test_cmp "$TMP/state.before" "$TMP/state.again" &&
    check_versions 2026-0002/scan.pdf
'

test_done

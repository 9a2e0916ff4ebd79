#!/bin/bash
# t0100-cli: init and mount, and each way they refuse.
#
# Every refusal must exit with its status (1 refused, 2 bad usage), say
# what is wrong in one line on stderr and leave the store as it was: the
# audit log has no new entry and nothing is mounted.

test_no_init=1
. "$(dirname "$0")/lib.sh"

# log_unchanged: the audit log is still what was saved in $TMP/log.before.
log_unchanged () {
    cfs log "$STORE" >"$TMP/log.after" && test_cmp "$TMP/log.before" "$TMP/log.after"
}

test_expect_success 'casefs without arguments is bad usage (exit 2)' '
    expect_error 2 "usage" "$CASEFS" &&
    test_missing "$STORE"
'

test_expect_success 'an unknown subcommand is bad usage (exit 2)' '
    expect_error 2 "frobnicate|unknown|usage" "$CASEFS" frobnicate "$STORE" &&
    test_missing "$STORE"
'

test_expect_success 'init creates a store whose log starts with init' '
    cfs init "$STORE" >"$TMP/out" 2>"$TMP/err" &&
    test_lines 0 "$TMP/err" &&
    test -d "$STORE" &&
    cfs log "$STORE" >"$TMP/log.before" &&
    test_lines 1 "$TMP/log.before" &&
    test_eq init "$(cut -f5 "$TMP/log.before")" "op of the first entry" &&
    test_eq "1" "$(cut -f1 "$TMP/log.before")" "sequence number" &&
    test_eq "root(0)" "$(cut -f3 "$TMP/log.before")" "user" &&
    test_eq ok "$(cut -f8 "$TMP/log.before")" "result"
'

test_expect_success 'the passphrase can come on stdin (--passphrase-file -)' '
    "$CASEFS" log "$STORE" --passphrase-file - <"$PASS" >"$TMP/log.stdin" &&
    test_cmp "$TMP/log.before" "$TMP/log.stdin"
'

test_expect_success 'mount without a mount point is bad usage (exit 2)' '
    expect_error 2 "usage|mount" "$CASEFS" mount "$STORE" --passphrase-file "$PASS" &&
    ! is_mounted "$MNT" &&
    log_unchanged
'

test_expect_success 'an unknown option is bad usage (exit 2)' '
    expect_error 2 "bogus|unknown|usage|option" cfs mount "$STORE" "$MNT" --bogus &&
    ! is_mounted "$MNT" &&
    log_unchanged
'

test_expect_success 'history without a path is bad usage (exit 2)' '
    expect_error 2 "usage|path|history" cfs history "$STORE" &&
    log_unchanged
'

test_expect_success 'init of an existing store is refused (exit 1)' '
    expect_error 1 "exist|already" cfs init "$STORE" &&
    log_unchanged
'

test_expect_success 'mount with a wrong passphrase is refused and says so' '
    expect_error 1 "wrong passphrase" \
        "$CASEFS" mount "$STORE" "$MNT" --passphrase-file "$WRONGPASS" &&
    ! is_mounted "$MNT" &&
    log_unchanged
'

test_expect_success 'log with a wrong passphrase is refused and says so' '
    expect_error 1 "wrong passphrase" \
        "$CASEFS" log "$STORE" --passphrase-file "$WRONGPASS" &&
    sed -i "\$d" "$TMP/messages"
'

test_expect_success 'mount of a store that does not exist is refused' '
    expect_error 1 "no-such-store" cfs mount "$TMP/no-such-store" "$MNT" &&
    ! is_mounted "$MNT" &&
    test_missing "$TMP/no-such-store"
'

test_expect_success 'mount on a mount point that does not exist is refused' '
    expect_error 1 "no-such-dir" cfs mount "$STORE" "$TMP/no-such-dir" &&
    test_missing "$TMP/no-such-dir" &&
    log_unchanged
'

test_expect_success 'mount on a mount point that is not empty is refused' '
    mkdir "$TMP/full" &&
    echo "keep me" >"$TMP/full/file.txt" &&
    expect_error 1 "not empty|empty" cfs mount "$STORE" "$TMP/full" &&
    ! is_mounted "$TMP/full" &&
    test_eq "file.txt" "$(ls "$TMP/full")" "mount point contents" &&
    test_eq "keep me" "$(cat "$TMP/full/file.txt")" "file in the mount point" &&
    log_unchanged
'

# Missing /dev/fuse is real inside a private mount namespace whose /dev is
# a fresh tmpfs holding only the devices a process needs (not /dev/fuse).
# The store and the mount point are the real ones.
if unshare -m --propagation private true 2>/dev/null; then
    test_expect_success 'mount without /dev/fuse is refused and names /dev/fuse' '
        mkdir "$TMP/olddev" &&
        cat >"$TMP/nofuse.sh" <<-EOF &&
	set -e
	mount --bind /dev "$TMP/olddev"
	mount -t tmpfs tmpfs /dev
	for d in null zero full random urandom tty; do
	    touch /dev/\$d
	    mount --bind "$TMP/olddev/\$d" /dev/\$d
	done
	test ! -e /dev/fuse
	exec "\$@"
	EOF
        expect_error 1 "/dev/fuse" unshare -m --propagation private \
            bash "$TMP/nofuse.sh" "$CASEFS" mount "$STORE" "$MNT" --passphrase-file "$PASS" &&
        ! is_mounted "$MNT" &&
        ! daemon_pids >/dev/null &&
        log_unchanged
    '
else
    # Without a private mount namespace /dev/fuse could only be removed
    # for the whole machine; that is not ours to do, and faking the check
    # would test nothing.
    test_skip 'mount without /dev/fuse is refused and names /dev/fuse' \
        'no private mount namespace (unshare -m) available to hide /dev/fuse'
fi

# A store of an unknown format version: a copy of the store whose meta
# record "format" (stored in clear, 4 bytes big-endian) is changed to 99
# with LMDB's own dump and load tools (lmdb-utils, installed by make deps).
test_expect_success 'mount of a store of an unknown format version is refused' '
    cp -a "$STORE" "$TMP/store99" &&
    mdb_dump -s meta "$TMP/store99" >"$TMP/meta.dump" &&
    awk "f { print \" 00000063\"; f = 0; next }
         \$0 == \" 666f726d6174\" { f = 1 } { print }" \
        "$TMP/meta.dump" >"$TMP/meta99.dump" &&
    ! cmp -s "$TMP/meta.dump" "$TMP/meta99.dump" &&
    mdb_load -s meta -f "$TMP/meta99.dump" "$TMP/store99" &&
    expect_error 1 "format|version" cfs mount "$TMP/store99" "$MNT" &&
    ! is_mounted "$MNT"
'

test_expect_success 'mount succeeds and logs a mount entry' '
    mount_store &&
    test_eq "" "$(ls -A "$MNT")" "a new store" &&
    cfs log "$STORE" >"$TMP/log.before" &&
    test_lines 2 "$TMP/log.before" &&
    test_eq mount "$(sed -n 2p "$TMP/log.before" | cut -f5)" "op of entry 2"
'

test_expect_success 'mount of a store that is already mounted is refused' '
    mkdir "$TMP/mnt2" &&
    cfs log "$STORE" >"$TMP/log.before" &&
    expect_error 1 "mounted|in use|busy|lock" cfs mount "$STORE" "$TMP/mnt2" &&
    log_unchanged &&
    ! is_mounted "$TMP/mnt2" &&
    test_eq 1 "$(daemon_pids | wc -l)" "daemons serving the store" &&
    mkdir "$MNT/2026-0001" &&
    echo "still works" >"$MNT/2026-0001/note.txt" &&
    test_eq "still works" "$(cat "$MNT/2026-0001/note.txt")" "first mount"
'

test_expect_success 'mount on a mount point in use is refused' '
    test_init_other=$TMP/other &&
    cfs init "$test_init_other" &&
    expect_error 1 "mnt|mounted|empty|busy" cfs mount "$test_init_other" "$MNT" &&
    test_eq 1 "$(cfs log "$test_init_other" | wc -l)" "entries in the other store" &&
    test_eq "still works" "$(cat "$MNT/2026-0001/note.txt")" "first mount"
'

test_expect_success 'the refusal messages all differ' '
    cat "$TMP/messages" &&
    test "$(sort "$TMP/messages" | uniq -d | wc -l)" -eq 0
'

test_expect_success 'umount unmounts and logs an umount entry' '
    "$CASEFS" umount "$MNT" &&
    ! is_mounted "$MNT" &&
    wait_daemon_gone &&
    cfs log "$STORE" >"$TMP/log.after" &&
    test_eq umount "$(tail -n1 "$TMP/log.after" | cut -f5)" "op of the last entry" &&
    test_eq "ok" "$(tail -n1 "$TMP/log.after" | cut -f8)" "result"
'

test_expect_success 'umount of something that is not a casefs mount fails' '
    run_capture "$CASEFS" umount "$TMP/scratch" &&
    cat "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    test -s "$TMP/stderr"
'

test_done

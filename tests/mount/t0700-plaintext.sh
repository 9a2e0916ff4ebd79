#!/bin/bash
# t0700-plaintext: nothing readable at rest.
#
# Case, folder and document names, document contents, a retraction reason,
# the name of a user who worked in the store and the passphrase are each a
# distinctive string.  Each is visible through the mount or the command
# line (so this test can fail), and after unmounting none of them occurs
# anywhere in the store's files.

. "$(dirname "$0")/lib.sh"

PROBE_USER=casefsprobe
CASE_NAME=Plaintext-Probe-Case-Kq7Zx
GROUP_CASE=Group-Case-Probe-Tn4Vb
FOLDER_NAME=Folder-Name-Probe-Wm3Rt
DOC_NAME=Document-Name-Probe-Hy8Pv.txt
USER_DOC=User-Doc-Name-Probe-Ux6Ya.txt
GONE_DOC=Removed-Doc-Name-Probe-Qe9Gm.txt
CONTENT=Content-Marker-Probe-Jb5Nc
USER_CONTENT=User-Content-Marker-Probe-Zr1Fw
REASON=Reason-Marker-Probe-Ls2Dq
USER_REASON=User-Reason-Marker-Probe-Vx4Kj
PASSPHRASE=$(head -n1 "$PASS")

# as_probe CMD...: CMD as the probe user (its own uid and group only).
as_probe () {
    setpriv --reuid="$PROBE_UID" --regid="$PROBE_GID" --clear-groups "$@"
}

test_expect_success "set-up: a user named $PROBE_USER" '
    for i in $(seq 20); do
        getent passwd "$PROBE_USER" >/dev/null && break
        # another test run may be adding it at this moment (CI runs make
        # check and make asan side by side): look again
        useradd --no-create-home --shell /usr/sbin/nologin --user-group "$PROBE_USER" ||
            sleep 0.5
    done &&
    PROBE_UID=$(id -u "$PROBE_USER") &&
    PROBE_GID=$(id -g "$PROBE_USER") &&
    test "$PROBE_UID" -gt 0
'

test_expect_success 'set-up: documents with distinctive names and contents (as root)' '
    mkdir -p "$MNT/$CASE_NAME/$FOLDER_NAME" &&
    { for i in $(seq 200); do echo "$CONTENT line $i"; done; } >"$MNT/$CASE_NAME/$FOLDER_NAME/$DOC_NAME" &&
    echo "second version $CONTENT" >>"$MNT/$CASE_NAME/$FOLDER_NAME/$DOC_NAME" &&
    echo "to be removed: $CONTENT" >"$MNT/$CASE_NAME/$GONE_DOC" &&
    setfattr -n user.casefs.reason -v "$REASON" "$MNT/$CASE_NAME/$GONE_DOC" &&
    rm "$MNT/$CASE_NAME/$GONE_DOC"
'

test_expect_success "set-up: $PROBE_USER works in a case of its group" '
    mkdir "$MNT/$GROUP_CASE" &&
    chgrp "$PROBE_GID" "$MNT/$GROUP_CASE" &&
    chmod 770 "$MNT/$GROUP_CASE" &&
    as_probe sh -c "echo \"$USER_CONTENT\" >\"\$1\"" sh "$MNT/$GROUP_CASE/$USER_DOC" &&
    as_probe cat "$MNT/$GROUP_CASE/$USER_DOC" >"$TMP/out" &&
    test_eq "$USER_CONTENT" "$(cat "$TMP/out")" "what the user reads" &&
    as_probe sh -c "echo \"draft $USER_CONTENT\" >\"\$1\"" sh "$MNT/$GROUP_CASE/draft.txt" &&
    as_probe setfattr -n user.casefs.reason -v "$USER_REASON" "$MNT/$GROUP_CASE/draft.txt" &&
    as_probe rm "$MNT/$GROUP_CASE/draft.txt"
'

test_expect_success 'the strings are visible through the mount and the command line' '
    ls -R "$MNT" >"$TMP/ls" &&
    grep -qF "$CASE_NAME" "$TMP/ls" &&
    grep -qF "$FOLDER_NAME" "$TMP/ls" &&
    grep -qF "$DOC_NAME" "$TMP/ls" &&
    grep -qF "$USER_DOC" "$TMP/ls" &&
    grep -qF "$CONTENT" "$MNT/$CASE_NAME/$FOLDER_NAME/$DOC_NAME" &&
    grep -qF "$USER_CONTENT" "$MNT/$GROUP_CASE/$USER_DOC" &&
    cfs retractions "$STORE" --all >"$TMP/req" &&
    cat "$TMP/req" &&
    grep -F "$CASE_NAME/$GONE_DOC" "$TMP/req" | grep -qF "$REASON" &&
    grep -F "$GROUP_CASE/draft.txt" "$TMP/req" | grep -qF "$USER_REASON" &&
    grep -F "$GROUP_CASE/draft.txt" "$TMP/req" | grep -qF "$PROBE_USER($PROBE_UID)" &&
    cfs cat "$STORE" "$CASE_NAME/$GONE_DOC" | grep -qF "$CONTENT" &&
    cfs history "$STORE" "$GROUP_CASE/$USER_DOC" >"$TMP/hist" &&
    test_eq "$PROBE_USER" "$(cut -f4 "$TMP/hist")" "author" &&
    cfs log "$STORE" >"$TMP/log" &&
    grep -qF "$PROBE_USER($PROBE_UID)" "$TMP/log"
'

test_expect_success 'unmount: the store is at rest' '
    umount_store &&
    find "$STORE" -type f >"$TMP/files" &&
    cat "$TMP/files" &&
    test -s "$TMP/files" &&
    test "$(du -sk "$STORE" | cut -f1)" -gt 16
'

# in_store STRING: the store files that contain STRING (none expected).
in_store () {
    grep -r -a -F -l -- "$1" "$STORE"
}

for probe in "$CASE_NAME" "$GROUP_CASE" "$FOLDER_NAME" "$DOC_NAME" "$USER_DOC" "$GONE_DOC" \
             "$CONTENT" "$USER_CONTENT" "$REASON" "$USER_REASON" "$PROBE_USER" "$PASSPHRASE"; do
    test_expect_success "\"$probe\" does not occur in the store's files" '
        ! in_store "$probe"
    '
done

test_expect_success 'the same search finds a string that is in the store (it can fail)' '
    printf "%s" "$CONTENT" >"$STORE/planted-by-test" &&
    in_store "$CONTENT" &&
    rm "$STORE/planted-by-test"
'

test_expect_success 'the store mounts again and shows the same' '
    mount_store &&
    grep -qF "$CONTENT" "$MNT/$CASE_NAME/$FOLDER_NAME/$DOC_NAME" &&
    test_eq "$USER_CONTENT" "$(cat "$MNT/$GROUP_CASE/$USER_DOC")" "the user'"'"'s document"
'

test_done

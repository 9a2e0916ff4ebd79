#!/bin/bash
# t1500-names: a removed document's name taken by a folder, a removed
# folder's name taken by a document, and a folder renamed over one whose
# documents were removed.  Nothing becomes unreachable: `casefs history`
# and `cat` still find the removed entries by their path, making the name
# again continues the history, a rejected request brings the entry back
# beside the new one, and `casefs verify` stays clean.

. "$(dirname "$0")/lib.sh"

C=2026-1500

# request_id PATH: the ids of the requests for PATH, any state.
request_id () {
    cfs retractions "$STORE" --all | awk -F'\t' -v p="$1" '$2 == p { print $1 }'
}

test_expect_success 'a removed document whose name now holds a folder keeps its history' '
    mkdir "$MNT/$C" &&
    echo "plan v1" >"$MNT/$C/plan" &&
    echo "plan v2" >"$MNT/$C/plan" &&
    rm "$MNT/$C/plan" &&
    mkdir "$MNT/$C/plan" &&
    echo "inside" >"$MNT/$C/plan/inner.txt" &&
    test_eq 2 "$(versions_of "$C/plan")" "versions of the removed plan" &&
    test_eq "plan v1" "$(cfs cat "$STORE" "$C/plan" --version 1)" "version 1" &&
    test_eq inside "$(cat "$MNT/$C/plan/inner.txt")" "the folder works"
'

test_expect_success 'the folder removed in turn, a document made there continues the plan' '
    rm -r "$MNT/$C/plan" &&
    echo "plan v3" >"$MNT/$C/plan" &&
    test_eq 3 "$(versions_of "$C/plan")" "versions of plan" &&
    test_eq "plan v3" "$(cat "$MNT/$C/plan")" "content" &&
    test_eq inside "$(cfs cat "$STORE" "$C/plan/inner.txt")" "the removed folder s document"
'

test_expect_success 'rejecting the folder s removal brings it back beside the document' '
    id=$(request_id "$C/plan/inner.txt") && test -n "$id" &&
    cfs retract reject "$STORE" "$id" --reason "kept" &&
    fid=$(request_id "$C/plan" | sort -n | tail -n 1) && test -n "$fid" &&
    cfs retract reject "$STORE" "$fid" --reason "kept" &&
    sleep 1.2 &&
    ls "$MNT/$C" >"$TMP/ls" && cat "$TMP/ls" &&
    grep -qx plan "$TMP/ls" &&
    restored=$(grep "^plan (restored" "$TMP/ls") &&
    test_eq inside "$(cat "$MNT/$C/$restored/inner.txt")" "restored folder content" &&
    test_eq "plan v3" "$(cat "$MNT/$C/plan")" "the document keeps its name"
'

test_expect_success 'a folder renamed over one whose documents were removed keeps them' '
    mkdir "$MNT/$C/a" "$MNT/$C/b" &&
    echo "note a" >"$MNT/$C/a/n.txt" &&
    rm "$MNT/$C/a/n.txt" &&
    mv -T "$MNT/$C/b" "$MNT/$C/a" &&
    test_eq 1 "$(versions_of "$C/a/n.txt")" "versions of the removed note" &&
    test_eq "note a" "$(cfs cat "$STORE" "$C/a/n.txt")" "its content" &&
    echo "note a, again" >"$MNT/$C/a/n.txt" &&
    test_eq 2 "$(versions_of "$C/a/n.txt")" "the note continues"
'

test_expect_success 'casefs verify is clean, also after a remount' '
    cfs verify "$STORE" &&
    remount &&
    test_eq 3 "$(versions_of "$C/plan")" "versions of plan" &&
    cfs verify "$STORE"
'

test_done

#!/bin/bash
# t2000-retract: an administrator decides retraction requests.
#
# `casefs retract approve|reject STORE ID --reason TEXT` on a mounted store.
# Approving marks the versions the request covers `retracted` (kept,
# readable with `casefs history`/`cat`, hidden from the mount and from
# `.versions/`); rejecting brings the entry back into its folder.  The
# mount shows the decision within a second.  Each decision is logged with
# the decider and the reason; an unknown or decided request, or a decision
# without a reason, is a one-line error with the documented exit code.

. "$(dirname "$0")/lib.sh"

A=2026-2000

# request_id PATH: the id of the (only) request for PATH, any state.
request_id () {
    cfs retractions "$STORE" --all >"$TMP/req" || return 1
    awk -F'\t' -v p="$1" '$2 == p { print $1 }' "$TMP/req" >"$TMP/req.id" &&
    test_lines 1 "$TMP/req.id" &&
    cat "$TMP/req.id"
}

# request_state PATH: the state column of the request for PATH.
request_state () {
    cfs retractions "$STORE" --all | awk -F'\t' -v p="$1" '$2 == p { print $7 }'
}

# within_a_second CMD...: CMD succeeds within one second (polled).
within_a_second () {
    local end
    end=$(($(date +%s%N) + 1000000000))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(date +%s%N)" -lt "$end" ] || break
        sleep 0.05
    done
    fail "not within a second: $*"
}

# history_states PATH: the state column of every version, space separated.
history_states () {
    cfs history "$STORE" "$1" | cut -f5 | tr '\n' ' ' | sed 's/ $//'
}

# versions_listing PATH: what .versions/NAME/ of PATH lists (sorted), or
# nothing when that folder does not exist.
versions_listing () {
    local d=$MNT/${1%/*}/.versions/${1##*/}
    if [ -d "$d" ]; then
        ls "$d" | sort -V | tr '\n' ' ' | sed 's/ $//'
    fi
}

# check_cat PATH: casefs cat --version N gives every recorded version of
# PATH byte for byte (for documents whose .versions/ hides some).
check_cat () {
    local n k
    k=$(model_count "$1")
    test_eq "$k" "$(versions_of "$1")" "versions of $1" || return 1
    for n in $(seq "$k"); do
        cfs cat "$STORE" "$1" --version "$n" >"$TMP/.cat" &&
        cmp "$TMP/model/$1/$n" "$TMP/.cat" || fail "$1 v$n differs" || return 1
    done
}

# decide VERB ID REASON: runs the decision, checks its one output line.
decide () {
    run_capture cfs retract "$1" "$STORE" "$2" --reason "$3"
    cat "$TMP/stdout" "$TMP/stderr"
    test_eq 0 "$run_rc" "exit status of retract $1" &&
    case $1 in approve) past=approved ;; *) past=rejected ;; esac
    test_eq "request $2 $past" "$(cat "$TMP/stdout")" "output of retract $1" &&
    test_lines 0 "$TMP/stderr"
}

test_expect_success 'set-up: documents with versions, then removed' '
    mkdir "$MNT/$A" &&
    printf "gone, first\n" >"$MNT/$A/gone.txt" && model_add "$A/gone.txt" &&
    head -c 200000 /dev/urandom >"$SCRATCH/big" &&
    cp "$SCRATCH/big" "$MNT/$A/gone.txt" && model_add "$A/gone.txt" &&
    printf "gone, third\n" >"$MNT/$A/gone.txt" && model_add "$A/gone.txt" &&
    printf "back, first\n" >"$MNT/$A/back.txt" && model_add "$A/back.txt" &&
    printf "back, second\n" >"$MNT/$A/back.txt" && model_add "$A/back.txt" &&
    printf "again, first\n" >"$MNT/$A/again.txt" && model_add "$A/again.txt" &&
    printf "again, second\n" >"$MNT/$A/again.txt" && model_add "$A/again.txt" &&
    mkdir "$MNT/$A/folder" &&
    printf "in the folder\n" >"$MNT/$A/folder/inner.txt" && model_add "$A/folder/inner.txt" &&
    check_versions "$A/gone.txt" && check_versions "$A/back.txt" &&
    setfattr -n user.casefs.reason -v "note about the wrong child" "$MNT/$A/gone.txt" &&
    rm "$MNT/$A/gone.txt" "$MNT/$A/back.txt" "$MNT/$A/again.txt" &&
    rm -r "$MNT/$A/folder" &&
    test_eq ".
.." "$(listing "$MNT/$A")" "ls -a of the case" &&
    test_eq 5 "$(requests_count)" "pending requests"
'

test_expect_success 'a document re-created while pending continues its history' '
    sleep 0.2 &&
    printf "again, third (re-created)\n" >"$MNT/$A/again.txt" && model_add "$A/again.txt" &&
    check_versions "$A/again.txt" &&
    test_eq pending "$(request_state "$A/again.txt")" "state of the request"
'

test_expect_success 'approve: one line of output, exit 0' '
    id=$(request_id "$A/gone.txt") &&
    decide approve "$id" "written on the wrong child, confirmed by the unit head"
'

test_expect_success 'approve: every covered version is marked retracted in history' '
    test_eq "retracted retracted retracted" "$(history_states "$A/gone.txt")" "states" &&
    cfs history "$STORE" "$A/gone.txt" >"$TMP/hist" && cat "$TMP/hist" &&
    test_eq "1 2 3" "$(cut -f1 "$TMP/hist" | tr "\n" " " | sed "s/ \$//")" "numbers"
'

test_expect_success 'approve: cat --version N still gives every version byte for byte' '
    check_versions "$A/gone.txt"
'

test_expect_success 'approve: the document stays hidden from the mount and from .versions' '
    test_missing "$MNT/$A/gone.txt" &&
    expect_errno_text "No such file or directory" cat "$MNT/$A/gone.txt" &&
    test_eq "" "$(versions_listing "$A/gone.txt")" ".versions/gone.txt" &&
    test_missing "$MNT/$A/.versions/gone.txt/v1.txt" &&
    test_missing "$MNT/$A/.versions/gone.txt/v3.txt" &&
    ! ls -a "$MNT/$A" | grep -qx gone.txt
'

test_expect_success 'approve: the request reads approved, no longer pending' '
    test_eq approved "$(request_state "$A/gone.txt")" "state" &&
    ! cfs retractions "$STORE" | awk -F"\t" "{ print \$2 }" | grep -qx "$A/gone.txt"
'

test_expect_success 'approve of a re-created document: covered versions hidden, the new one stays' '
    id=$(request_id "$A/again.txt") &&
    decide approve "$id" "the first two notes were duplicates" &&
    test_eq "retracted retracted live" "$(history_states "$A/again.txt")" "states" &&
    check_cat "$A/again.txt" &&
    within_a_second test_eq "v3.txt" "$(versions_listing "$A/again.txt")" &&
    test_eq "v3.txt" "$(versions_listing "$A/again.txt")" ".versions/again.txt" &&
    test_missing "$MNT/$A/.versions/again.txt/v1.txt" &&
    cmp "$TMP/model/$A/again.txt/3" "$MNT/$A/again.txt" &&
    cmp "$TMP/model/$A/again.txt/3" "$MNT/$A/.versions/again.txt/v3.txt"
'

test_expect_success 'reject: one line of output, the document reappears within a second' '
    id=$(request_id "$A/back.txt") &&
    stat "$MNT/$A/back.txt" >/dev/null 2>&1;
    decide reject "$id" "the note is correct, it stays" &&
    within_a_second test -f "$MNT/$A/back.txt" &&
    cmp "$TMP/model/$A/back.txt/2" "$MNT/$A/back.txt" &&
    test_eq ".
..
again.txt
back.txt" "$(listing "$MNT/$A")" "ls -a of the case"
'

test_expect_success 'reject: every version is live and .versions lists them all' '
    test_eq "live live" "$(history_states "$A/back.txt")" "states" &&
    check_versions "$A/back.txt" &&
    test_eq rejected "$(request_state "$A/back.txt")" "state"
'

test_expect_success 'a restored document takes saves again' '
    printf "back, third\n" >"$MNT/$A/back.txt" && model_add "$A/back.txt" &&
    check_versions "$A/back.txt"
'

test_expect_success 'reject of a folder removed with rm -r: the folder reappears' '
    id=$(request_id "$A/folder") &&
    stat "$MNT/$A/folder" >/dev/null 2>&1;
    decide reject "$id" "the folder is needed" &&
    within_a_second test -d "$MNT/$A/folder" &&
    test_missing "$MNT/$A/folder/inner.txt" &&
    id=$(request_id "$A/folder/inner.txt") &&
    stat "$MNT/$A/folder/inner.txt" >/dev/null 2>&1;
    decide reject "$id" "and so is its note" &&
    within_a_second test -f "$MNT/$A/folder/inner.txt" &&
    check_versions "$A/folder/inner.txt"
'

test_expect_success 'reject of a folder re-created meanwhile: it stays one folder' '
    mkdir "$MNT/$A/plans" &&
    printf "plan\n" >"$MNT/$A/plans/p.txt" &&
    rm -r "$MNT/$A/plans" &&
    sleep 0.2 &&
    mkdir "$MNT/$A/plans" &&
    id=$(request_id "$A/plans") &&
    decide reject "$id" "both folders are needed" &&
    sleep 0.3 &&
    test -d "$MNT/$A/plans" &&
    ls "$MNT/$A" >"$TMP/ls" && cat "$TMP/ls" &&
    test_eq 1 "$(grep -c "^plans" "$TMP/ls")" "folders named plans*" &&
    test_eq rejected "$(request_state "$A/plans")" "state"
'

test_expect_success 'approve of a folder and its document: both stay hidden, versions retracted' '
    mkdir "$MNT/$A/old" &&
    printf "old note\n" >"$MNT/$A/old/o.txt" && model_add "$A/old/o.txt" &&
    rm -r "$MNT/$A/old" &&
    id=$(request_id "$A/old/o.txt") &&
    decide approve "$id" "duplicate folder" &&
    id=$(request_id "$A/old") &&
    decide approve "$id" "duplicate folder" &&
    sleep 0.2 &&
    test_missing "$MNT/$A/old" &&
    ! ls -a "$MNT/$A" | grep -qx old &&
    test_eq "retracted" "$(history_states "$A/old/o.txt")" "states" &&
    check_cat "$A/old/o.txt" &&
    test_eq approved "$(request_state "$A/old")" "folder request"
'

test_expect_success 'deciding a decided request: exit 1, one line, nothing changes' '
    id=$(request_id "$A/gone.txt") &&
    cfs retractions "$STORE" --all >"$TMP/all.before" &&
    n=$(log_count) &&
    expect_error 1 "already decided" cfs retract approve "$STORE" "$id" --reason "again" &&
    test_lines 0 "$TMP/stdout" &&
    expect_error 1 "already decided" cfs retract reject "$STORE" "$id" --reason "changed my mind" &&
    id=$(request_id "$A/back.txt") &&
    expect_error 1 "already decided" cfs retract approve "$STORE" "$id" --reason "changed my mind" &&
    cfs retractions "$STORE" --all >"$TMP/all.after" &&
    test_cmp "$TMP/all.before" "$TMP/all.after" &&
    test_missing "$MNT/$A/gone.txt" &&
    test -f "$MNT/$A/back.txt" &&
    test_eq "retracted retracted retracted" "$(history_states "$A/gone.txt")" "states"
'

test_expect_success 'an unknown request id: exit 1, one line naming it' '
    expect_error 1 "there is no retraction request 99999" \
        cfs retract approve "$STORE" 99999 --reason "no such request" &&
    test_lines 0 "$TMP/stdout" &&
    expect_error 1 "there is no retraction request 99998" \
        cfs retract reject "$STORE" 99998 --reason "no such request"
'

test_expect_success 'a decision without --reason is bad usage: exit 2, one line, still pending' '
    printf "pending note\n" >"$MNT/$A/pending.txt" &&
    rm "$MNT/$A/pending.txt" &&
    id=$(request_id "$A/pending.txt") &&
    expect_error 2 "reason" cfs retract approve "$STORE" "$id" &&
    expect_error 2 "reason" cfs retract reject "$STORE" "$id" &&
    expect_error 2 "" cfs retract approve "$STORE" "$id" --reason &&
    test_eq pending "$(request_state "$A/pending.txt")" "state" &&
    test_missing "$MNT/$A/pending.txt"
'

test_expect_success 'an empty reason is refused too and decides nothing' '
    id=$(request_id "$A/pending.txt") &&
    run_capture cfs retract approve "$STORE" "$id" --reason "" &&
    cat "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    test_lines 1 "$TMP/stderr" &&
    test_eq pending "$(request_state "$A/pending.txt")" "state"
'

test_expect_success 'a wrong verb or a non-numeric id is bad usage (exit 2)' '
    id=$(request_id "$A/pending.txt") &&
    expect_error 2 "" cfs retract remove "$STORE" "$id" --reason "x" &&
    expect_error 2 "" cfs retract approve "$STORE" "one" --reason "x" &&
    test_eq pending "$(request_state "$A/pending.txt")" "state"
'

test_expect_success 'the log names each decision, the decider root(0) and the reason' '
    cfs log "$STORE" >"$TMP/log" &&
    grep -P "\tretract-(approve|reject)\t" "$TMP/log" >"$TMP/decisions" &&
    cat "$TMP/decisions" &&
    test_lines 8 "$TMP/decisions" &&
    id=$(request_id "$A/gone.txt") &&
    grep -P "^[0-9]+\t[0-9T:Z-]+\troot\(0\)\tcasefs\[[0-9]+\]\tretract-approve\t$A/gone.txt\tv3\tok\trequest $id approved: written on the wrong child, confirmed by the unit head\$" "$TMP/decisions" &&
    id=$(request_id "$A/back.txt") &&
    grep -P "^[0-9]+\t[0-9T:Z-]+\troot\(0\)\tcasefs\[[0-9]+\]\tretract-reject\t$A/back.txt\tv2\tok\trequest $id rejected: the note is correct, it stays\$" "$TMP/decisions" &&
    id=$(request_id "$A/folder") &&
    grep -P "\troot\(0\)\tcasefs\[[0-9]+\]\tretract-reject\t$A/folder\tv0\tok\trequest $id rejected: the folder is needed\$" "$TMP/decisions"
'

test_expect_success 'refused decisions change nothing in the log' '
    ! grep -P "\tretract-(approve|reject)\t.*: (again|changed my mind|no such request|x)\$" "$TMP/log" &&
    test_eq 8 "$(grep -cP "\tretract-(approve|reject)\t" "$TMP/log")" "decisions in the log"
'

test_expect_success 'log --json carries the decision with uid 0 and user root' '
    cfs log "$STORE" --json >"$TMP/log.json" &&
    python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
d = [r for r in rows if r[\"operation\"] == \"retract-approve\" and r[\"path\"] == sys.argv[2]]
assert len(d) == 1, d
d = d[0]
assert d[\"uid\"] == 0 and d[\"user\"] == \"root\", d
assert d[\"process\"] == \"casefs\", d
assert d[\"case\"] == sys.argv[3], d
assert d[\"detail\"].endswith(\"approved: written on the wrong child, confirmed by the unit head\"), d
print(\"ok\")
" "$TMP/log.json" "$A/gone.txt" "$A"
'

test_expect_success 'retractions --all shows every state; without --all only pending' '
    (cd "$MNT/$A" && printf "oops\n" >undo.txt && sleep 0.2 &&
     python3 -c "
import os
os.unlink(\"undo.txt\")
with open(\"undo.txt\", \"w\") as f:
    f.write(\"oops, kept\\n\")
") &&
    cfs retractions "$STORE" --all >"$TMP/all" && cat "$TMP/all" &&
    test_eq approved "$(request_state "$A/gone.txt")" "gone.txt" &&
    test_eq approved "$(request_state "$A/again.txt")" "again.txt" &&
    test_eq rejected "$(request_state "$A/back.txt")" "back.txt" &&
    test_eq rejected "$(request_state "$A/folder")" "folder" &&
    test_eq pending "$(request_state "$A/pending.txt")" "pending.txt" &&
    test_eq withdrawn "$(request_state "$A/undo.txt")" "undo.txt" &&
    test_eq 0 "$(awk -F"\t" "NF != 7" "$TMP/all" | wc -l)" "lines without 7 fields" &&
    cfs retractions "$STORE" >"$TMP/pending" && cat "$TMP/pending" &&
    test_eq pending "$(cut -f7 "$TMP/pending" | sort -u)" "states without --all" &&
    test_eq "$(grep -c "	pending\$" "$TMP/all")" "$(wc -l <"$TMP/pending")" "pending count" &&
    grep -q "	$A/pending.txt	" "$TMP/pending"
'

test_expect_success 'decisions survive a remount' '
    cfs retractions "$STORE" --all >"$TMP/all.before" &&
    remount &&
    cfs retractions "$STORE" --all >"$TMP/all.after" &&
    test_cmp "$TMP/all.before" "$TMP/all.after" &&
    test_missing "$MNT/$A/gone.txt" &&
    test_eq "" "$(versions_listing "$A/gone.txt")" ".versions/gone.txt" &&
    test_eq "v3.txt" "$(versions_listing "$A/again.txt")" ".versions/again.txt" &&
    check_cat "$A/again.txt" &&
    check_versions "$A/back.txt" &&
    check_versions "$A/gone.txt" &&
    check_versions "$A/folder/inner.txt"
'

test_done

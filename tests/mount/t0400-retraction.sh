#!/bin/bash
# t0400-retraction: rm is a request, not a deletion.
#
# Unlinking a document or removing a folder takes the entry out of the live
# view at once and records a retraction request (path, version, who, when,
# reason); the content stays readable to `casefs cat`/`history`.  Moving a
# document to another case is refused with EXDEV, so mv copies it and the
# original leaves a request behind.  Scratch files of editors and tools
# are not documents: unlinking them makes no request.

. "$(dirname "$0")/lib.sh"

A=2026-0200
B=2026-0201

# request_for PATH: the retraction line (all states) for PATH, exactly one.
request_for () {
    cfs retractions "$STORE" --all >"$TMP/req" || return 1
    awk -F'\t' -v p="$1" '$2 == p' "$TMP/req" >"$TMP/req.one" &&
    test_lines 1 "$TMP/req.one" &&
    cat "$TMP/req.one"
}

# check_request PATH VERSION REASON STATE: the request for PATH reads so,
# requested by root(0) within the last ten minutes.
check_request () {
    local line t s
    line=$(request_for "$1") || { cat "$TMP/req"; return 1; }
    say "$line"
    [ "$(printf '%s\n' "$line" | awk -F'\t' '{ print NF }')" = 7 ] || fail "not 7 fields" || return 1
    test_match '^[^[:space:]]+$' "$(printf '%s\n' "$line" | cut -f1)" "id" &&
    test_eq "$2" "$(printf '%s\n' "$line" | cut -f3)" "version" &&
    test_eq "root(0)" "$(printf '%s\n' "$line" | cut -f4)" "requested by" &&
    test_eq "$3" "$(printf '%s\n' "$line" | cut -f6)" "reason" &&
    test_eq "$4" "$(printf '%s\n' "$line" | cut -f7)" "state" || return 1
    t=$(printf '%s\n' "$line" | cut -f5)
    test_match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$t" "time" || return 1
    s=$(date -u -d "$t" +%s) && [ $(($(date +%s) - s)) -lt 600 ] || fail "time $t is not now"
}

test_expect_success 'set-up: a case with a document of two versions' '
    mkdir "$MNT/$A" "$MNT/$B" &&
    echo "first draft" >"$MNT/$A/note.txt" &&
    model_add "$A/note.txt" &&
    echo "duplicated by mistake" >"$MNT/$A/note.txt" &&
    model_add "$A/note.txt" &&
    check_versions "$A/note.txt" &&
    test_eq 0 "$(requests_count --all)" "requests"
'

test_expect_success 'a reason can be attached with setfattr' '
    setfattr -n user.casefs.reason -v "duplicate note" "$MNT/$A/note.txt" &&
    test_eq 2 "$(versions_of "$A/note.txt")" "versions (setfattr is no save)"
'

test_expect_success 'rm of a document takes it out of the live view' '
    rm "$MNT/$A/note.txt" &&
    test_missing "$MNT/$A/note.txt" &&
    test_eq ".
.." "$(listing "$MNT/$A")" "ls -a of the case" &&
    expect_errno_text "No such file or directory" cat "$MNT/$A/note.txt"
'

test_expect_success 'rm recorded a pending request with version, user and reason' '
    test_eq 1 "$(requests_count)" "pending requests" &&
    check_request "$A/note.txt" v2 "duplicate note" pending
'

test_expect_success 'the content of a removed document stays readable' '
    check_versions "$A/note.txt"
'

test_expect_success 're-creating the document while pending continues its history' '
    echo "the corrected note" >"$MNT/$A/note.txt" &&
    model_add "$A/note.txt" &&
    test_eq 3 "$(versions_of "$A/note.txt")" "versions" &&
    cfs history "$STORE" "$A/note.txt" >"$TMP/hist" &&
    cat "$TMP/hist" &&
    test_eq "1 2 3" "$(cut -f1 "$TMP/hist" | tr "\n" " " | sed "s/ \$//")" "version numbers" &&
    check_versions "$A/note.txt"
'

test_expect_success 'rm -r of a folder: every document and the folder are requested' '
    mkdir "$MNT/$A/journal" &&
    echo "journal entry a" >"$MNT/$A/journal/a.txt" &&
    model_add "$A/journal/a.txt" &&
    echo "journal entry b" >"$MNT/$A/journal/b.txt" &&
    model_add "$A/journal/b.txt" &&
    echo "journal entry b, corrected" >"$MNT/$A/journal/b.txt" &&
    model_add "$A/journal/b.txt" &&
    before=$(requests_count --all) &&
    rm -r "$MNT/$A/journal" &&
    test_missing "$MNT/$A/journal" &&
    test_eq ".
..
note.txt" "$(listing "$MNT/$A")" "ls -a of the case" &&
    test_eq $((before + 3)) "$(requests_count --all)" "requests" &&
    check_request "$A/journal/a.txt" v1 - pending &&
    check_request "$A/journal/b.txt" v2 - pending &&
    check_request "$A/journal" v0 - pending &&
    check_versions "$A/journal/a.txt" &&
    check_versions "$A/journal/b.txt"
'

test_expect_success 'rmdir of an empty folder is requested with its reason' '
    mkdir "$MNT/$A/empty" &&
    setfattr -n user.casefs.reason -v "folder made by mistake" "$MNT/$A/empty" &&
    before=$(requests_count --all) &&
    rmdir "$MNT/$A/empty" &&
    test_missing "$MNT/$A/empty" &&
    test_eq $((before + 1)) "$(requests_count --all)" "requests" &&
    check_request "$A/empty" v0 "folder made by mistake" pending
'

test_expect_success 'mv within a case carries the history and makes no request' '
    echo "plan v1" >"$MNT/$A/plan.txt" &&
    model_add "$A/plan.txt" &&
    echo "plan v2" >"$MNT/$A/plan.txt" &&
    model_add "$A/plan.txt" &&
    before=$(requests_count --all) &&
    mv "$MNT/$A/plan.txt" "$MNT/$A/care-plan.txt" &&
    test_missing "$MNT/$A/plan.txt" &&
    mkdir -p "$TMP/model/$A/care-plan.txt" &&
    cp "$TMP/model/$A/plan.txt/"* "$TMP/model/$A/care-plan.txt/" &&
    rm -r "$TMP/model/$A/plan.txt" &&
    check_versions "$A/care-plan.txt" &&
    test_eq "$before" "$(requests_count --all)" "requests"
'

test_expect_success 'mv onto an existing document makes its next version, nothing lost' '
    echo "summary v1" >"$MNT/$A/summary.txt" &&
    model_add "$A/summary.txt" &&
    echo "draft summary" >"$MNT/$A/draft.txt" &&
    before=$(requests_count --all) &&
    mv "$MNT/$A/draft.txt" "$MNT/$A/summary.txt" &&
    test_missing "$MNT/$A/draft.txt" &&
    printf "draft summary\n" >"$SCRATCH/want" &&
    model_add "$A/summary.txt" "$SCRATCH/want" &&
    check_versions "$A/summary.txt" &&
    test_eq "$before" "$(requests_count --all)" "requests"
'

test_expect_success 'rename to another case fails with EXDEV at the system call' '
    echo "a note written on the wrong person" >"$MNT/$A/wrong.txt" &&
    model_add "$A/wrong.txt" &&
    before=$(requests_count --all) &&
    python3 -c "
import os, sys
try:
    os.rename(sys.argv[1], sys.argv[2])
except OSError as e:
    print(e.errno, e.strerror)
    sys.exit(0)
print(\"rename succeeded\")
sys.exit(1)
" "$MNT/$A/wrong.txt" "$MNT/$B/wrong.txt" >"$TMP/out" &&
    test_eq "18 Invalid cross-device link" "$(cat "$TMP/out")" "errno and message" &&
    test_missing "$MNT/$B/wrong.txt" &&
    check_versions "$A/wrong.txt" &&
    test_eq "$before" "$(requests_count --all)" "requests"
'

test_expect_success 'mv to another case copies and leaves a request for the original' '
    before=$(requests_count --all) &&
    { mv "$MNT/$A/wrong.txt" "$MNT/$B/" 2>"$TMP/mv.err"; rc=$?; cat "$TMP/mv.err"; test $rc -eq 0; } &&
    test_lines 0 "$TMP/mv.err" &&
    test_missing "$MNT/$A/wrong.txt" &&
    cmp "$TMP/model/$A/wrong.txt/1" "$MNT/$B/wrong.txt" &&
    model_add "$B/wrong.txt" &&
    check_versions "$B/wrong.txt" &&
    test_eq $((before + 1)) "$(requests_count --all)" "requests" &&
    check_request "$A/wrong.txt" v1 - pending &&
    check_versions "$A/wrong.txt"
'

test_expect_success 'unlinking transient names makes no request' '
    before=$(requests_count --all) &&
    for n in "notes.txt~" ".x.swp" ".notes.txt.swo" "#notes.txt#" ".#notes.txt" \
             "4913" "export.tmp" "sedAb12Cd" ".report.txt.Ab12Cd" ".~lock.report.odt#" \
             "~\$report.docx" ".goutputstream-QW12ER"; do
        echo "scratch content" >"$MNT/$A/$n" &&
        test -f "$MNT/$A/$n" &&
        rm "$MNT/$A/$n" &&
        test_missing "$MNT/$A/$n" || return 1
    done &&
    test_eq "$before" "$(requests_count --all)" "requests" &&
    test_eq ".
..
care-plan.txt
note.txt
summary.txt" "$(listing "$MNT/$A")" "ls -a of the case"
'

test_expect_success 'rm -r of a whole case: the case and its documents are requested' '
    mkdir "$MNT/2026-0202" &&
    echo "case opened by mistake" >"$MNT/2026-0202/intake.txt" &&
    model_add 2026-0202/intake.txt &&
    before=$(requests_count --all) &&
    rm -r "$MNT/2026-0202" &&
    test_missing "$MNT/2026-0202" &&
    test_eq "$A $B" "$(ls "$MNT" | tr "\n" " " | sed "s/ \$//")" "the root listing" &&
    test_eq $((before + 2)) "$(requests_count --all)" "requests" &&
    check_request 2026-0202/intake.txt v1 - pending &&
    check_request 2026-0202 v0 - pending &&
    check_versions 2026-0202/intake.txt
'

test_expect_success 'request ids are distinct and every request is pending' '
    cfs retractions "$STORE" --all >"$TMP/all" &&
    cfs retractions "$STORE" >"$TMP/pending" &&
    cat "$TMP/all" &&
    test_cmp "$TMP/all" "$TMP/pending" &&
    test_eq 0 "$(cut -f1 "$TMP/all" | sort | uniq -d | wc -l)" "duplicate ids" &&
    test_eq "pending" "$(cut -f7 "$TMP/all" | sort -u)" "states"
'

test_expect_success 'after a remount removed entries stay hidden and requests stay' '
    cfs retractions "$STORE" --all >"$TMP/all.before" &&
    remount &&
    cfs retractions "$STORE" --all >"$TMP/all.after" &&
    test_cmp "$TMP/all.before" "$TMP/all.after" &&
    test_eq ".
..
care-plan.txt
note.txt
summary.txt" "$(listing "$MNT/$A")" "ls -a of $A" &&
    test_eq ".
..
wrong.txt" "$(listing "$MNT/$B")" "ls -a of $B" &&
    check_versions "$A/journal/b.txt" &&
    check_versions "$A/note.txt"
'

test_expect_success 'a document moved onto a removed folder'"'"'s name while written gets one version' '
    C=2026-0203 &&
    mkdir "$MNT/$C" "$MNT/$C/visits" &&
    rmdir "$MNT/$C/visits" &&
    python3 - "$MNT/$C" <<-\PY &&
	import os, sys
	d = sys.argv[1]
	fd = os.open(os.path.join(d, "draft.txt"), os.O_CREAT | os.O_WRONLY, 0o644)
	os.write(fd, b"home visit planned\n")
	os.rename(os.path.join(d, "draft.txt"), os.path.join(d, "visits"))
	os.write(fd, b"home visit done\n")
	os.close(fd)
	PY
    test_eq "home visit planned
home visit done" "$(cat "$MNT/$C/visits")" "the document" &&
    test_eq 1 "$(versions_of $C/visits)" "versions of the moved document" &&
    check_request $C/visits v0 - pending
'

test_done

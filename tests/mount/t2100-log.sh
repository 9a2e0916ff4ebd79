#!/bin/bash
# t2100-log: the audit log as an auditor reads and checks it.
#
# `casefs log` prints one entry a line (sequence, UTC time, user(uid),
# process[pid], operation, path, version, result, detail), filtered by
# --case and --since, or as JSON with --json.  `casefs log head` prints
# SEQ:HASH; `casefs log verify` exits 0 only on an intact chain and names
# the first bad sequence number of a changed, removed or swapped entry; a
# cut tail is found only against a head kept earlier.  The damage is done
# with cfs-tamper on copies of the unmounted store.

. "$(dirname "$0")/lib.sh"

TAMPER=$BUILD/cfs-tamper
A=2026-0042
AA=2026-00420   # A is a prefix of this one: --case must not mix them
B=2026-0043
TIME_RE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
D2='[0-9][0-9]'
AWK_TIME_RE="^$D2$D2-$D2-${D2}T$D2:$D2:${D2}Z\$"

# copy_store NAME: a copy of the (unmounted) store at $TMP/NAME.
copy_store () {
    rm -rf "$TMP/$1" && cp -a "$STORE" "$TMP/$1"
}

# next_second: sleeps until just after the next full second; prints that
# second as TIME (UTC).
next_second () {
    local now
    now=$(date +%s%N)
    sleep "$(printf '0.%09d' $((1000000000 - now % 1000000000)))"
    sleep 0.05
    date -u +%Y-%m-%dT%H:%M:%SZ
}

test_expect_success 'set-up: three cases with saves, reads and a removal' '
    mkdir "$MNT/$A" "$MNT/$AA" "$MNT/$B" &&
    echo "first note" >"$MNT/$A/note.txt" &&
    echo "second note" >"$MNT/$A/note.txt" &&
    cat "$MNT/$A/note.txt" >/dev/null &&
    echo "other case" >"$MNT/$AA/intake.txt" &&
    mkdir "$MNT/$B/journal" &&
    echo "journal" >"$MNT/$B/journal/j.txt" &&
    rm "$MNT/$B/journal/j.txt" &&
    cfs log "$STORE" >"$TMP/log" &&
    test "$(wc -l <"$TMP/log")" -ge 10 &&
    cfs log head "$STORE" >"$TMP/head.early"
'

test_expect_success 'every line has the nine documented fields' '
    cat "$TMP/log" &&
    awk -F"\t" "NF != 9 { print \"bad: \" \$0; bad = 1 } END { exit bad }" "$TMP/log" &&
    awk -F"\t" -v re="$AWK_TIME_RE" "
        \$1 !~ /^[0-9]+\$/ { print \"seq: \" \$0; bad = 1 }
        \$2 !~ re { print \"time: \" \$0; bad = 1 }
        \$3 !~ /^[^()]+\([0-9]+\)\$/ { print \"user: \" \$0; bad = 1 }
        \$4 !~ /^.+\[[0-9]+\]\$/ { print \"process: \" \$0; bad = 1 }
        \$5 !~ /^[a-z-]+\$/ { print \"operation: \" \$0; bad = 1 }
        \$7 !~ /^v[0-9]+\$/ { print \"version: \" \$0; bad = 1 }
        \$8 !~ /^(ok|E[A-Z0-9]+)\$/ { print \"result: \" \$0; bad = 1 }
        END { exit bad }" "$TMP/log"
'

test_expect_success 'sequence numbers run 1..N without gaps, times never go back' '
    test_eq "$(seq "$(wc -l <"$TMP/log")" | tr "\n" " ")" "$(cut -f1 "$TMP/log" | tr "\n" " ")" "sequence" &&
    test_eq "$(cut -f2 "$TMP/log")" "$(cut -f2 "$TMP/log" | sort)" "times in order" &&
    s=$(date -u -d "$(tail -n 1 "$TMP/log" | cut -f2)" +%s) &&
    [ $(($(date +%s) - s)) -lt 600 ] || fail "the last entry is not from now"
'

test_expect_success 'entries read as what happened: saves, a read, a removal' '
    grep -P "^[0-9]+\t$TIME_RE\troot\(0\)\tmkdir\[[0-9]+\]\tmkdir\t$A\tv0\tok\t" "$TMP/log" &&
    grep -P "\troot\(0\)\t[^\t]+\[[0-9]+\]\tversion\t$A/note.txt\tv1\tok\t" "$TMP/log" &&
    grep -P "\troot\(0\)\t[^\t]+\[[0-9]+\]\tversion\t$A/note.txt\tv2\tok\t" "$TMP/log" &&
    grep -P "\troot\(0\)\tcat\[[0-9]+\]\t[a-z-]+\t$A/note.txt\tv2\tok\t" "$TMP/log" &&
    grep -P "\troot\(0\)\trm\[[0-9]+\]\tunlink\t$B/journal/j.txt\tv1\tok\t" "$TMP/log"
'

test_expect_success 'reading the log is not itself logged' '
    cfs log "$STORE" >"$TMP/log.again" &&
    test_cmp "$TMP/log" "$TMP/log.again"
'

test_expect_success '--case keeps exactly the entries of that case' '
    cfs log "$STORE" --case "$A" >"$TMP/log.A" && cat "$TMP/log.A" &&
    awk -F"\t" -v c="$A" "\$6 == c || index(\$6, c \"/\") == 1" "$TMP/log" >"$TMP/want.A" &&
    test_cmp "$TMP/want.A" "$TMP/log.A" &&
    test "$(wc -l <"$TMP/log.A")" -ge 4 &&
    ! grep -q "$AA" "$TMP/log.A" &&
    cfs log "$STORE" --case "$AA" >"$TMP/log.AA" &&
    awk -F"\t" -v c="$AA" "\$6 == c || index(\$6, c \"/\") == 1" "$TMP/log" >"$TMP/want.AA" &&
    test_cmp "$TMP/want.AA" "$TMP/log.AA" &&
    test "$(wc -l <"$TMP/log.AA")" -ge 2 &&
    cfs log "$STORE" --case "$B" >"$TMP/log.B" &&
    grep -q "	$B/journal/j.txt	" "$TMP/log.B" &&
    ! grep -q "	$A" "$TMP/log.B"
'

test_expect_success '--case of a case without entries prints nothing, exit 0' '
    run_capture cfs log "$STORE" --case 2026-9999 &&
    test_eq 0 "$run_rc" "exit status" &&
    test_lines 0 "$TMP/stdout" &&
    test_lines 0 "$TMP/stderr"
'

test_expect_success '--since keeps the entries at or after a time' '
    t=$(next_second) &&
    echo "$t" >"$TMP/since" &&
    echo "third note" >"$MNT/$A/note.txt" &&
    echo "later" >"$MNT/$B/later.txt" &&
    cfs log "$STORE" >"$TMP/log" &&
    cfs log "$STORE" --since "$t" >"$TMP/log.since" && cat "$TMP/log.since" &&
    awk -F"\t" -v t="$t" "\$2 >= t" "$TMP/log" >"$TMP/want.since" &&
    test_cmp "$TMP/want.since" "$TMP/log.since" &&
    test "$(wc -l <"$TMP/log.since")" -ge 3 &&
    test "$(wc -l <"$TMP/log.since")" -lt "$(wc -l <"$TMP/log")" &&
    grep -q "	$A/note.txt	v3	" "$TMP/log.since" &&
    ! grep -q "	version	$A/note.txt	v2	" "$TMP/log.since"
'

test_expect_success '--since takes "YYYY-MM-DD HH:MM" and a bare date' '
    t=$(cat "$TMP/since") &&
    m=$(date -u -d "$t" "+%Y-%m-%d %H:%M") &&
    mz=$(date -u -d "$t" "+%Y-%m-%dT%H:%M:00Z") &&
    cfs log "$STORE" --since "$m" >"$TMP/log.m" &&
    awk -F"\t" -v t="$mz" "\$2 >= t" "$TMP/log" >"$TMP/want.m" &&
    test_cmp "$TMP/want.m" "$TMP/log.m" &&
    d=$(date -u -d "$t" +%Y-%m-%d) &&
    cfs log "$STORE" --since "$d" >"$TMP/log.d" &&
    awk -F"\t" -v t="${d}T00:00:00Z" "\$2 >= t" "$TMP/log" >"$TMP/want.d" &&
    test_cmp "$TMP/want.d" "$TMP/log.d" &&
    cfs log "$STORE" --since "$(date -u -d "$t + 1 day" +%Y-%m-%d)" >"$TMP/log.future" &&
    test_lines 0 "$TMP/log.future"
'

test_expect_success '--case and --since together' '
    t=$(cat "$TMP/since") &&
    cfs log "$STORE" --case "$A" --since "$t" >"$TMP/log.both" && cat "$TMP/log.both" &&
    awk -F"\t" -v c="$A" -v t="$t" "(\$6 == c || index(\$6, c \"/\") == 1) && \$2 >= t" "$TMP/log" >"$TMP/want.both" &&
    test_cmp "$TMP/want.both" "$TMP/log.both" &&
    test "$(wc -l <"$TMP/log.both")" -ge 1
'

test_expect_success 'a bad --since is bad usage: exit 2, one line' '
    expect_error 2 "since" cfs log "$STORE" --since yesterday-ish &&
    test_lines 0 "$TMP/stdout" &&
    expect_error 2 "since" cfs log "$STORE" --since 2026-13-45 &&
    expect_error 2 "" cfs log "$STORE" --since
'

test_expect_success '--json: one valid object a line with every key, same entries as the text' '
    cfs log "$STORE" >"$TMP/log" &&
    cfs log "$STORE" --json >"$TMP/log.json" &&
    python3 -c "import json,sys; [json.loads(l) for l in sys.stdin]" <"$TMP/log.json" &&
    test_eq "$(wc -l <"$TMP/log")" "$(wc -l <"$TMP/log.json")" "entries" &&
    python3 -c "
import json, sys
keys = [\"seq\",\"time\",\"uid\",\"user\",\"pid\",\"process\",\"operation\",\"case\",\"path\",\"version\",\"result\",\"detail\"]
for l in open(sys.argv[1]):
    r = json.loads(l)
    missing = [k for k in keys if k not in r]
    assert not missing, (missing, r)
    assert isinstance(r[\"seq\"], int) and isinstance(r[\"uid\"], int) and isinstance(r[\"pid\"], int), r
    assert isinstance(r[\"version\"], int), r
    assert r[\"case\"] == r[\"path\"].split(\"/\")[0], r
    print(\"\t\".join([str(r[\"seq\"]), r[\"time\"], \"%s(%d)\" % (r[\"user\"], r[\"uid\"]),
                    \"%s[%d]\" % (r[\"process\"], r[\"pid\"]), r[\"operation\"], r[\"path\"],
                    \"v%d\" % r[\"version\"], r[\"result\"], r[\"detail\"]]))
" "$TMP/log.json" >"$TMP/log.fromjson" &&
    test_cmp "$TMP/log" "$TMP/log.fromjson"
'

test_expect_success '--json with --case: only that case' '
    cfs log "$STORE" --json --case "$B" >"$TMP/log.json.B" &&
    python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows, \"no entries\"
assert all(r[\"case\"] == sys.argv[2] for r in rows), rows
" "$TMP/log.json.B" "$B" &&
    test_eq "$(cfs log "$STORE" --case "$B" | wc -l)" "$(wc -l <"$TMP/log.json.B")" "entries"
'

test_expect_success '--json escapes a detail with quotes, tabs and newlines' '
    echo "to retract" >"$MNT/$A/odd.txt" &&
    setfattr -n user.casefs.reason -v "$(printf "a \"quoted\" reason\twith a tab\\\\ and a backslash")" "$MNT/$A/odd.txt" &&
    rm "$MNT/$A/odd.txt" &&
    cfs log "$STORE" --json >"$TMP/log.json" &&
    python3 -c "import json,sys; [json.loads(l) for l in sys.stdin]" <"$TMP/log.json" &&
    test_eq "$(cfs log "$STORE" | wc -l)" "$(wc -l <"$TMP/log.json")" "entries" &&
    cfs log "$STORE" >"$TMP/log" &&
    awk -F"\t" "NF != 9 { print; bad = 1 } END { exit bad }" "$TMP/log"
'

test_expect_success 'log head prints SEQ:HASH of the newest entry' '
    cfs log head "$STORE" >"$TMP/head" && cat "$TMP/head" &&
    test_lines 1 "$TMP/head" &&
    test_match "^[0-9]+:[0-9a-f]{64}\$" "$(cat "$TMP/head")" "head" &&
    test_eq "$(cfs log "$STORE" | tail -n 1 | cut -f1)" "$(cut -d: -f1 "$TMP/head")" "head sequence" &&
    cfs log head "$STORE" >"$TMP/head2" &&
    test_cmp "$TMP/head" "$TMP/head2"
'

test_expect_success 'log verify: an intact chain exits 0 and counts the entries' '
    n=$(log_count) &&
    run_capture cfs log verify "$STORE" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_eq "log intact: $n entries" "$(cat "$TMP/stdout")" "output" &&
    run_capture cfs log verify "$STORE" --head "$(cat "$TMP/head")" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status with --head" &&
    test_match "^log intact: $n entries(\$|[^0-9])" "$(cat "$TMP/stdout")" "output with --head"
'

test_expect_success 'log verify --head: a head taken earlier is still reached as the log grows' '
    echo "fourth note" >"$MNT/$A/note.txt" &&
    n=$(log_count) &&
    test "$n" -gt "$(cut -d: -f1 "$TMP/head")" &&
    run_capture cfs log verify "$STORE" --head "$(cat "$TMP/head")" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_match "^log intact: $n entries(\$|[^0-9])" "$(cat "$TMP/stdout")" "output"
'

test_expect_success 'log verify --head with a forged hash or a malformed head' '
    h=$(cat "$TMP/head") &&
    forged=${h%:*}:$(printf "%064d" 0) &&
    run_capture cfs log verify "$STORE" --head "$forged" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 1 "$run_rc" "exit status (forged hash)" &&
    test_eq 1 "$(cat "$TMP/stdout" "$TMP/stderr" | wc -l)" "lines" &&
    expect_error 2 "head" cfs log verify "$STORE" --head "not-a-head"
'

test_expect_success 'set-up: unmount, keep the head, copy the store for each damage' '
    umount_store &&
    cfs log head "$STORE" >"$TMP/head.final" &&
    N=$(cut -d: -f1 "$TMP/head.final") &&
    echo "$N" >"$TMP/N" &&
    "$TAMPER" "$STORE" list log >"$TMP/records" &&
    test_lines "$N" "$TMP/records" &&
    test "$N" -ge 20 &&
    for c in flip-payload flip-mac flip-last delete swap cut; do
        copy_store "$c" || return 1
    done
'

# broken_at COPY K: log verify of COPY exits 1 with one line naming entry K.
broken_at () {
    run_capture cfs log verify "$TMP/$1"
    cat "$TMP/stdout" "$TMP/stderr"
    test_eq 1 "$run_rc" "exit status" &&
    test_eq 1 "$(cat "$TMP/stdout" "$TMP/stderr" | wc -l)" "lines of output" &&
    test_match "^(casefs: )?log broken at entry $2: " "$(cat "$TMP/stdout" "$TMP/stderr")" "report" || return 1
    # the same with the head kept earlier
    run_capture cfs log verify "$TMP/$1" --head "$(cat "$TMP/head.final")"
    cat "$TMP/stdout" "$TMP/stderr"
    test_eq 1 "$run_rc" "exit status with --head" &&
    test_match "^(casefs: )?log broken at entry $2: " "$(cat "$TMP/stdout" "$TMP/stderr")" "report with --head"
}

test_expect_success 'the original store verifies after the copies were made' '
    run_capture cfs log verify "$STORE" --head "$(cat "$TMP/head.final")" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_match "^log intact: $(cat "$TMP/N") entries(\$|[^0-9])" "$(cat "$TMP/stdout")" "output"
'

test_expect_success 'a changed byte in the payload of one entry: broken at that entry' '
    "$TAMPER" "$TMP/flip-payload" flip log 7 -3 &&
    broken_at flip-payload 7
'

test_expect_success 'a changed byte in the MAC of one entry: broken at that entry' '
    "$TAMPER" "$TMP/flip-mac" flip log 9 5 &&
    broken_at flip-mac 9
'

test_expect_success 'a changed byte in the newest entry: broken at that entry' '
    N=$(cat "$TMP/N") &&
    "$TAMPER" "$TMP/flip-last" flip log "$N" 40 &&
    broken_at flip-last "$N"
'

test_expect_success 'an entry removed: broken at the missing sequence number' '
    "$TAMPER" "$TMP/delete" delete log 6 &&
    test_lines $(($(cat "$TMP/N") - 1)) <("$TAMPER" "$TMP/delete" list log) &&
    broken_at delete 6
'

test_expect_success 'two entries swapped: broken at the first of them' '
    "$TAMPER" "$TMP/swap" swap log 4 8 &&
    broken_at swap 4
'

test_expect_success 'the last entries cut: intact without --head, found with the head' '
    N=$(cat "$TMP/N") &&
    K=$((N - 3)) &&
    "$TAMPER" "$TMP/cut" cut log "$K" &&
    run_capture cfs log verify "$TMP/cut" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status without --head" &&
    test_eq "log intact: $((K - 1)) entries" "$(cat "$TMP/stdout")" "output without --head" &&
    run_capture cfs log verify "$TMP/cut" --head "$(cat "$TMP/head.final")" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 1 "$run_rc" "exit status with --head" &&
    test_eq 1 "$(cat "$TMP/stdout" "$TMP/stderr" | wc -l)" "lines of output" &&
    test_match "^(casefs: )?log cut: it ends at entry $((K - 1)) but the head kept earlier is entry $N" \
        "$(cat "$TMP/stdout" "$TMP/stderr")" "report"
'

test_expect_success 'a cut copy still verifies against a head taken before the cut point' '
    h=$(cat "$TMP/head.early") &&
    K=$(($(cat "$TMP/N") - 3)) &&
    test "${h%%:*}" -lt "$K" &&
    run_capture cfs log verify "$TMP/cut" --head "$h" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 0 "$run_rc" "exit status"
'

test_expect_success 'a damaged log is also refused by casefs verify' '
    run_capture cfs verify "$TMP/swap" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test_eq 1 "$run_rc" "exit status" &&
    grep -q "^problem: " "$TMP/stdout"
'

test_done

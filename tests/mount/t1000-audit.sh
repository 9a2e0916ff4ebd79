#!/bin/bash
# t1000-audit: every change and every read is in the log.
#
# A user's short session (mkdir, save, read, rename, rm, chmod, ...) and
# the log entries it must leave: the operation, the path as seen from the
# mount root, the user, the process and its pid, the version and the result.
# Log line: SEQ TIME USER(UID) PROCESS[PID] OP PATH vVERSION RESULT DETAIL.

. "$(dirname "$0")/lib.sh"

C=2026-1000

# run_bg CMD...: runs CMD as its own process and sets $last_pid to its pid
# (the pid the log must show); fails when CMD fails.
run_bg () {
    "$@" &
    last_pid=$!
    wait "$last_pid"
}

# entries OP PATH: the log entries with that operation and path.
entries () {
    cfs log "$STORE" >"$TMP/log" || return 1
    awk -F'\t' -v op="$1" -v p="$2" '$5 == op && $6 == p' "$TMP/log"
}

# expect_entry OP PATH USER PROCESS RESULT: at least one such entry; the
# last one is left in $TMP/entry.
expect_entry () {
    entries "$1" "$2" >"$TMP/entries" || return 1
    awk -F'\t' -v u="$3" -v pr="$4" -v r="$5" '$3 == u && $4 == pr && $8 == r' \
        "$TMP/entries" | tail -n 1 >"$TMP/entry"
    if ! [ -s "$TMP/entry" ]; then
        say "entries for $1 $2:"
        cat "$TMP/entries"
        say "last entries of the log:"
        tail -n 8 "$TMP/log"
        fail "no log entry: op $1, path $2, user $3, process $4, result $5"
        return 1
    fi
    cat "$TMP/entry"
}

test_expect_success 'log lines have nine tab-separated fields' '
    cfs log "$STORE" >"$TMP/log" &&
    cat "$TMP/log" &&
    awk -F"\t" "NF != 9 { print \"line \" NR \" has \" NF \" fields\"; bad = 1 } END { exit bad }" "$TMP/log"
'

test_expect_success 'mkdir of a case is logged with user, process and pid' '
    run_bg mkdir "$MNT/$C" &&
    expect_entry mkdir "$C" "root(0)" "mkdir[$last_pid]" ok
'

test_expect_success 'creating a document logs create and its first version' '
    printf "journal note\n" >"$SCRATCH/note" &&
    run_bg cp "$SCRATCH/note" "$MNT/$C/note.txt" &&
    expect_entry create "$C/note.txt" "root(0)" "cp[$last_pid]" ok &&
    expect_entry version "$C/note.txt" "root(0)" "cp[$last_pid]" ok &&
    test_eq v1 "$(cut -f7 "$TMP/entry")" "version of the entry"
'

test_expect_success 'a second save logs version v2' '
    printf "journal note, corrected\n" >"$SCRATCH/note" &&
    run_bg cp "$SCRATCH/note" "$MNT/$C/note.txt" &&
    expect_entry version "$C/note.txt" "root(0)" "cp[$last_pid]" ok &&
    test_eq v2 "$(cut -f7 "$TMP/entry")" "version of the entry"
'

test_expect_success 'reading a document (cat) logs an open for reading' '
    run_bg cat "$MNT/$C/note.txt" >"$TMP/out" &&
    test_eq "journal note, corrected" "$(cat "$TMP/out")" "content" &&
    expect_entry open "$C/note.txt" "root(0)" "cat[$last_pid]" ok &&
    test_match "read" "$(cut -f9 "$TMP/entry")" "detail of the open entry"
'

test_expect_success 'every read is logged: a second cat adds a second entry' '
    n=$(entries open "$C/note.txt" | wc -l) &&
    cat "$MNT/$C/note.txt" >/dev/null &&
    test_eq $((n + 1)) "$(entries open "$C/note.txt" | wc -l)" "open entries"
'

# The operation name of an administrator's read is "read-version" in the
# list of names and "cat" in the tool; either is accepted.
test_expect_success 'reading with casefs cat is logged with the version read' '
    cfs cat "$STORE" "$C/note.txt" --version 1 >"$TMP/out" &&
    test_eq "journal note" "$(cat "$TMP/out")" "v1" &&
    { entries read-version "$C/note.txt" && entries cat "$C/note.txt"; } >"$TMP/entries" &&
    cat "$TMP/entries" &&
    test_eq v1 "$(tail -n 1 "$TMP/entries" | cut -f7)" "version read" &&
    test_eq "root(0)" "$(tail -n 1 "$TMP/entries" | cut -f3)" "user"
'

test_expect_success 'mv within the case logs rename with both names' '
    run_bg mv "$MNT/$C/note.txt" "$MNT/$C/journal.txt" &&
    cfs log "$STORE" >"$TMP/log" &&
    awk -F"\t" -v pr="mv[$last_pid]" "\$5 == \"rename\" && \$4 == pr && \$3 == \"root(0)\" && \$8 == \"ok\"" \
        "$TMP/log" >"$TMP/entry" &&
    cat "$TMP/entry" &&
    test_lines 1 "$TMP/entry" &&
    grep -qF "$C/note.txt" "$TMP/entry" &&
    grep -qF "journal.txt" "$TMP/entry"
'

test_expect_success 'rm logs unlink (and the retraction request)' '
    run_bg rm "$MNT/$C/journal.txt" &&
    expect_entry unlink "$C/journal.txt" "root(0)" "rm[$last_pid]" ok &&
    test_eq 1 "$(requests_count)" "requests"
'

test_expect_success 'rmdir logs rmdir' '
    mkdir "$MNT/$C/empty" &&
    run_bg rmdir "$MNT/$C/empty" &&
    expect_entry rmdir "$C/empty" "root(0)" "rmdir[$last_pid]" ok
'

test_expect_success 'chmod, chown, touch, truncate (its version) and setfattr are logged' '
    echo "attributes" >"$MNT/$C/attr.txt" &&
    run_bg chmod 600 "$MNT/$C/attr.txt" &&
    expect_entry chmod "$C/attr.txt" "root(0)" "chmod[$last_pid]" ok &&
    run_bg chown 65534 "$MNT/$C/attr.txt" &&
    expect_entry chown "$C/attr.txt" "root(0)" "chown[$last_pid]" ok &&
    run_bg touch -d "2025-01-01 00:00:00" "$MNT/$C/attr.txt" &&
    expect_entry utimens "$C/attr.txt" "root(0)" "touch[$last_pid]" ok &&
    run_bg truncate -s 3 "$MNT/$C/attr.txt" &&
    expect_entry version "$C/attr.txt" "root(0)" "truncate[$last_pid]" ok &&
    test_eq v2 "$(cut -f7 "$TMP/entry")" "version made by truncate" &&
    run_bg setfattr -n user.casefs.reason -v "no longer needed" "$MNT/$C/attr.txt" &&
    expect_entry setxattr "$C/attr.txt" "root(0)" "setfattr[$last_pid]" ok
'

test_expect_success 'the whole session is in order: sequence 1..N, times now, all ok' '
    cfs log "$STORE" >"$TMP/log" &&
    cut -f1 "$TMP/log" >"$TMP/seq" &&
    seq "$(wc -l <"$TMP/log")" >"$TMP/seq.want" &&
    test_cmp "$TMP/seq.want" "$TMP/seq" &&
    now=$(date +%s) &&
    for t in $(cut -f2 "$TMP/log"); do
        test_match "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\$" "$t" "time" &&
        s=$(date -u -d "$t" +%s) &&
        test $((now - s)) -lt 600 || fail "time $t" || return 1
    done &&
    test_eq "init mkdir" "$(cut -f5 "$TMP/log" | grep -E "^(init|mkdir)\$" | head -n 2 | tr "\n" " " | sed "s/ \$//")" \
        "first operations" &&
    awk -F"\t" "\$4 !~ /^[^[]*\\[[0-9]+\\]\$/ { print; bad = 1 } END { exit bad }" "$TMP/log" &&
    awk -F"\t" "\$8 != \"ok\" { print; bad = 1 } END { exit bad }" "$TMP/log"
'

test_expect_success 'a refused move to another case is logged as rename with EXDEV' '
    mkdir "$MNT/2026-1001" &&
    echo "wrong person" >"$MNT/$C/wrong.txt" &&
    run_capture python3 -c "import os, sys; os.rename(sys.argv[1], sys.argv[2])" \
        "$MNT/$C/wrong.txt" "$MNT/2026-1001/wrong.txt" &&
    test "$run_rc" -ne 0 &&
    grep -q "Invalid cross-device link" "$TMP/stderr" &&
    cfs log "$STORE" >"$TMP/log" &&
    awk -F"\t" "\$5 == \"rename\" && \$8 == \"EXDEV\"" "$TMP/log" >"$TMP/entry" &&
    cat "$TMP/entry" &&
    test_lines 1 "$TMP/entry" &&
    grep -qF "$C/wrong.txt" "$TMP/entry" &&
    test_eq "root(0)" "$(cut -f3 "$TMP/entry")" "user" &&
    test -f "$MNT/$C/wrong.txt"
'

test_expect_success 'the log survives a remount unchanged' '
    cfs log "$STORE" >"$TMP/log.before" &&
    remount &&
    cfs log "$STORE" >"$TMP/log.after" &&
    head -n "$(wc -l <"$TMP/log.before")" "$TMP/log.after" >"$TMP/log.head" &&
    test_cmp "$TMP/log.before" "$TMP/log.head" &&
    tail -n +$(($(wc -l <"$TMP/log.before") + 1)) "$TMP/log.after" | cut -f5 >"$TMP/ops" &&
    test_eq "umount mount" "$(tr "\n" " " <"$TMP/ops" | sed "s/ \$//")" "new entries"
'

test_done

#!/bin/bash
# t2500-cli: the administration commands' help and refusals.
#
# Every subcommand has --help (exit 0, usage on stdout) and `casefs --help`
# lists them all.  A wrong argument is bad usage (exit 2); an unknown path,
# an unknown store and a wrong passphrase are refusals (exit 1); each is
# one line on stderr starting with "casefs: ", and nothing is logged.  The
# store is mounted throughout (every command works on a mounted store).

. "$(dirname "$0")/lib.sh"

A=2026-2500
NOSTORE=$TMP/no-such-store

# log_unchanged: the audit log is still what was saved in $TMP/log.before.
log_unchanged () {
    cfs log "$STORE" >"$TMP/log.after" && test_cmp "$TMP/log.before" "$TMP/log.after"
}

# one_line_casefs: the last command's stderr is one line starting "casefs: ".
one_line_casefs () {
    grep -q "^casefs: " "$TMP/stderr" || fail "stderr does not start with 'casefs: '"
}

test_expect_success 'set-up: a case with a document and a pending request' '
    mkdir "$MNT/$A" "$MNT/$A/folder" &&
    echo "note" >"$MNT/$A/note.txt" &&
    echo "removed" >"$MNT/$A/gone.txt" && rm "$MNT/$A/gone.txt" &&
    test_eq 1 "$(requests_count)" "requests" &&
    cfs log "$STORE" >"$TMP/log.before"
'

test_expect_success 'casefs --help lists every subcommand, exit 0' '
    run_capture "$CASEFS" --help &&
    cat "$TMP/stdout" &&
    test_eq 0 "$run_rc" "exit status" &&
    test_lines 0 "$TMP/stderr" &&
    for c in init mount umount history cat retractions retract log verify backup passwd; do
        grep -Eq "^[[:space:]]+$c[[:space:]]" "$TMP/stdout" || fail "casefs --help does not list $c" || return 1
    done &&
    grep -q "log verify" "$TMP/stdout" &&
    grep -q "log head" "$TMP/stdout"
'

test_expect_success 'every subcommand has --help: usage on stdout, exit 0, no key asked' '
    for c in history cat retractions retract "retract approve" "retract reject" log "log verify" "log head" verify backup passwd; do
        run_capture $CASEFS $c --help </dev/null
        say "== casefs $c --help -> $run_rc" && cat "$TMP/stdout" "$TMP/stderr" &&
        test_eq 0 "$run_rc" "exit status of casefs $c --help" &&
        test_lines 0 "$TMP/stderr" &&
        grep -q "^usage: casefs ${c%% *}" "$TMP/stdout" ||
            fail "casefs $c --help: no usage line" || return 1
        test "$(wc -l <"$TMP/stdout")" -ge 2 || fail "casefs $c --help: usage only, no description" || return 1
    done
'

test_expect_success 'the help of each names its arguments and options' '
    "$CASEFS" history --help | grep -q "STORE PATH" &&
    "$CASEFS" cat --help | grep -q -- "--version N" &&
    "$CASEFS" retractions --help | grep -q -- "--all" &&
    "$CASEFS" retract --help | grep -q -- "--reason" &&
    "$CASEFS" log --help | grep -q -- "--case" &&
    "$CASEFS" log --help | grep -q -- "--since" &&
    "$CASEFS" log --help | grep -q -- "--json" &&
    "$CASEFS" log verify --help | grep -q -- "--head" &&
    "$CASEFS" backup --help | grep -q "DEST" &&
    "$CASEFS" passwd --help | grep -q -- "--new-passphrase-file"
'

test_expect_success '--help after the arguments works too' '
    run_capture "$CASEFS" history "$STORE" "$A/note.txt" --help </dev/null &&
    test_eq 0 "$run_rc" "exit status" &&
    grep -q "^usage: casefs history" "$TMP/stdout" &&
    log_unchanged
'

test_expect_success 'wrong arguments are bad usage: exit 2, one line each, nothing logged' '
    expect_error 2 "" cfs history "$STORE" &&
    expect_error 2 "" cfs history "$STORE" "$A/note.txt" extra &&
    expect_error 2 "" cfs history "$STORE" "$A/note.txt" --bogus &&
    expect_error 2 "" cfs cat "$STORE" &&
    expect_error 2 "version" cfs cat "$STORE" "$A/note.txt" --version abc &&
    expect_error 2 "" cfs retractions "$STORE" --bogus &&
    expect_error 2 "" cfs retractions &&
    expect_error 2 "" cfs retract &&
    expect_error 2 "" cfs retract approve "$STORE" &&
    expect_error 2 "" cfs log &&
    expect_error 2 "" cfs log "$STORE" --bogus &&
    expect_error 2 "" cfs log "$STORE" --case &&
    expect_error 2 "" cfs log verify &&
    expect_error 2 "" cfs log verify "$STORE" --head &&
    expect_error 2 "" cfs log head &&
    expect_error 2 "" cfs verify &&
    expect_error 2 "" cfs verify "$STORE" --bogus &&
    expect_error 2 "" cfs backup "$STORE" &&
    expect_error 2 "" cfs passwd &&
    expect_error 2 "" cfs passwd "$STORE" --bogus &&
    log_unchanged
'

test_expect_success '--version without a number: exit 2, the line names --version' '
    expect_error 2 "version" cfs cat "$STORE" "$A/note.txt" --version &&
    log_unchanged
'

test_expect_success 'every usage error starts with casefs:' '
    test "$(wc -l <"$TMP/messages")" -ge 19 &&
    ! grep -v "^casefs: " "$TMP/messages"
'

test_expect_success 'history of a missing document: exit 1, one line naming it' '
    : >"$TMP/messages" &&
    expect_error 1 "$A/missing.txt" cfs history "$STORE" "$A/missing.txt" &&
    one_line_casefs &&
    test_lines 0 "$TMP/stdout" &&
    expect_error 1 "2026-9999/x.txt" cfs history "$STORE" 2026-9999/x.txt
'

test_expect_success 'cat of a missing document: exit 1, one line, no bytes' '
    expect_error 1 "$A/missing.txt" cfs cat "$STORE" "$A/missing.txt" &&
    one_line_casefs &&
    test_eq 0 "$(wc -c <"$TMP/stdout")" "bytes written"
'

test_expect_success 'cat of a version that does not exist: exit 1, one line, no bytes' '
    expect_error 1 "version|7" cfs cat "$STORE" "$A/note.txt" --version 7 &&
    one_line_casefs &&
    test_eq 0 "$(wc -c <"$TMP/stdout")" "bytes written"
'

test_expect_success 'history and cat of a folder: exit 1, one line' '
    expect_error 1 "" cfs history "$STORE" "$A/folder" &&
    one_line_casefs &&
    expect_error 1 "" cfs cat "$STORE" "$A/folder" &&
    one_line_casefs &&
    test_eq 0 "$(wc -c <"$TMP/stdout")" "bytes written"
'

test_expect_success 'a refused cat of a missing version is not logged as damage (EIO)' '
    cfs log "$STORE" >"$TMP/log.after" &&
    diff "$TMP/log.before" "$TMP/log.after" | sed -n "s/^> //p" >"$TMP/log.new" &&
    cat "$TMP/log.new" &&
    ! grep -P "\tEIO\t" "$TMP/log.new" &&
    awk -F"\t" "\$8 != \"ok\" && \$8 != \"ENOENT\" { print \"unexpected result: \" \$0; bad = 1 } END { exit bad }" "$TMP/log.new"
'

test_expect_success 'an unknown store: exit 1, one line naming it, nothing created' '
    for c in "history $NOSTORE $A/note.txt" "cat $NOSTORE $A/note.txt" "retractions $NOSTORE" \
             "retract approve $NOSTORE 1 --reason r" "retract reject $NOSTORE 1 --reason r" \
             "log $NOSTORE" "log verify $NOSTORE" "log head $NOSTORE" "verify $NOSTORE" \
             "backup $NOSTORE $TMP/bk" "passwd $NOSTORE --new-passphrase-file $WRONGPASS"; do
        expect_error 1 "no-such-store" cfs $c &&
        one_line_casefs &&
        test_missing "$NOSTORE" &&
        test_missing "$TMP/bk" || return 1
    done
'

test_expect_success 'a folder that is not a store, and a plain file: exit 1, one line' '
    mkdir "$TMP/plain-folder" &&
    echo "not a store" >"$TMP/plain-file" &&
    expect_error 1 "plain-folder" cfs log "$TMP/plain-folder" &&
    expect_error 1 "plain-folder" cfs verify "$TMP/plain-folder" &&
    expect_error 1 "plain-file" cfs history "$TMP/plain-file" "$A/note.txt" &&
    test_eq "" "$(ls -A "$TMP/plain-folder")" "the folder is left empty"
'

test_expect_success 'a wrong passphrase: exit 1, one line, for every command, nothing logged' '
    : >"$TMP/messages" &&
    cfs log "$STORE" >"$TMP/log.before" &&
    id=$(cfs retractions "$STORE" | cut -f1) &&
    for c in "history $STORE $A/note.txt" "cat $STORE $A/note.txt" "retractions $STORE" \
             "retract approve $STORE $id --reason r" "retract reject $STORE $id --reason r" \
             "log $STORE" "log verify $STORE" "log head $STORE" "verify $STORE" \
             "backup $STORE $TMP/bk" "passwd $STORE --new-passphrase-file $WRONGPASS"; do
        expect_error 1 "wrong passphrase" "$CASEFS" $c --passphrase-file "$WRONGPASS" &&
        one_line_casefs &&
        test_lines 0 "$TMP/stdout" &&
        test_missing "$TMP/bk" || return 1
    done &&
    test_eq 1 "$(requests_count)" "the request is still pending" &&
    log_unchanged
'

test_expect_success 'an unknown path, an unknown store, a wrong passphrase: three different messages' '
    expect_error 1 "" cfs history "$STORE" "$A/missing.txt" && m1=$(cat "$TMP/stderr") &&
    expect_error 1 "" cfs history "$NOSTORE" "$A/note.txt" && m2=$(cat "$TMP/stderr") &&
    expect_error 1 "" "$CASEFS" history "$STORE" "$A/note.txt" --passphrase-file "$WRONGPASS" &&
    m3=$(cat "$TMP/stderr") &&
    test "$m1" != "$m2" && test "$m2" != "$m3" && test "$m1" != "$m3"
'

test_expect_success 'the commands still work afterwards, on the mounted store' '
    cfs history "$STORE" "$A/note.txt" >"$TMP/out" && test_lines 1 "$TMP/out" &&
    test_eq note "$(cfs cat "$STORE" "$A/note.txt")" "content" &&
    cfs verify "$STORE" | grep -q "^store sound: " &&
    cfs log verify "$STORE" | grep -q "^log intact: "
'

test_done

#!/bin/bash
# t0600-access: permissions are enforced for other users, and refusals are
# logged.
#
# The mount is made by root with allow_other; a second user (nobody,
# 65534) is refused a case folder that root made private, with EACCES
# ("Permission denied"), and the refusal is an entry in the audit log.
# Root itself bypasses permission checks as on ext4.  New case folders
# lose their "other" permission bits.

. "$(dirname "$0")/lib.sh"

P=2026-0600
O=2026-0601

# as_nobody CMD...: CMD as uid/gid 65534 without supplementary groups.
as_nobody () {
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

test_expect_success 'set-up: root makes a private case (mode 0700) with a document' '
    python3 -c "import os, sys; os.umask(0); os.mkdir(sys.argv[1], 0o700)" "$MNT/$P" &&
    test_eq 700 "$(stat -c %a "$MNT/$P")" "mode of the case" &&
    echo "private journal note" >"$MNT/$P/note.txt" &&
    chmod 644 "$MNT/$P/note.txt" &&
    test_eq 0:0 "$(stat -c %u:%g "$MNT/$P")" "owner"
'

test_expect_success 'nobody can reach the mount root (the refusal below is casefs'"'"'s)' '
    as_nobody ls "$MNT" >"$TMP/ls" &&
    grep -qx "$P" "$TMP/ls" &&
    as_nobody stat "$MNT/$P" >/dev/null
'

test_expect_success 'nobody: ls of the private case is refused with Permission denied' '
    run_capture as_nobody ls "$MNT/$P" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    grep -q "Permission denied" "$TMP/stderr" &&
    test_lines 0 "$TMP/stdout"
'

test_expect_success 'nobody: cat of the document is refused with Permission denied' '
    run_capture as_nobody cat "$MNT/$P/note.txt" &&
    cat "$TMP/stdout" "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    grep -q "Permission denied" "$TMP/stderr" &&
    test_lines 0 "$TMP/stdout"
'

test_expect_success 'nobody: writing a new document into the case is refused' '
    run_capture as_nobody sh -c "echo intruder >\"\$1\"" sh "$MNT/$P/intruder.txt" &&
    cat "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    grep -q "Permission denied" "$TMP/stderr" &&
    test_missing "$MNT/$P/intruder.txt"
'

test_expect_success 'nobody: rm of the case is refused and makes no request' '
    run_capture as_nobody rm -rf "$MNT/$P" &&
    cat "$TMP/stderr" &&
    grep -q "Permission denied" "$TMP/stderr" &&
    test -d "$MNT/$P" &&
    test_eq "private journal note" "$(cat "$MNT/$P/note.txt")" "the note" &&
    test_eq 0 "$(requests_count --all)" "requests"
'

test_expect_success 'root still reads and writes the private case' '
    ls "$MNT/$P" >"$TMP/ls" &&
    test_eq note.txt "$(cat "$TMP/ls")" "listing" &&
    echo "second entry" >>"$MNT/$P/note.txt" &&
    test_eq 2 "$(versions_of "$P/note.txt")" "versions"
'

test_expect_success 'the refusals are in the log with EACCES and uid 65534' '
    cfs log "$STORE" >"$TMP/log" &&
    awk -F"\t" "\$8 == \"EACCES\"" "$TMP/log" >"$TMP/refused" &&
    cat "$TMP/refused" &&
    awk -F"\t" "\$3 ~ /\\(65534\\)\$/ && \$6 ~ /^$P(\\/|\$)/" "$TMP/refused" >"$TMP/refused.nobody" &&
    test "$(wc -l <"$TMP/refused.nobody")" -ge 3 &&
    test_eq "nobody(65534)" "$(cut -f3 "$TMP/refused.nobody" | sort -u)" "user of the refusals" &&
    awk -F"\t" "\$6 == \"$P\"" "$TMP/refused.nobody" | grep -q . &&
    awk -F"\t" "\$3 == \"root(0)\"" "$TMP/refused" >"$TMP/refused.root" &&
    test_lines 0 "$TMP/refused.root"
'

test_expect_success 'a refused access is its own log entry, not a change' '
    n=$(log_count) &&
    run_capture as_nobody cat "$MNT/$P/note.txt" &&
    test "$run_rc" -ne 0 &&
    cfs log "$STORE" >"$TMP/log" &&
    test "$(wc -l <"$TMP/log")" -gt "$n" &&
    tail -n +$((n + 1)) "$TMP/log" >"$TMP/new" &&
    cat "$TMP/new" &&
    test_eq "EACCES" "$(cut -f8 "$TMP/new" | sort -u)" "results of the new entries" &&
    test_eq 2 "$(versions_of "$P/note.txt")" "versions"
'

test_expect_success 'a case made with mode 0755 is stored as 0750' '
    python3 -c "import os, sys; os.umask(0); os.mkdir(sys.argv[1], 0o755)" "$MNT/$O" &&
    test_eq 750 "$(stat -c %a "$MNT/$O")" "mode of the new case"
'

test_expect_success 'a case made by plain mkdir (umask 022) is 0750' '
    (umask 022 && mkdir "$MNT/2026-0602") &&
    test_eq 750 "$(stat -c %a "$MNT/2026-0602")" "mode of the new case"
'

test_expect_success 'a case made with mode 0777 is stored as 0770' '
    python3 -c "import os, sys; os.umask(0); os.mkdir(sys.argv[1], 0o777)" "$MNT/2026-0603" &&
    test_eq 770 "$(stat -c %a "$MNT/2026-0603")" "mode of the new case"
'

test_expect_success 'folders inside a case keep their mode' '
    python3 -c "import os, sys; os.umask(0); os.mkdir(sys.argv[1], 0o755)" "$MNT/$O/letters" &&
    test_eq 755 "$(stat -c %a "$MNT/$O/letters")" "mode of a subfolder"
'

test_expect_success 'nobody is refused the 0750 case (no "other" bits)' '
    echo "note" >"$MNT/$O/note.txt" &&
    run_capture as_nobody cat "$MNT/$O/note.txt" &&
    cat "$TMP/stderr" &&
    test "$run_rc" -ne 0 &&
    grep -q "Permission denied" "$TMP/stderr"
'

test_expect_success 'a member of the case group may read it' '
    chgrp 65534 "$MNT/$O" &&
    chmod 644 "$MNT/$O/note.txt" &&
    as_nobody cat "$MNT/$O/note.txt" >"$TMP/out" &&
    test_eq note "$(cat "$TMP/out")" "what nobody reads" &&
    cfs log "$STORE" >"$TMP/log" &&
    tail -n 3 "$TMP/log" &&
    awk -F"\t" "\$3 == \"nobody(65534)\" && \$5 == \"open\" && \$6 == \"$O/note.txt\" && \$8 == \"ok\"" \
        "$TMP/log" | grep -q .
'

test_done

#!/bin/bash
# t3200-programs: the layer file managers use (GIO), LibreOffice's save,
# and restic, on the mount.  Each save: one new version, nothing stray in
# `ls -a`, no retraction request.

. "$(dirname "$0")/lib.sh"

C=2026-3200
D=$MNT/$C

test_expect_success 'set-up: a case with a document' '
    mkdir "$D" &&
    printf "first draft\n" >"$D/report.odt" && model_add "$C/report.odt"
'

test_expect_success 'gio save adds exactly one version, nothing stray, no request' '
    printf "saved by gio\n" | gio save "$D/report.odt" &&
    model_add "$C/report.odt" &&
    check_versions "$C/report.odt" &&
    test_eq ".
..
report.odt" "$(listing "$D")" "ls -a" &&
    test_eq 0 "$(requests_count --all)" "requests"
'

test_expect_success 'LibreOffice pattern: lock file, temporary file, rename, lock removed' '
    printf "lock by caseworker\n" >"$D/.~lock.report.odt#" &&
    printf "saved by libreoffice\n" >"$D/lu1234abcd.tmp" &&
    mv "$D/lu1234abcd.tmp" "$D/report.odt" &&
    rm "$D/.~lock.report.odt#" &&
    model_add "$C/report.odt" &&
    check_versions "$C/report.odt" &&
    test_eq ".
..
report.odt" "$(listing "$D")" "ls -a" &&
    test_eq 0 "$(requests_count --all)" "requests"
'

test_expect_success 'gio info and gio list see the document as it is' '
    gio info "$D/report.odt" >"$TMP/info" &&
    grep -q "^size:  *$(stat -c %s "$D/report.odt")\$" "$TMP/info" &&
    grep -q "^type: regular" "$TMP/info" &&
    test_eq report.odt "$(gio list "$D")" "gio list"
'

test_expect_success 'gio copy makes a new document with the same content' '
    gio copy "$D/report.odt" "$D/copy.odt" &&
    cmp "$D/report.odt" "$D/copy.odt" &&
    test_eq 1 "$(versions_of "$C/copy.odt")" "versions of the copy"
'

test_expect_success 'gio trash cannot trash here and says so; the document stays' '
    expect_errno_text "trash" gio trash "$D/copy.odt" &&
    test -f "$D/copy.odt" &&
    test_eq 0 "$(requests_count --all)" "requests"
'

test_expect_success 'deleting instead (gio remove, as a file manager offers) is a retraction request' '
    gio remove "$D/copy.odt" &&
    test_missing "$D/copy.odt" &&
    cfs retractions "$STORE" >"$TMP/req" &&
    grep -qP "\t$C/copy.odt\tv1\troot\(0\)\t.*\tpending\$" "$TMP/req" &&
    cfs cat "$STORE" "$C/copy.odt" | cmp - "$D/report.odt"
'

test_expect_success 'restic backup of the mount and restore: byte for byte' '
    export RESTIC_PASSWORD=restic-test RESTIC_REPOSITORY=$SCRATCH/repo &&
    mkdir -p "$D/sub" && head -c 300000 /dev/urandom >"$D/sub/data.bin" &&
    restic init -q &&
    restic backup -q "$D" &&
    restic restore -q latest --target "$SCRATCH/restored" &&
    diff -r "$D" "$SCRATCH/restored$D"
'

# restic also records the folders above the mount (whose times change as
# this test writes its scratch files beside it) and the mount's device
# number (new at every mount): "Dirs: ... changed" is about those.  What
# matters is that no document is read again.
test_expect_success 'a second restic backup of the unchanged mount, after a remount, reads nothing new' '
    export RESTIC_PASSWORD=restic-test RESTIC_REPOSITORY=$SCRATCH/repo &&
    remount &&
    restic backup "$D" >"$TMP/second" &&
    cat "$TMP/second" &&
    grep -Eq "^Files: +0 new, +0 changed, +2 unmodified" "$TMP/second"
'

test_expect_success 'cp -a out of the mount keeps modes and times' '
    chmod 640 "$D/report.odt" && touch -d "2024-02-03 04:05:06" "$D/report.odt" &&
    cp -a "$D" "$SCRATCH/out" &&
    test_eq "$(stat -c "%a %Y %s" "$D/report.odt")" "$(stat -c "%a %Y %s" "$SCRATCH/out/report.odt")" "mode, mtime, size"
'

test_expect_success 'setfattr and getfattr on the mount' '
    setfattr -n user.casefs.reason -v "written on the wrong case" "$D/report.odt" &&
    getfattr -n user.casefs.reason --only-values "$D/report.odt" >"$TMP/reason" &&
    test_eq "written on the wrong case" "$(cat "$TMP/reason")" "reason" &&
    getfattr -d "$D/report.odt" >"$TMP/attrs" &&
    grep -q "^user.casefs.version=\"$(versions_of "$C/report.odt")\"" "$TMP/attrs" &&
    grep -q "^user.casefs.author=\"root\"" "$TMP/attrs" &&
    ! setfattr -n user.casefs.version -v 99 "$D/report.odt" 2>/dev/null &&
    ! setfattr -n user.other -v x "$D/report.odt" 2>/dev/null
'

test_done

#!/bin/bash
# t0200-versions: what is a save.
#
# Every close after a write that changes the content commits exactly one
# version; each version reads back byte for byte through `casefs cat
# --version N` and through the read-only .versions/ folder.

. "$(dirname "$0")/lib.sh"

C=2026-0042
D=$C/doc.txt

test_expect_success 'mkdir at the root creates a case' '
    mkdir "$MNT/$C" &&
    test -d "$MNT/$C" &&
    test_eq "$C" "$(ls "$MNT")" "root listing"
'

test_expect_success 'three saves make three versions' '
    echo "first line" >"$MNT/$D" &&
    model_add "$D" &&
    printf "second\nsaved with printf\n" >"$MNT/$D" &&
    model_add "$D" &&
    printf "third, no final newline" >"$MNT/$D" &&
    model_add "$D" &&
    test_eq 3 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'history lines are N, UTC time, size, author, state' '
    cfs history "$STORE" "$D" >"$TMP/hist" &&
    cat "$TMP/hist" &&
    test_lines 3 "$TMP/hist" &&
    awk -F"\t" "NF != 5 { exit 1 }" "$TMP/hist" &&
    test_eq "1 2 3" "$(cut -f1 "$TMP/hist" | tr "\n" " " | sed "s/ \$//")" "numbers" &&
    test_eq "$(wc -c <"$TMP/model/$D/1") $(wc -c <"$TMP/model/$D/2") $(wc -c <"$TMP/model/$D/3")" \
        "$(cut -f3 "$TMP/hist" | tr "\n" " " | sed "s/ \$//")" "sizes" &&
    test_eq "root root root" "$(cut -f4 "$TMP/hist" | tr "\n" " " | sed "s/ \$//")" "authors" &&
    test_eq "live live live" "$(cut -f5 "$TMP/hist" | tr "\n" " " | sed "s/ \$//")" "states" &&
    for t in $(cut -f2 "$TMP/hist"); do
        test_match "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\$" "$t" "time" || return 1
        # within the last ten minutes
        s=$(date -u -d "$t" +%s) &&
        test $(( $(date +%s) - s )) -lt 600 &&
        test $(( $(date +%s) - s )) -ge 0 || fail "time $t is not now" || return 1
    done
'

test_expect_success '.versions is not listed but reachable by name' '
    test_eq ".
..
doc.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    test_eq "doc.txt" "$(ls "$MNT/$C/.versions")" "ls .versions" &&
    test_eq "v1.txt v2.txt v3.txt" "$(ls "$MNT/$C/.versions/doc.txt" | sort -V | tr "\n" " " | sed "s/ \$//")" \
        "ls .versions/doc.txt"
'

test_expect_success 'each file in .versions has the time of its version' '
    for n in 1 2 3; do
        t=$(sed -n "${n}p" "$TMP/hist" | cut -f2) &&
        want=$(date -u -d "$t" +%s) &&
        got=$(stat -c %Y "$MNT/$C/.versions/doc.txt/v$n.txt") &&
        test_eq "$want" "$got" "mtime of v$n.txt" || return 1
    done
'

test_expect_success 'opening and closing without writing makes no version' '
    exec 3>>"$MNT/$D" && exec 3>&- &&
    exec 3<"$MNT/$D" && exec 3<&- &&
    python3 -c "import sys; open(sys.argv[1], \"r+b\").close()" "$MNT/$D" &&
    cat "$MNT/$D" >/dev/null &&
    test_eq 3 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'touch changes the time, not the content: no version' '
    touch "$MNT/$D" &&
    test_eq 3 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'saving identical content makes no version' '
    printf "third, no final newline" >"$MNT/$D" &&
    cp "$TMP/model/$D/3" "$SCRATCH/same.txt" &&
    cp "$SCRATCH/same.txt" "$MNT/$D" &&
    test_eq 3 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'echo >> adds exactly one version' '
    echo " and more" >>"$MNT/$D" &&
    printf "third, no final newline and more\n" >"$SCRATCH/want" &&
    cmp "$SCRATCH/want" "$MNT/$D" &&
    model_add "$D" "$SCRATCH/want" &&
    test_eq 4 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'truncate -s (shrink) adds exactly one version' '
    truncate -s 5 "$MNT/$D" &&
    printf "third" >"$SCRATCH/want" &&
    model_add "$D" "$SCRATCH/want" &&
    test_eq 5 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'truncate -s (grow) adds exactly one version' '
    truncate -s 9 "$MNT/$D" &&
    printf "third\0\0\0\0" >"$SCRATCH/want" &&
    model_add "$D" "$SCRATCH/want" &&
    test_eq 6 "$(versions_of "$D")" "versions" &&
    check_versions "$D"
'

test_expect_success 'a document without extension has versions vN' '
    printf "plain\n" >"$MNT/$C/README" &&
    model_add "$C/README" &&
    printf "plain, again\n" >"$MNT/$C/README" &&
    model_add "$C/README" &&
    test_eq "v1 v2" "$(ls "$MNT/$C/.versions/README" | sort -V | tr "\n" " " | sed "s/ \$//")" \
        "ls .versions/README" &&
    check_versions "$C/README"
'

test_expect_success 'a document in a subfolder has its own .versions' '
    mkdir -p "$MNT/$C/journal/2026" &&
    echo "note one" >"$MNT/$C/journal/2026/note.txt" &&
    model_add "$C/journal/2026/note.txt" &&
    echo "note two" >"$MNT/$C/journal/2026/note.txt" &&
    model_add "$C/journal/2026/note.txt" &&
    test_eq "note.txt" "$(ls "$MNT/$C/journal/2026/.versions")" "ls .versions" &&
    check_versions "$C/journal/2026/note.txt"
'

test_expect_success 'a large document (3 MiB) keeps every version exactly' '
    head -c 3145728 /dev/urandom >"$SCRATCH/big1" &&
    cp "$SCRATCH/big1" "$MNT/$C/big.bin" &&
    model_add "$C/big.bin" "$SCRATCH/big1" &&
    cp "$SCRATCH/big1" "$SCRATCH/big2" &&
    printf "CHANGED" | dd of="$SCRATCH/big2" bs=1 seek=1048576 conv=notrunc 2>/dev/null &&
    cp "$SCRATCH/big2" "$MNT/$C/big.bin" &&
    model_add "$C/big.bin" "$SCRATCH/big2" &&
    printf "appended tail" >>"$MNT/$C/big.bin" &&
    model_add "$C/big.bin" &&
    check_versions "$C/big.bin"
'

test_expect_success 'the large document saved again unchanged after the append: no version' '
    cp "$MNT/$C/big.bin" "$SCRATCH/big3" &&
    cp "$SCRATCH/big3" "$MNT/$C/big.bin" &&
    test_eq 3 "$(versions_of "$C/big.bin")" "versions" &&
    check_versions "$C/big.bin"
'

cat >"$SCRATCH/handles.py" <<'EOF'
# Two handles of one document share its data: a reader sees the writer's
# bytes before the writer closes.
import os
import sys

path = sys.argv[1]
w = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(w, b"written by the first handle\n")
r = os.open(path, os.O_RDONLY)
got = os.read(r, 1000)
os.close(r)
os.write(w, b"and a second line\n")
r = os.open(path, os.O_RDONLY)
got2 = os.read(r, 1000)
os.close(r)
os.close(w)
print(repr(got))
print(repr(got2))
EOF

cat >"$SCRATCH/fsync.py" <<'EOF'
# fsync commits a version while the document stays open; closing after it
# without another write adds none; writing again and closing adds one.
import os
import subprocess
import sys

path, casefs, store, doc, passfile = sys.argv[1:6]


def versions():
    out = subprocess.run([casefs, "history", store, doc, "--passphrase-file", passfile],
                         check=True, capture_output=True, text=True).stdout
    return len(out.splitlines())


fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"made durable by fsync\n")
os.fsync(fd)
after_fsync = versions()
os.close(fd)
after_close = versions()
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.fsync(fd)
os.write(fd, b"written after an fsync\n")
os.close(fd)
after_second = versions()
print(after_fsync, after_close, after_second)
EOF

test_expect_success 'two handles of one document share its data; one version at close' '
    python3 "$SCRATCH/handles.py" "$MNT/$C/shared.txt" >"$TMP/out" &&
    cat "$TMP/out" &&
    test_eq "b'"'"'written by the first handle\\n'"'"'
b'"'"'written by the first handle\\nand a second line\\n'"'"'" "$(cat "$TMP/out")" "what the reader saw" &&
    printf "written by the first handle\nand a second line\n" >"$SCRATCH/want" &&
    model_add "$C/shared.txt" "$SCRATCH/want" &&
    check_versions "$C/shared.txt"
'

test_expect_success 'fsync commits a version; close after it adds none' '
    python3 "$SCRATCH/fsync.py" "$MNT/$C/shared.txt" "$CASEFS" "$STORE" "$C/shared.txt" "$PASS" >"$TMP/out" &&
    test_eq "2 2 3" "$(cat "$TMP/out")" "versions after fsync, after close, after a second save" &&
    printf "made durable by fsync\n" >"$SCRATCH/want" &&
    model_add "$C/shared.txt" "$SCRATCH/want" &&
    printf "made durable by fsync\nwritten after an fsync\n" >"$SCRATCH/want" &&
    model_add "$C/shared.txt" "$SCRATCH/want" &&
    check_versions "$C/shared.txt"
'

test_expect_success 'writing into .versions fails with EROFS' '
    expect_errno_text "Read-only file system" \
        sh -c "echo overwrite >\"\$1\"" sh "$MNT/$C/.versions/doc.txt/v1.txt" &&
    expect_errno_text "Read-only file system" \
        sh -c "echo new >\"\$1\"" sh "$MNT/$C/.versions/doc.txt/v99.txt" &&
    expect_errno_text "Read-only file system" rm -f "$MNT/$C/.versions/doc.txt/v1.txt" &&
    expect_errno_text "Read-only file system" mkdir "$MNT/$C/.versions/newdir" &&
    expect_errno_text "Read-only file system" touch "$MNT/$C/.versions/doc.txt/v2.txt" &&
    expect_errno_text "Read-only file system" mv "$MNT/$C/.versions/doc.txt/v2.txt" "$MNT/$C/stolen.txt" &&
    expect_errno_text "Read-only file system" chmod 777 "$MNT/$C/.versions/doc.txt/v2.txt" &&
    test_missing "$MNT/$C/stolen.txt" &&
    test_eq 6 "$(versions_of "$D")" "versions" &&
    check_versions "$D" &&
    test_eq 0 "$(requests_count)" "retraction requests"
'

test_expect_success 'xattrs show version, author and state' '
    test_eq 6 "$(getfattr --only-values -n user.casefs.version "$MNT/$D")" "user.casefs.version" &&
    test_eq root "$(getfattr --only-values -n user.casefs.author "$MNT/$D")" "user.casefs.author" &&
    test_eq live "$(getfattr --only-values -n user.casefs.state "$MNT/$D")" "user.casefs.state" &&
    test_eq 2 "$(getfattr --only-values -n user.casefs.version "$MNT/$C/README")" "README version"
'

test_expect_success 'versions and contents survive a remount' '
    remount &&
    check_versions "$D" &&
    check_versions "$C/README" &&
    check_versions "$C/journal/2026/note.txt" &&
    check_versions "$C/big.bin"
'

test_expect_success 'no retraction request was made' '
    cfs retractions "$STORE" --all >"$TMP/req" &&
    test_lines 0 "$TMP/req"
'

test_done

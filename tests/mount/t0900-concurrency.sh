#!/bin/bash
# t0900-concurrency: four writers and four readers at once.
#
# For about ten seconds each writer saves its own document and, in turn,
# two documents all writers share; readers read through the mount and
# through the command line at the same time.  Contents are self-checking
# lines ("doc D writer W iteration I").  Afterwards no process has
# reported an error, every version in every history is readable, and each
# version of a writer's own document is exactly what it wrote, in order.

. "$(dirname "$0")/lib.sh"

C=2026-0900
SECONDS_TO_RUN=10
MAX_ITERATIONS=60

# content D W I: the self-checking content of iteration I of writer W on
# document D (a size that varies with I).
content () {
    awk -v d="$1" -v w="$2" -v i="$3" 'BEGIN { n = 20 + (i * 53) % 300
        for (l = 1; l <= n; l++) printf "doc %s writer %s iteration %d\n", d, w, i }'
}

# writer W: until the deadline, saves doc-W.txt and shared-{1,2}.txt.
# Records the md5 of each save of doc-W.txt in $TMP/written-W and every
# error in $TMP/errors-writer-W.
writer () {
    local w=$1 i=0 s tmp=$SCRATCH/writer-$1
    local err=$TMP/errors-writer-$1
    while [ $SECONDS -lt "$DEADLINE" ] && [ $i -lt $MAX_ITERATIONS ]; do
        i=$((i + 1))
        content "$w" "$w" "$i" >"$tmp"
        if cp "$tmp" "$MNT/$C/doc-$w.txt" 2>>"$err"; then
            md5sum <"$tmp" | cut -d" " -f1 >>"$TMP/written-$w"
        else
            echo "writer $w iteration $i: cp to doc-$w.txt failed" >>"$err"
        fi
        s=$((i % 2 + 1))
        content "shared-$s" "$w" "$i" >"$tmp"
        cp "$tmp" "$MNT/$C/shared-$s.txt" 2>>"$err" ||
            echo "writer $w iteration $i: cp to shared-$s.txt failed" >>"$err"
        # spread the saves over the whole run, next to the readers
        sleep 0.1
    done
}

# check_lines D FILE: every complete line of FILE is "doc D writer W
# iteration I" (a reader may see a save in progress, so the last line may
# be incomplete).
check_lines () {
    awk -v d="$1" '
        { lines[NR] = $0 }
        END {
            for (l = 1; l < NR; l++)
                if (lines[l] !~ ("^doc " d " writer [0-9]+ iteration [0-9]+$")) exit 1
        }' "$2"
}

# reader R: until the deadline reads doc-R.txt and shared-R.txt through
# the mount (readers 1-2) or doc-R.txt through the mount and the shared
# documents through `casefs history`/`casefs cat` (readers 3-4).
reader () {
    local r=$1 n=0 out=$SCRATCH/reader-$1 h
    local err=$TMP/errors-reader-$1
    while [ $SECONDS -lt "$DEADLINE" ]; do
        n=$((n + 1))
        if cat "$MNT/$C/doc-$r.txt" >"$out" 2>>"$err"; then
            check_lines "$r" "$out" || {
                echo "reader $r read $n: doc-$r.txt has a line not written by writer $r:" >>"$err"
                head -c 300 "$out" >>"$err"
            }
        else
            echo "reader $r read $n: cat doc-$r.txt failed" >>"$err"
        fi
        if [ "$r" -le 2 ]; then
            cat "$MNT/$C/shared-$r.txt" >"$out" 2>>"$err" ||
                echo "reader $r read $n: cat shared-$r.txt failed" >>"$err"
            ls -la "$MNT/$C" >/dev/null 2>>"$err" ||
                echo "reader $r read $n: ls failed" >>"$err"
        else
            h=$(cfs history "$STORE" "$C/shared-$((r - 2)).txt" 2>>"$err" | tail -n 1 | cut -f1)
            if [ -n "$h" ]; then
                cfs cat "$STORE" "$C/shared-$((r - 2)).txt" --version "$h" >"$out" 2>>"$err" ||
                    echo "reader $r read $n: casefs cat shared v$h failed" >>"$err"
            else
                echo "reader $r read $n: casefs history shared failed" >>"$err"
            fi
        fi
    done
    echo "$n" >"$TMP/reads-$r"
}

test_expect_success 'set-up: a case with the documents' '
    mkdir "$MNT/$C" &&
    for d in 1 2 3 4; do
        content "$d" 0 0 >"$MNT/$C/doc-$d.txt" || return 1
    done &&
    content shared-1 0 0 >"$MNT/$C/shared-1.txt" &&
    content shared-2 0 0 >"$MNT/$C/shared-2.txt" &&
    for d in 1 2 3 4; do
        content "$d" 0 0 | md5sum | cut -d" " -f1 >"$TMP/written-$d" || return 1
    done
'

test_expect_success 'four writers and four readers for ten seconds' '
    DEADLINE=$((SECONDS + SECONDS_TO_RUN)) &&
    pids= &&
    for w in 1 2 3 4; do
        writer "$w" &
        pids="$pids $!"
    done &&
    for r in 1 2 3 4; do
        reader "$r" &
        pids="$pids $!"
    done &&
    for p in $pids; do
        wait "$p" || fail "process $p exited with $?" || return 1
    done &&
    for w in 1 2 3 4; do
        say "writer $w: $(($(wc -l <"$TMP/written-$w") - 1)) saves of doc-$w.txt" || return 1
    done &&
    for r in 1 2 3 4; do
        say "reader $r: $(cat "$TMP/reads-$r") rounds" || return 1
    done
'

test_expect_success 'no process reported an error' '
    cat "$TMP"/errors-* 2>/dev/null | head -n 40 &&
    test -z "$(cat "$TMP"/errors-* 2>/dev/null)"
'

test_expect_success 'each writer made progress' '
    for w in 1 2 3 4; do
        test "$(wc -l <"$TMP/written-$w")" -ge 6 || fail "writer $w saved less than 5 times" || return 1
    done
'

test_expect_success 'every version of a writer'"'"'s own document is what it wrote, in order' '
    for w in 1 2 3 4; do
        cfs history "$STORE" "$C/doc-$w.txt" >"$TMP/hist" &&
        test_eq "$(wc -l <"$TMP/written-$w")" "$(wc -l <"$TMP/hist")" "versions of doc-$w.txt" &&
        for n in $(seq "$(wc -l <"$TMP/hist")"); do
            got=$(cfs cat "$STORE" "$C/doc-$w.txt" --version "$n" | md5sum | cut -d" " -f1) &&
            test_eq "$(sed -n "${n}p" "$TMP/written-$w")" "$got" "md5 of doc-$w.txt v$n" || return 1
        done || return 1
    done
'

test_expect_success 'every version of the shared documents is readable with its size' '
    for s in 1 2; do
        cfs history "$STORE" "$C/shared-$s.txt" >"$TMP/hist" &&
        test "$(wc -l <"$TMP/hist")" -ge 2 &&
        for n in $(seq "$(wc -l <"$TMP/hist")"); do
            size=$(sed -n "${n}p" "$TMP/hist" | cut -f3) &&
            cfs cat "$STORE" "$C/shared-$s.txt" --version "$n" >"$SCRATCH/v" &&
            test_eq "$size" "$(stat -c %s "$SCRATCH/v")" "size of shared-$s.txt v$n" &&
            cmp "$SCRATCH/v" "$MNT/$C/.versions/shared-$s.txt/v$n.txt" || return 1
        done || return 1
    done
'

test_expect_success 'the case holds exactly the six documents' '
    test_eq ".
..
doc-1.txt
doc-2.txt
doc-3.txt
doc-4.txt
shared-1.txt
shared-2.txt" "$(listing "$MNT/$C")" "ls -a of the case" &&
    test_eq 0 "$(requests_count --all)" "requests"
'

test_done

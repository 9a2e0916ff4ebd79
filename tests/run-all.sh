#!/bin/bash
# run-all.sh — every casefs test: the Check unit tests, then each mount test.
#
# Usage: BUILD=build bash tests/run-all.sh   (BUILD relative to the repo)
#        TESTS='t03*' bash tests/run-all.sh    (only those mount tests)
#
# Prints each test's own output, then as its last line exactly
#     N passed, M failed
# where N counts passed Check checks plus passed mount assertions ("ok"
# lines) and M the failed ones ("not ok" lines).  A test program that is
# missing, crashes, times out or exits non-zero without reporting a failure
# counts as one failure.  The mount tests need root and /dev/fuse: when
# either is missing each mount script fails (never skipped).
# Exit status: 0 only when M is 0.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$REPO/$BUILD ;;
esac
export BUILD
TIMEOUT=${TEST_TIMEOUT:-300}

passed=0
failed=0
skipped=0

# --- Check unit tests ---------------------------------------------------
echo "=== unit tests ($BUILD/unit-tests)"
if [ -x "$BUILD/unit-tests" ]; then
    out=$(mktemp)
    (cd "$REPO" && timeout -k 10 "$TIMEOUT" "$BUILD/unit-tests") >"$out" 2>&1
    rc=$?
    cat "$out"
    # "100%: Checks: 42, Failures: 0, Errors: 0" (one line per runner)
    summary=$(sed -n 's/.*Checks: \([0-9][0-9]*\), Failures: \([0-9][0-9]*\), Errors: \([0-9][0-9]*\).*/\1 \2 \3/p' "$out")
    rm -f "$out"
    if [ -z "$summary" ]; then
        echo "# unit-tests printed no Check summary (exit status $rc): 1 failure"
        failed=$((failed + 1))
    else
        unit_failed=0
        while read -r checks failures errors; do
            passed=$((passed + checks - failures - errors))
            unit_failed=$((unit_failed + failures + errors))
        done <<<"$summary"
        failed=$((failed + unit_failed))
        if [ "$rc" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then
            echo "# unit-tests exited with status $rc without a failed check: 1 failure"
            failed=$((failed + 1))
        fi
    fi
else
    echo "# $BUILD/unit-tests is missing (run make all): 1 failure"
    failed=$((failed + 1))
fi

# --- mount tests --------------------------------------------------------
for t in "$REPO"/tests/mount/${TESTS:-t[0-9]*}.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    echo "=== $name"
    out=$(mktemp)
    start=$SECONDS
    timeout -k 30 "$TIMEOUT" bash "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    echo "# $name took $((SECONDS - start)) s"
    ok=$(grep -c '^ok ' "$out")
    skip=$(grep -c '^ok .* # SKIP' "$out")
    notok=$(grep -c '^not ok ' "$out")
    rm -f "$out"
    passed=$((passed + ok - skip))
    skipped=$((skipped + skip))
    failed=$((failed + notok))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "# $name timed out after $TIMEOUT s: 1 failure"
        failed=$((failed + 1))
    elif [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        echo "# $name exited with status $rc without a failed test: 1 failure"
        failed=$((failed + 1))
    elif [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ]; then
        echo "# $name reported no test: 1 failure"
        failed=$((failed + 1))
    fi
done

if [ "$skipped" -gt 0 ]; then
    echo "# $skipped skipped (see SKIP lines above)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

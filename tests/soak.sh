#!/bin/bash
# soak.sh — the long seed set of the random-operation exerciser (make soak).
#
# Usage: BUILD=build bash tests/soak.sh
#   SOAK_SEEDS   number of seeds (default 40), starting at SOAK_FIRST (1000)
#   SOAK_OPS     operations per seed (default 3000)
#   SOAK_CRASH   how many of the seeds also kill -9 the daemon (default 10)
#   SOAK_AVOID   e.g. "open-rename" to leave out a pattern of a known bug
# Each seed gets a fresh store, mount and reference folder under
# $BUILD/soak/.  Prints one line a seed (the replay command of each failing
# one) and as its last line "N passed, M failed"; exit status 0 only when
# M is 0.  Needs root and /dev/fuse.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$REPO/$BUILD ;;
esac
CASEFS=$BUILD/casefs
N=${SOAK_SEEDS:-40}
FIRST=${SOAK_FIRST:-1000}
OPS=${SOAK_OPS:-3000}
CRASH=${SOAK_CRASH:-10}
AVOID=()
for x in ${SOAK_AVOID-}; do AVOID+=(--avoid "$x"); done

if [ ! -x "$CASEFS" ]; then
    echo "soak: $CASEFS not built (run make all)"
    echo "0 passed, 1 failed"
    exit 1
fi
mkdir -p "$BUILD/soak"
passed=0
failed=0
for i in $(seq 0 $((N - 1))); do
    seed=$((FIRST + i))
    dir=$(mktemp -d "$BUILD/soak/seed-$seed.XXXXXX")
    extra=()
    if [ "$i" -lt "$CRASH" ]; then
        extra=(--crash-at $(( (seed * 7919) % (OPS - 20) + 10 )) --avoid open-rename)
    fi
    out=$(timeout -k 10 3600 python3 "$REPO/tests/exerciser.py" --seed "$seed" --ops "$OPS" \
        --remount-every 250 --casefs "$CASEFS" --workdir "$dir" "${AVOID[@]}" "${extra[@]}" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        printf '%s\n' "$out" | tail -n 1
        rm -rf --one-file-system "$dir"
    else
        failed=$((failed + 1))
        printf '%s\n' "$out" | grep -v '^created store'
        [ "$rc" -eq 124 ] && echo "FAIL seed $seed: timed out"
        echo "# kept $dir"
        # a run that failed may leave its mount behind
        awk -v d="$dir/mnt" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts &&
            { "$CASEFS" umount "$dir/mnt" 2>/dev/null || fusermount3 -u -z "$dir/mnt"; }
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/bash
# t3000-exerciser: the short seed set of the random-operation exerciser
# (tests/exerciser.py): seeded creates, writes at offsets, appends,
# truncates, mmap reads and writes, renames, unlinks, mkdir/rmdir, fsync,
# close and reopen, and remounts, applied to the mount and to a plain
# folder and compared after every step; every version checked at the end
# with `casefs cat --version N`.  A failing seed prints a one-line replay
# command.  `make soak` (tests/soak.sh) runs the long seed set.
#
# EXERCISER_SEEDS and EXERCISER_OPS override the seed set.

. "$(dirname "$0")/lib.sh"

SEEDS=${EXERCISER_SEEDS:-1 2 3 4 5 6}
OPS=${EXERCISER_OPS:-400}

# exercise SEED [ARGS...]: one run on this test's store, in case x-SEED.
exercise () {
    local seed=$1
    shift
    mkdir -p "$SCRATCH/ref-$seed" &&
    timeout -k 10 120 python3 "$REPO/tests/exerciser.py" --seed "$seed" --ops "$OPS" \
        --remount-every 100 --mnt "$MNT" --ref "$SCRATCH/ref-$seed" --store "$STORE" \
        --casefs "$CASEFS" --pass "$PASS" "$@"
}

for seed in $SEEDS; do
    test_expect_success "exerciser seed $seed ($OPS operations, remount every 100)" '
        exercise "$seed" || {
            # the mount may be left unmounted by a failed run
            is_mounted "$MNT" || mount_store
            return 1
        }
    '
done

test_expect_success 'the store verifies and the log chain holds after the runs' '
    cfs verify "$STORE" &&
    cfs log verify "$STORE"
'

test_done

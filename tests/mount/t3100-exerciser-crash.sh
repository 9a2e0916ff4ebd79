#!/bin/bash
# t3100-exerciser-crash: kill -9 of the casefs daemon at a random operation
# of an exerciser run (tests/exerciser.py --crash-at).  After a lazy
# unmount (fusermount3 -u -z) `casefs verify` must exit 0, the store
# mounts again, every version whose close or fsync had returned reads back
# byte for byte with `casefs cat --version N` (and no version that was not
# committed appears), and the run goes on against the new mount with the
# usual comparisons.
#
# Then kill -9 during large writes: 24 MiB documents written with an
# fsync at the end, one after the other; every document whose fsync and
# close returned reads back byte for byte after the crash, and the store
# verifies.

. "$(dirname "$0")/lib.sh"

SEEDS=${EXERCISER_CRASH_SEEDS:-11 12 13 14 15 16}
OPS=${EXERCISER_CRASH_OPS:-200}

for seed in $SEEDS; do
    # the operation before which the daemon dies: from the seed, 10..OPS-10
    at=$(( (seed * 7919 + seed * seed * 31) % (OPS - 20) + 10 ))
    test_expect_success "kill -9 at operation $at of seed $seed" '
        mkdir -p "$SCRATCH/ref-$seed" &&
        timeout -k 10 120 python3 "$REPO/tests/exerciser.py" --seed "$seed" --ops "$OPS" \
            --remount-every 70 --crash-at "$at" \
            --mnt "$MNT" --ref "$SCRATCH/ref-$seed" --store "$STORE" \
            --casefs "$CASEFS" --pass "$PASS" || {
            is_mounted "$MNT" || fusermount3 -u -z "$MNT" 2>/dev/null
            is_mounted "$MNT" || mount_store
            return 1
        }
    '
done

# big_writer DIR DONE: writes DIR/big-1.bin, big-2.bin, ... (24 MiB each,
# content from the number), fsync and close each, then appends the number
# to DONE; stops at the first error.
big_writer () {
    python3 - "$1" "$2" <<-\PY
	import os, random, sys
	d, done = sys.argv[1], sys.argv[2]
	for i in range(1, 1000):
	    data = random.Random(i).randbytes(24 << 20)
	    fd = os.open(os.path.join(d, "big-%d.bin" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
	    for off in range(0, len(data), 1 << 20):
	        os.write(fd, data[off:off + (1 << 20)])
	    os.fsync(fd)
	    os.close(fd)
	    with open(done, "a") as f:
	        f.write("%d\n" % i)
	PY
}

test_expect_success 'kill -9 during large writes' '
    mkdir "$MNT/big" &&
    : >"$TMP/big.done" &&
    { big_writer "$MNT/big" "$TMP/big.done" 2>"$TMP/big.err" & } &&
    wpid=$! &&
    for i in $(seq 100); do
        [ "$(wc -l <"$TMP/big.done")" -ge 2 ] && break
        sleep 0.1
    done &&
    sleep 0.3 &&
    kill -9 $(daemon_pids) &&
    { wait "$wpid" || :; } &&
    say "writer stopped after $(wc -l <"$TMP/big.done") documents" &&
    fusermount3 -u -z "$MNT" && wait_daemon_gone &&
    test "$(wc -l <"$TMP/big.done")" -ge 2
'

test_expect_success 'after the crash every fsynced large document reads back exactly' '
    cfs verify "$STORE" &&
    mount_store &&
    python3 - "$MNT/big" "$TMP/big.done" <<-\PY
	import os, random, sys
	d, done = sys.argv[1], sys.argv[2]
	for line in open(done):
	    i = int(line)
	    want = random.Random(i).randbytes(24 << 20)
	    got = open(os.path.join(d, "big-%d.bin" % i), "rb").read()
	    if got != want:
	        sys.exit("big-%d.bin: %d bytes, differs from what was written" % (i, len(got)))
	print("checked", sum(1 for _ in open(done)), "documents")
	PY
'

test_expect_success 'casefs verify and log verify are clean after all the crashes' '
    umount_store &&
    cfs verify "$STORE" &&
    cfs log verify "$STORE" &&
    mount_store
'

test_done

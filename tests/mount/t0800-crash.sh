#!/bin/bash
# t0800-crash: a successful close survives kill -9 of the daemon.
#
# A stream of saves runs while the casefs daemon is killed with SIGKILL.
# After a lazy unmount and a new mount every save whose close succeeded
# reads back exactly, each has its log entry, and the store opens cleanly.

. "$(dirname "$0")/lib.sh"

C=2026-0800

# content_of I: the known content of save I (a size that varies with I).
content_of () {
    awk -v i="$1" 'BEGIN { n = 1 + (i * 37) % 400
        for (l = 1; l <= n; l++) printf "save %d line %d of %d\n", i, l, n }'
}

# writer DONE NAME-PATTERN: saves content_of 1, 2, ... to documents named
# by NAME-PATTERN (%d: the save's number) with cp, which reports a failed
# close; after each successful save appends its number to DONE.  Stops at
# the first failure (the daemon is gone).
writer () {
    local done=$1 pattern=$2 i=0 name
    while :; do
        i=$((i + 1))
        # shellcheck disable=SC2059
        name=$(printf "$pattern" "$i")
        content_of "$i" >"$SCRATCH/w.$i" || return 1
        cp "$SCRATCH/w.$i" "$MNT/$C/$name" 2>>"$TMP/writer.err" || return 0
        echo "$i" >>"$done"
        rm -f "$SCRATCH/w.$i"
    done
}

# crash_while_writing DONE PATTERN: starts a writer, waits until it saved
# at least 20 times (at most 20 s), kills the daemon with SIGKILL, waits
# for the writer and lazily unmounts the dead mount.
crash_while_writing () {
    local pids wpid i
    : >"$1"
    writer "$1" "$2" &
    wpid=$!
    for i in $(seq 200); do
        [ "$(wc -l <"$1")" -ge 20 ] && break
        sleep 0.1
    done
    pids=$(daemon_pids)
    say "daemon: $pids; saves done so far: $(wc -l <"$1")"
    [ "$(printf '%s\n' "$pids" | wc -l)" -eq 1 ] || fail "expected one daemon, found '$pids'" || return 1
    kill -9 "$pids" || return 1
    for i in $(seq 100); do
        kill -0 "$wpid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$wpid" 2>/dev/null; then
        kill "$wpid"
        fail "the writer did not stop after the daemon died"
        return 1
    fi
    wait "$wpid"
    say "writer stopped after $(wc -l <"$1") saves; its last error:"
    tail -n 2 "$TMP/writer.err"
    fusermount3 -u -z "$MNT" && ! is_mounted "$MNT" && wait_daemon_gone
}

# durable_txnid: the LMDB transaction the store's durable file records as
# its last durable point (store/FORMAT.md, "durable").
cat >"$SCRATCH/durable.py" <<'EOF'
import hashlib, struct, sys

def durable_txnid(path):
    return durable_record(path)[0]

def durable_record(path):
    """(transaction, pages listed) of the newest record; (-1, 0): none."""
    data = open(path, "rb").read()
    best = None
    # Slots of 4096 bytes at 4096 and 8192, checksum in their last 32
    # bytes; stores from before also have slots of 512 at 0 and 512.
    slots = [(i * 512, 512, b"cfdurbl1", 8 + 5 * 8 + 40 + 136) for i in range(2)]
    slots += [(i * 4096, 4096, b"cfdurbl2", 4096 - 32) for i in (1, 2)]
    for at, size, magic, used in slots:
        s = data[at:at + size]
        if len(s) < size or s[:8] != magic:
            continue
        if hashlib.blake2b(s[:used], digest_size=32).digest() != s[used:used + 32]:
            continue
        seq, txnid = struct.unpack(">QQ", s[8:24])
        # after the meta page: u32 flags, u32 pages listed (slots of 4096)
        npages = struct.unpack(">I", s[228:232])[0] if size == 4096 else 0
        if best is None or seq > best[0]:
            best = (seq, txnid, npages)
    return best[1:] if best else (-1, 0)

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "pages":
        print(durable_record(sys.argv[1])[1])
    else:
        print(durable_txnid(sys.argv[1]))
EOF
durable_txnid () {
    python3 "$SCRATCH/durable.py" "$STORE/durable"
}

# last_txnid: LMDB's last committed transaction.
last_txnid () {
    mdb_stat -e "$STORE" | sed -n 's/^ *Last transaction ID: //p'
}

# fsync.py FILE STORE: saves FILE with fsync and prints the durable point
# read at once after the fsync, then LMDB's last transaction.
cat >"$SCRATCH/fsync.py" <<'EOF'
import os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durable import durable_txnid
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"made durable by fsync\n")
os.fsync(fd)
d = durable_txnid(os.path.join(sys.argv[2], "durable"))
out = subprocess.run(["mdb_stat", "-e", sys.argv[2]], capture_output=True, text=True).stdout
last = [l.split(":")[1].strip() for l in out.splitlines() if "Last transaction ID" in l][0]
os.close(fd)
print(d, last)
EOF

test_expect_success 'set-up: a case' '
    mkdir "$MNT/$C" &&
    echo "before the crash" >"$MNT/$C/before.txt"
'

test_expect_success 'a close reaches the disk within a second' '
    for i in 1 2 3; do
        echo "note $i" >"$MNT/$C/within-$i.txt" &&
        t=$(last_txnid) &&
        sleep 1 &&
        d=$(durable_txnid) &&
        say "after save $i: last transaction $t, durable $d" &&
        test "$d" -ge "$t" || return 1
    done
'

test_expect_success 'fsync returns once its version is durable' '
    python3 "$SCRATCH/fsync.py" "$MNT/$C/fsynced.txt" "$STORE" >"$TMP/out" &&
    read -r d t <"$TMP/out" &&
    say "right after fsync: durable $d, last transaction $t" &&
    test "$d" -ge "$t" &&
    test_eq "made durable by fsync" "$(cat "$MNT/$C/fsynced.txt")" "the content"
'

test_expect_success 'kill -9 of the daemon during a stream of saves to new documents' '
    crash_while_writing "$TMP/done1" "doc-%d.txt" &&
    test "$(wc -l <"$TMP/done1")" -ge 20
'

test_expect_success 'the store mounts again after the crash' '
    mount_store &&
    test_eq "before the crash" "$(cat "$MNT/$C/before.txt")" "a document from before"
'

test_expect_success 'every document whose close succeeded reads back exactly' '
    for i in $(cat "$TMP/done1"); do
        content_of "$i" >"$SCRATCH/want" &&
        cmp "$SCRATCH/want" "$MNT/$C/doc-$i.txt" &&
        cfs cat "$STORE" "$C/doc-$i.txt" >"$SCRATCH/got" &&
        cmp "$SCRATCH/want" "$SCRATCH/got" &&
        test_eq 1 "$(versions_of "$C/doc-$i.txt")" "versions of doc-$i.txt" || return 1
    done
'

test_expect_success 'every committed save has its version entry in the log' '
    cfs log "$STORE" >"$TMP/log" &&
    for i in $(cat "$TMP/done1"); do
        awk -F"\t" -v p="$C/doc-$i.txt" "\$5 == \"version\" && \$6 == p && \$7 == \"v1\"" \
            "$TMP/log" | grep -q . || fail "no version entry for doc-$i.txt" || return 1
    done
'

test_expect_success 'kill -9 during a stream of saves to one document' '
    crash_while_writing "$TMP/done2" "journal.txt" &&
    test "$(wc -l <"$TMP/done2")" -ge 20
'

test_expect_success 'after the second crash the history holds every successful save' '
    mount_store &&
    k=$(tail -n 1 "$TMP/done2") &&
    h=$(versions_of "$C/journal.txt") &&
    say "last successful save $k, versions $h" &&
    test "$h" -ge "$k" &&
    test "$h" -le $((k + 1)) &&
    for n in $(seq "$h"); do
        content_of "$n" >"$SCRATCH/want" &&
        cfs cat "$STORE" "$C/journal.txt" --version "$n" >"$SCRATCH/got" &&
        cmp "$SCRATCH/want" "$SCRATCH/got" || fail "journal.txt v$n" || return 1
    done &&
    content_of "$h" >"$SCRATCH/want" &&
    cmp "$SCRATCH/want" "$MNT/$C/journal.txt"
'

test_expect_success 'the store works normally after the crashes' '
    cfs log "$STORE" >"$TMP/log" &&
    test_eq ok "$(tail -n 1 "$TMP/log" | cut -f8)" "result of the last entry" &&
    echo "after the crash" >"$MNT/$C/after.txt" &&
    test_eq "after the crash" "$(cat "$MNT/$C/after.txt")" "a new document" &&
    test_eq 1 "$(versions_of "$C/after.txt")" "versions" &&
    remount &&
    test_eq "after the crash" "$(cat "$MNT/$C/after.txt")" "after a clean remount" &&
    cfs log "$STORE" >"$TMP/log2" &&
    test "$(wc -l <"$TMP/log2")" -gt "$(wc -l <"$TMP/log")"
'

test_expect_success 'the audit log sequence has no gap after the crashes' '
    cfs log "$STORE" >"$TMP/log" &&
    cut -f1 "$TMP/log" >"$TMP/seq" &&
    seq "$(wc -l <"$TMP/log")" >"$TMP/seq.want" &&
    test_cmp "$TMP/seq.want" "$TMP/seq"
'

# A file system that journals its data (ext4 with data=journal as its
# superblock's default, so that the mount table does not say it) writes
# the durable file through its journal: a record written without its own
# flush is not made durable by the store file's flush, so every fsync
# there takes two flushes and its record lists no pages.
JD=$SCRATCH/journaled
jd_cleanup () {
    fusermount3 -u -z "$JD/mnt" 2>/dev/null
    umount "$JD/fs" 2>/dev/null
    rm -f "$JD/fs.img"
}
test_expect_success 'on ext4 that journals its data, an fsync is made durable the two-flush way' '
    mkdir -p "$JD/fs" "$JD/mnt" &&
    truncate -s 64M "$JD/fs.img" &&
    mkfs.ext4 -q -F -O has_journal "$JD/fs.img" &&
    tune2fs -o journal_data "$JD/fs.img" >/dev/null &&
    mount -o loop "$JD/fs.img" "$JD/fs" &&
    ! grep -F " $JD/fs " /proc/self/mountinfo | grep -q "data=journal" &&
    cfs init "$JD/fs/store" >/dev/null &&
    cfs mount "$JD/fs/store" "$JD/mnt" &&
    mkdir "$JD/mnt/$C" &&
    for i in 1 2 3; do
        python3 "$SCRATCH/fsync.py" "$JD/mnt/$C/note-$i.txt" "$JD/fs/store" >"$TMP/out" &&
        read -r d t <"$TMP/out" &&
        n=$(python3 "$SCRATCH/durable.py" "$JD/fs/store/durable" pages) &&
        say "fsync $i: durable $d, last transaction $t, pages listed $n" &&
        test "$d" -ge "$t" && test "$n" -eq 0 || { jd_cleanup; return 1; }
    done &&
    "$CASEFS" umount "$JD/mnt" && wait_daemon_gone "$JD/fs/store" &&
    umount "$JD/fs"
    rc=$?
    jd_cleanup
    return $rc
'

# flag.py DURABLE: marks the durable file's newest record as written
# after a failed flush of the store file in this boot, as the daemon does
# when the disk reports a write error (store/FORMAT.md).
cat >"$SCRATCH/flag.py" <<'EOF'
import hashlib, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
best = None
for at in (4096, 8192):
    s = bytes(data[at:at + 4096])
    if s[:8] == b"cfdurbl2" and hashlib.blake2b(s[:4064], digest_size=32).digest() == s[4064:]:
        seq = struct.unpack(">Q", s[8:16])[0]
        if best is None or seq > best[0]:
            best = (seq, at)
at = best[1]
# flags 1 (a write failed), no pages listed
data[at + 224:at + 232] = struct.pack(">II", 1, 0)
data[at + 232:at + 4064] = bytes(4064 - 232)
data[at + 4064:at + 4096] = hashlib.blake2b(bytes(data[at:at + 4064]), digest_size=32).digest()
open(path, "r+b").write(data)
EOF
test_expect_success 'after a failed write to the store file, a mount in the same boot is refused and changes nothing' '
    FS=$SCRATCH/failed && FM=$SCRATCH/failed-mnt &&
    mkdir -p "$FM" &&
    cfs init "$FS" >/dev/null &&
    cfs mount "$FS" "$FM" &&
    mkdir "$FM/$C" && echo "saved before" >"$FM/$C/before.txt" &&
    "$CASEFS" umount "$FM" && wait_daemon_gone "$FS" &&
    cfs log "$FS" >"$TMP/log.before" &&
    python3 "$SCRATCH/flag.py" "$FS/durable" &&
    cp "$FS/durable" "$TMP/durable.flagged" &&
    expect_error 1 "write to the store file .* failed.*restart the machine" \
        cfs mount "$FS" "$FM" &&
    ! is_mounted "$FM" &&
    cmp "$FS/durable" "$TMP/durable.flagged" &&
    cfs log "$FS" >"$TMP/log.after" &&
    test_cmp "$TMP/log.before" "$TMP/log.after"
'

test_done

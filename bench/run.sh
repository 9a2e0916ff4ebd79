#!/bin/bash
# bench/run.sh — make bench: casefs against the native folder, a plain FUSE
# pass-through (bench/passthrough.c, the FUSE floor) and gocryptfs, on the
# same disk in one run.  See bench/README.md for how to read the table.
#
#   BENCH_RUNS=5 BENCH_DIR=/var/tmp/casefs-bench bash bench/run.sh [WORKLOAD...]
#
# Workloads (all by default, in this order):
#   write   1 GiB of random data, dd bs=1M conv=fsync          (BENCH_MB)
#   read    it back after unmount, drop_caches and mount
#   tarx    tar x of a tarball of /usr/include
#   find    find -ls of that tree after unmount, drop_caches and mount
#   rsync   rsync -a of that tree out of the mount (after the same)
#   notes   2,000 notes of 2 KiB, each written with fsync     (BENCH_NOTES)
#   edits   200 saves of a 10 MiB text document, one line replaced by a
#           line of another length each time, fsync'd        (BENCH_EDITS)
#   lat1k, lat100k
#           stat and open+read latency of random 4 KiB documents among
#           1,000 (10 cases) and 100,000 (1,000 cases) (BENCH_SAMPLES)
# Each figure is the median of BENCH_RUNS runs; peak RSS is the file
# system process's VmHWM after the workload (the largest over the runs).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
RUNS=${BENCH_RUNS:-5}
MB=${BENCH_MB:-1024}
NOTES=${BENCH_NOTES:-2000}
DIR=${BENCH_DIR:-/var/tmp/casefs-bench}
EDITS=${BENCH_EDITS:-200}
SAMPLES=${BENCH_SAMPLES:-2000}
WORKLOADS=${*:-write read tarx find rsync notes edits lat1k lat100k}
SYSTEMS=${BENCH_SYSTEMS:-native fuse gocryptfs casefs}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (mounts, drop_caches)"
command -v gocryptfs >/dev/null || die "gocryptfs missing: make bench installs it"
[ -x "$BUILD/casefs" ] && [ -x "$BUILD/bench-passthrough" ] || die "run make bench (builds first)"

mkdir -p "$DIR"
PASS=$DIR/pass
echo "bench passphrase" >"$PASS"

# --- mounting each system on $DIR/<sys>/mnt -----------------------------
pid_of() { # the file system process of a system (empty for native)
    case $1 in
    fuse) pgrep -f -- "bench-passthrough $DIR/fuse/back" | head -n 1 ;;
    gocryptfs) pgrep -x gocryptfs | head -n 1 ;;
    casefs) pgrep -f -- "casefs mount $DIR/casefs/store" | head -n 1 ;;
    esac
}

setup() { # fresh, empty
    local s=$1 d=$DIR/$1
    teardown "$s"
    rm -rf "$d"
    mkdir -p "$d/mnt"
    case $s in
    native) ;;
    fuse) mkdir -p "$d/back" ;;
    gocryptfs) mkdir -p "$d/cipher" && gocryptfs -q -init -passfile "$PASS" "$d/cipher" >/dev/null ;;
    casefs) "$BUILD/casefs" init "$d/store" --passphrase-file "$PASS" >/dev/null ;;
    esac
    mountit "$s"
    [ "$s" = casefs ] && mkdir "$d/mnt/bench"
    # What the removal above freed is written and discarded now, not during
    # the workload's first flushes (the disk is mounted with discard).
    sync
    return 0
}

mountit() {
    local s=$1 d=$DIR/$1
    # (daemons must not keep the caller's output open: workloads run in $(...))
    case $s in
    native) ;;
    fuse) "$BUILD/bench-passthrough" "$d/back" "$d/mnt" </dev/null >/dev/null 2>&1 ;;
    gocryptfs) gocryptfs -q -nosyslog -passfile "$PASS" "$d/cipher" "$d/mnt" </dev/null >/dev/null 2>&1 ;;
    casefs) "$BUILD/casefs" mount "$d/store" "$d/mnt" --passphrase-file "$PASS" </dev/null >/dev/null ;;
    esac
}

umountit() {
    local s=$1 d=$DIR/$1
    [ "$s" = native ] && return 0
    if mountpoint -q "$d/mnt"; then
        fusermount3 -u "$d/mnt" 2>/dev/null || umount "$d/mnt" 2>/dev/null || fusermount3 -u -z "$d/mnt"
    fi
    for _ in $(seq 50); do [ -z "$(pid_of "$s")" ] && break; sleep 0.1; done
}

teardown() { umountit "$1" || true; }

work_dir() { # where a workload writes: casefs needs a case folder
    [ "$1" = casefs ] && echo "$DIR/$1/mnt/bench" || echo "$DIR/$1/mnt"
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

now() { date +%s.%N; }

# rss S: peak RSS of the system's process in MiB ("-" for native)
rss() {
    local p
    p=$(pid_of "$1")
    [ -n "$p" ] && awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$p/status" || echo -
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# --- workloads: each prints "seconds rss_mib" -----------------------------
w_write() {
    local s=$1 t0 t1
    setup "$s"
    t0=$(now)
    dd if=/dev/urandom of="$(work_dir "$s")/big.bin" bs=1M count="$MB" conv=fsync status=none
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s")"
}

w_read() {
    local s=$1 t0 t1 r
    [ -e "$(work_dir "$s")/big.bin" ] || w_write "$s" >/dev/null
    umountit "$s"
    drop_caches
    mountit "$s"
    t0=$(now)
    cat "$(work_dir "$s")/big.bin" >/dev/null
    t1=$(now)
    r=$(rss "$s")
    echo "$(echo "$t1 - $t0" | bc) $r"
}

w_notes() {
    local s=$1 t0 t1
    setup "$s"
    t0=$(now)
    python3 - "$(work_dir "$s")" "$NOTES" <<-\PY
	import os, sys
	d, n = sys.argv[1], int(sys.argv[2])
	body = (b"note text " * 205)[:2048]
	for i in range(n):
	    fd = os.open(os.path.join(d, "note-%05d.txt" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	    os.write(fd, body)
	    os.fsync(fd)
	    os.close(fd)
	PY
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s")"
}

# remount S: unmount, drop the page cache, mount again (a cold start)
remount() { umountit "$1"; drop_caches; mountit "$1"; }

# backing S: where the system keeps what it stores (for store growth)
backing() {
    case $1 in
    native) echo "$DIR/native/mnt" ;;
    fuse) echo "$DIR/fuse/back" ;;
    gocryptfs) echo "$DIR/gocryptfs/cipher" ;;
    casefs) echo "$DIR/casefs/store" ;;
    esac
}

TARBALL=$DIR/include.tar
w_tarx() {
    local s=$1 t0 t1
    # (without its few symbolic links: casefs holds documents and folders only)
    [ -s "$TARBALL" ] || (cd /usr && find include ! -type l -print0 |
        tar cf "$TARBALL" --null --no-recursion -T -)
    setup "$s"
    drop_caches
    t0=$(now)
    tar xf "$TARBALL" -C "$(work_dir "$s")"
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s")"
}

have_tree() { [ -d "$(work_dir "$1")/include" ] || w_tarx "$1" >/dev/null; }

w_find() {
    local s=$1 t0 t1
    have_tree "$s"
    remount "$s"
    t0=$(now)
    find "$(work_dir "$s")/include" -ls >/dev/null
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s")"
}

w_rsync() {
    local s=$1 t0 t1 out=$DIR/rsync-out
    have_tree "$s"
    rm -rf "$out"
    remount "$s"
    t0=$(now)
    rsync -a "$(work_dir "$s")/include/" "$out/"
    t1=$(now)
    rm -rf "$out"
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s")"
}

# 200 saves of a 10 MiB text: each replaces one random line by one of
# another length and writes the whole document again (O_TRUNC, write,
# fsync, close), as an editor saves in place.  Extra figures: time per save
# (median) and how much the system's backing store grew over the saves.
w_edits() {
    local s=$1 t0 t1 f before after
    setup "$s"
    f=$(work_dir "$s")/journal.txt
    python3 - "$f" init <<-\PY
	import os, sys
	lines = [("%07d journal entry: visit, assessment and follow-up noted\n" % i).encode() for i in range(180000)]
	data = b"".join(lines)[: 10 * 1048576]
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	os.write(fd, data)
	os.fsync(fd)
	os.close(fd)
	PY
    sync
    before=$(du -sb "$(backing "$s")" | cut -f1)
    t0=$(now)
    local per
    per=$(python3 - "$f" "$EDITS" <<-\PY
	import os, random, sys, time
	path, n = sys.argv[1], int(sys.argv[2])
	rnd = random.Random(5)
	with open(path, "rb") as fh:
	    lines = fh.read().split(b"\n")
	took = []
	for k in range(n):
	    i = rnd.randrange(len(lines) - 1)
	    lines[i] = b"%07d corrected entry %d: %s" % (i, k, b"x" * rnd.randrange(5, 90))
	    data = b"\n".join(lines)
	    t = time.perf_counter()
	    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
	    os.write(fd, data)
	    os.fsync(fd)
	    os.close(fd)
	    took.append(time.perf_counter() - t)
	took.sort()
	print("%.1f" % (took[len(took) // 2] * 1000))
	PY
    )
    t1=$(now)
    sync
    after=$(du -sb "$(backing "$s")" | cut -f1)
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s") save_ms=$per growth_MiB=$(echo "scale=1; ($after - $before) / 1048576" | bc)"
}

# Latency of stat and of open+read among many 4 KiB documents: the tree is
# made once per system (cases of 100 documents at the mount's top), then
# each run remounts cold and samples BENCH_SAMPLES random documents.
lat_tree() { # S CASES
    local s=$1 n=$2 mark
    mark=$DIR/$s/lat$n
    if [ ! -e "$mark" ]; then
        setup "$s"
        python3 - "$DIR/$s/mnt" "$n" <<-\PY
	import os, sys
	root, cases = sys.argv[1], int(sys.argv[2])
	body = (b"case note line\n" * 300)[:4096]
	for c in range(cases):
	    d = os.path.join(root, "case-%04d" % c)
	    os.mkdir(d)
	    for i in range(100):
	        fd = os.open(os.path.join(d, "doc-%03d.txt" % i), os.O_WRONLY | os.O_CREAT, 0o644)
	        os.write(fd, body)
	        os.close(fd)
	PY
        [ $? = 0 ] || die "making the tree of documents on $s failed"
        touch "$mark"
    fi
}

w_lat() { # S CASES
    local s=$1 n=$2 t0 t1 out
    lat_tree "$s" "$n"
    remount "$s"
    t0=$(now)
    out=$(python3 - "$DIR/$s/mnt" "$n" "$SAMPLES" <<-\PY
	import os, random, sys, time
	root, cases, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	rnd = random.Random()
	st, rd = [], []
	for _ in range(n):
	    p = os.path.join(root, "case-%04d" % rnd.randrange(cases), "doc-%03d.txt" % rnd.randrange(100))
	    t = time.perf_counter()
	    os.stat(p)
	    st.append(time.perf_counter() - t)
	    p = os.path.join(root, "case-%04d" % rnd.randrange(cases), "doc-%03d.txt" % rnd.randrange(100))
	    t = time.perf_counter()
	    fd = os.open(p, os.O_RDONLY)
	    b = os.read(fd, 8192)
	    os.close(fd)
	    rd.append(time.perf_counter() - t)
	    assert len(b) == 4096
	def pct(a, q):
	    a = sorted(a)
	    return a[min(len(a) - 1, int(q * len(a)))] * 1000
	print("stat_p50_ms=%.3f stat_p99_ms=%.3f read_p50_ms=%.3f read_p99_ms=%.3f" % (pct(st, .5), pct(st, .99), pct(rd, .5), pct(rd, .99)))
	PY
    )
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(rss "$s") $out"
}
w_lat1k() { w_lat "$1" 10; }
w_lat100k() { w_lat "$1" 1000; }

bytes_of() {
    case $1 in
    write | read) echo $((MB * 1048576)) ;;
    notes) echo $((NOTES * 2048)) ;;
    tarx | find | rsync) [ -s "$TARBALL" ] && stat -c %s "$TARBALL" || echo 0 ;;
    edits) echo $((EDITS * 10 * 1048576)) ;;
    *) echo 0 ;;
    esac
}

# --- the run ----------------------------------------------------------------
declare -A SEC RSS EXTRA
declare -A SKIP
for w in $WORKLOADS; do
    # The runs go round the systems (run 1 of each, then run 2 of each...):
    # a slow spell of the machine then falls on every system alike.
    declare -A TIMES=() PEAKS=() EXTRAS=()
    for _ in $(seq "$RUNS"); do
        for s in $SYSTEMS; do
            # The FUSE floor keeps a descriptor open for every inode the kernel
            # knows; 100,000 documents need more than most limits allow.
            if [ "$w" = lat100k ] && [ "$s" = fuse ] && [ "$(ulimit -Hn)" -lt 150000 ]; then
                SKIP[$w,$s]="not run: the pass-through needs a descriptor per inode, open files limit $(ulimit -Hn)"
                continue
            fi
            read -r t p x <<<"$("w_$w" "$s")"
            TIMES[$s]+="$t "
            PEAKS[$s]+="$p "
            EXTRAS[$s]+="${x:-} "
        done
    done
    for s in $SYSTEMS; do
        [ -n "${SKIP[$w,$s]:-}" ] && continue
        # each extra figure (key=value): its median over the runs
        EXTRA[$w,$s]=$(printf '%s\n' ${EXTRAS[$s]} | { grep = || true; } |
            awk -F= '{ v[$1] = v[$1] " " $2 } END { for (k in v) print k v[k] }' | sort |
            while read -r k vals; do
                printf '%s=%s ' "$k" "$(printf '%s\n' $vals | median)"
            done)
        SEC[$w,$s]=$(printf '%s\n' ${TIMES[$s]} | median)
        RSS[$w,$s]=$(printf '%s\n' ${PEAKS[$s]} | sort -g | tail -n 1)
        echo "  $w on $s: ${SEC[$w,$s]} s (runs: ${TIMES[$s]% }) ${EXTRA[$w,$s]}" >&2
    done
    unset TIMES PEAKS EXTRAS
done
for s in $SYSTEMS; do teardown "$s"; done

printf '\n%-8s %-10s %9s %9s %9s %9s %8s  %s\n' workload system seconds MB/s "x gocrypt" "x native" "RSS MiB" "other figures (medians)"
for w in $WORKLOADS; do
    for s in $SYSTEMS; do
        if [ -n "${SKIP[$w,$s]:-}" ]; then
            printf '%-8s %-10s %s\n' "$w" "$s" "${SKIP[$w,$s]}"
            continue
        fi
        sec=${SEC[$w,$s]}
        bytes=$(bytes_of "$w")
        mbs=-
        [ "$bytes" -gt 0 ] && mbs=$(echo "scale=1; $bytes / 1048576 / $sec" | bc)
        # "-" when the system compared with was not run (BENCH_SYSTEMS)
        rg=-
        [ -n "${SEC[$w,gocryptfs]:-}" ] && rg=$(echo "scale=2; $sec / ${SEC[$w,gocryptfs]}" | bc)
        rn=-
        [ -n "${SEC[$w,native]:-}" ] && rn=$(echo "scale=2; $sec / ${SEC[$w,native]}" | bc)
        printf '%-8s %-10s %9.2f %9s %9s %9s %8s  %s\n' "$w" "$s" "$sec" "$mbs" "$rg" "$rn" "${RSS[$w,$s]}" "${EXTRA[$w,$s]}"
    done
done

#!/bin/bash
# bench/run.sh — make bench: casefs against the native folder, a plain FUSE
# pass-through (bench/passthrough.c, the FUSE floor) and gocryptfs, on the
# same disk in one run.  See bench/README.md for how to read the table.
#
#   BENCH_RUNS=3 BENCH_DIR=/var/tmp/casefs-bench bash bench/run.sh [WORKLOAD...]
#
# Workloads implemented so far (the others are listed in bench/README.md):
#   write   1 GiB of random data, dd bs=1M conv=fsync          (BENCH_MB)
#   read    it back after unmount, drop_caches and mount
#   notes   2,000 notes of 2 KiB, each written with fsync     (BENCH_NOTES)
# Each figure is the median of BENCH_RUNS runs; peak RSS is the file
# system process's VmHWM after the workload.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
RUNS=${BENCH_RUNS:-3}
MB=${BENCH_MB:-1024}
NOTES=${BENCH_NOTES:-2000}
DIR=${BENCH_DIR:-/var/tmp/casefs-bench}
WORKLOADS=${*:-write read notes}
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

bytes_of() { case $1 in write | read) echo $((MB * 1048576)) ;; notes) echo $((NOTES * 2048)) ;; *) echo 0 ;; esac; }

# --- the run ----------------------------------------------------------------
declare -A SEC RSS
for w in $WORKLOADS; do
    for s in $SYSTEMS; do
        times=() peaks=()
        for _ in $(seq "$RUNS"); do
            out=$("w_$w" "$s")
            times+=("${out% *}")
            peaks+=("${out#* }")
        done
        SEC[$w,$s]=$(printf '%s\n' "${times[@]}" | median)
        RSS[$w,$s]=$(printf '%s\n' "${peaks[@]}" | sort -g | tail -n 1)
        echo "  $w on $s: ${SEC[$w,$s]} s (runs: ${times[*]})" >&2
    done
done
for s in $SYSTEMS; do teardown "$s"; done

printf '\n%-8s %-10s %9s %9s %9s %9s %8s\n' workload system seconds MB/s "x gocrypt" "x native" "RSS MiB"
for w in $WORKLOADS; do
    for s in $SYSTEMS; do
        sec=${SEC[$w,$s]}
        bytes=$(bytes_of "$w")
        mbs=$(echo "scale=1; $bytes / 1048576 / $sec" | bc)
        rg=$(echo "scale=2; $sec / ${SEC[$w,gocryptfs]:-$sec}" | bc)
        rn=$(echo "scale=2; $sec / ${SEC[$w,native]:-$sec}" | bc)
        printf '%-8s %-10s %9.2f %9s %9s %9s %8s\n' "$w" "$s" "$sec" "$mbs" "$rg" "$rn" "${RSS[$w,$s]}"
    done
done

#!/bin/sh
# Builds every casefs libFuzzer target and runs each for SECONDS (default 60).
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      (from the top of the tree)
#
# Targets are tests/fuzz/fuzz_*.c; TARGET is a name without "fuzz_" or the
# full name.  FUZZ_PARALLEL=N runs N targets at once (default 1).
# Corpora grow in build/fuzz/corpus/<target>/ (seeded from
# tests/fuzz/seeds/<target>/ and tests/fuzz/regressions/<target>/);
# crashes are written to build/fuzz/crashes/<target>/ and logs to
# build/fuzz/logs/<target>.log.  Exit status 1 when any target found a
# crash: copy the input into tests/fuzz/regressions/<target>/ so that
# tests/fuzz/regress.sh (make check) replays it from then on.
set -eu

cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
[ $# -gt 0 ] && shift
CLANG=${CLANG:-clang}
OUT=build/fuzz
PARALLEL=${FUZZ_PARALLEL:-1}

if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "run.sh: $CLANG not found: apt-get install -y clang libclang-rt-14-dev" >&2
    exit 2
fi

CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread -I. \
  -fno-sanitize-recover=undefined $(pkg-config --cflags lmdb libsodium)"
LIBS="$(pkg-config --libs lmdb libsodium)"
SAN="-fsanitize=address,undefined"

if [ $# -gt 0 ]; then
    TARGETS=""
    for t in "$@"; do TARGETS="$TARGETS fuzz_${t#fuzz_}"; done
else
    TARGETS=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
fi

# The library, compiled once with coverage instrumentation.
mkdir -p "$OUT/obj" "$OUT/bin" "$OUT/logs"
OBJS=""
for src in store/*.c tools/args.c tools/cli.c; do
    obj="$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find store tools -name '*.h' -newer "$obj")" ]; then
        $CLANG $CFLAGS $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
    OBJS="$OBJS $obj"
done
STORE_OBJS=$(echo "$OBJS" | tr ' ' '\n' | grep '/store_' | tr '\n' ' ')
TOOLS_OBJS=$(echo "$OBJS" | tr ' ' '\n' | grep '/tools_' | tr '\n' ' ')

for t in $TARGETS; do
    [ -f "tests/fuzz/$t.c" ] || { echo "run.sh: no target tests/fuzz/$t.c" >&2; exit 2; }
    extra=""
    case $t in fuzz_args | fuzz_passphrase) extra="$TOOLS_OBJS" ;; esac
    echo "build $t"
    $CLANG $CFLAGS $SAN -fsanitize=fuzzer "tests/fuzz/$t.c" $STORE_OBJS $extra $LIBS \
        -o "$OUT/bin/$t"
done

run_one() {
    t=$1
    name=${t#fuzz_}
    corpus="$OUT/corpus/$t"
    crashes="$OUT/crashes/$t"
    mkdir -p "$corpus" "$crashes"
    seeds=""
    for d in "tests/fuzz/seeds/$t" "tests/fuzz/regressions/$t"; do
        [ -d "$d" ] && seeds="$seeds $d"
    done
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    # -close_fd_mask=1: the targets' stdout is noise; libFuzzer and the
    # sanitizers still report on stderr.  Crashes end the run.
    set +e
    "$OUT/bin/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -timeout=25 -rss_limit_mb=4096 -max_len=8192 -close_fd_mask=1 \
        -artifact_prefix="$crashes/" $dict "$corpus" $seeds \
        >"$OUT/logs/$t.log" 2>&1
    rc=$?
    set -e
    cov=$(grep -o 'cov: [0-9]*' "$OUT/logs/$t.log" | tail -1)
    execs=$(grep 'stat::number_of_executed_units' "$OUT/logs/$t.log" | awk '{print $2}')
    if [ "$rc" -eq 0 ]; then
        echo "ok    $t: ${SECONDS_EACH}s, ${execs:-?} execs, $cov"
    else
        echo "CRASH $t (exit $rc): see $OUT/logs/$t.log and $crashes/"
        grep -m3 -E 'ERROR: |runtime error|FUZZ CHECK FAILED' "$OUT/logs/$t.log" | sed 's/^/      /'
    fi
    return $rc
}

failed=0
if [ "$PARALLEL" -le 1 ]; then
    for t in $TARGETS; do run_one "$t" || failed=$((failed + 1)); done
else
    # Run in batches of PARALLEL; each job writes its summary line to a file.
    set -- $TARGETS
    while [ $# -gt 0 ]; do
        pids=""
        i=0
        while [ $# -gt 0 ] && [ $i -lt "$PARALLEL" ]; do
            ( run_one "$1" >"$OUT/logs/$1.summary" 2>&1 ) &
            pids="$pids $!:$1"
            shift
            i=$((i + 1))
        done
        for p in $pids; do
            if ! wait "${p%%:*}"; then failed=$((failed + 1)); fi
            cat "$OUT/logs/${p#*:}.summary"
        done
    done
fi
echo "fuzz: $(echo $TARGETS | wc -w) targets, $failed with findings"
[ "$failed" -eq 0 ]

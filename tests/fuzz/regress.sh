#!/bin/sh
# Replays every saved fuzz input without libFuzzer: each file in
# tests/fuzz/regressions/<target>/ (inputs that once crashed: casefs bugs
# that must stay fixed) and tests/fuzz/seeds/<target>/ (the starting
# corpus, as smoke tests) is fed to its target, one process per file.
# Builds with $CC (default cc) and AddressSanitizer/UBSan when the compiler
# has them; no clang fuzzer runtime is needed.  The last line is
# "N passed, M failed"; the exit status is 1 when anything failed.
#
#   tests/fuzz/regress.sh [TARGET...]
set -u

cd "$(dirname "$0")/../.."
CC=${CC:-cc}
OUT=build/fuzz-replay
mkdir -p "$OUT"

CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -pthread -I. \
  $(pkg-config --cflags lmdb libsodium)"
LIBS="$(pkg-config --libs lmdb libsodium)"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
echo 'int main(void){return 0;}' >"$OUT/probe.c"
if ! $CC $SAN "$OUT/probe.c" -o "$OUT/probe" >/dev/null 2>&1; then
    echo "regress.sh: $CC has no sanitizers; replaying without them"
    SAN=""
fi

if [ $# -gt 0 ]; then
    TARGETS=""
    for t in "$@"; do TARGETS="$TARGETS fuzz_${t#fuzz_}"; done
else
    TARGETS=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
fi

passed=0
failed=0
for t in $TARGETS; do
    files=$(find "tests/fuzz/regressions/$t" "tests/fuzz/seeds/$t" -type f 2>/dev/null | sort)
    [ -n "$files" ] || continue
    extra=""
    case $t in fuzz_args | fuzz_passphrase) extra="tools/args.c tools/cli.c" ;; esac
    if ! $CC $CFLAGS $SAN "tests/fuzz/$t.c" tests/fuzz/replay_main.c store/*.c $extra \
        $LIBS -o "$OUT/$t" 2>"$OUT/$t.build.log"; then
        n=$(echo "$files" | wc -l)
        echo "FAIL $t: does not build ($n inputs not replayed), see $OUT/$t.build.log"
        failed=$((failed + n))
        continue
    fi
    for f in $files; do
        if ASAN_OPTIONS=detect_leaks=1 "$OUT/$t" "$f" >"$OUT/last.log" 2>&1; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            echo "FAIL $t $f"
            grep -m3 -E 'ERROR: |runtime error|FUZZ CHECK FAILED' "$OUT/last.log" | sed 's/^/     /'
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

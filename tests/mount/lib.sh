# lib.sh — shared set-up and assertions for the casefs mount tests.
#
# Modelled on git's t/test-lib.sh.  A test script sets a few variables,
# sources this file and then reads like a user's session:
#
#     . "$(dirname "$0")/lib.sh"
#     test_expect_success 'a save adds one version' '
#         echo one >"$MNT/2026-0001/note.txt" &&
#         test "$(versions_of 2026-0001/note.txt)" = 1
#     '
#     test_done
#
# Sourcing this file
#   - checks that we are root, /dev/fuse exists and "$BUILD/casefs" exists
#     (otherwise the script fails: a missing prerequisite is a failure here,
#     never a skip);
#   - makes a fresh directory "$BUILD/mnt-tests/NAME.XXXXXX" (not under
#     /tmp: vim skips its backup-and-rename dance there) holding
#         pass       the passphrase file        ($PASS)
#         wrongpass  a different passphrase     ($WRONGPASS)
#         store/     the store                  ($STORE)
#         mnt/       the mount point            ($MNT)
#         scratch/   files outside the mount    ($SCRATCH)
#   - runs `casefs init` and `casefs mount` (skip both with test_no_init=1,
#     or only the mount with test_no_mount=1, set before sourcing);
#   - registers an EXIT trap that unmounts everything under the test
#     directory, stops the daemons it started and removes the directory
#     (KEEP=1 keeps it for a post mortem).
#
# Each test body is evaluated in the test script's own shell (so helper
# functions and variables are visible), with its output captured; its
# commands are chained with && and its status decides ok / not ok.  A body
# may use `return 1` (for instance in a loop) to fail.  On failure the body
# and its output are printed as "# " comment lines.

test_name=$(basename "$0" .sh)
TEST_DIRECTORY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$TEST_DIRECTORY/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$REPO/$BUILD ;;
esac
CASEFS=$BUILD/casefs
export LC_ALL=C TZ=UTC

test_count=0
test_failures=0
test_skipped=0
TMP=

# --- reporting ---------------------------------------------------------

say () { printf '%s\n' "$*"; }

# Prints text (stdin) as TAP comment lines, at most the last 80 lines.
test_diag_ () {
    tail -n 80 | sed 's/^/#   /'
}

test_ok_ () {
    test_count=$((test_count + 1))
    say "ok $test_count - $1"
}

test_not_ok_ () {
    test_failures=$((test_failures + 1))
    test_count=$((test_count + 1))
    say "not ok $test_count - $1"
}

# The body runs inside a function of its own so that `return 1` in it ends
# the body, not the caller.
test_eval_inner_ () {
    eval "$1"
}

# test_expect_success 'description' 'commands'
test_expect_success () {
    local desc=$1 body=$2 out rc
    out=$TMP/.test-output
    test_eval_inner_ "$body" >"$out" 2>&1 </dev/null
    rc=$?
    if [ $rc -eq 0 ]; then
        test_ok_ "$desc"
    else
        test_not_ok_ "$desc"
        {
            say "exit status $rc; commands:"
            printf '%s\n' "$body" | sed '/^[[:space:]]*$/d'
            say "output:"
            cat "$out"
        } | test_diag_
    fi
    return 0
}

# test_skip 'description' 'reason' — for a case that cannot be set up on
# this machine without faking it.
test_skip () {
    test_count=$((test_count + 1))
    test_skipped=$((test_skipped + 1))
    say "ok $test_count - $1 # SKIP $2"
}

# test_done: the summary, and the script's exit status.
test_done () {
    say "1..$test_count"
    if [ $test_skipped -gt 0 ]; then
        say "# skipped $test_skipped"
    fi
    say "# passed $((test_count - test_failures - test_skipped)) failed $test_failures"
    if [ $test_failures -gt 0 ]; then
        exit 1
    fi
    exit 0
}

# A prerequisite of the whole script is missing: one failure, then stop.
test_bail_ () {
    test_not_ok_ "$1"
    if [ -n "${2-}" ]; then
        printf '%s\n' "$2" | test_diag_
    fi
    test_done
}

# --- assertions (print what differs, then fail) ------------------------

# fail MESSAGE: prints MESSAGE and returns 1.
fail () {
    say "FAIL: $*"
    return 1
}

# test_cmp EXPECTED ACTUAL: files equal (diff shown otherwise).
test_cmp () {
    diff -u "$1" "$2" || fail "$2 differs from $1"
}

# test_eq EXPECTED ACTUAL [WHAT]
test_eq () {
    [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

# test_match EREGEX TEXT [WHAT]: TEXT matches the extended regex.
test_match () {
    printf '%s\n' "$2" | grep -Eq -- "$1" || fail "${3:-text}: '$2' does not match /$1/"
}

# test_lines N FILE: FILE has exactly N lines.
test_lines () {
    local n
    n=$(wc -l <"$2") || return 1
    [ "$n" -eq "$1" ] || {
        cat "$2"
        fail "$2: expected $1 lines, got $n"
    }
}

# test_missing PATH: PATH does not exist (and lstat says so).
test_missing () {
    if [ -e "$1" ] || [ -L "$1" ]; then
        ls -la "$1"
        fail "$1 exists"
    fi
    return 0
}

# run_capture CMD...: runs CMD with stdout to $TMP/stdout, stderr to
# $TMP/stderr and the exit status in $run_rc; never fails itself.
run_capture () {
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    run_rc=$?
    return 0
}

# expect_error CODE EREGEX CMD...: CMD exits with CODE and writes exactly
# one line to stderr that matches EREGEX (case-insensitive).  The message
# is appended to $TMP/messages (for checking that messages differ).
expect_error () {
    local code=$1 re=$2 n
    shift 2
    run_capture "$@"
    say "\$ $*"
    say "exit status: $run_rc"
    say "stderr:"
    cat "$TMP/stderr"
    [ "$run_rc" -eq "$code" ] || fail "expected exit status $code, got $run_rc" || return 1
    # a last line without its newline counts too
    n=$(awk 'END { print NR }' "$TMP/stderr")
    [ "$n" -eq 1 ] || fail "expected one line on stderr, got $n" || return 1
    grep -Eiq -- "$re" "$TMP/stderr" || fail "stderr does not match /$re/" || return 1
    cat "$TMP/stderr" >>"$TMP/messages"
}

# expect_errno_text TEXT CMD...: CMD fails (non-zero) and its stderr
# contains TEXT (an strerror text such as "Read-only file system").
expect_errno_text () {
    local text=$1
    shift
    run_capture "$@"
    say "\$ $*  -> $run_rc"
    cat "$TMP/stderr"
    [ "$run_rc" -ne 0 ] || fail "expected failure, command succeeded" || return 1
    grep -Fq -- "$text" "$TMP/stderr" || fail "stderr lacks '$text'"
}

# --- casefs helpers ----------------------------------------------------

# cfs SUBCOMMAND ARGS...: casefs with the test passphrase file.
cfs () {
    "$CASEFS" "$@" --passphrase-file "$PASS"
}

# is_mounted DIR: DIR is a mount point now (from the mount table, so a
# dead FUSE mount that no longer answers still counts).
is_mounted () {
    awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts
}

# daemon_pids [STORE]: pids of casefs daemons serving STORE.
daemon_pids () {
    pgrep -f -- "casefs mount ${1:-$STORE}( |\$)"
}

# wait_daemon_gone [STORE]: waits up to 10 s for STORE's daemons to exit.
wait_daemon_gone () {
    local i
    for i in $(seq 50); do
        daemon_pids "${1:-$STORE}" >/dev/null || return 0
        sleep 0.2
    done
    fail "casefs daemon for ${1:-$STORE} still running: $(daemon_pids "${1:-$STORE}" | tr '\n' ' ')"
}

# mount_store: mounts $STORE on $MNT (empty).
mount_store () {
    cfs mount "$STORE" "$MNT" && is_mounted "$MNT"
}

# umount_store: unmounts $MNT and waits for the daemon to exit, so the
# store is closed when it returns.
umount_store () {
    "$CASEFS" umount "$MNT" && wait_daemon_gone && ! is_mounted "$MNT"
}

remount () {
    umount_store && mount_store
}

# versions_of PATH: the number of versions `casefs history` lists.
versions_of () {
    local out
    out=$(cfs history "$STORE" "$1") || return 1
    if [ -z "$out" ]; then
        echo 0
    else
        printf '%s\n' "$out" | wc -l
    fi
}

# requests_count [--all]: the number of (pending) retraction requests.
requests_count () {
    local out
    out=$(cfs retractions "$STORE" "$@") || return 1
    if [ -z "$out" ]; then
        echo 0
    else
        printf '%s\n' "$out" | wc -l
    fi
}

# log_count: the number of audit log entries.
log_count () {
    local out
    out=$(cfs log "$STORE") || return 1
    if [ -z "$out" ]; then
        echo 0
    else
        printf '%s\n' "$out" | wc -l
    fi
}

# version_file PATH N: where version N of document PATH shows in the mount
# (folder/.versions/NAME/vN.EXT; no .EXT when NAME has no extension).
version_file () {
    local dir base ext=
    case $1 in
    */*) dir=${1%/*} base=${1##*/} ;;
    *) dir=. base=$1 ;;
    esac
    case $base in
    ?*.*) ext=.${base##*.} ;;
    esac
    printf '%s\n' "$MNT/$dir/.versions/$base/v$2$ext"
}

# --- expected versions (the "model") -----------------------------------
#
# model_add PATH [FILE] records the next version that document PATH must
# have: FILE's bytes (default: what the mount shows now).  check_versions
# PATH then compares the store against every recorded version.

model_dir_ () { printf '%s\n' "$TMP/model/$1"; }

model_count () {
    local d
    d=$(model_dir_ "$1")
    if [ -d "$d" ]; then
        find "$d" -maxdepth 1 -type f | wc -l
    else
        echo 0
    fi
}

model_add () {
    local d n
    d=$(model_dir_ "$1")
    n=$(model_count "$1")
    mkdir -p "$d" && cp "${2:-$MNT/$1}" "$d/$((n + 1))"
}

# check_versions PATH: `casefs history PATH` lists exactly the recorded
# versions 1..K in order with their sizes; `casefs cat --version N` gives
# each byte for byte; plain `casefs cat` gives the last.  When PATH is in
# the live view also: the mount's content equals version K and
# .versions/NAME/ lists exactly v1..vK, each byte for byte.
check_versions () {
    local p=$1 d k n hist size want got vf
    d=$(model_dir_ "$p")
    k=$(model_count "$p")
    hist=$TMP/.history
    cfs history "$STORE" "$p" >"$hist" || fail "casefs history $p failed" || return 1
    n=$(wc -l <"$hist")
    if [ "$n" -ne "$k" ]; then
        cat "$hist"
        fail "$p: expected $k versions, history lists $n"
        return 1
    fi
    for n in $(seq "$k"); do
        want=$(awk -F'\t' -v n="$n" 'NR == n { print $1 }' "$hist")
        [ "$want" = "$n" ] || fail "$p: history line $n is numbered '$want'" || return 1
        size=$(awk -F'\t' -v n="$n" 'NR == n { print $3 }' "$hist")
        got=$(stat -c %s "$d/$n")
        [ "$size" = "$got" ] || fail "$p v$n: history says size $size, expected $got" || return 1
        cfs cat "$STORE" "$p" --version "$n" >"$TMP/.cat" ||
            fail "casefs cat $p --version $n failed" || return 1
        cmp "$d/$n" "$TMP/.cat" || fail "$p v$n: casefs cat differs from what was saved" || return 1
    done
    cfs cat "$STORE" "$p" >"$TMP/.cat" || fail "casefs cat $p failed" || return 1
    cmp "$d/$k" "$TMP/.cat" || fail "$p: casefs cat (current) differs from v$k" || return 1
    if [ -e "$MNT/$p" ]; then
        cmp "$d/$k" "$MNT/$p" || fail "$p: mount content differs from v$k" || return 1
        for n in $(seq "$k"); do
            vf=$(version_file "$p" "$n")
            cmp "$d/$n" "$vf" || fail "$p v$n: $vf differs from what was saved" || return 1
        done
        got=$(ls "${vf%/*}" | sort -V | tr '\n' ' ')
        want=$(for n in $(seq "$k"); do version_file "$p" "$n"; done | sed 's|.*/||' | tr '\n' ' ')
        [ "$got" = "$want" ] || fail "$p: .versions lists '$got', expected '$want'" || return 1
    fi
    return 0
}

# listing DIR: `ls -a` of DIR, one name a line (what a user would see).
listing () {
    ls -a1 "$1"
}

# tree_state DIR: path, type, mode, size (not for folders), mtime (ns) of
# everything below DIR.
tree_state () {
    (cd "$1" && find . \( -type d -printf '%p %y %m - %T@\n' \) -o -printf '%p %y %m %s %T@\n' |
        LC_ALL=C sort)
}

# --- set-up and clean-up -----------------------------------------------

test_cleanup_ () {
    local rc=$? m
    trap - EXIT
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        # every mount below the test directory, deepest first
        for m in $(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r); do
            "$CASEFS" umount "$m" >/dev/null 2>&1 || fusermount3 -u -z "$m" >/dev/null 2>&1 ||
                umount -l "$m" >/dev/null 2>&1
        done
        # the daemons this test started: give them time to close the store
        for m in "$TMP"/*/; do
            m=${m%/}
            if daemon_pids "$m" >/dev/null; then
                wait_daemon_gone "$m" >/dev/null || kill -9 $(daemon_pids "$m") 2>/dev/null
            fi
        done
        if [ -n "${KEEP-}" ]; then
            say "# kept $TMP"
        else
            rm -rf --one-file-system "$TMP"
        fi
    fi
    exit $rc
}

test_setup_ () {
    if [ "$(id -u)" != 0 ]; then
        test_bail_ "setup: the mount tests need root (uid is $(id -u))"
    fi
    if [ ! -c /dev/fuse ]; then
        test_bail_ "setup: the mount tests need /dev/fuse (missing)"
    fi
    if [ ! -x "$CASEFS" ]; then
        test_bail_ "setup: $CASEFS not built (run make all)"
    fi
    mkdir -p "$BUILD/mnt-tests" || test_bail_ "setup: cannot create $BUILD/mnt-tests"
    TMP=$(mktemp -d "$BUILD/mnt-tests/$test_name.XXXXXX") ||
        test_bail_ "setup: mktemp failed"
    trap test_cleanup_ EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    # other users (t0600, t0700) must reach the mount point
    chmod 755 "$TMP" "$BUILD/mnt-tests"
    PASS=$TMP/pass
    WRONGPASS=$TMP/wrongpass
    STORE=$TMP/store
    MNT=$TMP/mnt
    SCRATCH=$TMP/scratch
    printf 'correct horse battery staple %s\n' "$test_name" >"$PASS"
    printf 'incorrect horse battery staple\n' >"$WRONGPASS"
    chmod 600 "$PASS" "$WRONGPASS"
    mkdir "$MNT" "$SCRATCH" "$TMP/model"
    : >"$TMP/messages"
    if [ -z "${test_no_init-}" ]; then
        cfs init "$STORE" >"$TMP/.setup" 2>&1 ||
            test_bail_ "setup: casefs init $STORE failed" "$(cat "$TMP/.setup")"
        if [ -z "${test_no_mount-}" ]; then
            mount_store >"$TMP/.setup" 2>&1 ||
                test_bail_ "setup: casefs mount $STORE $MNT failed" "$(cat "$TMP/.setup")"
        fi
    fi
}

test_setup_

#!/usr/bin/env bash
# make run / make stop: a demo store under ./demo, mounted on ./demo/mnt.
set -euo pipefail
cd "$(dirname "$0")/.."
CASEFS=${CASEFS:-build/casefs}
DEMO=demo
PASS=$DEMO/passphrase

stop() {
    if grep -qs " $(pwd)/$DEMO/mnt " /proc/mounts; then
        "$CASEFS" umount "$DEMO/mnt"
        echo "unmounted $DEMO/mnt"
    else
        echo "the demo is not mounted"
    fi
}

start() {
    mkdir -p "$DEMO/mnt"
    if [ ! -f "$PASS" ]; then
        echo "demo passphrase: correct horse battery staple" >/dev/null
        printf 'correct horse battery staple\n' >"$PASS"
        chmod 600 "$PASS"
    fi
    if grep -qs " $(pwd)/$DEMO/mnt " /proc/mounts; then
        echo "the demo is already mounted on $DEMO/mnt (make stop to unmount)"
        return 0
    fi
    if [ ! -f "$DEMO/store/data.mdb" ]; then
        "$CASEFS" init "$DEMO/store" --passphrase-file "$PASS"
        fresh=1
    fi
    "$CASEFS" mount "$DEMO/store" "$DEMO/mnt" --passphrase-file "$PASS"
    if [ "${fresh:-0}" = 1 ]; then
        mkdir "$DEMO/mnt/2026-0042"
        mkdir "$DEMO/mnt/2026-0042/journal"
        printf 'Home visit 2026-11-02. Child present, school attendance discussed.\n' \
            >"$DEMO/mnt/2026-0042/journal/note-2026-11-02.txt"
        printf 'Home visit 2026-11-02. Child present; school attendance discussed with parent.\n' \
            >"$DEMO/mnt/2026-0042/journal/note-2026-11-02.txt"
        printf 'Report of concern received by phone; assessment opened.\n' \
            >"$DEMO/mnt/2026-0042/report-of-concern.txt"
        printf 'Investigation plan: interviews with school and family within 14 days.\n' \
            >"$DEMO/mnt/2026-0042/investigation-plan.txt"
    fi
    cat <<EOT

casefs demo is mounted on $DEMO/mnt (store: $DEMO/store, passphrase in $PASS).
Try:
  ls -la $DEMO/mnt/2026-0042
  cat $DEMO/mnt/2026-0042/journal/note-2026-11-02.txt
  ls $DEMO/mnt/2026-0042/journal/.versions/note-2026-11-02.txt/
  getfattr -d $DEMO/mnt/2026-0042/journal/note-2026-11-02.txt
  rm $DEMO/mnt/2026-0042/investigation-plan.txt     # a retraction request, not a deletion
  $CASEFS retractions $DEMO/store --passphrase-file $PASS
  $CASEFS history $DEMO/store 2026-0042/journal/note-2026-11-02.txt --passphrase-file $PASS
  $CASEFS log $DEMO/store --passphrase-file $PASS
  make stop                                         # unmount
EOT
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) echo "usage: tools/demo.sh start|stop" >&2; exit 2 ;;
esac

#!/bin/sh
# Build the libFuzzer harnesses of tests/fuzz/ with clang (ASan + UBSan) in an
# out-of-tree build, write their seed corpora, and run each for N seconds.
# Not part of make check.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]     fuzz (default 60 s, all harnesses)
#   tests/fuzz/run.sh --repro                    replay tests/fuzz/crashes/<harness>-*
#
# crashes/ keeps the reproducers of past findings (all fixed): --repro
# replays them as regression tests.
# Environment: FUZZ_BUILD (default /tmp/fuzzbuild), JOBS (harnesses run at
# once, default 2), CC (default clang). Corpora and crash artifacts are kept
# in $FUZZ_BUILD/fuzz/. Exits non-zero if any harness found a crash, leak,
# timeout or out-of-memory (or, with --repro, if a reproducer still fails).
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$SRC/tests/fuzz"
B=${FUZZ_BUILD:-/tmp/fuzzbuild}
CC=${CC:-clang}
JOBS=${JOBS:-2}
HARNESSES="fuzz_request fuzz_command fuzz_snapshot fuzz_response fuzz_stream fuzz_config fuzz_conninfo fuzz_frame fuzz_query"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
REPRO=no
SECS=60
if [ "${1:-}" = "--repro" ]; then
    REPRO=yes
    shift
elif [ $# -gt 0 ]; then
    SECS=$1
    shift
fi
[ $# -gt 0 ] && HARNESSES="$*"

# ---- build -----------------------------------------------------------------
mkdir -p "$B"
if [ ! -f "$B/Makefile" ]; then
    (cd "$B" && CC="$CC" CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $SAN" \
        "$SRC/configure" --enable-failpoints >configure.log 2>&1) ||
        { echo "configure failed: see $B/configure.log" >&2; exit 1; }
fi
(cd "$B" && make proto/state.pb-c.h proto/command.pb-c.h proto/api.pb-c.h >make.log 2>&1 &&
    make -j"$JOBS" libpgqcore.a libpgqproto.a >>make.log 2>&1) ||
    { echo "make failed: see $B/make.log" >&2; exit 1; }

F="$B/fuzz"
mkdir -p "$F"
INC="-D_GNU_SOURCE -I$SRC/agent -I$SRC/include -I$B/proto -I$HERE"
LIBS="$B/libpgqcore.a $B/libpgqproto.a $(pkg-config --libs libprotobuf-c jansson)"
PBCFLAGS=$(pkg-config --cflags libprotobuf-c jansson)
for h in $HARNESSES; do
    $CC -g -O1 -fsanitize=fuzzer $SAN $INC $PBCFLAGS "$HERE/$h.c" $LIBS -o "$F/$h"
done
$CC -g -O1 $SAN $INC $PBCFLAGS "$HERE/seeds.c" $LIBS -o "$F/seeds"

# ---- replay known reproducers ---------------------------------------------------
if [ $REPRO = yes ]; then
    status=0
    for h in $HARNESSES; do
        for r in "$HERE"/crashes/"$h"-*; do
            [ -f "$r" ] || continue
            if "$F/$h" -runs=1 "$r" >"$F/repro-$(basename "$r").log" 2>&1; then
                echo "fixed:  $(basename "$r")"
            else
                echo "FAILS:  $(basename "$r") (log: $F/repro-$(basename "$r").log)"
                status=1
            fi
        done
    done
    exit $status
fi

# ---- seeds and fuzzing -------------------------------------------------------------
rm -rf "$F/seeds.d"
"$F/seeds" "$F/seeds.d"

run_one() {
    h=$1
    case $h in
        fuzz_config | fuzz_conninfo) maxlen=4096 ;;
        *) maxlen=65536 ;;
    esac
    mkdir -p "$F/corpus/$h" "$F/artifacts/$h"
    seeds="$F/seeds.d/$h"
    [ -d "$seeds" ] || seeds=""
    "$F/$h" "$F/corpus/$h" $seeds -max_total_time="$SECS" -max_len=$maxlen -timeout=5 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$F/artifacts/$h/" \
        >"$F/$h.log" 2>&1
}

status=0
pids=""
running=0
for h in $HARNESSES; do
    (if run_one "$h"; then echo "ok:     $h"; else echo "FAILED: $h (log: $F/$h.log)"; exit 1; fi) &
    pids="$pids $!"
    running=$((running + 1))
    if [ $running -ge "$JOBS" ]; then
        for p in $pids; do wait "$p" || status=1; done
        pids=""
        running=0
    fi
done
for p in $pids; do wait "$p" || status=1; done
for h in $HARNESSES; do
    printf '%-14s %s\n' "$h" "$(grep -E '^(#[0-9]+.*(DONE|pulse|NEW|REDUCE))' "$F/$h.log" | tail -n 1)"
done
exit $status

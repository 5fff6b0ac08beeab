#!/bin/sh
# Runs every libFuzzer target of a build (each executable named fuzz_* in
# <builddir>/tests/fuzz) for <seconds> on its seed corpus
# (tests/fuzz/corpus/<name without fuzz_>) and fails if any target crashes,
# leaks or times out. New inputs go to a scratch directory, so the checked-in
# corpus is never modified; a failing run keeps its scratch directory (with
# the crashing input) and names it.
#
#   CC=clang meson setup /tmp/b-fuzz -Dfuzz=true && ninja -C /tmp/b-fuzz
#   tests/fuzz/run.sh /tmp/b-fuzz 60
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 <builddir> <seconds>" >&2
    exit 2
fi
builddir=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
status=0
found=0

for exe in "$builddir"/tests/fuzz/fuzz_*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    name=$(basename "$exe")
    seeds="$here/corpus/${name#fuzz_}"
    found=$((found + 1))
    work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
    mkdir "$work/corpus"
    echo "== $name: ${seconds}s"
    if [ -d "$seeds" ]; then
        set -- "$work/corpus" "$seeds"
    else
        set -- "$work/corpus"
    fi
    if "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/" "$@"; then
        rm -rf "$work"
    else
        echo "run.sh: $name failed; the input that failed is in $work" >&2
        status=1
    fi
done

if [ "$found" -eq 0 ]; then
    echo "run.sh: no fuzz_* executables in $builddir/tests/fuzz" >&2
    exit 1
fi
exit $status

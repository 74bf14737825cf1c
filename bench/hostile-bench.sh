#!/usr/bin/env bash
# Memory and time of `cspctl validate` on a flood of problems (issue 14): one file of
# DOCS documents `--- x` (a scalar where a mapping belongs), each one a problem.
# Generates the file, then measures a release build with /usr/bin/time -v: wall
# time and peak RSS, for the default output (the first 50 problems, then a count)
# and, with ALL=1, for `--max-problems 0` (every problem printed). Checks that the
# count line says DOCS problems and that peak RSS stays under 1 GiB.
#
# Usage: bench/hostile-bench.sh
# Environment:
#   DOCS=3000000   documents in the file (3,000,000 make 18 MB)
#   ALL=1          also measure --max-problems 0
#   CARGO_TARGET_DIR is honoured, as cargo does.
#
# Performance is measured here, never in timed tests.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docs=${DOCS:-3000000}
memory_target_kib=$((1024 * 1024))

if [[ ! -x /usr/bin/time ]]; then
    echo "hostile-bench: /usr/bin/time (GNU time) is required" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/cspctl-hostile-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "hostile-bench: building the release binary" >&2
(cd "$repo" && cargo build --release --quiet --bin cspctl)
target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cspctl=$target_dir/release/cspctl

awk -v n="$docs" 'BEGIN { for (i = 0; i < n; i++) print "--- x" }' >"$work/flood.yaml"
echo "hostile-bench: $docs documents, $(wc -c <"$work/flood.yaml") bytes" >&2

# measure NAME ARGS...: runs `cspctl validate flood.yaml ARGS` (exit 1 expected),
# prints its wall time, peak RSS and last line, and whether RSS is under the target.
measure() {
    local name=$1 code=0
    shift
    (cd "$work" && NO_COLOR=1 /usr/bin/time -v "$cspctl" validate flood.yaml "$@" \
        >"$work/$name.out" 2>"$work/$name.err") || code=$?
    if [[ $code != 1 ]]; then
        echo "hostile-bench: $name exited $code, expected 1:" >&2
        tail -n 30 "$work/$name.err" >&2
        exit 1
    fi
    local wall rss last
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$name.err")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$name.err")
    last=$(grep 'problem(s) found' "$work/$name.err" | tail -n 1)
    local verdict="under 1 GiB"
    ((rss < memory_target_kib)) || verdict="OVER 1 GiB"
    printf '%-18s wall %8s  peak RSS %9s KiB (%s)  %s\n' "$name" "$wall" "$rss" "$verdict" "$last"
    [[ $last == "error: $docs problem(s) found" ]] || {
        echo "hostile-bench: $name counted wrong: $last" >&2
        exit 1
    }
}

measure "validate"
if [[ ${ALL:-0} == 1 ]]; then
    measure "--max-problems 0" --max-problems 0
fi

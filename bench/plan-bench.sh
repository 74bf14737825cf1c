#!/usr/bin/env bash
# Performance benchmark of `cspctl validate` and `cspctl plan` at scale.
#
# Generates a fixture with examples/gen-fixture.rs (by default the issue's size:
# 20,000 customers, 100,000 subscriptions, 20,000 support contacts, 200 resellers,
# 1% drift), then measures with /usr/bin/time, taking the median of RUNS runs each:
#   - the parse floor: examples/parse-floor.rs, which only reads and parses the same
#     YAML with saphyr, the library cspctl is built on;
#   - cspctl validate DIR;
#   - cspctl plan DIR --state STATE (text output to /dev/null, NO_COLOR=1);
#   - the same plan as a pull-request comment (--format markdown) and as GitHub
#     annotations (--format github);
#   - cspctl drift DIR --state STATE (exit 2: the fixture drifts on purpose);
#   - cspctl export --state STATE --out DIR2 --force (which also plans its output
#     against the state, to check the round trip).
# and prints wall time, peak RSS, each one's ratio to the floor, and whether the
# targets hold: plan within 1.5x the parse floor and under 1 GiB peak memory.
#
# Usage: bench/plan-bench.sh [FIXTURE_DIR]
#   FIXTURE_DIR  where the fixture goes (kept afterwards); default: a temporary
#                directory, removed at the end.
# Environment:
#   CUSTOMERS, SUBSCRIPTIONS, SUPPORT_CONTACTS, RESELLERS, DRIFT, SEED
#                fixture size and shape (e.g. CUSTOMERS=2000 SUBSCRIPTIONS=10000
#                SUPPORT_CONTACTS=2000 RESELLERS=20 for a quick run)
#   RUNS=3       runs per measurement (the median is reported)
#   REUSE=1      reuse the fixture already in FIXTURE_DIR instead of regenerating it
#   STRICT=1     exit 3 when a target is missed (default: report only)
#   CARGO_TARGET_DIR is honoured, as cargo does.
#
# Performance is measured here, never in timed tests. Wall times on a shared
# machine vary; compare runs made on the same machine in the same conditions.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
customers=${CUSTOMERS:-20000}
subscriptions=${SUBSCRIPTIONS:-100000}
support_contacts=${SUPPORT_CONTACTS:-20000}
resellers=${RESELLERS:-200}
drift=${DRIFT:-1}
seed=${SEED:-1}
runs=${RUNS:-3}
floor_target=1.5
memory_target_kib=$((1024 * 1024))

if [[ ! -x /usr/bin/time ]]; then
    echo "plan-bench: /usr/bin/time (GNU time) is required" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cspctl-bench-work.XXXXXX")
fixture_is_temporary=0
if [[ $# -ge 1 ]]; then
    fixture=$1
else
    fixture=$(mktemp -d "${TMPDIR:-/tmp}/cspctl-bench.XXXXXX")
    fixture_is_temporary=1
fi
cleanup() {
    rm -rf "$work"
    if [[ $fixture_is_temporary == 1 ]]; then
        rm -rf "$fixture"
    fi
}
trap cleanup EXIT

echo "plan-bench: building release binaries" >&2
(cd "$repo" && cargo build --release --quiet --bin cspctl --example gen-fixture --example parse-floor)
target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
cspctl=$target_dir/release/cspctl
gen_fixture=$target_dir/release/examples/gen-fixture
parse_floor=$target_dir/release/examples/parse-floor

manifests=$fixture/manifests
state=$fixture/state.json
if [[ ${REUSE:-0} == 1 && -d $manifests && -f $state ]]; then
    echo "plan-bench: reusing the fixture in $fixture" >&2
else
    echo "plan-bench: generating the fixture in $fixture" >&2
    "$gen_fixture" --out "$fixture" --customers "$customers" --subscriptions "$subscriptions" \
        --support-contacts "$support_contacts" --resellers "$resellers" --drift "$drift" \
        --seed "$seed" >"$work/gen.out"
    cat "$work/gen.out" >&2
    # Let the freshly written files reach the disk now rather than during the runs.
    sync
fi
# Every run then reads from the page cache, the first one included.
find "$fixture" -type f -exec cat {} + >/dev/null

# measure NAME COMMAND...: runs COMMAND $runs times (stdout to $work/NAME.out, which
# keeps the last run's), fails on a non-zero exit, and sets the medians
# `wall` (seconds) and `rss` (KiB).
measure() {
    local name=$1
    shift
    local walls=() rsses=() i seconds kib
    for ((i = 1; i <= runs; i++)); do
        echo "plan-bench: $name, run $i of $runs" >&2
        if ! /usr/bin/time -f '%e s %M KiB' -o "$work/time" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
            echo "plan-bench: $name failed ($*):" >&2
            tail -n 20 "$work/$name.err" >&2
            tail -n 2 "$work/time" >&2
            exit 1
        fi
        read -r seconds _ kib _ < <(tail -n 1 "$work/time")
        walls+=("$seconds")
        rsses+=("$kib")
    done
    wall=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
    rss=$(printf '%s\n' "${rsses[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
}

measure floor "$parse_floor" "$manifests"
floor_wall=$wall floor_rss=$rss
measure validate env NO_COLOR=1 "$cspctl" validate "$manifests"
validate_wall=$wall validate_rss=$rss
measure plan env NO_COLOR=1 "$cspctl" plan "$manifests" --state "$state"
plan_wall=$wall plan_rss=$rss
measure markdown env NO_COLOR=1 "$cspctl" plan "$manifests" --state "$state" --format markdown
markdown_wall=$wall markdown_rss=$rss
measure github env NO_COLOR=1 "$cspctl" plan "$manifests" --state "$state" --format github
github_wall=$wall github_rss=$rss
# drift exits 2 when it finds drift, which this fixture has.
measure drift sh -c '"$0" drift "$1" --state "$2"; [ $? -eq 2 ]' "$cspctl" "$manifests" "$state"
drift_wall=$wall drift_rss=$rss
measure export "$cspctl" export --state "$state" --out "$work/export" --force
export_wall=$wall export_rss=$rss

floor_line=$(tail -n 1 "$work/floor.out")
plan_line=$(tail -n 1 "$work/plan.out")

echo
echo "cspctl plan benchmark: $customers customers, $subscriptions subscriptions, $support_contacts support contacts, $resellers resellers, ${drift}% drift, seed $seed"
echo "fixture: ${floor_line#parse-floor: }"
echo "plan:    $plan_line"
echo "drift:   $(tail -n 1 "$work/drift.out")"
echo "export:  $(tail -n 1 "$work/export.err")"
echo "markdown comment: $(wc -c <"$work/markdown.out") bytes; github annotations: $(grep -c '^::' "$work/github.out") lines"
echo "median of $runs run(s) each"
echo
awk -v fw="$floor_wall" -v fr="$floor_rss" -v vw="$validate_wall" -v vr="$validate_rss" \
    -v pw="$plan_wall" -v pr="$plan_rss" -v mw="$markdown_wall" -v mr="$markdown_rss" \
    -v gw="$github_wall" -v gr="$github_rss" -v dw="$drift_wall" -v dr="$drift_rss" \
    -v ew="$export_wall" -v er="$export_rss" '
    function row(name, wall, kib) {
        ratio = fw > 0 ? sprintf("%.2fx", wall / fw) : "n/a"
        printf "%-22s %9.2f s %10.1f MiB %10s\n", name, wall, kib / 1024, ratio
    }
    BEGIN {
        printf "%-22s %11s %14s %10s\n", "measurement", "wall", "peak RSS", "vs floor"
        row("parse floor (saphyr)", fw, fr)
        row("cspctl validate", vw, vr)
        row("cspctl plan", pw, pr)
        row("plan --format markdown", mw, mr)
        row("plan --format github", gw, gr)
        row("cspctl drift", dw, dr)
        row("cspctl export", ew, er)
    }'
echo

verdicts=$(awk -v fw="$floor_wall" -v pw="$plan_wall" -v pr="$plan_rss" \
    -v target="$floor_target" -v limit="$memory_target_kib" '
    BEGIN {
        ratio = fw > 0 ? pw / fw : 0
        time_ok = fw > 0 && ratio <= target
        memory_ok = pr < limit
        printf "target: plan <= %.1fx the parse floor: %s (%.2fx)\n", target, time_ok ? "MET" : "MISSED", ratio
        printf "target: plan peak memory < 1 GiB:    %s (%.1f MiB)\n", memory_ok ? "MET" : "MISSED", pr / 1024
    }')
echo "$verdicts"
if [[ ${STRICT:-0} == 1 && $verdicts == *MISSED* ]]; then
    exit 3
fi

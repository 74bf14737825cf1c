#!/usr/bin/env bash
# Performance benchmark of `cspctl validate` and `cspctl plan` at scale.
#
# Generates a fixture with examples/gen-fixture.rs (by default the issue's size:
# 20,000 customers, 100,000 subscriptions, 20,000 support contacts, 200 resellers,
# 1% drift), then measures with /usr/bin/time, taking the median of RUNS runs each:
#   - the parse floor: examples/parse-floor.rs, which only reads and parses the same
#     YAML with saphyr, the library cspctl is built on;
#   - cspctl validate DIR;
#   - cspctl plan DIR in every format (text, json, markdown, github; NO_COLOR=1,
#     output kept for the summary) against four states:
#       create   an empty state: every object is created (the largest plan);
#       no-op    the state exactly as applied (converged-state.json): no changes;
#       drift    the state with the fixture's drift (state.json): a few changes;
#       scoped   the drifted state, `--target Subscription/NAME` (the first
#                subscription of the first customer file, or SCOPE=Kind/name);
#   - cspctl drift DIR --state STATE (exit 2: the fixture drifts on purpose);
#   - cspctl export --state STATE --out DIR2 --force (which also plans its output
#     against the state, to check the round trip).
# and prints wall time, CPU time (user + system), peak RSS, the ratios to the floor,
# and whether the targets hold: every plan, in every format, within 1.5x the parse
# floor's wall time and under 1 GiB peak memory.
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
#   SCOPE=K/N    the scoped plan's --target (default: see above)
#   CSPCTL=PATH  measure this cspctl binary instead of building one (to compare
#                releases on one fixture)
#   CSPCTL_NOW   the time plans are made at (default 2025-12-02T00:00:00Z, the
#                fixture's: see below)
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
cspctl=${CSPCTL:-$target_dir/release/cspctl}
gen_fixture=$target_dir/release/examples/gen-fixture
parse_floor=$target_dir/release/examples/parse-floor

manifests=$fixture/manifests
state=$fixture/state.json
converged=$fixture/converged-state.json
if [[ ${REUSE:-0} == 1 && -d $manifests && -f $state && -f $converged ]]; then
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
# `wall` (seconds), `cpu` (user + system seconds) and `rss` (KiB).
measure() {
    local name=$1
    shift
    local walls=() cpus=() rsses=() i seconds kib user system
    for ((i = 1; i <= runs; i++)); do
        echo "plan-bench: $name, run $i of $runs" >&2
        if ! /usr/bin/time -f '%e s %M KiB %U %S' -o "$work/time" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
            echo "plan-bench: $name failed ($*):" >&2
            tail -n 20 "$work/$name.err" >&2
            tail -n 2 "$work/time" >&2
            exit 1
        fi
        read -r seconds _ kib _ user system < <(tail -n 1 "$work/time")
        walls+=("$seconds")
        cpus+=("$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')")
        rsses+=("$kib")
    done
    wall=$(printf '%s\n' "${walls[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
    rss=$(printf '%s\n' "${rsses[@]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
}

measure floor "$parse_floor" "$manifests"
floor_wall=$wall floor_cpu=$cpu floor_rss=$rss
# The fixture's tenant lives at its own time (its purchases are of 2025-12-01): the
# plans are made at that time, so that the no-op plan is one whatever day the
# benchmark runs (later, a month-long term without auto-renew has ended, and the
# manifest that still declares it asks to buy it again).
export CSPCTL_NOW=${CSPCTL_NOW:-2025-12-02T00:00:00Z}
measure validate env NO_COLOR=1 "$cspctl" validate "$manifests"
validate_wall=$wall validate_cpu=$cpu validate_rss=$rss

# The scoped plan's target: the first subscription declared in the first customer file.
if [[ -n ${SCOPE:-} ]]; then
    scope=$SCOPE
else
    first_file=$(find "$manifests/customers" -name '*.yaml' | LC_ALL=C sort | sed -n 1p)
    scope=Subscription/$(awk '/^kind: Subscription/ { found = 1 } found && /^  name: / { print $2; exit }' "$first_file")
fi
# No file there: the local backend starts from an empty tenant.
empty_state=$work/empty-state.json

# One row per plan: "scenario format wall rss", in the order measured.
plans=()
for scenario in create no-op drift scoped; do
    case $scenario in
        create) args=(--state "$empty_state") ;;
        no-op) args=(--state "$converged") ;;
        drift) args=(--state "$state") ;;
        scoped) args=(--state "$state" --target "$scope") ;;
    esac
    for format in text json markdown github; do
        measure "plan-$scenario-$format" env NO_COLOR=1 "$cspctl" plan "$manifests" "${args[@]}" --format "$format"
        plans+=("$scenario $format $wall $cpu $rss")
    done
done
# drift exits 2 when it finds drift, which this fixture has.
measure drift sh -c '"$0" drift "$1" --state "$2"; [ $? -eq 2 ]' "$cspctl" "$manifests" "$state"
drift_wall=$wall drift_cpu=$cpu drift_rss=$rss
measure export "$cspctl" export --state "$state" --out "$work/export" --force
export_wall=$wall export_cpu=$cpu export_rss=$rss

floor_line=$(tail -n 1 "$work/floor.out")

echo
echo "cspctl plan benchmark: $customers customers, $subscriptions subscriptions, $support_contacts support contacts, $resellers resellers, ${drift}% drift, seed $seed"
echo "fixture: ${floor_line#parse-floor: }"
for scenario in create no-op drift scoped; do
    printf '%-8s %s\n' "$scenario:" "$(grep -E '^(Plan:|No changes)' "$work/plan-$scenario-text.out" | tail -n 1)"
done
echo "scoped:  --target $scope"
echo "drift:   $(tail -n 1 "$work/drift.out")"
echo "export:  $(tail -n 1 "$work/export.err")"
for scenario in create drift; do
    echo "$scenario plan outputs: json $(wc -c <"$work/plan-$scenario-json.out") bytes; markdown comment $(wc -c <"$work/plan-$scenario-markdown.out") bytes; github annotations $(grep -c '^::' "$work/plan-$scenario-github.out" || true) lines"
done
echo "median of $runs run(s) each"
echo

# The table and the verdicts, from rows "kind name wall cpu kib"; the targets are
# on wall time (CPU time, user + system, is shown too: on a busy machine it varies
# less, and it counts the work of both threads cspctl reads with).
{
    echo "floor parse-floor $floor_wall $floor_cpu $floor_rss"
    echo "other validate $validate_wall $validate_cpu $validate_rss"
    for row in "${plans[@]}"; do
        read -r scenario format wall cpu rss <<<"$row"
        echo "plan $scenario/$format $wall $cpu $rss"
    done
    echo "other drift $drift_wall $drift_cpu $drift_rss"
    echo "other export $export_wall $export_cpu $export_rss"
} | awk -v target="$floor_target" -v limit="$memory_target_kib" '
    $1 == "floor" { fw = $3; fc = $4 }
    { kind[NR] = $1; name[NR] = $2; wall[NR] = $3; cpu[NR] = $4; kib[NR] = $5 }
    END {
        printf "%-24s %9s %9s %8s %9s %12s  %s\n", "measurement", "wall", "vs floor", "CPU", "vs floor", "peak RSS", "targets"
        worst_ratio = 0; worst_kib = 0
        for (i = 1; i <= NR; i++) {
            ratio = fw > 0 ? wall[i] / fw : 0
            cpu_ratio = fc > 0 ? cpu[i] / fc : 0
            verdict = ""
            if (kind[i] == "plan") {
                ok = fw > 0 && ratio <= target && kib[i] < limit
                verdict = ok ? "met" : "MISSED"
                if (ratio > worst_ratio) { worst_ratio = ratio; worst_ratio_name = name[i] }
                if (kib[i] > worst_kib) { worst_kib = kib[i]; worst_kib_name = name[i] }
            }
            label = kind[i] == "plan" ? "plan " name[i] : kind[i] == "floor" ? "parse floor (saphyr)" : "cspctl " name[i]
            printf "%-24s %7.2f s %8.2fx %6.2f s %8.2fx %8.1f MiB  %s\n", label, wall[i], ratio, cpu[i], cpu_ratio, kib[i] / 1024, verdict
        }
        printf "\ntarget: every plan within %.1fx the parse floor:  %s (slowest: %s, %.2fx)\n", target, (worst_ratio <= target && fw > 0 ? "MET" : "MISSED"), worst_ratio_name, worst_ratio
        printf "target: every plan under 1 GiB peak memory: %s (largest: %s, %.1f MiB)\n", (worst_kib < limit ? "MET" : "MISSED"), worst_kib_name, worst_kib / 1024
    }' >"$work/table"
cat "$work/table"
if [[ ${STRICT:-0} == 1 ]] && grep -q MISSED "$work/table"; then
    exit 3
fi

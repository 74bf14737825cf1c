#!/usr/bin/env bash
# Apply throughput under Partner Center's rate limits, against the simulator.
#
# 1. Generates a fixture (examples/gen-fixture.rs: CUSTOMERS customers holding
#    SUBSCRIPTIONS subscriptions, no support contacts) and starts `cspctl sim serve
#    --sandbox` with LATENCY_MS of latency per request.
# 2. Setup, not measured: applies the manifests with every other subscription left
#    out, without a rate limit.
# 3. Measured: sets the simulator's limit to PARTNER_RPM requests per minute per
#    partner (PUT /_sim/faults; this also refills the token bucket), then applies the
#    full manifests with every quantity raised by one: about SUBSCRIPTIONS / 2
#    purchases and SUBSCRIPTIONS / 2 quantity updates.
#    Reports the wall time, the requests the apply made and how many were answered
#    429, and the rate-limit bound: a token bucket of PARTNER_RPM tokens refilled at
#    PARTNER_RPM / 60 per second lets `requests` through in no less than
#    (requests - PARTNER_RPM) / (PARTNER_RPM / 60) seconds. Efficiency = bound / wall.
# 4. A no-op plan's API calls against the minimum the API allows (as bench/read-calls.sh).
#
# Usage: bench/apply-bench.sh [WORK_DIR]
# Environment: CUSTOMERS=200 SUBSCRIPTIONS=2000 RESELLERS=5 PARTNER_RPM=3000
#              LATENCY_MS=20-60 PARALLELISM=10; CARGO_TARGET_DIR is honoured.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
target=${CARGO_TARGET_DIR:-$repo/target}
cspctl="$target/release/cspctl"
rpm=${PARTNER_RPM:-3000}
latency=${LATENCY_MS:-20-60}

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin cspctl --example gen-fixture
rm -rf "$work/fixture" "$work/setup" "$work/measured"
"$target/release/examples/gen-fixture" --out "$work/fixture" \
  --customers "${CUSTOMERS:-200}" --subscriptions "${SUBSCRIPTIONS:-2000}" \
  --support-contacts 0 --resellers "${RESELLERS:-5}" --drift 0 >/dev/null

# Rewrites every manifest: `drop` leaves out every other Subscription document (setup),
# `bump` raises every quantity by one (measured).
rewrite() {
  local mode=$1 from=$2 to=$3
  (cd "$from" && find . -name '*.yaml') | while read -r file; do
    mkdir -p "$(dirname "$to/$file")"
    awk -v mode="$mode" '
      function flush() {
        if (doc != "" && !(mode == "drop" && doc ~ /kind: Subscription/ && (++subs % 2) == 0)) printf "%s", doc
        doc = ""
      }
      /^---/ { flush(); doc = $0 "\n"; next }
      mode == "bump" && $1 == "quantity:" { sub(/quantity: [0-9]+/, "quantity: " ($2 + 1)) }
      { doc = doc $0 "\n" }
      END { flush() }' "$from/$file" > "$to/$file"
  done
}
rewrite drop "$work/fixture/manifests" "$work/setup"
rewrite bump "$work/fixture/manifests" "$work/measured"

"$cspctl" sim serve --listen 127.0.0.1:0 --sandbox --provisioning-delay 0 --order-list-lag 0 \
  --latency-ms "$latency" > "$work/sim.out" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/sim.out")

export CSPCTL_PC_TENANT_ID=d2c6a5f0-6b1e-4c1a-9f3e-5b7d2a9c0e11 CSPCTL_PC_CLIENT_ID=cspctl-sim \
       CSPCTL_PC_CLIENT_SECRET=sim-secret CSPCTL_PC_REFRESH_TOKEN=sim-refresh-token NO_COLOR=1
pc=(--backend partner-center --sandbox --endpoint "$url" --authority "$url" --journal "$work/journal")
parallel=(--parallelism "${PARALLELISM:-10}")
stats() { curl -s "$url/_sim/stats"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
now() { date +%s.%N; }

"$cspctl" apply "$work/setup" "${pc[@]}" "${parallel[@]}" --auto-approve > "$work/setup.out" 2>&1 || true
echo "setup: $(tail -1 "$work/setup.out")"

curl -s -X PUT "$url/_sim/faults" -H 'content-type: application/json' \
  -d "{\"partnerRequestsPerMinute\":$rpm,\"latencyMinMs\":${latency%-*},\"latencyMaxMs\":${latency#*-}}" > /dev/null
"$cspctl" plan "$work/measured" "${pc[@]}" --format json 2>/dev/null \
  | python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; print("measured plan:", s["total"], "actions", json.dumps(s["by_type"]))'
# That plan used some of the bucket; refill it so the measured apply starts full.
curl -s -X PUT "$url/_sim/faults" -H 'content-type: application/json' \
  -d "{\"partnerRequestsPerMinute\":$rpm,\"latencyMinMs\":${latency%-*},\"latencyMaxMs\":${latency#*-}}" > /dev/null

before=$(stats)
start=$(now)
"$cspctl" apply "$work/measured" "${pc[@]}" "${parallel[@]}" --auto-approve > "$work/measured.out" 2>&1 || true
end=$(now)
after=$(stats)
echo "measured apply: $(tail -1 "$work/measured.out")"
python3 - "$before" "$after" "$start" "$end" "$rpm" <<'EOF'
import json, sys
before, after = json.loads(sys.argv[1]), json.loads(sys.argv[2])
start, end, rpm = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
requests = after["requests"] - before["requests"] - 1  # less the stats request itself
throttled = after["throttled"] - before["throttled"]
wall = end - start
bound = max(0, requests - rpm) / (rpm / 60)
print(f"  {requests} API requests in {wall:.1f} s; {throttled} answered 429 ({100 * throttled / max(1, requests):.2f}%)")
print(f"  rate-limit bound at {rpm}/min (bucket of {rpm}): {bound:.1f} s; efficiency {100 * bound / wall:.1f}% of the bound")
print(f"  throughput {60 * requests / wall:.0f} requests/min against a limit of {rpm}/min")
EOF

# A no-op plan's calls, without the limit, against the minimum the API allows.
curl -s -X PUT "$url/_sim/faults" -H 'content-type: application/json' -d '{}' > /dev/null
before=$(stats | field requests)
"$cspctl" plan "$work/measured" "${pc[@]}" --detailed-exitcode > "$work/noop.out" 2>&1 && code=0 || code=$?
after=$(stats | field requests)
echo "no-op plan: exit $code, $((after - before - 1)) API calls"
curl -s "$url/_sim/state" | python3 -c '
import json, math, sys
state = json.load(sys.stdin)
customers = len(state["customers"])
subs = state["subscriptions"]
subs = subs.values() if isinstance(subs, dict) else subs
legacy = sum(1 for s in subs if ":" not in s["offerId"] and s["status"] not in ("deleted", "expired", "disabled"))
minimum = 2 + math.ceil(customers / 500) + 4 * customers + legacy
print(f"  minimum: {minimum} calls ({customers} customers, {legacy} live legacy subscriptions)")'

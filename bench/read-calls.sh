#!/usr/bin/env bash
# How many API calls `cspctl plan --backend partner-center` makes to read a tenant,
# against the least the Partner Center API allows, and how long it takes; then what
# the same plan costs from the snapshot refreshed from the audit log, and what a
# plan scoped to one subscription (`--target`) costs.
#
# Generates a fixture with examples/gen-fixture.rs, starts `cspctl sim serve
# --sandbox` (no faults, provisioning at once), adds the fixture's resellers as
# partnerships that exist (`sim add-reseller`), applies the manifests through the
# partner-center backend, then runs plan --refresh=full RUNS times and reads the simulator's request
# counter (GET /_sim/stats, less its own request) around each run. The minimum is what
# the API needs to produce the same snapshot:
#   1 token + 1 reseller list + ceil(customers / 500) customer pages
#   + 4 per customer (profile, reseller relationships, agreements, subscriptions)
#   + 1 per live legacy subscription (support contact; new commerce has none).
# (`--sandbox` skips the relationship-request link, which production reads once.)
#
# With PARTNER_RPM and/or CUSTOMER_RPM, the simulator throttles each plan run (not
# the apply) with those requests/minute per partner / per (partner, customer), its
# buckets reset before each run, and each run also reports how many requests were
# answered 429 and, with PARTNER_RPM, the least time the partner's bucket allows:
# (admitted requests - PARTNER_RPM burst) / (PARTNER_RPM / 60) seconds.
#
# Usage: bench/read-calls.sh [FIXTURE_DIR]
# Environment: CUSTOMERS=200 SUBSCRIPTIONS=1000 SUPPORT_CONTACTS=200 RESELLERS=5
#              RUNS=3 PARTNER_RPM= CUSTOMER_RPM=; CARGO_TARGET_DIR is honoured.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
target=${CARGO_TARGET_DIR:-$repo/target}
cspctl="$target/release/cspctl"
runs=${RUNS:-3}

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin cspctl --example gen-fixture
rm -rf "$work/fixture"
"$target/release/examples/gen-fixture" --out "$work/fixture" \
  --customers "${CUSTOMERS:-200}" --subscriptions "${SUBSCRIPTIONS:-1000}" \
  --support-contacts "${SUPPORT_CONTACTS:-200}" --resellers "${RESELLERS:-5}" --drift 0 >/dev/null

"$cspctl" sim serve --listen 127.0.0.1:0 --sandbox --provisioning-delay 0 --order-list-lag 0 \
  > "$work/sim.out" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/sim.out")

export CSPCTL_PC_TENANT_ID=d2c6a5f0-6b1e-4c1a-9f3e-5b7d2a9c0e11 CSPCTL_PC_CLIENT_ID=cspctl-sim \
       CSPCTL_PC_CLIENT_SECRET=sim-secret CSPCTL_PC_REFRESH_TOKEN=sim-refresh-token NO_COLOR=1
pc=(--backend partner-center --sandbox --endpoint "$url" --authority "$url")

# The fixture's resellers declare their tenant ids, so they are partnerships that
# already exist (a sandbox creates only resellers declared without one): each
# accepts the provider's invitation first, as `sim add-reseller` plays it. Without
# this every reseller, and all that needs it, would stay a manual step.
awk '/tenantId:/ {t=$2} /mpnId:/ {gsub(/"/, "", $2); m=$2}
     /displayName:/ {sub(/^ *displayName: */, ""); n=$0} /location:/ {print t, m, $2, n}' \
  "$work/fixture/manifests/resellers.yaml" |
  while read -r tenant mpn location name; do
    "$cspctl" sim add-reseller --endpoint "$url" --tenant-id "$tenant" --mpn-id "$mpn" \
      --name "$name" --location "$location" >/dev/null
  done

start=$(date +%s.%N)
"$cspctl" apply "$work/fixture/manifests" "${pc[@]}" --auto-approve > "$work/apply.out" 2>&1 || true
end=$(date +%s.%N)
echo "apply: $(grep -h '^Apply' "$work/apply.out"); $(grep -h 'Partner Center calls' "$work/apply.out") ($(python3 -c "print(f'{$end-$start:.1f}')") s)"

partner_rpm=${PARTNER_RPM:-} customer_rpm=${CUSTOMER_RPM:-}
limit() {
  [ -n "$partner_rpm$customer_rpm" ] || return 0
  curl -sf -X PUT "$url/_sim/faults" -H 'content-type: application/json' \
    -d "{\"partnerRequestsPerMinute\":${partner_rpm:-null},\"customerRequestsPerMinute\":${customer_rpm:-null}}" >/dev/null
}
stat() { curl -s "$url/_sim/stats" | python3 -c "import json,sys; s=json.load(sys.stdin); print(s['requests'], s['throttled'])"; }
for run in $(seq "$runs"); do
  limit
  read -r before throttled_before < <(stat)
  start=$(date +%s.%N)
  "$cspctl" plan "$work/fixture/manifests" "${pc[@]}" --refresh=full > /dev/null 2>&1 || true
  end=$(date +%s.%N)
  read -r after throttled_after < <(stat)
  calls=$((after - before - 1))
  echo "full plan run $run (--refresh=full): $calls API calls in $(python3 -c "print(f'{$end-$start:.2f}')") s"
  if [ -n "$partner_rpm$customer_rpm" ]; then
    throttled=$((throttled_after - throttled_before))
    python3 -c "
calls, throttled, rpm, took = $calls, $throttled, '$partner_rpm', $end - $start
line = f'  {throttled} answered 429 ({100 * throttled / calls:.1f} %)'
if rpm:
    bound = max(0, calls - throttled - int(rpm)) / (int(rpm) / 60)
    line += f'; partner bound {bound:.1f} s, {100 * bound / took:.0f} % of it reached' if took else ''
print(line)"
  fi
done

[ -z "$partner_rpm$customer_rpm" ] || curl -sf -X PUT "$url/_sim/faults" -H 'content-type: application/json' -d '{}' >/dev/null

# The same plan from the snapshot the full reads left, refreshed from the audit log.
read -r before _ < <(stat)
start=$(date +%s.%N)
"$cspctl" plan "$work/fixture/manifests" "${pc[@]}" > "$work/refreshed.out" 2>&1 || true
end=$(date +%s.%N)
read -r after _ < <(stat)
echo "refreshed plan (snapshot + audit log): $((after - before - 1)) API calls in $(python3 -c "print(f'{$end-$start:.2f}')") s; it says: $(grep -h 'Partner Center calls' "$work/refreshed.out")"

# A pull request that touches one subscription: the scoped plan reads its customer.
sub=$(grep -rh -A2 '^kind: Subscription' "$work/fixture/manifests" | sed -n 's/^  name: //p' | head -1 || true)
read -r before _ < <(stat)
"$cspctl" plan "$work/fixture/manifests" "${pc[@]}" --target "Subscription/$sub" > "$work/scoped.out" 2>&1 || true
read -r after _ < <(stat)
echo "scoped plan (--target Subscription/$sub): $((after - before - 1)) API calls; it says: $(grep -h 'Partner Center calls' "$work/scoped.out")"

curl -s "$url/_sim/state" | python3 -c '
import json, math, sys
state = json.load(sys.stdin)
customers = len(state["customers"])
subs = state["subscriptions"]
subs = subs.values() if isinstance(subs, dict) else subs
legacy = sum(1 for s in subs if ":" not in s["offerId"] and s["status"] not in ("deleted", "expired", "disabled"))
minimum = 2 + math.ceil(customers / 500) + 4 * customers + legacy
print(f"minimum: {minimum} calls ({customers} customers, {legacy} live legacy subscriptions)")'

#!/usr/bin/env bash
# Measures the simulator's state at the scale of a large tenant: builds
# SIM_SCALE_CUSTOMERS customers (default 20,000) with five subscriptions each, every
# one bought through its own cart, through the public `State` operations (with the
# idempotency cache the HTTP layer keeps), then prints the time taken, the state
# file's size field by field, and the peak memory.
#
#   bench/sim-state-scale.sh                          # 20,000 customers
#   SIM_SCALE_CUSTOMERS=2000 bench/sim-state-scale.sh # a quicker look
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --lib sim::state::tests::scale_measurement -- --ignored --nocapture

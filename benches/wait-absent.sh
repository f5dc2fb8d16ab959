#!/usr/bin/env bash
# wait-absent latency versus `kubectl wait --for=delete` on the same sandbox: the time
# from the deletion of the last object to the waiter's exit, medians over trials.
#
#   benches/wait-absent.sh [TRIALS] [KUBECTL]
#
# PROFILE=dev skips the release build (slower to run, much faster to build).
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-30}"
kubectl="${2:-kubectl}"
profile="${PROFILE:-release}"
if ! command -v "$kubectl" >/dev/null 2>&1; then
  echo "kubectl not found ($kubectl); pass its path as the second argument" >&2
  exit 2
fi
cargo build --quiet --profile "$profile" --example wait_absent_bench
dir=release
[ "$profile" = dev ] && dir=debug
exec "target/$dir/examples/wait_absent_bench" --trials "$trials" --kubectl "$kubectl"

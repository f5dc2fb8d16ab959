#!/bin/sh
# Post-deployment health check: Flux reconciles through its own controllers again,
# so the Helm fallback path is no longer needed.
set -eu
ns="${FLUX_NAMESPACE:-flux-system}"
flux check --namespace "$ns"
if ! flux get kustomizations --namespace "$ns" | grep -q "True"; then
  echo "flux-health-check: kustomizations in $ns are not Ready; keep the Helm fallback" >&2
  exit 1
fi
echo "flux-health-check: Flux healthy in $ns; the Helm fallback path is not needed"

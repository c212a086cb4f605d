#!/usr/bin/env bash
# The demo: with Firedrill deployed on the local cluster, apply the sample workload and experiment
# and show what Firedrill made of it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
KUBECTL="$(hack/k8s-binaries.sh 2>/dev/null)/kubectl"
k() { "$KUBECTL" "$@"; }

k apply -f config/samples/demo-app.yaml
k -n firedrill-demo rollout status deployment/checkout --timeout=120s
k apply -f config/samples/chaos_v1alpha1_experiment.yaml
k -n firedrill-demo wait --for=condition=TargetsSelected --timeout=60s experiment/checkout-podkill
echo
echo "== kubectl get chaos -n firedrill-demo"
k get chaos -n firedrill-demo
echo
echo "== events"
k -n firedrill-demo get events --field-selector involvedObject.kind=Experiment
echo
echo "== conditions of experiment/checkout-podkill"
k -n firedrill-demo get experiment checkout-podkill \
  -o jsonpath='{range .status.conditions[*]}{.type}={.status} reason={.reason} message="{.message}"{"\n"}{end}'

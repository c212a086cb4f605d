#!/usr/bin/env bash
# The demo: with Firedrill deployed on the local cluster, run the sample workload through a dry run,
# a real PodKill and a game day, and show what Firedrill recorded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
KUBECTL="$(hack/k8s-binaries.sh 2>/dev/null)/kubectl"
k() { "$KUBECTL" "$@"; }
conditions() {
  k -n firedrill-demo get experiment "$1" \
    -o jsonpath='{range .status.conditions[*]}  {.type}={.status} reason={.reason} message="{.message}"{"\n"}{end}'
}

k apply -f config/samples/demo-app.yaml
k -n firedrill-demo rollout status deployment/checkout --timeout=120s
# Start from a clean slate when the demo is run again.
k -n firedrill-demo delete gameday checkout-demo --ignore-not-found >/dev/null
k -n firedrill-demo delete experiment checkout-podkill checkout-kill-half --ignore-not-found >/dev/null

k apply -f config/samples/chaos_v1alpha1_experiment.yaml
k -n firedrill-demo wait --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s experiment/checkout-podkill
k apply -f config/samples/chaos_v1alpha1_experiment_podkill.yaml
k -n firedrill-demo wait --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s experiment/checkout-kill-half
k -n firedrill-demo rollout status deployment/checkout --timeout=120s
k apply -f config/samples/demo-gameday.yaml
k -n firedrill-demo wait --for=jsonpath='{.status.phase}'=Succeeded --timeout=180s gameday/checkout-demo
echo
echo "== kubectl get chaos -n firedrill-demo -o wide"
k get chaos -n firedrill-demo -o wide
echo
echo "== events"
k -n firedrill-demo get events --field-selector involvedObject.kind=Experiment --sort-by=.lastTimestamp
echo
echo "== targets of experiment/checkout-kill-half"
k -n firedrill-demo get experiment checkout-kill-half \
  -o jsonpath='{range .status.targets[*]}  {.namespace}/{.name} on {.node}: {.state} (killed {.injectedAt}, recovered {.recoveredAt}){"\n"}{end}'
k -n firedrill-demo get experiment checkout-kill-half \
  -o jsonpath='{range .status.workloads[*]}  {.kind} {.namespace}/{.name}: {.desiredReplicas} replicas, whole again {.timeToRecover} after the kill{"\n"}{end}'
echo
echo "== conditions of experiment/checkout-podkill (dry run)"
conditions checkout-podkill
echo "== conditions of experiment/checkout-kill-half"
conditions checkout-kill-half
echo
echo "== steps of gameday/checkout-demo"
k -n firedrill-demo get gameday checkout-demo \
  -o jsonpath='{range .status.steps[*]}  {.name}: {.phase} {.experiment} ({.startedAt} to {.finishedAt}){"\n"}{end}'
echo "== conditions of gameday/checkout-demo"
k -n firedrill-demo get gameday checkout-demo \
  -o jsonpath='{range .status.conditions[*]}  {.type}={.status} reason={.reason} message="{.message}"{"\n"}{end}'

#!/usr/bin/env bash
# Applies Firedrill to the cluster of the current KUBECONFIG (or removes it).
#   hack/deploy.sh deploy|undeploy
# Against the local cluster (its kubeconfig) it applies config/local, whose images are never
# pulled; against any other cluster, config/default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE="${FIREDRILL_CACHE:-$HOME/.cache/firedrill}"
KUBECTL="$(hack/k8s-binaries.sh 2>/dev/null)/kubectl"
overlay=config/default
[[ "${KUBECONFIG:-}" == "$CACHE/cluster/kubeconfig" ]] && overlay=config/local
k() { "$KUBECTL" "$@"; }

case "${1:-}" in
deploy)
  t0=$(date +%s%3N)
  if [[ $overlay == config/local ]]; then
    for img in manager agent; do
      ctr --address /run/firedrill/containerd/containerd.sock -n k8s.io images check "name==firedrill.dev/$img:dev" 2>/dev/null | grep -q "firedrill.dev/$img:dev" ||
        { echo "[deploy] image firedrill.dev/$img:dev is not loaded in the local cluster: run make images" >&2; exit 1; }
    done
  fi
  existed=$(k -n firedrill-system get deployment firedrill-manager --ignore-not-found -o name)
  k apply -k config/crd >/dev/null
  k wait --for condition=Established --timeout=60s crd/experiments.chaos.firedrill.dev crd/gamedays.chaos.firedrill.dev crd/emergencystops.chaos.firedrill.dev >/dev/null
  k apply -k "$overlay"
  # A redeploy of the same tag must run the newly loaded image.
  [[ -n $existed ]] && k -n firedrill-system rollout restart deployment/firedrill-manager daemonset/firedrill-agent >/dev/null
  k -n firedrill-system rollout status deployment/firedrill-manager --timeout=120s
  k -n firedrill-system rollout status daemonset/firedrill-agent --timeout=120s
  echo "[deploy] Firedrill is running ($overlay) in $(( $(date +%s%3N) - t0 )) ms" >&2
  ;;
undeploy)
  # Experiments and game days go first, while the manager and the agents still run to remove
  # their faults. If they are not gone in time Firedrill stays: deleting the agents would leave
  # network faults in pods until those pods restart.
  if k get crd experiments.chaos.firedrill.dev >/dev/null 2>&1; then
    if ! k delete experiments.chaos.firedrill.dev,gamedays.chaos.firedrill.dev --all-namespaces --all --ignore-not-found --timeout=120s; then
      echo "[undeploy] experiments or game days are still removing their faults (kubectl get experiments,gamedays -A); Firedrill is left running so they can: run undeploy again once they are gone" >&2
      exit 1
    fi
  fi
  k delete -k "$overlay" --ignore-not-found --timeout=120s
  ;;
*) echo "usage: $0 deploy|undeploy" >&2; exit 2 ;;
esac

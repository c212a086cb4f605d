#!/usr/bin/env bash
# Builds the project's images from its own static binaries (no base image is pulled) and loads
# them into the local cluster's containerd.
#   hack/images.sh               manager, agent, pause and netprobe (the e2e tests' traffic tool)
#   hack/images.sh --pause-only  the pause image only (cluster bring-up needs it before the kubelet)
#   IMAGES_NO_LOAD=1 hack/images.sh   only write the tarballs (for loading into another cluster)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE="${FIREDRILL_CACHE:-$HOME/.cache/firedrill}"
OUT="$CACHE/images"
CTR_SOCK=/run/firedrill/containerd/containerd.sock
TAG="${IMAGE_TAG:-dev}"
mkdir -p "$OUT/bin"
t0=$(date +%s%3N)

targets=(./hack/pause)
[[ "${1:-}" == "--pause-only" ]] || targets+=(./cmd/manager ./cmd/agent ./hack/netprobe)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/bin/" "${targets[@]}" ./hack/imagebuild

build() { # binary ref user
  "$OUT/bin/imagebuild" -binary "$OUT/bin/$1" -ref "$2" -user "$3" -out "$OUT/$1.tar"
}
build pause "firedrill.dev/pause:$TAG" ""
if [[ "${1:-}" != "--pause-only" ]]; then
  build manager "firedrill.dev/manager:$TAG" 65532
  # The agent enters other pods' network namespaces: it runs as root with only the capabilities
  # its DaemonSet grants.
  build agent "firedrill.dev/agent:$TAG" ""
  build netprobe "firedrill.dev/netprobe:$TAG" 65532
fi
built=$(( $(date +%s%3N) - t0 ))

if [[ -z "${IMAGES_NO_LOAD:-}" ]]; then
  [[ -S $CTR_SOCK ]] || { echo "[images] the local cluster's containerd is not running ($CTR_SOCK): make cluster-up" >&2; exit 1; }
  for t in "$OUT"/*.tar; do
    case "$(basename "$t")" in pause.tar) ;; *) [[ "${1:-}" == "--pause-only" ]] && continue ;; esac
    ctr --address "$CTR_SOCK" -n k8s.io images import "$t" >/dev/null
  done
fi
total=$(( $(date +%s%3N) - t0 ))
echo "[images] built in ${built} ms, built and loaded in ${total} ms ($OUT)" >&2

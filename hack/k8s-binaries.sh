#!/usr/bin/env bash
# Builds the pinned Kubernetes and etcd binaries from source through the Go module proxy and caches
# them outside the repo. No prebuilt binary is downloaded: this machine can reach only the module
# proxy and Debian's packages.
#
#   hack/k8s-binaries.sh          build (no-op when cached) and print the bin directory
#
# Honours KUBEBUILDER_ASSETS: when it is set and holds kube-apiserver, etcd and kubectl, nothing is
# built and that directory is printed.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.1}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${FIREDRILL_CACHE:-$HOME/.cache/firedrill}"
ROOT="$CACHE/k8s/$K8S_VERSION"
BIN="$ROOT/bin"
BINARIES=(kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler kube-proxy)

log() { echo "[k8s-binaries] $*" >&2; }

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  if [[ -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" && -x "$KUBEBUILDER_ASSETS/kubectl" ]]; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"
    exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver/etcd/kubectl; building into $BIN"
fi

missing=()
for b in "${BINARIES[@]}" etcd; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 && -f "$ROOT/.complete" ]]; then
  log "cached: $BIN"
  echo "$BIN"
  exit 0
fi

mkdir -p "$BIN"
start=$(date +%s)
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
  kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller streaming)
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

# Wrapper module: k8s.io/kubernetes cannot be required directly because its go.mod replaces every
# staging module with a relative path; point those at their published releases instead.
SRC="$ROOT/src"
mkdir -p "$SRC"
if [[ ! -f "$SRC/go.sum" ]]; then
  log "preparing wrapper module for k8s.io/kubernetes $K8S_VERSION"
  {
    echo "module firedrill.dev/k8sbuild"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do echo "	k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
    echo ")"
  } >"$SRC/go.mod"
  {
    echo "//go:build tools"
    echo "package tools"
    echo "import ("
    for b in "${BINARIES[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
    echo ")"
  } >"$SRC/tools.go"
  (cd "$SRC" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>"$SRC/tidy.log" || { cat "$SRC/tidy.log" >&2; exit 1; })
fi

major="${K8S_VERSION#v}"; minor="${major#*.}"; minor="${minor%%.*}"; major="${major%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags+=" -X $pkg/verflag.programName=kubernetes"
targets=()
for b in "${BINARIES[@]}"; do targets+=("k8s.io/kubernetes/cmd/$b"); done
log "building ${BINARIES[*]} ($K8S_VERSION); a cold build takes about 15 minutes on 2 cores"
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/" "${targets[@]}")
log "kubernetes binaries built in $(( $(date +%s) - start ))s"

if [[ ! -x "$BIN/etcd" ]]; then
  ESRC="$ROOT/etcd-src"
  mkdir -p "$ESRC"
  log "building etcd $ETCD_VERSION"
  cat >"$ESRC/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  printf 'module firedrill.dev/etcdbuild\n\ngo 1.26\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$ESRC/go.mod"
  (cd "$ESRC" && GOFLAGS=-mod=mod go mod tidy >/dev/null && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" .)
fi

"$BIN/kube-apiserver" --version >&2
"$BIN/etcd" --version | head -1 >&2
touch "$ROOT/.complete"
log "done in $(( $(date +%s) - start ))s: $BIN"
echo "$BIN"

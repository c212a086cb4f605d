#!/usr/bin/env bash
# Regenerates deepcopy code, CRDs and RBAC roles with the controller-gen pinned in go.mod.
#   hack/generate.sh [OUT]   OUT defaults to the repository root; the freshness test passes a
#                            scratch directory and compares what lands there with what is committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-.}"
gen() { go tool controller-gen "$@"; }
gen object:headerFile=hack/boilerplate.go.txt paths=./api/... output:object:dir="$out/api/v1alpha1"
gen crd paths=./api/... output:crd:artifacts:config="$out/config/crd/bases"
gen rbac:roleName=firedrill-manager paths=./controllers/... paths=./cmd/manager/... paths=./experiments/... \
  paths=./internal/workload/... output:rbac:artifacts:config="$out/config/rbac/manager"
gen rbac:roleName=firedrill-agent paths=./internal/agent/... output:rbac:artifacts:config="$out/config/rbac/agent"

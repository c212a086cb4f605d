# Firedrill. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export FIREDRILL_CACHE ?= $(HOME)/.cache/firedrill
KUBECONFIG_LOCAL := $(FIREDRILL_CACHE)/cluster/kubeconfig
GO_TEST_FLAGS ?= -count=1

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-18s %s\n", $$1, $$2}'

##@ Generation

.PHONY: generate manifests
generate manifests: ## Regenerate deepcopy code, CRDs and RBAC roles.
	hack/generate.sh

##@ Build

.PHONY: build
build: ## Build the binaries into bin/.
	CGO_ENABLED=0 go build -trimpath -o bin/ ./cmd/...

.PHONY: k8s-binaries
k8s-binaries: ## Build the pinned Kubernetes and etcd binaries from source (cached).
	hack/k8s-binaries.sh >/dev/null

.PHONY: deps
deps: ## Install the Debian packages the cluster and tests need.
	hack/deps.sh

##@ Local cluster

.PHONY: cluster-up
cluster-up: deps k8s-binaries ## Bring up the single-node local cluster (idempotent).
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Tear the local cluster down, leaving nothing behind.
	hack/cluster.sh down

.PHONY: images
images: ## Build the manager, agent and pause images and load them into the local cluster.
	hack/images.sh

.PHONY: deploy
deploy: ## Apply config/default to the current kubeconfig's cluster.
	hack/deploy.sh deploy

.PHONY: undeploy
undeploy: ## Remove Firedrill from the current kubeconfig's cluster.
	hack/deploy.sh undeploy

.PHONY: demo
demo: cluster-up ## Local cluster, Firedrill deployed, sample experiments and a game day, and their conditions.
	KUBECONFIG=$(KUBECONFIG_LOCAL) $(MAKE) images deploy
	KUBECONFIG=$(KUBECONFIG_LOCAL) hack/demo.sh

##@ Tests

.PHONY: test
test: deps k8s-binaries test-unit test-kernel test-integration test-e2e ## Everything: unit, kernel, integration, end to end.

.PHONY: test-unit
test-unit: ## Unit tests (pure logic and generated-output freshness).
	go test $(GO_TEST_FLAGS) ./api/... ./internal/... ./controllers/... ./experiments/... ./cmd/... ./hack/...

.PHONY: test-kernel
test-kernel: ## netem tests (test/kernel) on Debian's stock kernel booted in QEMU.
	hack/kernel-test.sh

.PHONY: test-integration
test-integration: k8s-binaries ## envtest integration tests on the source-built apiserver and etcd.
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) go test $(GO_TEST_FLAGS) -tags integration ./test/integration/...

.PHONY: test-e2e
test-e2e: deps k8s-binaries ## End-to-end tests on the real local cluster (brought up and torn down).
	go test $(GO_TEST_FLAGS) -timeout 30m -tags e2e ./test/e2e/...

##@ Benchmarks

.PHONY: bench
bench: cluster-up ## PodKill latency on the local cluster against an ideal controller (BENCH_RUNS, default 100).
	KUBECONFIG=$(KUBECONFIG_LOCAL) $(MAKE) images deploy
	KUBECONFIG=$(KUBECONFIG_LOCAL) go test -count=1 -timeout 60m -tags bench -run TestBenchPodKill -v ./test/bench/ | grep -vE '^=== RUN'

.PHONY: bench-netlink
bench-netlink: deps ## One network fault applied+removed: the agent's netlink path vs nsenter + tc (as root).
	go test -count=1 -timeout 10m -tags bench -run TestBenchNetlink -v ./test/bench/ | grep -vE '^=== RUN'

.PHONY: bench-abort
bench-abort: deps k8s-binaries ## Game day abort latency: breaching sample queryable -> experiment Aborted (1 s interval, 30 runs).
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) go test -count=1 -timeout 20m -tags bench -run TestBenchAbort -v ./test/bench/ | grep -vE '^=== RUN'

.PHONY: bench-cache
bench-cache: deps ## Delete 1 M Redis keys by pattern: SCAN+UNLINK vs KEYS+DEL, with a concurrent client's worst stall (BENCH_CACHE_KEYS).
	go test -count=1 -timeout 20m -tags bench -run TestBenchCacheFlush -v ./test/bench/ | grep -vE '^=== RUN'

.PHONY: bench-capacity
bench-capacity: ## The capacity model against a real service (hack/capsvc, 1-4 replicas and one killed): throughput plateau and p99 knee, predicted vs measured.
	go test -count=1 -timeout 30m -tags bench -run TestBenchCapacity -v ./test/bench/ | grep -vE '^=== RUN'

.PHONY: bench-scale
bench-scale: k8s-binaries ## Manager RSS and PodKill latency with 1k and 50k pods (BENCH_SCALE_PODS).
	KUBEBUILDER_ASSETS=$$(hack/k8s-binaries.sh) go test -count=1 -timeout 60m -tags bench -run TestBenchScale -v ./test/bench/ | grep -vE '^=== RUN'

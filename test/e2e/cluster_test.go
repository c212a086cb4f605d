//go:build e2e

// Package e2e runs Firedrill on the real local cluster: hack/cluster.sh brings up etcd, the
// apiserver, controller-manager, scheduler, kubelet and kube-proxy with containerd, runc and the
// bridge CNI; Firedrill runs in it as pods built from this tree.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	root       = repoRoot()
	cache      = cacheDir()
	kubeconfig = filepath.Join(cache, "cluster", "kubeconfig")
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func cacheDir() string {
	if c := os.Getenv("FIREDRILL_CACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "firedrill")
}

// sh runs a command from the repository root against the local cluster and returns its output;
// a failure fails the test with that output.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := shErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func shErr(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return sh(t, filepath.Join(binDir(t), "kubectl"), args...)
}

var bin string

func binDir(t *testing.T) string {
	t.Helper()
	if bin == "" {
		bin = strings.TrimSpace(sh(t, "bash", "-c", "hack/k8s-binaries.sh 2>/dev/null"))
	}
	return bin
}

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestLocalCluster owns the local cluster for its run: it starts from nothing, brings the cluster
// up, deploys Firedrill as pods, sees an Experiment reconciled, and tears everything down again,
// checking that the host is exactly as it was.
func TestLocalCluster(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the local cluster needs root (kubelet, containerd, iptables): run as root, as CI does")
	}
	sh(t, "hack/cluster.sh", "down")
	before := sh(t, "hack/host-state.sh")
	tornDown := false
	t.Cleanup(func() {
		if !tornDown && os.Getenv("FIREDRILL_E2E_KEEP") == "" {
			if out, err := shErr("hack/cluster.sh", "down"); err != nil {
				t.Errorf("cluster down: %v\n%s", err, out)
			}
		}
	})

	t.Run("cluster comes up", func(t *testing.T) {
		sh(t, "hack/cluster.sh", "up")
		ms, err := os.ReadFile(filepath.Join(cache, "cluster", "bringup-ms"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bring-up time: %s ms", strings.TrimSpace(string(ms)))
		if got := kubectl(t, "get", "node", "firedrill-node", "-o", `jsonpath={.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}`); got != "v1.37.1 True" {
			t.Fatalf("node: %q, want a Ready v1.37.1 kubelet", got)
		}
	})

	t.Run("up is idempotent", func(t *testing.T) {
		pids := sh(t, "bash", "-c", "cat "+filepath.Join(cache, "cluster", "pids")+"/*")
		out := sh(t, "hack/cluster.sh", "up")
		if !strings.Contains(out, "already up") {
			t.Errorf("second up did not notice the running cluster:\n%s", out)
		}
		if again := sh(t, "bash", "-c", "cat "+filepath.Join(cache, "cluster", "pids")+"/*"); again != pids {
			t.Errorf("second up restarted components: pids %q became %q", pids, again)
		}
	})

	t.Run("every address stays on the machine", func(t *testing.T) {
		for dst, dev := range map[string]string{
			"10.96.0.10": "dev fdbr0", // a service IP: routed to the bridge, never the default route
			"10.244.9.9": "dev fdbr0", // a pod IP
			"10.231.0.1": "dev lo",    // the node IP
		} {
			if out := sh(t, "ip", "route", "get", dst); !strings.Contains(out, dev) {
				t.Errorf("route to %s: %q, want %s", dst, strings.TrimSpace(out), dev)
			}
		}
		guard := sh(t, "iptables", "-w", "-S", "FIREDRILL-GUARD")
		if !strings.Contains(guard, "-A FIREDRILL-GUARD -i fdbr0 -j DROP") {
			t.Errorf("no rule drops pod traffic leaving the bridge:\n%s", guard)
		}
		if fwd := sh(t, "iptables", "-w", "-S", "FORWARD"); !strings.Contains(fwd, "-A FORWARD -j FIREDRILL-GUARD") {
			t.Errorf("FORWARD does not jump to the guard chain:\n%s", fwd)
		}
	})

	t.Run("firedrill runs as pods", func(t *testing.T) {
		sh(t, "hack/images.sh")
		sh(t, "hack/deploy.sh", "deploy")
		kubectl(t, "get", "crd", "gamedays.chaos.firedrill.dev", "experiments.chaos.firedrill.dev")
		for _, app := range []string{"firedrill-manager", "firedrill-agent"} {
			got := kubectl(t, "-n", "firedrill-system", "get", "pods", "-l", "app.kubernetes.io/name="+app,
				"-o", `jsonpath={range .items[*]}{.status.phase}/{.status.containerStatuses[0].ready} {end}`)
			if strings.TrimSpace(got) != "Running/true" {
				t.Errorf("%s pods: %q, want one Running and ready", app, got)
			}
		}
		// The manager holds its leader-election lease.
		holder := kubectl(t, "-n", "firedrill-system", "get", "lease", "manager.chaos.firedrill.dev", "-o", "jsonpath={.spec.holderIdentity}")
		if !strings.HasPrefix(holder, "firedrill-manager-") {
			t.Errorf("lease holder %q is not a manager pod", holder)
		}
	})

	t.Run("an experiment applied with kubectl is reconciled", func(t *testing.T) {
		kubectl(t, "apply", "-f", "config/samples/demo-app.yaml")
		kubectl(t, "-n", "firedrill-demo", "rollout", "status", "deployment/checkout", "--timeout=120s")
		kubectl(t, "apply", "-f", "config/samples/chaos_v1alpha1_experiment.yaml")
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=condition=TargetsSelected", "--timeout=60s", "experiment/checkout-podkill")
		got := kubectl(t, "-n", "firedrill-demo", "get", "experiment", "checkout-podkill", "-o",
			`jsonpath={.status.selectedTargets} {.status.conditions[?(@.type=="TargetsSelected")].reason} {.status.observedGeneration}`)
		if got != "2 TargetsFound 1" {
			t.Errorf("status: %q, want \"2 TargetsFound 1\" (50%% of the 4 checkout pods)", got)
		}
		eventually(t, 30*time.Second, "TargetsFound event", func() error {
			ev := kubectl(t, "-n", "firedrill-demo", "get", "events", "--field-selector",
				"involvedObject.name=checkout-podkill,reason=TargetsFound", "-o", "name")
			if strings.TrimSpace(ev) == "" {
				return fmt.Errorf("no event yet")
			}
			return nil
		})
		// The sample is dry-run: no pod of the workload was touched.
		if n := kubectl(t, "-n", "firedrill-demo", "get", "pods", "-l", "app=checkout", "-o", "jsonpath={range .items[*]}{.metadata.deletionTimestamp}{end}"); n != "" {
			t.Errorf("dry-run experiment touched pods: %q", n)
		}
	})

	t.Run("manager metrics are served", func(t *testing.T) {
		eventually(t, 30*time.Second, "reconcile metrics", func() error {
			m, err := shErr(filepath.Join(binDir(t), "kubectl"), "get", "--raw",
				"/api/v1/namespaces/firedrill-system/services/firedrill-manager-metrics:metrics/proxy/metrics")
			if err != nil {
				return fmt.Errorf("%v: %s", err, m)
			}
			if !strings.Contains(m, `controller_runtime_reconcile_total{controller="experiment",result="success"}`) {
				return fmt.Errorf("no successful experiment reconcile in the metrics")
			}
			return nil
		})
	})

	t.Run("undeploy removes firedrill", func(t *testing.T) {
		sh(t, "hack/deploy.sh", "undeploy")
		if out, err := shErr(filepath.Join(binDir(t), "kubectl"), "get", "namespace", "firedrill-system"); err == nil && !strings.Contains(out, "Terminating") {
			t.Errorf("firedrill-system still there after undeploy: %s", out)
		}
	})

	t.Run("down leaves nothing behind", func(t *testing.T) {
		tornDown = true
		sh(t, "hack/cluster.sh", "down")
		after := sh(t, "hack/host-state.sh")
		if after != before {
			t.Errorf("host state differs after cluster down:\n%s", diffLines(before, after))
		}
	})
}

// diffLines lists the lines only one of a and b has.
func diffLines(a, b string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out []string
	for l, n := range ca {
		if cb[l] < n {
			out = append(out, "- "+l)
		}
	}
	for l, n := range cb {
		if ca[l] < n {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

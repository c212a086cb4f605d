//go:build e2e

// Package e2e runs Firedrill on the real local cluster: hack/cluster.sh brings up etcd, the
// apiserver, controller-manager, scheduler, kubelet and kube-proxy with containerd, runc and the
// bridge CNI; Firedrill runs in it as pods built from this tree.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
		// (Readiness does not wait for the lease: a standby replica is ready too.)
		eventually(t, 60*time.Second, "the manager's leader-election lease", func() error {
			holder, err := shErr(filepath.Join(binDir(t), "kubectl"), "-n", "firedrill-system", "get", "lease",
				"manager.chaos.firedrill.dev", "-o", "jsonpath={.spec.holderIdentity}")
			if err != nil || !strings.HasPrefix(holder, "firedrill-manager-") {
				return fmt.Errorf("lease holder %q is not a manager pod (%v)", holder, err)
			}
			return nil
		})
	})

	t.Run("an experiment applied with kubectl is reconciled", func(t *testing.T) {
		kubectl(t, "apply", "-f", "config/samples/demo-app.yaml")
		kubectl(t, "-n", "firedrill-demo", "rollout", "status", "deployment/checkout", "--timeout=120s")
		kubectl(t, "apply", "-f", "config/samples/chaos_v1alpha1_experiment.yaml")
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=condition=TargetsSelected", "--timeout=60s", "experiment/checkout-podkill")
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=60s", "experiment/checkout-podkill")
		got := kubectl(t, "-n", "firedrill-demo", "get", "experiment", "checkout-podkill", "-o",
			`jsonpath={.status.selectedTargets} {.status.conditions[?(@.type=="TargetsSelected")].reason} {.status.conditions[?(@.type=="Injected")].reason} {.status.observedGeneration}`)
		if got != "2 TargetsFound DryRun 1" {
			t.Errorf("status: %q, want \"2 TargetsFound DryRun 1\" (50%% of the 4 checkout pods, dry run)", got)
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

	t.Run("PodKill percent 50 kills two real pods and the Deployment recovers", func(t *testing.T) {
		before := podUIDs(t, "firedrill-demo", "app=checkout")
		if len(before) != 4 {
			t.Fatalf("%d checkout pods before the kill, want 4", len(before))
		}
		applyYAML(t, `apiVersion: chaos.firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: kill-half, namespace: firedrill-demo}
spec:
  action: PodKill
  selector:
    namespaces: [firedrill-demo]
    labelSelector: {matchLabels: {app: checkout}}
  mode: percent
  value: 50
  podKill: {gracePeriodSeconds: 0}
`)
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s", "experiment/kill-half")
		exp := getJSON[experimentStatus](t, "-n", "firedrill-demo", "get", "experiment", "kill-half")
		if len(exp.Status.Targets) != 2 {
			t.Fatalf("targets %+v, want 2", exp.Status.Targets)
		}
		// Planned when created, through the Service, by the manager's webhook (its own
		// certificate, trusted through the caBundle it set): the targets are the plan.
		planned := strings.Fields(kubectl(t, "-n", "firedrill-demo", "get", "experiment", "kill-half", "-o", "jsonpath={range .spec.plannedTargets[*]}{.uid} {end}"))
		after := podUIDs(t, "firedrill-demo", "app=checkout")
		for _, tg := range exp.Status.Targets {
			if !slices.Contains(planned, tg.UID) {
				t.Errorf("target %s (%s) is not in spec.plannedTargets %v: the plan webhook did not plan the kill", tg.Name, tg.UID, planned)
			}
			if !before[tg.UID] {
				t.Errorf("target %s/%s (%s) was not a checkout pod before", tg.Namespace, tg.Name, tg.UID)
			}
			if after[tg.UID] {
				t.Errorf("target %s is still there: it was not killed", tg.Name)
			}
			if tg.State != "Recovered" || tg.Node != "firedrill-node" {
				t.Errorf("target %+v: want Recovered on firedrill-node", tg)
			}
		}
		if len(after) != 4 {
			t.Errorf("%d checkout pods after recovery, want 4 (2 survivors, 2 replacements)", len(after))
		}
		if len(exp.Status.Workloads) != 1 || exp.Status.Workloads[0].Kind != "Deployment" || exp.Status.Workloads[0].TimeToRecover == "" {
			t.Fatalf("workloads %+v, want the checkout Deployment with its time to recover", exp.Status.Workloads)
		}
		t.Logf("checkout Deployment recovered %s after the kill", exp.Status.Workloads[0].TimeToRecover)
	})

	t.Run("zone outage kills every pod in the zone", func(t *testing.T) {
		before := podUIDs(t, "firedrill-demo", "app=checkout")
		applyYAML(t, `apiVersion: chaos.firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: zone-a-outage, namespace: firedrill-demo}
spec:
  action: PodKill
  selector:
    namespaces: [firedrill-demo]
    zone: zone-a
  mode: all
  podKill: {gracePeriodSeconds: 0}
`)
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s", "experiment/zone-a-outage")
		exp := getJSON[experimentStatus](t, "-n", "firedrill-demo", "get", "experiment", "zone-a-outage")
		if len(exp.Status.Targets) != len(before) {
			t.Errorf("zone outage hit %d pods, want all %d in zone-a", len(exp.Status.Targets), len(before))
		}
		for uid := range podUIDs(t, "firedrill-demo", "app=checkout") {
			if before[uid] {
				t.Errorf("pod %s in zone-a survived the zone outage", uid)
			}
		}
	})

	t.Run("network faults through the agent", netFaults)

	t.Run("game days guarded by an SLO", gameDays)

	t.Run("a schedule in a time zone", scheduledInAZone)

	t.Run("a cache flush through a Service, restored at the end", cacheFlush)

	t.Run("manager metrics are served", func(t *testing.T) {
		eventually(t, 30*time.Second, "reconcile metrics", func() error {
			m, err := shErr(filepath.Join(binDir(t), "kubectl"), "get", "--raw",
				"/api/v1/namespaces/firedrill-system/services/firedrill-manager-metrics:metrics/proxy/metrics")
			if err != nil {
				return fmt.Errorf("%v: %s", err, m)
			}
			// controller-runtime registers the series at 0: require a real count. The rounds
			// started since the manager last restarted (the network test scales it to zero; the
			// game days and the cache flush come after) must have been timed step by step too.
			reconciled, roundTimed := false, false
			for _, l := range strings.Split(m, "\n") {
				if v, ok := strings.CutPrefix(l, `controller_runtime_reconcile_total{controller="experiment",result="success"} `); ok && v != "0" {
					reconciled = true
				}
				if strings.HasPrefix(l, "firedrill_experiment_round_step_seconds_count{") && strings.Contains(l, `step="inject"`) && !strings.HasSuffix(l, " 0") {
					roundTimed = true
				}
			}
			switch {
			case !reconciled:
				return fmt.Errorf("no successful experiment reconcile counted in the metrics")
			case !roundTimed:
				return fmt.Errorf("no round's inject step timed in the metrics")
			}
			return nil
		})
	})

	if t.Failed() {
		out, _ := shErr(filepath.Join(binDir(t), "kubectl"), "-n", "firedrill-system", "logs", "deployment/firedrill-manager", "--tail=40")
		t.Logf("manager logs:\n%s", out)
	}

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

type experimentStatus struct {
	Status struct {
		Phase   string `json:"phase"`
		Targets []struct {
			Namespace, Name, UID, Node, State string
		} `json:"targets"`
		Workloads []struct {
			Kind, Name    string
			TimeToRecover string `json:"timeToRecover"`
		} `json:"workloads"`
	} `json:"status"`
}

func getJSON[T any](t *testing.T, args ...string) T {
	t.Helper()
	var v T
	out := kubectl(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return v
}

func podUIDs(t *testing.T, ns, selector string) map[string]bool {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "pods", "-l", selector, "-o", `jsonpath={range .items[*]}{.metadata.uid}{" "}{.metadata.deletionTimestamp}{"\n"}{end}`)
	uids := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 1 { // not terminating
			uids[f[0]] = true
		}
	}
	return uids
}

func applyYAML(t *testing.T, doc string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir(t), "kubectl"), "apply", "-f", "-")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = strings.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

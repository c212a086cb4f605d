//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/firedrill-dev/firedrill/internal/agent"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
)

// netApps is a server and a client, each one pod of the netprobe image (UDP echo on :7000).
var netApps = "apiVersion: v1\nkind: Namespace\nmetadata: {name: firedrill-net}\n" + probeDeployment("netserver") + probeDeployment("netclient")

func probeDeployment(app string) string {
	return fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: firedrill-net}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: probe, image: "firedrill.dev/netprobe:dev", imagePullPolicy: Never, args: [serve]}
`, app)
}

func partitionYAML(name, duration string) string {
	return fmt.Sprintf(`apiVersion: chaos.firedrill.dev/v1alpha1
kind: Experiment
metadata: {name: %s, namespace: firedrill-net}
spec:
  action: NetworkPartition
  selector:
    namespaces: [firedrill-net]
    labelSelector: {matchLabels: {app: netclient}}
  duration: %s
  network:
    direction: Both
    destinations:
      podSelector: {matchLabels: {app: netserver}}
`, name, duration)
}

// netFaults runs on the local cluster with Firedrill deployed: a partition applied by the agent
// in a real pod's namespace, measured from that pod; its expiry with the manager gone; and an
// agent killed mid-fault.
func netFaults(t *testing.T) {
	applyYAML(t, netApps)
	for _, d := range []string{"netserver", "netclient"} {
		kubectl(t, "-n", "firedrill-net", "rollout", "status", "deployment/"+d, "--timeout=120s")
	}
	server := strings.TrimSpace(kubectl(t, "-n", "firedrill-net", "get", "pods", "-l", "app=netserver", "-o", "jsonpath={.items[0].status.podIP}"))
	client := strings.TrimSpace(kubectl(t, "-n", "firedrill-net", "get", "pods", "-l", "app=netclient", "-o", "jsonpath={.items[0].metadata.name}"))
	clientUID := strings.TrimSpace(kubectl(t, "-n", "firedrill-net", "get", "pod", client, "-o", "jsonpath={.metadata.uid}"))
	answered := func() int {
		out := kubectl(t, "-n", "firedrill-net", "exec", client, "--", "/netprobe", "udp", server+":7000", "50")
		var got, n int
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "answered %d/%d", &got, &n); err != nil {
			t.Fatalf("netprobe said %q: %v", out, err)
		}
		return got
	}
	// What the kernel holds, read from the host: the client pod's namespace found the way the
	// agent finds it.
	onPod := func() bool {
		ns, err := agent.ProcResolver{Root: "/proc"}.NetNS(clientUID)
		if err != nil {
			t.Fatalf("finding the client pod's namespace: %v", err)
		}
		nsh, err := netns.GetFromPath(ns.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer nsh.Close()
		h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		present, err := netfault.Present(h, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		return present
	}
	injected := func(name string) {
		kubectl(t, "-n", "firedrill-net", "wait", "--for=condition=Injected", "--timeout=60s", "experiment/"+name)
	}
	if got := answered(); got != 50 || onPod() {
		t.Fatalf("before any fault: %d/50 answers, tc tree present %v", got, onPod())
	}

	t.Run("a partition cuts the client pod off its server and comes off on delete", func(t *testing.T) {
		applyYAML(t, partitionYAML("cut-server", "5m"))
		injected("cut-server")
		if got := answered(); got != 0 || !onPod() {
			t.Errorf("during the partition: %d/50 answers (want 0), tree present %v", got, onPod())
		}
		inj := kubectl(t, "-n", "firedrill-net", "get", "injections", "-o", `jsonpath={range .items[*]}{.spec.pod.name} {.spec.faults[0].cidrs} {.status.conditions[?(@.type=="Applied")].reason}{"\n"}{end}`)
		if !strings.Contains(inj, client) || !strings.Contains(inj, server+"/32") || !strings.Contains(inj, "FaultApplied") {
			t.Errorf("injection: %q, want the client pod, the server's IP and FaultApplied", inj)
		}
		if m := agentMetrics(t); !strings.Contains(m, "firedrill_agent_pods_with_faults 1") || !strings.Contains(m, `firedrill_agent_verdicts_total{reason="FaultApplied"}`) {
			t.Errorf("agent metrics do not show the fault:\n%s", grepLines(m, "firedrill_agent_"))
		}
		kubectl(t, "-n", "firedrill-net", "delete", "experiment", "cut-server", "--timeout=60s")
		if got := answered(); got != 50 || onPod() {
			t.Errorf("after delete: %d/50 answers, tree present %v", got, onPod())
		}
		if m := agentMetrics(t); !strings.Contains(m, "firedrill_agent_pods_with_faults 0") {
			t.Errorf("agent metrics still count a pod with faults:\n%s", grepLines(m, "firedrill_agent_"))
		}
	})

	t.Run("with the manager scaled to zero the fault still ends at its expiry", func(t *testing.T) {
		applyYAML(t, partitionYAML("short-cut", "20s"))
		injected("short-cut")
		kubectl(t, "-n", "firedrill-system", "scale", "deployment/firedrill-manager", "--replicas=0")
		kubectl(t, "-n", "firedrill-system", "wait", "--for=delete", "pod", "-l", "app.kubernetes.io/name=firedrill-manager", "--timeout=60s")
		if got := answered(); got != 0 {
			t.Errorf("manager gone, fault not yet expired: %d/50 answers, want 0", got)
		}
		eventually(t, 60*time.Second, "the agent to remove the expired fault", func() error {
			if onPod() {
				return fmt.Errorf("tree still on the pod")
			}
			return nil
		})
		if got := answered(); got != 50 {
			t.Errorf("after expiry: %d/50 answers", got)
		}
		kubectl(t, "-n", "firedrill-system", "scale", "deployment/firedrill-manager", "--replicas=1")
		kubectl(t, "-n", "firedrill-system", "rollout", "status", "deployment/firedrill-manager", "--timeout=120s")
		kubectl(t, "-n", "firedrill-net", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s", "experiment/short-cut")
		kubectl(t, "-n", "firedrill-net", "delete", "experiment", "short-cut")
	})

	t.Run("killing the agent mid-fault leaves nothing behind after it restarts", func(t *testing.T) {
		applyYAML(t, partitionYAML("agent-dies", "10m"))
		injected("agent-dies")
		kubectl(t, "-n", "firedrill-system", "delete", "pod", "-l", "app.kubernetes.io/name=firedrill-agent", "--grace-period=0", "--force", "--wait=false")
		// Deleted while no agent runs: the Injection's finalizer keeps it until the new agent has
		// taken the fault off.
		kubectl(t, "-n", "firedrill-net", "delete", "experiment", "agent-dies", "--wait=false")
		kubectl(t, "-n", "firedrill-system", "rollout", "status", "daemonset/firedrill-agent", "--timeout=120s")
		eventually(t, 90*time.Second, "the experiment and its injection to go", func() error {
			out := kubectl(t, "-n", "firedrill-net", "get", "experiments,injections", "-o", "name")
			if strings.Contains(out, "experiment.chaos.firedrill.dev/agent-dies") || strings.Contains(out, "injection") {
				return fmt.Errorf("still there: %s", out)
			}
			return nil
		})
		if got := answered(); got != 50 || onPod() {
			t.Errorf("after the agent restarted: %d/50 answers, tree present %v", got, onPod())
		}
	})
	if t.Failed() {
		out, _ := shErr(filepath.Join(binDir(t), "kubectl"), "-n", "firedrill-system", "logs", "daemonset/firedrill-agent", "--tail=40")
		t.Logf("agent logs:\n%s", out)
	}
}

// agentMetrics reads the agent's metrics through the API server's pod proxy.
func agentMetrics(t *testing.T) string {
	t.Helper()
	pod := strings.TrimSpace(kubectl(t, "-n", "firedrill-system", "get", "pods", "-l", "app.kubernetes.io/name=firedrill-agent", "-o", "jsonpath={.items[0].metadata.name}"))
	return kubectl(t, "get", "--raw", "/api/v1/namespaces/firedrill-system/pods/"+pod+":8090/proxy/metrics")
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

//go:build integration

package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/agent"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/netnstest"
)

// podsOnNode maps pod UIDs to network namespaces the test made, standing in for /proc on a node.
// host, when set, stands in for the node's own namespace (hostNetwork pods share it).
type podsOnNode struct {
	mu   sync.Mutex
	pods map[string]agent.PodNetNS
	host string
}

func (p *podsOnNode) HostNetNS() (agent.PodNetNS, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.host == "" {
		return agent.PodNetNS{}, errors.New("the test gave this node no host namespace")
	}
	return agent.PodNetNS{Path: p.host, HostNetwork: true}, nil
}

// gone takes a pod off the node, as if its processes had all exited.
func (p *podsOnNode) gone(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pods, string(uid))
}

func (p *podsOnNode) NetNS(uid string) (agent.PodNetNS, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ns, ok := p.pods[uid]
	if !ok {
		return agent.PodNetNS{}, agent.ErrPodNotFound
	}
	return ns, nil
}

func (p *podsOnNode) Pods() (map[string]agent.PodNetNS, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]agent.PodNetNS{}
	for k, v := range p.pods {
		out[k] = v
	}
	return out, nil
}

// startAgent runs the node agent's controller for node against the test's namespaces.
func startAgent(t *testing.T, node string, pods *podsOnNode) (stop func()) {
	t.Helper()
	return startAgentSweeping(t, node, pods, time.Hour)
}

// startAgentSweeping is startAgent with the sweep repeated every sweepEvery.
func startAgentSweeping(t *testing.T, node string, pods *podsOnNode, sweepEvery time.Duration) (stop func()) {
	t.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&chaosv1alpha1.Injection{}: {Label: labels.SelectorFromSet(labels.Set{chaosv1alpha1.LabelInjectionNode: node})},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&agent.InjectionReconciler{Client: mgr.GetClient(), NodeName: node, Resolver: pods, SweepEvery: sweepEvery}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	return runManager(t, ctx, cancel, mgr)
}

// netPod creates a running pod on node whose network namespace is the pair's side A.
func netPod(t *testing.T, ns, name, node string, p *netnstest.Pair, pods *podsOnNode) *corev1.Pod {
	t.Helper()
	mustCreate(t, builder.Namespace(ns))
	pod := builder.OnNode(builder.Pod(ns, name, map[string]string{"app": name}), node)
	mustCreate(t, pod)
	pod.Status = builder.RunningStatus(time.Now())
	pod.Status.PodIP = "10.99.0.1"
	if err := k8s.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	pods.mu.Lock()
	if pods.pods == nil {
		pods.pods = map[string]agent.PodNetNS{}
	}
	pods.pods[string(pod.UID)] = agent.PodNetNS{Path: netnstest.Path(p.A)}
	pods.mu.Unlock()
	return pod
}

func partition(ns, name, cidr string, d time.Duration) *chaosv1alpha1.Experiment {
	e := builder.Experiment(ns, name).Labels(map[string]string{"app": "web"}).Build()
	e.Spec.Action, e.Spec.PodKill, e.Spec.Duration = chaosv1alpha1.ActionNetworkPartition, nil, &metav1.Duration{Duration: d}
	e.Spec.Network = &chaosv1alpha1.NetworkSpec{Direction: chaosv1alpha1.DirectionBoth,
		Destinations: &chaosv1alpha1.NetworkDestinations{CIDRs: []string{cidr}}}
	return e
}

func present(t *testing.T, p *netnstest.Pair) bool {
	t.Helper()
	ok, err := netfault.Present(p.HA, "va")
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// A partition goes from Experiment to Injection to the pod's namespace and back off on delete.
func TestNetworkPartitionEndToEndThroughTheAgent(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	netnstest.UDPEcho(t, p.B, "10.99.0.2:7000")
	pods := &podsOnNode{}
	netPod(t, "net-part", "web", "node-a", p, pods)
	startManager(t, managerOptions{})
	startAgent(t, "node-a", pods)

	exp := partition("net-part", "cut-db", "10.99.0.3/32", time.Hour)
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	got := waitFor(t, key, "injected", func(e *chaosv1alpha1.Experiment) bool {
		return meta.IsStatusConditionTrue(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
	})
	if got.Status.Phase != chaosv1alpha1.ExperimentRunning || !present(t, p) {
		t.Fatalf("phase %s, tree present %v", got.Status.Phase, present(t, p))
	}
	if n := netnstest.Probe(t, p.A, "10.99.0.3:7000", 50, time.Millisecond, 300*time.Millisecond); n != 0 {
		t.Errorf("partitioned destination answered %d/50", n)
	}
	if n := netnstest.Probe(t, p.A, "10.99.0.2:7000", 50, time.Millisecond, 300*time.Millisecond); n != 50 {
		t.Errorf("other destination answered %d/50, want all", n)
	}
	var injs chaosv1alpha1.InjectionList
	if err := k8s.List(t.Context(), &injs, client.InNamespace("net-part")); err != nil || len(injs.Items) != 1 {
		t.Fatalf("injections: %v %d", err, len(injs.Items))
	}
	if c := meta.FindStatusCondition(injs.Items[0].Status.Conditions, chaosv1alpha1.ConditionApplied); c == nil || c.Reason != chaosv1alpha1.ReasonFaultApplied {
		t.Errorf("injection status %+v", injs.Items[0].Status)
	}

	// Deleting the experiment takes the fault off before the experiment goes.
	if err := k8s.Delete(t.Context(), exp); err != nil {
		t.Fatal(err)
	}
	eventually(t, "experiment gone", 30*time.Second, func() bool {
		return apierrors.IsNotFound(k8s.Get(t.Context(), key, &chaosv1alpha1.Experiment{}))
	})
	if present(t, p) {
		t.Error("the experiment is gone but its tc tree is still on the pod")
	}
	if n := netnstest.Probe(t, p.A, "10.99.0.3:7000", 50, time.Millisecond, 300*time.Millisecond); n != 50 {
		t.Errorf("after delete: %d/50 answers", n)
	}
}

// The dead man's switch: with the manager gone, the agent removes the fault at its expiry.
func TestAgentRemovesExpiredFaultWithoutTheManager(t *testing.T) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	netPod(t, "net-expiry", "web", "node-b", p, pods)
	stopMgr, _ := startManager(t, managerOptions{})
	startAgent(t, "node-b", pods)
	exp := partition("net-expiry", "short", "10.99.0.3/32", 3*time.Second)
	mustCreate(t, exp)
	waitFor(t, client.ObjectKeyFromObject(exp), "injected", func(e *chaosv1alpha1.Experiment) bool {
		return meta.IsStatusConditionTrue(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
	})
	stopMgr()
	if !present(t, p) {
		t.Fatal("fault not on the pod")
	}
	eventually(t, "the agent to remove the expired fault", 10*time.Second, func() bool { return !present(t, p) })
	var injs chaosv1alpha1.InjectionList
	if err := k8s.List(t.Context(), &injs, client.InNamespace("net-expiry")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "status Expired", 5*time.Second, func() bool {
		if err := k8s.List(t.Context(), &injs, client.InNamespace("net-expiry")); err != nil || len(injs.Items) != 1 {
			return false
		}
		c := meta.FindStatusCondition(injs.Items[0].Status.Conditions, chaosv1alpha1.ConditionApplied)
		return c != nil && c.Reason == chaosv1alpha1.ReasonExpired && injs.Items[0].Status.RemovedAt != nil
	})
}

// agentFault runs an agent for node, with no manager, and a pod web in ns whose Injection (a
// partition, as the manager would write it) the agent has applied.
func agentFault(t *testing.T, ns, node string) (*netnstest.Pair, *corev1.Pod, *chaosv1alpha1.Injection) {
	t.Helper()
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	pod := netPod(t, ns, "web", node, p, pods)
	startAgent(t, node, pods)
	inj, _ := injectionFor(t, partition(ns, "cut", "10.99.0.3/32", time.Hour), pod.Name, pod.UID, node, false)
	eventually(t, "the fault on the pod", 10*time.Second, func() bool { return present(t, p) })
	return p, pod, inj
}

// An emergency stop holds on the node even while the manager is down: the agent takes every
// fault off by itself, and one it took off stays off once the stop is lifted (a stop ends what
// was running); a fault asked for afterwards is applied.
func TestAgentHonoursTheEmergencyStopWithoutTheManager(t *testing.T) {
	p, pod, inj := agentFault(t, "net-estop-agent", "node-es")

	stop := &chaosv1alpha1.EmergencyStop{ObjectMeta: metav1.ObjectMeta{Name: "node-incident"}, Spec: chaosv1alpha1.EmergencyStopSpec{Reason: "manager down, pager on"}}
	mustCreate(t, stop)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), stop) })
	eventually(t, "the agent to take the fault off under the stop", 10*time.Second, func() bool { return !present(t, p) })
	key := client.ObjectKeyFromObject(inj)
	verdict := func() *metav1.Condition {
		if err := k8s.Get(t.Context(), key, inj); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
	}
	eventually(t, "the verdict EmergencyStop", 5*time.Second, func() bool {
		c := verdict()
		return c != nil && c.Reason == chaosv1alpha1.ReasonEmergencyStop && strings.Contains(c.Message, "node-incident")
	})

	// Lifted: the Injection is changed (as a manager's refresh would) and seen by the agent, and
	// its fault still stays off.
	if err := k8s.Delete(t.Context(), stop); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stop gone", 5*time.Second, func() bool {
		return apierrors.IsNotFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(stop), &chaosv1alpha1.EmergencyStop{}))
	})
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(t.Context(), key, inj); err != nil {
			return err
		}
		inj.Spec.ExpiresAt = metav1.NewTime(inj.Spec.ExpiresAt.Add(time.Minute))
		return k8s.Update(t.Context(), inj)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent to judge the changed Injection", 10*time.Second, func() bool {
		c := verdict()
		return inj.Status.ObservedGeneration == inj.Generation && c != nil && c.ObservedGeneration == inj.Generation
	})
	if c := verdict(); c.Reason != chaosv1alpha1.ReasonEmergencyStop || present(t, p) {
		t.Errorf("after the stop was lifted: verdict %s, fault present %v; want it still off (EmergencyStop)", c.Reason, present(t, p))
	}

	// A fault asked for after the stop is applied.
	injectionFor(t, partition("net-estop-agent", "later", "10.99.0.4/32", time.Hour), pod.Name, pod.UID, "node-es", false)
	eventually(t, "a new fault on the pod after the stop", 10*time.Second, func() bool { return present(t, p) })
}

// An Injection whose expiry is further off than any experiment lasts (one written by hand: the
// manager's never are) is refused by the agent, so it cannot outlast the dead man's switch.
func TestAgentRefusesAnExpiryFurtherThanAnyExperiment(t *testing.T) {
	p, _, inj := agentFault(t, "net-far", "node-far")
	far := metav1.NewTime(time.Now().Add(chaosv1alpha1.MaxFaultDuration + time.Hour))
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { // the agent writes its status meanwhile
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj); err != nil {
			return err
		}
		inj.Spec.ExpiresAt = far
		return k8s.Update(t.Context(), inj)
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent to refuse the far expiry and take the fault off", 10*time.Second, func() bool {
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
		return c != nil && c.Reason == chaosv1alpha1.ReasonExpiryTooFar && c.ObservedGeneration == inj.Generation && !present(t, p)
	})
}

// On start the agent sweeps its node's pods: a tree whose Injection is gone comes off.
func TestAgentSweepsLeftoversOnStart(t *testing.T) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	netPod(t, "net-sweep", "web", "node-c", p, pods)
	// What a crashed agent left behind: a fault with no Injection any more.
	if err := netfault.Apply(p.HA, "va", []netfault.Fault{{ID: "gone/exp/0", Direction: netfault.Both, Partition: true}}); err != nil {
		t.Fatal(err)
	}
	startAgent(t, "node-c", pods)
	eventually(t, "the sweep to clear the leftover", 10*time.Second, func() bool { return !present(t, p) })
	if _, err := p.HA.LinkByName(netfault.IFBName); err == nil {
		t.Error("the leftover IFB is still there")
	}
}

// This machine's kernel has no sch_netem: latency fails with a specific reason naming the node,
// while a rate limit on the same pod still works.
func TestNetemlessKernelFailsLatencyClearlyAndRateLimitStillWorks(t *testing.T) {
	netnstest.NeedRoot(t)
	if netemAvailable(t) {
		t.Skip("this kernel has sch_netem; the QEMU suite (make test-kernel) covers netem")
	}
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	netPod(t, "net-netem", "web", "node-d", p, pods)
	startManager(t, managerOptions{})
	startAgent(t, "node-d", pods)

	lat := builder.Experiment("net-netem", "slow").Labels(map[string]string{"app": "web"}).Latency(100*time.Millisecond, time.Hour).Build()
	mustCreate(t, lat)
	got := waitForPhase(t, client.ObjectKeyFromObject(lat), chaosv1alpha1.ExperimentFailed)
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionInjected)
	if c == nil || c.Reason != chaosv1alpha1.ReasonKernelUnsupported || !strings.Contains(c.Message, "sch_netem is not available on node node-d") {
		var injs chaosv1alpha1.InjectionList
		_ = k8s.List(t.Context(), &injs, client.InNamespace("net-netem"))
		t.Errorf("condition %+v, want reason KernelUnsupported naming the node; injections: %+v", c, injs.Items)
	}

	rate := builder.Experiment("net-netem", "narrow").Labels(map[string]string{"app": "web"}).Build()
	rate.Spec.Action, rate.Spec.PodKill, rate.Spec.Duration = chaosv1alpha1.ActionNetworkRateLimit, nil, &metav1.Duration{Duration: time.Hour}
	rate.Spec.Network = &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{RateLimitKbps: ptr.To[int64](8000)}}
	mustCreate(t, rate)
	waitFor(t, client.ObjectKeyFromObject(rate), "injected", func(e *chaosv1alpha1.Experiment) bool {
		return meta.IsStatusConditionTrue(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
	})
	if bps := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5001", 2*time.Second); bps > 10.4e6 {
		t.Errorf("rate limit 8 Mbit/s not in force: %.1f Mbit/s", bps/1e6)
	}
}

// netemAvailable tries netem on a scratch namespace's loopback.
func netemAvailable(t *testing.T) bool {
	p := netnstest.NewPair(t)
	err := netfault.Apply(p.HA, "va", []netfault.Fault{{ID: "probe", Direction: netfault.Egress, Delay: time.Millisecond}})
	return err == nil
}

func destPod(t *testing.T, ns, name, ip string) {
	t.Helper()
	pod := builder.OnNode(builder.Pod(ns, name, map[string]string{"app": "db"}), "elsewhere")
	mustCreate(t, pod)
	pod.Status = builder.RunningStatus(time.Now())
	pod.Status.PodIP = ip
	if err := k8s.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
}

// Destinations given by a pod selector resolve to those pods' IPs and follow them: a new
// matching pod is partitioned too, without touching the experiment.
func TestPartitionByPodSelectorFollowsDestinationPods(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	netnstest.UDPEcho(t, p.B, "10.99.0.2:7000")
	pods := &podsOnNode{}
	netPod(t, "net-follow", "web", "node-e", p, pods)
	destPod(t, "net-follow", "db-1", "10.99.0.3")
	startManager(t, managerOptions{})
	startAgent(t, "node-e", pods)

	exp := partition("net-follow", "cut-db", "", time.Hour)
	exp.Spec.Network.Destinations = &chaosv1alpha1.NetworkDestinations{PodSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}
	mustCreate(t, exp)
	waitFor(t, client.ObjectKeyFromObject(exp), "injected", func(e *chaosv1alpha1.Experiment) bool {
		return meta.IsStatusConditionTrue(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
	})
	if n := netnstest.Probe(t, p.A, "10.99.0.3:7000", 30, time.Millisecond, 300*time.Millisecond); n != 0 {
		t.Errorf("db-1 (10.99.0.3) answered %d/30 through the partition", n)
	}
	if n := netnstest.Probe(t, p.A, "10.99.0.2:7000", 30, time.Millisecond, 300*time.Millisecond); n != 30 {
		t.Fatalf("10.99.0.2 is no db yet but answered only %d/30", n)
	}
	destPod(t, "net-follow", "db-2", "10.99.0.2")
	eventually(t, "the new db pod to be partitioned too", 15*time.Second, func() bool {
		return netnstest.Probe(t, p.A, "10.99.0.2:7000", 10, time.Millisecond, 200*time.Millisecond) == 0
	})
}

// A hostNetwork pod shares the node's namespace: a network fault there would shape the node. It
// is refused before anything is written, unless the experiment says allowHostNetwork.
func TestHostNetworkPodsAreRefused(t *testing.T) {
	startManager(t, managerOptions{})
	mustCreate(t, builder.Namespace("net-host"))
	pod := builder.OnNode(builder.Pod("net-host", "node-exporter", map[string]string{"app": "web"}), "node-f")
	pod.Spec.HostNetwork = true
	mustCreate(t, pod)
	pod.Status = builder.RunningStatus(time.Now())
	if err := k8s.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	exp := partition("net-host", "cut-host", "10.99.0.3/32", time.Hour)
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentFailed)
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionTargetsSelected)
	if c == nil || c.Reason != chaosv1alpha1.ReasonPreflightFailed || !strings.Contains(c.Message, "uses the host network") || !strings.Contains(c.Message, "allowHostNetwork") {
		t.Errorf("condition %+v, want PreflightFailed explaining the host network and the opt-in", c)
	}
	var injs chaosv1alpha1.InjectionList
	if err := k8s.List(t.Context(), &injs, client.InNamespace("net-host")); err != nil || len(injs.Items) != 0 {
		t.Errorf("injections written for a refused experiment: %d (%v)", len(injs.Items), err)
	}
}

// The agent's own guard: an Injection for a pod in the node's namespace, without the opt-in, is
// refused with HostNetworkRefused and nothing is applied (whatever wrote it).
func TestAgentRefusesHostNetworkInjection(t *testing.T) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{pods: map[string]agent.PodNetNS{"0b8a3f5e-0000-4000-8000-000000000001": {Path: netnstest.Path(p.A), HostNetwork: true}}}
	mustCreate(t, builder.Namespace("net-host-agent"))
	startAgent(t, "node-g", pods)
	inj := &chaosv1alpha1.Injection{
		ObjectMeta: metav1.ObjectMeta{Namespace: "net-host-agent", Name: "stray", Labels: map[string]string{
			chaosv1alpha1.LabelInjectionNode: "node-g", chaosv1alpha1.LabelInjectionPod: "0b8a3f5e-0000-4000-8000-000000000001"}},
		Spec: chaosv1alpha1.InjectionSpec{NodeName: "node-g", Pod: chaosv1alpha1.InjectionPod{Namespace: "monitoring", Name: "node-exporter", UID: "0b8a3f5e-0000-4000-8000-000000000001"},
			Faults:    []chaosv1alpha1.InjectedFault{{ID: "x", Direction: chaosv1alpha1.DirectionEgress, Partition: true}},
			ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour))},
	}
	mustCreate(t, inj)
	eventually(t, "the agent's verdict", 10*time.Second, func() bool {
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj); err != nil {
			return false
		}
		c := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
		return c != nil && c.Reason == chaosv1alpha1.ReasonHostNetworkRefused
	})
	if present(t, p) {
		t.Error("a refused host-network injection was applied")
	}
}

// The emergency stop takes a running network fault off the pod: the experiment ends Aborted only
// once the agent has removed it.
func TestEmergencyStopRemovesNetworkFaults(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	pods := &podsOnNode{}
	netPod(t, "net-estop", "web", "node-h", p, pods)
	startManager(t, managerOptions{})
	startAgent(t, "node-h", pods)
	exp := partition("net-estop", "cut", "10.99.0.3/32", time.Hour)
	mustCreate(t, exp)
	waitFor(t, client.ObjectKeyFromObject(exp), "injected", func(e *chaosv1alpha1.Experiment) bool {
		return meta.IsStatusConditionTrue(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
	})
	if !present(t, p) {
		t.Fatal("fault not on the pod")
	}
	stop := &chaosv1alpha1.EmergencyStop{ObjectMeta: metav1.ObjectMeta{Name: "net-incident"}, Spec: chaosv1alpha1.EmergencyStopSpec{Reason: "payments are down"}}
	mustCreate(t, stop)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), stop) })
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentAborted)
	if present(t, p) {
		t.Error("aborted, but the tc tree is still on the pod")
	}
	for _, tg := range got.Status.Targets {
		if tg.State != chaosv1alpha1.TargetRecovered {
			t.Errorf("target %s state %s, want Recovered", tg.Name, tg.State)
		}
	}
	if n := netnstest.Probe(t, p.A, "10.99.0.3:7000", 30, time.Millisecond, 300*time.Millisecond); n != 30 {
		t.Errorf("after the stop: %d/30 answers", n)
	}
}

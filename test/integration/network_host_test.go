//go:build integration

package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/agent"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/netnstest"
)

// hostNetPod creates a running hostNetwork pod (labelled app=name) on node, whose namespace (the
// node's, as the agent sees it) is the pair's side A, and the node it runs on.
func hostNetPod(t *testing.T, ns, name, node string, p *netnstest.Pair, pods *podsOnNode) *corev1.Pod {
	t.Helper()
	mustCreate(t, builder.Namespace(ns), builder.NodeInZone(node, "z1"))
	pod := builder.OnNode(builder.Pod(ns, name, map[string]string{"app": name}), node)
	pod.Spec.HostNetwork = true
	mustCreate(t, pod)
	pod.Status = builder.RunningStatus(time.Now())
	if err := k8s.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	pods.mu.Lock()
	defer pods.mu.Unlock()
	if pods.pods == nil {
		pods.pods = map[string]agent.PodNetNS{}
	}
	pods.host = netnstest.Path(p.A)
	pods.pods[string(pod.UID)] = agent.PodNetNS{Path: pods.host, HostNetwork: true}
	return pod
}

// hostPartition cuts the egress of the pods labelled app=app to cidr, hostNetwork allowed.
func hostPartition(ns, name, app, cidr string, d time.Duration) *chaosv1alpha1.Experiment {
	e := builder.Experiment(ns, name).Labels(map[string]string{"app": app}).Build()
	e.Spec.Action, e.Spec.PodKill, e.Spec.Duration = chaosv1alpha1.ActionNetworkPartition, nil, &metav1.Duration{Duration: d}
	e.Spec.Network = &chaosv1alpha1.NetworkSpec{Direction: chaosv1alpha1.DirectionEgress, AllowHostNetwork: true,
		Destinations: &chaosv1alpha1.NetworkDestinations{CIDRs: []string{cidr}}}
	return e
}

// Two hostNetwork targets on one node share the node's namespace: their faults compose on its
// link, as two experiments on one pod do, instead of each pass leaving only one pod's faults.
func TestHostNetworkTargetsOnOneNodeCompose(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.2:7000")
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	pods := &podsOnNode{}
	hostNetPod(t, "net-hn-two", "exporter", "node-hn1", p, pods)
	hostNetPod(t, "net-hn-two", "proxy", "node-hn1", p, pods)
	startManager(t, managerOptions{})
	startAgent(t, "node-hn1", pods)

	cutDB := hostPartition("net-hn-two", "cut-db", "exporter", "10.99.0.3/32", time.Hour)
	cutAPI := hostPartition("net-hn-two", "cut-api", "proxy", "10.99.0.2/32", time.Hour)
	mustCreate(t, cutDB, cutAPI)
	waitInjected(t, cutDB.Namespace, cutDB.Name)
	waitInjected(t, cutAPI.Namespace, cutAPI.Name)
	for _, dst := range []string{"10.99.0.3:7000", "10.99.0.2:7000"} {
		if n := netnstest.Probe(t, p.A, dst, 30, time.Millisecond, 300*time.Millisecond); n != 0 {
			t.Errorf("%s answered %d/30: both hostNetwork pods' partitions should be on the node's link", dst, n)
		}
	}

	// One comes off alone; the other stays.
	if err := k8s.Delete(t.Context(), cutDB); err != nil {
		t.Fatal(err)
	}
	waitGone(t, client.ObjectKeyFromObject(cutDB))
	if n := netnstest.Probe(t, p.A, "10.99.0.3:7000", 30, time.Millisecond, 300*time.Millisecond); n != 30 {
		t.Errorf("after cut-db's delete 10.99.0.3 answered %d/30, want all", n)
	}
	if n := netnstest.Probe(t, p.A, "10.99.0.2:7000", 30, time.Millisecond, 300*time.Millisecond); n != 0 {
		t.Errorf("cut-api should still hold, but 10.99.0.2 answered %d/30", n)
	}
}

// A hostNetwork pod's faults live on the node's link, not in a namespace that goes with the pod:
// once the pod is gone, its expired fault still comes off, with the manager down.
func TestHostNetworkFaultOfAGonePodComesOffAtExpiry(t *testing.T) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	pod := hostNetPod(t, "net-hn-expiry", "exporter", "node-hn2", p, pods)
	stopMgr, _ := startManager(t, managerOptions{})
	startAgent(t, "node-hn2", pods)
	exp := hostPartition("net-hn-expiry", "short", "exporter", "10.99.0.3/32", 3*time.Second)
	mustCreate(t, exp)
	waitInjected(t, exp.Namespace, exp.Name)
	stopMgr()
	if !present(t, p) {
		t.Fatal("fault not on the node's link")
	}
	pods.gone(pod.UID)
	if err := k8s.Delete(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent to take the gone pod's expired fault off the node's link", 10*time.Second, func() bool { return !present(t, p) })
}

// The sweep covers the node's own namespace: what a crashed agent left there with no live
// hostNetwork Injection comes off at start, and a live Injection whose hostNetwork pod has gone
// (nothing about the Injection changes then) comes off at the next sweep.
func TestAgentSweepsTheNodesNamespace(t *testing.T) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{host: netnstest.Path(p.A)}
	if err := netfault.Apply(p.HA, "va", []netfault.Fault{{ID: "gone/exp/0", Direction: netfault.Both, Partition: true}}); err != nil {
		t.Fatal(err)
	}
	startAgentSweeping(t, "node-hn4", pods, 500*time.Millisecond)
	eventually(t, "the sweep to clear the node's namespace", 10*time.Second, func() bool { return !present(t, p) })
	if _, err := p.HA.LinkByName(netfault.IFBName); err == nil {
		t.Error("the leftover IFB is still there")
	}

	mustCreate(t, builder.Namespace("net-hn-sweep"))
	const uid = types.UID("0b8a3f5e-0000-4000-8000-00000000a004")
	pods.mu.Lock()
	pods.pods = map[string]agent.PodNetNS{string(uid): {Path: pods.host, HostNetwork: true}}
	pods.mu.Unlock()
	exp := partition("net-hn-sweep", "cut", "10.99.0.3/32", time.Hour)
	inj, _ := injectionFor(t, exp, "exporter", uid, "node-hn4", true)
	eventually(t, "the fault on the node's link", 10*time.Second, func() bool { return present(t, p) })
	pods.gone(uid)
	eventually(t, "a sweep to take the gone pod's fault off", 10*time.Second, func() bool { return !present(t, p) })
	eventually(t, "verdict PodNotFound", 5*time.Second, func() bool {
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj); err != nil {
			return false
		}
		c := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
		return c != nil && c.Reason == chaosv1alpha1.ReasonPodNotFound
	})
}

//go:build integration

package integration

import (
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/experiments/network"
	"github.com/firedrill-dev/firedrill/internal/agent"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/netnstest"
)

// injectionFor writes the Injection the manager would have written for exp on a pod with uid,
// finalizer included, and returns the target that names it.
func injectionFor(t *testing.T, exp *chaosv1alpha1.Experiment, podName string, uid types.UID, node string, hostNetwork bool) (*chaosv1alpha1.Injection, chaosv1alpha1.TargetStatus) {
	t.Helper()
	inj := &chaosv1alpha1.Injection{
		ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, Name: network.InjectionName(exp, uid),
			Labels:     map[string]string{chaosv1alpha1.LabelInjectionNode: node, chaosv1alpha1.LabelInjectionPod: string(uid)},
			Finalizers: []string{chaosv1alpha1.FinalizerAgentCleanup}},
		Spec: chaosv1alpha1.InjectionSpec{NodeName: node, Pod: chaosv1alpha1.InjectionPod{Namespace: exp.Namespace, Name: podName, UID: string(uid)},
			Faults:    []chaosv1alpha1.InjectedFault{{ID: exp.Namespace + "/" + exp.Name, Direction: chaosv1alpha1.DirectionEgress, Partition: true}},
			ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)), HostNetwork: hostNetwork, AllowHostNetwork: hostNetwork},
	}
	mustCreate(t, inj)
	return inj, chaosv1alpha1.TargetStatus{Namespace: exp.Namespace, Name: podName, UID: uid, Node: node, State: chaosv1alpha1.TargetInjected}
}

// Recovering a target whose pod is gone lets its Injection go in one pass: the release must not
// be an update carrying the resourceVersion read before the delete (a conflict, then a backoff).
func TestNetworkRecoverOfAGonePodReleasesInOnePass(t *testing.T) {
	mustCreate(t, builder.Namespace("net-gone"))
	exp := partition("net-gone", "cut", "10.99.0.3/32", time.Hour)
	inj, target := injectionFor(t, exp, "web", "0b8a3f5e-0000-4000-8000-00000000a001", "node-gone", false)
	n := &network.Network{Client: k8s, Reader: k8s}
	if err := n.Recover(t.Context(), exp, target); err != nil {
		t.Fatalf("first Recover of a gone pod: %v", err)
	}
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj); !apierrors.IsNotFound(err) {
		t.Fatalf("the Injection of a gone pod is still there after one Recover (err %v, finalizers %v)", err, inj.Finalizers)
	}
}

// A hostNetwork pod that is gone left its fault on the node's link: Recover must leave the
// Injection to the agent, which lets it go only once the link is clear. On a node that is gone
// there is nothing to clear and no agent to wait for.
func TestNetworkRecoverLeavesAHostNetworkInjectionToTheAgent(t *testing.T) {
	p := netnstest.NewPair(t)
	mustCreate(t, builder.Namespace("net-hn-recover"), builder.NodeInZone("node-hn3", "z1"))
	const uid = types.UID("0b8a3f5e-0000-4000-8000-00000000a002")
	pods := &podsOnNode{host: netnstest.Path(p.A)}
	pods.pods = map[string]agent.PodNetNS{string(uid): {Path: pods.host, HostNetwork: true}}
	startAgent(t, "node-hn3", pods)
	exp := partition("net-hn-recover", "cut", "10.99.0.3/32", time.Hour)
	inj, target := injectionFor(t, exp, "exporter", uid, "node-hn3", true)
	eventually(t, "the fault on the node's link", 10*time.Second, func() bool { return present(t, p) })

	pods.gone(uid) // the pod is gone (and was never in the API server)
	n := &network.Network{Client: k8s, Reader: k8s}
	if err := n.Recover(t.Context(), exp, target); !errors.Is(err, experiments.ErrInProgress) {
		t.Errorf("Recover of a gone hostNetwork pod = %v, want it to wait for the agent (ErrInProgress)", err)
	}
	eventually(t, "the agent to clear the node's link and release the Injection", 10*time.Second, func() bool {
		return !present(t, p) && apierrors.IsNotFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj))
	})
	if err := n.Recover(t.Context(), exp, target); err != nil {
		t.Errorf("Recover once the agent let the Injection go: %v", err)
	}

	// No node, no agent: released at once.
	orphan, target := injectionFor(t, exp, "exporter", "0b8a3f5e-0000-4000-8000-00000000a003", "node-hn-gone", true)
	if err := n.Recover(t.Context(), exp, target); err != nil {
		t.Fatalf("Recover on a node that is gone: %v", err)
	}
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(orphan), orphan); !apierrors.IsNotFound(err) {
		t.Errorf("the Injection on a gone node is still there (err %v, finalizers %v)", err, orphan.Finalizers)
	}
}

//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
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

func rateLimit(ns, name string, kbps int64, dst *chaosv1alpha1.NetworkDestinations) *chaosv1alpha1.Experiment {
	e := builder.Experiment(ns, name).Labels(map[string]string{"app": "web"}).Build()
	e.Spec.Action, e.Spec.PodKill, e.Spec.Duration = chaosv1alpha1.ActionNetworkRateLimit, nil, &metav1.Duration{Duration: time.Hour}
	e.Spec.Network = &chaosv1alpha1.NetworkSpec{Destinations: dst, NetworkShaping: chaosv1alpha1.NetworkShaping{RateLimitKbps: &kbps}}
	return e
}

// injectNow runs Inject for target until the agent's verdict is in.
func injectNow(t *testing.T, n *network.Network, exp *chaosv1alpha1.Experiment, target chaosv1alpha1.TargetStatus) {
	t.Helper()
	var err error
	eventually(t, "Inject of "+exp.Name, 10*time.Second, func() bool {
		err = n.Inject(t.Context(), exp, target, false)
		return !errors.Is(err, experiments.ErrInProgress)
	})
	if err != nil {
		t.Fatalf("Inject of %s: %v", exp.Name, err)
	}
}

// A destination pod that appears mid-run can make the refreshed Injection conflict with another
// experiment's on the same pod: the agent refuses it (and takes it off), and Refresh must say so
// with the agent's reason rather than leave the experiment claiming its fault is in place.
func TestNetworkRefreshReportsTheAgentsRefusal(t *testing.T) {
	refreshRefusal(t, "net-refresh", "node-rf", false)
}

// More destination addresses than an Injection holds is refused for good, naming the cap, rather
// than an invalid update retried for ever.
func TestNetworkRefreshRefusesMoreDestinationsThanTheCap(t *testing.T) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	pod := netPod(t, "net-cap", "web", "node-cap", p, pods)
	startAgent(t, "node-cap", pods)
	n := &network.Network{Client: k8s, Reader: k8s}
	target := chaosv1alpha1.TargetStatus{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: "node-cap", State: chaosv1alpha1.TargetInjected}
	var cidrs []string
	for i := range 64 {
		cidrs = append(cidrs, fmt.Sprintf("10.200.%d.0/24", i))
	}
	exp := partition("net-cap", "cut", "", time.Hour)
	exp.Spec.Network.Destinations = &chaosv1alpha1.NetworkDestinations{CIDRs: cidrs,
		PodSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}
	mustCreate(t, exp)
	injectNow(t, n, exp, target)

	over := chaosv1alpha1.MaxInjectedCIDRs - len(cidrs) + 1
	for i := range over {
		destPod(t, "net-cap", fmt.Sprintf("db-%d", i), fmt.Sprintf("10.201.%d.%d", i/250, i%250+1))
	}
	// Destinations are listed from the API server's watch cache, which has the new pods a moment
	// after they are written.
	var err error
	var perm *experiments.PermanentError
	wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) { //nolint:errcheck // judged below
		err = n.Refresh(ctx, exp, []chaosv1alpha1.TargetStatus{target})
		return errors.As(err, &perm), nil
	})
	if !errors.As(err, &perm) || perm.Reason != chaosv1alpha1.ReasonTooManyDestinations || !strings.Contains(perm.Message, "cap of 256") {
		t.Fatalf("Refresh with %d destinations = %v, want a PermanentError TooManyDestinations naming the cap of 256", len(cidrs)+over, err)
	}
}

// The refusal can land on an experiment that has no podSelector of its own: an older one's
// destinations grow to clash with it, the agent keeps the older, and the newer's Refresh must
// still report that its fault was taken off.
func TestNetworkRefreshReportsARefusalCausedByAnotherExperiment(t *testing.T) {
	refreshRefusal(t, "net-refused-by", "node-rb", true)
}

// refreshRefusal runs two rate limits on one pod, one on 10.99.0.0/24 and one following the db
// pods (the older of the two when selectorOlder), disjoint until a db pod appears inside the
// subnet: the agent keeps the older, and the newer's Refresh must report its refusal.
func refreshRefusal(t *testing.T, ns, node string, selectorOlder bool) {
	p := netnstest.NewPair(t)
	pods := &podsOnNode{}
	pod := netPod(t, ns, "web", node, p, pods)
	destPod(t, ns, "db-1", "10.98.0.5")
	startAgent(t, node, pods)
	n := &network.Network{Client: k8s, Reader: k8s}
	target := chaosv1alpha1.TargetStatus{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: node, State: chaosv1alpha1.TargetInjected}

	subnet := rateLimit(ns, "narrow-subnet", 8000, &chaosv1alpha1.NetworkDestinations{CIDRs: []string{"10.99.0.0/24"}})
	db := rateLimit(ns, "narrow-db", 4000, &chaosv1alpha1.NetworkDestinations{PodSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}})
	older, newer := subnet, db
	if selectorOlder {
		older, newer = db, subnet
	}
	mustCreate(t, older)
	injectNow(t, n, older, target)
	time.Sleep(time.Second) // creation timestamps have one-second resolution: the agent keeps the older
	mustCreate(t, newer)
	injectNow(t, n, newer, target)
	if err := n.Refresh(t.Context(), newer, []chaosv1alpha1.TargetStatus{target}); err != nil {
		t.Fatalf("Refresh with nothing changed: %v", err)
	}

	destPod(t, ns, "db-2", "10.99.0.3") // the db fault now reaches into the subnet: a conflict
	var err error
	eventually(t, "the newer fault's Refresh to report the agent's refusal", 15*time.Second, func() bool {
		if selectorOlder {
			// The older fault's Refresh is what brings the clash to the agent. It is repeated, as
			// the manager's passes repeat it: destinations are listed from the API server's watch
			// cache, which may not have db-2 yet on the first (seen in CI under load).
			if err := n.Refresh(t.Context(), db, []chaosv1alpha1.TargetStatus{target}); err != nil && !errors.Is(err, experiments.ErrInProgress) {
				t.Fatalf("Refresh of the older fault: %v", err)
			}
		}
		err = n.Refresh(t.Context(), newer, []chaosv1alpha1.TargetStatus{target})
		return err != nil && !errors.Is(err, experiments.ErrInProgress)
	})
	var perm *experiments.PermanentError
	if !errors.As(err, &perm) || perm.Reason != chaosv1alpha1.ReasonFaultConflict {
		t.Fatalf("Refresh = %v, want a PermanentError with reason FaultConflict", err)
	}
}

// A gone hostNetwork pod's Injection on a node whose agent never acts (down, not scheduled) is
// let go once the fault's expiry has passed: the agent takes expired faults off, and sweeps
// the node's link, whenever it runs; the experiment's deletion must not wait for ever.
func TestNetworkRecoverReleasesAnExpiredHostNetworkInjectionWithoutAnAgent(t *testing.T) {
	mustCreate(t, builder.Namespace("net-hn-expired"), builder.NodeInZone("node-hn-noagent", "z1"))
	exp := partition("net-hn-expired", "cut", "10.99.0.3/32", time.Hour)
	inj, target := injectionFor(t, exp, "exporter", "0b8a3f5e-0000-4000-8000-00000000a004", "node-hn-noagent", true)
	fake := clocktesting.NewFakePassiveClock(time.Now())
	n := &network.Network{Client: k8s, Reader: k8s, Clock: fake}
	if err := n.Recover(t.Context(), exp, target); !errors.Is(err, experiments.ErrInProgress) {
		t.Fatalf("Recover before the expiry = %v, want it to wait for the agent", err)
	}
	fake.SetTime(inj.Spec.ExpiresAt.Add(time.Second))
	if err := n.Recover(t.Context(), exp, target); err != nil {
		t.Fatalf("Recover after the expiry: %v", err)
	}
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(inj), inj); !apierrors.IsNotFound(err) {
		t.Errorf("the expired Injection is still there (err %v, finalizers %v)", err, inj.Finalizers)
	}
}

// An apply failure reported on a fault that had landed (the agent failing to open the namespace
// of a pod whose process just restarted) is retried while it may pass, and refused once it lasts.
func TestNetworkRefreshRetriesAPassingApplyFailure(t *testing.T) {
	mustCreate(t, builder.Namespace("net-applyfail"))
	pod := builder.OnNode(builder.Pod("net-applyfail", "web", map[string]string{"app": "web"}), "node-af")
	mustCreate(t, pod)
	exp := partition("net-applyfail", "cut", "10.99.0.3/32", time.Hour)
	mustCreate(t, exp)
	exp.Status.StartedAt = &metav1.Time{Time: time.Now()} // as the engine records it: the expiry stays put
	fake := clocktesting.NewFakePassiveClock(time.Now())
	n := &network.Network{Client: k8s, Reader: k8s, Clock: fake}
	target := chaosv1alpha1.TargetStatus{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: "node-af", State: chaosv1alpha1.TargetInjected}
	if err := n.Inject(t.Context(), exp, target, false); !errors.Is(err, experiments.ErrInProgress) {
		t.Fatalf("Inject with no agent = %v, want it in progress", err)
	}
	// The agent's verdict on the current generation: it could not apply the fault.
	inj := &chaosv1alpha1.Injection{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: exp.Namespace, Name: network.InjectionName(exp, pod.UID)}, inj); err != nil {
		t.Fatal(err)
	}
	inj.Status.ObservedGeneration = inj.Generation
	meta.SetStatusCondition(&inj.Status.Conditions, metav1.Condition{Type: chaosv1alpha1.ConditionApplied, Status: metav1.ConditionFalse,
		Reason: chaosv1alpha1.ReasonApplyFailed, Message: "opening the pod's network namespace: no such process", ObservedGeneration: inj.Generation,
		LastTransitionTime: metav1.NewTime(fake.Now())})
	if err := k8s.Status().Update(t.Context(), inj); err != nil {
		t.Fatal(err)
	}
	if err := n.Refresh(t.Context(), exp, []chaosv1alpha1.TargetStatus{target}); !errors.Is(err, experiments.ErrInProgress) {
		t.Fatalf("Refresh on a fresh apply failure = %v, want it retried (in progress)", err)
	}
	fake.SetTime(fake.Now().Add(31 * time.Second))
	err := n.Refresh(t.Context(), exp, []chaosv1alpha1.TargetStatus{target})
	var perm *experiments.PermanentError
	if !errors.As(err, &perm) || perm.Reason != chaosv1alpha1.ReasonApplyFailed {
		t.Fatalf("Refresh on an apply failure lasting 31s = %v, want a PermanentError ApplyFailed", err)
	}
}

// A running network experiment's Refresh costs the API server one destination list per pass,
// not reads per target. It read each target's pod, its Injection and the destinations, all
// uncached: an experiment over 1,000 pods made 3,000 requests a pass (every Injection update
// and at least every 5 s), 60 s of the manager's client-side limit (--kube-api-qps 50), which
// every other experiment's kill and every game day's abort then queued behind.
func TestNetworkRefreshReadsNothingPerTarget(t *testing.T) {
	const ns, node, targets = "net-reads", "node-reads", 20
	ctx := t.Context()
	mustCreate(t, builder.Namespace(ns))
	destPod(t, ns, "db-0", "10.202.0.1")
	exp := rateLimit(ns, "slow", 1000, &chaosv1alpha1.NetworkDestinations{
		PodSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}})
	mustCreate(t, exp)
	// As the engine has it once running (the faults' expiry counts from it).
	exp.Status.StartedAt = &metav1.Time{Time: time.Now()}

	// The manager's Network: Injections from its cache (it watches them), the rest uncached.
	injections, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = injections.Start(ctx) }()
	cached, err := client.New(cfg, client.Options{Scheme: scheme, Cache: &client.CacheOptions{Reader: injections, DisableFor: []client.Object{&corev1.Pod{}}}})
	if err != nil {
		t.Fatal(err)
	}
	reads := &countingReader{Reader: k8s}
	n := &network.Network{Client: cached, Reader: reads}

	var ts []chaosv1alpha1.TargetStatus
	for i := range targets {
		pod := builder.OnNode(builder.Pod(ns, fmt.Sprintf("web-%d", i), map[string]string{"app": "web"}), node)
		mustCreate(t, pod)
		pod.Status = builder.RunningStatus(time.Now())
		pod.Status.PodIP = fmt.Sprintf("10.203.0.%d", i+1)
		if err := k8s.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		target := chaosv1alpha1.TargetStatus{Namespace: ns, Name: pod.Name, UID: pod.UID, Node: node, State: chaosv1alpha1.TargetSelected}
		if err := n.Inject(ctx, exp, target, false); !errors.Is(err, experiments.ErrInProgress) {
			t.Fatalf("Inject of %s = %v, want it waiting for the agent", pod.Name, err)
		}
		agentApplied(t, client.ObjectKey{Namespace: ns, Name: network.InjectionName(exp, pod.UID)})
		target.State = chaosv1alpha1.TargetInjected
		ts = append(ts, target)
	}
	eventually(t, "the cache to hold every applied Injection", 10*time.Second, func() bool {
		var l chaosv1alpha1.InjectionList
		if err := cached.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return false
		}
		applied := 0
		for _, inj := range l.Items {
			if verdictApplied(&inj) {
				applied++
			}
		}
		return applied == targets
	})

	reads.reset()
	if err := n.Refresh(ctx, exp, ts); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got := reads.total(); got != 1 {
		t.Errorf("Refresh of %d targets made %d uncached reads (%v), want 1: the destination pods' list", targets, got, reads.calls())
	}

	// A round's Injects at once (the engine runs them in parallel, and again on every pass while
	// agents answer) resolve the destinations once between them, and read no pod or Injection
	// the cache holds.
	reads.reset()
	var wg sync.WaitGroup
	for _, tg := range ts {
		wg.Go(func() {
			if err := n.Inject(ctx, exp, tg, true); err != nil {
				t.Errorf("Inject of %s: %v", tg.Name, err)
			}
		})
	}
	wg.Wait()
	if got := reads.total(); got > 1 {
		t.Errorf("Injects of %d targets at once made %d uncached reads (%v), want at most 1: the destination pods' list (none while the last one is fresh)", targets, got, reads.calls())
	}

	// It still follows the destinations: a new db pod reaches every target's Injection (once the
	// API server's watch cache, which destinations are listed from, has it).
	destPod(t, ns, "db-1", "10.202.0.2")
	want := []string{"10.202.0.1/32", "10.202.0.2/32"}
	eventually(t, "every Injection to follow the new db pod", 10*time.Second, func() bool {
		if err := n.Refresh(ctx, exp, ts); apierrors.IsConflict(err) {
			return false // an update from a cached Injection older than the last: the next pass
		} else if err != nil {
			t.Fatalf("Refresh after a destination appeared: %v", err)
		}
		for _, tg := range ts {
			var inj chaosv1alpha1.Injection
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: network.InjectionName(exp, tg.UID)}, &inj); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(inj.Spec.Faults[0].CIDRs, want) {
				return false
			}
		}
		return true
	})
}

// agentApplied writes the verdict the agent writes once the Injection's faults are in place.
func agentApplied(t *testing.T, key client.ObjectKey) {
	t.Helper()
	var inj chaosv1alpha1.Injection
	if err := k8s.Get(t.Context(), key, &inj); err != nil {
		t.Fatal(err)
	}
	inj.Status.ObservedGeneration = inj.Generation
	meta.SetStatusCondition(&inj.Status.Conditions, metav1.Condition{Type: chaosv1alpha1.ConditionApplied, Status: metav1.ConditionTrue,
		Reason: chaosv1alpha1.ReasonFaultApplied, Message: "1 fault(s) on eth0", ObservedGeneration: inj.Generation})
	if err := k8s.Status().Update(t.Context(), &inj); err != nil {
		t.Fatal(err)
	}
}

func verdictApplied(inj *chaosv1alpha1.Injection) bool {
	c := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
	return c != nil && c.Reason == chaosv1alpha1.ReasonFaultApplied && c.ObservedGeneration == inj.Generation
}

// countingReader counts the reads that reach the API server through it, by kind of call.
type countingReader struct {
	client.Reader
	// namespace, when set, is the only one whose reads are counted: a manager a test starts also
	// resumes the experiments earlier tests left running, and reads for them.
	namespace string
	mu        sync.Mutex
	n         map[string]int
}

func (c *countingReader) count(namespace, call string, obj any) {
	if c.namespace != "" && namespace != c.namespace {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[fmt.Sprintf("%s %T", call, obj)]++
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.count(key.Namespace, "get", obj)
	return c.Reader.Get(ctx, key, obj, opts...)
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.count((&client.ListOptions{}).ApplyOptions(opts).Namespace, "list", list)
	return c.Reader.List(ctx, list, opts...)
}

// made is how many calls of one kind (call "get" or "list", on obj's type) it counted.
func (c *countingReader) made(call string, obj any) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[fmt.Sprintf("%s %T", call, obj)]
}

func (c *countingReader) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

func (c *countingReader) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum := 0
	for _, v := range c.n {
		sum += v
	}
	return sum
}

func (c *countingReader) calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

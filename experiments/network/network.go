// Package network is the network fault kinds (NetworkLatency, PacketLoss, NetworkRateLimit,
// NetworkPartition). The manager never touches a pod's network itself: for each target it
// writes an Injection (the pod's desired faults and an absolute expiry) that the agent on the
// pod's node applies through netlink, and reads the agent's verdict back from its status.
package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/internal/apiread"
)

// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=injections,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get

// Network implements every network action; the experiment's spec.network says what to inject.
type Network struct {
	// Client writes Injections, and reads them from the manager's cache (it watches them): a
	// pass over many targets then costs the API server no read per target.
	Client client.Client
	// Reader reads pods uncached (pods are never cached cluster-wide), and an Injection the
	// cache has not seen yet.
	Reader client.Reader
	// Clock judges how long an apply failure has lasted (nil: the real clock).
	Clock clock.PassiveClock

	// recent holds each experiment's destinations for a moment (a *recentDest per UID), so a
	// round injecting many targets at once resolves them once, not once per target.
	recent sync.Map
}

// recentDest is one experiment's destinations as last resolved for Inject.
type recentDest struct {
	mu  sync.Mutex
	at  time.Time // zero: not resolved yet
	gen int64
	d   destinations
}

// recentFor is how long Inject reuses resolved destinations: a round's targets are injected
// within it, and Refresh, which resolves afresh on every pass, follows changes after.
const recentFor = time.Second

var _ experiments.Fault = (*Network)(nil)

// Lasting: a network fault stays until the agent removes it.
func (*Network) Lasting(*chaosv1alpha1.Experiment) bool { return true }

// Preflight refuses hostNetwork pods (unless allowed: their namespace is the node's) and pods not
// yet on a node (no agent can reach them).
func (n *Network) Preflight(_ context.Context, exp *chaosv1alpha1.Experiment, targets []corev1.Pod) error {
	for _, p := range targets {
		if p.Spec.HostNetwork && (exp.Spec.Network == nil || !exp.Spec.Network.AllowHostNetwork) {
			return fmt.Errorf("pod %s/%s uses the host network: a fault there would shape the node %s's own traffic; set spec.network.allowHostNetwork to mean it",
				p.Namespace, p.Name, p.Spec.NodeName)
		}
		if p.Spec.NodeName == "" {
			return fmt.Errorf("pod %s/%s is not scheduled on a node yet", p.Namespace, p.Name)
		}
	}
	return nil
}

// InjectionName is the Injection of one experiment on one pod: stable, so every pass (and a
// restarted manager) finds the same object instead of making a second.
func InjectionName(exp *chaosv1alpha1.Experiment, uid types.UID) string {
	name := exp.Name
	if len(name) > 200 {
		sum := sha256.Sum256([]byte(name))
		name = name[:180] + "-" + hex.EncodeToString(sum[:4])
	}
	return name + "-" + string(uid)[:min(13, len(uid))]
}

func experimentLabel(name string) string {
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:50] + "-" + hex.EncodeToString(sum[:6])
}

// Inject writes (or brings up to date) the target's Injection and reports what the agent says:
// nil once applied, ErrInProgress while waiting, a PermanentError for a refusal retrying cannot fix.
// A pass that finds the Injection made already (the agent had not answered) reads no pod: the
// Injection names it, and the agent's verdict says if it is gone.
func (n *Network) Inject(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, _ bool) error {
	dest, err := n.roundDestinations(ctx, exp)
	if err != nil {
		return err
	}
	inj, err := n.bring(ctx, exp, t, dest, true)
	switch {
	case err != nil:
		return err
	case inj == nil:
		return experiments.ErrTargetGone
	}
	return verdict(inj)
}

// bring makes the target's Injection carry exp's fault to dest, and returns it; nil when the
// target's pod is gone (or terminating, with terminatingGone) and no Injection was made. The
// Injection is read from the cache; only without one is the pod read, which names what to make.
func (n *Network) bring(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, dest destinations, terminatingGone bool) (*chaosv1alpha1.Injection, error) {
	inj, err := n.cached(ctx, exp, t.UID)
	if err != nil {
		return nil, err
	}
	var spec chaosv1alpha1.InjectionSpec
	if inj != nil {
		spec = n.desired(exp, inj.Spec.Pod, inj.Spec.NodeName, inj.Spec.HostNetwork, dest)
	} else {
		pod, err := n.pod(ctx, t)
		switch {
		case err != nil:
			return nil, err
		case pod == nil || (terminatingGone && pod.DeletionTimestamp != nil):
			return nil, nil
		}
		spec = n.desired(exp, podRef(pod), pod.Spec.NodeName, pod.Spec.HostNetwork, dest)
	}
	return n.ensure(ctx, exp, inj, spec)
}

// cached reads the experiment's Injection on the pod with uid from the manager's cache (the
// manager watches Injections); nil when the cache does not hold it.
func (n *Network) cached(ctx context.Context, exp *chaosv1alpha1.Experiment, uid types.UID) (*chaosv1alpha1.Injection, error) {
	inj := &chaosv1alpha1.Injection{}
	key := client.ObjectKey{Namespace: exp.Namespace, Name: InjectionName(exp, uid)}
	if err := n.Client.Get(ctx, key, inj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading injection %s: %w", key.Name, err)
	}
	return inj, nil
}

// pod reads the target's pod from the API server's watch cache; nil when it is gone (or the name
// is another pod's now).
func (n *Network) pod(ctx context.Context, t chaosv1alpha1.TargetStatus) (*corev1.Pod, error) {
	var pod corev1.Pod
	err := n.Reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, &pod, apiread.FromWatchCache{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading pod %s/%s: %w", t.Namespace, t.Name, err)
	case pod.UID != t.UID:
		return nil, nil
	}
	return &pod, nil
}

func podRef(p *corev1.Pod) chaosv1alpha1.InjectionPod {
	return chaosv1alpha1.InjectionPod{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)}
}

// desired is the Injection spec of exp's fault on one pod.
func (n *Network) desired(exp *chaosv1alpha1.Experiment, pod chaosv1alpha1.InjectionPod, node string, hostNetwork bool, dest destinations) chaosv1alpha1.InjectionSpec {
	spec := exp.Spec.Network
	f := chaosv1alpha1.InjectedFault{
		ID:             exp.Namespace + "/" + exp.Name,
		Direction:      spec.Direction,
		Partition:      exp.Spec.Action == chaosv1alpha1.ActionNetworkPartition,
		NetworkShaping: spec.NetworkShaping,
	}
	if f.Direction == "" {
		f.Direction = chaosv1alpha1.DirectionEgress
	}
	if d := spec.Destinations; d != nil {
		f.CIDRs = slices.Clone(dest.cidrs)
		f.Ports = slices.Clone(d.Ports)
		f.Protocol = d.Protocol
		f.NoMatch = dest.noMatch
	}
	start := time.Now()
	if exp.Status.StartedAt != nil {
		start = exp.Status.StartedAt.Time
	}
	return chaosv1alpha1.InjectionSpec{
		NodeName:         node,
		Pod:              pod,
		Faults:           []chaosv1alpha1.InjectedFault{f},
		ExpiresAt:        metav1.Time{Time: start.Add(exp.Spec.Duration.Duration).Truncate(time.Second)},
		HostNetwork:      hostNetwork,
		AllowHostNetwork: spec.AllowHostNetwork,
	}
}

// destinations are an experiment's destination addresses, resolved once for all its targets.
type destinations struct {
	cidrs []string
	// noMatch: a pod selector is all the destinations there are, and it matches no pod.
	noMatch bool
}

// roundDestinations is destinations, resolved at most once a second for one experiment however
// many of its targets are injected at once (the others wait for that one resolution). It is
// never older than the last resolution (freshDestinations, Refresh's), so an Inject never writes
// back destinations older than ones already written.
func (n *Network) roundDestinations(ctx context.Context, exp *chaosv1alpha1.Experiment) (destinations, error) {
	return n.resolveDestinations(ctx, exp, recentFor)
}

// freshDestinations resolves the destinations now, and keeps them for roundDestinations.
func (n *Network) freshDestinations(ctx context.Context, exp *chaosv1alpha1.Experiment) (destinations, error) {
	return n.resolveDestinations(ctx, exp, 0)
}

// resolveDestinations reuses the experiment's last resolution when younger than reuse. Entries
// of experiments not resolving any more are dropped as others are stored.
func (n *Network) resolveDestinations(ctx context.Context, exp *chaosv1alpha1.Experiment, reuse time.Duration) (destinations, error) {
	v, _ := n.recent.LoadOrStore(exp.UID, &recentDest{})
	r := v.(*recentDest)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && r.gen == exp.Generation && time.Since(r.at) < reuse {
		return r.d, nil
	}
	d, err := n.destinations(ctx, exp)
	if err != nil {
		return d, err
	}
	r.at, r.gen, r.d = time.Now(), exp.Generation, d
	n.recent.Range(func(k, v any) bool {
		if o := v.(*recentDest); k != exp.UID && o.mu.TryLock() {
			if !o.at.IsZero() && time.Since(o.at) > time.Minute {
				n.recent.Delete(k)
			}
			o.mu.Unlock()
		}
		return true
	})
	return d, nil
}

// destinations resolves spec.network.destinations: its CIDRs and the IPs of the pods its
// podSelector matches now.
func (n *Network) destinations(ctx context.Context, exp *chaosv1alpha1.Experiment) (destinations, error) {
	if exp.Spec.Network == nil {
		return destinations{}, fmt.Errorf("experiment %s has no spec.network", exp.Name)
	}
	d := exp.Spec.Network.Destinations
	if d == nil {
		return destinations{}, nil
	}
	out := destinations{cidrs: slices.Clone(d.CIDRs)}
	if d.PodSelector != nil {
		ips, err := n.podIPs(ctx, exp, d)
		if err != nil {
			return destinations{}, err
		}
		out.cidrs = append(out.cidrs, ips...)
		out.noMatch = len(out.cidrs) == 0
	}
	if len(out.cidrs) > chaosv1alpha1.MaxInjectedCIDRs {
		// The Injection would be invalid: no retry fixes that while the pods stay.
		return destinations{}, &experiments.PermanentError{Reason: chaosv1alpha1.ReasonTooManyDestinations,
			Message: fmt.Sprintf("spec.network.destinations resolve to %d addresses (%d cidrs and the IPs of the pods podSelector matches), over the cap of %d per Injection",
				len(out.cidrs), len(d.CIDRs), chaosv1alpha1.MaxInjectedCIDRs)}
	}
	return out, nil
}

// podIPs resolves a destination pod selector to /32s, sorted so an unchanged set writes nothing.
func (n *Network) podIPs(ctx context.Context, exp *chaosv1alpha1.Experiment, d *chaosv1alpha1.NetworkDestinations) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.PodSelector.AsMeta())
	if err != nil {
		return nil, fmt.Errorf("spec.network.destinations.podSelector: %w", err)
	}
	namespaces := d.PodNamespaces
	if len(namespaces) == 0 {
		namespaces = []string{exp.Namespace}
	}
	var ips []string
	for _, ns := range namespaces {
		var pods corev1.PodList
		if err := n.Reader.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}, apiread.FromWatchCache{}); err != nil {
			return nil, fmt.Errorf("resolving destination pods in %s: %w", ns, err)
		}
		for _, p := range pods.Items {
			if p.Status.PodIP != "" && !p.Spec.HostNetwork && p.DeletionTimestamp == nil {
				ips = append(ips, p.Status.PodIP+"/32")
			}
		}
	}
	slices.Sort(ips)
	return slices.Compact(ips), nil
}

// ensure brings inj (as cached; nil when the cache does not hold it) to spec, creating it when
// it does not exist.
func (n *Network) ensure(ctx context.Context, exp *chaosv1alpha1.Experiment, inj *chaosv1alpha1.Injection, spec chaosv1alpha1.InjectionSpec) (*chaosv1alpha1.Injection, error) {
	if inj == nil {
		created := &chaosv1alpha1.Injection{ObjectMeta: metav1.ObjectMeta{Namespace: exp.Namespace, Name: InjectionName(exp, types.UID(spec.Pod.UID)),
			Labels: map[string]string{
				chaosv1alpha1.LabelInjectionNode:       spec.NodeName,
				chaosv1alpha1.LabelInjectionPod:        spec.Pod.UID,
				chaosv1alpha1.LabelInjectionExperiment: experimentLabel(exp.Name),
			},
			Finalizers:      []string{chaosv1alpha1.FinalizerAgentCleanup},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(exp, chaosv1alpha1.GroupVersion.WithKind("Experiment"))},
		}, Spec: spec}
		err := n.Client.Create(ctx, created)
		switch {
		case err == nil:
			return created, nil
		case !apierrors.IsAlreadyExists(err):
			return nil, fmt.Errorf("creating injection %s: %w", created.Name, err)
		}
		// Made on an earlier pass that the cache has not seen yet.
		inj = &chaosv1alpha1.Injection{}
		if err := n.Reader.Get(ctx, client.ObjectKeyFromObject(created), inj); err != nil {
			return nil, fmt.Errorf("reading injection %s: %w", created.Name, err)
		}
	}
	if inj.DeletionTimestamp != nil {
		return nil, fmt.Errorf("%w: injection %s is being removed", experiments.ErrInProgress, inj.Name)
	}
	if !equality.Semantic.DeepEqual(inj.Spec, spec) {
		inj.Spec = spec
		if err := n.Client.Update(ctx, inj); err != nil {
			return nil, fmt.Errorf("updating injection %s: %w", inj.Name, err)
		}
	}
	return inj, nil
}

// verdict reads the agent's status of the current generation.
func verdict(inj *chaosv1alpha1.Injection) error {
	c := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
	if c == nil || inj.Status.ObservedGeneration != inj.Generation || c.ObservedGeneration != inj.Generation {
		return fmt.Errorf("%w: waiting for the agent on node %s to apply injection %s", experiments.ErrInProgress, inj.Spec.NodeName, inj.Name)
	}
	switch c.Reason {
	case chaosv1alpha1.ReasonFaultApplied:
		return nil
	case chaosv1alpha1.ReasonKernelUnsupported, chaosv1alpha1.ReasonHostNetworkRefused, chaosv1alpha1.ReasonFaultConflict, chaosv1alpha1.ReasonEmergencyStop, chaosv1alpha1.ReasonExpiryTooFar:
		return &experiments.PermanentError{Reason: c.Reason, Message: fmt.Sprintf("%s/%s on node %s: %s", inj.Spec.Pod.Namespace, inj.Spec.Pod.Name, inj.Spec.NodeName, c.Message)}
	case chaosv1alpha1.ReasonPodNotFound:
		return experiments.ErrTargetGone
	}
	return fmt.Errorf("agent on node %s: %s: %s", inj.Spec.NodeName, c.Reason, c.Message)
}

// Recover deletes the target's Injection and waits until the agent has taken the faults off and
// let it go. A pod that is gone took its network namespace with it: nothing is left to remove,
// so the manager lets the Injection go itself rather than wait on an agent that has nothing to do.
// Not so a hostNetwork pod, whose faults are on the node's link: the agent must clear that.
func (n *Network) Recover(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error {
	key := client.ObjectKey{Namespace: exp.Namespace, Name: InjectionName(exp, t.UID)}
	inj, err := n.cached(ctx, exp, t.UID)
	if err != nil {
		return err
	}
	if inj == nil {
		// One made just now may not be in the cache yet: only the API server says it is gone.
		inj = &chaosv1alpha1.Injection{}
		if err := n.Reader.Get(ctx, key, inj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("reading injection %s: %w", key.Name, err)
		}
	}
	if inj.DeletionTimestamp == nil {
		if err := n.Client.Delete(ctx, inj); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting injection %s: %w", key.Name, err)
		}
	}
	var pod corev1.Pod
	err = n.Reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, &pod)
	if apierrors.IsNotFound(err) || (err == nil && pod.UID != t.UID) {
		if inj.Spec.HostNetwork {
			// A hostNetwork pod's faults are on the node's own link, which outlives the pod: only
			// the agent can take them off, and it lets the Injection go once it has. A node that
			// is gone has nothing left to clear. Past the fault's expiry the agent needs no
			// Injection either: it takes expired faults off, and its sweep clears the node's link
			// of any fault no live Injection holds, whenever it runs (an agent that is down or
			// not scheduled must not hold the experiment's deletion for ever).
			var node corev1.Node
			err := n.Reader.Get(ctx, client.ObjectKey{Name: inj.Spec.NodeName}, &node)
			switch {
			case err == nil && n.now().Before(inj.Spec.ExpiresAt.Time):
				return fmt.Errorf("%w: waiting for the agent on node %s to remove the fault from the node's network namespace", experiments.ErrInProgress, inj.Spec.NodeName)
			case err != nil && !apierrors.IsNotFound(err):
				return fmt.Errorf("reading node %s: %w", inj.Spec.NodeName, err)
			}
		}
		if err := releaseFinalizer(ctx, n.Client, inj); err != nil {
			return fmt.Errorf("releasing injection %s of a gone pod: %w", key.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", t.Namespace, t.Name, err)
	}
	return fmt.Errorf("%w: waiting for the agent on node %s to remove the fault", experiments.ErrInProgress, inj.Spec.NodeName)
}

// Refresh re-reads the agent's verdict on every injected target's fault, and first re-resolves
// destination pods (spec.network.destinations.podSelector) so an Injection follows them. Any
// experiment's fault can be refused after it landed: the agent keeps the oldest of two that
// clash, and a clash can appear when another experiment's destinations change. A refusal is a
// PermanentError, so the experiment fails and says why rather than claim a fault that is off.
// ApplyFailed is retried while it may pass (the agent failing to open the namespace of a pod
// whose process just restarted) and refused once it has lasted applyFailedFor.
func (n *Network) Refresh(ctx context.Context, exp *chaosv1alpha1.Experiment, targets []chaosv1alpha1.TargetStatus) error {
	if exp.Spec.Network == nil {
		return nil
	}
	var dest *destinations // resolved once for every target
	for _, t := range targets {
		if t.State != chaosv1alpha1.TargetInjected {
			continue
		}
		if dest == nil {
			d, err := n.freshDestinations(ctx, exp)
			if err != nil {
				return err
			}
			dest = &d
		}
		inj, err := n.bring(ctx, exp, t, *dest, false)
		if err != nil {
			return err
		}
		if inj == nil {
			continue // gone: Recover handles it
		}
		err = verdict(inj)
		var perm *experiments.PermanentError
		switch {
		case err == nil, errors.Is(err, experiments.ErrInProgress), errors.Is(err, experiments.ErrTargetGone):
		case errors.As(err, &perm):
			return err
		default:
			c := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
			if c == nil || c.Reason != chaosv1alpha1.ReasonApplyFailed {
				return err
			}
			msg := fmt.Sprintf("%s/%s on node %s: %s", inj.Spec.Pod.Namespace, inj.Spec.Pod.Name, inj.Spec.NodeName, c.Message)
			if n.now().Sub(c.LastTransitionTime.Time) >= applyFailedFor {
				return &experiments.PermanentError{Reason: c.Reason, Message: fmt.Sprintf("%s (for over %s)", msg, applyFailedFor)}
			}
			return fmt.Errorf("%w: the agent could not apply the fault and retries: %s", experiments.ErrInProgress, msg)
		}
	}
	return nil
}

// applyFailedFor is how long the agent may keep failing to apply a fault that had landed before
// the experiment gives up on it.
const applyFailedFor = 30 * time.Second

func (n *Network) now() time.Time {
	if n.Clock != nil {
		return n.Clock.Now()
	}
	return time.Now()
}

// releaseFinalizer takes the agent's finalizer off inj with a JSON patch that tests the entry it
// removes: inj was read before the Delete above bumped its resourceVersion, so an Update (or an
// optimistically locked merge patch) would conflict every time, and a plain merge patch would
// overwrite a finalizer list changed meanwhile.
func releaseFinalizer(ctx context.Context, c client.Client, inj *chaosv1alpha1.Injection) error {
	i := slices.Index(inj.Finalizers, chaosv1alpha1.FinalizerAgentCleanup)
	if i < 0 {
		return nil
	}
	path := fmt.Sprintf("/metadata/finalizers/%d", i)
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": path, "value": chaosv1alpha1.FinalizerAgentCleanup},
		{"op": "remove", "path": path},
	})
	if err != nil {
		return err
	}
	return client.IgnoreNotFound(c.Patch(ctx, inj, client.RawPatch(types.JSONPatchType, patch)))
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
)

// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=injections,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=injections/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=emergencystops,verbs=get;list;watch

// InjectionReconciler applies the Injections of this node's pods. It reconciles per network
// namespace: per pod (the request's name is the pod UID), and once for the node's own namespace
// (hostKey), which every hostNetwork pod shares. Every Injection on one namespace composes into
// its one tc tree, so each pass computes that namespace's whole desired set and makes the kernel
// match it.
type InjectionReconciler struct {
	Client   client.Client
	NodeName string
	Resolver Resolver
	Clock    clock.Clock
	// SweepEvery re-runs the sweep of the node's pods (it always runs once at start).
	SweepEvery time.Duration

	sweeps chan event.GenericEvent
	// faulty is the pods this agent last left with faults in place (for the gauge).
	faultyMu sync.Mutex
	faulty   map[string]bool
}

func (r *InjectionReconciler) track(podUID string, hasFaults bool) {
	r.faultyMu.Lock()
	defer r.faultyMu.Unlock()
	if r.faulty == nil {
		r.faulty = map[string]bool{}
	}
	if hasFaults {
		r.faulty[podUID] = true
	} else {
		delete(r.faulty, podUID)
	}
	podsWithFaults.Set(float64(len(r.faulty)))
}

func countApplied(live []*chaosv1alpha1.Injection, v map[types.UID]metav1.Condition) int {
	n := 0
	for _, inj := range live {
		if v[inj.UID].Reason == chaosv1alpha1.ReasonFaultApplied {
			n++
		}
	}
	return n
}

// hostKey is the request name of the node's own namespace: every hostNetwork pod's Injections
// act on that one link, so they are reconciled together under this key (no pod UID looks like it).
const hostKey = "host-network"

// Reconcile makes one pod's faults equal to its live Injections, and reports on each. The
// request hostKey does the same for the node's namespace and every hostNetwork Injection.
func (r *InjectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name == hostKey {
		return r.reconcileHost(ctx)
	}
	podUID := req.Name
	var list chaosv1alpha1.InjectionList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{chaosv1alpha1.LabelInjectionPod: podUID}); err != nil {
		return ctrl.Result{}, err
	}
	// hostNetwork Injections belong to hostKey's pass, whatever enqueued this pod.
	injs := slices.DeleteFunc(list.Items, func(inj chaosv1alpha1.Injection) bool { return inj.Spec.HostNetwork })
	sortInjections(injs)
	now := r.Clock.Now()

	ns, err := r.Resolver.NetNS(podUID)
	if errors.Is(err, ErrPodNotFound) {
		// The pod is gone and its own namespace with it: nothing is left to remove.
		r.track(podUID, false)
		for i := range injs {
			if err := r.settle(ctx, &injs[i], cond(chaosv1alpha1.ReasonPodNotFound, "no process of the pod runs on node "+r.NodeName), now, true); err != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("finding the network namespace of pod %s: %w", podUID, err)
	}
	if ns.HostNetwork {
		// The pod runs in the node's namespace though its Injections do not say hostNetwork. Only
		// hostKey's pass, which composes every hostNetwork Injection, may touch the node's link:
		// shaping it from here would undo the others'.
		for i := range injs {
			msg := "the pod uses the host network of node " + r.NodeName + " and the injection does not allow it"
			if injs[i].Spec.AllowHostNetwork {
				msg = "the pod uses the host network of node " + r.NodeName + " but the injection does not say hostNetwork"
			}
			if err := r.settle(ctx, &injs[i], cond(chaosv1alpha1.ReasonHostNetworkRefused, msg), now, true); err != nil {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{}, nil
	}
	return r.converge(ctx, podUID, ns, injs, nil)
}

// reconcileHost makes the node's own namespace carry the faults of every live hostNetwork
// Injection of the node, composed into one tree as a pod's are. A hostNetwork pod that is gone
// leaves its faults on the node's link, so its Injections are taken off here (the pod's own
// namespace, unlike a normal pod's, did not go with it).
func (r *InjectionReconciler) reconcileHost(ctx context.Context) (ctrl.Result, error) {
	var list chaosv1alpha1.InjectionList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{chaosv1alpha1.LabelInjectionNode: r.NodeName}); err != nil {
		return ctrl.Result{}, err
	}
	injs := slices.DeleteFunc(list.Items, func(inj chaosv1alpha1.Injection) bool { return !inj.Spec.HostNetwork })
	sortInjections(injs)
	ns, err := r.Resolver.HostNetNS()
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("finding the node's network namespace: %w", err)
	}
	pods, err := r.Resolver.Pods()
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the node's pods: %w", err)
	}
	gone := func(inj *chaosv1alpha1.Injection) bool {
		_, ok := pods[inj.Spec.Pod.UID]
		return !ok
	}
	return r.converge(ctx, hostKey, ns, injs, gone)
}

// sortInjections orders Injections oldest first: when they conflict, the older one stays.
func sortInjections(injs []chaosv1alpha1.Injection) {
	slices.SortFunc(injs, func(a, b chaosv1alpha1.Injection) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
}

// converge makes namespace ns carry exactly the faults of the live injs (key names it in logs and
// the gauge), writes each one's verdict and lets deleting ones go once their faults are off. gone,
// when set, says an Injection's pod has no process on the node any more.
func (r *InjectionReconciler) converge(ctx context.Context, key string, ns PodNetNS, injs []chaosv1alpha1.Injection, gone func(*chaosv1alpha1.Injection) bool) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("netns", key)
	now := r.Clock.Now()
	stop, err := r.emergencyStop(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	var live []*chaosv1alpha1.Injection
	verdicts := map[types.UID]metav1.Condition{}
	var next time.Time
	for i := range injs {
		inj := &injs[i]
		stopped := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
		if stopped != nil && stopped.Reason != chaosv1alpha1.ReasonEmergencyStop {
			stopped = nil
		}
		switch {
		case inj.DeletionTimestamp != nil:
		case stop != nil && stopped == nil:
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonEmergencyStop, fmt.Sprintf("emergency stop %q is on (%s): the agent on node %s took the fault off, and does not put it back",
				stop.Name, stop.Spec.Reason, r.NodeName))
		case stopped != nil:
			// Taken off by a stop, it stays off once the stop is lifted: a stop ends what was
			// running, as the manager's abort does, and the manager may have been down to see it.
			verdicts[inj.UID] = *stopped
		case inj.Spec.ExpiresAt.Sub(inj.CreationTimestamp.Time) > chaosv1alpha1.MaxFaultDuration+expirySlack:
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonExpiryTooFar, fmt.Sprintf("expiresAt %s is more than %s after the Injection was made (%s): no experiment lasts that long, and the agent removes every fault by itself by then",
				inj.Spec.ExpiresAt.UTC().Format(time.RFC3339), chaosv1alpha1.MaxFaultDuration, inj.CreationTimestamp.UTC().Format(time.RFC3339)))
		case !now.Before(inj.Spec.ExpiresAt.Time):
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonExpired, "expired at "+inj.Spec.ExpiresAt.UTC().Format(time.RFC3339)+"; removed by the agent")
		case (ns.HostNetwork || inj.Spec.HostNetwork) && !inj.Spec.AllowHostNetwork:
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonHostNetworkRefused, "the pod uses the host network of node "+r.NodeName+" and the injection does not allow it")
		case gone != nil && gone(inj):
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonPodNotFound, "no process of the pod runs on node "+r.NodeName+"; its faults are off the node's namespace")
		default:
			live = append(live, inj)
			if next.IsZero() || inj.Spec.ExpiresAt.Time.Before(next) {
				next = inj.Spec.ExpiresAt.Time
			}
		}
	}

	start := time.Now()
	applyErr := r.apply(ns, live, verdicts)
	applySeconds.Observe(time.Since(start).Seconds())
	r.track(key, applyErr == nil && countApplied(live, verdicts) > 0)
	for i := range injs {
		inj := &injs[i]
		v, ok := verdicts[inj.UID]
		if inj.DeletionTimestamp == nil && !ok {
			continue
		}
		// A deleting Injection is let go only once its faults are off (the apply succeeded).
		if err := r.settle(ctx, inj, v, now, applyErr == nil); err != nil {
			return ctrl.Result{}, err
		}
	}
	if applyErr != nil {
		return ctrl.Result{}, applyErr
	}
	log.V(1).Info("faults in place", "injections", len(live))
	if next.IsZero() {
		return ctrl.Result{}, nil
	}
	// The dead man's switch: come back at the earliest expiry, with or without the manager.
	return ctrl.Result{RequeueAfter: next.Sub(now)}, nil
}

// expirySlack allows for the manager's clock (expiresAt) running ahead of the API server's
// (creationTimestamp).
const expirySlack = time.Minute

// emergencyStop returns an EmergencyStop that is on, or nil. The agent honours it by itself, so a
// stop holds on every node even while the manager is down.
func (r *InjectionReconciler) emergencyStop(ctx context.Context) (*chaosv1alpha1.EmergencyStop, error) {
	var stops chaosv1alpha1.EmergencyStopList
	if err := r.Client.List(ctx, &stops); err != nil {
		return nil, fmt.Errorf("reading emergency stops: %w", err)
	}
	for i := range stops.Items {
		if stops.Items[i].DeletionTimestamp == nil {
			return &stops.Items[i], nil
		}
	}
	return nil, nil
}

// everyNamespace enqueues every namespace of the node that has an Injection, and the node's own:
// an emergency stop turned on takes every fault off.
func (r *InjectionReconciler) everyNamespace(ctx context.Context, _ client.Object) []reconcile.Request {
	reqs := []reconcile.Request{{NamespacedName: types.NamespacedName{Name: hostKey}}}
	var list chaosv1alpha1.InjectionList
	if err := r.Client.List(ctx, &list); err != nil { // the cache: this node's only
		ctrl.LoggerFrom(ctx).Error(err, "listing the node's injections for an emergency stop; the sweep reaches them")
		return reqs
	}
	for i := range list.Items {
		reqs = append(reqs, byPod(ctx, &list.Items[i])...)
	}
	return reqs
}

// apply puts the live Injections' faults on the pod and fills in a verdict for each. It tries the
// whole set first; when the kernel refuses, it finds which Injections cannot be applied (a kernel
// without netem, a conflict) so the others still are.
func (r *InjectionReconciler) apply(ns PodNetNS, live []*chaosv1alpha1.Injection, verdicts map[types.UID]metav1.Condition) error {
	h, link, closer, err := OpenPodNetNS(ns)
	if err != nil {
		for _, inj := range live {
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonApplyFailed, err.Error())
		}
		return err
	}
	defer closer()
	var accepted []netfault.Fault
	var ok []*chaosv1alpha1.Injection
	candidates := map[types.UID][]netfault.Fault{}
	for _, inj := range live {
		fs, err := toNetfault(inj)
		if err != nil {
			verdicts[inj.UID] = cond(chaosv1alpha1.ReasonApplyFailed, err.Error())
			continue
		}
		candidates[inj.UID] = fs
		ok = append(ok, inj)
		accepted = append(accepted, fs...)
	}
	if err := netfault.ApplyLink(h, link, accepted); err != nil {
		// Find the culprits: add Injections one at a time, oldest first.
		accepted = nil
		var kept []*chaosv1alpha1.Injection
		for _, inj := range ok {
			try := append(slices.Clone(accepted), candidates[inj.UID]...)
			if err := netfault.ApplyLink(h, link, try); err != nil {
				verdicts[inj.UID] = refusal(err, r.NodeName)
				continue
			}
			accepted, kept = try, append(kept, inj)
		}
		ok = kept
		if err := netfault.ApplyLink(h, link, accepted); err != nil {
			return fmt.Errorf("applying the faults that remain: %w", err)
		}
	}
	for _, inj := range ok {
		verdicts[inj.UID] = metav1.Condition{Type: chaosv1alpha1.ConditionApplied, Status: metav1.ConditionTrue,
			Reason: chaosv1alpha1.ReasonFaultApplied, Message: fmt.Sprintf("%d fault(s) on %s", len(candidates[inj.UID]), link.Attrs().Name)}
	}
	return nil
}

func refusal(err error, node string) metav1.Condition {
	switch {
	case errors.Is(err, netfault.ErrNetemUnsupported):
		return cond(chaosv1alpha1.ReasonKernelUnsupported, fmt.Sprintf("sch_netem is not available on node %s: delay, loss, corruption, duplication and reordering need it (rate limits and partitions do not): %v", node, err))
	case errors.Is(err, netfault.ErrConflict):
		return cond(chaosv1alpha1.ReasonFaultConflict, err.Error())
	}
	return cond(chaosv1alpha1.ReasonApplyFailed, err.Error())
}

func cond(reason, msg string) metav1.Condition {
	return metav1.Condition{Type: chaosv1alpha1.ConditionApplied, Status: metav1.ConditionFalse, Reason: reason, Message: msg}
}

// settle writes an Injection's verdict, and lets a deleting one go once its faults are off.
func (r *InjectionReconciler) settle(ctx context.Context, inj *chaosv1alpha1.Injection, v metav1.Condition, now time.Time, faultsOff bool) error {
	if inj.DeletionTimestamp != nil {
		if !faultsOff || !controllerutil.ContainsFinalizer(inj, chaosv1alpha1.FinalizerAgentCleanup) {
			return nil
		}
		patch := client.MergeFromWithOptions(inj.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(inj, chaosv1alpha1.FinalizerAgentCleanup)
		if err := r.Client.Patch(ctx, inj, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("releasing injection %s: %w", klog.KObj(inj), err)
		}
		return nil
	}
	before := inj.DeepCopy()
	v.ObservedGeneration = inj.Generation
	prev := meta.FindStatusCondition(inj.Status.Conditions, chaosv1alpha1.ConditionApplied)
	if v.Reason == chaosv1alpha1.ReasonFaultApplied && (prev == nil || prev.Reason != v.Reason) {
		inj.Status.AppliedAt = &metav1.Time{Time: now}
	}
	if v.Reason == chaosv1alpha1.ReasonExpired && inj.Status.RemovedAt == nil {
		inj.Status.RemovedAt = &metav1.Time{Time: now}
	}
	meta.SetStatusCondition(&inj.Status.Conditions, v)
	inj.Status.ObservedGeneration = inj.Generation
	if equality.Semantic.DeepEqual(before.Status, inj.Status) {
		return nil
	}
	verdicts.WithLabelValues(v.Reason).Inc()
	if err := r.Client.Status().Patch(ctx, inj, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("writing status of injection %s: %w", klog.KObj(inj), err)
	}
	return nil
}

// OpenPodNetNS gets a netlink handle in the pod's namespace and the pod's interface (the one its
// default route leaves by); the func closes both.
func OpenPodNetNS(ns PodNetNS) (*netlink.Handle, netlink.Link, func(), error) {
	nsh, err := netns.GetFromPath(ns.Path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening network namespace %s: %w", ns.Path, err)
	}
	h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
	if err != nil {
		nsh.Close()
		return nil, nil, nil, fmt.Errorf("netlink in %s: %w", ns.Path, err)
	}
	closer := func() { h.Close(); nsh.Close() }
	link, err := defaultLink(h)
	if err != nil {
		closer()
		return nil, nil, nil, err
	}
	return h, link, closer, nil
}

// defaultLink is the interface the default route leaves by, from one route dump: the link is
// known by its index alone (a link lookup would be another netlink round trip).
func defaultLink(h *netlink.Handle) (netlink.Link, error) {
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	for _, rt := range routes {
		if rt.Dst == nil || rt.Dst.IP.IsUnspecified() {
			return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: rt.LinkIndex, Name: fmt.Sprintf("the default route's interface (index %d)", rt.LinkIndex)}}, nil
		}
	}
	// No default route: the first link with a route that is neither loopback nor the IFB.
	for _, rt := range routes {
		if l, err := h.LinkByIndex(rt.LinkIndex); err == nil && l.Attrs().Flags&net.FlagLoopback == 0 && l.Attrs().Name != netfault.IFBName {
			return l, nil
		}
	}
	return nil, errors.New("the pod's namespace has no IPv4 route to find its interface by")
}

// sweep finds every pod on the node that carries Firedrill's tc objects and reconciles it: a pod
// whose Injections are gone (deleted while the agent was down) is cleared. The node's own
// namespace is checked too, through hostKey's pass: it is cleared when no live hostNetwork
// Injection remains, and it is how the agent learns that a hostNetwork pod has gone (no
// Injection changes when a pod's processes exit).
func (r *InjectionReconciler) sweep(ctx context.Context) error {
	if err := r.sweepHost(ctx); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "sweep: the node's namespace")
	}
	pods, err := r.Resolver.Pods()
	if err != nil {
		return fmt.Errorf("listing the node's pods: %w", err)
	}
	for uid, ns := range pods {
		if ns.HostNetwork {
			continue // the node's namespace: sweepHost
		}
		present, err := presentIn(ns)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "sweep: reading a pod's qdiscs", "podUID", uid)
			continue
		}
		if present {
			obj := &chaosv1alpha1.Injection{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{chaosv1alpha1.LabelInjectionPod: uid}}}
			select {
			case r.sweeps <- event.GenericEvent{Object: obj}:
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

func (r *InjectionReconciler) sweepHost(ctx context.Context) error {
	ns, err := r.Resolver.HostNetNS()
	if err != nil {
		return err
	}
	present, err := presentIn(ns)
	if err != nil || !present {
		return err
	}
	obj := &chaosv1alpha1.Injection{Spec: chaosv1alpha1.InjectionSpec{HostNetwork: true}}
	select {
	case r.sweeps <- event.GenericEvent{Object: obj}:
	case <-ctx.Done():
	}
	return nil
}

func presentIn(ns PodNetNS) (bool, error) {
	h, link, closer, err := OpenPodNetNS(ns)
	if err != nil {
		return false, err
	}
	defer closer()
	return netfault.PresentLink(h, link)
}

func byPod(_ context.Context, o client.Object) []reconcile.Request {
	if inj, ok := o.(*chaosv1alpha1.Injection); ok && inj.Spec.HostNetwork {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: hostKey}}}
	}
	uid := o.GetLabels()[chaosv1alpha1.LabelInjectionPod]
	if uid == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: uid}}}
}

// SetupWithManager registers the controller and the sweep (at start, then every SweepEvery).
// The manager's cache must hold only this node's Injections (see cmd/agent).
func (r *InjectionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.SweepEvery == 0 {
		r.SweepEvery = time.Minute
	}
	r.sweeps = make(chan event.GenericEvent)
	err := ctrl.NewControllerManagedBy(mgr).
		Named("injection").
		Watches(&chaosv1alpha1.Injection{}, handler.EnqueueRequestsFromMapFunc(byPod)).
		Watches(&chaosv1alpha1.EmergencyStop{}, handler.EnqueueRequestsFromMapFunc(r.everyNamespace)).
		WatchesRawSource(source.Channel(r.sweeps, handler.EnqueueRequestsFromMapFunc(byPod))).
		Complete(r)
	if err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		t := time.NewTicker(r.SweepEvery)
		defer t.Stop()
		for {
			if err := r.sweep(ctx); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "sweep")
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}))
}

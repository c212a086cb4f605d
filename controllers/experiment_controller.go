// Package controllers holds the GameDay and Experiment reconcilers.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/internal/workload"
)

// FinalizerRecoverFaults holds an Experiment of a lasting fault kind until every fault it
// injected is removed.
const FinalizerRecoverFaults = "chaos.firedrill.dev/recover-faults"

// ExperimentReconciler drives Experiments through Pending → Running → Recovering → Succeeded,
// or Aborted / Failed. Pods and workloads are read through APIReader, uncached and scoped to what
// an experiment names, or from watches scoped the same way (Selections, Tracker), so the manager's
// memory does not grow with the cluster.
type ExperimentReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	Protected selector.Protected
	Faults    map[chaosv1alpha1.Action]experiments.Fault
	Clock     clock.PassiveClock
	// MaxTargets caps every round of every experiment (0: only the experiment's own caps).
	MaxTargets int
	// MaxTargetRecords bounds status.targets (0: chaosv1alpha1.MaxTargetRecords, the schema's
	// bound; tests lower it).
	MaxTargetRecords int
	// RecoveryTimeout bounds the wait for disrupted workloads to be whole again.
	RecoveryTimeout time.Duration
	// RecoveryPoll is how often recovery is checked.
	RecoveryPoll time.Duration
	// InjectTimeout bounds how long a round keeps retrying targets whose injection fails before
	// the experiment fails (and removes what it did inject).
	InjectTimeout time.Duration
	// Tracker, when set, sees disrupted workloads whole again as it happens (a scoped pod watch
	// per workload) and wakes the experiment; the recovery poll remains the fallback.
	Tracker *workload.Tracker
	// Selections, when set, keeps the pods of recent selections, so that a selection made again
	// (the next round, the next run of a drill) is picked from memory instead of listed.
	Selections *selector.Cache

	// written is this controller's last write to each Experiment (see read).
	written ownWrites
	// planActed holds the UIDs of experiments whose planned kill was sent on a pass whose status
	// write has not landed yet: a pass after a failed write resumes the plan (reads each pod from
	// the API server) instead of acting on a selection that may not show the kill yet.
	planActed sync.Map
}

// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=emergencystops,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=nodes,verbs=list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// scope is one reconcile pass: the object as read, the object being changed, and the time.
type scope struct {
	before, exp *chaosv1alpha1.Experiment
	// eventsFrom is the object as last reported in events: the intent write defers its events
	// to the end of the pass, off the path between the intent and the kill.
	eventsFrom *chaosv1alpha1.Experiment
	now        time.Time
	// deleted: the finalizer came off; there is no status to write.
	deleted bool
	// steps times a round started on this pass (nil otherwise).
	steps *stepTimer
	// plan says how round 1's targets came from spec.plannedTargets, if they did.
	plan planUse
}

// planUse is how a pass took round 1's targets from spec.plannedTargets.
type planUse int

const (
	planNone planUse = iota
	// planFresh: every target is a planned pod still selectable. The plan, in the object since
	// its creation, is the round's intent: no write goes before the kill.
	planFresh
	// planResumed: some planned pod is no longer selectable, killed before a restart (or by
	// someone else meanwhile): the round is recorded and resumed, never picked again.
	planResumed
)

// Reconcile reads the Experiment, runs the phase function for where it is, and writes status once
// at the end. The one exception is the intent record written before a fault is injected.
func (r *ExperimentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	exp, err := r.read(ctx, req.NamespacedName)
	if exp == nil || err != nil {
		if exp == nil && err == nil {
			r.release(req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("experiment", klog.KObj(exp)))
	s := &scope{before: exp.DeepCopy(), eventsFrom: exp.DeepCopy(), exp: exp, now: r.Clock.Now()}

	var res ctrl.Result
	switch {
	case !exp.DeletionTimestamp.IsZero():
		res, err = r.reconcileDelete(ctx, s)
	case exp.Status.Phase.Finished():
		r.release(req.NamespacedName)
		return ctrl.Result{}, nil
	default:
		res, err = r.reconcileNormal(ctx, s)
	}
	if s.deleted {
		r.release(req.NamespacedName)
		return res, err
	}
	if errors.Is(err, experiments.ErrInProgress) {
		// Waiting on someone else (an agent): look again soon, not on the error backoff, which
		// grows to minutes. Real errors that came with the wait are retried then too, but said.
		if other := kerrors.FilterOut(err, func(e error) bool { return errors.Is(e, experiments.ErrInProgress) }); other != nil {
			ctrl.LoggerFrom(ctx).Error(other, "retrying at the in-progress poll")
		}
		res, err = ctrl.Result{RequeueAfter: r.inProgressPoll()}, nil
	}
	written := s.before // what this pass last wrote (the intent), or what it read
	werr := r.writeOutcome(ctx, s)
	if werr == nil {
		if s.plan != planNone {
			r.planActed.Delete(exp.UID) // the round is in status now: no pass goes back to the plan
		}
		r.recordEvents(ctx, s.eventsFrom, s.exp)
		if s.exp.Status.Phase.Finished() {
			r.release(req.NamespacedName)
		}
	} else {
		// The intent's transitions happened even if the outcome was not written: the next pass
		// starts from the intent, so they would never be told otherwise.
		r.recordEvents(ctx, s.eventsFrom, written)
	}
	return res, kerrors.NewAggregate([]error{err, werr})
}

// read gets the Experiment, from the API server while the cache is behind this controller's own
// last write to it (see ownWrites): a pass triggered right after that write (an Injection it
// created reporting back) would otherwise act on the status before it (recreate an Injection it
// had just removed). A nil Experiment: it is gone.
func (r *ExperimentReconciler) read(ctx context.Context, key types.NamespacedName) (*chaosv1alpha1.Experiment, error) {
	exp := &chaosv1alpha1.Experiment{}
	if found, err := r.written.get(ctx, r.Client, r.APIReader, key, exp); !found {
		return nil, err
	}
	return exp, nil
}

// release stops following the experiment's workloads.
func (r *ExperimentReconciler) release(key types.NamespacedName) {
	if r.Tracker != nil {
		r.Tracker.Release(key)
	}
}

func (r *ExperimentReconciler) inProgressPoll() time.Duration {
	if r.RecoveryPoll > 0 && r.RecoveryPoll < time.Second {
		return r.RecoveryPoll
	}
	return 250 * time.Millisecond
}

func (r *ExperimentReconciler) reconcileNormal(ctx context.Context, s *scope) (ctrl.Result, error) {
	fault, ok := r.Faults[s.exp.Spec.Action]
	if !ok {
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{Type: chaosv1alpha1.ConditionInjected,
			Status: metav1.ConditionFalse, Reason: chaosv1alpha1.ReasonUnsupportedAction,
			Message: fmt.Sprintf("action %s is not available in this version of Firedrill", s.exp.Spec.Action)})
		return ctrl.Result{}, nil
	}
	if stopped, err := r.stopped(ctx, s, fault); stopped || err != nil {
		return ctrl.Result{}, err
	}
	if why, ok := s.exp.Annotations[chaosv1alpha1.AnnotationAbort]; ok {
		return ctrl.Result{}, r.abort(ctx, s, fault, chaosv1alpha1.ReasonAbortRequested, "abort requested: "+why)
	}
	switch s.exp.Status.Phase {
	case "", chaosv1alpha1.ExperimentPending:
		return r.start(ctx, s, fault)
	case chaosv1alpha1.ExperimentRunning:
		return r.run(ctx, s, fault)
	case chaosv1alpha1.ExperimentRecovering:
		return r.recover(ctx, s)
	}
	return ctrl.Result{}, nil
}

// start runs round 1: select, check, record intent, inject.
func (r *ExperimentReconciler) start(ctx context.Context, s *scope, fault experiments.Fault) (ctrl.Result, error) {
	s.exp.Status.Phase = chaosv1alpha1.ExperimentPending
	s.steps = newStepTimer(r.Clock, string(s.exp.Spec.Action))
	picked, err := r.selectRound(ctx, s, fault, 1)
	if err != nil || picked == nil {
		return ctrl.Result{}, err
	}
	if s.exp.Spec.DryRun {
		s.exp.Status.Targets = picked
		r.finish(s, chaosv1alpha1.ExperimentSucceeded, metav1.Condition{Type: chaosv1alpha1.ConditionInjected,
			Status: metav1.ConditionFalse, Reason: chaosv1alpha1.ReasonDryRun,
			Message: fmt.Sprintf("dry run: %d targets would be hit; nothing was touched", len(picked))})
		return ctrl.Result{}, nil
	}
	if s.plan == planResumed {
		s.steps = nil // a round resumed is not a round started: it is not timed
	}
	s.steps.done(StepSelect)
	if fault.Lasting(s.exp) && !controllerutil.ContainsFinalizer(s.exp, FinalizerRecoverFaults) {
		// Patch a copy: the response must not overwrite the status computed so far. The lock
		// keeps the targets picked above tied to the spec they were picked under (an edit
		// meanwhile conflicts here, and the next pass picks again), and a finalizer someone
		// else added meanwhile is not dropped by the list this patch replaces.
		withFinalizer := s.before.DeepCopy()
		controllerutil.AddFinalizer(withFinalizer, FinalizerRecoverFaults)
		if err := r.Client.Patch(ctx, withFinalizer, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
		r.written.wrote(withFinalizer)
		s.exp.Finalizers, s.exp.ResourceVersion = withFinalizer.Finalizers, withFinalizer.ResourceVersion
		s.before.Finalizers, s.before.ResourceVersion = withFinalizer.Finalizers, withFinalizer.ResourceVersion
		s.steps.done(StepFinalizer)
	}
	s.exp.Status.Phase = chaosv1alpha1.ExperimentRunning
	s.exp.Status.StartedAt = &metav1.Time{Time: s.now}
	if err := r.recordRound(ctx, s, picked, 1); err != nil {
		return ctrl.Result{}, err
	}
	if stopped, err := r.stopped(ctx, s, fault); stopped || err != nil {
		return ctrl.Result{}, err
	}
	if s.plan == planFresh {
		r.planActed.Store(s.exp.UID, struct{}{})
	}
	return r.injectRound(ctx, s, fault, s.plan == planResumed)
}

// selectRound resolves the selector and picks this round's targets. It returns nil targets when
// the experiment cannot go on (and has set why), or an error to retry.
func (r *ExperimentReconciler) selectRound(ctx context.Context, s *scope, fault experiments.Fault, round int32) ([]chaosv1alpha1.TargetStatus, error) {
	exp := s.exp
	if tg, ok := fault.(experiments.Targeter); ok {
		return r.selectNamed(ctx, s, tg, fault, round)
	}
	if exp.Spec.Selector == nil { // the schema requires it; an object stored before that rule still ends clearly
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonInvalidSelector,
			fmt.Sprintf("spec.selector is required for action %s", exp.Spec.Action))
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	cands, err := selector.List(ctx, r.APIReader, r.Selections, *exp.Spec.Selector, r.Protected)
	var invalid *selector.InvalidSelectorError
	switch {
	case errors.As(err, &invalid):
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonInvalidSelector, invalid.Error())
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	case err != nil:
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionUnknown, chaosv1alpha1.ReasonSelectionError, err.Error())
		return nil, err
	}
	if round == 1 && len(exp.Spec.PlannedTargets) > 0 && !exp.Spec.DryRun {
		picked, err := r.adoptPlan(ctx, s, fault, cands)
		if picked != nil || err != nil || s.exp.Status.Phase.Finished() {
			return picked, err
		}
		// No planned pod is selectable and none was acted on: select as if none was planned.
	}
	n := selector.Count(exp.Spec.Mode, exp.Spec.Value, len(cands.Eligible))
	if n == 0 {
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonNoTargets,
			"no running pod matches spec.selector"+skippedNote(cands.SkippedNamespaces))
		if round == 1 {
			r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		}
		return nil, nil
	}
	if msg := r.blastRadius(exp, n, len(cands.Eligible)); msg != "" {
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonBlastRadiusExceeded, msg)
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	pods := selector.Pick(cands.Eligible, n, seed(exp.UID, round))
	if err := fault.Preflight(ctx, exp, pods); err != nil {
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonPreflightFailed, err.Error())
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionTrue, chaosv1alpha1.ReasonTargetsFound,
		fmt.Sprintf("round %d: %d of %d matching pods selected (mode %s)", round, n, len(cands.Eligible), modeOf(exp))+skippedNote(cands.SkippedNamespaces))
	s.exp.Status.SelectedTargets = int32(n)
	out := make([]chaosv1alpha1.TargetStatus, 0, n)
	for i := range pods {
		out = append(out, targetOf(&pods[i], round))
	}
	return out, nil
}

func targetOf(p *corev1.Pod, round int32) chaosv1alpha1.TargetStatus {
	t := chaosv1alpha1.TargetStatus{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Node: p.Spec.NodeName,
		Round: round, State: chaosv1alpha1.TargetSelected}
	if c := metav1.GetControllerOf(p); c != nil {
		t.OwnerKind, t.OwnerName = c.Kind, c.Name
	}
	return t
}

// adoptPlan takes round 1's targets from spec.plannedTargets, picked at admission (PlanWebhook).
// A planned pod spec.selector still selects is a target. A planned pod that is terminating or gone
// is a target resumed: the manager may have killed it before a restart (or a failed status write),
// and cannot tell that from someone else's deletion, so it never picks in its place. Any other
// planned pod (relabelled since, or named in a manifest that did not pass the webhook) is left
// alone, as is one in a protected namespace, which the webhook never plans. The plan is held to
// the same count and caps as a pick. nil targets: no planned pod is a target (or the experiment
// failed, and why is set).
func (r *ExperimentReconciler) adoptPlan(ctx context.Context, s *scope, fault experiments.Fault, cands selector.Candidates) ([]chaosv1alpha1.TargetStatus, error) {
	exp := s.exp
	eligible := make(map[types.UID]*corev1.Pod, len(cands.Eligible))
	for i := range cands.Eligible {
		eligible[cands.Eligible[i].UID] = &cands.Eligible[i]
	}
	_, acted := r.planActed.Load(exp.UID)
	var (
		out      []chaosv1alpha1.TargetStatus
		pods     []corev1.Pod
		resumed  int
		declined []string
		seen     = sets.New[types.UID]()
	)
	for _, pt := range exp.Spec.PlannedTargets {
		if seen.Has(pt.UID) {
			continue
		}
		seen.Insert(pt.UID)
		if p, ok := eligible[pt.UID]; ok && p.Namespace == pt.Namespace && p.Name == pt.Name && !acted {
			out, pods = append(out, targetOf(p, 1)), append(pods, *p)
			continue
		}
		if r.Protected.Has(pt.Namespace) {
			declined = append(declined, pt.Namespace+"/"+pt.Name)
			continue
		}
		var p corev1.Pod
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: pt.Namespace, Name: pt.Name}, &p)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && p.UID != pt.UID):
			resumed++ // the kill finds it gone
			out = append(out, chaosv1alpha1.TargetStatus{Namespace: pt.Namespace, Name: pt.Name, UID: pt.UID,
				Round: 1, State: chaosv1alpha1.TargetSelected})
		case err != nil:
			r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionUnknown, chaosv1alpha1.ReasonSelectionError, err.Error())
			return nil, fmt.Errorf("reading planned pod %s/%s: %w", pt.Namespace, pt.Name, err)
		case p.DeletionTimestamp != nil || (acted && eligible[pt.UID] != nil):
			// The kill finds it terminating, and when it was killed; or, acted on by this process
			// on a pass whose status write failed, still running (a kill that did not land).
			resumed++
			out, pods = append(out, targetOf(&p, 1)), append(pods, p)
		default:
			declined = append(declined, pt.Namespace+"/"+pt.Name)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	total := len(cands.Eligible) + resumed
	if most := selector.Count(exp.Spec.Mode, exp.Spec.Value, total); len(out) > most {
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonBlastRadiusExceeded,
			fmt.Sprintf("spec.plannedTargets names %d pods; mode %s picks %d of the %d matching", len(out), modeOf(exp), most, total))
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	if msg := r.blastRadius(exp, len(out), total); msg != "" {
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonBlastRadiusExceeded, msg)
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	if err := fault.Preflight(ctx, exp, pods); err != nil {
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonPreflightFailed, err.Error())
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	msg := fmt.Sprintf("round 1: %d of %d matching pods, as planned when the experiment was created (mode %s)", len(out), total, modeOf(exp))
	if len(declined) > 0 {
		msg += fmt.Sprintf("; planned but not selected by spec.selector, left alone: %s", strings.Join(declined, ", "))
	}
	r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionTrue, chaosv1alpha1.ReasonTargetsFound, msg+skippedNote(cands.SkippedNamespaces))
	s.exp.Status.SelectedTargets = int32(len(out))
	s.plan = planFresh
	if resumed > 0 {
		s.plan = planResumed
	}
	return out, nil
}

// selectNamed takes the round's targets from a kind that names its own (a cache), then runs its
// preflight. Like selectRound, nil targets mean the experiment cannot go on.
func (r *ExperimentReconciler) selectNamed(ctx context.Context, s *scope, tg experiments.Targeter, fault experiments.Fault, round int32) ([]chaosv1alpha1.TargetStatus, error) {
	// A kind that names its own target refuses one in a protected namespace itself (a
	// PermanentError with its reason), before it reads or dials anything.
	targets, err := tg.Targets(ctx, s.exp)
	var perm *experiments.PermanentError
	switch {
	case errors.As(err, &perm):
		reason := perm.Reason
		if reason == "" {
			reason = chaosv1alpha1.ReasonPreflightFailed
		}
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, reason, perm.Message)
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	case err != nil:
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionUnknown, chaosv1alpha1.ReasonSelectionError, err.Error())
		return nil, err
	}
	if err := fault.Preflight(ctx, s.exp, nil); err != nil {
		if errors.Is(err, experiments.ErrTransient) {
			r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionUnknown, chaosv1alpha1.ReasonSelectionError, err.Error())
			return nil, err
		}
		r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionFalse, chaosv1alpha1.ReasonPreflightFailed, err.Error())
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return nil, nil
	}
	names := make([]string, len(targets))
	for i := range targets {
		targets[i].Round = round
		names[i] = targets[i].Name
	}
	r.setCondition(s, chaosv1alpha1.ConditionTargetsSelected, metav1.ConditionTrue, chaosv1alpha1.ReasonTargetsFound,
		fmt.Sprintf("round %d: %s", round, strings.Join(names, ", ")))
	s.exp.Status.SelectedTargets = int32(len(targets))
	return targets, nil
}

// blastRadius returns why n of total exceeds a cap, or "".
func (r *ExperimentReconciler) blastRadius(exp *chaosv1alpha1.Experiment, n, total int) string {
	if r.MaxTargets > 0 && n > r.MaxTargets {
		return fmt.Sprintf("%d pods selected, over the manager's cap of %d (--max-targets)", n, r.MaxTargets)
	}
	if limit := r.targetRecords(); n > limit {
		return fmt.Sprintf("%d pods selected, over the %d targets one round can record in status.targets: narrow spec.selector, or use mode fixed or percent", n, limit)
	}
	if l := exp.Spec.Safety; l != nil {
		if l.MaxTargets != nil && n > int(*l.MaxTargets) {
			return fmt.Sprintf("%d pods selected, over spec.safety.maxTargets %d", n, *l.MaxTargets)
		}
		if l.MaxPercent != nil && n*100 > int(*l.MaxPercent)*total {
			return fmt.Sprintf("%d of %d matching pods (%d%%) selected, over spec.safety.maxPercent %d%%", n, total, n*100/total, *l.MaxPercent)
		}
	}
	return ""
}

// recordRound writes the round's targets to status before anything is done to them: after a
// restart the manager resumes from this record and never picks a second set for the round. The
// write carries the resourceVersion it read, so a stale read or a second manager conflicts here
// instead of acting twice.
func (r *ExperimentReconciler) recordRound(ctx context.Context, s *scope, targets []chaosv1alpha1.TargetStatus, round int32) error {
	st := &s.exp.Status
	st.EarlierTargets += int32(makeRoom(st, round, len(targets), r.targetRecords()))
	st.Round = round
	st.RoundStartedAt = &metav1.Time{Time: s.now}
	st.Targets = append(st.Targets, targets...)
	if iv := interval(s.exp); iv > 0 {
		st.NextRoundAt = &metav1.Time{Time: s.now.Add(iv)}
	}
	r.setCondition(s, chaosv1alpha1.ConditionInjected, metav1.ConditionFalse, chaosv1alpha1.ReasonInjecting,
		fmt.Sprintf("round %d: injecting %d targets", round, len(targets)))
	if s.plan == planFresh {
		return nil // the plan is the intent, written with the experiment
	}
	if err := r.writeStatus(ctx, s); err != nil {
		return err
	}
	s.steps.done(StepIntent)
	return nil
}

func (r *ExperimentReconciler) targetRecords() int {
	if r.MaxTargetRecords > 0 {
		return r.MaxTargetRecords
	}
	return chaosv1alpha1.MaxTargetRecords
}

// makeRoom drops the oldest records of rounds before round until n more fit within limit, and
// returns how many it dropped. A record still Selected is never dropped: it is yet to be acted
// on. Only kills repeat in rounds (spec.podKill.interval), so an earlier round's Injected record
// is a pod deleted long ago, not a fault still in place; and a round never selects more than
// limit (blastRadius), so room is always found.
func makeRoom(st *chaosv1alpha1.ExperimentStatus, round int32, n, limit int) int {
	over := len(st.Targets) + n - limit
	if over <= 0 {
		return 0
	}
	kept := make([]chaosv1alpha1.TargetStatus, 0, len(st.Targets))
	dropped := 0
	for _, t := range st.Targets {
		if dropped < over && t.Round < round && t.State != chaosv1alpha1.TargetSelected {
			dropped++
			continue
		}
		kept = append(kept, t)
	}
	st.Targets = kept
	return dropped
}

// injectRound applies the fault to every target of the current round still in state Selected.
func (r *ExperimentReconciler) injectRound(ctx context.Context, s *scope, fault experiments.Fault, resumed bool) (ctrl.Result, error) {
	st := &s.exp.Status
	var errs, pending []string
	var permanent *experiments.PermanentError
	injected, gone := 0, 0
	for _, o := range r.injectAll(ctx, s.exp, fault, resumed) {
		t, err, now := &st.Targets[o.target], o.err, o.at
		var perm *experiments.PermanentError
		var already *experiments.AlreadyInjected
		switch {
		case errors.As(err, &already):
			t.State, t.InjectedAt, t.Message = chaosv1alpha1.TargetInjected, &metav1.Time{Time: already.At}, ""
			injected++
		case errors.As(err, &perm):
			t.Message = perm.Message
			permanent = perm
		case errors.Is(err, experiments.ErrInProgress):
			t.Message = err.Error()
			pending = append(pending, fmt.Sprintf("%s/%s", t.Namespace, t.Name))
		case errors.Is(err, experiments.ErrTargetGone):
			t.State, t.RecoveredAt, t.Message = chaosv1alpha1.TargetGone, &now, "the pod was gone before the fault reached it"
			gone++
		case err != nil:
			t.Message = err.Error()
			errs = append(errs, fmt.Sprintf("%s/%s: %v", t.Namespace, t.Name, err))
		default:
			t.State, t.InjectedAt, t.Message = chaosv1alpha1.TargetInjected, &now, ""
			injected++
		}
	}
	if len(errs) == 0 && permanent == nil {
		s.steps.done(StepInject)
	}
	if permanent != nil {
		return r.failPermanently(ctx, s, fault, permanent.Reason, fmt.Sprintf("round %d: %s", st.Round, permanent.Message))
	}
	if len(errs) == 0 && len(pending) > 0 {
		if st.RoundStartedAt == nil || r.InjectTimeout <= 0 || s.now.Sub(st.RoundStartedAt.Time) < r.InjectTimeout {
			r.setCondition(s, chaosv1alpha1.ConditionInjected, metav1.ConditionFalse, chaosv1alpha1.ReasonInjecting,
				fmt.Sprintf("round %d: %d injected, waiting for %s", st.Round, injected, strings.Join(pending, ", ")))
			return ctrl.Result{RequeueAfter: r.inProgressPoll()}, nil
		}
		for _, p := range pending {
			errs = append(errs, p+": not confirmed applied")
		}
	}
	if len(errs) > 0 {
		msg := strings.Join(errs, "; ")
		if st.RoundStartedAt != nil && r.InjectTimeout > 0 && s.now.Sub(st.RoundStartedAt.Time) >= r.InjectTimeout {
			// Give up for good: the reason is recorded with the removal, so a pass that finds the
			// removal still under way goes on removing rather than injecting again.
			return r.failPermanently(ctx, s, fault, chaosv1alpha1.ReasonInjectionTimedOut,
				fmt.Sprintf("round %d: still failing after %s: %s", st.Round, r.InjectTimeout, msg))
		}
		r.setCondition(s, chaosv1alpha1.ConditionInjected, metav1.ConditionFalse, chaosv1alpha1.ReasonInjectionFailed, msg)
		return ctrl.Result{}, fmt.Errorf("injecting round %d: %s", st.Round, msg)
	}
	what := "pods"
	if _, named := fault.(experiments.Targeter); named {
		what = "targets"
	}
	msg := fmt.Sprintf("round %d: fault injected into %d %s (%d gone before it reached them)", st.Round, injected, what, gone)
	if cf := st.CacheFlush; cf != nil && cf.NotRepeated {
		msg += "; resumed after its flush may already have run, so not run again (status.cacheFlush.notRepeated)"
	}
	r.setCondition(s, chaosv1alpha1.ConditionInjected, metav1.ConditionTrue, chaosv1alpha1.ReasonFaultInjected, msg)
	if !fault.Lasting(s.exp) {
		// A kill disrupts the workload until it replaces the pod: its recovery time is what an
		// SRE reads. A lasting fault leaves the pod in place; it is recovered when removed.
		r.trackWorkloads(ctx, s)
	}
	return r.afterInjection(ctx, s, fault)
}

// injectWorkers bounds the injections of one round in flight at once (the client's QPS limit
// bounds them too).
const injectWorkers = 16

// outcome is the outcome of one target's injection: its index in status.targets, the error,
// and when it returned.
type outcome struct {
	target int
	err    error
	at     metav1.Time
}

// injectAll injects every target of the current round still in state Selected. A pod kind's
// targets are injected concurrently: a zone outage or a percent kill takes its pods down
// together, not one API request after another (a pod deletion takes 5–50 ms to return on a busy
// node). A kind that names its own targets (a cache) is injected on this goroutine, one target
// after another: its Inject may record figures in exp's status (experiments.Fault). Outcomes
// come back in status order.
func (r *ExperimentReconciler) injectAll(ctx context.Context, exp *chaosv1alpha1.Experiment, fault experiments.Fault, resumed bool) []outcome {
	st := &exp.Status
	var out []outcome
	for i := range st.Targets {
		if t := st.Targets[i]; t.Round == st.Round && t.State == chaosv1alpha1.TargetSelected {
			out = append(out, outcome{target: i})
		}
	}
	one := func(o *outcome) {
		o.err = fault.Inject(ctx, exp, st.Targets[o.target], resumed)
		o.at = metav1.Time{Time: r.Clock.Now()}
	}
	if _, named := fault.(experiments.Targeter); named || len(out) == 1 {
		for k := range out {
			one(&out[k])
		}
		return out
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, injectWorkers)
	for k := range out {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			// Off the reconcile goroutine, controller-runtime's recovery does not apply: a
			// panicking kind fails this target, not the manager.
			defer func() {
				if p := recover(); p != nil {
					out[k].err, out[k].at = fmt.Errorf("injection panicked: %v", p), metav1.Time{Time: r.Clock.Now()}
					ctrl.LoggerFrom(ctx).Error(out[k].err, "injection panicked", "target", st.Targets[out[k].target].Name)
				}
			}()
			one(&out[k])
		})
	}
	wg.Wait()
	return out
}

// progressReasons are conditions whose message tracks progress while waiting.
var progressReasons = map[string]bool{
	chaosv1alpha1.ReasonInjecting:          true,
	chaosv1alpha1.ReasonWaitingForRecovery: true,
}

// permanentReasons are refusals no retry can fix (experiments.PermanentError).
var permanentReasons = map[string]bool{
	chaosv1alpha1.ReasonKernelUnsupported:   true,
	chaosv1alpha1.ReasonHostNetworkRefused:  true,
	chaosv1alpha1.ReasonFaultConflict:       true,
	chaosv1alpha1.ReasonCacheRefused:        true,
	chaosv1alpha1.ReasonInjectionTimedOut:   true,
	chaosv1alpha1.ReasonApplyFailed:         true, // from Refresh only: Inject retries it
	chaosv1alpha1.ReasonTooManyDestinations: true,
	chaosv1alpha1.ReasonEmergencyStop:       true, // an agent took the fault off under a stop
	chaosv1alpha1.ReasonExpiryTooFar:        true,
}

// refused returns the Injected condition when it records a refusal no retry can fix.
func refused(st *chaosv1alpha1.ExperimentStatus) *metav1.Condition {
	if c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionInjected); c != nil && c.Status == metav1.ConditionFalse && permanentReasons[c.Reason] {
		return c
	}
	return nil
}

// failPermanently ends a round that cannot succeed: the reason is recorded first (so the
// passes that wait for the removal below do not inject again), then whatever did land is taken
// off, then the experiment fails.
func (r *ExperimentReconciler) failPermanently(ctx context.Context, s *scope, fault experiments.Fault, reason, msg string) (ctrl.Result, error) {
	r.setCondition(s, chaosv1alpha1.ConditionInjected, metav1.ConditionFalse, reason, msg)
	if fault.Lasting(s.exp) {
		if err := r.recoverTargets(ctx, s, fault); err != nil {
			return ctrl.Result{}, err
		}
	}
	r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{Type: chaosv1alpha1.ConditionInjected, Status: metav1.ConditionFalse,
		Reason: reason, Message: msg})
	return ctrl.Result{}, nil
}

// afterInjection decides what follows a completed round. At the end a lasting fault is removed
// before the experiment moves on, whichever path got here: a round that finished landing only
// after the duration was over (a slow agent, a retried error) must not leave its fault behind.
func (r *ExperimentReconciler) afterInjection(ctx context.Context, s *scope, fault experiments.Fault) (ctrl.Result, error) {
	st := &s.exp.Status
	if end, ok := endOf(s.exp); ok && (interval(s.exp) > 0 || fault.Lasting(s.exp)) && s.now.Before(end) {
		next := end
		if st.NextRoundAt != nil && st.NextRoundAt.Time.Before(end) {
			next = st.NextRoundAt.Time
		}
		wait := next.Sub(s.now)
		if _, ok := fault.(experiments.Refresher); ok && wait > experiments.RefreshEvery {
			wait = experiments.RefreshEvery
		}
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if fault.Lasting(s.exp) {
		if err := r.recoverTargets(ctx, s, fault); err != nil {
			return ctrl.Result{}, err
		}
		if recoveryFailed(st) {
			// Given up (recoverTargets set the Recovered condition): nothing more to wait for.
			r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
			return ctrl.Result{}, nil
		}
	}
	st.NextRoundAt = nil
	st.Phase = chaosv1alpha1.ExperimentRecovering
	r.setCondition(s, chaosv1alpha1.ConditionRecovered, metav1.ConditionFalse, chaosv1alpha1.ReasonWaitingForRecovery,
		"waiting for the disrupted workloads to be whole again")
	return ctrl.Result{RequeueAfter: r.RecoveryPoll}, nil
}

// recoveryFailed reports whether a target's fault could not be removed and was given up.
func recoveryFailed(st *chaosv1alpha1.ExperimentStatus) bool {
	for _, t := range st.Targets {
		if t.State == chaosv1alpha1.TargetRecoveryFailed {
			return true
		}
	}
	return false
}

// run continues a Running experiment: resumes a round interrupted by a restart, starts the next
// round when one is due, and moves to Recovering at the end.
func (r *ExperimentReconciler) run(ctx context.Context, s *scope, fault experiments.Fault) (ctrl.Result, error) {
	st := &s.exp.Status
	if c := refused(st); c != nil {
		// Refused for good on an earlier pass, whose removal of what did land is still under
		// way: finish the removal and fail, never inject, refresh or start another round. Every
		// injection but round 1's goes through here; start() cannot meet a refusal, as nothing
		// has been recorded before it.
		return r.failPermanently(ctx, s, fault, c.Reason, c.Message)
	}
	for _, t := range st.Targets {
		if t.Round == st.Round && t.State == chaosv1alpha1.TargetSelected {
			return r.injectRound(ctx, s, fault, true)
		}
	}
	end, hasEnd := endOf(s.exp)
	if rf, ok := fault.(experiments.Refresher); ok && (!hasEnd || s.now.Before(end)) {
		if err := rf.Refresh(ctx, s.exp, st.Targets); err != nil {
			var perm *experiments.PermanentError
			if errors.As(err, &perm) {
				// The agent refused the refreshed fault (a conflict, too many destinations): the
				// experiment no longer holds what it says, so it ends here, faults removed.
				return r.failPermanently(ctx, s, fault, perm.Reason, fmt.Sprintf("round %d: %s", st.Round, perm.Message))
			}
			return ctrl.Result{}, err
		}
	}
	if hasEnd && !s.now.Before(end) {
		return r.afterInjection(ctx, s, fault)
	}
	if st.NextRoundAt != nil && !s.now.Before(st.NextRoundAt.Time) {
		round := st.Round + 1
		s.steps = newStepTimer(r.Clock, string(s.exp.Spec.Action))
		picked, err := r.selectRound(ctx, s, fault, round)
		if err != nil {
			return ctrl.Result{}, err
		}
		if s.exp.Status.Phase.Finished() {
			return ctrl.Result{}, nil
		}
		if picked == nil { // nothing to hit this round; try again at the next
			st.NextRoundAt = &metav1.Time{Time: s.now.Add(interval(s.exp))}
			return r.afterInjection(ctx, s, fault)
		}
		s.steps.done(StepSelect)
		if err := r.recordRound(ctx, s, picked, round); err != nil {
			return ctrl.Result{}, err
		}
		if stopped, err := r.stopped(ctx, s, fault); stopped || err != nil {
			return ctrl.Result{}, err
		}
		return r.injectRound(ctx, s, fault, false)
	}
	return r.afterInjection(ctx, s, fault)
}

// trackWorkloads records the workloads whose pods were hit, for the recovery time.
func (r *ExperimentReconciler) trackWorkloads(ctx context.Context, s *scope) {
	st := &s.exp.Status
	// Each workload is followed once, from the round's last kill of its pods.
	var refs []workload.Ref
	since := map[workload.Ref]time.Time{}
	for _, t := range st.Targets {
		if t.State != chaosv1alpha1.TargetInjected || t.Round != st.Round || t.OwnerKind == "" {
			continue
		}
		ref, ok, err := workload.Resolve(ctx, r.APIReader, t.Namespace, t.OwnerKind, t.OwnerName)
		if err != nil {
			// Not lost: recovery resolves it again before it may conclude (resolveWorkloads).
			ctrl.LoggerFrom(ctx).Error(err, "resolving workload; retried when recovery is checked", "pod", klog.KRef(t.Namespace, t.Name))
			continue
		}
		if !ok {
			continue
		}
		// A new round disrupts it again: its recovery is measured from the last injection.
		w := noteDisruption(st, ref, *t.InjectedAt)
		w.RecoveredAt, w.TimeToRecover = nil, nil
		if at, seen := since[ref]; !seen {
			refs = append(refs, ref)
			since[ref] = t.InjectedAt.Time
		} else if t.InjectedAt.After(at) {
			since[ref] = t.InjectedAt.Time
		}
	}
	killed := killedUIDs(st)
	for _, ref := range refs {
		r.follow(ctx, s.exp, ref, since[ref], killed)
	}
}

// killedUIDs are the pods the experiment has killed: a workload is whole again without them.
func killedUIDs(st *chaosv1alpha1.ExperimentStatus) sets.Set[types.UID] {
	killed := sets.New[types.UID]()
	for _, t := range st.Targets {
		if t.State == chaosv1alpha1.TargetInjected || t.State == chaosv1alpha1.TargetRecovered {
			killed.Insert(t.UID)
		}
	}
	return killed
}

// follow has the tracker watch ref for the experiment from since (the kill, to the
// millisecond, when called right after it). A failure to start the watch is logged: the
// recovery poll still judges the workload, only less precisely.
func (r *ExperimentReconciler) follow(ctx context.Context, exp *chaosv1alpha1.Experiment, ref workload.Ref, since time.Time, killed sets.Set[types.UID]) {
	if r.Tracker == nil {
		return
	}
	if err := r.Tracker.Track(ctx, client.ObjectKeyFromObject(exp), ref, since, killed); err != nil && !errors.Is(err, workload.ErrGone) {
		ctrl.LoggerFrom(ctx).Error(err, "following workload recovery; polling it instead", "workload", ref.String())
	}
}

// resolveWorkloads records the workload of every killed pod whose owner could not be resolved at
// the kill (an API error then): without it the pod would count as one nothing replaces, and the
// experiment would end without its recovery time.
func (r *ExperimentReconciler) resolveWorkloads(ctx context.Context, s *scope) error {
	st := &s.exp.Status
	for _, t := range st.Targets {
		if t.State != chaosv1alpha1.TargetInjected || t.OwnerKind == "" || t.InjectedAt == nil {
			continue
		}
		if _, ok := targetWorkload(st.Workloads, t); ok {
			continue
		}
		ref, ok, err := workload.Resolve(ctx, r.APIReader, t.Namespace, t.OwnerKind, t.OwnerName)
		if err != nil {
			return fmt.Errorf("resolving the workload of pod %s/%s: %w", t.Namespace, t.Name, err)
		}
		if !ok || findWorkload(st.Workloads, ref) != nil {
			continue
		}
		noteDisruption(st, ref, *t.InjectedAt)
	}
	return nil
}

// noteDisruption records that a pod of ref was hit at at: the workload is added to status when it
// is new there, and its last disruption moves forward to at.
func noteDisruption(st *chaosv1alpha1.ExperimentStatus, ref workload.Ref, at metav1.Time) *chaosv1alpha1.WorkloadStatus {
	w := findWorkload(st.Workloads, ref)
	if w == nil {
		st.Workloads = append(st.Workloads, chaosv1alpha1.WorkloadStatus{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, DisruptedAt: at})
		w = &st.Workloads[len(st.Workloads)-1]
	}
	if w.LastDisruptedAt == nil || at.After(w.LastDisruptedAt.Time) {
		w.LastDisruptedAt = at.DeepCopy()
	}
	return w
}

// recover waits for every disrupted workload to be whole again.
func (r *ExperimentReconciler) recover(ctx context.Context, s *scope) (ctrl.Result, error) {
	if err := r.resolveWorkloads(ctx, s); err != nil {
		r.setCondition(s, chaosv1alpha1.ConditionRecovered, metav1.ConditionUnknown, chaosv1alpha1.ReasonWaitingForRecovery, err.Error())
		return ctrl.Result{}, err
	}
	st := &s.exp.Status
	killed := killedUIDs(st)
	var waiting []string
	for i := range st.Workloads {
		w := &st.Workloads[i]
		if w.RecoveredAt != nil {
			continue
		}
		ref := workload.Ref{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
		last := lastDisruption(st.Targets, w)
		var (
			rd    workload.Readiness
			err   error
			known bool
		)
		if r.Tracker != nil {
			key := client.ObjectKeyFromObject(s.exp)
			if !r.Tracker.Following(key, ref) {
				r.follow(ctx, s.exp, ref, last, killed) // after a restart: follow again, from status
			}
			var rec *workload.Recovery
			if rec, rd, known = r.Tracker.Recovered(ctx, key, ref); rec != nil {
				w.DesiredReplicas, w.RecoveredAt = rec.Desired, &metav1.Time{Time: rec.At}
				w.TimeToRecover = &metav1.Duration{Duration: rec.At.Sub(rec.Since)}
				continue
			}
		}
		if !known {
			rd, err = workload.Check(ctx, r.APIReader, ref, killed)
		}
		switch {
		case errors.Is(err, workload.ErrGone):
			w.RecoveredAt = &metav1.Time{Time: s.now}
		case err != nil:
			return ctrl.Result{}, err
		case rd.Whole():
			at := rd.ReadySince
			if at.Before(last) {
				at = last // whole before the kill took effect in its status: count from the kill
			}
			w.DesiredReplicas = rd.Desired
			w.RecoveredAt = &metav1.Time{Time: at}
			w.TimeToRecover = &metav1.Duration{Duration: at.Sub(last)}
		default:
			w.DesiredReplicas = rd.Desired
			waiting = append(waiting, fmt.Sprintf("%s %d/%d ready", ref, rd.Ready, rd.Desired))
		}
	}
	for i := range st.Targets {
		t := &st.Targets[i]
		if t.State != chaosv1alpha1.TargetInjected {
			continue
		}
		ref, ok := targetWorkload(st.Workloads, *t)
		switch {
		case !ok: // a bare pod: nothing replaces it, nothing to wait for
			t.State, t.RecoveredAt, t.Message = chaosv1alpha1.TargetRecovered, t.InjectedAt, "no controller replaces this pod"
		case ref.RecoveredAt != nil:
			t.State, t.RecoveredAt = chaosv1alpha1.TargetRecovered, ref.RecoveredAt
		}
	}
	if len(waiting) == 0 {
		r.setCondition(s, chaosv1alpha1.ConditionRecovered, metav1.ConditionTrue, chaosv1alpha1.ReasonWorkloadsRecovered, recoverySummary(st.Workloads))
		r.finish(s, chaosv1alpha1.ExperimentSucceeded, metav1.Condition{})
		return ctrl.Result{}, nil
	}
	msg := "waiting for " + strings.Join(waiting, ", ")
	if last := lastInjection(st.Targets, nil); r.RecoveryTimeout > 0 && s.now.Sub(last) > r.RecoveryTimeout {
		r.setCondition(s, chaosv1alpha1.ConditionRecovered, metav1.ConditionFalse, chaosv1alpha1.ReasonRecoveryTimedOut,
			fmt.Sprintf("not whole %s after the last injection: %s", r.RecoveryTimeout, strings.Join(waiting, ", ")))
		r.finish(s, chaosv1alpha1.ExperimentFailed, metav1.Condition{})
		return ctrl.Result{}, nil
	}
	r.setCondition(s, chaosv1alpha1.ConditionRecovered, metav1.ConditionFalse, chaosv1alpha1.ReasonWaitingForRecovery, msg)
	return ctrl.Result{RequeueAfter: r.RecoveryPoll}, nil
}

// recoverTargets removes a lasting fault from every target it may have reached. A target found
// gone is included: it may have been found terminating after its fault was handed over (a pod
// keeps its network namespace through its grace period), and Recover is a no-op where nothing
// was left. It keeps its Gone record.
//
// A kind that gives up on a target (an experiments.PermanentError from Recover: a cache restore
// still failing past its bound) has the target recorded as RecoveryFailed, with why, and the
// Recovered condition False with the kind's reason: it is not an error to retry, so the
// experiment ends (finish) or its finalizer comes off, and the target is never tried again.
func (r *ExperimentReconciler) recoverTargets(ctx context.Context, s *scope, fault experiments.Fault) error {
	var errs []error
	for i := range s.exp.Status.Targets {
		t := &s.exp.Status.Targets[i]
		if t.State != chaosv1alpha1.TargetInjected && t.State != chaosv1alpha1.TargetSelected && t.State != chaosv1alpha1.TargetGone {
			continue
		}
		err := fault.Recover(ctx, s.exp, *t)
		var perm *experiments.PermanentError
		if errors.As(err, &perm) {
			t.State, t.RecoveredAt, t.Message = chaosv1alpha1.TargetRecoveryFailed, nil, perm.Message
			r.setCondition(s, chaosv1alpha1.ConditionRecovered, metav1.ConditionFalse, perm.Reason,
				fmt.Sprintf("%s/%s: %s", t.Namespace, t.Name, perm.Message))
			ctrl.LoggerFrom(ctx).Info("recovery given up", "target", t.Name, "reason", perm.Reason, "message", perm.Message)
			continue
		}
		if err != nil && !errors.Is(err, experiments.ErrTargetGone) {
			errs = append(errs, fmt.Errorf("%s/%s: %w", t.Namespace, t.Name, err))
			t.Message = err.Error()
			continue
		}
		if t.State == chaosv1alpha1.TargetGone {
			continue
		}
		now := metav1.Time{Time: r.Clock.Now()}
		t.State, t.RecoveredAt, t.Message = chaosv1alpha1.TargetRecovered, &now, ""
	}
	return kerrors.NewAggregate(errs)
}

// stopped aborts the experiment when an emergency stop is on. It is asked at the start of a pass
// and again between a round's intent and its fault: a stop turned on while the pass selected and
// recorded the round (two or three requests) is then in the cache before any target is touched.
// The cache makes the second look free; a stop that lands after it meets a fault already sent.
func (r *ExperimentReconciler) stopped(ctx context.Context, s *scope, fault experiments.Fault) (bool, error) {
	stop, err := emergencyStop(ctx, r.Client)
	if err != nil || stop == nil {
		return false, err
	}
	return true, r.abort(ctx, s, fault, chaosv1alpha1.ReasonEmergencyStop,
		fmt.Sprintf("emergency stop %q is on: %s", stop.Name, stop.Spec.Reason))
}

// abort removes every fault the experiment holds and ends it as Aborted.
func (r *ExperimentReconciler) abort(ctx context.Context, s *scope, fault experiments.Fault, reason, msg string) error {
	if fault.Lasting(s.exp) {
		if err := r.recoverTargets(ctx, s, fault); err != nil {
			return err
		}
	}
	r.finish(s, chaosv1alpha1.ExperimentAborted, metav1.Condition{Type: chaosv1alpha1.ConditionAborted,
		Status: metav1.ConditionTrue, Reason: reason, Message: msg})
	return nil
}

// reconcileDelete removes the faults of a deleted experiment, then lets it go.
func (r *ExperimentReconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(s.exp, FinalizerRecoverFaults) {
		s.deleted = true
		return ctrl.Result{}, nil
	}
	if fault, ok := r.Faults[s.exp.Spec.Action]; ok {
		if err := r.recoverTargets(ctx, s, fault); err != nil {
			// Keep what was recovered so far; the rest is retried.
			return ctrl.Result{}, err
		}
	}
	controllerutil.RemoveFinalizer(s.exp, FinalizerRecoverFaults)
	// The patch's response replaces the status computed by this pass, which is never written:
	// what it would have said (a recovery given up) is told in events once the finalizer is off.
	outcome := s.exp.DeepCopy()
	// Locked: the finalizer list is replaced whole, and one added meanwhile must not be dropped.
	if err := r.Client.Patch(ctx, s.exp, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.written.forget(client.ObjectKeyFromObject(s.exp))
	s.deleted = true
	r.recordEvents(ctx, s.eventsFrom, outcome)
	return ctrl.Result{}, nil
}

// finish moves to a terminal phase, with cond set when it has a type.
func (r *ExperimentReconciler) finish(s *scope, phase chaosv1alpha1.ExperimentPhase, cond metav1.Condition) {
	s.exp.Status.Phase = phase
	s.exp.Status.NextRoundAt = nil
	s.exp.Status.FinishedAt = &metav1.Time{Time: s.now}
	if cond.Type != "" {
		r.setCondition(s, cond.Type, cond.Status, cond.Reason, cond.Message)
	}
}

func (r *ExperimentReconciler) setCondition(s *scope, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.exp.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: msg, ObservedGeneration: s.exp.Generation, LastTransitionTime: metav1.Time{Time: s.now}})
}

// writeStatus patches status from what was read to what it is now, with the read resourceVersion
// as an optimistic lock. Events for what changed are recorded once, at the end of the pass.
func (r *ExperimentReconciler) writeStatus(ctx context.Context, s *scope) error {
	s.exp.Status.ObservedGeneration = s.exp.Generation
	if equality.Semantic.DeepEqual(s.before.Status, s.exp.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, s.exp, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	r.written.wrote(s.exp)
	s.before = s.exp.DeepCopy()
	return nil
}

// writeOutcome writes the status a pass ends with. What the pass did must not be lost to a
// conflict from a change that does not touch what it decided on: a label, an annotation (the
// GameDay's abort request), a deletion (which also bumps the generation, so the spec itself is
// compared). Such a conflict is written again on the fresh object, so the next pass (aborting,
// deleting) starts from what was actually done. A conflict with a changed status or spec is
// returned: the next pass acts on the fresh state. The intent write is never retried this way:
// its lock is the fence against acting on a stale read, and a pass whose intent conflicted acts
// on nothing (this write may then record that intent, which the next pass resumes or aborts).
func (r *ExperimentReconciler) writeOutcome(ctx context.Context, s *scope) error {
	err := r.writeStatus(ctx, s)
	if !apierrors.IsConflict(err) {
		return err
	}
	fresh := &chaosv1alpha1.Experiment{}
	if gerr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.exp), fresh); gerr != nil {
		return kerrors.NewAggregate([]error{err, gerr})
	}
	if !equality.Semantic.DeepEqual(fresh.Spec, s.before.Spec) || !equality.Semantic.DeepEqual(fresh.Status, s.before.Status) {
		return err
	}
	outcome := s.exp.Status
	s.before, s.exp = fresh, fresh.DeepCopy()
	s.exp.Status = outcome
	return r.writeStatus(ctx, s)
}

func (r *ExperimentReconciler) recordEvents(ctx context.Context, before, after *chaosv1alpha1.Experiment) {
	for _, c := range after.Status.Conditions {
		old := meta.FindStatusCondition(before.Status.Conditions, c.Type)
		if old != nil && old.Status == c.Status && old.Reason == c.Reason && (old.Message == c.Message || progressReasons[c.Reason]) {
			// Not a transition: progress while waiting ("2/3 ready") is in status, not one event each.
			continue
		}
		kind := corev1.EventTypeNormal
		if c.Status == metav1.ConditionFalse && c.Reason != chaosv1alpha1.ReasonInjecting && c.Reason != chaosv1alpha1.ReasonWaitingForRecovery && c.Reason != chaosv1alpha1.ReasonDryRun ||
			c.Status == metav1.ConditionUnknown || c.Type == chaosv1alpha1.ConditionAborted {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(after, nil, kind, c.Reason, c.Type, "%s", c.Message)
	}
	if before.Status.Phase != after.Status.Phase {
		ctrl.LoggerFrom(ctx).Info("phase changed", "from", before.Status.Phase, "to", after.Status.Phase)
	}
}

// SetupWithManager registers the reconciler: Experiments, and every EmergencyStop change
// enqueues the active Experiments only (from an index, not a list of everything).
func (r *ExperimentReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.RecoveryPoll == 0 {
		r.RecoveryPoll = time.Second
	}
	if r.InjectTimeout == 0 {
		r.InjectTimeout = 2 * time.Minute
	}
	err := indexUnfinished(ctx, mgr, &chaosv1alpha1.Experiment{}, func(o client.Object) bool {
		return o.(*chaosv1alpha1.Experiment).Status.Phase.Finished()
	})
	if err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Selections != nil {
		// Its watches end when idle, or with the manager.
		if err := mgr.Add(r.Selections); err != nil {
			return err
		}
	}
	if r.Tracker != nil {
		// Its watches end with the manager.
		if err := mgr.Add(r.Tracker); err != nil {
			return err
		}
		// A workload seen whole wakes its experiments at once, not at their next poll.
		recovered := make(chan event.GenericEvent, 256)
		r.Tracker.Notify = func(key types.NamespacedName) {
			select {
			case recovered <- event.GenericEvent{Object: &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}}:
			default: // full: the recovery poll picks it up
			}
		}
		b = b.WatchesRawSource(source.Channel(recovered, &handler.EnqueueRequestForObject{}))
	}
	return b.
		// Spec changes, and an abort requested by annotation.
		For(&chaosv1alpha1.Experiment{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&chaosv1alpha1.EmergencyStop{}, handler.EnqueueRequestsFromMapFunc(enqueueUnfinished(r.Client, &chaosv1alpha1.ExperimentList{}))).
		// An agent's verdict on an Injection moves its experiment on at once.
		Owns(&chaosv1alpha1.Injection{}).
		// Several workers, so that a new experiment's kill never queues behind other
		// experiments' recovery checks.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Named("experiment").
		Complete(r)
}

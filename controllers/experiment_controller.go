// Package controllers holds the GameDay and Experiment reconcilers.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/selector"
)

// ExperimentReconciler drives Experiments. Pods are read through APIReader, uncached and scoped
// to the namespaces an experiment names, so the manager's memory does not grow with the cluster.
type ExperimentReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	Protected selector.Protected
}

// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile resolves an Experiment's targets and records the result in one status write.
func (r *ExperimentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	exp := &chaosv1alpha1.Experiment{}
	if err := r.Client.Get(ctx, req.NamespacedName, exp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("experiment", klog.KObj(exp)))

	sel, err := r.selectTargets(ctx, exp)
	status := computeExperimentStatus(exp, sel, err)
	if perr := r.patchStatus(ctx, exp, status); perr != nil {
		return ctrl.Result{}, perr
	}
	// A listing failure is transient: return it so the request is retried with backoff.
	// A bad selector is the user's to fix and is reported in status instead.
	var invalid *selector.InvalidSelectorError
	if err != nil && !errors.As(err, &invalid) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// selection is what the target-selection phase found.
type selection struct {
	candidates selector.Candidates
	picked     int
}

func (r *ExperimentReconciler) selectTargets(ctx context.Context, exp *chaosv1alpha1.Experiment) (selection, error) {
	c, err := selector.List(ctx, r.APIReader, exp.Spec.Selector, r.Protected)
	if err != nil {
		return selection{}, err
	}
	return selection{candidates: c, picked: selector.Count(exp.Spec.Mode, exp.Spec.Value, len(c.Eligible))}, nil
}

// computeExperimentStatus is pure: the status an Experiment should carry after this pass.
func computeExperimentStatus(exp *chaosv1alpha1.Experiment, sel selection, selErr error) chaosv1alpha1.ExperimentStatus {
	st := *exp.Status.DeepCopy()
	st.ObservedGeneration = exp.Generation
	if st.Phase == "" {
		st.Phase = chaosv1alpha1.ExperimentPending
	}
	cond := metav1.Condition{Type: chaosv1alpha1.ConditionTargetsSelected, ObservedGeneration: exp.Generation}
	var invalid *selector.InvalidSelectorError
	switch {
	case errors.As(selErr, &invalid):
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, chaosv1alpha1.ReasonInvalidSelector, invalid.Error()
		st.SelectedTargets = 0
	case selErr != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionUnknown, chaosv1alpha1.ReasonSelectionError, selErr.Error()
	case sel.picked == 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, chaosv1alpha1.ReasonNoTargets
		cond.Message = "no running pod matches spec.selector" + skippedNote(sel.candidates.SkippedNamespaces)
		st.SelectedTargets = 0
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, chaosv1alpha1.ReasonTargetsFound
		cond.Message = fmt.Sprintf("%d of %d matching pods selected (mode %s)", sel.picked, len(sel.candidates.Eligible), modeOf(exp)) +
			skippedNote(sel.candidates.SkippedNamespaces)
		st.SelectedTargets = int32(sel.picked)
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	return st
}

func modeOf(exp *chaosv1alpha1.Experiment) chaosv1alpha1.SelectionMode {
	if exp.Spec.Mode == "" {
		return chaosv1alpha1.ModeOne
	}
	return exp.Spec.Mode
}

func skippedNote(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return "; protected namespaces skipped: " + strings.Join(ns, ", ")
}

// patchStatus writes status once and records an event for every condition that changed.
func (r *ExperimentReconciler) patchStatus(ctx context.Context, exp *chaosv1alpha1.Experiment, st chaosv1alpha1.ExperimentStatus) error {
	before := exp.DeepCopy()
	exp.Status = st
	if err := r.Client.Status().Patch(ctx, exp, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patching status: %w", err)
	}
	for _, c := range st.Conditions {
		old := meta.FindStatusCondition(before.Status.Conditions, c.Type)
		if old != nil && old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			continue
		}
		kind := corev1.EventTypeNormal
		if c.Status != metav1.ConditionTrue {
			kind = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(exp, nil, kind, c.Reason, c.Type, "%s", c.Message)
		ctrl.LoggerFrom(ctx).Info("condition changed", "type", c.Type, "status", c.Status, "reason", c.Reason)
	}
	return nil
}

// SetupWithManager registers the reconciler. Status-only updates do not trigger a pass.
func (r *ExperimentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&chaosv1alpha1.Experiment{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("experiment").
		Complete(r)
}

package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/selector"
)

// PlanPath is where the manager's webhook server serves PlanWebhook.
const PlanPath = "/plan-experiment"

// PlanWebhook is a mutating admission webhook on Experiment creation. For a PodKill that is not a
// dry run, it picks round 1's pods as the controller would, and writes them to
// spec.plannedTargets. The pick is then part of the write that creates the experiment: it is the
// round's recorded intent (restart safety), and the controller kills without a status write
// before (adoptPlan). It plans nothing when it cannot pick (no pod matches, a cap is passed, the
// selection fails): the controller then selects and reports why, as without the webhook. It
// replaces whatever a manifest gave in spec.plannedTargets.
//
// The webhook is an optimisation, registered with failurePolicy Ignore: when the manager cannot
// be reached the experiment is created unplanned and runs the same way, one write slower.
type PlanWebhook struct {
	Reconciler *ExperimentReconciler
}

var _ admission.Handler = &PlanWebhook{}

// Handle plans a created Experiment.
func (w *PlanWebhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("")
	}
	var exp chaosv1alpha1.Experiment
	if err := json.Unmarshal(req.Object.Raw, &exp); err != nil {
		// The API server validates the object against the schema next and says what is wrong.
		return admission.Allowed("not planned: " + err.Error())
	}
	if exp.Namespace == "" {
		exp.Namespace = req.Namespace
	}
	planned, err := w.plan(ctx, &exp)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "not planned: the controller selects", "experiment", klog.KObj(&exp))
	}
	switch {
	case len(planned) > 0:
		return admission.Patched("", jsonpatch.Operation{Operation: "add", Path: "/spec/plannedTargets", Value: planned})
	case exp.Spec.PlannedTargets != nil:
		return admission.Patched("", jsonpatch.Operation{Operation: "remove", Path: "/spec/plannedTargets"})
	}
	return admission.Allowed("")
}

// plan picks round 1 the way selectRound does; nil when the controller must select (and say why).
func (w *PlanWebhook) plan(ctx context.Context, exp *chaosv1alpha1.Experiment) ([]chaosv1alpha1.PlannedTarget, error) {
	r := w.Reconciler
	if exp.Spec.Action != chaosv1alpha1.ActionPodKill || exp.Spec.DryRun || exp.Spec.Selector == nil {
		return nil, nil
	}
	if exp.Spec.Selector.ClusterWide {
		// Never kept (selector.Cache): it would list every pod in the cluster inside the
		// API server's call, against its timeout. The controller selects.
		return nil, nil
	}
	cands, err := selector.List(ctx, r.APIReader, r.Selections, *exp.Spec.Selector, r.Protected)
	if err != nil {
		return nil, fmt.Errorf("selecting: %w", err)
	}
	n := selector.Count(exp.Spec.Mode, exp.Spec.Value, len(cands.Eligible))
	if n == 0 || r.blastRadius(exp, n, len(cands.Eligible)) != "" {
		return nil, nil
	}
	// Any seed: the pick is recorded, so nothing needs to replay it (the object has no UID yet).
	pods := selector.Pick(cands.Eligible, n, rand.Uint64())
	out := make([]chaosv1alpha1.PlannedTarget, len(pods))
	for i, p := range pods {
		out[i] = chaosv1alpha1.PlannedTarget{Namespace: p.Namespace, Name: p.Name, UID: p.UID}
	}
	return out, nil
}

package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/gdcapacity"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;replicasets,verbs=get
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get

// capacityInputs reads a game day's live inputs: workloads' ready replicas (uncached reads),
// pods per zone, and PromQL values.
func (r *GameDayReconciler) capacityInputs(gd *chaosv1alpha1.GameDay) gdcapacity.Inputs {
	reader := r.apiReader()
	in := gdcapacity.Inputs{
		Replicas: func(ctx context.Context, w chaosv1alpha1.CapacityWorkload) (int, error) {
			ready, _, err := readWorkload(ctx, reader, gd.Namespace, w)
			return ready, err
		},
		ReadyPods: func(ctx context.Context, ls *chaosv1alpha1.LabelSelector) (int, error) {
			sel, err := metav1.LabelSelectorAsSelector(ls.AsMeta())
			if err != nil {
				return 0, fmt.Errorf("selector: %w", err)
			}
			var pods corev1.PodList
			if err := reader.List(ctx, &pods, client.InNamespace(gd.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return 0, err
			}
			n := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && podReady(&p) {
					n++
				}
			}
			return n, nil
		},
		ZoneReplicas: func(ctx context.Context, w chaosv1alpha1.CapacityWorkload, zone string) (int, error) {
			_, sel, err := readWorkload(ctx, reader, gd.Namespace, w)
			if err != nil {
				return 0, err
			}
			var pods corev1.PodList
			if err := reader.List(ctx, &pods, client.InNamespace(gd.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
				return 0, err
			}
			zones := map[string]string{}
			n := 0
			for _, p := range pods.Items {
				if p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
					continue
				}
				z, ok := zones[p.Spec.NodeName]
				if !ok {
					var node corev1.Node
					if err := reader.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
						return 0, err
					}
					z = node.Labels[chaosv1alpha1.ZoneLabel]
					zones[p.Spec.NodeName] = z
				}
				if z == zone {
					n++
				}
			}
			return n, nil
		},
	}
	if gd.Spec.Prometheus != nil {
		q, err := r.querier(gd)
		in.Query = func(context.Context, string) (float64, error) { return 0, err }
		if err == nil {
			in.Query = gdcapacity.PromQuery(q, r.Clock.Now)
		}
	}
	return in
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readWorkload returns a workload's ready replicas and its pod selector.
func readWorkload(ctx context.Context, r client.Reader, ns string, w chaosv1alpha1.CapacityWorkload) (int, labels.Selector, error) {
	key := client.ObjectKey{Namespace: ns, Name: w.Name}
	var ready int32
	var sel *metav1.LabelSelector
	switch w.Kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := r.Get(ctx, key, &d); err != nil {
			return 0, nil, fmt.Errorf("reading Deployment %s/%s: %w", ns, w.Name, err)
		}
		ready, sel = d.Status.ReadyReplicas, d.Spec.Selector
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := r.Get(ctx, key, &s); err != nil {
			return 0, nil, fmt.Errorf("reading StatefulSet %s/%s: %w", ns, w.Name, err)
		}
		ready, sel = s.Status.ReadyReplicas, s.Spec.Selector
	case "ReplicaSet":
		var s appsv1.ReplicaSet
		if err := r.Get(ctx, key, &s); err != nil {
			return 0, nil, fmt.Errorf("reading ReplicaSet %s/%s: %w", ns, w.Name, err)
		}
		ready, sel = s.Status.ReadyReplicas, s.Spec.Selector
	default:
		return 0, nil, fmt.Errorf("workload kind %q is not supported", w.Kind)
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return 0, nil, err
	}
	return int(ready), ls, nil
}

// capacityStart records the steady state's NALSD table; a model whose inputs cannot be read
// fails the game day (it would run unguarded).
func (r *GameDayReconciler) capacityStart(ctx context.Context, s *gdScope) bool {
	spec := s.gd.Spec.Capacity
	if spec == nil {
		return true
	}
	m, err := gdcapacity.Build(ctx, spec, r.capacityInputs(s.gd))
	if err == nil {
		s.gd.Status.Capacity, err = gdcapacity.Summaries(m, spec.Services)
	}
	if err != nil {
		r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionUnknown, chaosv1alpha1.ReasonCapacityModelError, err.Error())
		r.fail(s, chaosv1alpha1.ReasonCapacityModelError, "capacity model: "+err.Error())
		return false
	}
	return true
}

// apiReader reads uncached (the Client when no APIReader is set).
func (r *GameDayReconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// predictStep builds the model from the live inputs and predicts the step (see
// gdcapacity.PredictStep).
func (r *GameDayReconciler) predictStep(ctx context.Context, gd *chaosv1alpha1.GameDay, step chaosv1alpha1.GameDayStep, live bool) (gdcapacity.Step, error) {
	return r.predictGroup(ctx, gd, []chaosv1alpha1.GameDayStep{step}, live)
}

// predictGroup builds the model from the live inputs and predicts steps that run together
// (see gdcapacity.PredictGroup).
func (r *GameDayReconciler) predictGroup(ctx context.Context, gd *chaosv1alpha1.GameDay, steps []chaosv1alpha1.GameDayStep, live bool) (gdcapacity.Step, error) {
	in := r.capacityInputs(gd)
	m, err := gdcapacity.Build(ctx, gd.Spec.Capacity, in)
	if err != nil {
		return gdcapacity.Step{}, err
	}
	return gdcapacity.PredictGroup(ctx, m, gd.Spec.Capacity.Services, steps, in, live)
}

// capacityPreflight predicts a step before it starts. It returns false when the step is refused:
// the steps already running are told to abort and the game day fails with the numbers.
func (r *GameDayReconciler) capacityPreflight(ctx context.Context, s *gdScope, i int) (bool, error) {
	step, st := s.gd.Spec.Steps[i], &s.gd.Status.Steps[i]
	if s.gd.Spec.Capacity == nil || step.Experiment == nil || len(step.CapacityTargets) == 0 {
		return true, nil
	}
	p, err := r.predictStep(ctx, s.gd, step, false)
	preds, saturated, notes := p.Predictions, p.Saturated, p.Notes
	reason := chaosv1alpha1.ReasonPredictedSaturation
	if err != nil {
		reason = chaosv1alpha1.ReasonCapacityModelError
	}
	if err != nil || (len(saturated) > 0 && !step.AllowSaturation && !step.Experiment.DryRun) {
		// The game day ends here: the steps already running in this group stop too.
		if aerr := r.abortRunning(ctx, s, reason); aerr != nil {
			return false, aerr
		}
	}
	note := ""
	if len(notes) > 0 {
		note = " (not modelled: " + strings.Join(notes, "; ") + ")"
	}
	if err != nil {
		r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionUnknown, chaosv1alpha1.ReasonCapacityModelError, err.Error())
		st.Phase, st.FinishedAt, st.Message = chaosv1alpha1.StepFailed, &metav1.Time{Time: s.now}, "capacity model: "+err.Error()
		r.finishGD(ctx, s, chaosv1alpha1.GameDayFailed)
		r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, chaosv1alpha1.ReasonCapacityModelError, fmt.Sprintf("step %s: %v", step.Name, err))
		return false, nil
	}
	st.Predictions = preds
	if len(saturated) == 0 || step.AllowSaturation || step.Experiment.DryRun {
		msg := fmt.Sprintf("step %s: every service it touches predicted within capacity", step.Name)
		if len(saturated) > 0 {
			msg = fmt.Sprintf("step %s runs though predicted to saturate (%s): %s", step.Name, allowedWhy(step), strings.Join(saturated, "; "))
		}
		r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionTrue, chaosv1alpha1.ReasonCapacityOK, msg+note)
		return true, nil
	}
	msg := fmt.Sprintf("step %s refused: %s", step.Name, strings.Join(saturated, "; ")) + note
	st.Phase, st.FinishedAt, st.Message = chaosv1alpha1.StepFailed, &metav1.Time{Time: s.now}, msg
	r.finishGD(ctx, s, chaosv1alpha1.GameDayFailed)
	r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionFalse, chaosv1alpha1.ReasonPredictedSaturation, msg)
	r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, chaosv1alpha1.ReasonPredictedSaturation, msg)
	return false, nil
}

// groupPreflight judges a parallel group's faults together, before any of its steps starts:
// two kills that each leave enough replicas can together leave too few. It judges the steps
// gdcapacity.Together picks (those that inject, when two or more and not all allow saturation);
// each step is then judged alone as well (capacityPreflight). A refusal fails the game day with
// every step of the group, before anything is created.
func (r *GameDayReconciler) groupPreflight(ctx context.Context, s *gdScope, start, end int, owned []ownedExperiment) (bool, error) {
	gd := s.gd
	if gd.Spec.Capacity == nil || end-start < 2 {
		return true, nil
	}
	for i := start; i < end; i++ {
		if st := gd.Status.Steps[i]; st.StartedAt != nil || st.Phase != chaosv1alpha1.StepPending {
			return true, nil // the group started on an earlier pass, judged then
		}
		// A step whose Experiment exists started on a pass whose status was lost: its fault
		// may already be in the live counts, and runGroup takes it up as running.
		if o := owned[i-start]; gdcapacity.Injects(gd.Spec.Steps[i]) && (o.exp != nil || o.taken != nil) {
			return true, nil
		}
	}
	steps := gdcapacity.Together(gd.Spec.Steps[start:end])
	if steps == nil {
		return true, nil
	}
	p, err := r.predictGroup(ctx, gd, steps, false)
	if err != nil {
		// The same model fails each step's own preflight next, which records it.
		return true, nil
	}
	if len(p.Saturated) == 0 {
		return true, nil
	}
	msg := fmt.Sprintf("steps %s together (a parallel group) refused: %s", gdcapacity.StepNames(steps), strings.Join(p.Saturated, "; "))
	for i := start; i < end; i++ {
		st := &gd.Status.Steps[i]
		st.Phase, st.FinishedAt, st.Message = chaosv1alpha1.StepFailed, &metav1.Time{Time: s.now}, msg
		if slices.ContainsFunc(steps, func(j chaosv1alpha1.GameDayStep) bool { return j.Name == st.Name }) {
			st.Predictions = p.Predictions
		}
	}
	r.finishGD(ctx, s, chaosv1alpha1.GameDayFailed)
	r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionFalse, chaosv1alpha1.ReasonPredictedSaturation, msg)
	r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, chaosv1alpha1.ReasonPredictedSaturation, msg)
	return false, nil
}

func allowedWhy(step chaosv1alpha1.GameDayStep) string {
	if step.AllowSaturation {
		return "allowSaturation"
	}
	return "dry run"
}

// capacityGuard re-predicts every running step from the live load and replicas and records
// what is observed. A non-empty message aborts the game day (reason PredictedSaturation).
func (r *GameDayReconciler) capacityGuard(ctx context.Context, s *gdScope) (string, error) {
	if s.gd.Spec.Capacity == nil {
		return "", nil
	}
	var abort, lostAll []string
	var running []chaosv1alpha1.GameDayStep
	for i, step := range s.gd.Spec.Steps {
		st := &s.gd.Status.Steps[i]
		if st.Phase != chaosv1alpha1.StepRunning || step.Experiment == nil || len(step.CapacityTargets) == 0 {
			continue
		}
		running = append(running, step)
		p, err := r.predictStep(ctx, s.gd, step, true)
		preds, saturated := p.Predictions, p.Saturated
		if err != nil {
			r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionUnknown, chaosv1alpha1.ReasonCapacityModelError, err.Error())
			continue // the SLO guard still runs; a model that cannot read its inputs does not abort
		}
		lost, err := gdcapacity.Observe(ctx, preds, p.Modelled, s.gd.Spec.Capacity.Services, r.capacityInputs(s.gd).Query)
		if err != nil {
			r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionUnknown, chaosv1alpha1.ReasonCapacityModelError, err.Error())
		}
		st.Predictions = preds
		lostAll = append(lostAll, lost...)
		if len(saturated) > 0 && !step.AllowSaturation && !step.Experiment.DryRun {
			abort = append(abort, fmt.Sprintf("step %s, live: %s", step.Name, strings.Join(saturated, "; ")))
		}
	}
	if together := gdcapacity.Together(running); together != nil {
		// Steps running together: their faults land on the same services at once.
		p, err := r.predictGroup(ctx, s.gd, together, true)
		switch {
		case err != nil:
			r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionUnknown, chaosv1alpha1.ReasonCapacityModelError, err.Error())
		case len(p.Saturated) > 0:
			abort = append(abort, fmt.Sprintf("steps %s together, live: %s", gdcapacity.StepNames(together), strings.Join(p.Saturated, "; ")))
		}
	}
	if len(abort) > 0 {
		msg := strings.Join(abort, "; ")
		r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionFalse, chaosv1alpha1.ReasonPredictedSaturation, msg)
		return msg, nil
	}
	if len(lostAll) > 0 {
		r.setCondition(s, chaosv1alpha1.ConditionWithinCapacity, metav1.ConditionFalse, chaosv1alpha1.ReasonCapacityLost, strings.Join(lostAll, "; "))
	}
	return "", nil
}

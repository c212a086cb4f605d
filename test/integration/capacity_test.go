//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

// checkoutCapacity: 4 workers per replica at 20 ms each, 200/s per replica; p99 must stay
// under 200 ms.
func checkoutCapacity(load chaosv1alpha1.CapacityLoad) chaosv1alpha1.CapacityService {
	return chaosv1alpha1.CapacityService{Name: "checkout", Load: &load, ConcurrencyLimit: ptr.To[int32](4),
		ServiceTime: &metav1.Duration{Duration: 20 * time.Millisecond}, LatencyThreshold: &metav1.Duration{Duration: 200 * time.Millisecond}}
}

func killStep(ns string, labels map[string]string, mode chaosv1alpha1.SelectionMode, value int32) chaosv1alpha1.GameDayStep {
	spec := builder.Experiment(ns, "x").Labels(labels).Mode(mode, value).Build().Spec
	return chaosv1alpha1.GameDayStep{Name: "kill", Experiment: &spec, CapacityTargets: []string{"checkout"}}
}

func condition(g *chaosv1alpha1.GameDay, typ string) *metav1.Condition {
	return meta.FindStatusCondition(g.Status.Conditions, typ)
}

// Before a step, the model predicts its targets under the fault: killing 2 of 4 replicas at
// 700/s leaves 400/s of capacity, so the step is refused with the numbers and nothing is killed.
// The same step as a dry run shows the prediction and runs; with allowSaturation it runs for real.
func TestGameDayCapacityPreflight(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "cap-preflight"
	labels, _ := deployment(t, ns, "checkout", 4)
	capSpec := func() *chaosv1alpha1.CapacitySpec {
		s := checkoutCapacity(chaosv1alpha1.CapacityLoad{Value: "700"})
		s.Replicas = ptr.To[int32](4)
		return &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{s}}
	}

	t.Run("refused", func(t *testing.T) {
		gd := gameDay(ns, "refused", killStep(ns, labels, chaosv1alpha1.ModeFixed, 2))
		gd.Spec.Capacity = capSpec()
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "failed", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
		if got.Status.Phase != chaosv1alpha1.GameDayFailed {
			t.Fatalf("phase %s, want Failed", got.Status.Phase)
		}
		c := condition(got, chaosv1alpha1.ConditionWithinCapacity)
		want := "step kill refused: checkout: utilisation 1.75 over the maximum 0.90 (load 700/s on 2 replicas, capacity 400/s, λ* 350.1/s)"
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != chaosv1alpha1.ReasonPredictedSaturation || c.Message != want {
			t.Errorf("WithinCapacity %+v\nwant False/PredictedSaturation %q", c, want)
		}
		if c := condition(got, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonPredictedSaturation {
			t.Errorf("Completed %+v, want reason PredictedSaturation", c)
		}
		if p := got.Status.Steps[0].Predictions; len(p) != 1 || p[0].Replicas != 2 || p[0].Utilisation != "1.750" || p[0].P99 != "∞" {
			t.Errorf("step predictions %+v", p)
		}
		// The steady state's NALSD line: 200/s a replica, 800 in all, N+1 at 90 % is 5.
		if s := got.Status.Capacity; len(s) != 1 || s[0].PerReplica != "200" || s[0].Capacity != "800" || s[0].Utilisation != "0.875" || s[0].Needed != 5 || s[0].Headroom != "20" {
			t.Errorf("capacity summary %+v", s)
		}
		var exps chaosv1alpha1.ExperimentList
		if err := k8s.List(t.Context(), &exps, client.InNamespace(ns), client.MatchingLabels{"chaos.firedrill.dev/gameday": "refused"}); err != nil || len(exps.Items) != 0 {
			t.Errorf("a refused step created %d experiments (%v)", len(exps.Items), err)
		}
		if n := len(podsLeft(t, ns)); n != 4 {
			t.Errorf("%d of 4 pods left after a refused step", n)
		}
	})

	t.Run("a parallel group is judged together", func(t *testing.T) {
		// Either kill alone leaves 3 of 4 replicas for 450/s (ρ 0.75); both leave 2 (ρ 1.125).
		a, b := killStep(ns, labels, chaosv1alpha1.ModeFixed, 1), killStep(ns, labels, chaosv1alpha1.ModeFixed, 1)
		a.Name, b.Name, b.WithPrevious = "kill-a", "kill-b", true
		gd := gameDay(ns, "together", a, b)
		gd.Spec.Capacity = capSpec()
		gd.Spec.Capacity.Services[0].Load.Value = "450"
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "failed", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
		if got.Status.Phase != chaosv1alpha1.GameDayFailed {
			t.Fatalf("phase %s, want Failed", got.Status.Phase)
		}
		want := "steps kill-a, kill-b together (a parallel group) refused: checkout: utilisation 1.12"
		if c := condition(got, chaosv1alpha1.ConditionWithinCapacity); c == nil || c.Reason != chaosv1alpha1.ReasonPredictedSaturation || !strings.Contains(c.Message, want) {
			t.Errorf("WithinCapacity %+v, want PredictedSaturation %q", c, want)
		}
		for _, st := range got.Status.Steps {
			if st.Phase != chaosv1alpha1.StepFailed || len(st.Predictions) != 1 || st.Predictions[0].Replicas != 2 {
				t.Errorf("step %+v, want Failed with the group's prediction (2 replicas)", st)
			}
		}
		var exps chaosv1alpha1.ExperimentList
		if err := k8s.List(t.Context(), &exps, client.InNamespace(ns), client.MatchingLabels{"chaos.firedrill.dev/gameday": "together"}); err != nil || len(exps.Items) != 0 {
			t.Errorf("a refused group created %d experiments (%v)", len(exps.Items), err)
		}
		if n := len(podsLeft(t, ns)); n != 4 {
			t.Errorf("%d of 4 pods left after a refused group", n)
		}
	})

	t.Run("a dry run shows the prediction", func(t *testing.T) {
		step := killStep(ns, labels, chaosv1alpha1.ModeFixed, 2)
		step.Experiment.DryRun = true
		gd := gameDay(ns, "dry", step)
		gd.Spec.Capacity = capSpec()
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
		if got.Status.Phase != chaosv1alpha1.GameDaySucceeded {
			t.Fatalf("phase %s, want Succeeded", got.Status.Phase)
		}
		if p := got.Status.Steps[0].Predictions; len(p) != 1 || !strings.Contains(p[0].Saturated, "utilisation 1.75") {
			t.Errorf("predictions %+v: want the saturation shown", p)
		}
		if c := condition(got, chaosv1alpha1.ConditionWithinCapacity); c == nil || !strings.Contains(c.Message, "runs though predicted to saturate (dry run)") {
			t.Errorf("WithinCapacity %+v", c)
		}
	})

	t.Run("replicas counted by a selector", func(t *testing.T) {
		step := killStep(ns, labels, chaosv1alpha1.ModeOne, 0)
		step.Experiment.DryRun = true
		gd := gameDay(ns, "by-selector", step)
		gd.Spec.Capacity = capSpec()
		gd.Spec.Capacity.Services[0].Replicas = nil
		gd.Spec.Capacity.Services[0].Selector = &chaosv1alpha1.LabelSelector{MatchLabels: labels}
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
		if s := got.Status.Capacity; len(s) != 1 || s[0].Replicas != 4 {
			t.Errorf("summary %+v: want the 4 ready pods counted", s)
		}
		if p := got.Status.Steps[0].Predictions; len(p) != 1 || p[0].Replicas != 3 {
			t.Errorf("predictions %+v: want 3 replicas left after killing one", p)
		}
	})

	t.Run("allowSaturation runs the step", func(t *testing.T) {
		step := killStep(ns, labels, chaosv1alpha1.ModeFixed, 2)
		step.AllowSaturation = true
		gd := gameDay(ns, "allowed", step)
		gd.Spec.Capacity = capSpec()
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
			return g.Status.Phase.Finished() || (len(g.Status.Steps) == 1 && g.Status.Steps[0].Experiment != "")
		})
		if got.Status.Steps[0].Experiment == "" {
			t.Fatalf("no experiment started: %+v", got.Status)
		}
		if c := condition(got, chaosv1alpha1.ConditionWithinCapacity); c == nil || !strings.Contains(c.Message, "(allowSaturation)") {
			t.Errorf("WithinCapacity %+v", c)
		}
	})

	t.Run("within capacity", func(t *testing.T) {
		step := killStep(ns, labels, chaosv1alpha1.ModeOne, 0)
		step.Experiment.DryRun = true
		gd := gameDay(ns, "fits", step)
		gd.Spec.Capacity = capSpec()
		gd.Spec.Capacity.Services[0].Load.Value = "300"
		mustCreate(t, gd)
		got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
		p := got.Status.Steps[0].Predictions
		if got.Status.Phase != chaosv1alpha1.GameDaySucceeded || len(p) != 1 || p[0].Replicas != 3 || p[0].Utilisation != "0.500" || p[0].Saturated != "" {
			t.Errorf("phase %s, predictions %+v: want 300/s on 3 replicas at 0.5", got.Status.Phase, p)
		}
	})
}

// While a step runs, the model is re-run from the live load (PromQL) and the workload's live
// ready replicas: observations next to the prediction flag a silent capacity loss, and a load
// that grows past the saturation point aborts the game day like an SLO abort condition.
func TestGameDayCapacityLiveGuard(t *testing.T) {
	prom := promtest.Start(t)
	startManager(t, managerOptions{})
	ns := "cap-live"
	labels, _ := deployment(t, ns, "checkout", 4)
	rs := &appsv1.ReplicaSet{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "checkout-rs"}, rs); err != nil {
		t.Fatal(err)
	}
	rs.Status.Replicas, rs.Status.ReadyReplicas = 4, 4
	if err := k8s.Status().Update(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	write := func(name string, v float64) {
		t.Helper()
		if err := prom.Write(t.Context(), promtest.Series{Labels: map[string]string{"__name__": name, "job": "checkout"},
			Samples: []promtest.Sample{{T: time.Now(), V: v}}}); err != nil {
			t.Fatal(err)
		}
	}
	write("checkout_load", 300)
	write("checkout_p99_seconds", 0.5) // far above what 4 healthy replicas give at 300/s

	svc := checkoutCapacity(chaosv1alpha1.CapacityLoad{PromQL: `checkout_load{job="checkout"}`})
	svc.Workload = &chaosv1alpha1.CapacityWorkload{Kind: "ReplicaSet", Name: "checkout-rs"}
	svc.Observed = &chaosv1alpha1.CapacityObserved{Throughput: `checkout_load{job="checkout"}`, LatencyP99: `checkout_p99_seconds{job="checkout"}`}
	step := killStep(ns, labels, chaosv1alpha1.ModeOne, 0)
	step.Experiment.PodKill.Interval, step.Experiment.Duration = &metav1.Duration{Duration: time.Hour}, &metav1.Duration{Duration: 2 * time.Hour}
	gd := gameDay(ns, "live", step)
	gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	gd.Spec.Capacity = &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{svc}}
	mustCreate(t, gd)

	lost := waitGameDay(t, client.ObjectKeyFromObject(gd), "capacity lost", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		c := condition(g, chaosv1alpha1.ConditionWithinCapacity)
		return c != nil && c.Reason == chaosv1alpha1.ReasonCapacityLost
	})
	p := lost.Status.Steps[0].Predictions
	if len(p) != 1 || p[0].ObservedLoad != "300" || p[0].ObservedP99 != "500ms" || !strings.Contains(p[0].CapacityLost, "p99 500ms at 300/s is what the model predicts at") || p[0].P99Error == "" {
		t.Errorf("predictions %+v: want observed 300/s and 500ms next to the prediction, flagged capacity lost", p)
	}
	if lost.Status.Phase != chaosv1alpha1.GameDayRunning {
		t.Errorf("phase %s: a capacity loss is flagged, not aborted on", lost.Status.Phase)
	}

	write("checkout_p99_seconds", 0.03)
	write("checkout_load", 750) // 750/s on the 4 live replicas: utilisation 0.94
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if got.Status.Phase != chaosv1alpha1.GameDayAborted {
		t.Fatalf("phase %s, want Aborted", got.Status.Phase)
	}
	c := condition(got, chaosv1alpha1.ConditionAborted)
	if c == nil || c.Reason != chaosv1alpha1.ReasonPredictedSaturation || !strings.Contains(c.Message, "step kill, live: checkout: utilisation 0.94 over the maximum 0.90 (load 750/s on 4 replicas, capacity 800/s") {
		t.Errorf("Aborted %+v", c)
	}
	exp := waitFor(t, client.ObjectKey{Namespace: ns, Name: got.Status.Steps[0].Experiment}, "aborted", func(e *chaosv1alpha1.Experiment) bool { return e.Status.Phase.Finished() })
	if exp.Status.Phase != chaosv1alpha1.ExperimentAborted {
		t.Errorf("the step's experiment ended %s, want Aborted", exp.Status.Phase)
	}
}

// Steps running together are guarded together: two kills of one replica each leave 2 of 4
// declared replicas, fine at 300/s (ρ 0.75); when the load grows to 380/s either step alone still
// fits (3 replicas, ρ 0.63) but both together do not (ρ 0.95), and the game day aborts.
func TestGameDayCapacityLiveGuardJudgesRunningStepsTogether(t *testing.T) {
	prom := promtest.Start(t)
	startManager(t, managerOptions{})
	ns := "cap-live-together"
	labels, _ := deployment(t, ns, "checkout", 4)
	load := func(v float64) {
		t.Helper()
		if err := prom.Write(t.Context(), promtest.Series{Labels: map[string]string{"__name__": "checkout_load", "job": "checkout"},
			Samples: []promtest.Sample{{T: time.Now(), V: v}}}); err != nil {
			t.Fatal(err)
		}
	}
	load(300)
	svc := checkoutCapacity(chaosv1alpha1.CapacityLoad{PromQL: `checkout_load{job="checkout"}`})
	svc.Replicas = ptr.To[int32](4)
	a, b := killStep(ns, labels, chaosv1alpha1.ModeFixed, 1), killStep(ns, labels, chaosv1alpha1.ModeFixed, 1)
	a.Name, b.Name, b.WithPrevious = "kill-a", "kill-b", true
	for _, st := range []*chaosv1alpha1.GameDayStep{&a, &b} {
		st.Experiment.PodKill.Interval, st.Experiment.Duration = &metav1.Duration{Duration: time.Hour}, &metav1.Duration{Duration: 2 * time.Hour}
	}
	gd := gameDay(ns, "together", a, b)
	gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	gd.Spec.Capacity = &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{svc}}
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	waitGameDay(t, key, "both steps running", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return len(g.Status.Steps) == 2 && g.Status.Steps[0].Phase == chaosv1alpha1.StepRunning && g.Status.Steps[1].Phase == chaosv1alpha1.StepRunning
	})
	load(380)
	got := waitGameDay(t, key, "aborted", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if got.Status.Phase != chaosv1alpha1.GameDayAborted {
		t.Fatalf("phase %s (%+v), want Aborted", got.Status.Phase, got.Status.Conditions)
	}
	want := "steps kill-a, kill-b together, live: checkout: utilisation 0.95 over the maximum 0.90 (load 380/s on 2 replicas"
	if c := condition(got, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonPredictedSaturation || !strings.Contains(c.Message, want) {
		t.Errorf("Aborted %+v, want PredictedSaturation %q", c, want)
	}
	if c := condition(got, chaosv1alpha1.ConditionAborted); c != nil && strings.Contains(c.Message, "step kill-a, live") {
		t.Errorf("Aborted %q: a step alone was judged saturated, want only the two together", c.Message)
	}
}

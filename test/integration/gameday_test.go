//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

func waitGameDay(t *testing.T, key client.ObjectKey, what string, timeout time.Duration, cond func(*chaosv1alpha1.GameDay) bool) *chaosv1alpha1.GameDay {
	t.Helper()
	gd := &chaosv1alpha1.GameDay{}
	eventually(t, what, timeout, func() bool { return k8s.Get(t.Context(), key, gd) == nil && cond(gd) })
	return gd
}

func dryRunStep(ns, name string, labels map[string]string) chaosv1alpha1.GameDayStep {
	spec := builder.Experiment(ns, "x").Labels(labels).DryRun().Build().Spec
	return chaosv1alpha1.GameDayStep{Name: name, Experiment: &spec}
}

// createScheduled creates gd, which has a schedule, and waits for it to be Scheduled.
func createScheduled(t *testing.T, gd *chaosv1alpha1.GameDay) client.ObjectKey {
	t.Helper()
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	waitGameDay(t, key, "scheduled", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase == chaosv1alpha1.GameDayScheduled })
	return key
}

// advanceTo moves the game days' clock to at and wakes gd with a new annotation: nothing watches
// the clock.
func advanceTo(t *testing.T, clk *clocktesting.FakeClock, gd *chaosv1alpha1.GameDay, at time.Time) {
	t.Helper()
	clk.SetTime(at)
	patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{"test/now":%q}}}`, at.Format(time.RFC3339)))
	if err := k8s.Patch(t.Context(), gd, patch); err != nil {
		t.Fatal(err)
	}
}

func pauseStep(name string, d time.Duration) chaosv1alpha1.GameDayStep {
	return chaosv1alpha1.GameDayStep{Name: name, Pause: &metav1.Duration{Duration: d}}
}

func gameDay(ns, name string, steps ...chaosv1alpha1.GameDayStep) *chaosv1alpha1.GameDay {
	return &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: chaosv1alpha1.GameDaySpec{Steps: steps}}
}

// checkoutSLO guards on 5xx over all requests of the checkout job.
func checkoutSLO(prom *promtest.Server) (*chaosv1alpha1.PrometheusSource, chaosv1alpha1.SLOSpec) {
	return &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}},
		chaosv1alpha1.SLOSpec{Name: "checkout-availability", Objective: "99.9", Window: metav1.Duration{Duration: 28 * 24 * time.Hour},
			Ratio: &chaosv1alpha1.RatioSLISpec{
				Bad:   `sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))`,
				Total: `sum(rate(http_requests_total{job="checkout"}[{{.window}}]))`,
			}}
}

// Steps run in order, each after the one before finished; the game day owns its experiments.
func TestGameDayRunsStepsInOrder(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "gd-order"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "drill", dryRunStep(ns, "first", labels), pauseStep("breathe", time.Second), dryRunStep(ns, "second", labels))
	mustCreate(t, gd)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "succeeded", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionCompleted); c == nil || c.Reason != chaosv1alpha1.ReasonAllStepsSucceeded {
		t.Errorf("Completed condition %+v", c)
	}
	st := got.Status.Steps
	if len(st) != 3 {
		t.Fatalf("steps %+v", st)
	}
	for i, s := range st {
		if s.Phase != chaosv1alpha1.StepSucceeded || s.StartedAt == nil || s.FinishedAt == nil {
			t.Errorf("step %d: %+v", i, s)
		}
		if i > 0 && s.StartedAt.Before(st[i-1].FinishedAt) {
			t.Errorf("step %s started before %s finished", s.Name, st[i-1].Name)
		}
	}
	if d := st[1].FinishedAt.Sub(st[1].StartedAt.Time); d < time.Second {
		t.Errorf("the 1s pause lasted %s", d)
	}
	exp := &chaosv1alpha1.Experiment{}
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "drill-second"}, exp); err != nil || !metav1.IsControlledBy(exp, got) {
		t.Errorf("experiment of step two: %v, controlled by the game day %v", err, err == nil && metav1.IsControlledBy(exp, got))
	}
}

// 30 days of counters for promtool, ending at end: 10 req/s, badShare of them 5xx.
func budgetSeries(end time.Time, badShare float64) string {
	var ok, bad strings.Builder
	step := 5 * time.Minute
	for ts, i := end.Add(-30*24*time.Hour), 0; !ts.After(end); ts, i = ts.Add(step), i+1 {
		total := 10 * step.Seconds() * float64(i)
		fmt.Fprintf(&ok, "http_requests_total{job=\"checkout\",code=\"200\"} %g %d\n", total*(1-badShare), ts.Unix())
		fmt.Fprintf(&bad, "http_requests_total{job=\"checkout\",code=\"500\"} %g %d\n", total*badShare, ts.Unix())
	}
	return "# TYPE http_requests_total counter\n" + ok.String() + bad.String() + "# EOF\n"
}

// No game day starts on a spent error budget: it stays Frozen, says why with the numbers, and
// creates nothing.
func TestGameDayFreezesOnSpentBudget(t *testing.T) {
	prom := promtest.Start(t, promtest.WithBackfill(budgetSeries(time.Now(), 0.0015)))
	startManager(t, managerOptions{})
	ns := "gd-freeze"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "frozen", dryRunStep(ns, "kill", labels))
	src, s := checkoutSLO(prom)
	gd.Spec.Prometheus, gd.Spec.SLOs = src, []chaosv1alpha1.SLOSpec{s}
	gd.Spec.BudgetPolicy = &chaosv1alpha1.BudgetPolicy{FreezeBelowPercent: 25}
	mustCreate(t, gd)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "frozen", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayFrozen
	})
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionFrozen)
	if c == nil || c.Reason != chaosv1alpha1.ReasonBudgetExhausted || !strings.Contains(c.Message, "error budget left -50.00% < floor 25%") {
		t.Errorf("Frozen condition %+v, want BudgetExhausted with the numbers", c)
	}
	time.Sleep(time.Second) // several rechecks
	var exps chaosv1alpha1.ExperimentList
	if err := k8s.List(t.Context(), &exps, client.InNamespace(ns)); err != nil || len(exps.Items) != 0 {
		t.Errorf("a frozen game day created %d experiments (%v)", len(exps.Items), err)
	}
}

// requests writes the checkout counters at 5 s steps over (from, to]: 10 req/s, errShare of them 5xx.
func requests(t *testing.T, prom *promtest.Server, okN, badN *float64, from, to time.Time, errShare float64) {
	t.Helper()
	ok := promtest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "200"}}
	bad := promtest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "500"}}
	for ts := from.Add(5 * time.Second); !ts.After(to); ts = ts.Add(5 * time.Second) {
		*okN += 50 * (1 - errShare)
		*badN += 50 * errShare
		ok.Samples = append(ok.Samples, promtest.Sample{T: ts, V: *okN})
		bad.Samples = append(bad.Samples, promtest.Sample{T: ts, V: *badN})
	}
	if err := prom.Write(t.Context(), ok, bad); err != nil {
		t.Fatal(err)
	}
}

// guardedLatency is a game day whose one step holds a lasting fault until the guard stops it.
func guardedLatency(t *testing.T, ns string, prom *promtest.Server) (*chaosv1alpha1.GameDay, *lastingFault) {
	t.Helper()
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
	gd := gameDay(ns, "guarded", latencyStep(t, ns))
	src, s := checkoutSLO(prom)
	gd.Spec.Prometheus, gd.Spec.SLOs = src, []chaosv1alpha1.SLOSpec{s}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	return gd, lf
}

// latencyStep is a step "slow" holding a lasting fault (served by a lastingFault) on a 2-pod
// deployment in ns for an hour.
func latencyStep(t *testing.T, ns string) chaosv1alpha1.GameDayStep {
	t.Helper()
	labels, _ := deployment(t, ns, "web", 2)
	spec := builder.Experiment(ns, "x").Labels(labels).Build().Spec
	spec.Action, spec.PodKill, spec.Duration = chaosv1alpha1.ActionNetworkLatency, nil, &metav1.Duration{Duration: time.Hour}
	spec.Network = &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: &metav1.Duration{Duration: time.Second}}}
	return chaosv1alpha1.GameDayStep{Name: "slow", Experiment: &spec}
}

func waitInjected(t *testing.T, ns, name string) *chaosv1alpha1.Experiment {
	t.Helper()
	e := &chaosv1alpha1.Experiment{}
	eventually(t, "experiment "+name+" injected", 30*time.Second, func() bool {
		return k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: name}, e) == nil &&
			meta.IsStatusConditionTrue(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
	})
	return e
}

// A fast burn aborts the game day: its experiment is told to stop and removes its fault, and the
// condition says which rule fired, with the values and the expression.
func TestGameDayBurnRateAbort(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-burn"
	var okN, badN float64
	t0 := time.Now().Add(-90 * time.Second)
	requests(t, prom, &okN, &badN, t0.Add(-20*time.Minute), t0, 0) // healthy until 90 s ago
	gd, lf := guardedLatency(t, ns, prom)
	mustCreate(t, gd)
	exp := waitInjected(t, ns, "guarded-slow")
	if got := &(chaosv1alpha1.GameDay{}); k8s.Get(t.Context(), client.ObjectKeyFromObject(gd), got) != nil || got.Status.Phase != chaosv1alpha1.GameDayRunning {
		t.Fatalf("game day not running while healthy: %+v", got.Status)
	}
	requests(t, prom, &okN, &badN, t0, time.Now(), 1) // everything fails since
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted)
	if c != nil {
		t.Logf("Aborted %s: %s", c.Reason, c.Message)
	}
	if c == nil || c.Reason != chaosv1alpha1.ReasonBurnRateExceeded || !strings.Contains(c.Message, "burn rate") ||
		!(strings.Contains(c.Message, "against 14.4") || strings.Contains(c.Message, "against 6")) || // either workbook rule may fire first
		!strings.Contains(c.Message, `http_requests_total{job="checkout",code=~"5.."}`) {
		t.Errorf("Aborted condition %+v, want the rule, its values and the expression", c)
	}
	e := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentAborted)
	requireCondition(t, e, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonAbortRequested)
	for _, tg := range e.Status.Targets {
		if !lf.isRecovered(tg.UID) {
			t.Errorf("target %s not recovered after the abort", tg.Name)
		}
	}
	if got.Status.Steps[0].Phase != chaosv1alpha1.StepAborted {
		t.Errorf("step %+v, want Aborted", got.Status.Steps[0])
	}
}

// Prometheus gone mid-run: fail safe, the game day aborts and its fault comes off.
func TestGameDayAbortsWhenPrometheusDies(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-promdown"
	var okN, badN float64
	requests(t, prom, &okN, &badN, time.Now().Add(-20*time.Minute), time.Now(), 0)
	gd, lf := guardedLatency(t, ns, prom)
	mustCreate(t, gd)
	exp := waitInjected(t, ns, "guarded-slow")
	prom.Kill()
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonPrometheusUnreachable || !strings.Contains(c.Message, "onError: Abort") {
		t.Errorf("Aborted condition %+v, want PrometheusUnreachable", c)
	}
	e := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentAborted)
	for _, tg := range e.Status.Targets {
		if !lf.isRecovered(tg.UID) {
			t.Errorf("target %s not recovered", tg.Name)
		}
	}
}

// A manager restarted mid-game-day resumes from status: the finished step is not run again.
func TestGameDayResumesAfterRestartWithoutRerunningAStep(t *testing.T) {
	stop, _ := startManager(t, managerOptions{})
	ns := "gd-restart"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "resume", dryRunStep(ns, "first", labels), pauseStep("breathe", 3*time.Second), dryRunStep(ns, "second", labels))
	mustCreate(t, gd)
	mid := waitGameDay(t, client.ObjectKeyFromObject(gd), "first step done", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return len(g.Status.Steps) == 3 && g.Status.Steps[0].Phase == chaosv1alpha1.StepSucceeded
	})
	first := &chaosv1alpha1.Experiment{}
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "resume-first"}, first); err != nil {
		t.Fatal(err)
	}
	stop()
	startManager(t, managerOptions{})
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "succeeded", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	again := &chaosv1alpha1.Experiment{}
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "resume-first"}, again); err != nil {
		t.Fatal(err)
	}
	if again.UID != first.UID || !again.Status.StartedAt.Equal(first.Status.StartedAt) {
		t.Errorf("step one ran again after the restart: experiment %s started %v, was %s started %v", again.UID, again.Status.StartedAt, first.UID, first.Status.StartedAt)
	}
	if !got.Status.Steps[0].StartedAt.Equal(mid.Status.Steps[0].StartedAt) || !got.Status.Steps[1].StartedAt.Equal(mid.Status.Steps[1].StartedAt) {
		t.Errorf("step records rewritten: before %+v, after %+v", mid.Status.Steps, got.Status.Steps)
	}
}

func (f *lastingFault) isRecovered(uid types.UID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recovered[uid]
}

// Not steady means no start: the game day waits while a Before hypothesis fails, starts once it
// holds, and records every hypothesis before, during and after.
func TestGameDayWaitsForSteadyState(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	t.Cleanup(srv.Close)
	startManager(t, managerOptions{})
	ns := "gd-steady"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "steady", dryRunStep(ns, "first", labels), pauseStep("breathe", 2*time.Second))
	gd.Spec.Hypotheses = []chaosv1alpha1.Hypothesis{{Name: "checkout-up", HTTP: &chaosv1alpha1.HTTPCheck{URL: srv.URL + "/healthz"}}}
	mustCreate(t, gd)
	waiting := waitGameDay(t, client.ObjectKeyFromObject(gd), "not steady", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		c := meta.FindStatusCondition(g.Status.Conditions, chaosv1alpha1.ConditionSteadyState)
		return c != nil && c.Status == metav1.ConditionFalse
	})
	if c := meta.FindStatusCondition(waiting.Status.Conditions, chaosv1alpha1.ConditionSteadyState); c.Reason != chaosv1alpha1.ReasonNotSteady || !strings.Contains(c.Message, "answered 503, expected 200") {
		t.Errorf("SteadyState %+v", c)
	}
	if waiting.Status.Phase != chaosv1alpha1.GameDayPending {
		t.Errorf("phase %s while not steady, want Pending", waiting.Status.Phase)
	}
	time.Sleep(time.Second)
	var exps chaosv1alpha1.ExperimentList
	if err := k8s.List(t.Context(), &exps, client.InNamespace(ns)); err != nil || len(exps.Items) != 0 {
		t.Errorf("a game day that is not steady created %d experiments (%v)", len(exps.Items), err)
	}
	status.Store(http.StatusOK)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "succeeded", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	phases := map[chaosv1alpha1.HypothesisPhase]chaosv1alpha1.HypothesisResult{}
	for _, h := range got.Status.Hypotheses {
		phases[h.Phase] = h
	}
	for _, p := range []chaosv1alpha1.HypothesisPhase{chaosv1alpha1.HypothesisBefore, chaosv1alpha1.HypothesisDuring, chaosv1alpha1.HypothesisAfter} {
		if h, ok := phases[p]; !ok || !h.Held || h.Value != "200" || h.Checks == 0 {
			t.Errorf("hypothesis %s: %+v", p, h)
		}
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionHypothesesHeld); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("HypothesesHeld %+v", c)
	}
}

// An abort condition must hold for its `for` before it fires, and then carries its numbers.
func TestGameDayAbortConditionHoldsForItsDuration(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-hold"
	var okN, badN float64
	requests(t, prom, &okN, &badN, time.Now().Add(-20*time.Minute), time.Now(), 0)
	gd, _ := guardedLatency(t, ns, prom)
	gd.Spec.SLOs = nil
	gd.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "too-many-requests", PromQLCheck: chaosv1alpha1.PromQLCheck{
		Query: `sum(rate(http_requests_total{job="checkout"}[1m]))`, Operator: ">", Threshold: "5"}, For: &metav1.Duration{Duration: 3 * time.Second}}}
	mustCreate(t, gd)
	waitInjected(t, ns, "guarded-slow")
	held := waitGameDay(t, client.ObjectKeyFromObject(gd), "holding", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return len(g.Status.Holding) == 1 })
	if held.Status.Phase != chaosv1alpha1.GameDayRunning {
		t.Errorf("aborted before the hold: %s", held.Status.Phase)
	}
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted)
	if c == nil || c.Reason != chaosv1alpha1.ReasonAbortConditionHeld || !strings.Contains(c.Message, "> 5") || !strings.Contains(c.Message, "for 3s") {
		t.Errorf("Aborted %+v", c)
	}
	// The controller's own measure of the hold (status times are whole seconds).
	var heldFor time.Duration
	if i := strings.Index(c.Message, ", held "); i >= 0 {
		heldFor, _ = time.ParseDuration(strings.Fields(c.Message[i+len(", held "):])[0])
	}
	if heldFor < 3*time.Second {
		t.Errorf("aborted after holding %s, before its 3s hold: %s", heldFor, c.Message)
	}
}

// Steps marked withPrevious run together; the next step waits for the whole group.
func TestGameDayParallelGroup(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "gd-parallel"
	labels, _ := deployment(t, ns, "web", 2)
	together := dryRunStep(ns, "with-pause", labels)
	together.WithPrevious = true
	gd := gameDay(ns, "group", pauseStep("hold", 2*time.Second), together, dryRunStep(ns, "after", labels))
	mustCreate(t, gd)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "succeeded", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	hold, with, after := got.Status.Steps[0], got.Status.Steps[1], got.Status.Steps[2]
	if with.StartedAt.Sub(hold.StartedAt.Time) > time.Second {
		t.Errorf("the grouped step started %s after the pause, want together", with.StartedAt.Sub(hold.StartedAt.Time))
	}
	if !with.FinishedAt.Before(hold.FinishedAt) && !with.FinishedAt.Equal(hold.FinishedAt) {
		t.Errorf("the dry run should finish within the 2s pause: %+v / %+v", with, hold)
	}
	if after.StartedAt.Before(hold.FinishedAt) {
		t.Errorf("the next step started at %v, before the group's pause ended at %v", after.StartedAt, hold.FinishedAt)
	}
}

// Deleting a running game day removes its faults before it goes: its experiments are deleted,
// and each holds its own finalizer until its faults are off.
func TestDeletingAGameDayRemovesItsFaults(t *testing.T) {
	ns := "gd-delete"
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
	gd := gameDay(ns, "doomed", latencyStep(t, ns))
	mustCreate(t, gd)
	exp := waitInjected(t, ns, "doomed-slow")
	if err := k8s.Delete(t.Context(), gd); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the game day to go", 30*time.Second, func() bool {
		return apierrors.IsNotFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(gd), &chaosv1alpha1.GameDay{}))
	})
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(exp), &chaosv1alpha1.Experiment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the game day is gone but its experiment is not: %v", err)
	}
	for _, tg := range exp.Status.Targets {
		if !lf.isRecovered(tg.UID) {
			t.Errorf("target %s still has its fault", tg.Name)
		}
	}
}

// A schedule starts a run at each due time on its clock (here an injected one): a child GameDay
// of the same steps, owned by it; a due time inside a blackout window is skipped with the
// window's name; finished runs beyond the history limit are deleted.
func TestGameDayScheduleOnAnInjectedClock(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 24, 9, 58, 0, 0, paris)) // a Tuesday
	startManager(t, managerOptions{gameDayClock: clk})
	ns := "gd-schedule"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "weekly", dryRunStep(ns, "drill", labels))
	one := int32(1)
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2", TimeZone: "Europe/Paris", HistoryLimit: &one,
		Blackouts: []chaosv1alpha1.BlackoutWindow{{Name: "release-freeze",
			Start: metav1.NewTime(time.Date(2026, 11, 30, 0, 0, 0, 0, paris)), End: metav1.NewTime(time.Date(2026, 12, 3, 0, 0, 0, 0, paris))}}}
	key := createScheduled(t, gd)
	poke := func(at time.Time) { t.Helper(); advanceTo(t, clk, gd, at) }
	var runs chaosv1alpha1.GameDayList
	if err := k8s.List(t.Context(), &runs, client.InNamespace(ns), client.MatchingLabels{"chaos.firedrill.dev/scheduled-by": "weekly"}); err != nil || len(runs.Items) != 0 {
		t.Fatalf("a run before its time: %d (%v)", len(runs.Items), err)
	}

	poke(time.Date(2026, 11, 24, 10, 0, 30, 0, paris))
	first := fmt.Sprintf("weekly-%d", time.Date(2026, 11, 24, 10, 0, 0, 0, paris).Unix()/60)
	waitGameDay(t, types.NamespacedName{Namespace: ns, Name: first}, "the first run to succeed", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})

	poke(time.Date(2026, 12, 1, 10, 0, 30, 0, paris)) // inside the release freeze
	got := waitGameDay(t, key, "the blackout skip", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return len(g.Status.Runs) > 0 && g.Status.Runs[len(g.Status.Runs)-1].Phase == "Skipped"
	})
	if msg := got.Status.Runs[len(got.Status.Runs)-1].Message; !strings.Contains(msg, `blackout window "release-freeze"`) {
		t.Errorf("skip message %q", msg)
	}
	// A skipped time does not count against the runs kept: the first run and its report stay.
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: first}, &chaosv1alpha1.GameDay{}); err != nil {
		t.Errorf("the first run is gone after a skipped time (history limit 1): %v", err)
	}

	poke(time.Date(2026, 12, 8, 10, 0, 30, 0, paris))
	third := fmt.Sprintf("weekly-%d", time.Date(2026, 12, 8, 10, 0, 0, 0, paris).Unix()/60)
	waitGameDay(t, types.NamespacedName{Namespace: ns, Name: third}, "the third run to succeed", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	poke(time.Date(2026, 12, 8, 10, 1, 0, 0, paris)) // look again: the history is trimmed to one finished run
	eventually(t, "the oldest run deleted (history limit 1)", 15*time.Second, func() bool {
		return apierrors.IsNotFound(k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: first}, &chaosv1alpha1.GameDay{}))
	})
	got = waitGameDay(t, key, "history", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return len(g.Status.Runs) == 2 })
	if r := got.Status.Runs; r[0].Phase != chaosv1alpha1.ScheduledRunSkipped || r[1].GameDay != third || r[1].Phase != string(chaosv1alpha1.GameDaySucceeded) {
		t.Errorf("runs kept %+v, want the skipped time and the third run, Succeeded (one of each)", got.Status.Runs)
	}
}

// Forbid skips a due time while a run is going; Replace stops that run (its faults removed) and
// starts the new one.
func TestGameDayScheduleConcurrencyPolicy(t *testing.T) {
	// Near the real time: the template's creation time (real) is where its schedule begins, so
	// it must be created in the same real minute as the clock's start (setup takes a few seconds).
	if now := time.Now(); now.Second() > 40 {
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute).Sub(now))
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	clk := clocktesting.NewFakeClock(start)
	lf := newLastingFault()
	startManager(t, managerOptions{gameDayClock: clk, faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
	ns := "gd-concurrency"
	gd := gameDay(ns, "minutely", latencyStep(t, ns))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "* * * * *"}
	key := createScheduled(t, gd)
	poke := func(at time.Time, patchJSON string) {
		t.Helper()
		if patchJSON == "" {
			advanceTo(t, clk, gd, at)
			return
		}
		clk.SetTime(at)
		if err := k8s.Patch(t.Context(), gd, client.RawPatch(types.MergePatchType, []byte(patchJSON))); err != nil {
			t.Fatal(err)
		}
	}
	runName := func(at time.Time) string { return fmt.Sprintf("minutely-%d", at.Unix()/60) }
	t1 := start.Add(30 * time.Second) // the next whole minute
	poke(t1.Add(time.Second), "")
	exp := waitInjected(t, ns, runName(t1)+"-slow")

	poke(t1.Add(time.Minute+time.Second), "")
	got := waitGameDay(t, key, "a Forbid skip", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return len(g.Status.Runs) == 2 && g.Status.Runs[1].Phase == "Skipped"
	})
	if msg := got.Status.Runs[1].Message; !strings.Contains(msg, "still going (concurrencyPolicy Forbid)") {
		t.Errorf("skip message %q", msg)
	}

	t3 := t1.Add(2 * time.Minute)
	poke(t3.Add(time.Second), fmt.Sprintf(`{"spec":{"schedule":{"concurrencyPolicy":"Replace"}},"metadata":{"annotations":{"test/now":%q}}}`, t3.String()))
	waitInjected(t, ns, runName(t3)+"-slow")
	eventually(t, "the replaced run to go", 20*time.Second, func() bool {
		return apierrors.IsNotFound(k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: runName(t1)}, &chaosv1alpha1.GameDay{}))
	})
	for _, tg := range exp.Status.Targets {
		if !lf.isRecovered(tg.UID) {
			t.Errorf("the replaced run's fault on %s was not removed", tg.Name)
		}
	}
}

// heldRemoval is a lasting fault whose removal waits while hold is set, and which logs, in order,
// which experiment it injected and removed.
type heldRemoval struct {
	*lastingFault
	hold atomic.Bool
	mu   sync.Mutex
	log  []string
}

func (f *heldRemoval) note(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, what)
}

func (f *heldRemoval) index(what string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Index(f.log, what)
}

func (f *heldRemoval) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	f.note("inject " + e.Name)
	return f.lastingFault.Inject(ctx, e, t, resumed)
}

func (f *heldRemoval) Recover(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error {
	if f.hold.Load() {
		return fmt.Errorf("%w: the test holds the removal", experiments.ErrInProgress)
	}
	err := f.lastingFault.Recover(ctx, e, t)
	if err == nil {
		f.note("recover " + e.Name)
	}
	return err
}

// Under concurrencyPolicy Replace the new run starts once the replaced run's faults are off, not
// beside them: its hypotheses, budgets and faults would otherwise meet a system still faulted
// (two latency faults stacked on one pod).
func TestGameDayScheduleReplaceWaitsForTheOldRunsFaults(t *testing.T) {
	// The template's creation time (real) is where its schedule begins: see
	// TestGameDayScheduleConcurrencyPolicy.
	if now := time.Now(); now.Second() > 40 {
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute).Sub(now))
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	clk := clocktesting.NewFakeClock(start)
	hf := &heldRemoval{lastingFault: newLastingFault()}
	startManager(t, managerOptions{gameDayClock: clk, faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: hf}})
	ns := "gd-replace-waits"
	gd := gameDay(ns, "minutely", latencyStep(t, ns))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "* * * * *", ConcurrencyPolicy: chaosv1alpha1.ConcurrencyReplace}
	key := createScheduled(t, gd)
	runName := func(at time.Time) string { return fmt.Sprintf("minutely-%d", at.Unix()/60) }
	t1 := start.Add(30 * time.Second)
	advanceTo(t, clk, gd, t1.Add(time.Second))
	waitInjected(t, ns, runName(t1)+"-slow")

	hf.hold.Store(true)
	t2 := t1.Add(time.Minute)
	advanceTo(t, clk, gd, t2.Add(time.Second))
	// The pass that replaces the old run writes this; without the wait it creates the new run
	// in that same pass, before the write.
	waitGameDay(t, key, "the old run's entry to say it is replaced", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return len(g.Status.Runs) > 0 && strings.Contains(g.Status.Runs[0].Message, "replaced by "+runName(t2))
	})
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: runName(t2)}, &chaosv1alpha1.GameDay{}); !apierrors.IsNotFound(err) {
		t.Errorf("run %s exists (err %v) while the replaced run's fault is still on", runName(t2), err)
	}

	// A run deleted by hand is waited for the same way, and the wait is said.
	hf.hold.Store(false)
	waitInjected(t, ns, runName(t2)+"-slow")
	hf.hold.Store(true)
	if err := k8s.Delete(t.Context(), &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: runName(t2)}}); err != nil {
		t.Fatal(err)
	}
	t3 := t2.Add(time.Minute)
	advanceTo(t, clk, gd, t3.Add(time.Second))
	waitGameDay(t, key, "the deleted run's entry to say the next run waits for it", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		for _, r := range g.Status.Runs {
			if r.GameDay == runName(t2) && strings.Contains(r.Message, "its GameDay is being deleted") {
				return true
			}
		}
		return false
	})
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: runName(t3)}, &chaosv1alpha1.GameDay{}); !apierrors.IsNotFound(err) {
		t.Errorf("run %s exists (err %v) while the deleted run's fault is still on", runName(t3), err)
	}
	hf.hold.Store(false)
	waitInjected(t, ns, runName(t3)+"-slow")
	removed, injected := hf.index("recover "+runName(t1)+"-slow"), hf.index("inject "+runName(t2)+"-slow")
	if removed < 0 || removed > injected {
		t.Errorf("the new run's fault landed before the replaced run's came off: %v", hf.log)
	}
}

// A run replaced under concurrencyPolicy Replace is gone: its entry says so (not Running for
// ever) and is trimmed like any finished run, so a minutely Replace schedule's history stays
// within its limit instead of growing by an entry a minute.
func TestGameDayScheduleReplacedRunsLeaveTheHistory(t *testing.T) {
	// The template's creation time (real) is where its schedule begins: see
	// TestGameDayScheduleConcurrencyPolicy.
	if now := time.Now(); now.Second() > 40 {
		time.Sleep(now.Truncate(time.Minute).Add(time.Minute).Sub(now))
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	clk := clocktesting.NewFakeClock(start)
	startManager(t, managerOptions{gameDayClock: clk, faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: newLastingFault()}})
	ns := "gd-replace-history"
	gd := gameDay(ns, "churn", latencyStep(t, ns))
	one := int32(1)
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "* * * * *", ConcurrencyPolicy: chaosv1alpha1.ConcurrencyReplace, HistoryLimit: &one}
	key := createScheduled(t, gd)
	runName := func(at time.Time) string { return fmt.Sprintf("churn-%d", at.Unix()/60) }
	gone := func(name string) {
		t.Helper()
		eventually(t, name+" to go", 20*time.Second, func() bool {
			return apierrors.IsNotFound(k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: name}, &chaosv1alpha1.GameDay{}))
		})
	}
	t1 := start.Add(30 * time.Second) // the next whole minute
	t2, t3 := t1.Add(time.Minute), t1.Add(2*time.Minute)
	advanceTo(t, clk, gd, t1.Add(time.Second))
	waitInjected(t, ns, runName(t1)+"-slow")
	advanceTo(t, clk, gd, t2.Add(time.Second))
	waitInjected(t, ns, runName(t2)+"-slow")
	gone(runName(t1))
	advanceTo(t, clk, gd, t3.Add(time.Second))
	waitInjected(t, ns, runName(t3)+"-slow")
	gone(runName(t2))
	advanceTo(t, clk, gd, t3.Add(2*time.Second)) // look again, now that both replaced runs are gone

	var got *chaosv1alpha1.GameDay
	eventually(t, "the replaced runs' entries finished and trimmed", 10*time.Second, func() bool {
		g := &chaosv1alpha1.GameDay{}
		if k8s.Get(t.Context(), key, g) != nil {
			return false
		}
		got = g
		return len(g.Status.Runs) == 2 && g.Status.Runs[0].Phase == chaosv1alpha1.ScheduledRunDeleted
	})
	if r := got.Status.Runs[0]; r.GameDay != runName(t2) || !strings.Contains(r.Message, "replaced by "+runName(t3)) {
		t.Errorf("replaced entry %+v, want %s, replaced by %s", r, runName(t2), runName(t3))
	}
	if r := got.Status.Runs[1]; r.GameDay != runName(t3) || r.Phase == chaosv1alpha1.ScheduledRunDeleted {
		t.Errorf("active entry %+v, want %s still going", r, runName(t3))
	}
}

// A cron whose day never comes (30 February) makes the schedule invalid, said in a condition;
// it does not sit in Scheduled silently.
func TestGameDayScheduleThatNeverFires(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 24, 9, 58, 0, 0, time.UTC))
	startManager(t, managerOptions{gameDayClock: clk})
	ns := "gd-never"
	mustCreate(t, builder.Namespace(ns))
	gd := gameDay(ns, "feb30", pauseStep("wait", time.Second))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 30 2 *"}
	key := createScheduled(t, gd)
	got := waitGameDay(t, key, "the invalid schedule said", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return meta.FindStatusCondition(g.Status.Conditions, chaosv1alpha1.ConditionCompleted) != nil
	})
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionCompleted)
	if c.Reason != chaosv1alpha1.ReasonScheduleInvalid || !strings.Contains(c.Message, "spec.schedule.cron") || !strings.Contains(c.Message, "never") {
		t.Errorf("condition %+v, want ScheduleInvalid naming spec.schedule.cron, never firing", c)
	}
	if got.Status.NextScheduleTime != nil {
		t.Errorf("nextScheduleTime %s for a schedule that never fires", got.Status.NextScheduleTime)
	}
}

// A due time found later than the starting deadline (the manager was down) is skipped, not run late.
func TestGameDayScheduleStartingDeadline(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 24, 9, 58, 0, 0, time.UTC))
	startManager(t, managerOptions{gameDayClock: clk})
	ns := "gd-deadline"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "late", dryRunStep(ns, "drill", labels))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2", StartingDeadline: &metav1.Duration{Duration: 10 * time.Minute}}
	key := createScheduled(t, gd)
	advanceTo(t, clk, gd, time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC)) // woke up 30 minutes late
	got := waitGameDay(t, key, "the late time skipped", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return len(g.Status.Runs) == 1 })
	if r := got.Status.Runs[0]; r.Phase != "Skipped" || !strings.Contains(r.Message, "past the starting deadline of 10m0s") {
		t.Errorf("run %+v, want skipped past the deadline", r)
	}
	var runs chaosv1alpha1.GameDayList
	if err := k8s.List(t.Context(), &runs, client.InNamespace(ns), client.MatchingLabels{"chaos.firedrill.dev/scheduled-by": "late"}); err != nil || len(runs.Items) != 0 {
		t.Errorf("a late run was started: %d (%v)", len(runs.Items), err)
	}
}

// A frozen game day starts by itself once its error budget recovers above the floor.
func TestGameDayStartsWhenTheBudgetRecovers(t *testing.T) {
	prom := promtest.Start(t)
	var okN, badN float64
	now := time.Now()
	requests(t, prom, &okN, &badN, now.Add(-30*time.Minute), now.Add(-time.Minute), 0.02) // 2 % failing: budget of a 99 % SLO overspent
	startManager(t, managerOptions{})
	ns := "gd-recover"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "patient", dryRunStep(ns, "drill", labels))
	src, s := checkoutSLO(prom)
	s.Objective, s.Window = "99", metav1.Duration{Duration: time.Hour}
	gd.Spec.Prometheus, gd.Spec.SLOs = src, []chaosv1alpha1.SLOSpec{s}
	gd.Spec.BudgetPolicy = &chaosv1alpha1.BudgetPolicy{FreezeBelowPercent: 50}
	mustCreate(t, gd)
	waitGameDay(t, client.ObjectKeyFromObject(gd), "frozen", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayFrozen
	})
	// A surge of good requests: the bad fraction over the hour falls to a fifth, under 0.5 %.
	ok := promtest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "200"},
		Samples: []promtest.Sample{{T: time.Now(), V: okN + 4*(okN+badN)}}}
	bad := promtest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "500"},
		Samples: []promtest.Sample{{T: time.Now(), V: badN}}}
	if err := prom.Write(t.Context(), ok, bad); err != nil {
		t.Fatal(err)
	}
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "succeeded", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionFrozen); c == nil || c.Status != metav1.ConditionFalse || c.Reason != chaosv1alpha1.ReasonBudgetAvailable {
		t.Errorf("Frozen condition %+v, want False/BudgetAvailable", c)
	}
	t.Logf("budget before the run: %s%%", got.Status.Budgets[0].Before)
}

// A suspended schedule starts nothing and says so for each time it passes.
func TestGameDayScheduleSuspended(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 24, 9, 58, 0, 0, time.UTC))
	startManager(t, managerOptions{gameDayClock: clk})
	ns := "gd-suspend"
	labels, _ := deployment(t, ns, "web", 2)
	gd := gameDay(ns, "paused", dryRunStep(ns, "drill", labels))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2", Suspend: true}
	key := createScheduled(t, gd)
	advanceTo(t, clk, gd, time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC))
	got := waitGameDay(t, key, "the suspended time recorded", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return len(g.Status.Runs) == 1 })
	if r := got.Status.Runs[0]; r.Phase != "Skipped" || r.Message != "the schedule is suspended" || r.GameDay != "" {
		t.Errorf("run %+v, want skipped as suspended", r)
	}
}

// A running game day evaluates at its interval, not on each of its own status writes (which
// once made a pass per write: 30-50 Prometheus queries a second).
func TestGameDayEvaluatesAtItsInterval(t *testing.T) {
	prom := promtest.Start(t)
	startManager(t, managerOptions{})
	ns := "gd-interval"
	mustCreate(t, builder.Namespace(ns))
	gd := gameDay(ns, "paced", pauseStep("wait", 4*time.Second))
	gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	gd.Spec.Hypotheses = []chaosv1alpha1.Hypothesis{{Name: "always", When: []chaosv1alpha1.HypothesisPhase{chaosv1alpha1.HypothesisDuring},
		PromQL: &chaosv1alpha1.PromQLCheck{Query: "vector(1)", Operator: ">=", Threshold: "1"}}}
	mustCreate(t, gd)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "succeeded", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
	if len(got.Status.Hypotheses) != 1 {
		t.Fatalf("hypotheses %+v", got.Status.Hypotheses)
	}
	// 4 s at a 1 s interval: about 5 checks; a pass per status write made hundreds.
	if n := got.Status.Hypotheses[0].Checks; n < 3 || n > 10 {
		t.Errorf("%d checks during a 4 s step at a 1 s interval, want about 5", n)
	}
}

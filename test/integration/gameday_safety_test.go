//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

// failingClient is a client whose Patch, Create and status Patch first ask failPatch, failCreate
// and failStatusPatch (when set; a nil error: the call goes through).
type failingClient struct {
	client.Client
	failPatch       func(client.Object, client.Patch) error
	failCreate      func(client.Object) error
	failStatusPatch func(client.Object, client.Patch) error
}

func (c failingClient) Status() client.SubResourceWriter {
	return failingStatusWriter{SubResourceWriter: c.Client.Status(), failPatch: c.failStatusPatch}
}

type failingStatusWriter struct {
	client.SubResourceWriter
	failPatch func(client.Object, client.Patch) error
}

func (w failingStatusWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if w.failPatch != nil {
		if err := w.failPatch(obj, patch); err != nil {
			return err
		}
	}
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

func (c failingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if c.failPatch != nil {
		if err := c.failPatch(obj, patch); err != nil {
			return err
		}
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c failingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if c.failCreate != nil {
		if err := c.failCreate(obj); err != nil {
			return err
		}
	}
	return c.Client.Create(ctx, obj, opts...)
}

// promSignal returns a setter of the series name in prom, now. It reports a failed write with
// t.Error, never t.Fatal: the tests call it from the manager's goroutines too.
func promSignal(t *testing.T, prom *promtest.Server, name string) func(float64) {
	return func(v float64) {
		t.Helper()
		s := promtest.Series{Labels: map[string]string{"__name__": name}, Samples: []promtest.Sample{{T: time.Now(), V: v}}}
		if err := prom.Write(t.Context(), s); err != nil {
			t.Error(err)
		}
	}
}

// failStepStart makes the GameDay controller's first status write in ns that records step
// Experiment exp fail, as a pass that created the Experiment and then lost its status would:
// once ready holds (or 10 s passed), then calls then (if set). It runs on the manager's
// goroutine, so it waits and never calls t.Fatal.
func failStepStart(ns, exp string, failed *atomic.Bool, ready func() bool, then func()) func(client.Client) client.Client {
	return func(c client.Client) client.Client {
		return failingClient{Client: c, failStatusPatch: func(obj client.Object, patch client.Patch) error {
			if _, ok := obj.(*chaosv1alpha1.GameDay); !ok || obj.GetNamespace() != ns {
				return nil
			}
			data, err := patch.Data(obj)
			if err != nil || !strings.Contains(string(data), `"experiment":"`+exp+`"`) || !failed.CompareAndSwap(false, true) {
				return nil
			}
			for deadline := time.Now().Add(10 * time.Second); !ready() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			if then != nil {
				then()
			}
			return errors.New("injected: the API server is unavailable")
		}}
	}
}

// failFirstAbortPatch makes the GameDay controller's first abort request to an Experiment fail,
// as an API server that is briefly unavailable would, and calls then (if set) as it fails.
// failed counts the abort requests.
func failFirstAbortPatch(failed *atomic.Int32, then func()) func(client.Client) client.Client {
	return func(c client.Client) client.Client {
		return failingClient{Client: c, failPatch: func(obj client.Object, patch client.Patch) error {
			if _, ok := obj.(*chaosv1alpha1.Experiment); !ok {
				return nil
			}
			if data, err := patch.Data(obj); err != nil || !strings.Contains(string(data), chaosv1alpha1.AnnotationAbort) || failed.Add(1) != 1 {
				return nil
			}
			if then != nil {
				then()
			}
			return errors.New("injected: the API server is unavailable")
		}}
	}
}

// abortOnSignal guards gd by an abort condition on the test's Prometheus series name (see
// promSignal), evaluated every interval.
func abortOnSignal(gd *chaosv1alpha1.GameDay, prom *promtest.Server, name string, interval time.Duration) {
	gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: interval}
	gd.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "signal",
		PromQLCheck: chaosv1alpha1.PromQLCheck{Query: name, Operator: ">", Threshold: "0"}}}
}

// An abort whose patch to an Experiment fails is sent again: the step is recorded Aborted only
// once its Experiment was told, and the Experiment ends Aborted with its fault removed.
func TestGameDayAbortRetriesAFailedExperimentPatch(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-abort-retry"
	var failed atomic.Int32
	lf := &lastingFault{injected: map[types.UID]bool{}, recovered: map[types.UID]bool{}}
	startManager(t, managerOptions{gameDayClient: failFirstAbortPatch(&failed, nil),
		faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
	gd := gameDay(ns, "retry", latencyStep(t, ns))
	gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	gd.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "always", For: &metav1.Duration{Duration: 2 * time.Second},
		PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "vector(1)", Operator: ">", Threshold: "0"}}}
	mustCreate(t, gd)
	waitInjected(t, ns, "retry-slow")
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if failed.Load() < 2 {
		t.Fatalf("%d abort patches, want the failed one and a retry", failed.Load())
	}
	e := waitForPhase(t, types.NamespacedName{Namespace: ns, Name: "retry-slow"}, chaosv1alpha1.ExperimentAborted)
	requireCondition(t, e, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonAbortRequested)
	for _, tg := range e.Status.Targets {
		if !lf.isRecovered(tg.UID) {
			t.Errorf("target %s still has its fault after the abort", tg.Name)
		}
	}
	if st := got.Status.Steps[0]; st.Phase != chaosv1alpha1.StepAborted {
		t.Errorf("step %+v, want Aborted", st)
	}
}

// An abort request that fails is sent again at once, not at the next evaluation: the fault it
// has not reached is still on, and invariant 5 bounds its removal by one interval + 1 s from the
// decision. The interval here is long, so a retry at the interval shows.
func TestGameDayAbortIsRetriedSoonNotAtTheInterval(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-abort-soon"
	signal := promSignal(t, prom, "gd_abort_soon_signal")
	signal(0)
	var failed atomic.Int32
	var failedAt atomic.Int64
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf},
		gameDayClient: failFirstAbortPatch(&failed, func() { failedAt.Store(time.Now().UnixNano()) })})
	gd := gameDay(ns, "soon", latencyStep(t, ns))
	abortOnSignal(gd, prom, "gd_abort_soon_signal", 20*time.Second)
	mustCreate(t, gd)
	waitInjected(t, ns, "soon-slow")
	signal(1)
	// The next evaluation (at most one interval away) decides; its request fails once.
	eventually(t, "the abort request to fail once", 30*time.Second, func() bool { return failed.Load() >= 1 })
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if took := time.Since(time.Unix(0, failedAt.Load())); took > 5*time.Second {
		t.Errorf("aborted %s after the failed request, want the retry well inside the 20s interval", took.Round(time.Millisecond))
	}
	if st := got.Status.Steps[0]; st.Phase != chaosv1alpha1.StepAborted {
		t.Errorf("step %+v, want Aborted", st)
	}
}

// An abort decided while one of its requests to an Experiment fails is not forgotten: it is kept
// in status.abort and carried out by the next passes even once the guard no longer fires, so
// the game day ends Aborted with what fired (not Failed/StepFailed, nor running on), and every
// Experiment of the parallel group is told.
func TestGameDayAbortDecisionSurvivesAFailedExperimentPatch(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-abort-kept"
	signal := promSignal(t, prom, "gd_abort_signal")
	signal(0)
	var failed atomic.Int32
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf},
		// The condition stops firing before the next pass.
		gameDayClient: failFirstAbortPatch(&failed, func() { signal(0) })})
	first := latencyStep(t, ns)
	labels, _ := deployment(t, ns, "api", 2)
	second := first.DeepCopy()
	second.Name, second.WithPrevious = "slower", true
	second.Experiment.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchLabels: labels}
	gd := gameDay(ns, "kept", first, *second)
	abortOnSignal(gd, prom, "gd_abort_signal", time.Second)
	mustCreate(t, gd)
	waitInjected(t, ns, "kept-slow")
	waitInjected(t, ns, "kept-slower")
	signal(1)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if failed.Load() < 2 {
		t.Errorf("%d abort requests, want the failed one and a retry", failed.Load())
	}
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted)
	if got.Status.Phase != chaosv1alpha1.GameDayAborted || c == nil || c.Reason != chaosv1alpha1.ReasonAbortConditionHeld || !strings.Contains(c.Message, "condition signal") {
		t.Fatalf("phase %s, Aborted condition %+v, conditions %+v: want Aborted by the condition that fired", got.Status.Phase, c, got.Status.Conditions)
	}
	if a := got.Status.Abort; a == nil || a.Reason != c.Reason || a.Message != c.Message {
		t.Errorf("status.abort %+v, want the decision the condition says", a)
	}
	for _, name := range []string{"kept-slow", "kept-slower"} {
		e := waitForPhase(t, types.NamespacedName{Namespace: ns, Name: name}, chaosv1alpha1.ExperimentAborted)
		requireCondition(t, e, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonAbortRequested)
		if v := e.Annotations[chaosv1alpha1.AnnotationAbort]; !strings.Contains(v, chaosv1alpha1.ReasonAbortConditionHeld) {
			t.Errorf("experiment %s abort annotation %q, want the reason that fired", name, v)
		}
	}
	for i, st := range got.Status.Steps {
		if st.Phase != chaosv1alpha1.StepAborted || st.Message != chaosv1alpha1.ReasonAbortConditionHeld {
			t.Errorf("step %d: %+v, want Aborted for the condition", i, st)
		}
	}
	lf.requireRemoved(t, 2) // one target each (mode one)
}

// A game day's spec is frozen once it started (the schema's transition rule), and a status whose
// steps no longer match the spec stops the game day with a condition saying so, rather than
// panicking the reconciler on every pass (which left the guard unwritten and unevaluated).
func TestGameDaySpecIsFrozenOnceStarted(t *testing.T) {
	ns := "gd-frozen-spec"
	mustCreate(t, builder.Namespace(ns))
	// No manager yet: nothing has started this one, so it may be edited.
	pending := gameDay(ns, "pending", pauseStep("wait", time.Hour))
	mustCreate(t, pending)
	pending.Spec.Steps = append(pending.Spec.Steps, pauseStep("more", time.Minute))
	if err := k8s.Update(t.Context(), pending); err != nil {
		t.Fatalf("editing a game day that has not started: %v", err)
	}

	startManager(t, managerOptions{})
	gd := gameDay(ns, "running", pauseStep("wait", time.Hour), pauseStep("then", time.Hour))
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	waitGameDay(t, key, "running", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase == chaosv1alpha1.GameDayRunning })
	var err error
	for range 20 { // the manager may write status between our read and write
		got := &chaosv1alpha1.GameDay{}
		if err = k8s.Get(t.Context(), key, got); err != nil {
			t.Fatal(err)
		}
		got.Spec.Steps = append(got.Spec.Steps, pauseStep("added", time.Second))
		if err = k8s.Update(t.Context(), got); !apierrors.IsConflict(err) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "spec cannot change once the game day has started") {
		t.Fatalf("adding a step to a running game day: %v, want it refused", err)
	}

	// A status that lost a step record (as a spec changed past the rule would leave it).
	if err := k8s.Status().Patch(t.Context(), gd, client.RawPatch(types.MergePatchType, []byte(`{"status":{"steps":[]}}`))); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Patch(t.Context(), gd, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"test/poke":"1"}}}`))); err != nil {
		t.Fatal(err)
	}
	got := waitGameDay(t, key, "aborted on the mismatch", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted)
	if c == nil || c.Reason != chaosv1alpha1.ReasonStepsMismatch || !strings.Contains(c.Message, "spec.steps has 2 steps but status.steps records 0") {
		t.Errorf("Aborted condition %+v, want StepsMismatch with the counts", c)
	}
}

// The spec freeze cannot be slipped past while a game day starts: a spec edited after the start
// pass read it, but before its status write (the freeze) landed, makes that write fail, and no
// Experiment was made from the replaced spec. The game day runs the new spec's steps and
// nothing else injects (before, the old step's Experiment was created in the start pass and
// kept injecting, referred to by no step).
func TestGameDaySpecEditedWhileStartingLeavesNoExperiment(t *testing.T) {
	ns := "gd-start-edit"
	var edited atomic.Bool
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf},
		gameDayClient: func(c client.Client) client.Client {
			return failingClient{Client: c, failStatusPatch: func(obj client.Object, patch client.Patch) error {
				if _, ok := obj.(*chaosv1alpha1.GameDay); !ok || obj.GetNamespace() != ns {
					return nil // earlier tests' game days are reconciled too
				}
				data, err := patch.Data(obj)
				if err != nil || !strings.Contains(string(data), `"phase":"Running"`) || !edited.CompareAndSwap(false, true) {
					return nil
				}
				// Someone renames the step just before the start is written.
				cur := &chaosv1alpha1.GameDay{}
				if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(obj), cur); err != nil {
					t.Error(err)
					return nil
				}
				before := cur.DeepCopy()
				cur.Spec.Steps[0].Name = "renamed"
				if err := k8s.Patch(t.Context(), cur, client.MergeFrom(before)); err != nil {
					t.Errorf("editing the spec before the start was written: %v", err)
				}
				return nil
			}}
		}})
	gd := gameDay(ns, "edited", latencyStep(t, ns))
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	waitInjected(t, ns, "edited-renamed")
	if !edited.Load() {
		t.Fatal("the spec was never edited during the start")
	}
	got := waitGameDay(t, key, "running the new spec", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayRunning && len(g.Status.Steps) == 1 && g.Status.Steps[0].Experiment != ""
	})
	if st := got.Status.Steps[0]; st.Name != "renamed" || st.Experiment != "edited-renamed" {
		t.Errorf("step %+v, want the renamed step running edited-renamed", st)
	}
	var exps chaosv1alpha1.ExperimentList
	if err := k8s.List(t.Context(), &exps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range exps.Items {
		if e.Name != "edited-renamed" {
			t.Errorf("experiment %s (phase %s) exists, made from the spec replaced while the game day started", e.Name, e.Status.Phase)
		}
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if len(lf.injected) != 1 {
		t.Errorf("%d faults injected, want only the renamed step's one", len(lf.injected))
	}
}

// A scheduled run whose creation fails is created on a later pass: the due time is not marked
// done (lastScheduleTime) until the run exists or its skip is recorded.
func TestGameDayScheduleRetriesAFailedRunCreation(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 24, 9, 58, 0, 0, time.UTC))
	var failed atomic.Int32
	startManager(t, managerOptions{gameDayClock: clk, gameDayClient: func(c client.Client) client.Client {
		return failingClient{Client: c, failCreate: func(obj client.Object) error {
			if _, ok := obj.(*chaosv1alpha1.GameDay); ok && failed.Add(1) == 1 {
				return errors.New("injected: the API server is unavailable")
			}
			return nil
		}}
	}})
	ns := "gd-schedule-retry"
	mustCreate(t, builder.Namespace(ns))
	gd := gameDay(ns, "retried", pauseStep("wait", time.Second))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2"}
	key := createScheduled(t, gd)
	advanceTo(t, clk, gd, time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC))
	run := fmt.Sprintf("retried-%d", time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Unix()/60)
	waitGameDay(t, types.NamespacedName{Namespace: ns, Name: run}, "the run created after a failed create", 15*time.Second, func(*chaosv1alpha1.GameDay) bool { return true })
	if failed.Load() < 2 {
		t.Errorf("%d creates, want the failed one and a retry", failed.Load())
	}
	got := waitGameDay(t, key, "the run recorded", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return len(g.Status.Runs) == 1 })
	if r := got.Status.Runs[0]; r.GameDay != run || got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Equal(&r.ScheduledAt) {
		t.Errorf("runs %+v, lastScheduleTime %v, want the run recorded at its time", got.Status.Runs, got.Status.LastScheduleTime)
	}
}

// With onError: Continue, a query that fails is recorded and the rest of the guard still runs:
// a condition after the broken one still aborts the game day.
func TestGameDayGuardEvaluatesPastAFailingQuery(t *testing.T) {
	prom := promtest.Start(t)
	startManager(t, managerOptions{})
	ns := "gd-guard-continue"
	mustCreate(t, builder.Namespace(ns))
	gd := gameDay(ns, "partly-blind", pauseStep("wait", time.Hour))
	gd.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}, OnError: chaosv1alpha1.PrometheusContinue}
	gd.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	gd.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{
		{Name: "broken", PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "sum(rate(x[1m])", Operator: ">", Threshold: "0"}},
		{Name: "fires", PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "vector(1)", Operator: ">", Threshold: "0"}},
	}
	mustCreate(t, gd)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonAbortConditionHeld || !strings.Contains(c.Message, "condition fires") {
		t.Errorf("Aborted condition %+v, want AbortConditionHeld by the condition after the broken one", c)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionGuarded); c == nil || c.Status != metav1.ConditionFalse ||
		c.Reason != chaosv1alpha1.ReasonPrometheusUnreachable || !strings.Contains(c.Message, "condition broken") {
		t.Errorf("Guarded condition %+v, want False naming the broken condition", c)
	}
}

// No data while a game day runs is not "nothing is burning": the guard says so
// (Guarded=False/NoData) and onError decides, as for a failed query. Abort (the default) stops
// the game day; Continue goes on and names what had no data.
func TestGameDayGuardNoData(t *testing.T) {
	prom := promtest.Start(t)
	var okN, badN float64
	// The checkout counters stop 10 minutes ago: the SLO window has data, the 5m burn window none.
	requests(t, prom, &okN, &badN, time.Now().Add(-30*time.Minute), time.Now().Add(-10*time.Minute), 0)
	startManager(t, managerOptions{})
	ns := "gd-nodata"
	mustCreate(t, builder.Namespace(ns))
	empty := chaosv1alpha1.AbortCondition{Name: "empty", PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "vector(1) > 2", Operator: ">", Threshold: "0"}}

	failSafe := gameDay(ns, "fail-safe", pauseStep("wait", time.Hour))
	failSafe.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}}
	failSafe.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	failSafe.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{empty}

	blind := gameDay(ns, "blind", pauseStep("wait", time.Hour))
	src, slo := checkoutSLO(prom)
	src.OnError = chaosv1alpha1.PrometheusContinue
	blind.Spec.Prometheus, blind.Spec.SLOs = src, []chaosv1alpha1.SLOSpec{slo}
	blind.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	blind.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{empty}
	// A ratio over no traffic is NaN, a sample: the condition does not hold, and no data it is not.
	quiet := gameDay(ns, "quiet", pauseStep("wait", time.Hour))
	quiet.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}}
	quiet.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	quiet.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "p99-no-traffic", PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "vector(0)/0", Operator: ">", Threshold: "2"}}}
	mustCreate(t, failSafe, blind, quiet)

	got := waitGameDay(t, client.ObjectKeyFromObject(failSafe), "aborted on no data", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonNoData ||
		!strings.Contains(c.Message, "condition empty") || !strings.Contains(c.Message, "onError: Abort") {
		t.Errorf("Aborted condition %+v, want NoData naming the condition", c)
	}

	got = waitGameDay(t, client.ObjectKeyFromObject(blind), "Guarded=False/NoData", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		c := meta.FindStatusCondition(g.Status.Conditions, chaosv1alpha1.ConditionGuarded)
		return c != nil && c.Status == metav1.ConditionFalse
	})
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionGuarded)
	if c.Reason != chaosv1alpha1.ReasonNoData || !strings.Contains(c.Message, "slo checkout-availability") || !strings.Contains(c.Message, "condition empty") {
		t.Errorf("Guarded condition %+v, want NoData naming the SLO and the condition", c)
	}
	if got.Status.Phase != chaosv1alpha1.GameDayRunning {
		t.Errorf("phase %s with onError: Continue, want Running", got.Status.Phase)
	}
	got = waitGameDay(t, client.ObjectKeyFromObject(quiet), "3s of guarding", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase.Finished() || g.Status.StartedAt != nil && g.Status.LastEvaluation != nil &&
			g.Status.LastEvaluation.Sub(g.Status.StartedAt.Time) >= 3*time.Second
	})
	c = meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionGuarded)
	if got.Status.Phase != chaosv1alpha1.GameDayRunning || got.Status.LastEvaluation == nil || c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("a NaN abort condition: phase %s, guarded %+v; want Running and guarded", got.Status.Phase, c)
	}
}

// emergencyStopOn creates an EmergencyStop, removed when the test ends (it is cluster-wide).
func emergencyStopOn(t *testing.T, name, reason string) *chaosv1alpha1.EmergencyStop {
	t.Helper()
	stop := &chaosv1alpha1.EmergencyStop{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: chaosv1alpha1.EmergencyStopSpec{Reason: reason}}
	mustCreate(t, stop)
	t.Cleanup(func() { _ = client.IgnoreNotFound(k8s.Delete(context.Background(), stop)) })
	return stop
}

// An emergency stop aborts a running game day at once (the stop's creation wakes it, not its
// next evaluation) and holds a new one Frozen until the stop is deleted.
func TestGameDayEmergencyStop(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "gd-estop"
	mustCreate(t, builder.Namespace(ns))
	running := gameDay(ns, "running", pauseStep("wait", time.Hour))
	running.Spec.EvaluationInterval = &metav1.Duration{Duration: 5 * time.Minute} // only the watch can wake it in time
	mustCreate(t, running)
	waitGameDay(t, client.ObjectKeyFromObject(running), "its step running", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		// The start pass writes the phase alone; the step starts at the pass after it.
		return g.Status.Phase == chaosv1alpha1.GameDayRunning && len(g.Status.Steps) == 1 && g.Status.Steps[0].Phase == chaosv1alpha1.StepRunning
	})

	stop := emergencyStopOn(t, "gd-incident", "payments are down for real")
	got := waitGameDay(t, client.ObjectKeyFromObject(running), "aborted by the stop", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonEmergencyStop ||
		!strings.Contains(c.Message, "payments are down for real") {
		t.Errorf("Aborted condition %+v, want EmergencyStop with the stop's reason", c)
	}
	if st := got.Status.Steps[0]; st.Phase != chaosv1alpha1.StepAborted {
		t.Errorf("step %+v, want Aborted", st)
	}

	held := gameDay(ns, "held", pauseStep("wait", time.Second))
	mustCreate(t, held)
	got = waitGameDay(t, client.ObjectKeyFromObject(held), "frozen by the stop", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayFrozen
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionFrozen); c == nil || c.Reason != chaosv1alpha1.ReasonEmergencyStop {
		t.Errorf("Frozen condition %+v, want EmergencyStop", c)
	}
	time.Sleep(time.Second) // several rechecks
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(held), got); err != nil || got.Status.Phase != chaosv1alpha1.GameDayFrozen || len(got.Status.Steps) != 0 {
		t.Errorf("a game day started during the stop: %+v (%v)", got.Status, err)
	}
	if err := k8s.Delete(t.Context(), stop); err != nil {
		t.Fatal(err)
	}
	waitGameDay(t, client.ObjectKeyFromObject(held), "succeeded once the stop is lifted", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDaySucceeded
	})
}

// A schedule starts no run while an emergency stop is on: the due time is recorded as skipped,
// with the stop's reason.
func TestGameDayScheduleSkipsDuringEmergencyStop(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 24, 9, 58, 0, 0, time.UTC))
	startManager(t, managerOptions{gameDayClock: clk})
	ns := "gd-estop-schedule"
	mustCreate(t, builder.Namespace(ns))
	gd := gameDay(ns, "weekly", pauseStep("wait", time.Second))
	gd.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2"}
	key := createScheduled(t, gd)
	emergencyStopOn(t, "gd-schedule-incident", "region failover in progress")
	advanceTo(t, clk, gd, time.Date(2026, 11, 24, 10, 0, 5, 0, time.UTC))
	got := waitGameDay(t, key, "the due time recorded", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return len(g.Status.Runs) == 1 })
	if r := got.Status.Runs[0]; r.Phase != "Skipped" || r.GameDay != "" || !strings.Contains(r.Message, "region failover in progress") {
		t.Errorf("run %+v, want skipped for the emergency stop", r)
	}
	var runs chaosv1alpha1.GameDayList
	if err := k8s.List(t.Context(), &runs, client.InNamespace(ns), client.MatchingLabels{"chaos.firedrill.dev/scheduled-by": "weekly"}); err != nil || len(runs.Items) != 0 {
		t.Errorf("%d runs started during the stop (%v)", len(runs.Items), err)
	}
}

// The name rule holds at creation and when a schedule is added; other updates of a game day
// whose name the rule would refuse with a schedule are not refused.
func TestGameDayNameRuleOnUpdate(t *testing.T) {
	ns := "gd-name-update"
	mustCreate(t, builder.Namespace(ns))
	name := strings.Repeat("n", 60) // over 54: no schedule may be added
	gd := gameDay(ns, name, pauseStep("wait", time.Hour))
	gd.Spec.Schedule = nil
	mustCreate(t, gd)
	labelled := gd.DeepCopy()
	labelled.Labels = map[string]string{"team": "payments"}
	if err := k8s.Patch(t.Context(), labelled, client.MergeFrom(gd)); err != nil {
		t.Fatalf("labelling a game day with a 60-character name: %v", err)
	}
	scheduled := labelled.DeepCopy()
	scheduled.Spec.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 1"}
	err := k8s.Patch(t.Context(), scheduled, client.MergeFrom(labelled))
	if err == nil || !strings.Contains(err.Error(), "at most 54 with spec.schedule") {
		t.Errorf("adding a schedule to a game day with a 60-character name: %v, want the name rule", err)
	}
}

// One game day whose passes are slow (HTTP hypotheses against a service that does not answer,
// each waiting out its timeout) must not hold back another game day's abort.
func TestGameDayAbortIsNotHeldBackByAnotherSlowGameDay(t *testing.T) {
	prom := promtest.Start(t)
	release := make(chan struct{})
	asked := make(chan struct{}, 64)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	startManager(t, managerOptions{})
	ns := "gd-slow-neighbour"
	mustCreate(t, builder.Namespace(ns))

	slow := gameDay(ns, "slow", pauseStep("wait", time.Hour))
	slow.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	for i := range 4 { // 4 × the 5 s HTTP timeout: a pass of 20 s
		slow.Spec.Hypotheses = append(slow.Spec.Hypotheses, chaosv1alpha1.Hypothesis{Name: fmt.Sprintf("answers-%d", i),
			HTTP: &chaosv1alpha1.HTTPCheck{URL: hang.URL}, When: []chaosv1alpha1.HypothesisPhase{chaosv1alpha1.HypothesisDuring}})
	}
	mustCreate(t, slow)
	select { // the slow game day is in one of its passes now
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow game day never checked its hypotheses")
	}

	burning := gameDay(ns, "burning", pauseStep("wait", time.Hour))
	burning.Spec.Prometheus = &chaosv1alpha1.PrometheusSource{Address: prom.URL, Timeout: &metav1.Duration{Duration: time.Second}}
	burning.Spec.EvaluationInterval = &metav1.Duration{Duration: time.Second}
	burning.Spec.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "always", PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "vector(1)", Operator: ">", Threshold: "0"}}}
	mustCreate(t, burning)
	// Well within the slow game day's 20 s pass: only a worker of its own gets it there.
	waitGameDay(t, client.ObjectKeyFromObject(burning), "aborted", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
}

// A step whose Experiment was created on a pass whose status write then failed is running: the
// next pass takes it up from the Experiment and does not judge its capacity again. Judged again,
// the step would meet the capacity its own kill had already cut (4 ready replicas at 500/s pass
// with one killed; 3 ready do not) and be refused, while its Experiment ran on under a game day
// that said it had failed.
func TestGameDayStepStartedBeforeItsStatusWasWrittenIsNotJudgedAgain(t *testing.T) {
	ns := "gd-started-once"
	var failed atomic.Bool
	// The write fails once the kill is done, so the next pass meets the cut capacity.
	startManager(t, managerOptions{gameDayClient: failStepStart(ns, "once-kill", &failed, func() bool {
		var pods corev1.PodList
		return k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app": "checkout"}) == nil &&
			len(pods.Items) == 3
	}, nil)})
	labels, rsUID := deployment(t, ns, "checkout", 4)
	spec := builder.Experiment(ns, "x").Labels(labels).Mode(chaosv1alpha1.ModeFixed, 1).Grace(0).Build().Spec
	gd := gameDay(ns, "once", chaosv1alpha1.GameDayStep{Name: "kill", Experiment: &spec, CapacityTargets: []string{"checkout"}})
	svc := checkoutCapacity(chaosv1alpha1.CapacityLoad{Value: "500"})
	svc.Selector = &chaosv1alpha1.LabelSelector{MatchLabels: labels}
	gd.Spec.Capacity = &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{svc}}
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	running := waitGameDay(t, key, "the step running", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase.Finished() || len(g.Status.Steps) == 1 && g.Status.Steps[0].Experiment != ""
	})
	if !failed.Load() {
		t.Fatal("the status write recording the step's start never failed")
	}
	if n := len(podsLeft(t, ns)); n != 3 {
		t.Fatalf("%d pods left, want the one kill", n)
	}
	// The first pass's verdict went with its status write; no second verdict is made.
	if c := condition(running, chaosv1alpha1.ConditionWithinCapacity); running.Status.Phase.Finished() || c != nil {
		t.Fatalf("phase %s, WithinCapacity %+v: want the step running, not judged again", running.Status.Phase, c)
	}
	exp := &chaosv1alpha1.Experiment{}
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "once-kill"}, exp); err != nil {
		t.Fatal(err)
	}
	if st := running.Status.Steps[0]; st.Phase != chaosv1alpha1.StepRunning || !st.StartedAt.Equal(&exp.CreationTimestamp) {
		t.Errorf("step %+v: want Running since its experiment's creation %v", st, exp.CreationTimestamp)
	}
	replace(t, ns, "checkout", rsUID, labels, 1)
	got := waitGameDay(t, key, "finished", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if got.Status.Phase != chaosv1alpha1.GameDaySucceeded {
		t.Errorf("phase %s (%+v), want Succeeded", got.Status.Phase, got.Status.Conditions)
	}
}

// An Experiment of a step's name that the game day does not control (left by an earlier game day
// of the same name, or made by hand) is not taken for the step: the step waits, saying why, and
// starts its own Experiment once the name is free.
func TestGameDayStepWaitsForAnExperimentItDoesNotOwn(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "gd-name-taken"
	labels, _ := deployment(t, ns, "web", 2)
	foreign := builder.Experiment(ns, "taken-first").Labels(labels).DryRun().Build()
	mustCreate(t, foreign)
	foreignKey := client.ObjectKeyFromObject(foreign)
	waitForPhase(t, foreignKey, chaosv1alpha1.ExperimentSucceeded)
	gd := gameDay(ns, "taken", dryRunStep(ns, "first", labels))
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	waiting := waitGameDay(t, key, "the step saying why it waits", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase.Finished() || len(g.Status.Steps) == 1 && strings.Contains(g.Status.Steps[0].Message, "is not this game day's")
	})
	if st := waiting.Status.Steps[0]; waiting.Status.Phase.Finished() || st.StartedAt != nil || st.Phase == chaosv1alpha1.StepSucceeded {
		t.Fatalf("phase %s, step %+v: want the step waiting, not started", waiting.Status.Phase, st)
	}
	if err := k8s.Delete(t.Context(), foreign); err != nil {
		t.Fatal(err)
	}
	got := waitGameDay(t, key, "finished", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if got.Status.Phase != chaosv1alpha1.GameDaySucceeded || got.Status.Steps[0].Message != "" {
		t.Errorf("phase %s, step %+v: want Succeeded with the wait's message gone", got.Status.Phase, got.Status.Steps[0])
	}
	own := &chaosv1alpha1.Experiment{}
	if err := k8s.Get(t.Context(), foreignKey, own); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(own, got) {
		t.Errorf("experiment %s owned by %+v, want the game day's own", own.Name, own.OwnerReferences)
	}
}

// An abort decided on the pass after a step's start was lost (its Experiment created, the status
// write recording it failed) reaches that Experiment too: the step's fault comes off with the
// rest instead of running on under an aborted game day.
func TestGameDayAbortReachesAStepWhoseStartWasNotWritten(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-abort-unwritten"
	signal := promSignal(t, prom, "gd_unwritten_signal")
	signal(0)
	var failed atomic.Bool
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf},
		// The step's fault is in place and the guard fires before the next pass.
		gameDayClient: failStepStart(ns, "unwritten-slow", &failed, func() bool {
			lf.mu.Lock()
			defer lf.mu.Unlock()
			return len(lf.injected) > 0
		}, func() { signal(1) })})
	gd := gameDay(ns, "unwritten", latencyStep(t, ns))
	abortOnSignal(gd, prom, "gd_unwritten_signal", time.Second)
	mustCreate(t, gd)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "finished", 20*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if !failed.Load() {
		t.Fatal("the status write recording the step's start never failed")
	}
	if got.Status.Phase != chaosv1alpha1.GameDayAborted {
		t.Fatalf("phase %s (%+v), want Aborted", got.Status.Phase, got.Status.Conditions)
	}
	if st := got.Status.Steps[0]; st.Phase != chaosv1alpha1.StepAborted || st.Experiment != "unwritten-slow" || st.StartedAt == nil {
		t.Errorf("step %+v: want Aborted, naming its experiment and when it started", st)
	}
	e := waitForPhase(t, types.NamespacedName{Namespace: ns, Name: "unwritten-slow"}, chaosv1alpha1.ExperimentAborted)
	requireCondition(t, e, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonAbortRequested)
	lf.requireRemoved(t, 1)
}

// An abort reaches only the game day's own Experiments. A step recorded started whose Experiment
// could not be created (the create failed) and whose name someone else then took waits, and the
// abort leaves that other Experiment alone rather than sending it the game day's abort.
func TestGameDayAbortLeavesAnExperimentItDoesNotOwnAlone(t *testing.T) {
	ns := "gd-abort-foreign"
	var failed atomic.Bool
	var labels map[string]string
	startManager(t, managerOptions{gameDayClient: func(c client.Client) client.Client {
		return failingClient{Client: c, failCreate: func(obj client.Object) error {
			if _, ok := obj.(*chaosv1alpha1.Experiment); !ok || obj.GetNamespace() != ns || !failed.CompareAndSwap(false, true) {
				return nil
			}
			// Someone else takes the name while the game day's create fails.
			if err := k8s.Create(context.Background(), builder.Experiment(ns, obj.GetName()).Labels(labels).DryRun().Build()); err != nil {
				t.Errorf("taking the step's name: %v", err)
			}
			return errors.New("injected: the API server is unavailable")
		}}
	}})
	labels, _ = deployment(t, ns, "web", 2)
	gd := gameDay(ns, "foreign", dryRunStep(ns, "first", labels))
	mustCreate(t, gd)
	key := client.ObjectKeyFromObject(gd)
	waitGameDay(t, key, "the started step waiting for its name", 15*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return len(g.Status.Steps) == 1 && g.Status.Steps[0].StartedAt != nil && strings.Contains(g.Status.Steps[0].Message, "is not this game day's")
	})
	emergencyStopOn(t, "gd-foreign-stop", "stop everything")
	got := waitGameDay(t, key, "aborted", 10*time.Second, func(g *chaosv1alpha1.GameDay) bool { return g.Status.Phase.Finished() })
	if got.Status.Phase != chaosv1alpha1.GameDayAborted || got.Status.Steps[0].Phase != chaosv1alpha1.StepAborted {
		t.Errorf("phase %s, step %+v: want both Aborted", got.Status.Phase, got.Status.Steps[0])
	}
	other := &chaosv1alpha1.Experiment{}
	if err := k8s.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "foreign-first"}, other); err != nil {
		t.Fatal(err)
	}
	if v, ok := other.Annotations[chaosv1alpha1.AnnotationAbort]; ok {
		t.Errorf("the other owner's experiment was told to abort: %q", v)
	}
}

// waitAbortedWithin waits for gd to be Aborted and fails when that took longer than limit after
// from (invariant 5: within one evaluation interval + 1 s of the condition holding).
func waitAbortedWithin(t *testing.T, gd *chaosv1alpha1.GameDay, from time.Time, limit time.Duration) *chaosv1alpha1.GameDay {
	t.Helper()
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "aborted", 60*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayAborted
	})
	if took := time.Since(from); took > limit {
		t.Errorf("aborted %s after the condition held, want within %s (interval + 1 s)", took.Round(time.Millisecond), limit)
	}
	return got
}

// Slow During hypotheses (HTTP checks against a service that never answers, 5 s each) neither
// push the next evaluation back by the pass's length nor hold the abort behind them.
func TestGameDayGuardCadenceIsNotStretchedBySlowHypotheses(t *testing.T) {
	prom := promtest.Start(t)
	asked := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never blocks: the handler must only hang on the request
		case asked <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	startManager(t, managerOptions{})
	ns := "gd-cadence-hyp"
	mustCreate(t, builder.Namespace(ns))
	signal := promSignal(t, prom, "gd_cadence_signal")
	signal(0)
	gd := gameDay(ns, "hyp", pauseStep("wait", time.Hour))
	abortOnSignal(gd, prom, "gd_cadence_signal", time.Second)
	for i := range 4 { // 4 × the 5 s HTTP timeout, one after another: a pass of 20 s
		gd.Spec.Hypotheses = append(gd.Spec.Hypotheses, chaosv1alpha1.Hypothesis{Name: fmt.Sprintf("answers-%d", i),
			HTTP: &chaosv1alpha1.HTTPCheck{URL: hang.URL}, When: []chaosv1alpha1.HypothesisPhase{chaosv1alpha1.HypothesisDuring}})
	}
	mustCreate(t, gd)
	select { // a pass is in its hypotheses now
	case <-asked:
	case <-time.After(30 * time.Second):
		t.Fatal("the game day never checked its hypotheses")
	}
	signal(1)
	got := waitAbortedWithin(t, gd, time.Now(), 2*time.Second)
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonAbortConditionHeld {
		t.Errorf("Aborted condition %+v, want AbortConditionHeld", c)
	}
	for _, h := range got.Status.Hypotheses {
		if h.Held || !strings.Contains(h.Message, "evaluation interval") {
			t.Errorf("hypothesis %+v: a check cut off by the pass's time must fail, saying why", h)
		}
	}
}

// A step whose Experiment cannot be created (every create fails) does not stop the guard: the
// other step's fault runs on, and a breach still aborts within the interval + 1 s, rather than
// after controller-runtime's error backoff (growing to ~16 min). The error stays visible.
func TestGameDayGuardCadenceIsNotStretchedByAFailingStep(t *testing.T) {
	prom := promtest.Start(t)
	ns := "gd-cadence-step"
	signal := promSignal(t, prom, "gd_step_signal")
	signal(0)
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf},
		gameDayClient: func(c client.Client) client.Client {
			return failingClient{Client: c, failCreate: func(obj client.Object) error {
				if obj.GetName() == "cadence-blocked" {
					return errors.New("injected: experiments quota exceeded")
				}
				return nil
			}}
		}})
	first := latencyStep(t, ns)
	labels, _ := deployment(t, ns, "api", 2)
	second := first.DeepCopy()
	second.Name, second.WithPrevious = "blocked", true
	second.Experiment.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchLabels: labels}
	gd := gameDay(ns, "cadence", first, *second)
	abortOnSignal(gd, prom, "gd_step_signal", time.Second)
	mustCreate(t, gd)
	waitInjected(t, ns, "cadence-slow")
	time.Sleep(13 * time.Second) // long enough for an error backoff to have grown to seconds (about 5 s, then 10 s)
	running := &chaosv1alpha1.GameDay{}
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(gd), running); err != nil {
		t.Fatal(err)
	}
	if st := running.Status.Steps[1]; !strings.Contains(st.Message, "injected: experiments quota exceeded") {
		t.Errorf("step %+v, want the failing create in its message", st)
	}
	signal(1)
	got := waitAbortedWithin(t, gd, time.Now(), 2*time.Second)
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonAbortConditionHeld {
		t.Errorf("Aborted condition %+v, want AbortConditionHeld", c)
	}
	waitForPhase(t, types.NamespacedName{Namespace: ns, Name: "cadence-slow"}, chaosv1alpha1.ExperimentAborted)
	lf.requireRemoved(t, 1)
}

// The Aborted phase does not wait for the after-report: After hypotheses against a service that
// does not answer (each waits out its 5 s timeout) are checked on a later pass, which then sets
// finishedAt.
func TestGameDayAbortIsWrittenBeforeTheAfterReport(t *testing.T) {
	prom := promtest.Start(t)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	startManager(t, managerOptions{})
	ns := "gd-abort-report"
	mustCreate(t, builder.Namespace(ns))
	signal := promSignal(t, prom, "gd_report_signal")
	signal(0)
	gd := gameDay(ns, "report", pauseStep("wait", time.Hour))
	abortOnSignal(gd, prom, "gd_report_signal", time.Second)
	gd.Spec.Hypotheses = []chaosv1alpha1.Hypothesis{{Name: "answers-after", HTTP: &chaosv1alpha1.HTTPCheck{URL: hang.URL},
		When: []chaosv1alpha1.HypothesisPhase{chaosv1alpha1.HypothesisAfter}}}
	mustCreate(t, gd)
	waitGameDay(t, client.ObjectKeyFromObject(gd), "running", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.Phase == chaosv1alpha1.GameDayRunning && len(g.Status.Steps) == 1 && g.Status.Steps[0].Phase == chaosv1alpha1.StepRunning
	})
	signal(1)
	waitAbortedWithin(t, gd, time.Now(), 2*time.Second)
	got := waitGameDay(t, client.ObjectKeyFromObject(gd), "after-report written", 30*time.Second, func(g *chaosv1alpha1.GameDay) bool {
		return g.Status.FinishedAt != nil
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionHypothesesHeld); c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "answers-after") {
		t.Errorf("HypothesesHeld %+v, want False naming the After hypothesis that got no answer", c)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionAborted); c == nil || c.Reason != chaosv1alpha1.ReasonAbortConditionHeld {
		t.Errorf("Aborted condition %+v, want AbortConditionHeld", c)
	}
}

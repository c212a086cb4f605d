package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/slo"
)

// FinalizerGameDay holds a GameDay until its Experiments, and so their faults, are gone.
const FinalizerGameDay = "chaos.firedrill.dev/gameday-experiments"

// LabelGameDay and LabelStep mark the Experiments a GameDay created.
const (
	LabelGameDay = "chaos.firedrill.dev/gameday"
	LabelStep    = "chaos.firedrill.dev/step"
)

// GameDayReconciler runs game days: the SLO budget freeze before, the steps in order, the guard
// (burn rates, abort conditions) at every evaluation interval while they run.
type GameDayReconciler struct {
	Client client.Client
	// APIReader reads workloads, pods and nodes for the capacity model uncached (default Client).
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.Clock
	// FrozenRecheck is how often a frozen game day looks at the budget again (default 1m).
	FrozenRecheck time.Duration
	// NewQuerier connects to Prometheus (tests may substitute); default slo.NewPrometheus.
	NewQuerier func(address string, timeout time.Duration) (slo.Querier, error)

	queriers sync.Map // address|timeout → slo.Querier
	// written is this controller's last write to each GameDay (see read).
	written ownWrites
}

// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=gamedays,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=gamedays/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=gamedays/finalizers,verbs=update
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=experiments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=chaos.firedrill.dev,resources=emergencystops,verbs=get;list;watch

type gdScope struct {
	before, gd *chaosv1alpha1.GameDay
	// eventsFrom is the object as read: events tell every transition of the pass, including
	// those an early write (the abort decision) already recorded.
	eventsFrom *chaosv1alpha1.GameDay
	now        time.Time
	// stop is the EmergencyStop in force, if any: nothing starts, a running game day aborts.
	stop *chaosv1alpha1.EmergencyStop
}

// stopMsg says which emergency stop is on and why.
func (s *gdScope) stopMsg() string {
	return fmt.Sprintf("emergency stop %q is on: %s", s.stop.Name, s.stop.Spec.Reason)
}

// Reconcile reads the GameDay, runs the phase function, writes status once.
func (r *GameDayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gd, err := r.read(ctx, req.NamespacedName)
	if gd == nil || err != nil {
		return ctrl.Result{}, err
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("gameday", klog.KObj(gd)))
	if !gd.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, gd)
	}
	if gd.Status.Phase.Finished() && !reportPending(gd) {
		return ctrl.Result{}, nil
	}
	if !controllerutil.ContainsFinalizer(gd, FinalizerGameDay) {
		patch := client.MergeFrom(gd.DeepCopy())
		controllerutil.AddFinalizer(gd, FinalizerGameDay)
		if err := r.Client.Patch(ctx, gd, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
		r.written.wrote(gd)
	}
	stop, err := emergencyStop(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	s := &gdScope{before: gd.DeepCopy(), eventsFrom: gd.DeepCopy(), gd: gd, now: r.Clock.Now(), stop: stop}
	var res ctrl.Result
	switch {
	case reportPending(gd):
		res, err = r.report(ctx, s)
	case gd.Spec.Schedule != nil:
		res, err = r.reconcileSchedule(ctx, s)
	case gd.Status.Phase == "" || gd.Status.Phase == chaosv1alpha1.GameDayPending || gd.Status.Phase == chaosv1alpha1.GameDayFrozen:
		res, err = r.start(ctx, s)
	case gd.Status.Phase == chaosv1alpha1.GameDayRunning:
		res, err = r.run(ctx, s)
	}
	if werr := r.writeStatus(ctx, s); werr != nil {
		return ctrl.Result{}, kerrors.NewAggregate([]error{err, werr})
	}
	r.events(s)
	return res, err
}

// read gets the GameDay, from the API server while the cache is behind this controller's own
// last write to it (see ownWrites): a pass woken right after that write (an Experiment it told to
// abort reporting back) would otherwise act on the status before it, and its own write would
// then conflict and be lost. A nil GameDay: it is gone.
func (r *GameDayReconciler) read(ctx context.Context, key types.NamespacedName) (*chaosv1alpha1.GameDay, error) {
	gd := &chaosv1alpha1.GameDay{}
	if found, err := r.written.get(ctx, r.Client, r.apiReader(), key, gd); !found {
		return nil, err
	}
	return gd, nil
}

// writeStatus writes what the pass changed in status, locked on what it read: a pass that read
// an older object conflicts here rather than overwrite what it did not see.
func (r *GameDayReconciler) writeStatus(ctx context.Context, s *gdScope) error {
	s.gd.Status.ObservedGeneration = s.gd.Generation
	if equality.Semantic.DeepEqual(s.before.Status, s.gd.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, s.gd, client.MergeFromWithOptions(s.before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	r.written.wrote(s.gd)
	s.before = s.gd.DeepCopy()
	return nil
}

func (r *GameDayReconciler) events(s *gdScope) {
	if r.Recorder == nil {
		return
	}
	for _, c := range s.gd.Status.Conditions {
		old := meta.FindStatusCondition(s.eventsFrom.Status.Conditions, c.Type)
		if old != nil && old.Status == c.Status && old.Reason == c.Reason {
			continue
		}
		typ := "Normal"
		if (c.Type == chaosv1alpha1.ConditionAborted || c.Type == chaosv1alpha1.ConditionFrozen || c.Type == chaosv1alpha1.ConditionGuarded) && c.Status == metav1.ConditionTrue ||
			c.Type == chaosv1alpha1.ConditionGuarded && c.Status == metav1.ConditionFalse {
			typ = "Warning"
		}
		r.Recorder.Eventf(s.gd, nil, typ, c.Reason, c.Type, "%s", c.Message)
	}
}

func (r *GameDayReconciler) setCondition(s *gdScope, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.gd.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: s.gd.Generation, LastTransitionTime: metav1.Time{Time: s.now}})
}

func (r *GameDayReconciler) querier(gd *chaosv1alpha1.GameDay) (slo.Querier, error) {
	p := gd.Spec.Prometheus
	if p == nil {
		return nil, nil
	}
	timeout := 5 * time.Second
	if p.Timeout != nil {
		timeout = p.Timeout.Duration
	}
	key := p.Address + "|" + timeout.String()
	if q, ok := r.queriers.Load(key); ok {
		return q.(slo.Querier), nil
	}
	newQ := r.NewQuerier
	if newQ == nil {
		newQ = func(a string, t time.Duration) (slo.Querier, error) { return slo.NewPrometheus(a, t) }
	}
	q, err := newQ(p.Address, timeout)
	if err != nil {
		return nil, err
	}
	r.queriers.Store(key, q)
	return q, nil
}

// slos converts the spec's SLOs for the arithmetic.
func slos(gd *chaosv1alpha1.GameDay) ([]slo.SLO, [][]slo.BurnRule, error) {
	var out []slo.SLO
	var rules [][]slo.BurnRule
	for _, sp := range gd.Spec.SLOs {
		obj, err := strconv.ParseFloat(sp.Objective, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("slo %s: objective %q: %w", sp.Name, sp.Objective, err)
		}
		s := slo.SLO{Name: sp.Name, Objective: obj / 100, Window: sp.Window.Duration}
		if sp.Ratio != nil {
			s.SLI = slo.SLI{Good: sp.Ratio.Good, Bad: sp.Ratio.Bad, Total: sp.Ratio.Total}
		}
		if sp.Latency != nil {
			s.SLI = slo.SLI{Latency: &slo.LatencySLI{Metric: sp.Latency.Metric, Matchers: sp.Latency.Matchers, Threshold: sp.Latency.Threshold}}
		}
		if err := s.Validate(); err != nil {
			return nil, nil, err
		}
		rs := slo.WorkbookRules
		if len(sp.BurnRates) > 0 {
			rs = nil
			for _, br := range sp.BurnRates {
				f, err := strconv.ParseFloat(br.Factor, 64)
				if err != nil {
					return nil, nil, fmt.Errorf("slo %s: burn factor %q: %w", sp.Name, br.Factor, err)
				}
				rs = append(rs, slo.BurnRule{Long: br.Long.Duration, Short: br.Short.Duration, Factor: f})
			}
		}
		for _, r := range rs {
			// The schema refuses this; an object stored before that rule must not run unguarded.
			if r.Factor*(1-s.Objective) >= 1 {
				return nil, nil, fmt.Errorf("slo %s: burn factor %g can never abort: at objective %s%% the budget burns at most %.4g times too fast (at 100%% errors)",
					sp.Name, r.Factor, sp.Objective, 1/(1-s.Objective))
			}
		}
		out = append(out, s)
		rules = append(rules, rs)
	}
	return out, rules, nil
}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 2, 64) }

// start checks the error budgets against the policy's floor: frozen while any is below, running
// (budgets recorded) once all are above.
func (r *GameDayReconciler) start(ctx context.Context, s *gdScope) (ctrl.Result, error) {
	gd := s.gd
	recheck := r.FrozenRecheck
	if recheck == 0 {
		recheck = time.Minute
	}
	if s.stop != nil {
		// Held like a frozen budget; the stop's deletion wakes it (the kind is watched).
		gd.Status.Phase = chaosv1alpha1.GameDayFrozen
		r.setCondition(s, chaosv1alpha1.ConditionFrozen, metav1.ConditionTrue, chaosv1alpha1.ReasonEmergencyStop,
			s.stopMsg()+"; the game day does not start until it is deleted")
		return ctrl.Result{RequeueAfter: recheck}, nil
	}
	objectives, _, err := slos(gd)
	if err != nil {
		return r.fail(s, chaosv1alpha1.ReasonStepFailed, err.Error()), nil
	}
	var budgets []chaosv1alpha1.SLOBudget
	if len(objectives) > 0 {
		q, err := r.querier(gd)
		if err != nil {
			return ctrl.Result{}, err
		}
		var low []string
		for _, o := range objectives {
			b, err := o.BudgetLeft(ctx, q, s.now)
			if err != nil {
				// No start on a budget nobody can read: fail safe.
				gd.Status.Phase = chaosv1alpha1.GameDayFrozen
				r.setCondition(s, chaosv1alpha1.ConditionFrozen, metav1.ConditionTrue, chaosv1alpha1.ReasonPrometheusUnreachable,
					fmt.Sprintf("slo %s: the error budget cannot be read, so the game day does not start: %v", o.Name, err))
				return ctrl.Result{RequeueAfter: recheck}, nil
			}
			budgets = append(budgets, chaosv1alpha1.SLOBudget{Name: o.Name, Before: pct(b.Left)})
			if p := gd.Spec.BudgetPolicy; p != nil && b.Left*100 < float64(p.FreezeBelowPercent) {
				low = append(low, fmt.Sprintf("slo %s: error budget left %s%% < floor %d%% (bad fraction %.4g over %s against objective %s%%)",
					o.Name, pct(b.Left), p.FreezeBelowPercent, b.Bad, metav1.Duration{Duration: o.Window}.Duration, strconv.FormatFloat(o.Objective*100, 'f', -1, 64)))
			}
		}
		if len(low) > 0 {
			gd.Status.Phase = chaosv1alpha1.GameDayFrozen
			gd.Status.Budgets = budgets
			r.setCondition(s, chaosv1alpha1.ConditionFrozen, metav1.ConditionTrue, chaosv1alpha1.ReasonBudgetExhausted, strings.Join(low, "; "))
			return ctrl.Result{RequeueAfter: recheck}, nil
		}
	}
	if gd.Status.Phase == chaosv1alpha1.GameDayFrozen {
		r.setCondition(s, chaosv1alpha1.ConditionFrozen, metav1.ConditionFalse, chaosv1alpha1.ReasonBudgetAvailable, "no emergency stop, and every error budget is above the floor")
	}
	if len(gd.Spec.Hypotheses) > 0 {
		// The steady state: a system not behaving as the hypotheses say before the game day
		// would make its results meaningless.
		if failed := r.checkHypotheses(ctx, s, chaosv1alpha1.HypothesisBefore, 0); len(failed) > 0 {
			gd.Status.Phase = chaosv1alpha1.GameDayPending
			gd.Status.Budgets = budgets
			r.setCondition(s, chaosv1alpha1.ConditionSteadyState, metav1.ConditionFalse, chaosv1alpha1.ReasonNotSteady,
				"not steady, so the game day does not start: "+strings.Join(failed, "; "))
			return ctrl.Result{RequeueAfter: recheck}, nil
		}
		r.setCondition(s, chaosv1alpha1.ConditionSteadyState, metav1.ConditionTrue, chaosv1alpha1.ReasonSteady, "every Before hypothesis holds")
	}
	gd.Status.Budgets = budgets
	if !r.capacityStart(ctx, s) {
		return ctrl.Result{}, nil
	}
	gd.Status.Phase = chaosv1alpha1.GameDayRunning
	gd.Status.StartedAt = &metav1.Time{Time: s.now}
	gd.Status.Steps = nil
	for _, st := range gd.Spec.Steps {
		gd.Status.Steps = append(gd.Status.Steps, chaosv1alpha1.GameDayStepStatus{Name: st.Name, Phase: chaosv1alpha1.StepPending})
	}
	// This pass writes the start and nothing more: the spec is frozen only once a Running phase
	// is stored (the schema's rule), and a spec edited before that makes this write fail its
	// optimistic lock. Creating Experiments now could leave one made from a replaced spec.
	return ctrl.Result{RequeueAfter: startedRequeue}, nil
}

// startedRequeue is how soon the pass after the start comes: at once, but late enough for the
// cache to hold the Running phase just written (an older copy would start it again and conflict).
const startedRequeue = 100 * time.Millisecond

// run guards and advances the steps. The guard comes first, so a pass decides an abort before
// anything slow (hypotheses, step starts); the next pass comes one interval after this one
// started, however long it took (invariant 5: abort within one interval + 1 s).
func (r *GameDayReconciler) run(ctx context.Context, s *gdScope) (ctrl.Result, error) {
	interval := 5 * time.Second
	if iv := s.gd.Spec.EvaluationInterval; iv != nil {
		interval = iv.Duration
	}
	// An error is logged, sent as an event and retried at the guard's cadence: returned, it
	// would be retried on controller-runtime's backoff (growing to ~16 min, RequeueAfter
	// ignored), leaving the guard unevaluated while the faults of other steps run on.
	retry := func(what string, err error, wait time.Duration) (ctrl.Result, error) {
		if err != nil {
			r.passError(ctx, s, what+" (retried at the evaluation interval)", err)
		}
		return ctrl.Result{RequeueAfter: nextPass(interval, wait, r.Clock.Since(s.now))}, nil
	}
	abort := func(reason, msg string) (ctrl.Result, error) {
		if err := r.abortAll(ctx, s, reason, msg); err != nil {
			// Soon, not at the interval: a fault the abort has not reached is still on.
			r.passError(ctx, s, "aborting (retried)", err)
			return ctrl.Result{RequeueAfter: abortRetry}, nil
		}
		return ctrl.Result{RequeueAfter: startedRequeue}, nil // the after-report's pass
	}
	if a := s.gd.Status.Abort; a != nil {
		// An earlier pass decided to abort but could not tell every Experiment: that abort is
		// carried out as decided, whatever the guard says now.
		return abort(a.Reason, a.Message)
	}
	if s.stop != nil {
		return abort(chaosv1alpha1.ReasonEmergencyStop, s.stopMsg())
	}
	if msg := stepsMismatch(s.gd); msg != "" {
		// Every step is followed by its index in both lists: with a mismatch, running on
		// would follow the wrong step or index past the end.
		return abort(chaosv1alpha1.ReasonStepsMismatch, msg)
	}
	if reason, msg, err := r.guard(ctx, s); err != nil {
		return retry("guarding", err, 0)
	} else if reason != "" {
		return abort(reason, msg)
	}
	if msg, err := r.capacityGuard(ctx, s); err != nil {
		return retry("guarding capacity", err, 0)
	} else if msg != "" {
		return abort(chaosv1alpha1.ReasonPredictedSaturation, msg)
	}
	// The checks share what is left of the interval (at least half of it), so a service that
	// does not answer cannot hold the next evaluation back.
	budget := max(interval-r.Clock.Since(s.now), interval/2)
	if failed := r.checkHypotheses(ctx, s, chaosv1alpha1.HypothesisDuring, budget); len(failed) > 0 {
		r.setCondition(s, chaosv1alpha1.ConditionHypothesesHeld, metav1.ConditionFalse, chaosv1alpha1.ReasonHypothesisFailed,
			"during the game day: "+strings.Join(failed, "; "))
	}
	wait, err := r.advance(ctx, s)
	if s.gd.Status.Phase.Finished() {
		return ctrl.Result{}, err
	}
	return retry("advancing the steps", err, wait)
}

// abortRetry is how soon an abort that could not tell every Experiment is sent again.
const abortRetry = 250 * time.Millisecond

// nextPass is how long after a pass that took elapsed the next one starts: interval (or wait,
// when sooner) after this pass started, so the cadence does not stretch by the pass's length.
// A pass that took longer than that is followed after a short rest (a quarter of the interval,
// at most 250 ms), not back to back: each pass queries Prometheus and writes status.
func nextPass(interval, wait, elapsed time.Duration) time.Duration {
	rest := min(interval/4, 250*time.Millisecond)
	if wait > 0 && wait < interval {
		interval = wait
	}
	return max(interval-elapsed, rest)
}

// passError makes an error a pass goes on past visible: logged and sent as a Warning event (a
// step that cannot start also says why in its message).
func (r *GameDayReconciler) passError(ctx context.Context, s *gdScope, what string, err error) {
	ctrl.LoggerFrom(ctx).Error(err, what)
	if r.Recorder != nil {
		r.Recorder.Eventf(s.gd, nil, "Warning", eventPassError, "Evaluate", "%s: %v", what, err)
	}
}

// eventPassError is the reason of the event passError sends (an event's, not a condition's).
const eventPassError = "PassError"

// stepsMismatch says how status.steps differs from spec.steps, or "" when each status record is
// the spec step of its index.
func stepsMismatch(gd *chaosv1alpha1.GameDay) string {
	if len(gd.Spec.Steps) != len(gd.Status.Steps) {
		return fmt.Sprintf("spec.steps has %d steps but status.steps records %d: the spec changed after the game day started, so it stops",
			len(gd.Spec.Steps), len(gd.Status.Steps))
	}
	for i := range gd.Spec.Steps {
		if gd.Spec.Steps[i].Name != gd.Status.Steps[i].Name {
			return fmt.Sprintf("spec.steps[%d] is %q but status.steps[%d] records %q: the spec changed after the game day started, so it stops",
				i, gd.Spec.Steps[i].Name, i, gd.Status.Steps[i].Name)
		}
	}
	return ""
}

// guard evaluates the burn-rate rules and abort conditions. A non-empty reason aborts.
//
// A query that fails, or returns no sample (no data is not "not burning": start() refuses to
// start on it too), aborts with onError: Abort. With onError: Continue it is recorded
// (Guarded=False, naming every SLO and condition that could not be evaluated) and the others
// are still evaluated: one broken query must not switch the whole guard off.
func (r *GameDayReconciler) guard(ctx context.Context, s *gdScope) (reason, msg string, err error) {
	gd := s.gd
	if gd.Spec.Prometheus == nil || (len(gd.Spec.SLOs) == 0 && len(gd.Spec.AbortConditions) == 0) {
		return "", "", nil
	}
	q, err := r.querier(gd)
	if err != nil {
		return "", "", err
	}
	gd.Status.LastEvaluation = &metav1.Time{Time: s.now}
	objectives, rules, err := slos(gd)
	if err != nil {
		return chaosv1alpha1.ReasonStepFailed, err.Error(), nil
	}
	cont := gd.Spec.Prometheus.OnError == chaosv1alpha1.PrometheusContinue
	var unread []string
	noData := true // every unread one had no data (the reason then says so)
	// unreadable records what could not be evaluated; stop says the game day stops on it.
	unreadable := func(what string, e error) (stop bool, reason, msg string) {
		unread = append(unread, what+": "+e.Error())
		noData = noData && errors.Is(e, slo.ErrNoData)
		if cont {
			return false, "", ""
		}
		if errors.Is(e, slo.ErrNoData) {
			return true, chaosv1alpha1.ReasonNoData, "no data, so whether it burns cannot be told and the game day stops (onError: Abort): " + what + ": " + e.Error()
		}
		return true, chaosv1alpha1.ReasonPrometheusUnreachable, "Prometheus cannot be queried, so the game day stops (onError: Abort): " + what + ": " + e.Error()
	}
	// fired aborts, keeping what could not be evaluated on the way in the Guarded condition.
	fired := func(reason, msg string) (string, string, error) {
		r.recordUnread(s, unread, noData)
		return reason, msg, nil
	}
	for i, o := range objectives {
		for _, rule := range rules[i] {
			b, err := o.Burn(ctx, q, rule, s.now)
			if err != nil {
				if stop, reason, msg := unreadable("slo "+o.Name, err); stop {
					return reason, msg, nil
				}
				continue
			}
			if b.Holds {
				return fired(chaosv1alpha1.ReasonBurnRateExceeded, fmt.Sprintf("slo %s: %s; expression: %s", o.Name, b, b.ShortQ))
			}
		}
	}
	var holding []chaosv1alpha1.HoldingCondition
	for _, c := range gd.Spec.AbortConditions {
		since := s.now
		held := false
		for _, h := range gd.Status.Holding {
			if h.Name == c.Name {
				since, held = h.Since.Time, true
			}
		}
		v, ok, holds, err := evaluate(ctx, q, c.PromQLCheck, s.now)
		if err == nil && !ok {
			err = fmt.Errorf("%s returned no sample: %w", c.Query, slo.ErrNoData)
		}
		if err != nil {
			if stop, reason, msg := unreadable("condition "+c.Name, err); stop {
				return reason, msg, nil
			}
			if held { // not known either way: the hold neither starts nor ends
				holding = append(holding, chaosv1alpha1.HoldingCondition{Name: c.Name, Since: metav1.MicroTime{Time: since}})
			}
			continue
		}
		if !holds {
			continue
		}
		hold := time.Duration(0)
		if c.For != nil {
			hold = c.For.Duration
		}
		if s.now.Sub(since) >= hold {
			return fired(chaosv1alpha1.ReasonAbortConditionHeld, fmt.Sprintf("condition %s: %s = %g %s %s, held %s (for %s)",
				c.Name, c.Query, v, c.Operator, c.Threshold, s.now.Sub(since).Round(time.Millisecond), hold))
		}
		holding = append(holding, chaosv1alpha1.HoldingCondition{Name: c.Name, Since: metav1.MicroTime{Time: since}})
	}
	gd.Status.Holding = holding
	r.recordUnread(s, unread, noData)
	return "", "", nil
}

// recordUnread sets Guarded: False naming what could not be evaluated (onError: Continue), with
// reason NoData when all of it returned no sample; True when everything was evaluated.
func (r *GameDayReconciler) recordUnread(s *gdScope, unread []string, noData bool) {
	if len(unread) > 0 {
		reason := chaosv1alpha1.ReasonPrometheusUnreachable
		if noData {
			reason = chaosv1alpha1.ReasonNoData
		}
		r.setCondition(s, chaosv1alpha1.ConditionGuarded, metav1.ConditionFalse, reason,
			"going on without what cannot be evaluated (onError: Continue): "+strings.Join(unread, "; "))
		return
	}
	if c := meta.FindStatusCondition(s.gd.Status.Conditions, chaosv1alpha1.ConditionGuarded); c == nil || c.Status != metav1.ConditionTrue {
		r.setCondition(s, chaosv1alpha1.ConditionGuarded, metav1.ConditionTrue, chaosv1alpha1.ReasonGuardEvaluating, "SLOs and abort conditions evaluated")
	}
}

// checkHypotheses checks the hypotheses that apply in phase, records each result, and returns
// what did not hold. They are checked at once, within budget when it is not 0: a check cut off
// by it fails (a service that cannot answer within the evaluation interval).
func (r *GameDayReconciler) checkHypotheses(ctx context.Context, s *gdScope, phase chaosv1alpha1.HypothesisPhase, budget time.Duration) []string {
	var hs []chaosv1alpha1.Hypothesis
	for _, h := range s.gd.Spec.Hypotheses {
		if len(h.When) == 0 || slices.Contains(h.When, phase) {
			hs = append(hs, h)
		}
	}
	type result struct {
		held       bool
		value, msg string
	}
	results := make([]result, len(hs))
	cctx := ctx
	if budget > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			held, value, msg := r.check(cctx, s.gd, h)
			if !held && cctx.Err() != nil && ctx.Err() == nil {
				msg = fmt.Sprintf("no answer within %s, the time a pass gives its checks (the evaluation interval): %s", budget, msg)
			}
			results[i] = result{held, value, msg}
		})
	}
	wg.Wait()
	var failed []string
	for i, h := range hs {
		held, value, msg := results[i].held, results[i].value, results[i].msg
		var res *chaosv1alpha1.HypothesisResult
		for i := range s.gd.Status.Hypotheses {
			if rr := &s.gd.Status.Hypotheses[i]; rr.Name == h.Name && rr.Phase == phase {
				res = rr
			}
		}
		if res == nil {
			s.gd.Status.Hypotheses = append(s.gd.Status.Hypotheses, chaosv1alpha1.HypothesisResult{Name: h.Name, Phase: phase, Held: true})
			res = &s.gd.Status.Hypotheses[len(s.gd.Status.Hypotheses)-1]
		}
		if phase == chaosv1alpha1.HypothesisDuring {
			res.Held = res.Held && held // during: it must hold at every check
		} else {
			res.Held = held
		}
		if !(phase == chaosv1alpha1.HypothesisDuring && held && !res.Held) {
			res.Value, res.Message = value, msg // once During failed, keep the failing measurement
		}
		res.Checks++
		res.CheckedAt = &metav1.Time{Time: s.now}
		if !held {
			failed = append(failed, h.Name+": "+msg)
		}
	}
	return failed
}

// check runs one hypothesis: held, the value seen, and a sentence saying it.
func (r *GameDayReconciler) check(ctx context.Context, gd *chaosv1alpha1.GameDay, h chaosv1alpha1.Hypothesis) (bool, string, string) {
	if c := h.PromQL; c != nil {
		q, err := r.querier(gd)
		if err != nil || q == nil {
			return false, "", fmt.Sprintf("no Prometheus to query: %v", err)
		}
		v, ok, held, err := evaluate(ctx, q, *c, r.Clock.Now())
		if err != nil {
			return false, "", err.Error()
		}
		if !ok {
			return false, "", fmt.Sprintf("%s returned no sample", c.Query)
		}
		val := strconv.FormatFloat(v, 'g', 6, 64)
		word := "holds"
		if !held {
			word = "does not hold"
		}
		return held, val, fmt.Sprintf("%s = %s: %s %s %s %s", c.Query, val, val, c.Operator, c.Threshold, word)
	}
	want := int(h.HTTP.Status)
	if want == 0 {
		want = http.StatusOK
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.HTTP.URL, nil)
	if err != nil {
		return false, "", err.Error()
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false, "", fmt.Sprintf("GET %s: %v", h.HTTP.URL, err)
	}
	resp.Body.Close()
	return resp.StatusCode == want, strconv.Itoa(resp.StatusCode), fmt.Sprintf("GET %s answered %d, expected %d", h.HTTP.URL, resp.StatusCode, want)
}

// httpClient checks HTTP hypotheses: no proxy, no redirects followed (a redirect is an answer).
var httpClient = &http.Client{
	Transport:     &http.Transport{Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// evaluate runs a PromQL check: its value, whether there was one, and whether it compares true.
func evaluate(ctx context.Context, q slo.Querier, c chaosv1alpha1.PromQLCheck, t time.Time) (v float64, ok, holds bool, err error) {
	if v, ok, err = q.Value(ctx, c.Query, t); err != nil || !ok {
		return v, ok, false, err
	}
	th, err := strconv.ParseFloat(c.Threshold, 64)
	if err != nil {
		return v, ok, false, fmt.Errorf("threshold %q: %w", c.Threshold, err)
	}
	return v, ok, compare(v, c.Operator, th), nil
}

func compare(v float64, op chaosv1alpha1.ConditionOperator, th float64) bool {
	switch op {
	case ">":
		return v > th
	case ">=":
		return v >= th
	case "<":
		return v < th
	case "<=":
		return v <= th
	}
	return false
}

// experimentName is a step's Experiment: stable, so a restarted manager finds it.
func experimentName(gd *chaosv1alpha1.GameDay, step string) string {
	name := gd.Name + "-" + step
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:200] + "-" + hex.EncodeToString(sum[:6])
}

// advance moves through the steps: the first group (a step and those marked withPrevious after
// it) not yet finished runs, all its steps at once; the next starts when all of it succeeded.
// It returns how long to wait for a pause.
func (r *GameDayReconciler) advance(ctx context.Context, s *gdScope) (time.Duration, error) {
	gd := s.gd
	for start := 0; start < len(gd.Spec.Steps); {
		end := chaosv1alpha1.GroupEnd(gd.Spec.Steps, start)
		wait, done, err := r.runGroup(ctx, s, start, end)
		if err != nil || !done || gd.Status.Phase.Finished() {
			return wait, err
		}
		start = end
	}
	r.finishGD(ctx, s, chaosv1alpha1.GameDaySucceeded)
	r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionTrue, chaosv1alpha1.ReasonAllStepsSucceeded,
		fmt.Sprintf("%d steps succeeded", len(gd.Status.Steps)))
	return 0, nil
}

// runGroup starts or follows steps [start, end); done when every one of them succeeded. A failed
// step fails the game day (the group's other steps are told to abort).
func (r *GameDayReconciler) runGroup(ctx context.Context, s *gdScope, start, end int) (wait time.Duration, done bool, err error) {
	gd := s.gd
	owned, err := r.stepExperiments(ctx, gd, start, end)
	if err != nil {
		return 0, false, err
	}
	if ok, err := r.groupPreflight(ctx, s, start, end, owned); err != nil || !ok {
		return 0, false, err
	}
	done = true
	var failed []string
	// waitForName holds a step whose Experiment name another object has (nameTakenPoll).
	waitForName := func(st *chaosv1alpha1.GameDayStepStatus, taken *nameTakenError) {
		st.Message, done = taken.Error(), false
		wait = soonest(wait, nameTakenPoll)
	}
	for i := start; i < end; i++ {
		st, spec := &gd.Status.Steps[i], gd.Spec.Steps[i]
		switch st.Phase {
		case chaosv1alpha1.StepSucceeded:
			continue
		case chaosv1alpha1.StepFailed, chaosv1alpha1.StepAborted:
			failed = append(failed, fmt.Sprintf("step %s: %s", st.Name, st.Message))
			continue
		}
		if st.StartedAt == nil {
			started := owned[i-start]
			if started.taken != nil {
				waitForName(st, started.taken)
				continue
			}
			if started.exp != nil {
				// A pass created this step's Experiment (its preflight had passed) and its status
				// was never written: the step is running. A preflight now would judge a capacity
				// the step's own fault has already cut, and a refusal would leave that fault
				// running under a game day that says it failed.
				st.StartedAt = started.exp.CreationTimestamp.DeepCopy()
			} else {
				if ok, err := r.capacityPreflight(ctx, s, i); err != nil || !ok {
					return 0, false, err
				}
				st.StartedAt = &metav1.Time{Time: s.now}
			}
			st.Phase, st.Message = chaosv1alpha1.StepRunning, ""
		}
		if spec.Pause != nil {
			if end := st.StartedAt.Add(spec.Pause.Duration); s.now.Before(end) {
				done = false
				wait = soonest(wait, end.Sub(s.now))
				continue
			}
			st.Phase, st.FinishedAt = chaosv1alpha1.StepSucceeded, &metav1.Time{Time: s.now}
			continue
		}
		exp, err := r.ensureExperiment(ctx, gd, spec, st)
		if taken := (*nameTakenError)(nil); errors.As(err, &taken) {
			waitForName(st, taken)
			continue
		}
		if err != nil {
			st.Message = err.Error() // kept in status while the pass retries it
			return 0, false, err
		}
		st.Message = "" // a running step's message is a wait for its name or a failed start, now over
		switch exp.Status.Phase {
		case chaosv1alpha1.ExperimentSucceeded:
			st.Phase, st.FinishedAt = chaosv1alpha1.StepSucceeded, &metav1.Time{Time: s.now}
		case chaosv1alpha1.ExperimentFailed, chaosv1alpha1.ExperimentAborted:
			st.Phase, st.FinishedAt = chaosv1alpha1.StepFailed, &metav1.Time{Time: s.now}
			st.Message = fmt.Sprintf("experiment %s ended %s", exp.Name, exp.Status.Phase)
			failed = append(failed, fmt.Sprintf("step %s: %s", st.Name, st.Message))
		default:
			done = false // running: its progress wakes us (the GameDay owns it)
		}
	}
	if len(failed) > 0 {
		// The rest of the group stops too: a failed game day leaves nothing injected.
		if err := r.abortRunning(ctx, s, chaosv1alpha1.ReasonStepFailed); err != nil {
			return 0, false, err
		}
		r.finishGD(ctx, s, chaosv1alpha1.GameDayFailed)
		r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, chaosv1alpha1.ReasonStepFailed, strings.Join(failed, "; "))
		return 0, false, nil
	}
	return wait, done, nil
}

// ownedExperiment is what ownExperiment found for a step: its Experiment (nil: none), or that
// the name is another object's.
type ownedExperiment struct {
	exp   *chaosv1alpha1.Experiment
	taken *nameTakenError
}

// stepExperiments reads, once per pass, the Experiment of each step of [start, end) not yet
// recorded started (indexed from start): both the group's preflight and runGroup decide on it.
func (r *GameDayReconciler) stepExperiments(ctx context.Context, gd *chaosv1alpha1.GameDay, start, end int) ([]ownedExperiment, error) {
	out := make([]ownedExperiment, end-start)
	for i := start; i < end; i++ {
		st, spec := gd.Status.Steps[i], gd.Spec.Steps[i]
		if st.StartedAt != nil || st.Phase != chaosv1alpha1.StepPending || spec.Experiment == nil {
			continue
		}
		exp, err := r.ownExperiment(ctx, gd, experimentName(gd, spec.Name))
		switch {
		case errors.As(err, &out[i-start].taken):
		case err != nil:
			return nil, err
		default:
			out[i-start].exp = exp
		}
	}
	return out, nil
}

func (r *GameDayReconciler) ensureExperiment(ctx context.Context, gd *chaosv1alpha1.GameDay, spec chaosv1alpha1.GameDayStep, st *chaosv1alpha1.GameDayStepStatus) (*chaosv1alpha1.Experiment, error) {
	name := experimentName(gd, spec.Name)
	exp := &chaosv1alpha1.Experiment{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: gd.Namespace, Name: name}, exp)
	if err == nil {
		if err := notOurs(gd, exp); err != nil {
			return nil, err
		}
		st.Experiment = name
		return exp, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	exp = &chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: gd.Namespace, Name: name, Labels: map[string]string{LabelGameDay: gd.Name, LabelStep: spec.Name}},
		Spec:       *spec.Experiment.DeepCopy(),
	}
	if err := controllerutil.SetControllerReference(gd, exp, r.Client.Scheme()); err != nil {
		return nil, err
	}
	err = r.Client.Create(ctx, exp)
	if apierrors.IsAlreadyExists(err) {
		// The cache had not seen it: whose it is must be read, not assumed.
		if exp, err = r.ownExperiment(ctx, gd, name); err == nil && exp == nil {
			err = fmt.Errorf("experiment %s was deleted while step %s created it", name, spec.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating experiment %s for step %s: %w", name, spec.Name, err)
	}
	st.Experiment = name
	return exp, nil
}

// ownExperiment reads the Experiment name from the API server: nil when there is none, a
// *nameTakenError when this game day does not control it. Uncached: it decides whether a step
// started (the cache may not yet hold an Experiment a pass created a moment before its status
// write failed) and where an abort goes, so it is read once per step start and on aborts only.
func (r *GameDayReconciler) ownExperiment(ctx context.Context, gd *chaosv1alpha1.GameDay, name string) (*chaosv1alpha1.Experiment, error) {
	exp := &chaosv1alpha1.Experiment{}
	err := r.apiReader().Get(ctx, types.NamespacedName{Namespace: gd.Namespace, Name: name}, exp)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading experiment %s: %w", name, err)
	}
	return exp, notOurs(gd, exp)
}

// nameTakenPoll is how often a step whose Experiment name is taken looks again (nothing of this
// game day's watches the other object's deletion).
const nameTakenPoll = 5 * time.Second

// nameTakenError: an Experiment of the step's name exists that this game day does not control.
type nameTakenError struct{ ns, name string }

func (e *nameTakenError) Error() string {
	return fmt.Sprintf("experiment %s/%s exists and is not this game day's: the step waits for it to be deleted", e.ns, e.name)
}

// notOurs refuses an Experiment of a step's name that this game day does not control: one left
// by an earlier game day of the same name (still removing its faults, or kept by a finalizer) or
// made by hand. Taking it as the step would report its outcome as this game day's.
func notOurs(gd *chaosv1alpha1.GameDay, exp *chaosv1alpha1.Experiment) error {
	if metav1.IsControlledBy(exp, gd) {
		return nil
	}
	return &nameTakenError{ns: exp.Namespace, name: exp.Name}
}

// soonest is the earlier of two waits, 0 meaning none yet.
func soonest(wait, w time.Duration) time.Duration {
	if wait == 0 || w < wait {
		return w
	}
	return wait
}

// abortAll records the abort decision in status.abort, asks every running step's Experiment to
// abort (each removes its faults at once) and ends the game day Aborted with what fired.
func (r *GameDayReconciler) abortAll(ctx context.Context, s *gdScope, reason, msg string) error {
	if s.gd.Status.Abort == nil {
		// Recorded before any Experiment is told, so the next passes finish this abort rather
		// than judge afresh: were it only written at the end of the pass, a lost write (a
		// conflict) would leave some Experiments aborted and the decision forgotten (the game
		// day then failing on a step its own abort ended).
		s.gd.Status.Abort = &chaosv1alpha1.GameDayAbort{Reason: reason, Message: msg, DecidedAt: metav1.Time{Time: s.now}}
		if err := r.writeStatus(ctx, s); err != nil {
			return err
		}
	}
	if err := r.abortRunning(ctx, s, reason); err != nil {
		return err // retried: the game day ends Aborted only once every experiment was told
	}
	// Aborted is written now and the after-report (After hypotheses, budgets over the SLO
	// windows: each up to a timeout) on the next pass, which sets finishedAt: waiting on it here
	// held the phase back for minutes with Prometheus not answering (invariant 5).
	s.gd.Status.Phase, s.gd.Status.Holding = chaosv1alpha1.GameDayAborted, nil
	r.setCondition(s, chaosv1alpha1.ConditionAborted, metav1.ConditionTrue, reason, msg)
	return nil
}

// reportPending says the game day was aborted and its after-report is not written yet.
func reportPending(gd *chaosv1alpha1.GameDay) bool {
	return gd.Status.Phase == chaosv1alpha1.GameDayAborted && gd.Status.FinishedAt == nil
}

// report writes an aborted game day's after-report, once: finishedAt is the abort's time.
func (r *GameDayReconciler) report(ctx context.Context, s *gdScope) (ctrl.Result, error) {
	r.afterReport(ctx, s)
	at := s.now
	if c := meta.FindStatusCondition(s.gd.Status.Conditions, chaosv1alpha1.ConditionAborted); c != nil {
		at = c.LastTransitionTime.Time
	}
	s.gd.Status.FinishedAt = &metav1.Time{Time: at}
	return ctrl.Result{}, nil
}

// abortRunning asks every running step's Experiment to stop and marks the step Aborted once its
// Experiment has been told: a step whose patch failed stays Running, so the next pass (the error
// requeues it) sends the abort again instead of leaving its fault in place. A step not recorded
// started is asked too if its Experiment exists (a pass created it and its status write failed);
// it is found by the step's name in status, so an abort for a status that no longer matches the
// spec reaches it as well. Only this game day's own Experiments are told.
func (r *GameDayReconciler) abortRunning(ctx context.Context, s *gdScope, reason string) error {
	var errs []error
	for i := range s.gd.Status.Steps {
		st := &s.gd.Status.Steps[i]
		name := st.Experiment
		switch {
		case st.Phase == chaosv1alpha1.StepPending && st.StartedAt == nil:
			name = experimentName(s.gd, st.Name)
		case st.Phase != chaosv1alpha1.StepRunning:
			continue
		}
		if name != "" {
			exp, err := r.ownExperiment(ctx, s.gd, name)
			taken := (*nameTakenError)(nil)
			switch {
			case errors.As(err, &taken) || err == nil && exp == nil:
				if st.Phase == chaosv1alpha1.StepPending {
					st.Message = "" // never started: no wait goes on, nothing to stop
					continue
				}
				// Running, but nothing of ours is left to stop.
			case err != nil:
				errs = append(errs, err)
				continue
			default:
				patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, chaosv1alpha1.AnnotationAbort, "game day "+s.gd.Name+": "+reason))
				if err := r.Client.Patch(ctx, exp, patch); client.IgnoreNotFound(err) != nil {
					if st.Phase == chaosv1alpha1.StepPending {
						st.Phase, st.Experiment, st.StartedAt = chaosv1alpha1.StepRunning, exp.Name, exp.CreationTimestamp.DeepCopy()
					}
					errs = append(errs, fmt.Errorf("asking experiment %s to abort: %w", name, err))
					continue
				}
				st.Experiment = exp.Name
				if st.StartedAt == nil {
					st.StartedAt = exp.CreationTimestamp.DeepCopy()
				}
			}
		}
		st.Phase, st.FinishedAt, st.Message = chaosv1alpha1.StepAborted, &metav1.Time{Time: s.now}, reason
	}
	return errors.Join(errs...)
}

// finishGD ends the game day and writes its after-report.
func (r *GameDayReconciler) finishGD(ctx context.Context, s *gdScope, phase chaosv1alpha1.GameDayPhase) {
	s.gd.Status.Phase = phase
	s.gd.Status.FinishedAt = &metav1.Time{Time: s.now}
	s.gd.Status.Holding = nil
	r.afterReport(ctx, s)
}

// afterReport checks the After hypotheses and records the budgets after the game day (best
// effort: a budget that cannot be read, as when Prometheus is gone, is reported as an event and
// left out).
func (r *GameDayReconciler) afterReport(ctx context.Context, s *gdScope) {
	if len(s.gd.Spec.Hypotheses) > 0 {
		r.checkHypotheses(ctx, s, chaosv1alpha1.HypothesisAfter, 0)
		var failed []string
		for _, h := range s.gd.Status.Hypotheses {
			if !h.Held && h.Phase != chaosv1alpha1.HypothesisBefore {
				failed = append(failed, fmt.Sprintf("%s (%s): %s", h.Name, h.Phase, h.Message))
			}
		}
		if len(failed) > 0 {
			r.setCondition(s, chaosv1alpha1.ConditionHypothesesHeld, metav1.ConditionFalse, chaosv1alpha1.ReasonHypothesisFailed, strings.Join(failed, "; "))
		} else {
			r.setCondition(s, chaosv1alpha1.ConditionHypothesesHeld, metav1.ConditionTrue, chaosv1alpha1.ReasonHypothesesHeld, "every hypothesis held during and after the game day")
		}
	}
	objectives, _, err := slos(s.gd)
	if err != nil {
		r.passError(ctx, s, "reading the budgets after the game day", err)
		return
	}
	if len(objectives) == 0 {
		return
	}
	q, err := r.querier(s.gd)
	if err != nil {
		r.passError(ctx, s, "reading the budgets after the game day", err)
		return
	}
	for i, o := range objectives {
		if i >= len(s.gd.Status.Budgets) {
			continue
		}
		b, err := o.BudgetLeft(ctx, q, s.now)
		if err != nil {
			r.passError(ctx, s, "reading the budget after the game day", err)
			continue
		}
		bud := &s.gd.Status.Budgets[i]
		bud.After = pct(b.Left)
		if before, err := strconv.ParseFloat(bud.Before, 64); err == nil {
			bud.Spent = strconv.FormatFloat(before-b.Left*100, 'f', 2, 64)
		}
	}
}

func (r *GameDayReconciler) fail(s *gdScope, reason, msg string) ctrl.Result {
	s.gd.Status.Phase = chaosv1alpha1.GameDayFailed
	s.gd.Status.FinishedAt = &metav1.Time{Time: s.now}
	r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, reason, msg)
	return ctrl.Result{}
}

// reconcileDelete deletes the game day's Experiments (and a schedule's runs) and lets it go once
// they are gone (each holds its own faults' finalizer).
func (r *GameDayReconciler) reconcileDelete(ctx context.Context, gd *chaosv1alpha1.GameDay) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(gd, FinalizerGameDay) {
		return ctrl.Result{}, nil
	}
	var exps chaosv1alpha1.ExperimentList
	if err := r.Client.List(ctx, &exps, client.InNamespace(gd.Namespace), client.MatchingLabels{LabelGameDay: gd.Name}); err != nil {
		return ctrl.Result{}, err
	}
	for i := range exps.Items {
		if !metav1.IsControlledBy(&exps.Items[i], gd) {
			continue
		}
		if err := r.Client.Delete(ctx, &exps.Items[i]); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
	}
	var runs chaosv1alpha1.GameDayList
	if err := r.Client.List(ctx, &runs, client.InNamespace(gd.Namespace), client.MatchingLabels{LabelScheduledBy: gd.Name}); err != nil {
		return ctrl.Result{}, err
	}
	for i := range runs.Items {
		if metav1.IsControlledBy(&runs.Items[i], gd) {
			if err := r.Client.Delete(ctx, &runs.Items[i]); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if len(exps.Items) > 0 || len(runs.Items) > 0 {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	patch := client.MergeFrom(gd.DeepCopy())
	controllerutil.RemoveFinalizer(gd, FinalizerGameDay)
	return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, gd, patch))
}

// SetupWithManager registers the controller; it owns the Experiments it creates, and every
// EmergencyStop change enqueues the game days not finished (from an index).
func (r *GameDayReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	err := indexUnfinished(ctx, mgr, &chaosv1alpha1.GameDay{}, func(o client.Object) bool {
		return o.(*chaosv1alpha1.GameDay).Status.Phase.Finished()
	})
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Not on its own status writes: each would start another pass, and every pass queries
		// Prometheus (found at 30-50 queries a second); evaluations come at the interval.
		For(&chaosv1alpha1.GameDay{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&chaosv1alpha1.Experiment{}).
		Owns(&chaosv1alpha1.GameDay{}). // a schedule's runs
		Watches(&chaosv1alpha1.EmergencyStop{}, handler.EnqueueRequestsFromMapFunc(enqueueUnfinished(r.Client, &chaosv1alpha1.GameDayList{}))).
		Named("gameday").
		// A pass can take seconds (an HTTP hypothesis against a service under a latency fault
		// waits out its 5 s timeout): one game day's slow pass must not hold back another's
		// abort. Passes of one game day never overlap (the work queue keys by object).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

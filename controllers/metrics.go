package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Round step names: the path from a round's start to its fault, in order.
const (
	StepSelect    = "select"    // targets listed and picked, preflight run
	StepFinalizer = "finalizer" // the finalizer added (lasting kinds, round 1 only)
	StepIntent    = "intent"    // the round's targets recorded in status
	StepInject    = "inject"    // the fault applied to every target (for kinds an agent applies: handed to it)
)

// roundStepSeconds shows where the time to a fault goes, step by step: an SRE reads how long
// after the Experiment a fault lands, and which request makes it late.
var roundStepSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name: "firedrill_experiment_round_step_seconds",
	Help: "Time each step of a fault round took on the pass that started the round (select, finalizer, intent, inject), by action. " +
		"Counted once the round's intent is recorded; inject only when every target took the fault. Resumed rounds are not counted.",
	// Fine below 50 ms, where a kill's steps are, coarse above.
	Buckets: []float64{.0005, .001, .0015, .002, .003, .004, .005, .006, .008, .01, .012, .015, .02, .025, .03, .04, .05, .075, .1, .25, .5, 1, 2.5, 5},
}, []string{"action", "step"})

func init() {
	metrics.Registry.MustRegister(roundStepSeconds)
}

// stepTimer times the steps of a round started on this pass. A nil timer (a resumed round)
// records nothing. Steps before the intent are held until it is recorded: a pass whose intent
// write fails is retried, and its select would otherwise be counted twice for one round.
type stepTimer struct {
	clock  clock.PassiveClock
	action string
	last   time.Time
	held   []heldStep
}

type heldStep struct {
	step string
	took time.Duration
}

func newStepTimer(c clock.PassiveClock, action string) *stepTimer {
	return &stepTimer{clock: c, action: action, last: c.Now()}
}

// done ends step now; the next starts now.
func (t *stepTimer) done(step string) {
	if t == nil {
		return
	}
	now := t.clock.Now()
	t.held = append(t.held, heldStep{step, now.Sub(t.last)})
	t.last = now
	if step == StepSelect || step == StepFinalizer {
		return
	}
	for _, h := range t.held {
		roundStepSeconds.WithLabelValues(t.action, h.step).Observe(h.took.Seconds())
	}
	t.held = nil
}

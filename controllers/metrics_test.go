package controllers

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clocktesting "k8s.io/utils/clock/testing"
)

// stepSeen reads how many times step was observed for action, and their sum.
func stepSeen(t *testing.T, action, step string) (uint64, time.Duration) {
	t.Helper()
	var m dto.Metric
	if err := roundStepSeconds.WithLabelValues(action, step).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	return h.GetSampleCount(), time.Duration(h.GetSampleSum() * float64(time.Second)).Round(time.Microsecond)
}

func TestStepTimerCountsARoundOnceItsIntentIsRecorded(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		steps []string // each takes 1, 2, 3… ms, in order
		want  map[string]time.Duration
	}{
		{"the intent write failed: nothing counted (the retry will be)", []string{StepSelect}, nil},
		{"lasting kind, intent write failed after the finalizer", []string{StepSelect, StepFinalizer}, nil},
		{"intent recorded, injection failed", []string{StepSelect, StepIntent}, map[string]time.Duration{StepSelect: ms, StepIntent: 2 * ms}},
		{"a kill", []string{StepSelect, StepIntent, StepInject}, map[string]time.Duration{StepSelect: ms, StepIntent: 2 * ms, StepInject: 3 * ms}},
		{"a lasting fault", []string{StepSelect, StepFinalizer, StepIntent, StepInject},
			map[string]time.Duration{StepSelect: ms, StepFinalizer: 2 * ms, StepIntent: 3 * ms, StepInject: 4 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			action := "Test " + tc.name // a series of its own
			clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			st := newStepTimer(clk, action)
			for i, step := range tc.steps {
				clk.SetTime(clk.Now().Add(time.Duration(i+1) * ms))
				st.done(step)
			}
			for _, step := range []string{StepSelect, StepFinalizer, StepIntent, StepInject} {
				n, sum := stepSeen(t, action, step)
				want, counted := tc.want[step]
				if counted && (n != 1 || sum != want) || !counted && n != 0 {
					t.Errorf("%s: observed %d times, %s in all; want counted %v taking %s", step, n, sum, counted, want)
				}
			}
		})
	}
	// A resumed round has no timer.
	var resumed *stepTimer
	resumed.done(StepInject)
}

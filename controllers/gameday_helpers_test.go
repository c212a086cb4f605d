package controllers

import (
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStepsMismatch(t *testing.T) {
	gd := func(spec, status []string) *chaosv1alpha1.GameDay {
		g := &chaosv1alpha1.GameDay{}
		for _, n := range spec {
			g.Spec.Steps = append(g.Spec.Steps, chaosv1alpha1.GameDayStep{Name: n})
		}
		for _, n := range status {
			g.Status.Steps = append(g.Status.Steps, chaosv1alpha1.GameDayStepStatus{Name: n})
		}
		return g
	}
	for _, tc := range []struct {
		name         string
		spec, status []string
		want         string // in the message; "" for none
	}{
		{"same steps", []string{"a", "b"}, []string{"a", "b"}, ""},
		{"a step added", []string{"a", "b", "c"}, []string{"a", "b"}, "spec.steps has 3 steps but status.steps records 2"},
		{"a step removed", []string{"a"}, []string{"a", "b"}, "spec.steps has 1 steps but status.steps records 2"},
		{"no status", []string{"a"}, nil, "spec.steps has 1 steps but status.steps records 0"},
		{"a step renamed", []string{"a", "x"}, []string{"a", "b"}, `spec.steps[1] is "x" but status.steps[1] records "b"`},
		{"steps reordered", []string{"b", "a"}, []string{"a", "b"}, `spec.steps[0] is "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := stepsMismatch(gd(tc.spec, tc.status))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("stepsMismatch = %q, want %q", got, tc.want)
			}
		})
	}
}

// A burn rule no error rate can reach leaves the game day unguarded: refused, for objects stored
// before the schema refused it.
func TestSLOsRefuseABurnRuleThatCannotAbort(t *testing.T) {
	rule := func(factor string) []chaosv1alpha1.BurnRateRule {
		return []chaosv1alpha1.BurnRateRule{{Long: metav1.Duration{Duration: time.Hour}, Short: metav1.Duration{Duration: 5 * time.Minute}, Factor: factor}}
	}
	for _, tc := range []struct {
		name      string
		objective string
		rules     []chaosv1alpha1.BurnRateRule
		want      string // "" when accepted
	}{
		{"workbook rules at 99.9", "99.9", nil, ""},
		{"workbook rules at 93.1", "93.1", nil, ""},
		{"workbook rules at 90", "90", nil, "burn factor 14.4 can never abort: at objective 90% the budget burns at most 10 times too fast"},
		{"objective written as a ratio", "0.999", nil, "burn factor 14.4 can never abort"},
		{"factor 50 at 99", "99", rule("50"), ""},
		{"factor 500 at 99", "99", rule("500"), "burn factor 500 can never abort: at objective 99% the budget burns at most 100 times"},
		{"factor exactly the most at 99", "99", rule("100"), "burn factor 100 can never abort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gd := &chaosv1alpha1.GameDay{}
			gd.Spec.SLOs = []chaosv1alpha1.SLOSpec{{Name: "checkout", Objective: tc.objective, Window: metav1.Duration{Duration: 28 * 24 * time.Hour},
				Ratio: &chaosv1alpha1.RatioSLISpec{Bad: "e[{{.window}}]", Total: "t[{{.window}}]"}, BurnRates: tc.rules}}
			_, _, err := slos(gd)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("slos = %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("slos = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// The next pass comes an interval after this one started, not after it ended.
func TestNextPass(t *testing.T) {
	for _, tc := range []struct {
		interval, wait, elapsed, want time.Duration
	}{
		{time.Second, 0, 0, time.Second},
		{time.Second, 0, 300 * time.Millisecond, 700 * time.Millisecond},
		{time.Second, 0, 20 * time.Second, 250 * time.Millisecond}, // late already: after a rest
		{time.Second, 0, time.Second, 250 * time.Millisecond},
		{time.Second, 0, 900 * time.Millisecond, 250 * time.Millisecond},
		{5 * time.Minute, 0, 10 * time.Minute, 250 * time.Millisecond},
		{5 * time.Second, 2 * time.Second, 500 * time.Millisecond, 1500 * time.Millisecond}, // a pause ends sooner
		{5 * time.Second, 10 * time.Second, time.Second, 4 * time.Second},
	} {
		if got := nextPass(tc.interval, tc.wait, tc.elapsed); got != tc.want {
			t.Errorf("nextPass(%s, %s, %s) = %s, want %s", tc.interval, tc.wait, tc.elapsed, got, tc.want)
		}
	}
}

package controllers

import (
	"strings"
	"testing"
	"time"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
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

// The next pass comes an interval after this one started, not after it ended.
func TestNextPass(t *testing.T) {
	for _, tc := range []struct {
		interval, wait, elapsed, want time.Duration
	}{
		{time.Second, 0, 0, time.Second},
		{time.Second, 0, 300 * time.Millisecond, 700 * time.Millisecond},
		{time.Second, 0, 20 * time.Second, time.Millisecond}, // late already: at once
		{time.Second, 0, time.Second, time.Millisecond},
		{5 * time.Second, 2 * time.Second, 500 * time.Millisecond, 1500 * time.Millisecond}, // a pause ends sooner
		{5 * time.Second, 10 * time.Second, time.Second, 4 * time.Second},
	} {
		if got := nextPass(tc.interval, tc.wait, tc.elapsed); got != tc.want {
			t.Errorf("nextPass(%s, %s, %s) = %s, want %s", tc.interval, tc.wait, tc.elapsed, got, tc.want)
		}
	}
}

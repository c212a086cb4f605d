package controllers

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/test/builder"
)

func pods(n int) []corev1.Pod { return make([]corev1.Pod, n) }

func TestComputeExperimentStatus(t *testing.T) {
	exp := builder.Experiment("shop", "e").Mode(chaosv1alpha1.ModePercent, 50).Build()
	exp.Generation = 3
	cases := []struct {
		name       string
		sel        selection
		err        error
		wantStatus metav1.ConditionStatus
		wantReason string
		wantCount  int32
		wantInMsg  string
	}{
		{"targets found", selection{candidates: selector.Candidates{Eligible: pods(4)}, picked: 2}, nil,
			metav1.ConditionTrue, chaosv1alpha1.ReasonTargetsFound, 2, "2 of 4 matching pods selected (mode percent)"},
		{"no targets, protected skipped", selection{candidates: selector.Candidates{SkippedNamespaces: []string{"kube-system"}}}, nil,
			metav1.ConditionFalse, chaosv1alpha1.ReasonNoTargets, 0, "protected namespaces skipped: kube-system"},
		{"invalid selector", selection{}, &selector.InvalidSelectorError{Err: errors.New("bad operator")},
			metav1.ConditionFalse, chaosv1alpha1.ReasonInvalidSelector, 0, "spec.selector.labelSelector: bad operator"},
		{"listing failed", selection{}, errors.New("connection refused"),
			metav1.ConditionUnknown, chaosv1alpha1.ReasonSelectionError, 0, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := computeExperimentStatus(exp, tc.sel, tc.err)
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", st.ObservedGeneration)
			}
			if st.Phase != chaosv1alpha1.ExperimentPending {
				t.Errorf("phase = %q, want Pending", st.Phase)
			}
			c := meta.FindStatusCondition(st.Conditions, chaosv1alpha1.ConditionTargetsSelected)
			if c == nil {
				t.Fatal("no TargetsSelected condition")
			}
			if c.Status != tc.wantStatus || c.Reason != tc.wantReason || c.ObservedGeneration != 3 {
				t.Errorf("condition = %s/%s gen %d, want %s/%s gen 3", c.Status, c.Reason, c.ObservedGeneration, tc.wantStatus, tc.wantReason)
			}
			if !strings.Contains(c.Message, tc.wantInMsg) {
				t.Errorf("message %q does not contain %q", c.Message, tc.wantInMsg)
			}
			if st.SelectedTargets != tc.wantCount {
				t.Errorf("selectedTargets = %d, want %d", st.SelectedTargets, tc.wantCount)
			}
		})
	}
	// The input is not modified: status is computed, then written once.
	if len(exp.Status.Conditions) != 0 {
		t.Error("computeExperimentStatus modified its input")
	}
}

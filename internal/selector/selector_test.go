package selector

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

func TestCount(t *testing.T) {
	cases := []struct {
		name  string
		mode  chaosv1alpha1.SelectionMode
		value *int32
		n     int
		want  int
	}{
		{"one of many", chaosv1alpha1.ModeOne, nil, 10, 1},
		{"unset mode means one", "", nil, 10, 1},
		{"one of none", chaosv1alpha1.ModeOne, nil, 0, 0},
		{"all", chaosv1alpha1.ModeAll, nil, 7, 7},
		{"all of none", chaosv1alpha1.ModeAll, nil, 0, 0},
		{"fixed", chaosv1alpha1.ModeFixed, ptr.To[int32](3), 10, 3},
		{"fixed capped at candidates", chaosv1alpha1.ModeFixed, ptr.To[int32](30), 10, 10},
		{"percent 50 of 4", chaosv1alpha1.ModePercent, ptr.To[int32](50), 4, 2},
		{"percent rounds down", chaosv1alpha1.ModePercent, ptr.To[int32](50), 5, 2},
		{"percent picks at least one", chaosv1alpha1.ModePercent, ptr.To[int32](10), 5, 1},
		{"percent 100", chaosv1alpha1.ModePercent, ptr.To[int32](100), 9, 9},
		{"percent of none", chaosv1alpha1.ModePercent, ptr.To[int32](50), 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Count(tc.mode, tc.value, tc.n); got != tc.want {
				t.Errorf("Count(%s, %v, %d) = %d, want %d", tc.mode, tc.value, tc.n, got, tc.want)
			}
		})
	}
}

func TestProtected(t *testing.T) {
	p := NewProtected("firedrill-system", "payments", "")
	for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", "firedrill-system", "payments"} {
		if !p.Has(ns) {
			t.Errorf("%s is not protected", ns)
		}
	}
	for _, ns := range []string{"", "default", "shop"} {
		if p.Has(ns) {
			t.Errorf("%q is protected but was never configured", ns)
		}
	}
}

func TestTargetable(t *testing.T) {
	now := metav1.Now()
	cases := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"running", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"pending", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, true},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"failed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false},
	}
	for _, tc := range cases {
		if got := Targetable(&tc.pod); got != tc.want {
			t.Errorf("%s: Targetable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

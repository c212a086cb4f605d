package selector

import (
	"strings"
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
	// As --protected-namespaces="payments, billing ,," splits.
	p := NewProtected("firedrill-system", strings.Split("payments, billing ,,", ",")...)
	for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", "firedrill-system", "payments", "billing"} {
		if !p.Has(ns) {
			t.Errorf("%s is not protected", ns)
		}
	}
	for _, ns := range []string{"", " ", " billing", "default", "shop"} {
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

func TestPick(t *testing.T) {
	cands := make([]corev1.Pod, 10)
	for i := range cands {
		cands[i].Name = string(rune('a' + i))
	}
	a, b := Pick(cands, 3, 42), Pick(cands, 3, 42)
	if len(a) != 3 {
		t.Fatalf("picked %d, want 3", len(a))
	}
	seen := map[string]bool{}
	for i := range a {
		if a[i].Name != b[i].Name {
			t.Error("the same seed picked different pods")
		}
		if seen[a[i].Name] {
			t.Errorf("%s picked twice", a[i].Name)
		}
		seen[a[i].Name] = true
	}
	// Different seeds spread over the candidates: over 200 seeds every pod gets picked.
	hit := map[string]bool{}
	for s := uint64(0); s < 200; s++ {
		for _, p := range Pick(cands, 1, s) {
			hit[p.Name] = true
		}
	}
	if len(hit) != len(cands) {
		t.Errorf("only %d of %d pods ever picked", len(hit), len(cands))
	}
	if got := Pick(cands, 20, 1); len(got) != 10 {
		t.Errorf("asking for more than there are returned %d", len(got))
	}
}

package workload

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

func pod(uid string, ready bool, readyAt time.Time, terminating bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Labels: map[string]string{"app": "x"}}}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(readyAt)}}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestCount(t *testing.T) {
	old := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	fresh := old.Add(time.Hour)
	sel := labels.SelectorFromSet(labels.Set{"app": "x"})
	cases := []struct {
		name      string
		pods      []corev1.Pod
		killed    sets.Set[types.UID]
		wantReady int32
		wantWhole bool
		wantSince time.Time
	}{
		{"killed pods still ready do not count", []corev1.Pod{pod("a", true, old, false), pod("k", true, old, false)}, sets.New[types.UID]("k"), 1, false, old},
		{"terminating pods do not count", []corev1.Pod{pod("a", true, old, false), pod("b", true, old, true)}, sets.New[types.UID](), 1, false, old},
		{"replacement ready: whole since it became ready", []corev1.Pod{pod("a", true, old, false), pod("n", true, fresh, false)}, sets.New[types.UID]("k"), 2, true, fresh},
		{"replacement not ready yet", []corev1.Pod{pod("a", true, old, false), pod("n", false, fresh, false)}, sets.New[types.UID]("k"), 1, false, old},
	}
	for _, tc := range cases {
		got := count(tc.pods, 2, tc.killed, sel)
		if got.Ready != tc.wantReady || got.Whole() != tc.wantWhole || !got.ReadySince.Equal(tc.wantSince) {
			t.Errorf("%s: ready %d whole %v since %v; want %d %v %v", tc.name, got.Ready, got.Whole(), got.ReadySince, tc.wantReady, tc.wantWhole, tc.wantSince)
		}
	}
}

// A pod replaced under its name (a StatefulSet's) whose deletion the watch missed reaches the
// tracker as an update after a relist: it replaces its predecessor, whose last Ready state must
// not count on.
func TestTrackerKeepsOnePodPerName(t *testing.T) {
	tr := &Tracker{}
	w := &watched{desired: 1, sel: labels.SelectorFromSet(labels.Set{"app": "x"}), pods: map[string]*corev1.Pod{}, users: map[types.NamespacedName]*waiter{}}
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	old := pod("uid-old", true, at, false)
	old.Name = "db-0"
	tr.observe(t.Context(), w, &old, false, true)
	successor := pod("uid-new", false, at.Add(time.Minute), false)
	successor.Name = "db-0"
	tr.observe(t.Context(), w, &successor, false, false)
	if r := tr.readiness(w, &waiter{killed: sets.New[types.UID]()}); r.Ready != 0 || r.Whole() {
		t.Errorf("readiness %+v: the replaced pod's Ready still counts", r)
	}
}

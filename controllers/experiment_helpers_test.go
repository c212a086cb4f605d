package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
)

func TestBlastRadius(t *testing.T) {
	exp := func(maxTargets, maxPercent int32) *chaosv1alpha1.Experiment {
		e := builder.Experiment("ns", "e").Build()
		e.Spec.Safety = &chaosv1alpha1.SafetyLimits{}
		if maxTargets > 0 {
			e.Spec.Safety.MaxTargets = ptr.To(maxTargets)
		}
		if maxPercent > 0 {
			e.Spec.Safety.MaxPercent = ptr.To(maxPercent)
		}
		return e
	}
	cases := []struct {
		name          string
		managerCap    int
		exp           *chaosv1alpha1.Experiment
		n, total      int
		wantRefusalIn string
	}{
		{"within every cap", 10, exp(5, 50), 5, 10, ""},
		{"over the manager cap", 3, exp(0, 0), 4, 10, "over the manager's cap of 3"},
		{"over maxTargets", 0, exp(2, 0), 3, 10, "over spec.safety.maxTargets 2"},
		{"over maxPercent", 0, exp(0, 40), 3, 5, "3 of 5 matching pods (60%) selected, over spec.safety.maxPercent 40%"},
		{"exactly maxPercent", 0, exp(0, 40), 2, 5, ""},
		{"no safety block", 0, builder.Experiment("ns", "e").Build(), 100, 100, ""},
		{"every pod status can record", 0, builder.Experiment("ns", "e").Build(), chaosv1alpha1.MaxTargetRecords, 5000, ""},
		{"more pods than status can record", 0, builder.Experiment("ns", "e").Build(), chaosv1alpha1.MaxTargetRecords + 1, 5000,
			"1001 pods selected, over the 1000 targets one round can record in status.targets"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &ExperimentReconciler{MaxTargets: tc.managerCap}
			got := r.blastRadius(tc.exp, tc.n, tc.total)
			if (tc.wantRefusalIn == "") != (got == "") || !strings.Contains(got, tc.wantRefusalIn) {
				t.Errorf("blastRadius = %q, want %q", got, tc.wantRefusalIn)
			}
		})
	}
}

func TestTargetWorkload(t *testing.T) {
	ws := []chaosv1alpha1.WorkloadStatus{
		{Kind: "Deployment", Namespace: "shop", Name: "checkout"},
		{Kind: "Deployment", Namespace: "shop", Name: "checkout-api"},
		{Kind: "StatefulSet", Namespace: "shop", Name: "db"},
	}
	cases := []struct {
		name   string
		target chaosv1alpha1.TargetStatus
		want   string
	}{
		{"pod of a Deployment's ReplicaSet", chaosv1alpha1.TargetStatus{Namespace: "shop", OwnerKind: "ReplicaSet", OwnerName: "checkout-5d9c8"}, "checkout"},
		{"pod of a StatefulSet", chaosv1alpha1.TargetStatus{Namespace: "shop", OwnerKind: "StatefulSet", OwnerName: "db"}, "db"},
		{"same names, other namespace", chaosv1alpha1.TargetStatus{Namespace: "other", OwnerKind: "StatefulSet", OwnerName: "db"}, ""},
		{"a ReplicaSet of another Deployment", chaosv1alpha1.TargetStatus{Namespace: "shop", OwnerKind: "ReplicaSet", OwnerName: "checkoutv2-77f"}, ""},
		{"a ReplicaSet of a Deployment whose name extends another's", chaosv1alpha1.TargetStatus{Namespace: "shop", OwnerKind: "ReplicaSet", OwnerName: "checkout-api-6f7c9"}, "checkout-api"},
		{"a ReplicaSet of a Deployment not followed", chaosv1alpha1.TargetStatus{Namespace: "shop", OwnerKind: "ReplicaSet", OwnerName: "checkout-web-6f7c9"}, ""},
		{"bare pod", chaosv1alpha1.TargetStatus{Namespace: "shop"}, ""},
	}
	for _, tc := range cases {
		w, ok := targetWorkload(ws, tc.target)
		got := ""
		if ok {
			got = w.Name
		}
		if got != tc.want {
			t.Errorf("%s: workload %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEndOfAndSeed(t *testing.T) {
	e := builder.Experiment("ns", "e").Interval(time.Minute, 10*time.Minute).Build()
	if _, ok := endOf(e); ok {
		t.Error("an experiment that has not started has an end")
	}
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	e.Status.StartedAt = &metav1.Time{Time: start}
	if end, ok := endOf(e); !ok || !end.Equal(start.Add(10*time.Minute)) {
		t.Errorf("end = %v %v, want start+10m", end, ok)
	}
	if interval(e) != time.Minute {
		t.Errorf("interval = %v", interval(e))
	}
	if seed("uid-a", 1) != seed("uid-a", 1) || seed("uid-a", 1) == seed("uid-a", 2) || seed("uid-a", 1) == seed("uid-b", 1) {
		t.Error("seed is not a function of (uid, round) alone")
	}
}

func TestMakeRoom(t *testing.T) {
	rec := func(round int32, state chaosv1alpha1.TargetState, name string) chaosv1alpha1.TargetStatus {
		return chaosv1alpha1.TargetStatus{Name: name, Round: round, State: state}
	}
	names := func(ts []chaosv1alpha1.TargetStatus) string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		name        string
		targets     []chaosv1alpha1.TargetStatus
		round       int32
		n, limit    int
		wantDropped int
		wantKept    string
	}{
		{"room enough", []chaosv1alpha1.TargetStatus{rec(1, chaosv1alpha1.TargetInjected, "a")}, 2, 1, 3, 0, "a"},
		{"exactly full", []chaosv1alpha1.TargetStatus{rec(1, chaosv1alpha1.TargetInjected, "a"), rec(2, chaosv1alpha1.TargetGone, "b")}, 3, 1, 3, 0, "a,b"},
		{"oldest rounds go first", []chaosv1alpha1.TargetStatus{rec(1, chaosv1alpha1.TargetInjected, "a"), rec(2, chaosv1alpha1.TargetRecovered, "b"),
			rec(3, chaosv1alpha1.TargetGone, "c")}, 4, 2, 3, 2, "c"},
		{"a record still to act on stays", []chaosv1alpha1.TargetStatus{rec(1, chaosv1alpha1.TargetSelected, "a"), rec(2, chaosv1alpha1.TargetInjected, "b"),
			rec(3, chaosv1alpha1.TargetInjected, "c")}, 4, 1, 3, 1, "a,c"},
		{"the round being recorded is never dropped", []chaosv1alpha1.TargetStatus{rec(1, chaosv1alpha1.TargetInjected, "a"), rec(2, chaosv1alpha1.TargetInjected, "b")},
			2, 2, 3, 1, "b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &chaosv1alpha1.ExperimentStatus{Targets: tc.targets}
			if got := makeRoom(st, tc.round, tc.n, tc.limit); got != tc.wantDropped {
				t.Errorf("dropped %d, want %d", got, tc.wantDropped)
			}
			if got := names(st.Targets); got != tc.wantKept {
				t.Errorf("kept %q, want %q", got, tc.wantKept)
			}
		})
	}
}

func TestLastDisruption(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	at := func(s int) *metav1.Time { return &metav1.Time{Time: t0.Add(time.Duration(s) * time.Second)} }
	pod := func(injected int) chaosv1alpha1.TargetStatus {
		return chaosv1alpha1.TargetStatus{Namespace: "shop", OwnerKind: "ReplicaSet", OwnerName: "web-7d9f", InjectedAt: at(injected)}
	}
	w := func(last *metav1.Time) *chaosv1alpha1.WorkloadStatus {
		return &chaosv1alpha1.WorkloadStatus{Kind: "Deployment", Namespace: "shop", Name: "web", DisruptedAt: *at(0), LastDisruptedAt: last}
	}
	cases := []struct {
		name    string
		targets []chaosv1alpha1.TargetStatus
		w       *chaosv1alpha1.WorkloadStatus
		want    time.Time
	}{
		{"from the targets", []chaosv1alpha1.TargetStatus{pod(5), pod(9)}, w(nil), at(9).Time},
		{"the workload's record is later", []chaosv1alpha1.TargetStatus{pod(5)}, w(at(30)), at(30).Time},
		{"its targets' records were dropped", nil, w(at(30)), at(30).Time},
		{"another workload's targets do not count", []chaosv1alpha1.TargetStatus{{Namespace: "shop", OwnerKind: "StatefulSet", OwnerName: "db", InjectedAt: at(50)}}, w(at(30)), at(30).Time},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastDisruption(tc.targets, tc.w); !got.Equal(tc.want) {
				t.Errorf("lastDisruption = %s, want %s", got, tc.want)
			}
		})
	}
}

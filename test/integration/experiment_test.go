//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// TestSchemaRejectsBadManifests sends bad Experiments to the real API server: each is refused at
// create time by the CRD schema, with a message naming the field.
func TestSchemaRejectsBadManifests(t *testing.T) {
	mustCreate(t, builder.Namespace("schema"))
	base := func() *chaosv1alpha1.Experiment { return builder.Experiment("schema", "bad").Build() }
	cases := []struct {
		name   string
		mutate func(e *chaosv1alpha1.Experiment)
		want   string
	}{
		{"unknown action", func(e *chaosv1alpha1.Experiment) { e.Spec.Action = "Meteor" }, `spec.action: Unsupported value: "Meteor"`},
		{"podKill missing", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill = nil }, "spec.podKill must be set when spec.action is PodKill"},
		{"podKill on another action", func(e *chaosv1alpha1.Experiment) { e.Spec.Action = chaosv1alpha1.ActionPacketLoss }, "spec.podKill must be set when spec.action is PodKill, and only then"},
		{"percent over 100", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Mode, e.Spec.Value = chaosv1alpha1.ModePercent, ptr.To[int32](150)
		}, "spec.value must be between 1 and 100 when spec.mode is percent"},
		{"value zero", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Mode, e.Spec.Value = chaosv1alpha1.ModeFixed, ptr.To[int32](0)
		}, "spec.value: Invalid value: 0: spec.value in body should be greater than or equal to 1"},
		{"fixed without value", func(e *chaosv1alpha1.Experiment) { e.Spec.Mode = chaosv1alpha1.ModeFixed }, "spec.value is required when spec.mode is fixed or percent"},
		{"value with mode one", func(e *chaosv1alpha1.Experiment) { e.Spec.Value = ptr.To[int32](3) }, "spec.value is required when spec.mode is fixed or percent, and must be unset otherwise"},
		{"unknown mode", func(e *chaosv1alpha1.Experiment) { e.Spec.Mode = "most" }, `spec.mode: Unsupported value: "most"`},
		{"bad namespace name", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = []string{"Not_A_Namespace"} }, "spec.selector.namespaces[0]: Invalid value"},
		{"duration over 24h", func(e *chaosv1alpha1.Experiment) { e.Spec.Duration = &metav1.Duration{Duration: 48 * time.Hour} }, "spec.duration must be greater than 0s and at most 24h"},
		{"negative grace", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.GracePeriodSeconds = ptr.To[int64](-1) }, "spec.podKill.gracePeriodSeconds: Invalid value: -1"},
		{"grace over an hour", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.GracePeriodSeconds = ptr.To[int64](7200) }, "spec.podKill.gracePeriodSeconds: Invalid value: 7200"},
		{"zero duration", func(e *chaosv1alpha1.Experiment) { e.Spec.Duration = &metav1.Duration{} }, "spec.duration must be greater than 0s and at most 24h"},
		{"percent without value", func(e *chaosv1alpha1.Experiment) { e.Spec.Mode = chaosv1alpha1.ModePercent }, "spec.value is required when spec.mode is fixed or percent"},
		{"value with mode all", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Mode, e.Spec.Value = chaosv1alpha1.ModeAll, ptr.To[int32](2)
		}, "spec.value is required when spec.mode is fixed or percent, and must be unset otherwise"},
		{"interval without duration", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.Interval = &metav1.Duration{Duration: time.Minute} }, "spec.duration is required when spec.podKill.interval is set"},
		{"interval longer than duration", func(e *chaosv1alpha1.Experiment) {
			e.Spec.PodKill.Interval, e.Spec.Duration = &metav1.Duration{Duration: time.Hour}, &metav1.Duration{Duration: time.Minute}
		}, "spec.podKill.interval must not be longer than spec.duration"},
		{"interval under a second", func(e *chaosv1alpha1.Experiment) {
			e.Spec.PodKill.Interval, e.Spec.Duration = &metav1.Duration{Duration: 100 * time.Millisecond}, &metav1.Duration{Duration: time.Minute}
		}, "spec.podKill.interval must be at least 1s"},
		{"whole cluster without opt-in", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = nil }, "spec.selector: set namespaces, or clusterWide: true to select in every namespace, not both"},
		{"namespaces and clusterWide", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.ClusterWide = true }, "spec.selector: set namespaces, or clusterWide: true to select in every namespace, not both"},
		{"duplicate namespaces", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = []string{"a", "a"} }, `spec.selector.namespaces[1]: Duplicate value: "a"`},
		{"too many namespaces", func(e *chaosv1alpha1.Experiment) {
			for i := 0; i < 65; i++ {
				e.Spec.Selector.Namespaces = append(e.Spec.Selector.Namespaces, fmt.Sprintf("ns-%d", i))
			}
		}, "spec.selector.namespaces: Too many: 66: must have at most 64 items"},
		{"zone name too long", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Zone = strings.Repeat("z", 64) }, "spec.selector.zone: Too long: may not be more than 63"},
		{"empty node name", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.NodeNames = []string{""} }, "spec.selector.nodeNames[0]: Invalid value"},
		{"terminal pod phase", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Selector.PodPhases = []chaosv1alpha1.TargetPhase{"Succeeded"}
		}, `spec.selector.podPhases[0]: Unsupported value: "Succeeded"`},
		{"maxPercent zero", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxPercent: ptr.To[int32](0)}
		}, "spec.safety.maxPercent: Invalid value: 0"},
		{"maxPercent over 100", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxPercent: ptr.To[int32](150)}
		}, "spec.safety.maxPercent: Invalid value: 150"},
		{"maxTargets zero", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxTargets: ptr.To[int32](0)}
		}, "spec.safety.maxTargets: Invalid value: 0"},
		{"bad label selector operator", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchExpressions: []chaosv1alpha1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}, `spec.selector.labelSelector.matchExpressions[0].operator: Unsupported value: "Near"`},
		{"In without values", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchExpressions: []chaosv1alpha1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
		}, "spec.selector.labelSelector.matchExpressions[0]: Invalid value: In and NotIn need values; Exists and DoesNotExist take none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.mutate(e)
			err := k8s.Create(t.Context(), e)
			if err == nil {
				_ = k8s.Delete(t.Context(), e)
				t.Fatalf("accepted; want rejection mentioning %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error is not Invalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err.Error(), tc.want)
			}
		})
	}
	if len(cases) < 25 {
		t.Fatalf("only %d bad manifests: the table must keep at least 25", len(cases))
	}
	// The well-formed base is accepted: the cases above fail for their own reason only.
	ok := base()
	if err := k8s.Create(t.Context(), ok); err != nil {
		t.Fatalf("valid experiment rejected: %v", err)
	}
}

// TestSpecIsFrozenOnceStarted: a running experiment's spec cannot change under it; one that has
// not started may still be edited.
func TestSpecIsFrozenOnceStarted(t *testing.T) {
	ns := "frozen"
	labels, _ := deployment(t, ns, "api", 3)
	// No manager yet: nothing has started this one, so it may be edited.
	pending := builder.Experiment(ns, "pending").Labels(labels).Build()
	mustCreate(t, pending)
	pending.Spec.Mode = chaosv1alpha1.ModeAll
	if err := k8s.Update(t.Context(), pending); err != nil {
		t.Fatalf("editing an experiment that has not started: %v", err)
	}
	if err := k8s.Delete(t.Context(), pending); err != nil {
		t.Fatal(err)
	}

	startManager(t, managerOptions{})
	exp := builder.Experiment(ns, "repeating").Labels(labels).Grace(0).Interval(time.Hour, 2*time.Hour).Build()
	mustCreate(t, exp)
	waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentRunning)
	// The manager may write status between our read and write: retry conflicts until the
	// schema itself answers.
	var err error
	for range 20 {
		got := &chaosv1alpha1.Experiment{}
		if err = k8s.Get(t.Context(), client.ObjectKeyFromObject(exp), got); err != nil {
			t.Fatal(err)
		}
		got.Spec.Mode, got.Spec.Value = chaosv1alpha1.ModeAll, nil
		if err = k8s.Update(t.Context(), got); !apierrors.IsConflict(err) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "spec cannot change once the experiment has started") {
		t.Fatalf("spec change of a running experiment: %v, want it refused", err)
	}
}

// TestGameDaySchema: a GameDay needs steps with valid names.
func TestGameDaySchema(t *testing.T) {
	mustCreate(t, builder.Namespace("gd-schema"))
	gd := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: "gd-schema", Name: "empty"}}
	if err := k8s.Create(t.Context(), gd); err == nil || !strings.Contains(err.Error(), "spec.steps") {
		t.Errorf("a game day without steps: %v, want spec.steps rejected", err)
	}
	gd.Spec.Steps = []chaosv1alpha1.GameDayStep{{Name: "Bad Name", Experiment: builder.Experiment("gd-schema", "x").Build().Spec}}
	if err := k8s.Create(t.Context(), gd); err == nil || !strings.Contains(err.Error(), "spec.steps[0].name") {
		t.Errorf("a step with a bad name: %v, want spec.steps[0].name rejected", err)
	}
}

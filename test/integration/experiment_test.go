//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
)

func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(t.Context(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// waitForCondition polls until the experiment carries condType for its current generation.
func waitForCondition(t *testing.T, key client.ObjectKey, condType string) *chaosv1alpha1.Experiment {
	t.Helper()
	exp := &chaosv1alpha1.Experiment{}
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, key, exp); err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(exp.Status.Conditions, condType)
		return c != nil && c.ObservedGeneration == exp.Generation && exp.Status.ObservedGeneration == exp.Generation, nil
	})
	if err != nil {
		t.Fatalf("waiting for condition %s on %s: %v (status: %+v)", condType, key, err, exp.Status)
	}
	return exp
}

func TestExperimentSelectsTargetsAndRecordsEvent(t *testing.T) {
	startManager(t)
	ns := "shop"
	checkout := map[string]string{"app": "checkout"}
	mustCreate(t, builder.Namespace(ns),
		builder.Pod(ns, "checkout-a", checkout), builder.Pod(ns, "checkout-b", checkout),
		builder.Pod(ns, "checkout-c", checkout), builder.Pod(ns, "checkout-d", checkout),
		builder.Pod(ns, "cart", map[string]string{"app": "cart"}))
	exp := builder.Experiment(ns, "half-of-checkout").Labels(checkout).Mode(chaosv1alpha1.ModePercent, 50).DryRun().Build()
	mustCreate(t, exp)

	got := waitForCondition(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ConditionTargetsSelected)
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionTargetsSelected)
	if c.Status != metav1.ConditionTrue || c.Reason != chaosv1alpha1.ReasonTargetsFound {
		t.Fatalf("condition = %s/%s %q, want True/%s", c.Status, c.Reason, c.Message, chaosv1alpha1.ReasonTargetsFound)
	}
	if got.Status.SelectedTargets != 2 {
		t.Errorf("selectedTargets = %d, want 2 (50%% of the 4 checkout pods; cart does not match)", got.Status.SelectedTargets)
	}
	if !strings.Contains(c.Message, "2 of 4") {
		t.Errorf("message %q does not say 2 of 4", c.Message)
	}
	if got.Status.Phase != chaosv1alpha1.ExperimentPending {
		t.Errorf("phase = %q, want Pending", got.Status.Phase)
	}

	// The transition is recorded as an event on the experiment.
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var evs eventsv1.EventList
		if err := k8s.List(ctx, &evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Regarding.UID == got.UID && e.Reason == chaosv1alpha1.ReasonTargetsFound {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event for the experiment: %v", chaosv1alpha1.ReasonTargetsFound, err)
	}

	// A spec change is observed: the new generation is reflected in status.
	got.Spec.Mode, got.Spec.Value = chaosv1alpha1.ModeAll, nil
	if err := k8s.Update(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	got = waitForCondition(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ConditionTargetsSelected)
	if got.Status.SelectedTargets != 4 {
		t.Errorf("after mode all: selectedTargets = %d, want 4", got.Status.SelectedTargets)
	}
}

func TestProtectedNamespacesAreNeverSelected(t *testing.T) {
	startManager(t)
	for _, ns := range []string{"kube-system", ownNamespace, "payments", "ops"} {
		mustCreate(t, builder.Namespace(ns), builder.Pod(ns, "victim", map[string]string{"app": "x"}))
	}
	exp := builder.Experiment("ops", "everything").Namespaces("kube-system", ownNamespace, "payments").
		Mode(chaosv1alpha1.ModeAll, 0).Build()
	mustCreate(t, exp)

	got := waitForCondition(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ConditionTargetsSelected)
	c := meta.FindStatusCondition(got.Status.Conditions, chaosv1alpha1.ConditionTargetsSelected)
	if c.Status != metav1.ConditionFalse || c.Reason != chaosv1alpha1.ReasonNoTargets {
		t.Fatalf("condition = %s/%s %q, want False/%s", c.Status, c.Reason, c.Message, chaosv1alpha1.ReasonNoTargets)
	}
	if got.Status.SelectedTargets != 0 {
		t.Errorf("selectedTargets = %d, want 0", got.Status.SelectedTargets)
	}
	for _, ns := range []string{"kube-system", ownNamespace, "payments"} {
		if !strings.Contains(c.Message, ns) {
			t.Errorf("message %q does not name the skipped protected namespace %s", c.Message, ns)
		}
	}
}

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
		{"no namespaces", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = nil }, "spec.selector.namespaces: Required value"},
		{"bad namespace name", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = []string{"Not_A_Namespace"} }, "spec.selector.namespaces[0]: Invalid value"},
		{"duration over 24h", func(e *chaosv1alpha1.Experiment) { e.Spec.Duration = &metav1.Duration{Duration: 48 * time.Hour} }, "spec.duration must be greater than 0s and at most 24h"},
		{"negative grace", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.GracePeriodSeconds = ptr.To[int64](-1) }, "spec.podKill.gracePeriodSeconds: Invalid value: -1"},
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
	// The well-formed base is accepted: the cases above fail for their own reason only.
	ok := base()
	if err := k8s.Create(t.Context(), ok); err != nil {
		t.Fatalf("valid experiment rejected: %v", err)
	}
}

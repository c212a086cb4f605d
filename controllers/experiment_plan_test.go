package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// The plan webhook plans a PodKill's round 1 as the controller would pick it, and otherwise
// plans nothing, removing a plan the manifest gave.
func TestPlanWebhook(t *testing.T) {
	web := map[string]string{"app": "web"}
	var objs []*corev1.Pod
	for _, name := range []string{"web-a", "web-b", "web-c"} {
		objs = append(objs, running(builder.Pod("shop", name, web)))
	}
	objs = append(objs, running(builder.Pod("shop", "db", map[string]string{"app": "db"})), running(builder.Pod("payments", "web-p", web)))
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	fc := fake.NewClientBuilder().WithScheme(scheme)
	for _, p := range objs {
		fc = fc.WithObjects(p)
	}
	w := &PlanWebhook{Reconciler: &ExperimentReconciler{APIReader: fc.Build(), Protected: selector.NewProtected("firedrill-system", "payments")}}
	forged := []chaosv1alpha1.PlannedTarget{{Namespace: "shop", Name: "db", UID: "db"}}

	cases := []struct {
		name string
		op   admissionv1.Operation
		exp  *chaosv1alpha1.Experiment
		// planned: how many pods are planned; removed: the manifest's plan is taken out; neither:
		// no patch.
		planned int
		removed bool
	}{
		{"fixed 2 of the matching, none protected", admissionv1.Create,
			builder.Experiment("shop", "e").Namespaces("shop", "payments").Labels(web).Mode(chaosv1alpha1.ModeFixed, 2).Build(), 2, false},
		{"the manifest's plan is replaced", admissionv1.Create,
			withPlan(builder.Experiment("shop", "e").Labels(web).Build(), forged), 1, false},
		{"no pod matches: the manifest's plan is removed", admissionv1.Create,
			withPlan(builder.Experiment("shop", "e").Labels(map[string]string{"app": "none"}).Build(), forged), 0, true},
		{"over a cap: not planned", admissionv1.Create,
			builder.Experiment("shop", "e").Labels(web).Mode(chaosv1alpha1.ModeAll, 0).MaxTargets(2).Build(), 0, false},
		{"dry run: not planned", admissionv1.Create, builder.Experiment("shop", "e").Labels(web).DryRun().Build(), 0, false},
		{"another action: not planned", admissionv1.Create, builder.Experiment("shop", "e").Labels(web).Latency(1, 1).Build(), 0, false},
		{"an update is left alone", admissionv1.Update, builder.Experiment("shop", "e").Labels(web).Build(), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.exp)
			if err != nil {
				t.Fatal(err)
			}
			req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: tc.op, Namespace: "shop", Object: runtime.RawExtension{Raw: raw}}}
			resp := w.Handle(t.Context(), req)
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			switch {
			case tc.planned == 0 && !tc.removed:
				if len(resp.Patches) != 0 {
					t.Fatalf("patches %+v, want none", resp.Patches)
				}
			case tc.removed:
				if len(resp.Patches) != 1 || resp.Patches[0].Operation != "remove" || resp.Patches[0].Path != "/spec/plannedTargets" {
					t.Fatalf("patches %+v, want spec.plannedTargets removed", resp.Patches)
				}
			default:
				if len(resp.Patches) != 1 || resp.Patches[0].Operation != "add" || resp.Patches[0].Path != "/spec/plannedTargets" {
					t.Fatalf("patches %+v, want spec.plannedTargets added", resp.Patches)
				}
				planned := resp.Patches[0].Value.([]chaosv1alpha1.PlannedTarget)
				if len(planned) != tc.planned {
					t.Fatalf("planned %+v, want %d pods", planned, tc.planned)
				}
				seen := map[string]bool{}
				for _, p := range planned {
					if p.Namespace != "shop" || p.Name == "db" || seen[p.Name] || p.UID != types.UID(p.Name) {
						t.Errorf("planned %+v: want distinct web pods of shop, with their UIDs", p)
					}
					seen[p.Name] = true
				}
			}
		})
	}
}

func running(p *corev1.Pod) *corev1.Pod {
	p.UID = types.UID(p.Name)
	p.Status.Phase = corev1.PodRunning
	return p
}

func withPlan(e *chaosv1alpha1.Experiment, plan []chaosv1alpha1.PlannedTarget) *chaosv1alpha1.Experiment {
	e.Spec.PlannedTargets = plan
	return e
}

// A planned kill whose status write then fails is resumed on the next pass, never sent again as a
// fresh kill, even while the selection still shows the pod running (a kept selection follows
// the API server by milliseconds): the pod is deleted once, and recorded killed when it was.
func TestPlannedKillAfterAFailedStatusWriteIsResumed(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	web := map[string]string{"app": "web"}
	a, b := running(builder.Pod("shop", "web-a", web)), running(builder.Pod("shop", "web-b", web))
	for _, p := range []*corev1.Pod{a, b} {
		p.Finalizers = []string{"test.firedrill.dev/keep"} // a deleted pod stays, terminating
	}
	exp := builder.Experiment("shop", "kill").Labels(web).Grace(30).Planned(a).Build()
	exp.UID = "exp-uid"
	stale := corev1.PodList{Items: []corev1.Pod{*a.DeepCopy(), *b.DeepCopy()}}
	deletes, writes := map[string]int{}, 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(a, b, exp).WithStatusSubresource(&chaosv1alpha1.Experiment{}).
		WithInterceptorFuncs(interceptor.Funcs{
			List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if pl, ok := list.(*corev1.PodList); ok {
					stale.DeepCopyInto(pl) // the selection has not seen the kill
					return nil
				}
				return cl.List(ctx, list, opts...)
			},
			Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				deletes[obj.GetName()]++
				return cl.Delete(ctx, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				if writes++; writes == 1 {
					return errors.New("etcdserver: request timed out")
				}
				return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	r := &ExperimentReconciler{Client: c, APIReader: c, Recorder: events.NewFakeRecorder(100), Protected: selector.NewProtected("firedrill-system"),
		Faults: Faults(c, c, FaultOptions{}), RecoveryPoll: time.Second, Clock: clock.RealClock{}}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(exp)}
	if _, err := r.Reconcile(t.Context(), req); err == nil || !strings.Contains(err.Error(), "request timed out") {
		t.Fatalf("first pass: %v, want its status write to fail", err)
	}
	if deletes["web-a"] != 1 {
		t.Fatalf("first pass deleted %v, want the planned web-a", deletes)
	}
	if _, err := r.Reconcile(t.Context(), req); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	var got chaosv1alpha1.Experiment
	if err := c.Get(t.Context(), req.NamespacedName, &got); err != nil {
		t.Fatal(err)
	}
	if deletes["web-a"] != 1 || len(deletes) != 1 {
		t.Errorf("deleted %v, want web-a once", deletes)
	}
	if len(got.Status.Targets) != 1 || got.Status.Targets[0].Name != "web-a" || got.Status.Targets[0].State != chaosv1alpha1.TargetInjected {
		t.Errorf("targets %+v, want web-a Injected", got.Status.Targets)
	}
}

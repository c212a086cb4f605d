//go:build integration

package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/apiread"
	"github.com/firedrill-dev/firedrill/test/builder"
	"github.com/firedrill-dev/firedrill/test/metricstest"
)

func mustCreate(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k8s.Create(t.Context(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// runningPods creates pods and gives them the status a kubelet would: Running and Ready. envtest
// has no kubelet, so the test plays its part. It returns once the API server's watch cache has
// them Running: the manager lists pods from it (apiread.FromWatchCache), and a list made a
// moment after the writes can miss them (CI saw a selection come back empty).
func runningPods(t *testing.T, pods ...*corev1.Pod) {
	t.Helper()
	for _, p := range pods {
		mustCreate(t, p)
		p.Status = builder.RunningStatus(time.Now().Add(-time.Hour))
		if err := k8s.Status().Update(t.Context(), p); err != nil {
			t.Fatalf("setting pod %s running: %v", p.Name, err)
		}
	}
	for _, p := range pods {
		got := &corev1.Pod{}
		untilInWatchCache(t, client.ObjectKeyFromObject(p), got, "Running", func() bool { return got.Status.Phase == corev1.PodRunning })
	}
}

// untilInWatchCache reads key into obj from the API server's watch cache (what the manager reads,
// apiread.FromWatchCache) until cond holds: it follows the writes by milliseconds.
func untilInWatchCache(t *testing.T, key client.ObjectKey, obj client.Object, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, key, obj, apiread.FromWatchCache{}); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%T %s not %s in the API server's watch cache: %v", obj, key, what, err)
	}
}

// waitFor polls the experiment until cond holds.
func waitFor(t *testing.T, key client.ObjectKey, what string, cond func(*chaosv1alpha1.Experiment) bool) *chaosv1alpha1.Experiment {
	t.Helper()
	exp := &chaosv1alpha1.Experiment{}
	err := wait.PollUntilContextTimeout(t.Context(), 25*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, key, exp); err != nil {
			return false, err
		}
		return cond(exp), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s on %s: %v\nstatus: %+v", what, key, err, exp.Status)
	}
	return exp
}

func waitForPhase(t *testing.T, key client.ObjectKey, phase chaosv1alpha1.ExperimentPhase) *chaosv1alpha1.Experiment {
	t.Helper()
	return waitFor(t, key, "phase "+string(phase), func(e *chaosv1alpha1.Experiment) bool { return e.Status.Phase == phase })
}

func requireCondition(t *testing.T, exp *chaosv1alpha1.Experiment, typ string, status string, reason string) *chaosv1alpha1.Experiment {
	t.Helper()
	c := meta.FindStatusCondition(exp.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition; conditions: %+v", typ, exp.Status.Conditions)
	}
	if string(c.Status) != status || c.Reason != reason {
		t.Fatalf("%s = %s/%s (%q), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	if c.ObservedGeneration != exp.Generation {
		t.Errorf("%s observedGeneration %d, object generation %d", typ, c.ObservedGeneration, exp.Generation)
	}
	return exp
}

// podsLeft returns the names of the pods in ns that are not terminating.
func podsLeft(t *testing.T, ns string) map[string]bool {
	t.Helper()
	var pods corev1.PodList
	if err := k8s.List(t.Context(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Name] = true
		}
	}
	return out
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// roundSteps reads the step histograms for action from this process's controller-runtime
// registry, where the managers these tests start record them.
func roundSteps(t *testing.T, action chaosv1alpha1.Action) map[string]*dto.Histogram {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return metricstest.RoundSteps(mfs, string(action))
}

// requireStepsAdded checks that, between before and after, each step was observed the number of
// times want says (a step missing from want: not at all), each observation taking some time and
// all of them together no more than within.
func requireStepsAdded(t *testing.T, before, after map[string]*dto.Histogram, want map[string]uint64, within time.Duration) {
	t.Helper()
	var total float64
	for _, step := range []string{"select", "finalizer", "intent", "inject"} {
		n, sum := after[step].GetSampleCount()-before[step].GetSampleCount(), after[step].GetSampleSum()-before[step].GetSampleSum()
		if n != want[step] {
			t.Errorf("step %s observed %d times, want %d", step, n, want[step])
		}
		if n > 0 && sum <= 0 {
			t.Errorf("step %s observed %d times taking %gs in all: no time measured", step, n, sum)
		}
		total += sum
	}
	if total > within.Seconds() {
		t.Errorf("steps took %gs in all, more than the %s the test waited", total, within)
	}
}

// waitGone waits for a deleted Experiment to be gone: nothing (a finalizer) may hold it.
func waitGone(t *testing.T, key client.ObjectKey) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 25*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := k8s.Get(ctx, key, &chaosv1alpha1.Experiment{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("deleted experiment %s is stuck: %v", key, err)
	}
}

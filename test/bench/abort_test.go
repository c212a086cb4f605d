//go:build bench

package bench

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/slo"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

// TestBenchAbort (`make bench-abort`): how fast a game day stops once its abort condition is
// breached. The manager binary runs against an API server and etcd (envtest) and a real
// Prometheus; each run starts a game day whose step is a running PodKill experiment (kill rounds
// every hour), writes a breaching sample, and times from the moment Prometheus answers the
// condition's query with it to the experiment Aborted (for a lasting fault that phase comes only
// after its faults are removed), at a 1 s evaluation interval.
func TestBenchAbort(t *testing.T) {
	const runs = 30
	e := startManagerEnv(t, "bench-abort")
	c := benchClient(t, e.cfg)
	prom := promtest.Start(t)
	q, err := slo.NewPrometheus(prom.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := e.run(t, "manager.log")
	defer stop()

	ctx := t.Context()
	const ns = "abort-bench"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for i := range runs {
		run := fmt.Sprintf("r%d", i)
		for j := range 2 {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", run, j), Labels: map[string]string{"run": run}},
				Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "app", Image: "firedrill.dev/pause:dev"}}}}
			if err := c.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			p.Status.Phase = corev1.PodRunning
			if err := c.Status().Update(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		grace := int64(30)
		gd := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: run}, Spec: chaosv1alpha1.GameDaySpec{
			Prometheus:         &chaosv1alpha1.PrometheusSource{Address: prom.URL},
			EvaluationInterval: &metav1.Duration{Duration: time.Second},
			AbortConditions: []chaosv1alpha1.AbortCondition{{Name: "breach", PromQLCheck: chaosv1alpha1.PromQLCheck{
				Query: fmt.Sprintf(`max(breach{run=%q})`, run), Operator: ">", Threshold: "0"}}},
			Steps: []chaosv1alpha1.GameDayStep{{Name: "kill", Experiment: &chaosv1alpha1.ExperimentSpec{
				Action:   chaosv1alpha1.ActionPodKill,
				Selector: &chaosv1alpha1.TargetSelector{Namespaces: []string{ns}, LabelSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"run": run}}},
				Mode:     chaosv1alpha1.ModeOne, Duration: &metav1.Duration{Duration: 2 * time.Hour},
				PodKill: &chaosv1alpha1.PodKillSpec{GracePeriodSeconds: &grace, Interval: &metav1.Duration{Duration: time.Hour}},
			}}},
		}}
		if err := c.Create(ctx, gd); err != nil {
			t.Fatal(err)
		}
		key := types.NamespacedName{Namespace: ns, Name: run + "-kill"}
		exp := &chaosv1alpha1.Experiment{}
		poll(t, 30*time.Second, func() bool {
			return c.Get(ctx, key, exp) == nil && exp.Status.Phase == chaosv1alpha1.ExperimentRunning && len(exp.Status.Targets) == 1
		})
		// A random point in the evaluation cycle, as a real breach would fall.
		time.Sleep(time.Duration(i%10) * 100 * time.Millisecond)
		if err := prom.Write(ctx, promtest.Series{Labels: map[string]string{"__name__": "breach", "run": run},
			Samples: []promtest.Sample{{T: time.Now(), V: 1}}}); err != nil {
			t.Fatal(err)
		}
		poll(t, 10*time.Second, func() bool {
			v, ok, err := q.Value(ctx, fmt.Sprintf(`max(breach{run=%q})`, run), time.Now())
			return err == nil && ok && v > 0
		})
		queryable := time.Now()
		poll(t, 10*time.Second, func() bool {
			return c.Get(ctx, key, exp) == nil && exp.Status.Phase == chaosv1alpha1.ExperimentAborted
		})
		lat = append(lat, time.Since(queryable))
	}
	slices.Sort(lat)
	q50, q90, q99 := lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1]
	fmt.Printf("\nGame day abort, breaching sample queryable -> its experiment Aborted, %d runs, 1 s evaluation interval:\n"+
		"  median %s  p90 %s  max (p99 of %d) %s\n", len(lat), q50.Round(time.Millisecond), q90.Round(time.Millisecond), len(lat), q99.Round(time.Millisecond))
	fmt.Printf("Targets (issue 5): median <= 0.6 s, p99 <= 1.2 s\n\n")
}

// poll checks cond every 5 ms until it holds or the timeout passes (which fails the test).
func poll(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

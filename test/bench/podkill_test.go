//go:build bench

// Package bench measures Firedrill on the local cluster (`make bench`): how fast a PodKill
// experiment reaches its pod, against an ideal one-step controller measured in the same run.
package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
)

const ns = "firedrill-bench"

// The bench's controller-runtime clients log nothing worth reading; without a logger they print
// a warning with a stack trace in the middle of the figures.
func init() { ctrllog.SetLogger(logr.Discard()) }

// targetLabels label the pods every bench Deployment runs.
var targetLabels = map[string]string{"app": "bench-target"}

// runs is the positive count in the environment variable name, or def.
func runs(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func setup(t *testing.T) (client.WithWatch, *kubernetes.Clientset) {
	t.Helper()
	home, _ := os.UserHomeDir()
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		kc = filepath.Join(home, ".cache", "firedrill", "cluster", "kubeconfig")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v (make bench brings the local cluster up)", kc, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	c := benchClient(t, cfg)
	cs := kubernetes.NewForConfigOrDie(cfg)
	deployTarget(t, c, ns, "target", 3)
	return c, cs
}

// deployTarget creates (if missing) a Deployment of pause pods labelled app=bench-target.
func deployTarget(t *testing.T, c client.Client, namespace, name string, replicas int32) {
	t.Helper()
	ctx := t.Context()
	_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: targetLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: targetLabels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers:                    []corev1.Container{{Name: "app", Image: "firedrill.dev/pause:dev", ImagePullPolicy: corev1.PullNever}},
				},
			},
		},
	}
	if err := c.Create(ctx, d); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// waitReady waits until the Deployment has all replicas ready and no pod is terminating.
func waitReady(ctx context.Context, c client.Client) error {
	return waitReadyIn(ctx, c, ns, "target", 3)
}

// waitReadyIn waits until Deployment namespace/name has its replicas ready and no pod of the
// namespace is terminating.
func waitReadyIn(ctx context.Context, c client.Client, namespace, name string, replicas int32) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
			return false, err
		}
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		ready := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				return false, nil
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == int(replicas) && d.Status.ReadyReplicas == replicas, nil
	})
}

// settleTime is BENCH_SETTLE (a Go duration, default 0): how long to wait after the Deployment is
// Ready before each run. A replaced pod is Ready while the node may still be tearing down the
// killed pod's sandbox (runc, CNI, iptables on 2 cores); with a settle time both controllers
// start from an idle node, which separates their own latency from that churn.
func settleTime(t *testing.T) time.Duration {
	v := os.Getenv("BENCH_SETTLE")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("BENCH_SETTLE=%q: want a non-negative Go duration such as 1s", v)
	}
	return d
}

// waitReadyAndSettle is waitReady, then settle.
func waitReadyAndSettle(ctx context.Context, c client.Client, settle time.Duration) error {
	err := waitReady(ctx, c)
	time.Sleep(settle)
	return err
}

// killSeen waits on an open pod watch for the first pod with a deletionTimestamp (or deleted).
func killSeen(ctx context.Context, w watch.Interface) (time.Time, error) {
	seen, err := killsSeen(ctx, w, 1)
	for _, at := range seen {
		return at, nil
	}
	return time.Time{}, err
}

// killsSeen waits on an open pod watch until n distinct pods are seen with a deletionTimestamp
// (or deleted), and returns when each was first seen so.
func killsSeen(ctx context.Context, w watch.Interface, n int) (map[string]time.Time, error) {
	seen := map[string]time.Time{}
	for len(seen) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return seen, fmt.Errorf("watch closed after %d of %d kills", len(seen), n)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if isPod && (ev.Type == watch.Deleted || p.DeletionTimestamp != nil) {
				if os.Getenv("BENCH_DEBUG") != "" {
					fmt.Printf("kill seen: %s %s\n", ev.Type, p.Name)
				}
				if _, again := seen[p.Name]; !again {
					seen[p.Name] = time.Now()
				}
				continue
			}
			if os.Getenv("BENCH_DEBUG") != "" {
				fmt.Printf("event: %s %T\n", ev.Type, ev.Object)
			}
		case <-ctx.Done():
			return seen, fmt.Errorf("%d of %d kills seen: %w", len(seen), n, ctx.Err())
		}
	}
	return seen, nil
}

type stats []time.Duration

func (s stats) pct(p float64) time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(float64(len(c)-1) * p)
	return c[i]
}

// worst lists the k slowest runs, slowest first.
func (s stats) worst(k int) string {
	c := slices.Clone(s)
	slices.Sort(c)
	slices.Reverse(c)
	out := make([]string, 0, k)
	for _, d := range c[:min(k, len(c))] {
		out = append(out, fmt.Sprintf("%.1f", float64(d.Microseconds())/1000))
	}
	return strings.Join(out, ", ") + " ms"
}

func (s stats) String() string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("n=%d median %s p90 %s p99 %s", len(s), ms(s.pct(0.5)), ms(s.pct(0.9)), ms(s.pct(0.99)))
}

// measure runs n kills in namespace: before each, prepare (if set) readies the target; start must
// cause one pod of the namespace to be killed. It returns the latencies from start returning, and
// from start being called, to a pod watch seeing the kill.
func measure(t *testing.T, c client.WithWatch, namespace string, n int, prepare func() error, start func(i int) error) (fromReturn, fromSend stats) {
	t.Helper()
	for i := 0; i < n; i++ {
		r, s, _ := killOnce(t, c, namespace, i, prepare, start)
		fromReturn, fromSend = append(fromReturn, r), append(fromSend, s)
	}
	return fromReturn, fromSend
}

// killOnce is run i of measure.
func killOnce(t *testing.T, c client.WithWatch, namespace string, i int, prepare func() error, start func(i int) error) (fromReturn, fromSend time.Duration, seenAt time.Time) {
	t.Helper()
	if prepare != nil {
		if err := prepare(); err != nil {
			t.Fatalf("run %d: target not ready: %v", i, err)
		}
	}
	w := watchFromNow(t, c, namespace)
	defer w.Stop()
	tSend := time.Now()
	if err := start(i); err != nil {
		t.Fatalf("run %d: %v", i, err)
	}
	t0 := time.Now()
	wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	t1, err := killSeen(wctx, w)
	if err != nil {
		t.Fatalf("run %d: no kill seen: %v", i, err)
	}
	return t1.Sub(t0), t1.Sub(tSend), t1
}

// TestBenchPodKill measures Firedrill's PodKill (mode one) from Experiment Create returning to a
// pod watch seeing the target's deletionTimestamp, and Experiment delete to gone; and, in the
// same run, an ideal one-step controller that deletes a pod from its informer callback the moment
// it sees a trigger object (the floor any controller can reach on this cluster). The two take
// turns, run by run, so that both meet the same moments of the machine (an etcd compaction, a
// kubelet housekeeping pass) instead of one getting a quieter half of the run.
func TestBenchPodKill(t *testing.T) {
	c, cs := setup(t)
	n := runs("BENCH_RUNS", 100)
	ctx := t.Context()
	cleanup(t, c)

	// The ideal one-step controller: an informer on ConfigMaps named kill-*; its add callback
	// deletes one pod of the Deployment at once, with no status, no intent record, no safety.
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	pods := factory.Core().V1().Pods().Lister()
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok || cm.Labels["firedrill.dev/bench"] != "kill" {
			return
		}
		list, _ := pods.Pods(ns).List(labels.SelectorFromSet(targetLabels))
		for _, p := range list {
			if p.DeletionTimestamp == nil {
				_ = cs.CoreV1().Pods(ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
				return
			}
		}
	}}); err != nil {
		t.Fatal(err)
	}
	ictx, stopInf := context.WithCancel(ctx)
	defer stopInf()
	factory.Start(ictx.Done())
	factory.WaitForCacheSync(ictx.Done())

	// planned counts the experiments the plan webhook planned in their Create (its response).
	planned, plannedCold := 0, 0
	startFiredrill := func(i int) error {
		exp := builder.Experiment(ns, fmt.Sprintf("kill-%d", i)).Labels(targetLabels).Grace(0).Build()
		err := c.Create(ctx, exp)
		if err == nil && len(exp.Spec.PlannedTargets) > 0 {
			planned++
		}
		return err
	}
	startIdeal := func(i int) error {
		return c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("kill-%d", i),
			Labels: map[string]string{"firedrill.dev/bench": "kill"}}})
	}
	var fd, fdSend, ideal, idealSend stats
	// killedAt[i] is when Firedrill's kill i was seen, readyAt[i] when the Deployment was next seen
	// whole (the ideal's wait before its own run i): the MTTR Firedrill's record is set against.
	var killedAt, readyAt []time.Time
	stepsBefore := managerSteps(t, cs)
	settle := settleTime(t)
	for i := 0; i < n; i++ {
		r, s, at := killOnce(t, c, ns, i, func() error { return waitReadyAndSettle(ctx, c, settle) }, startFiredrill)
		fd, fdSend, killedAt = append(fd, r), append(fdSend, s), append(killedAt, at)
		r, s, _ = killOnce(t, c, ns, i, func() error {
			err := waitReady(ctx, c)
			readyAt = append(readyAt, time.Now())
			time.Sleep(settle)
			return err
		}, startIdeal)
		ideal, idealSend = append(ideal, r), append(idealSend, s)
	}
	if err := waitReady(ctx, c); err != nil {
		t.Fatal(err)
	}
	stepsAfter := managerSteps(t, cs)
	recorded, observed := recoveries(t, c, n, killedAt, readyAt)

	// The runs above make one selection again and again, which the manager keeps after the first
	// (selector.Cache). These make a selection never made before every time (the same pods,
	// under a selector that differs by a requirement on an absent label), so it is listed on the
	// path to the kill, as for an experiment's first round; the ideal takes turns with them again.
	nCold := runs("BENCH_COLD_RUNS", 20)
	var cold, coldIdeal stats
	startCold := func(i int) error {
		exp := builder.Experiment(ns, fmt.Sprintf("cold-%d", i)).Labels(targetLabels).Grace(0).Build()
		exp.Spec.Selector.LabelSelector.MatchExpressions = []chaosv1alpha1.LabelSelectorRequirement{
			{Key: fmt.Sprintf("firedrill.dev/bench-cold-%d", i), Operator: metav1.LabelSelectorOpDoesNotExist}}
		err := c.Create(ctx, exp)
		if err == nil && len(exp.Spec.PlannedTargets) > 0 {
			plannedCold++
		}
		return err
	}
	for i := 0; i < nCold; i++ {
		r, _, _ := killOnce(t, c, ns, i, func() error { return waitReadyAndSettle(ctx, c, settle) }, startCold)
		cold = append(cold, r)
		r, _, _ = killOnce(t, c, ns, n+i, func() error { return waitReadyAndSettle(ctx, c, settle) }, startIdeal)
		coldIdeal = append(coldIdeal, r)
	}
	if err := waitReady(ctx, c); err != nil {
		t.Fatal(err)
	}

	var deletes stats
	for i := 0; i < n; i++ {
		key := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("kill-%d", i)}
		w, err := c.Watch(ctx, &chaosv1alpha1.ExperimentList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": key.Name})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: key.Name}}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				break
			}
		}
		deletes = append(deletes, time.Since(t0))
		w.Stop()
	}

	ratio := float64(fd.pct(0.5)) / float64(ideal.pct(0.5))
	fmt.Printf("\nPodKill (mode one), Create returned -> pod deletionTimestamp seen, %d runs each, taking turns, Deployment Ready between runs (then BENCH_SETTLE=%s):\n", n, settle)
	fmt.Printf("  firedrill:                 %s; worst %s\n", fd, fd.worst(5))
	fmt.Printf("  ideal one-step controller: %s; worst %s\n", ideal, ideal.worst(5))
	fmt.Printf("  firedrill/ideal median ratio: %.2fx\n", ratio)
	fmt.Printf("  planned at admission (spec.plannedTargets in the Create's response): %d of %d; of the never-made selections below, %d of %d\n", planned, n, plannedCold, nCold)
	fmt.Printf("  the same, from Create sent: firedrill %s; ideal %s\n", fdSend, idealSend)
	fmt.Printf("  a selection never made before, listed on the path (%d runs, taking turns with the ideal again): firedrill %s; ideal %s; ratio %.2fx\n",
		nCold, cold, coldIdeal, float64(cold.pct(0.5))/float64(coldIdeal.pct(0.5)))
	fmt.Printf("  firedrill's own steps (the manager's firedrill_experiment_round_step_seconds; quantiles interpolated in its buckets):\n%s", stepReport(stepsBefore, stepsAfter))
	fmt.Printf("Experiment delete -> gone: %s\n", deletes)
	fmt.Printf("MTTR recorded by Firedrill (status.workloads[].timeToRecover): %s\n", recorded)
	fmt.Printf("  seen by the bench (kill seen -> Deployment seen Ready by a 50 ms poll): %s\n", observed)
	fmt.Printf("Targets (issue 3): PodKill median <= 15 ms, p99 <= 40 ms; delete-to-gone median <= 50 ms\n\n")

	cleanup(t, c)
}

// TestBenchPodKillAll measures a round with many targets: PodKill mode all on a 10-replica
// Deployment, from Create returning to the first and to the last pod seen terminating, and the
// spread between them (how far from "at once" the kill is). BENCH_WIDE_RUNS runs (default 20),
// the Deployment Ready between runs.
func TestBenchPodKillAll(t *testing.T) {
	const wideNS, replicas = "firedrill-bench-wide", 10
	c, _ := setup(t)
	ctx := t.Context()
	deployTarget(t, c, wideNS, "wide", replicas)
	t.Cleanup(func() {
		_ = c.DeleteAllOf(context.Background(), &chaosv1alpha1.Experiment{}, client.InNamespace(wideNS))
		_ = c.Delete(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: wideNS, Name: "wide"}})
	})
	n := runs("BENCH_WIDE_RUNS", 20)
	var first, last, spread stats
	for i := 0; i < n; i++ {
		if err := waitReadyIn(ctx, c, wideNS, "wide", replicas); err != nil {
			t.Fatalf("run %d: not ready: %v", i, err)
		}
		w := watchFromNow(t, c, wideNS)
		exp := builder.Experiment(wideNS, fmt.Sprintf("all-%d", i)).Labels(targetLabels).Mode(chaosv1alpha1.ModeAll, 0).Grace(0).Build()
		if err := c.Create(ctx, exp); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		killed, err := killsSeen(wctx, w, replicas)
		cancel()
		w.Stop()
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		var lo, hi time.Time
		for _, at := range killed {
			if lo.IsZero() || at.Before(lo) {
				lo = at
			}
			if at.After(hi) {
				hi = at
			}
		}
		first, last, spread = append(first, lo.Sub(t0)), append(last, hi.Sub(t0)), append(spread, hi.Sub(lo))
	}
	fmt.Printf("\nPodKill mode all on %d pods, Create returned -> pods seen terminating, %d runs, Deployment Ready between runs:\n", replicas, n)
	fmt.Printf("  first kill seen: %s\n  last kill seen:  %s\n  first to last:   %s\n\n", first, last, spread)
}

// recoveries waits for the n experiments to end and returns the MTTR each recorded, and the one the
// bench saw: from kill i seen to the Deployment next seen Ready.
func recoveries(t *testing.T, c client.Client, n int, killedAt, readyAt []time.Time) (recorded, observed stats) {
	t.Helper()
	for i := 0; i < n; i++ {
		key := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("kill-%d", i)}
		var exp chaosv1alpha1.Experiment
		err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			if err := c.Get(ctx, key, &exp); err != nil {
				return false, err
			}
			return exp.Status.Phase.Finished(), nil
		})
		if err != nil {
			t.Fatalf("%s did not end: %v (phase %s)", key.Name, err, exp.Status.Phase)
		}
		if len(exp.Status.Workloads) != 1 || exp.Status.Workloads[0].TimeToRecover == nil {
			t.Fatalf("%s: no recovery recorded: %+v", key.Name, exp.Status.Workloads)
		}
		recorded = append(recorded, exp.Status.Workloads[0].TimeToRecover.Duration)
		observed = append(observed, readyAt[i].Sub(killedAt[i]))
	}
	return recorded, observed
}

// cleanup removes what an earlier run left: trigger ConfigMaps and experiments.
func cleanup(t *testing.T, c client.Client) {
	t.Helper()
	ctx := t.Context()
	if err := c.DeleteAllOf(ctx, &corev1.ConfigMap{}, client.InNamespace(ns), client.MatchingLabels{"firedrill.dev/bench": "kill"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAllOf(ctx, &chaosv1alpha1.Experiment{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
}

// watchFromNow watches the namespace's pods from the current resourceVersion. A watch without one
// first replays every existing pod as ADDED, which at 5,000 pods in a namespace delays the event
// being timed by the replay itself.
func watchFromNow(t *testing.T, c client.WithWatch, namespace string) watch.Interface {
	t.Helper()
	var list corev1.PodList
	if err := c.List(t.Context(), &list, client.InNamespace(namespace), client.Limit(1)); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(t.Context(), &corev1.PodList{}, client.InNamespace(namespace),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// benchClient is a client that knows Firedrill's kinds, without a cache.
func benchClient(t *testing.T, cfg *rest.Config) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

//go:build integration

package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// podLists is how many pod lists reached the API server through r.
func podLists(r *countingReader) int { return r.made("list", &corev1.PodList{}) }

// keptSelection lists sel through c and returns the eligible pods' names.
func keptSelection(t *testing.T, r client.Reader, c *selector.Cache, sel chaosv1alpha1.TargetSelector) []string {
	t.Helper()
	cands, err := selector.List(t.Context(), r, c, sel, testProtected)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range cands.Eligible {
		out = append(out, p.Name)
	}
	return out
}

// untilSelected polls the kept selection until it is want: a watch follows the API server by
// milliseconds, not at once.
func untilSelected(t *testing.T, r client.Reader, c *selector.Cache, sel chaosv1alpha1.TargetSelector, want []string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		got = keptSelection(t, r, c, sel)
		return slices.Equal(got, want), nil
	})
	if err != nil {
		t.Fatalf("selection %v, want %v", got, want)
	}
}

// A selection made again is picked from the pods kept since its first list, with no list on the
// path; the kept pods follow the API server (a pod gone is never picked, a new one is); and what
// is kept is bounded: a selection idle for its time is let go, and one over the pod cap is listed
// every time instead of kept.
func TestKeptSelectionsFollowThePodsAndStayBounded(t *testing.T) {
	ns := "kept-selection"
	mustCreate(t, builder.Namespace(ns))
	web := map[string]string{"app": "web"}
	runningPods(t, builder.Pod(ns, "web-a", web), builder.Pod(ns, "web-b", web), builder.Pod(ns, "web-c", web))
	reads := &countingReader{Reader: k8s}
	clk := clocktesting.NewFakeClock(time.Now())
	c := &selector.Cache{Pods: kubernetes.NewForConfigOrDie(cfg), Clock: clk, Idle: time.Minute, MaxPods: 5, MaxSelections: 2}
	runUntilTestEnds(t, c)
	sel := chaosv1alpha1.TargetSelector{Namespaces: []string{ns}, LabelSelector: &chaosv1alpha1.LabelSelector{MatchLabels: web}}

	if got, want := keptSelection(t, reads, c, sel), []string{"web-a", "web-b", "web-c"}; !slices.Equal(got, want) {
		t.Fatalf("first selection %v, want %v", got, want)
	}
	if n := podLists(reads); n != 1 {
		t.Fatalf("first selection made %d pod lists, want 1", n)
	}
	untilKept(t, c, 1)

	// Changes reach the kept pods: one deleted, one added, one terminating (a kubelet's
	// graceful stop: a finalizer holds it, as on a node).
	if err := k8s.Delete(t.Context(), builder.Pod(ns, "web-a", nil)); err != nil {
		t.Fatal(err)
	}
	runningPods(t, builder.Pod(ns, "web-d", web))
	held := builder.Pod(ns, "web-e", web)
	held.Finalizers = []string{"firedrill.dev/test-hold"}
	runningPods(t, held)
	t.Cleanup(func() {
		p := &corev1.Pod{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(held), p); err == nil {
			p.Finalizers = nil
			_ = k8s.Update(context.Background(), p)
		}
	})
	untilSelected(t, reads, c, sel, []string{"web-b", "web-c", "web-d", "web-e"})
	if err := k8s.Delete(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	untilSelected(t, reads, c, sel, []string{"web-b", "web-c", "web-d"})
	if n := podLists(reads); n != 1 {
		t.Fatalf("selections made again made %d more pod lists, want none", n-1)
	}

	// Another selection in the namespace is its own: listed once, then kept beside the first.
	api := map[string]string{"app": "api"}
	runningPods(t, builder.Pod(ns, "api-a", api))
	other := chaosv1alpha1.TargetSelector{Namespaces: []string{ns}, LabelSelector: &chaosv1alpha1.LabelSelector{MatchLabels: api}}
	if got := keptSelection(t, reads, c, other); !slices.Equal(got, []string{"api-a"}) {
		t.Fatalf("other selection %v, want [api-a]", got)
	}
	untilKept(t, c, 2)
	keptSelection(t, reads, c, other)
	if n := podLists(reads); n != 2 {
		t.Fatalf("%d pod lists after a second selection made twice, want 2", n)
	}

	// Idle for its time: let go, and listed again at its next use.
	clk.Step(59 * time.Second)
	keptSelection(t, reads, c, sel) // used: its idle time starts again
	clk.Step(30 * time.Second)
	c.Sweep()
	if kept, _, _ := c.Selections(); kept != 1 {
		t.Fatalf("%d selections kept, want 1: the one idle for 89 s goes, the one used 30 s ago stays", kept)
	}
	before := podLists(reads)
	keptSelection(t, reads, c, other)
	if n := podLists(reads) - before; n != 1 {
		t.Fatalf("a selection let go made %d pod lists at its next use, want 1", n)
	}
	untilKept(t, c, 2)

	// Over the pod cap of 5 (web-b, -c, -d and the terminating -e, and api-a held): the second
	// selection's watch is stopped, its pods let go, and it is listed at every use.
	if _, _, pods := c.Selections(); pods != 5 {
		t.Fatalf("%d pods held, want 5", pods)
	}
	runningPods(t, builder.Pod(ns, "api-b", api))
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		kept, _, pods := c.Selections()
		return kept == 1 && pods == 4, nil
	})
	if kept, _, pods := c.Selections(); err != nil {
		t.Fatalf("%d selections kept holding %d pods: want the one over the cap let go", kept, pods)
	}
	for range 2 {
		before = podLists(reads)
		if got := keptSelection(t, reads, c, other); !slices.Equal(got, []string{"api-a", "api-b"}) {
			t.Fatalf("selection over the cap %v, want [api-a api-b]", got)
		}
		if n := podLists(reads) - before; n != 1 {
			t.Fatalf("a selection over the cap made %d pod lists, want 1", n)
		}
	}
}

// untilAnswered waits until c answers sel without a list. The manager's c also keeps the
// selections of experiments earlier tests left running, so their count says nothing here.
func untilAnswered(t *testing.T, c *selector.Cache, sel chaosv1alpha1.TargetSelector) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		r := &countingReader{Reader: k8s}
		keptSelection(t, r, c, sel)
		return r.total() == 0, nil
	})
	if err != nil {
		t.Fatalf("selection %+v still listed: want it answered from its kept pods", sel)
	}
}

// untilKept waits until n selections are kept with all their pods.
func untilKept(t *testing.T, c *selector.Cache, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		kept, synced, _ := c.Selections()
		return kept == n && synced == n, nil
	})
	if err != nil {
		kept, synced, _ := c.Selections()
		t.Fatalf("%d selections kept, %d with all their pods: want %d", kept, synced, n)
	}
}

// An experiment whose selection was made by the one before it picks its targets without a pod
// list: the manager runs with kept selections, as deployed.
func TestExperimentPicksAKeptSelectionWithoutAList(t *testing.T) {
	ns := "kept-experiment"
	mustCreate(t, builder.Namespace(ns))
	web := map[string]string{"app": "web"}
	runningPods(t, builder.Pod(ns, "web-a", web), builder.Pod(ns, "web-b", web))
	reads := &countingReader{namespace: ns}
	kept := newSelections()
	startManager(t, managerOptions{selections: kept, apiReader: func(r client.Reader) client.Reader { reads.Reader = r; return reads }})

	first := builder.Experiment(ns, "first").Labels(web).Mode(chaosv1alpha1.ModeAll, 0).DryRun().Build()
	mustCreate(t, first)
	waitForPhase(t, client.ObjectKeyFromObject(first), chaosv1alpha1.ExperimentSucceeded)
	if n := podLists(reads); n != 1 {
		t.Fatalf("the first experiment made %d pod lists, want 1", n)
	}
	// Its selection is kept from now on; a pod added meanwhile is in the next one.
	untilAnswered(t, kept, chaosv1alpha1.TargetSelector{Namespaces: []string{ns}, LabelSelector: &chaosv1alpha1.LabelSelector{MatchLabels: web}})
	runningPods(t, builder.Pod(ns, "web-c", web))
	var got *chaosv1alpha1.Experiment
	for i := 0; ; i++ {
		exp := builder.Experiment(ns, "again-"+string(rune('a'+i))).Labels(web).Mode(chaosv1alpha1.ModeAll, 0).DryRun().Build()
		mustCreate(t, exp)
		got = waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentSucceeded)
		if len(got.Status.Targets) == 3 || i == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond) // the kept pods are a watch event behind
	}
	if len(got.Status.Targets) != 3 {
		t.Fatalf("targets %+v: want web-a, web-b and web-c", got.Status.Targets)
	}
	if n := podLists(reads); n != 1 {
		t.Fatalf("%d pod lists for experiments with one selection, want 1 (the first)", n)
	}
}

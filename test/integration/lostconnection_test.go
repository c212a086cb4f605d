//go:build integration

package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/internal/workload"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// The manager's watches reach the API server through a cutProxy here: a connection lost to an
// API server restart or a load balancer's reset. client-go reports no error for it; its
// reflector watches again after a backoff (up to 30 s), and until then an informer's store is
// as it was when the stream ended.

// reconnectWithin bounds the wait for client-go to watch again after the connection is back:
// its reflector's backoff grows to 30 s while the connection is refused.
const reconnectWithin = 45 * time.Second

// cutWatches cuts p's connections, checks that there were some (the watch under test went
// through p, so the test cannot pass with it untouched), and waits until closed reports the
// watch's end seen.
func cutWatches(t *testing.T, p *cutProxy, what string, closed func() bool) {
	t.Helper()
	p.cut()
	p.mu.Lock()
	cuts := p.cuts
	p.mu.Unlock()
	if cuts == 0 {
		t.Fatalf("no connection through the proxy to cut: %s does not go through it", what)
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return closed(), nil
	}); err != nil {
		t.Fatalf("%s still taken as open 10 s after its connection was cut", what)
	}
}

// A kept selection is not answered from its pods while its watch is down: they are as they were
// when the stream ended. It is listed (through the manager's other connection) until a watch
// is open again, which then brings what changed meanwhile, and it is answered from memory again.
func TestKeptSelectionIsListedWhileItsConnectionIsLost(t *testing.T) {
	ns := "kept-selection-cut"
	mustCreate(t, builder.Namespace(ns))
	web := map[string]string{"app": "web"}
	runningPods(t, builder.Pod(ns, "web-a", web), builder.Pod(ns, "web-b", web), builder.Pod(ns, "web-c", web))
	proxy := newCutProxy(t)
	c := &selector.Cache{Pods: kubernetes.NewForConfigOrDie(proxy.config()), Clock: clock.RealClock{}, Idle: time.Hour, MaxPods: 100, MaxSelections: 4}
	runUntilTestEnds(t, c)
	reads := &countingReader{Reader: k8s}
	sel := chaosv1alpha1.TargetSelector{Namespaces: []string{ns}, LabelSelector: &chaosv1alpha1.LabelSelector{MatchLabels: web}}
	keptSelection(t, reads, c, sel)
	untilKept(t, c, 1)
	untilAnswered(t, c, sel)

	cutWatches(t, proxy, "the selection's watch", func() bool { _, synced, _ := c.Selections(); return synced == 0 })
	// Meanwhile one pod goes, one is relabelled out of the selection, one comes.
	if err := k8s.Delete(t.Context(), builder.Pod(ns, "web-a", nil)); err != nil {
		t.Fatal(err)
	}
	relabelled := &corev1.Pod{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "web-b"}, relabelled); err != nil {
		t.Fatal(err)
	}
	relabelled.Labels = map[string]string{"app": "drained"}
	if err := k8s.Update(t.Context(), relabelled); err != nil {
		t.Fatal(err)
	}
	runningPods(t, builder.Pod(ns, "web-d", web))
	got := &corev1.Pod{}
	untilInWatchCache(t, client.ObjectKey{Namespace: ns, Name: "web-b"}, got, "relabelled", func() bool { return got.Labels["app"] == "drained" })

	want := []string{"web-c", "web-d"}
	before := podLists(reads)
	if got := keptSelection(t, reads, c, sel); !slices.Equal(got, want) {
		t.Fatalf("selection while its watch is down %v, want %v (the pods its watch last had: [web-a web-b web-c])", got, want)
	}
	if n := podLists(reads) - before; n != 1 {
		t.Fatalf("the selection made %d pod lists while its watch was down, want 1", n)
	}

	proxy.restore()
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, reconnectWithin, true, func(context.Context) (bool, error) {
		_, synced, _ := c.Selections()
		return synced == 1, nil
	}); err != nil {
		t.Fatalf("no watch open again %s after the connection came back", reconnectWithin)
	}
	before = podLists(reads)
	untilSelected(t, reads, c, sel, want)
	if n := podLists(reads) - before; n != 0 {
		t.Fatalf("the selection made %d pod lists with its watch open again, want none", n)
	}
}

// A workload's recovery is timed from its watch only while the watch is open and none has ended
// since the kill. With the connection lost, the tracker says it cannot tell (the manager asks
// the API server instead); and a recovery the next watch brings is dated when the kubelet
// reported it, not when the watch came back: the MTTR an SRE reads is not stretched by the
// outage. That holds as well for a wait that began during the outage (a second experiment's
// kill, an interval kill's next round).
func TestRecoveryIsNotDatedByAReconnect(t *testing.T) {
	ns := "recovery-cut"
	labels, rsUID := deployment(t, ns, "api", 2)
	proxy := newCutProxy(t)
	tr := &workload.Tracker{Reader: k8s, Pods: kubernetes.NewForConfigOrDie(proxy.config()), Clock: clock.RealClock{},
		Notify: func(types.NamespacedName) {}}
	runUntilTestEnds(t, tr)

	ref := workload.Ref{Kind: "ReplicaSet", Namespace: ns, Name: "api-rs"}
	exp := types.NamespacedName{Namespace: ns, Name: "kill"}
	killedAt := killAndTrack(t, tr, ref, "api-0", exp)
	recovered := func() (*workload.Recovery, workload.Readiness, bool) { return tr.Recovered(t.Context(), exp, ref) }
	if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, rd, known := recovered()
		return known && rd.Ready == 1, nil
	}); err != nil {
		_, rd, known := recovered()
		t.Fatalf("tracker: known %v, %d/%d ready; want it following the workload at 1/2", known, rd.Ready, rd.Desired)
	}

	cutWatches(t, proxy, "the workload's watch", func() bool { _, _, known := recovered(); return !known })

	// A second experiment kills the other pod while the watch is down.
	exp2 := types.NamespacedName{Namespace: ns, Name: "kill-2"}
	secondAt := killAndTrack(t, tr, ref, "api-1", exp2)

	// Whole again while the watch is down, as the kubelet reports it (to the second), after the kills.
	time.Sleep(time.Until(secondAt.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	readyAt := replace(t, ns, "api", rsUID, labels, 2)
	if !readyAt.After(secondAt) {
		t.Fatalf("replacements ready at %s, not after the second kill at %s", readyAt, secondAt)
	}
	if rec, _, known := recovered(); known || rec != nil {
		t.Fatalf("tracker answers (known %v, recovery %+v) with its watch down: it should tell the caller to ask the API server", known, rec)
	}
	// The outage lasts well past the moment it was whole, so that a recovery dated by the
	// watch coming back is told apart from one dated by the kubelet.
	time.Sleep(1500 * time.Millisecond)
	reconnecting := time.Now()
	proxy.restore()

	for _, w := range []struct {
		exp    types.NamespacedName
		killed time.Time
	}{{exp, killedAt}, {exp2, secondAt}} {
		var rec *workload.Recovery
		if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, reconnectWithin, true, func(context.Context) (bool, error) {
			rec, _, _ = tr.Recovered(t.Context(), w.exp, ref)
			return rec != nil, nil
		}); err != nil {
			t.Fatalf("%s: no recovery seen %s after the connection came back", w.exp.Name, reconnectWithin)
		}
		if !rec.At.Equal(readyAt) || rec.Live {
			t.Fatalf("%s: recovered at %s (live %v), want %s, when the kubelet reported the replacements ready (not live): the watch came back at %s",
				w.exp.Name, rec.At, rec.Live, readyAt, reconnecting)
		}
		if got, want := rec.At.Sub(rec.Since), readyAt.Sub(w.killed); got != want {
			t.Fatalf("%s: time to recover %s, want %s", w.exp.Name, got, want)
		}
	}
}

// The manager's recovery check does not wait on a watch that is down: with the tracker's
// connection lost, the experiment asks the API server, ends as soon as the workload is whole,
// and records the recovery when the kubelet reported it.
func TestExperimentRecordsRecoveryWhileItsWatchIsDown(t *testing.T) {
	proxy := newCutProxy(t)
	tracker := &workload.Tracker{Reader: k8s, Pods: kubernetes.NewForConfigOrDie(proxy.config()), Clock: clock.RealClock{}}
	startManager(t, managerOptions{tracker: tracker})
	ns := "pk-cut"
	labels, rsUID := deployment(t, ns, "web", 2)
	key, killedAt := killOne(t, ns, "kill", labels)
	ref := workload.Ref{Kind: "ReplicaSet", Namespace: ns, Name: "web-rs"}
	known := func() bool { _, _, k := tracker.Recovered(t.Context(), key, ref); return k }
	if err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return known(), nil
	}); err != nil {
		t.Fatal("the tracker never followed the killed pod's workload")
	}

	cutWatches(t, proxy, "the tracker's watch", func() bool { return !known() })
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	readyAt := replace(t, ns, "web", rsUID, labels, 1)
	got := waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded) // the connection stays cut
	w := got.Status.Workloads[0]
	if w.RecoveredAt == nil || !w.RecoveredAt.Time.Equal(readyAt) {
		t.Fatalf("recoveredAt %v, want %s, when the replacement was reported ready", w.RecoveredAt, readyAt)
	}
	if w.TimeToRecover == nil || w.TimeToRecover.Duration != readyAt.Sub(killedAt) {
		t.Fatalf("timeToRecover %v, want %s", w.TimeToRecover, readyAt.Sub(killedAt))
	}
}

// killAndTrack deletes pod of ref's namespace, as a kill with no grace, and has tr follow ref
// for exp from that moment, which it returns.
func killAndTrack(t *testing.T, tr *workload.Tracker, ref workload.Ref, pod string, exp types.NamespacedName) time.Time {
	t.Helper()
	victim := &corev1.Pod{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ref.Namespace, Name: pod}, victim); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(t.Context(), victim, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := tr.Track(t.Context(), exp, ref, at, sets.New(victim.UID)); err != nil {
		t.Fatal(err)
	}
	return at
}

// runUntilTestEnds runs r (a selection cache, a tracker) until the test ends, and waits for it
// to stop.
func runUntilTestEnds(t *testing.T, r manager.Runnable) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/experiments/podkill"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// deployment sets up a namespace with a ReplicaSet of n running pods labelled app=<app>.
func deployment(t *testing.T, ns, app string, n int) (labels map[string]string, rsUID types.UID) {
	t.Helper()
	labels = map[string]string{"app": app}
	mustCreate(t, builder.Namespace(ns))
	rs := builder.ReplicaSet(ns, app+"-rs", int32(n), labels)
	mustCreate(t, rs)
	for _, name := range names(app, n) {
		runningPods(t, builder.OwnedBy(builder.Pod(ns, name, labels), "ReplicaSet", rs.Name, rs.UID))
	}
	return labels, rs.UID
}

// killOne applies a PodKill of one pod of labels, with no grace, and waits until it is
// Recovering; it returns the experiment's key and when the kill was recorded.
func killOne(t *testing.T, ns, name string, labels map[string]string) (client.ObjectKey, time.Time) {
	t.Helper()
	exp := builder.Experiment(ns, name).Labels(labels).Mode(chaosv1alpha1.ModeOne, 0).Grace(0).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	got := waitForPhase(t, key, chaosv1alpha1.ExperimentRecovering)
	return key, got.Status.Targets[0].InjectedAt.Time
}

// replace plays the ReplicaSet controller: one new ready pod for each pod that is gone.
func replace(t *testing.T, ns, app string, rsUID types.UID, labels map[string]string, gone int) time.Time {
	t.Helper()
	readyAt := time.Now().Truncate(time.Second)
	for _, name := range names(app+"-new", gone) {
		p := builder.OwnedBy(builder.Pod(ns, name, labels), "ReplicaSet", app+"-rs", rsUID)
		mustCreate(t, p)
		p.Status = builder.RunningStatus(readyAt)
		if err := k8s.Status().Update(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	return readyAt
}

func TestPodKillKillsHalfAndRecordsRecovery(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "pk-half"
	labels, rsUID := deployment(t, ns, "checkout", 4)
	runningPods(t, builder.Pod(ns, "cart", map[string]string{"app": "cart"}))
	exp := builder.Experiment(ns, "half").Labels(labels).Mode(chaosv1alpha1.ModePercent, 50).Grace(0).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)

	got := waitForPhase(t, key, chaosv1alpha1.ExperimentRecovering)
	requireCondition(t, got, chaosv1alpha1.ConditionTargetsSelected, "True", chaosv1alpha1.ReasonTargetsFound)
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "True", chaosv1alpha1.ReasonFaultInjected)
	if len(got.Status.Targets) != 2 || got.Status.SelectedTargets != 2 {
		t.Fatalf("targets: %+v, want 2", got.Status.Targets)
	}
	left := podsLeft(t, ns)
	for _, tg := range got.Status.Targets {
		if tg.State != chaosv1alpha1.TargetInjected || tg.InjectedAt == nil || tg.Round != 1 || tg.OwnerKind != "ReplicaSet" {
			t.Errorf("target %+v not recorded as injected in round 1 with its owner", tg)
		}
		if left[tg.Name] {
			t.Errorf("target %s was not killed", tg.Name)
		}
	}
	if len(left) != 3 || !left["cart"] {
		t.Errorf("pods left %v: want the 2 untouched checkout pods and cart", left)
	}
	if len(got.Status.Workloads) != 1 || got.Status.Workloads[0].Kind != "ReplicaSet" {
		t.Fatalf("workloads: %+v, want the ReplicaSet", got.Status.Workloads)
	}
	// Not whole yet: 2 of 4 ready.
	requireCondition(t, got, chaosv1alpha1.ConditionRecovered, "False", chaosv1alpha1.ReasonWaitingForRecovery)

	tBefore := time.Now()
	replace(t, ns, "checkout", rsUID, labels, 2)
	got = waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded)
	tSeen := time.Now()
	requireCondition(t, got, chaosv1alpha1.ConditionRecovered, "True", chaosv1alpha1.ReasonWorkloadsRecovered)
	w := got.Status.Workloads[0]
	if w.RecoveredAt == nil || w.TimeToRecover == nil || w.DesiredReplicas != 4 {
		t.Fatalf("workload recovery not recorded: %+v", w)
	}
	lastKill := got.Status.Targets[0].InjectedAt.Time
	for _, tg := range got.Status.Targets {
		if tg.InjectedAt.After(lastKill) {
			lastKill = tg.InjectedAt.Time
		}
		if tg.State != chaosv1alpha1.TargetRecovered || tg.RecoveredAt == nil {
			t.Errorf("target %s not recovered: %+v", tg.Name, tg)
		}
	}
	// Recovery is the moment the manager's watch on the workload's pods saw the replacements
	// ready. recoveredAt has Kubernetes' one-second precision; timeToRecover keeps the
	// milliseconds, from the kill (which injectedAt holds to the second).
	if w.RecoveredAt.Time.Before(tBefore.Truncate(time.Second)) || w.RecoveredAt.Time.After(tSeen) {
		t.Errorf("recoveredAt %s, want between the replacements made ready (%s) and the experiment seen Succeeded (%s)",
			w.RecoveredAt.Time, tBefore, tSeen)
	}
	if ttr := w.TimeToRecover.Duration; ttr < tBefore.Sub(lastKill.Add(time.Second)) || ttr > tSeen.Sub(lastKill) {
		t.Errorf("timeToRecover %s, want between %s and %s", ttr, tBefore.Sub(lastKill.Add(time.Second)), tSeen.Sub(lastKill))
	}
	if got.Status.FinishedAt == nil || got.Status.StartedAt == nil {
		t.Error("startedAt/finishedAt not recorded")
	}
	// Every transition is an event.
	requireEvents(t, got, chaosv1alpha1.ReasonTargetsFound, chaosv1alpha1.ReasonFaultInjected, chaosv1alpha1.ReasonWorkloadsRecovered)
}

// A workload scaled up after the kill (an HPA reacting to the lost pod) has recovered when its
// new size is Ready, not when the replacement alone is: desired replicas are read at each check.
func TestRecoveryIsJudgedAgainstTheWorkloadsSizeNow(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "pk-scaled"
	labels, rsUID := deployment(t, ns, "scaled", 2)
	exp := builder.Experiment(ns, "one").Labels(labels).Grace(0).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	waitForPhase(t, key, chaosv1alpha1.ExperimentRecovering)

	rs := &appsv1.ReplicaSet{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "scaled-rs"}, rs); err != nil {
		t.Fatal(err)
	}
	rs.Spec.Replicas = ptr.To[int32](3)
	if err := k8s.Update(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	// The manager reads workloads from the API server's watch cache: let the scale reach it
	// before the replacement does, as it would after an HPA's decision.
	untilInWatchCache(t, client.ObjectKeyFromObject(rs), rs, "scaled to 3", func() bool { return *rs.Spec.Replicas == 3 })

	replace(t, ns, "scaled", rsUID, labels, 1)
	got := waitFor(t, key, "waiting on 2/3 ready", func(e *chaosv1alpha1.Experiment) bool {
		c := meta.FindStatusCondition(e.Status.Conditions, chaosv1alpha1.ConditionRecovered)
		return c != nil && strings.Contains(c.Message, "ReplicaSet pk-scaled/scaled-rs 2/3 ready") || e.Status.Phase.Finished()
	})
	if got.Status.Phase != chaosv1alpha1.ExperimentRecovering {
		t.Fatalf("phase %s with 2 of 3 desired replicas ready (workloads %+v): want Recovering", got.Status.Phase, got.Status.Workloads)
	}

	runningPods(t, builder.OwnedBy(builder.Pod(ns, "scaled-third", labels), "ReplicaSet", "scaled-rs", rsUID))
	got = waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded)
	if w := got.Status.Workloads; len(w) != 1 || w[0].DesiredReplicas != 3 || w[0].TimeToRecover == nil {
		t.Fatalf("workloads %+v: want the ReplicaSet recovered at 3 desired replicas", w)
	}
}

// requireEvents waits for events with every reason in want about exp (the recorder sends them
// asynchronously).
func requireEvents(t *testing.T, exp *chaosv1alpha1.Experiment, want ...string) {
	t.Helper()
	reasons := map[string]bool{}
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var evs eventsv1.EventList
		if err := k8s.List(ctx, &evs, client.InNamespace(exp.Namespace)); err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Regarding.UID == exp.UID {
				reasons[e.Reason] = true
			}
		}
		for _, r := range want {
			if !reasons[r] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("events: have %v, want %v: %v", reasons, want, err)
	}
}

// A workload whole for only a moment, between an experiment's kill and the next disruption (a
// second experiment, the next run of a drill), recovered at that moment: the experiment's MTTR is
// its own, not stretched to whenever the workload is next whole, and it does not sit in
// Recovering meanwhile.
func TestRecoveryBetweenOverlappingKills(t *testing.T) {
	tracker := newTracker()
	startManager(t, managerOptions{tracker: tracker})
	ns := "pk-overlap"
	labels, rsUID := deployment(t, ns, "web", 3)
	key, lastKill := killOne(t, ns, "first", labels)

	// Whole again, and at once broken again: another pod of the workload goes, and stays gone.
	tBefore := time.Now()
	replace(t, ns, "web", rsUID, labels, 1)
	var next string
	for name := range podsLeft(t, ns) {
		if strings.HasPrefix(name, "web-") && !strings.HasPrefix(name, "web-new") {
			next = name
			break
		}
	}
	if err := k8s.Delete(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: next}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	tBroken := time.Now()

	got := waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded)
	if left := podsLeft(t, ns); len(left) != 2 {
		t.Fatalf("pods %v: the workload should still be 2/3 when the experiment ends", left)
	}
	w := got.Status.Workloads[0]
	if w.RecoveredAt == nil || w.TimeToRecover == nil {
		t.Fatalf("recovery not recorded: %+v", w)
	}
	if w.RecoveredAt.Time.Before(tBefore.Truncate(time.Second)) || w.RecoveredAt.Time.After(tBroken) {
		t.Errorf("recoveredAt %s, want within the moment it was whole (%s to %s)", w.RecoveredAt.Time, tBefore, tBroken)
	}
	if ttr := w.TimeToRecover.Duration; ttr > tBroken.Sub(lastKill) {
		t.Errorf("timeToRecover %s, longer than the kill to the next disruption (%s)", ttr, tBroken.Sub(lastKill))
	}
	// The workload's watch ends with the last experiment waiting on it.
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return tracker.Watching() == 0, nil
	}); err != nil {
		t.Errorf("still watching %d workloads after the experiment ended", tracker.Watching())
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "pk-dry"
	labels, _ := deployment(t, ns, "web", 3)
	exp := builder.Experiment(ns, "dry").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).DryRun().Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentSucceeded)
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "False", chaosv1alpha1.ReasonDryRun)
	if len(got.Status.Targets) != 3 {
		t.Errorf("dry run reported %d targets, want 3", len(got.Status.Targets))
	}
	for _, tg := range got.Status.Targets {
		if tg.State != chaosv1alpha1.TargetSelected || tg.InjectedAt != nil {
			t.Errorf("dry-run target %+v looks acted on", tg)
		}
	}
	if left := podsLeft(t, ns); len(left) != 3 {
		t.Errorf("dry run killed pods: %v left", left)
	}
}

func TestProtectedNamespacesAreNeverSelected(t *testing.T) {
	startManager(t, managerOptions{})
	for _, ns := range []string{"kube-system", ownNamespace, "payments", "ops"} {
		mustCreate(t, builder.Namespace(ns))
		runningPods(t, builder.Pod(ns, "victim", map[string]string{"app": "x"}))
	}
	exp := builder.Experiment("ops", "everything").Namespaces("kube-system", ownNamespace, "payments").
		Mode(chaosv1alpha1.ModeAll, 0).Grace(0).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentFailed)
	requireCondition(t, got, chaosv1alpha1.ConditionTargetsSelected, "False", chaosv1alpha1.ReasonNoTargets)
	c := got.Status.Conditions[0]
	for _, ns := range []string{"kube-system", ownNamespace, "payments"} {
		if !strings.Contains(c.Message, ns) {
			t.Errorf("message %q does not name the skipped protected namespace %s", c.Message, ns)
		}
		if !podsLeft(t, ns)["victim"] {
			t.Errorf("the pod in protected namespace %s was killed", ns)
		}
	}

	// clusterWide with mode all: every namespace but the protected ones.
	cw := builder.Experiment("ops", "cluster-wide").Mode(chaosv1alpha1.ModeAll, 0).Labels(map[string]string{"app": "x"}).Grace(0).Build()
	cw.Spec.Selector.Namespaces, cw.Spec.Selector.ClusterWide = nil, true
	mustCreate(t, cw)
	got = waitForPhase(t, client.ObjectKeyFromObject(cw), chaosv1alpha1.ExperimentSucceeded)
	for _, tg := range got.Status.Targets {
		if tg.Namespace != "ops" {
			t.Errorf("cluster-wide experiment targeted %s/%s", tg.Namespace, tg.Name)
		}
	}
	for _, ns := range []string{"kube-system", ownNamespace, "payments"} {
		if !podsLeft(t, ns)["victim"] {
			t.Errorf("cluster-wide experiment killed the pod in protected namespace %s", ns)
		}
	}
}

func TestBlastRadiusCapsRefuse(t *testing.T) {
	startManager(t, managerOptions{maxTargets: 3})
	ns := "pk-caps"
	labels, _ := deployment(t, ns, "api", 5)
	own := builder.Experiment(ns, "over-own-cap").Labels(labels).Mode(chaosv1alpha1.ModeFixed, 3).MaxTargets(2).Build()
	global := builder.Experiment(ns, "over-manager-cap").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Build()
	pct := builder.Experiment(ns, "over-percent").Labels(labels).Mode(chaosv1alpha1.ModeFixed, 3).Build()
	pct.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxPercent: ptrTo[int32](40)}
	mustCreate(t, own, global, pct)
	for _, e := range []*chaosv1alpha1.Experiment{own, global, pct} {
		got := waitForPhase(t, client.ObjectKeyFromObject(e), chaosv1alpha1.ExperimentFailed)
		requireCondition(t, got, chaosv1alpha1.ConditionTargetsSelected, "False", chaosv1alpha1.ReasonBlastRadiusExceeded)
	}
	if left := podsLeft(t, ns); len(left) != 5 {
		t.Errorf("a refused experiment killed pods: %v left", left)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestZoneOutageKillsOnlyThatZone(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "pk-zone"
	mustCreate(t, builder.Namespace(ns), builder.NodeInZone("node-a1", "zone-a"), builder.NodeInZone("node-a2", "zone-a"), builder.NodeInZone("node-b1", "zone-b"))
	l := map[string]string{"app": "z"}
	runningPods(t,
		builder.OnNode(builder.Pod(ns, "a1", l), "node-a1"), builder.OnNode(builder.Pod(ns, "a2", l), "node-a2"),
		builder.OnNode(builder.Pod(ns, "b1", l), "node-b1"), builder.OnNode(builder.Pod(ns, "b2", l), "node-b1"))
	exp := builder.Experiment(ns, "zone-a-down").Zone("zone-a").Mode(chaosv1alpha1.ModeAll, 0).Grace(0).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentSucceeded)
	if len(got.Status.Targets) != 2 {
		t.Fatalf("targets %+v, want a1 and a2", got.Status.Targets)
	}
	left := podsLeft(t, ns)
	if left["a1"] || left["a2"] || !left["b1"] || !left["b2"] {
		t.Errorf("pods left %v: want only zone-b's b1 and b2", left)
	}
}

func TestUnsupportedActionFailsClearly(t *testing.T) {
	// A manager built with PodKill alone meets a CacheFlush.
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: podkill.PodKill{Client: k8s, Reader: k8s}}})
	mustCreate(t, builder.Namespace("pk-unsupported"))
	exp := builder.Experiment("pk-unsupported", "flush").CacheFlush(chaosv1alpha1.CacheFlushSpec{
		Engine: chaosv1alpha1.CacheRedis, Address: "127.0.0.1:6379", Mode: chaosv1alpha1.FlushDB}).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentFailed)
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "False", chaosv1alpha1.ReasonUnsupportedAction)
}

func TestEmergencyStopAbortsRunningAndRefusesNew(t *testing.T) {
	startManager(t, managerOptions{})
	ns := "pk-estop"
	labels, _ := deployment(t, ns, "svc", 6)
	running := builder.Experiment(ns, "repeating").Labels(labels).Grace(0).Interval(time.Hour, 2*time.Hour).Build()
	mustCreate(t, running)
	waitFor(t, client.ObjectKeyFromObject(running), "round 1 injected", func(e *chaosv1alpha1.Experiment) bool {
		return e.Status.Phase == chaosv1alpha1.ExperimentRunning && len(e.Status.Targets) == 1 && e.Status.Targets[0].State == chaosv1alpha1.TargetInjected
	})

	stop := &chaosv1alpha1.EmergencyStop{ObjectMeta: metav1.ObjectMeta{Name: "incident-4711"}, Spec: chaosv1alpha1.EmergencyStopSpec{Reason: "checkout is down for real"}}
	mustCreate(t, stop)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), stop) })
	got := waitForPhase(t, client.ObjectKeyFromObject(running), chaosv1alpha1.ExperimentAborted)
	requireCondition(t, got, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonEmergencyStop)
	if c := got.Status.Conditions; !strings.Contains(findMsg(c, chaosv1alpha1.ConditionAborted), "checkout is down for real") {
		t.Errorf("abort message does not carry the stop's reason: %+v", c)
	}

	fresh := builder.Experiment(ns, "during-stop").Labels(labels).Grace(0).Build()
	mustCreate(t, fresh)
	got = waitForPhase(t, client.ObjectKeyFromObject(fresh), chaosv1alpha1.ExperimentAborted)
	requireCondition(t, got, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonEmergencyStop)
	if len(got.Status.Targets) != 0 {
		t.Errorf("a refused experiment recorded targets: %+v", got.Status.Targets)
	}
	if left := podsLeft(t, ns); len(left) != 5 {
		t.Errorf("%d pods left, want 5 (one kill before the stop, none after)", len(left))
	}
}

func findMsg(cs []metav1.Condition, typ string) string {
	for _, c := range cs {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

// lastingFault stands in for a network fault (which the node agent brings) so that the deletion
// path of lasting faults is exercised against the real API server: it records what it injected
// and removed, and a pod that no longer exists is gone.
type lastingFault struct {
	mu                  sync.Mutex
	injected, recovered map[types.UID]bool
}

func newLastingFault() *lastingFault {
	return &lastingFault{injected: map[types.UID]bool{}, recovered: map[types.UID]bool{}}
}

// requireRemoved checks that want faults were injected and that every one was removed.
func (f *lastingFault) requireRemoved(t *testing.T, want int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.injected) != want {
		t.Fatalf("%d faults injected, want %d", len(f.injected), want)
	}
	for uid := range f.injected {
		if !f.recovered[uid] {
			t.Errorf("the fault on %s was left in place", uid)
		}
	}
}

func (f *lastingFault) Preflight(context.Context, *chaosv1alpha1.Experiment, []corev1.Pod) error {
	return nil
}
func (f *lastingFault) Lasting(*chaosv1alpha1.Experiment) bool { return true }
func (f *lastingFault) Inject(_ context.Context, _ *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected[t.UID] = true
	return nil
}
func (f *lastingFault) Recover(ctx context.Context, _ *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error {
	var p corev1.Pod
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, &p); apierrors.IsNotFound(err) {
		return experiments.ErrTargetGone
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recovered[t.UID] = true
	return nil
}

func TestDeletingARunningExperimentRemovesItsFaults(t *testing.T) {
	lf := newLastingFault()
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
	ns := "pk-delete"
	labels, _ := deployment(t, ns, "db", 3)
	exp := builder.Experiment(ns, "slow-db").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Latency(10*time.Millisecond, time.Hour).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	got := waitFor(t, key, "3 targets injected", func(e *chaosv1alpha1.Experiment) bool {
		n := 0
		for _, tg := range e.Status.Targets {
			if tg.State == chaosv1alpha1.TargetInjected {
				n++
			}
		}
		return n == 3
	})
	if len(got.Finalizers) == 0 {
		t.Fatal("a lasting fault's experiment carries no finalizer")
	}
	// One target's pod disappears: it must count as recovered, not hold the finalizer.
	if err := k8s.Delete(t.Context(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: got.Status.Targets[0].Name}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	waitGone(t, key)
	lf.mu.Lock()
	defer lf.mu.Unlock()
	for uid := range lf.injected {
		if uid == got.Status.Targets[0].UID {
			continue // gone, nothing to remove
		}
		if !lf.recovered[uid] {
			t.Errorf("fault on %s was not removed before the finalizer came off", uid)
		}
	}
}

// crashAt names where the simulated manager crash happens in a kill.
type crashAt int

const (
	crashBeforeKill    crashAt = iota // intent recorded, pod not yet deleted
	crashAfterKill                    // pod deleted, injection not yet recorded
	crashAfterAllKills                // every pod of the round deleted (concurrently), none recorded
)

// crashingFault kills the manager (cancels its context) around the first kill it is asked for.
// After the crash it refuses every call: a dead process sends nothing more, whereas a cancelled
// context alone still races a request already on its way to the API server (seen in CI: a delete
// that reached the server while its caller saw "context canceled", so it went uncounted).
type crashingFault struct {
	inner experiments.Fault
	at    crashAt
	crash func()
	once  sync.Once
	dead  atomic.Bool
	// n is the round's target count, for crashAfterAllKills: the crash comes once n are done.
	n    int
	mu   sync.Mutex
	done int
	// crashed is closed once the crash happened: the test stops the manager only then, or its
	// stop would race the kill in flight (a delete reaching the server with its caller already
	// cancelled, so it goes uncounted).
	crashed chan struct{}
}

var errDead = errors.New("manager crashed")

func (c *crashingFault) Preflight(ctx context.Context, e *chaosv1alpha1.Experiment, p []corev1.Pod) error {
	if c.dead.Load() {
		return errDead
	}
	return c.inner.Preflight(ctx, e, p)
}
func (c *crashingFault) Lasting(exp *chaosv1alpha1.Experiment) bool { return c.inner.Lasting(exp) }
func (c *crashingFault) Recover(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error {
	if c.dead.Load() {
		return errDead
	}
	return c.inner.Recover(ctx, e, t)
}
func (c *crashingFault) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	if c.dead.Load() {
		return errDead
	}
	if c.at == crashAfterAllKills {
		err := c.inner.Inject(ctx, e, t, resumed)
		c.mu.Lock()
		c.done++
		last := c.done == c.n
		c.mu.Unlock()
		if last {
			c.dead.Store(true)
			c.crash()
			<-ctx.Done()
			close(c.crashed)
		}
		<-ctx.Done() // every injection of the dying pass returns only once it is cancelled
		return err
	}
	first := false
	c.once.Do(func() { first = true })
	if !first {
		// The round's other targets, injected concurrently with the first, are held until the
		// crash and never sent: the test fixes this one interleaving (only the first may have
		// landed), where a real crash could let any of them through; recovery reads each
		// target afresh either way.
		<-c.crashed
		return errDead
	}
	var err error = errDead
	if c.at == crashAfterKill {
		err = c.inner.Inject(ctx, e, t, resumed)
	}
	c.dead.Store(true)
	c.crash()
	// The pass dies here: it goes on only once the manager's stop has cancelled it, so that its
	// closing status write fails, as a dead process's would, instead of landing.
	<-ctx.Done()
	close(c.crashed)
	return err
}

// await waits for the crash, then for the crashed manager to have stopped.
func (c *crashingFault) await(t *testing.T, stop func()) {
	t.Helper()
	select {
	case <-c.crashed:
	case <-time.After(30 * time.Second):
		t.Fatal("the manager never reached the injection")
	}
	stop()
}

// A manager that dies between recording a round's intent (its targets, in status) and recording
// what it did to them resumes the recorded targets: each is killed exactly once, and none is
// picked afresh. The mode-all case kills every matching pod before the crash, so a resume that
// selected again would find nothing to select and fail.
func TestRestartMidKillNeverKillsTwice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ns       string
		at       crashAt
		replicas int
		mode     chaosv1alpha1.SelectionMode
		value    int32
		want     int
	}{
		{"crash after intent, before the kill", "pk-crash-before", crashBeforeKill, 4, chaosv1alpha1.ModeFixed, 2, 2},
		{"crash after the kill, before it is recorded", "pk-crash-after", crashAfterKill, 4, chaosv1alpha1.ModeFixed, 2, 2},
		{"mode all: crash after the last kill", "pk-crash-all", crashAfterKill, 1, chaosv1alpha1.ModeAll, 0, 1},
		{"crash after three concurrent kills", "pk-crash-concurrent", crashAfterAllKills, 4, chaosv1alpha1.ModeFixed, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := tc.ns
			labels, rsUID := deployment(t, ns, "pay", tc.replicas)
			// Keep killed pods terminating (no kubelet finishes them), so a second kill would show.
			keepTerminating(t, ns)

			var mu sync.Mutex
			deletes := map[string]int{}
			counting := func(c client.WithWatch) client.Client {
				return interceptor.NewClient(c, interceptor.Funcs{Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
					err := cl.Delete(ctx, obj, opts...)
					if _, isPod := obj.(*corev1.Pod); isPod && err == nil {
						mu.Lock()
						deletes[obj.GetName()]++
						mu.Unlock()
					}
					return err
				}})
			}
			podClient, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
			if err != nil {
				t.Fatal(err)
			}
			reader, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				t.Fatal(err)
			}
			pk := podkill.PodKill{Client: counting(podClient), Reader: reader}

			crashing := &crashingFault{inner: pk, at: tc.at, n: tc.want, crashed: make(chan struct{})}
			stop1, crash1 := startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: crashing}})
			// The crash cancels the manager and holds the dying pass until the cancellation reaches it:
			// nothing that pass does afterwards reaches the API server.
			crashing.crash = crash1
			exp := builder.Experiment(ns, "kill").Labels(labels).Mode(tc.mode, tc.value).Grace(30).Build()
			mustCreate(t, exp)
			key := client.ObjectKeyFromObject(exp)
			crashing.await(t, stop1)
			crashedAt := time.Now()
			mu.Lock()
			killedBefore := maps.Clone(deletes)
			mu.Unlock()
			// The round is in status as intent only: the pass died before recording what it did.
			intent := requireIntentOnly(t, key, tc.want)
			// The restart comes over a second later: a kill from before it must be recorded at
			// its own time (status times are in whole seconds), not when the manager came back.
			time.Sleep(1500 * time.Millisecond)
			before, t0 := roundSteps(t, chaosv1alpha1.ActionPodKill), time.Now()

			startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: pk}})
			got := waitForPhase(t, key, chaosv1alpha1.ExperimentRecovering)
			if len(got.Status.Targets) != tc.want || got.Status.Round != 1 {
				t.Fatalf("after restart: round %d, targets %+v; want round 1 with the %d recorded targets", got.Status.Round, got.Status.Targets, tc.want)
			}
			mu.Lock()
			for _, tg := range got.Status.Targets {
				if tg.State != chaosv1alpha1.TargetInjected {
					t.Errorf("target %s state %s, want Injected", tg.Name, tg.State)
				}
				if !slices.ContainsFunc(intent, func(c chaosv1alpha1.TargetStatus) bool { return c.UID == tg.UID }) {
					t.Errorf("target %s is not one the intent record named", tg.Name)
				}
				if deletes[tg.Name] != 1 {
					t.Errorf("pod %s deleted %d times, want exactly once", tg.Name, deletes[tg.Name])
				}
				if killedBefore[tg.Name] > 0 && (tg.InjectedAt == nil || tg.InjectedAt.After(crashedAt)) {
					t.Errorf("target %s killed before the crash is recorded injected at %v, after the crash (%s): the resume's time, not the kill's", tg.Name, tg.InjectedAt, crashedAt.Format(time.RFC3339Nano))
				}
			}
			if total := len(deletes); total != tc.want {
				t.Errorf("%d pods deleted, want %d: %v", total, tc.want, deletes)
			}
			mu.Unlock()
			// A resumed round is not a round started: the restarted manager times no step of it.
			requireStepsAdded(t, before, roundSteps(t, chaosv1alpha1.ActionPodKill), nil, time.Since(t0))
			replace(t, ns, "pay", rsUID, labels, tc.want)
			waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded)
		})
	}
}

// TestRoundStepsAreTimed: every round started on a pass is timed step by step
// (firedrill_experiment_round_step_seconds), the finalizer only where a lasting fault needs one.
func TestRoundStepsAreTimed(t *testing.T) {
	t.Run("a kill every second, two rounds", func(t *testing.T) {
		startManager(t, managerOptions{})
		ns := "pk-steps"
		labels, _ := deployment(t, ns, "web", 4)
		before, t0 := roundSteps(t, chaosv1alpha1.ActionPodKill), time.Now()
		exp := builder.Experiment(ns, "twice").Labels(labels).Mode(chaosv1alpha1.ModeOne, 0).Grace(0).Interval(time.Second, 1500*time.Millisecond).Build()
		mustCreate(t, exp)
		got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentRecovering)
		if got.Status.Round != 2 {
			t.Fatalf("round %d, want 2", got.Status.Round)
		}
		requireStepsAdded(t, before, roundSteps(t, chaosv1alpha1.ActionPodKill), map[string]uint64{"select": 2, "intent": 2, "inject": 2}, time.Since(t0))
	})
	t.Run("a lasting fault adds its finalizer first", func(t *testing.T) {
		lf := newLastingFault()
		startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
		ns := "pk-steps-lasting"
		labels, _ := deployment(t, ns, "db", 2)
		before, t0 := roundSteps(t, chaosv1alpha1.ActionNetworkLatency), time.Now()
		exp := builder.Experiment(ns, "slow").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Latency(10*time.Millisecond, time.Hour).Build()
		mustCreate(t, exp)
		key := client.ObjectKeyFromObject(exp)
		waitFor(t, key, "2 targets injected", func(e *chaosv1alpha1.Experiment) bool {
			return len(e.Status.Targets) == 2 && e.Status.Targets[0].State == chaosv1alpha1.TargetInjected && e.Status.Targets[1].State == chaosv1alpha1.TargetInjected
		})
		requireStepsAdded(t, before, roundSteps(t, chaosv1alpha1.ActionNetworkLatency), map[string]uint64{"select": 1, "finalizer": 1, "intent": 1, "inject": 1}, time.Since(t0))
		// Gone before this manager stops: its finalizer must not wait for the next test's.
		if err := k8s.Delete(t.Context(), exp); err != nil {
			t.Fatal(err)
		}
		waitGone(t, key)
	})
}

// barrierFault holds every injection until n of them are in flight together (or gives up after
// wait): under a round that injects one target after another, it can never let the first go.
type barrierFault struct {
	experiments.Fault
	n    int
	wait time.Duration
	mu   sync.Mutex
	in   int
	all  chan struct{}
}

func (b *barrierFault) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	b.mu.Lock()
	if b.in++; b.in == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return b.Fault.Inject(ctx, e, t, resumed)
	case <-time.After(b.wait):
		b.mu.Lock()
		defer b.mu.Unlock()
		return fmt.Errorf("only %d of %d injections were in flight together", b.in, b.n)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestRoundInjectsItsTargetsTogether: the pods of one round are killed concurrently (a zone
// outage takes them down together), not one deletion after another.
func TestRoundInjectsItsTargetsTogether(t *testing.T) {
	const n = 5
	podClient, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	bf := &barrierFault{Fault: podkill.PodKill{Client: podClient, Reader: podClient}, n: n, wait: 5 * time.Second, all: make(chan struct{})}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: bf}})
	ns := "pk-together"
	labels, _ := deployment(t, ns, "web", n)
	exp := builder.Experiment(ns, "all").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Grace(0).Build()
	mustCreate(t, exp)
	got := waitFor(t, client.ObjectKeyFromObject(exp), "the round injected or failed", func(e *chaosv1alpha1.Experiment) bool {
		c := meta.FindStatusCondition(e.Status.Conditions, chaosv1alpha1.ConditionInjected)
		return c != nil && c.Reason != chaosv1alpha1.ReasonInjecting
	})
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "True", chaosv1alpha1.ReasonFaultInjected)
	if len(got.Status.Targets) != n {
		t.Fatalf("%d targets, want %d", len(got.Status.Targets), n)
	}
	for _, tg := range got.Status.Targets {
		if tg.State != chaosv1alpha1.TargetInjected || tg.InjectedAt == nil {
			t.Errorf("target %s: state %s, want Injected with its time", tg.Name, tg.State)
		}
	}
	if left := podsLeft(t, ns); len(left) != 0 {
		t.Errorf("pods left %v, want every one killed", left)
	}
}

func releasePods(t *testing.T, ns string) {
	var pods corev1.PodList
	if err := k8s.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Error(err)
		return
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if len(p.Finalizers) > 0 {
			p.Finalizers = nil
			if err := k8s.Update(context.Background(), p); err != nil && !apierrors.IsNotFound(err) {
				t.Error(err)
			}
		}
	}
}

// failingFault never manages to inject (as with an API server refusing the deletion).
type failingFault struct{ lastingFault }

func (f *failingFault) Inject(context.Context, *chaosv1alpha1.Experiment, chaosv1alpha1.TargetStatus, bool) error {
	return errors.New("forbidden: the kernel said no")
}

func TestInjectionThatKeepsFailingEndsTheExperiment(t *testing.T) {
	ff := &failingFault{lastingFault{injected: map[types.UID]bool{}, recovered: map[types.UID]bool{}}}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: ff}})
	ns := "pk-failing"
	labels, _ := deployment(t, ns, "web", 2)
	exp := builder.Experiment(ns, "never-lands").Labels(labels).Latency(10*time.Millisecond, time.Hour).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentFailed)
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "False", chaosv1alpha1.ReasonInjectionTimedOut)
	if msg := findMsg(got.Status.Conditions, chaosv1alpha1.ConditionInjected); !strings.Contains(msg, "the kernel said no") || !strings.Contains(msg, "still failing after 2s") {
		t.Errorf("message %q does not carry the error and the bound", msg)
	}
	// Nothing holds the deleted experiment: its finalizer comes off once the faults are removed.
	if err := k8s.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	waitGone(t, client.ObjectKeyFromObject(exp))
}

// A manager that dies after a lasting fault reached its first target, before recording it, leaves
// that fault known only from the round's intent (targets in state Selected). Whatever the
// restarted manager is asked first when it starts (the experiment deleted, or an emergency stop
// on), it must take that fault off.
func TestFaultKnownOnlyFromIntentIsRemovedAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name, ns string
		// ask happens while no manager runs; done waits for the restarted one to have acted.
		ask, done func(t *testing.T, key client.ObjectKey)
	}{
		{"then deleted", "intent-then-delete", func(t *testing.T, key client.ObjectKey) {
			if err := k8s.Delete(t.Context(), &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}); err != nil {
				t.Fatal(err)
			}
		}, waitGone},
		{"then an emergency stop", "intent-then-stop", func(t *testing.T, key client.ObjectKey) {
			stop := &chaosv1alpha1.EmergencyStop{ObjectMeta: metav1.ObjectMeta{Name: "intent-incident"}, Spec: chaosv1alpha1.EmergencyStopSpec{Reason: "restarted mid-round"}}
			mustCreate(t, stop)
			t.Cleanup(func() { _ = k8s.Delete(context.Background(), stop) })
		}, func(t *testing.T, key client.ObjectKey) {
			got := waitForPhase(t, key, chaosv1alpha1.ExperimentAborted)
			requireCondition(t, got, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonEmergencyStop)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labels, _ := deployment(t, tc.ns, "db", 2)
			lf := newLastingFault()
			crashing := &crashingFault{inner: lf, at: crashAfterKill, crashed: make(chan struct{})}
			stop1, crash1 := startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: crashing}})
			crashing.crash = crash1
			exp := builder.Experiment(tc.ns, "slow-db").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Latency(10*time.Millisecond, time.Hour).Build()
			mustCreate(t, exp)
			key := client.ObjectKeyFromObject(exp)
			crashing.await(t, stop1)
			requireIntentOnly(t, key, 2)
			lf.mu.Lock()
			injected := len(lf.injected)
			lf.mu.Unlock()
			if injected != 1 {
				t.Fatalf("%d targets injected before the crash, want 1", injected)
			}

			tc.ask(t, key)
			startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: lf}})
			tc.done(t, key)
			lf.mu.Lock()
			defer lf.mu.Unlock()
			for uid := range lf.injected {
				if !lf.recovered[uid] {
					t.Errorf("the fault on %s, known only from the intent, was left in place", uid)
				}
			}
		})
	}
}

// requireIntentOnly checks that the experiment's status holds n targets of round 1, all still in
// state Selected (the intent written before any was hit), and returns them.
func requireIntentOnly(t *testing.T, key client.ObjectKey, n int) []chaosv1alpha1.TargetStatus {
	t.Helper()
	var e chaosv1alpha1.Experiment
	if err := k8s.Get(t.Context(), key, &e); err != nil {
		t.Fatal(err)
	}
	ok := len(e.Status.Targets) == n && e.Status.Round == 1
	for _, tg := range e.Status.Targets {
		ok = ok && tg.State == chaosv1alpha1.TargetSelected && tg.Round == 1
	}
	if !ok {
		t.Fatalf("status before the restart: round %d, targets %+v; want round 1 with %d targets in state Selected (intent only: the crash came before the pass recorded what it did)",
			e.Status.Round, e.Status.Targets, n)
	}
	return e.Status.Targets
}

// slowFault lands only some time after it is first asked for, as with a slow node agent: until
// then Inject reports the fault in progress.
type slowFault struct {
	*lastingFault
	after time.Duration
	first sync.Map // target UID -> time first asked
}

func (f *slowFault) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	at, _ := f.first.LoadOrStore(t.UID, time.Now())
	if time.Since(at.(time.Time)) < f.after {
		return fmt.Errorf("%w: the agent is slow", experiments.ErrInProgress)
	}
	return f.lastingFault.Inject(ctx, e, t, resumed)
}

// A lasting fault whose round finishes landing only after the experiment's duration is over must
// still be removed before the experiment moves on: the end of the duration was reached while the
// round was being injected, not on a pass of its own.
func TestLastingFaultLandingAfterItsDurationIsRemoved(t *testing.T) {
	sf := &slowFault{lastingFault: newLastingFault(), after: time.Second}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: sf}})
	ns := "lasting-late"
	labels, _ := deployment(t, ns, "db", 2)
	// The duration ends well before the fault lands (1s), and the fault lands well before the
	// manager's inject timeout (2s) gives up.
	exp := builder.Experiment(ns, "late-latency").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Latency(10*time.Millisecond, 300*time.Millisecond).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentSucceeded)
	sf.requireRemoved(t, 2)
	for _, tg := range got.Status.Targets {
		if tg.State != chaosv1alpha1.TargetRecovered || tg.Message != "" {
			t.Errorf("target %s: state %s message %q, want Recovered with no message", tg.Name, tg.State, tg.Message)
		}
	}
}

// handedOverFault hands its fault over at once (as the network kind creates an Injection for the
// node agent) and reports it applied only later; a pod found terminating meanwhile is gone, as
// the network kind reports it.
type handedOverFault struct{ *lastingFault }

func (f *handedOverFault) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	if err := f.lastingFault.Inject(ctx, e, t, resumed); err != nil {
		return err
	}
	var p corev1.Pod
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, &p); err != nil || p.DeletionTimestamp != nil {
		return experiments.ErrTargetGone
	}
	return fmt.Errorf("%w: the agent has not applied it yet", experiments.ErrInProgress)
}

// A target found terminating after its lasting fault was handed over is recorded gone, but the
// pod still runs through its grace period with its network namespace: deleting the experiment
// must still take that fault off.
func TestFaultOnATargetFoundGoneIsRemoved(t *testing.T) {
	hf := &handedOverFault{newLastingFault()}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: hf}})
	ns := "lasting-gone"
	labels, _ := deployment(t, ns, "db", 1)
	exp := builder.Experiment(ns, "latency").Labels(labels).Latency(10*time.Millisecond, time.Hour).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	got := waitFor(t, key, "the round's intent", func(e *chaosv1alpha1.Experiment) bool { return len(e.Status.Targets) == 1 })
	target := got.Status.Targets[0]
	// The pod starts terminating (a finalizer holds it there, as a grace period would).
	var pod corev1.Pod
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: target.Name}, &pod); err != nil {
		t.Fatal(err)
	}
	pod.Finalizers = append(pod.Finalizers, "test.firedrill.dev/hold")
	if err := k8s.Update(t.Context(), &pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(&pod), &pod); err == nil {
			pod.Finalizers = nil
			_ = k8s.Update(context.Background(), &pod)
		}
	})
	if err := k8s.Delete(t.Context(), &pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, key, "the target recorded gone", func(e *chaosv1alpha1.Experiment) bool {
		return e.Status.Targets[0].State == chaosv1alpha1.TargetGone
	})
	if err := k8s.Delete(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	waitGone(t, key)
	hf.mu.Lock()
	defer hf.mu.Unlock()
	if !hf.injected[target.UID] {
		t.Fatal("the fault was never handed over")
	}
	if !hf.recovered[target.UID] {
		t.Error("the fault handed over to a target later found gone was left in place when the experiment was deleted")
	}
}

// refusingFault lands on one target and is refused for good on the other (as a node agent
// refuses a conflicting fault); removing the landed one takes a while (the agent is slow), and
// it refreshes its targets like the network kind does.
type refusingFault struct {
	*lastingFault
	refuse        string // the pod refused
	removeAfter   time.Duration
	firstRecover  sync.Map // UID -> time
	refused       atomic.Bool
	refreshesLate atomic.Int32 // Refresh calls after the refusal
}

func (f *refusingFault) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	if t.Name == f.refuse {
		f.refused.Store(true)
		return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonFaultConflict, Message: "another experiment holds this pod"}
	}
	return f.lastingFault.Inject(ctx, e, t, resumed)
}

func (f *refusingFault) Recover(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error {
	if t.Name != f.refuse {
		at, _ := f.firstRecover.LoadOrStore(t.UID, time.Now())
		if time.Since(at.(time.Time)) < f.removeAfter {
			return fmt.Errorf("%w: the agent is removing it", experiments.ErrInProgress)
		}
	}
	return f.lastingFault.Recover(ctx, e, t)
}

func (f *refusingFault) Refresh(context.Context, *chaosv1alpha1.Experiment, []chaosv1alpha1.TargetStatus) error {
	if f.refused.Load() {
		f.refreshesLate.Add(1)
	}
	return nil
}

// A refusal on one target fails the experiment even when the refused target is released before
// the others: once no target is waiting to be injected, the recorded refusal must still end the
// run, not leave it Running (and refreshing its faults) until its duration is over.
func TestRefusalFailsTheExperimentOnceTheRefusedTargetIsReleased(t *testing.T) {
	ns := "refused-late"
	labels, _ := deployment(t, ns, "db", 2)
	rf := &refusingFault{lastingFault: newLastingFault(),
		refuse: "db-1", removeAfter: time.Second}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: rf}})
	exp := builder.Experiment(ns, "latency").Labels(labels).Mode(chaosv1alpha1.ModeAll, 0).Latency(10*time.Millisecond, time.Hour).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentFailed)
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "False", chaosv1alpha1.ReasonFaultConflict)
	rf.requireRemoved(t, 1)
	if n := rf.refreshesLate.Load(); n > 0 {
		t.Errorf("the experiment refreshed its faults %d times after a refusal", n)
	}
}

// midPass does something to the experiment once, on its first kill: after the intent is
// recorded, before the pass records the outcome.
type midPass struct {
	experiments.Fault
	once sync.Once
	do   func(ctx context.Context, e *chaosv1alpha1.Experiment) error
}

func (m *midPass) Inject(ctx context.Context, e *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	var err error
	m.once.Do(func() { err = m.do(ctx, e) })
	if err != nil {
		return err
	}
	return m.Fault.Inject(ctx, e, t, resumed)
}

// requestAbort asks the experiment to abort, as its GameDay does (by annotation).
func requestAbort(ctx context.Context, e *chaosv1alpha1.Experiment) error {
	annotated := e.DeepCopy()
	metav1.SetMetaDataAnnotation(&annotated.ObjectMeta, chaosv1alpha1.AnnotationAbort, "SLO burning")
	return k8s.Patch(ctx, annotated, client.MergeFrom(e))
}

// writeStatusAsSomeoneElse writes the experiment's status as a second writer would.
func writeStatusAsSomeoneElse(ctx context.Context, e *chaosv1alpha1.Experiment) error {
	var cur chaosv1alpha1.Experiment
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(e), &cur); err != nil {
		return err
	}
	changed := cur.DeepCopy()
	changed.Status.SelectedTargets = 99
	return k8s.Status().Patch(ctx, changed, client.MergeFrom(&cur))
}

// A kill done on a pass whose outcome write then conflicts with an abort request (a metadata
// change) is still recorded: the aborted experiment says which pod it killed and when.
func TestKillOutcomeSurvivesAnAbortRequestedMidPass(t *testing.T) {
	ns := "abort-midpass"
	labels, _ := deployment(t, ns, "web", 2)
	fault := &midPass{Fault: podkill.PodKill{Client: k8s, Reader: k8s}, do: requestAbort}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: fault}})
	exp := builder.Experiment(ns, "kill-one").Labels(labels).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentAborted)
	requireCondition(t, got, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonAbortRequested)
	if len(got.Status.Targets) != 1 {
		t.Fatalf("%d targets recorded, want 1", len(got.Status.Targets))
	}
	if tg := got.Status.Targets[0]; tg.State != chaosv1alpha1.TargetInjected || tg.InjectedAt == nil {
		t.Errorf("the killed pod %s is recorded %s (injectedAt %v), want Injected with its time", tg.Name, tg.State, tg.InjectedAt)
	}
}

// preflightHook runs do once, in the first pass's preflight: after the emergency stop was read at
// the start of the pass, before the round's intent and its fault.
type preflightHook struct {
	experiments.Fault
	once sync.Once
	do   func(ctx context.Context) error
}

func (h *preflightHook) Preflight(ctx context.Context, e *chaosv1alpha1.Experiment, pods []corev1.Pod) error {
	var err error
	h.once.Do(func() { err = h.do(ctx) })
	if err != nil {
		return err
	}
	return h.Fault.Preflight(ctx, e, pods)
}

// An emergency stop turned on while a pass selects and records its round (after the pass read
// that no stop was on) kills nothing: the pass looks again before the fault.
func TestEmergencyStopTurnedOnMidPassKillsNothing(t *testing.T) {
	ns := "estop-midpass"
	labels, _ := deployment(t, ns, "web", 2)
	var cached client.Reader
	stop := &chaosv1alpha1.EmergencyStop{ObjectMeta: metav1.ObjectMeta{Name: "midpass-incident"}, Spec: chaosv1alpha1.EmergencyStopSpec{Reason: "paged mid-pass"}}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), stop) })
	hook := &preflightHook{Fault: podkill.PodKill{Client: k8s, Reader: k8s}, do: func(ctx context.Context) error {
		if err := k8s.Create(ctx, stop.DeepCopy()); err != nil {
			return err
		}
		// Until the manager's cache holds it, as it would a few milliseconds later.
		return wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			return cached.Get(ctx, client.ObjectKeyFromObject(stop), &chaosv1alpha1.EmergencyStop{}) == nil, nil
		})
	}}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: hook},
		onManager: func(m ctrl.Manager) { cached = m.GetClient() }})
	exp := builder.Experiment(ns, "kill-one").Labels(labels).Grace(0).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentAborted)
	requireCondition(t, got, chaosv1alpha1.ConditionAborted, "True", chaosv1alpha1.ReasonEmergencyStop)
	if left := podsLeft(t, ns); len(left) != 2 {
		t.Errorf("%d pods left, want 2: the stop was on before the kill", len(left))
	}
	for _, tg := range got.Status.Targets {
		if tg.State != chaosv1alpha1.TargetSelected {
			t.Errorf("target %s is %s, want Selected (recorded, never touched)", tg.Name, tg.State)
		}
	}
}

// specEditingFault edits the experiment's selector once, while its first pass is between picking
// targets and recording them (the finalizer of a lasting fault is added in between).
type specEditingFault struct {
	*lastingFault
	once sync.Once
	to   map[string]string
}

func (f *specEditingFault) Preflight(ctx context.Context, e *chaosv1alpha1.Experiment, _ []corev1.Pod) error {
	var err error
	f.once.Do(func() {
		edited := e.DeepCopy()
		edited.Spec.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchLabels: f.to}
		err = k8s.Patch(ctx, edited, client.MergeFrom(e))
	})
	return err
}

// A spec edited while the first pass of a lasting fault is adding its finalizer must not leave
// the targets picked under the old spec recorded against the new one: the finalizer patch is
// locked, conflicts, and the next pass picks under the new spec.
func TestSpecEditDuringTheFirstPassIsNotMixedWithItsTargets(t *testing.T) {
	ns := "spec-edit"
	oldLabels, _ := deployment(t, ns, "old", 1)
	newLabels := map[string]string{"app": "new"}
	rs := builder.ReplicaSet(ns, "new-rs", 1, newLabels)
	mustCreate(t, rs)
	runningPods(t, builder.OwnedBy(builder.Pod(ns, "new-0", newLabels), "ReplicaSet", rs.Name, rs.UID))
	sf := &specEditingFault{lastingFault: newLastingFault(), to: newLabels}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: sf}})
	exp := builder.Experiment(ns, "latency").Labels(oldLabels).Latency(10*time.Millisecond, time.Hour).Build()
	mustCreate(t, exp)
	got := waitFor(t, client.ObjectKeyFromObject(exp), "a target injected", func(e *chaosv1alpha1.Experiment) bool {
		return len(e.Status.Targets) > 0 && e.Status.Targets[0].State == chaosv1alpha1.TargetInjected
	})
	if got.Spec.Selector.LabelSelector.MatchLabels["app"] != "new" {
		t.Fatalf("the spec edit did not land: selector %v", got.Spec.Selector.LabelSelector.MatchLabels)
	}
	for _, tg := range got.Status.Targets {
		if tg.Name != "new-0" {
			t.Errorf("target %s was picked under the old selector but recorded under the new spec (generation %d)", tg.Name, got.Generation)
		}
	}
}

// touchFault stands in for a kill that leaves the pods in place, so every round finds them.
type touchFault struct{ rounds atomic.Int32 }

func (*touchFault) Preflight(context.Context, *chaosv1alpha1.Experiment, []corev1.Pod) error {
	return nil
}
func (*touchFault) Lasting(*chaosv1alpha1.Experiment) bool { return false }
func (*touchFault) Recover(context.Context, *chaosv1alpha1.Experiment, chaosv1alpha1.TargetStatus) error {
	return nil
}
func (f *touchFault) Inject(context.Context, *chaosv1alpha1.Experiment, chaosv1alpha1.TargetStatus, bool) error {
	f.rounds.Add(1)
	return nil
}

// A kill repeated every interval for hours would outgrow status.targets' bound (its intent write
// would then be refused and the kills stop, unexplained). The oldest rounds' settled records
// make room, and are counted.
func TestRepeatedRoundsKeepTargetsWithinTheirBound(t *testing.T) {
	ns := "rounds-bound"
	labels, _ := deployment(t, ns, "web", 2)
	f := &touchFault{}
	startManager(t, managerOptions{maxTargetRecords: 3, faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: f}})
	exp := builder.Experiment(ns, "every-second").Labels(labels).Build()
	exp.Spec.PodKill.Interval, exp.Spec.Duration = &metav1.Duration{Duration: time.Second}, &metav1.Duration{Duration: 4500 * time.Millisecond}
	mustCreate(t, exp)
	// The pods it "killed" are still there, so the workload never reads whole again: the rounds
	// are over once it waits for recovery.
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentRecovering)
	st := got.Status
	if st.Round < 5 || f.rounds.Load() != st.Round {
		t.Fatalf("round %d, %d injections: want at least 5 rounds of one", st.Round, f.rounds.Load())
	}
	if len(st.Targets) != 3 || st.EarlierTargets != st.Round-3 {
		t.Errorf("%d target records and %d earlier ones after %d rounds, want 3 and %d", len(st.Targets), st.EarlierTargets, st.Round, st.Round-3)
	}
	for i, tg := range st.Targets {
		if want := st.Round - 2 + int32(i); tg.Round != want {
			t.Errorf("record %d is of round %d, want %d (the latest rounds are kept)", i, tg.Round, want)
		}
	}
	// Recovery counts from the last kill, whichever records are kept.
	if len(st.Workloads) != 1 || st.Workloads[0].LastDisruptedAt == nil || !st.Workloads[0].LastDisruptedAt.Equal(st.Targets[2].InjectedAt) {
		t.Errorf("workloads %+v: want one, last disrupted at the last round's kill %v", st.Workloads, st.Targets[2].InjectedAt)
	}
}

// flakyReplicaSetReads fails the first read of a ReplicaSet, as a throttled or timed-out request.
type flakyReplicaSetReads struct {
	client.Reader
	failed atomic.Bool
}

func (f *flakyReplicaSetReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, rs := obj.(*appsv1.ReplicaSet); rs && f.failed.CompareAndSwap(false, true) {
		return apierrors.NewServiceUnavailable("the server is currently unable to handle the request")
	}
	return f.Reader.Get(ctx, key, obj, opts...)
}

// A killed pod's workload that could not be resolved at the kill (an API error) is resolved again
// before recovery may conclude: the experiment records the workload's recovery time rather than
// ending at once as if nothing replaced the pod.
func TestWorkloadUnresolvedAtTheKillStillGetsItsRecoveryTime(t *testing.T) {
	ns := "resolve-retry"
	labels, rsUID := deployment(t, ns, "web", 2)
	flaky := &flakyReplicaSetReads{}
	startManager(t, managerOptions{apiReader: func(r client.Reader) client.Reader { flaky.Reader = r; return flaky }})
	exp := builder.Experiment(ns, "kill-one").Labels(labels).Grace(0).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	got := waitForPhase(t, key, chaosv1alpha1.ExperimentRecovering)
	if !flaky.failed.Load() {
		t.Fatal("no ReplicaSet was read: the failure was never injected")
	}
	replace(t, ns, "web", rsUID, labels, 1)
	got = waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded)
	if len(got.Status.Workloads) != 1 || got.Status.Workloads[0].TimeToRecover == nil {
		t.Fatalf("workloads %+v: want the ReplicaSet with its recovery time", got.Status.Workloads)
	}
	if tg := got.Status.Targets[0]; tg.Message == "no controller replaces this pod" {
		t.Errorf("the killed pod was taken for one nothing replaces: %+v", tg)
	}
}

// refreshRefusedFault lands, then has its refresh refused for good (as the node agent refuses an
// Injection whose updated destinations conflict with another experiment's).
type refreshRefusedFault struct{ *lastingFault }

func (f *refreshRefusedFault) Refresh(context.Context, *chaosv1alpha1.Experiment, []chaosv1alpha1.TargetStatus) error {
	return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonFaultConflict, Message: "the updated fault overlaps another experiment's"}
}

// A refresh the agent refuses ends the experiment (the fault it describes is no longer what is
// applied) and removes its faults, rather than retrying the refresh on a backoff while it says
// FaultInjected.
func TestRefusedRefreshFailsTheExperiment(t *testing.T) {
	ns := "refresh-refused"
	labels, _ := deployment(t, ns, "db", 1)
	rf := &refreshRefusedFault{newLastingFault()}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionNetworkLatency: rf}})
	exp := builder.Experiment(ns, "latency").Labels(labels).Latency(10*time.Millisecond, time.Hour).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentFailed)
	requireCondition(t, got, chaosv1alpha1.ConditionInjected, "False", chaosv1alpha1.ReasonFaultConflict)
	rf.requireRemoved(t, 1)
}

// A pass whose intent was written but whose outcome write failed still tells the intent's
// transitions: the next pass starts from the intent and would never report them.
func TestIntentTransitionsAreToldWhenTheOutcomeIsNotWritten(t *testing.T) {
	ns := "events-intent"
	labels, _ := deployment(t, ns, "web", 2)
	fault := &midPass{Fault: podkill.PodKill{Client: k8s, Reader: k8s}, do: writeStatusAsSomeoneElse}
	startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: fault}})
	exp := builder.Experiment(ns, "kill-one").Labels(labels).Grace(0).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentRecovering)
	requireEvents(t, got, chaosv1alpha1.ReasonTargetsFound, chaosv1alpha1.ReasonInjecting)
}

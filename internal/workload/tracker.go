package workload

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill-dev/firedrill/internal/livewatch"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=watch

// Tracker sees the moment a disrupted workload is whole again, as it happens. A recovery check
// that polls only sees the workload's state at each poll: when kills overlap (a second experiment,
// or the next run of a drill, disrupting the workload again a few hundred milliseconds after it
// recovered), the poll misses the window in which it was whole and the recorded MTTR grows to
// whenever a later poll happens to land in one.
//
// For each disrupted workload it runs one pod watch scoped to the workload's namespace and
// selector, started at the kill and stopped when no experiment waits on it any more, so the
// manager holds only the pods of workloads under disruption. Events are applied in order to its
// own copy of those pods, and every experiment waiting on the workload is judged after each one.
// While its watch is down (the connection to the API server lost) it cannot tell, and says so
// (Recovered): the caller asks the API server, which dates a recovery by the kubelet's Ready time.
type Tracker struct {
	// Reader reads the workloads' desired replicas and selectors.
	Reader client.Reader
	// Pods lists and watches pods.
	Pods kubernetes.Interface
	// Clock stamps the moment a workload is seen whole.
	Clock clock.PassiveClock
	// Notify is told which experiment's workload is whole (from a watch goroutine; it must not
	// block).
	Notify func(experiment types.NamespacedName)

	mu    sync.Mutex
	byRef map[Ref]*watched
	// base is the manager's context (Start): every watch ends with it.
	base context.Context
}

// Recovery is when a workload was whole again for one experiment.
type Recovery struct {
	// Since is the disruption it recovered from: the kill, to the millisecond when the tracker
	// was told at the kill, to the second when it was told after a restart (from status).
	Since, At time.Time
	// Desired is the workload's desired replicas it was judged against.
	Desired int32
	// Live: the watch saw the workload broken after the kill and then whole, with no watch ended
	// in between, and At is when it saw it whole (to the millisecond). Otherwise (whole at the
	// watch's first look, or a watch ended meanwhile) At is when its last pod became ready, as the
	// kubelet reported it (to the second).
	Live bool
}

type watched struct {
	ref    Ref
	cancel context.CancelFunc
	synced func() bool
	// live: whether the watch is open, and how many have ended. While none is open the pods are
	// as they were when the stream ended; after one ended, events may come late (replayed by
	// the next watch), so the moment one is seen is no longer the moment it happened.
	live    livewatch.State
	desired int32
	sel     labels.Selector
	// pods by name, as the watch keys them: a pod replaced under its name (a StatefulSet's)
	// whose deletion the watch missed arrives as an update, and must replace its predecessor.
	pods  map[string]*corev1.Pod
	users map[types.NamespacedName]*waiter
}

// waiter is one experiment waiting on a workload.
type waiter struct {
	since     time.Time
	killed    sets.Set[types.UID]
	sawBroken bool
	// ended is how many of the workload's watches had ended when the wait began. A wait begun
	// while the watch is down counts from before the end that took it down: what the next watch
	// brings is replayed then, for this wait as for the earlier ones.
	ended     uint64
	recovered *Recovery
}

// Start runs with the manager: the watches it starts end with it.
func (t *Tracker) Start(ctx context.Context) error {
	t.mu.Lock()
	t.base = ctx
	t.mu.Unlock()
	<-ctx.Done()
	t.mu.Lock()
	defer t.mu.Unlock()
	for ref, w := range t.byRef {
		w.cancel()
		delete(t.byRef, ref)
	}
	return nil
}

// Track makes the tracker follow ref for exp, disrupted at since by killing the pods in killed.
// It is idempotent: a later since (the experiment's next round) starts a new wait; the same or an
// earlier one (a later pass, or a restart that read since back from status) keeps the current one.
// It reads the workload's desired replicas afresh.
func (t *Tracker) Track(ctx context.Context, exp types.NamespacedName, ref Ref, since time.Time, killed sets.Set[types.UID]) error {
	desired, sel, err := spec(ctx, t.Reader, ref)
	if err != nil {
		return err
	}
	// A watch released by another experiment between the lookup and the insert is dead: start
	// another rather than wait on it.
	for {
		t.mu.Lock()
		w := t.byRef[ref]
		t.mu.Unlock()
		if w == nil {
			w = t.start(ctx, ref, desired, sel)
		}
		t.mu.Lock()
		if t.byRef[ref] != w {
			t.mu.Unlock()
			continue
		}
		w.desired = desired
		u := w.users[exp]
		if u == nil || since.After(u.since) {
			ended := w.live.Ended()
			if ended > 0 && !w.live.Open() {
				ended--
			}
			u = &waiter{since: since, killed: sets.New[types.UID](), ended: ended}
			w.users[exp] = u
		}
		u.killed.Insert(killed.UnsortedList()...)
		t.mu.Unlock()
		return nil
	}
}

// Recovered judges ref for exp now, against the desired replicas read afresh: when it was whole
// again (nil while it is not) and its readiness as the watch sees it. known is false when the
// tracker cannot tell (not following it for exp, its watch has not listed the pods yet or is not
// open now, or the workload could not be read): ask the API server instead.
func (t *Tracker) Recovered(ctx context.Context, exp types.NamespacedName, ref Ref) (rec *Recovery, rd Readiness, known bool) {
	t.mu.Lock()
	w := t.byRef[ref]
	t.mu.Unlock()
	if w == nil {
		return nil, Readiness{}, false
	}
	// HasSynced takes the watch queue's lock: never call it holding t.mu (the watch's handler
	// takes t.mu while the queue may hold its own lock).
	if !w.synced() || !w.live.Open() {
		return nil, Readiness{}, false
	}
	desired, _, err := spec(ctx, t.Reader, ref)
	if err != nil {
		return nil, Readiness{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	u := w.users[exp]
	if u == nil || t.byRef[ref] != w {
		return nil, Readiness{}, false
	}
	w.desired = desired
	if u.recovered == nil {
		t.judge(w, u)
	}
	return u.recovered, t.readiness(w, u), true
}

// Following reports whether the tracker follows ref for exp.
func (t *Tracker) Following(exp types.NamespacedName, ref Ref) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.byRef[ref]
	return w != nil && w.users[exp] != nil
}

// Release stops following anything for exp, and stops the watches nobody else waits on.
func (t *Tracker) Release(exp types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ref, w := range t.byRef {
		delete(w.users, exp)
		if len(w.users) == 0 {
			w.cancel()
			delete(t.byRef, ref)
		}
	}
}

// Watching returns how many workloads are followed (for tests and metrics).
func (t *Tracker) Watching() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byRef)
}

func (t *Tracker) start(ctx context.Context, ref Ref, desired int32, sel labels.Selector) *watched {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.byRef[ref]; w != nil { // started by another pass meanwhile
		return w
	}
	// The watch outlives this reconcile: it ends on Release, or with the manager.
	base := t.base
	if base == nil { // not run by a manager
		base = context.WithoutCancel(ctx)
	}
	wctx, cancel := context.WithCancel(base)
	w := &watched{ref: ref, cancel: cancel, desired: desired, sel: sel,
		pods: map[string]*corev1.Pod{}, users: map[types.NamespacedName]*waiter{}}
	lw := cache.NewFilteredListWatchFromClient(t.Pods.CoreV1().RESTClient(), "pods", ref.Namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = sel.String() })
	lw.WatchFunc = nil // every watch goes through the one below
	lw.WatchFuncWithContext = w.live.Watching(lw.WatchFuncWithContext)
	_, ctl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.Pod{},
		Transform:     strip,
		Handler: cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(o any, initial bool) { t.observe(wctx, w, o, false, initial) },
			UpdateFunc: func(_, o any) { t.observe(wctx, w, o, false, false) },
			DeleteFunc: func(o any) { t.observe(wctx, w, o, true, false) },
		},
	})
	w.synced = ctl.HasSynced
	if t.byRef == nil {
		t.byRef = map[Ref]*watched{}
	}
	t.byRef[ref] = w
	go ctl.RunWithContext(wctx)
	ctrl.LoggerFrom(ctx).V(1).Info("following workload recovery", "workload", ref.String())
	return w
}

// observe applies one pod event, then judges every experiment waiting on the workload against
// the pods as they are after it: a workload whole for only a moment between two kills is seen.
// The pods of the initial list are only recorded (the list is not complete until the last one;
// Recovered judges them); every later event finds the list applied.
func (t *Tracker) observe(ctx context.Context, w *watched, obj any, deleted, initial bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	t.mu.Lock()
	if deleted {
		delete(w.pods, p.Name)
	} else {
		w.pods[p.Name] = p
	}
	if initial {
		t.mu.Unlock()
		return
	}
	if t.wouldRecover(w) {
		// Before declaring anyone recovered, make sure the workload was not scaled meanwhile.
		t.mu.Unlock()
		desired, _, err := spec(ctx, t.Reader, w.ref)
		t.mu.Lock()
		if err == nil {
			w.desired = desired
		}
	}
	var notify []types.NamespacedName
	for exp, u := range w.users {
		if u.recovered == nil && t.judge(w, u) {
			notify = append(notify, exp)
		}
	}
	t.mu.Unlock()
	for _, exp := range notify {
		t.Notify(exp)
	}
}

// wouldRecover reports whether some waiting experiment would now see the workload whole.
func (t *Tracker) wouldRecover(w *watched) bool {
	for _, u := range w.users {
		if u.recovered == nil && t.readiness(w, u).Whole() {
			return true
		}
	}
	return false
}

// judge records u's recovery if the workload is whole for it now, and says whether it did.
func (t *Tracker) judge(w *watched, u *waiter) bool {
	r := t.readiness(w, u)
	if !r.Whole() {
		u.sawBroken = true
		return false
	}
	if u.sawBroken && w.live.Ended() == u.ended {
		u.recovered = &Recovery{Since: u.since, At: t.Clock.Now(), Desired: w.desired, Live: true}
	} else {
		// Not seen happen: whole at the first look, or seen after a watch ended (the events
		// that made it whole may be replays, seen up to a reconnect's backoff late).
		at := r.ReadySince
		if at.Before(u.since) {
			at = u.since // whole before the kill showed in the pods' status: count from the kill
		}
		u.recovered = &Recovery{Since: u.since, At: at, Desired: w.desired}
	}
	return true
}

func (t *Tracker) readiness(w *watched, u *waiter) Readiness {
	pods := make([]corev1.Pod, 0, len(w.pods))
	for _, p := range w.pods {
		pods = append(pods, *p)
	}
	return count(pods, w.desired, u.killed, w.sel)
}

// strip keeps what readiness needs of a pod: the watch holds the pods of disrupted workloads only,
// and only this much of each.
func strip(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID,
		ResourceVersion: p.ResourceVersion, Labels: p.Labels, DeletionTimestamp: p.DeletionTimestamp}}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Status.Conditions = []corev1.PodCondition{c}
		}
	}
	return out, nil
}

package selector

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/firedrill-dev/firedrill/internal/livewatch"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch

// Cache keeps the pods of the selections experiments made lately, so that the next round of an
// experiment, or the next experiment with the same selection (a drill run again, a bench), picks
// its targets from memory instead of listing them first: the list is a request on the path to a
// kill. It holds one pod watch per selection (a namespace and a label selector), started after the
// selection's first list and stopped when no experiment has used it for Idle. So the manager holds
// only the pods experiments select, never the cluster's, and at most MaxPods of them.
//
// The watch serves from the API server's watch cache, as the uncached list does (apiread), and
// is milliseconds behind it at most while it is open: a pod deleted meanwhile fails the kill's
// UID precondition and is recorded as gone, as with the list. While a selection's watch is not
// open (it broke, and client-go has not listed again yet) the selection is listed. A cluster-wide
// selection, or one of 500 pods or more, is never kept.
type Cache struct {
	// Pods lists and watches pods.
	Pods kubernetes.Interface
	// Clock tells when a selection was last used.
	Clock clock.PassiveClock
	// Idle is how long a selection's watch is kept after its last use.
	Idle time.Duration
	// MaxPods caps the pods all the watches hold together. A selection whose watch would take the
	// total past it is not kept, and is listed at each use until its idle time runs out.
	MaxPods int
	// MaxSelections caps the watches kept at once; starting one more stops the least recently used.
	MaxSelections int

	mu      sync.Mutex
	running sync.WaitGroup // the watches' goroutines
	byKey   map[cacheKey]*scoped
	// base is the manager's context (Start): every watch ends with it.
	base context.Context
}

type cacheKey struct{ namespace, selector string }

type scoped struct {
	cancel context.CancelFunc
	store  cache.Store
	// synced: the watch's first list is in, and counted.
	synced func() bool
	// live: whether the watch is open now (livewatch). While it is not, the store is as it was
	// when the stream ended, so the selection is listed instead until a watch is open again.
	live livewatch.State
	used time.Time
	held int // counted by its handler; a marker holds none
	// over: a marker, with no watch and no store: a watch for the selection went past MaxPods
	// and was stopped. It stays, so that the selection is not watched again at every use, until
	// Idle after it went over.
	over bool
}

// Start runs with the manager: it stops watches left idle, and every watch at the end.
func (c *Cache) Start(ctx context.Context) error {
	c.mu.Lock()
	c.base = ctx
	c.mu.Unlock()
	tick := time.NewTicker(min(max(c.Idle/4, time.Second), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for k, s := range c.byKey {
				c.drop(k, s)
			}
			c.mu.Unlock()
			c.running.Wait()
			return nil
		case <-tick.C:
			c.Sweep()
		}
	}
}

// Sweep stops the watches no experiment has used for Idle.
func (c *Cache) Sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Clock.Now()
	for k, s := range c.byKey {
		if now.Sub(s.used) >= c.Idle {
			c.drop(k, s)
		}
	}
}

// Selections returns how many selections are kept, how many of those have all their pods (a
// watch's first list is in), and the pods they hold (tests).
func (c *Cache) Selections() (kept, synced, pods int) {
	c.mu.Lock()
	var all []*scoped
	for _, s := range c.byKey {
		if !s.over {
			all = append(all, s)
		}
	}
	pods = c.heldLocked()
	c.mu.Unlock()
	for _, s := range all { // not under mu: see get
		if s.synced() && s.live.Open() {
			synced++
		}
	}
	return len(all), synced, pods
}

// get returns the selection's pods when its watch has them all, and marks it used either way.
func (c *Cache) get(namespace string, sel labels.Selector) ([]corev1.Pod, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	s := c.byKey[cacheKey{namespace, sel.String()}]
	if s == nil || s.over {
		c.mu.Unlock()
		return nil, false
	}
	s.used = c.Clock.Now()
	c.mu.Unlock()
	// Not under mu: mu is never held while the informer is asked anything. A watch stopped
	// meanwhile (over MaxPods, idle) still has every pod it had a moment ago.
	if !s.synced() || !s.live.Open() {
		return nil, false
	}
	items := s.store.List()
	out := make([]corev1.Pod, 0, len(items))
	for _, o := range items {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, *p)
		}
	}
	return out, true
}

// warm starts a watch for the selection if none is kept; it returns at once. seed is the
// selection's list just made (one page, whole): the watch starts from it and its resourceVersion
// instead of listing again. A list of its own would have the API server scan the namespace's pods
// a second time while the kill's own requests wait behind it: at 50,000 pods (5,000 in the
// namespace) that scan cost a selection never made before ~24 ms of its median (make bench-scale).
func (c *Cache) warm(ctx context.Context, namespace string, sel labels.Selector, seed *corev1.PodList) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{namespace, sel.String()}
	if s := c.byKey[k]; s != nil {
		if !s.over { // a marker expires Idle after the selection went over, used or not
			s.used = c.Clock.Now()
		}
		return
	}
	if c.byKey == nil {
		c.byKey = map[cacheKey]*scoped{}
	}
	if c.MaxSelections > 0 && len(c.byKey) >= c.MaxSelections {
		c.dropLeastUsed()
	}
	// The watch outlives this reconcile: it ends when idle, or with the manager.
	base := c.base
	if base != nil && base.Err() != nil {
		return // the manager is stopping
	}
	if base == nil { // not run by a manager
		base = context.WithoutCancel(ctx)
	}
	wctx, cancel := context.WithCancel(base)
	s := &scoped{cancel: cancel, used: c.Clock.Now()}
	pods := c.Pods.CoreV1().Pods(namespace)
	var seeded atomic.Pointer[corev1.PodList]
	if seed != nil && seed.ResourceVersion != "" {
		// Without a version the watch would start from now, and a pod deleted since the list
		// would stay in the store until a relist: then the watch lists for itself.
		seeded.Store(seed)
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if s := seeded.Swap(nil); s != nil {
				// A copy: the caller reads the same pods meanwhile. Later lists (the watch broke
				// and its resourceVersion is too old) are the API server's.
				return s.DeepCopy(), nil
			}
			o.LabelSelector = k.selector
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: s.live.Watching(func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = k.selector
			return pods.Watch(ctx, o)
		}),
	}
	inf := cache.NewSharedIndexInformerWithOptions(listThenWatch{lw}, &corev1.Pod{}, cache.SharedIndexInformerOptions{})
	if err := inf.SetTransform(keep); err != nil {
		cancel()
		return // only before Run: cannot happen here; the selection is listed
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.count(k, s, 1) },
		DeleteFunc: func(any) { c.count(k, s, -1) },
	})
	if err != nil {
		cancel()
		return
	}
	// The handler's sync, not the informer's: the first list is then counted as well as stored.
	s.store, s.synced = inf.GetStore(), reg.HasSynced
	c.byKey[k] = s
	c.running.Go(func() { inf.RunWithContext(wctx) })
	ctrl.LoggerFrom(ctx).V(1).Info("keeping the pods of a selection", "podNamespace", namespace, "labelSelector", k.selector)
}

// count follows the pods a watch holds, and stops it when the total goes past MaxPods.
func (c *Cache) count(k cacheKey, s *scoped, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[k] != s || s.over {
		return // stopped; its store is no longer counted
	}
	s.held += d
	if c.MaxPods > 0 && c.heldLocked() > c.MaxPods {
		// The marker holds no store, so the pods go with the stopped watch.
		s.cancel()
		c.byKey[k] = &scoped{cancel: s.cancel, used: c.Clock.Now(), over: true}
	}
}

// heldLocked is the pods all kept watches hold (at most MaxSelections to add). The caller holds mu.
func (c *Cache) heldLocked() int {
	n := 0
	for _, s := range c.byKey {
		n += s.held
	}
	return n
}

// drop stops a watch and forgets it. The caller holds mu.
func (c *Cache) drop(k cacheKey, s *scoped) {
	s.cancel()
	delete(c.byKey, k)
}

func (c *Cache) dropLeastUsed() {
	keys := make([]cacheKey, 0, len(c.byKey))
	for k := range c.byKey {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.byKey[keys[i]].used.Before(c.byKey[keys[j]].used) })
	c.drop(keys[0], c.byKey[keys[0]])
}

// keep is what selection and the kinds' preflights read of a pod (List's filters, a target's
// record, Network.Preflight): the watches hold only this much of each.
func keep(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp},
		Spec:   corev1.PodSpec{NodeName: p.Spec.NodeName, HostNetwork: p.Spec.HostNetwork},
		Status: corev1.PodStatus{Phase: p.Status.Phase},
	}, nil
}

// listThenWatch has the reflector list, then watch from the list's resourceVersion, instead of
// opening a watch that streams every pod first (client-go's WatchListClient): the first list is
// the seed warm was given, which a streaming watch would ignore and fetch again.
type listThenWatch struct{ *cache.ListWatch }

// IsWatchListSemanticsUnSupported is what client-go's reflector asks.
func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

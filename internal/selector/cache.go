package selector

import (
	"context"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
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
// is milliseconds behind it at most: a pod deleted meanwhile fails the kill's UID precondition
// and is recorded as gone, as with the list.
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

	mu    sync.Mutex
	byKey map[cacheKey]*scoped
	held  int // pods held by all watches
	// base is the manager's context (Start): every watch ends with it.
	base context.Context
}

type cacheKey struct{ namespace, selector string }

type scoped struct {
	cancel context.CancelFunc
	store  cache.Store
	synced func() bool
	used   time.Time
	held   int
	// over: the watch went past MaxPods and was stopped; the key stays, so that the selection
	// is not watched again on every use, until it has been idle for Idle.
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
			defer c.mu.Unlock()
			for k, s := range c.byKey {
				c.drop(k, s)
			}
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
// watch's first list is in), and the pods they hold (tests, metrics).
func (c *Cache) Selections() (kept, synced, pods int) {
	c.mu.Lock()
	var all []*scoped
	for _, s := range c.byKey {
		if !s.over {
			all = append(all, s)
		}
	}
	pods = c.held
	c.mu.Unlock()
	for _, s := range all { // not under mu: see get
		if s.synced() {
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
	// Not under mu: the watch's goroutine holds its queue's lock while it reports to count. A
	// watch stopped meanwhile (over MaxPods, idle) still has every pod it had: the answer is
	// as fresh as a list would have been a moment ago.
	if !s.synced() {
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

// warm starts a watch for the selection if none is kept; it returns at once.
func (c *Cache) warm(ctx context.Context, namespace string, sel labels.Selector) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{namespace, sel.String()}
	if s := c.byKey[k]; s != nil {
		s.used = c.Clock.Now()
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
	if base == nil { // not run by a manager
		base = context.WithoutCancel(ctx)
	}
	wctx, cancel := context.WithCancel(base)
	s := &scoped{cancel: cancel, used: c.Clock.Now()}
	lw := cache.NewFilteredListWatchFromClient(c.Pods.CoreV1().RESTClient(), "pods", namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = k.selector })
	inf := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{})
	if err := inf.SetTransform(keep); err != nil {
		cancel()
		return // only before Run: cannot happen here; the selection is listed
	}
	// A watch that broke may be seconds behind until it has listed again: the selection is let
	// go, and listed at its next use.
	if err := inf.SetWatchErrorHandlerWithContext(func(context.Context, *cache.Reflector, error) { c.forget(k, s) }); err != nil {
		cancel()
		return
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.count(k, s, 1) },
		DeleteFunc: func(any) { c.count(k, s, -1) },
	}); err != nil {
		cancel()
		return
	}
	s.store, s.synced = inf.GetStore(), inf.HasSynced
	c.byKey[k] = s
	go inf.RunWithContext(wctx)
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
	c.held += d
	if c.MaxPods > 0 && c.held > c.MaxPods {
		s.cancel()
		c.held -= s.held
		s.held, s.over = 0, true
	}
}

// forget drops the selection if s is still the one kept for it.
func (c *Cache) forget(k cacheKey, s *scoped) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey[k] == s {
		c.drop(k, s)
	}
}

// drop stops a watch and forgets it. The caller holds mu.
func (c *Cache) drop(k cacheKey, s *scoped) {
	s.cancel()
	if !s.over {
		c.held -= s.held
	}
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

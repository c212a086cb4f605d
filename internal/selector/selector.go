// Package selector resolves an Experiment's target selector to pods. It lists only the namespaces
// an experiment names, with the API server doing the label filtering, so the manager never holds a
// cluster-wide pod cache: its memory does not grow with the cluster's pod count.
package selector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/apiread"
)

// AlwaysProtected are the namespaces no experiment may ever target, whatever the configuration.
var AlwaysProtected = []string{metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// Protected is the set of namespaces that are never targeted.
type Protected struct{ set sets.Set[string] }

// NewProtected returns the always-protected namespaces plus own (Firedrill's namespace) and extra.
func NewProtected(own string, extra ...string) Protected {
	s := sets.New(AlwaysProtected...)
	if own != "" {
		s.Insert(own)
	}
	for _, ns := range extra {
		// "payments, billing" from a flag must protect billing, not " billing".
		if ns = strings.TrimSpace(ns); ns != "" {
			s.Insert(ns)
		}
	}
	return Protected{set: s}
}

// Has reports whether ns is protected.
func (p Protected) Has(ns string) bool { return p.set.Has(ns) }

// List returns the protected namespaces, sorted.
func (p Protected) List() []string { return sets.List(p.set) }

// Candidates are the pods a selector matches, split by whether they may be targeted.
type Candidates struct {
	// Eligible pods, sorted by namespace/name so that picking is deterministic.
	Eligible []corev1.Pod
	// SkippedNamespaces the selector named but which are protected.
	SkippedNamespaces []string
}

// InvalidSelectorError means the label selector in the spec could not be converted.
type InvalidSelectorError struct{ Err error }

func (e *InvalidSelectorError) Error() string {
	return fmt.Sprintf("spec.selector.labelSelector: %v", e.Err)
}
func (e *InvalidSelectorError) Unwrap() error { return e.Err }

// pageSize bounds each uncached list, so a large namespace never arrives as one huge response.
const pageSize = 500

// List resolves sel against the API server. Terminating pods and pods outside the selected phases
// (Running by default) are not candidates: acting on them would report a fault that did nothing.
// c, when not nil, answers for the selections it keeps and is told of the others.
func List(ctx context.Context, r client.Reader, c *Cache, sel chaosv1alpha1.TargetSelector, protected Protected) (Candidates, error) {
	var out Candidates
	ls := labels.Everything()
	if sel.LabelSelector != nil {
		var err error
		if ls, err = metav1.LabelSelectorAsSelector(sel.LabelSelector.AsMeta()); err != nil {
			return out, &InvalidSelectorError{Err: err}
		}
	}
	nodes, err := nodeFilter(ctx, r, sel)
	if err != nil {
		return out, err
	}
	if nodes != nil && nodes.Len() == 0 {
		return out, nil // a zone or node list that matches no node selects nothing
	}
	namespaces := sel.Namespaces
	if sel.ClusterWide {
		namespaces = []string{metav1.NamespaceAll}
	}
	phases := sets.New[corev1.PodPhase](corev1.PodRunning)
	if len(sel.PodPhases) > 0 {
		phases = sets.New[corev1.PodPhase]()
		for _, p := range sel.PodPhases {
			phases.Insert(corev1.PodPhase(p))
		}
	}
	for _, ns := range namespaces {
		if ns != metav1.NamespaceAll && protected.Has(ns) {
			out.SkippedNamespaces = append(out.SkippedNamespaces, ns)
			continue
		}
		pods, err := podsIn(ctx, r, c, ns, ls, nodes)
		if err != nil {
			return out, err
		}
		for i := range pods {
			p := &pods[i]
			if protected.Has(p.Namespace) || !Targetable(p) || !phases.Has(p.Status.Phase) {
				continue
			}
			if nodes != nil && !nodes.Has(p.Spec.NodeName) {
				continue
			}
			out.Eligible = append(out.Eligible, *p)
		}
	}
	sort.Slice(out.Eligible, func(i, j int) bool {
		a, b := out.Eligible[i], out.Eligible[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	slices.Sort(out.SkippedNamespaces)
	return out, nil
}

// podsIn returns the pods in ns that ls matches: from c when it keeps them, else listed (and c
// then starts keeping them for the next time).
func podsIn(ctx context.Context, r client.Reader, c *Cache, ns string, ls labels.Selector, nodes sets.Set[string]) ([]corev1.Pod, error) {
	if pods, ok := c.get(ns, ls); ok {
		return pods, nil
	}
	opts := []client.ListOption{client.InNamespace(ns), client.MatchingLabelsSelector{Selector: ls}, client.Limit(pageSize)}
	onOneNode := nodes != nil && nodes.Len() == 1
	if onOneNode {
		// One node: let the API server filter on it.
		opts = append(opts, client.MatchingFields{"spec.nodeName": sets.List(nodes)[0]})
	}
	var (
		out   []corev1.Pod
		pods  corev1.PodList
		pages int
	)
	for cont := ""; ; pages++ {
		pods = corev1.PodList{}
		page := append(opts, client.Continue(cont))
		if cont == "" {
			page = append(page, apiread.FromWatchCache{})
		}
		if err := r.List(ctx, &pods, page...); err != nil {
			return nil, fmt.Errorf("listing pods in namespace %q: %w", ns, err)
		}
		out = append(out, pods.Items...)
		if cont = pods.Continue; cont == "" {
			break
		}
	}
	// Keep the selection only when it came in one page: the page is the watch's first list (whole,
	// with its resourceVersion), and the selection is not the cluster's pods. Filtered on one node,
	// the list does not tell the selection's size. A cluster-wide selection is never kept: no
	// watch spans every namespace.
	if !onOneNode && ns != metav1.NamespaceAll && pages == 0 && len(out) < pageSize {
		c.warm(ctx, ns, ls, &pods)
	}
	return out, nil
}

// nodeFilter returns the nodes a selector restricts pods to, or nil when it does not restrict.
// A zone is resolved through the nodes' topology.kubernetes.io/zone label.
func nodeFilter(ctx context.Context, r client.Reader, sel chaosv1alpha1.TargetSelector) (sets.Set[string], error) {
	var nodes sets.Set[string]
	if len(sel.NodeNames) > 0 {
		nodes = sets.New(sel.NodeNames...)
	}
	if sel.Zone == "" {
		return nodes, nil
	}
	var list metav1.PartialObjectMetadataList
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	if err := r.List(ctx, &list, client.MatchingLabels{chaosv1alpha1.ZoneLabel: sel.Zone}, apiread.FromWatchCache{}); err != nil {
		return nil, fmt.Errorf("listing nodes in zone %q: %w", sel.Zone, err)
	}
	inZone := sets.New[string]()
	for _, n := range list.Items {
		inZone.Insert(n.Name)
	}
	if nodes != nil {
		return nodes.Intersection(inZone), nil
	}
	return inZone, nil
}

// Pick chooses count of the candidates. The choice is a pure function of the seed, so the same
// experiment round picks the same pods when it is replayed.
func Pick(candidates []corev1.Pod, count int, seed uint64) []corev1.Pod {
	if count >= len(candidates) {
		return slices.Clone(candidates)
	}
	idx := make([]int, len(candidates))
	for i := range idx {
		idx[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// A partial Fisher-Yates shuffle: the first count positions are a uniform sample.
	for i := 0; i < count; i++ {
		j := i + rng.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	chosen := idx[:count]
	slices.Sort(chosen)
	out := make([]corev1.Pod, 0, count)
	for _, i := range chosen {
		out = append(out, candidates[i])
	}
	return out
}

// Targetable reports whether a pod can meaningfully receive a fault.
func Targetable(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// Count is how many of n candidates a mode picks. Percent rounds down but picks at least one pod
// when there is one, so "percent: 10" of 5 pods still exercises the fault.
func Count(mode chaosv1alpha1.SelectionMode, value *int32, n int) int {
	if n <= 0 {
		return 0
	}
	v := 0
	if value != nil {
		v = int(*value)
	}
	var c int
	switch mode {
	case chaosv1alpha1.ModeAll:
		c = n
	case chaosv1alpha1.ModeFixed:
		c = v
	case chaosv1alpha1.ModePercent:
		c = max(n*v/100, 1)
	default: // ModeOne, and the schema default when unset
		c = 1
	}
	return min(max(c, 0), n)
}

// Package selector resolves an Experiment's target selector to pods. It lists only the namespaces
// an experiment names, with the API server doing the label filtering, so the manager never holds a
// cluster-wide pod cache: its memory does not grow with the cluster's pod count.
package selector

import (
	"context"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
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
		if ns != "" {
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

// List resolves sel against the API server. Terminating pods and pods that have finished are not
// candidates: acting on them would report a fault that did nothing.
func List(ctx context.Context, r client.Reader, sel chaosv1alpha1.TargetSelector, protected Protected) (Candidates, error) {
	var out Candidates
	ls := labels.Everything()
	if sel.LabelSelector != nil {
		var err error
		if ls, err = metav1.LabelSelectorAsSelector(sel.LabelSelector); err != nil {
			return out, &InvalidSelectorError{Err: err}
		}
	}
	for _, ns := range sel.Namespaces {
		if protected.Has(ns) {
			out.SkippedNamespaces = append(out.SkippedNamespaces, ns)
			continue
		}
		var pods corev1.PodList
		if err := r.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: ls}); err != nil {
			return out, fmt.Errorf("listing pods in namespace %q: %w", ns, err)
		}
		for i := range pods.Items {
			if Targetable(&pods.Items[i]) {
				out.Eligible = append(out.Eligible, pods.Items[i])
			}
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

// Package workload follows a disrupted pod to the workload that owns it and tells when that
// workload is whole again. Everything is read uncached and namespaced: the manager never caches
// workloads or pods cluster-wide.
package workload

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill-dev/firedrill/internal/apiread"
)

// +kubebuilder:rbac:groups=apps,resources=deployments;replicasets;statefulsets;daemonsets,verbs=get

// Ref names a workload.
type Ref struct {
	Kind, Namespace, Name string
}

func (r Ref) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// ErrGone means the workload no longer exists.
var ErrGone = fmt.Errorf("workload is gone")

// Resolve follows a pod's controller (ownerKind/ownerName) to the workload an SRE thinks of: a
// ReplicaSet owned by a Deployment resolves to the Deployment. ok is false for a pod with no
// controller that Firedrill knows how to follow (a bare pod, a Job): nothing will replace it.
func Resolve(ctx context.Context, r client.Reader, namespace, ownerKind, ownerName string) (ref Ref, ok bool, err error) {
	switch ownerKind {
	case "ReplicaSet":
		var rs appsv1.ReplicaSet
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ownerName}, &rs, apiread.FromWatchCache{}); err != nil {
			if apierrors.IsNotFound(err) {
				return Ref{}, false, nil
			}
			return Ref{}, false, err
		}
		if c := metav1.GetControllerOf(&rs); c != nil && c.Kind == "Deployment" {
			return Ref{Kind: "Deployment", Namespace: namespace, Name: c.Name}, true, nil
		}
		return Ref{Kind: "ReplicaSet", Namespace: namespace, Name: ownerName}, true, nil
	case "StatefulSet", "DaemonSet":
		return Ref{Kind: ownerKind, Namespace: namespace, Name: ownerName}, true, nil
	}
	return Ref{}, false, nil
}

// Readiness is a workload's state now.
type Readiness struct {
	Desired, Ready int32
	// ReadySince is the latest time one of the counted ready pods became ready: when the
	// workload was whole again, to the second the kubelet reported it.
	ReadySince time.Time
}

// Whole reports whether every desired replica is ready.
func (r Readiness) Whole() bool { return r.Ready >= r.Desired }

// Check counts the workload's ready pods, not counting terminating pods or the pods in exclude
// (those the experiment killed), against its desired replicas.
func Check(ctx context.Context, r client.Reader, ref Ref, exclude sets.Set[types.UID]) (Readiness, error) {
	desired, sel, err := spec(ctx, r, ref)
	if err != nil {
		return Readiness{}, err
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(ref.Namespace), client.MatchingLabelsSelector{Selector: sel}, apiread.FromWatchCache{}); err != nil {
		return Readiness{}, fmt.Errorf("listing pods of %s: %w", ref, err)
	}
	return count(pods.Items, desired, exclude, sel), nil
}

// spec reads a workload's desired replicas and pod selector.
func spec(ctx context.Context, r client.Reader, ref Ref) (int32, labels.Selector, error) {
	var (
		desired  int32
		selector *metav1.LabelSelector
	)
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	var err error
	switch ref.Kind {
	case "Deployment":
		var d appsv1.Deployment
		if err = r.Get(ctx, key, &d, apiread.FromWatchCache{}); err == nil {
			desired, selector = replicas(d.Spec.Replicas), d.Spec.Selector
		}
	case "ReplicaSet":
		var rs appsv1.ReplicaSet
		if err = r.Get(ctx, key, &rs, apiread.FromWatchCache{}); err == nil {
			desired, selector = replicas(rs.Spec.Replicas), rs.Spec.Selector
		}
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err = r.Get(ctx, key, &s, apiread.FromWatchCache{}); err == nil {
			desired, selector = replicas(s.Spec.Replicas), s.Spec.Selector
		}
	case "DaemonSet":
		var ds appsv1.DaemonSet
		if err = r.Get(ctx, key, &ds, apiread.FromWatchCache{}); err == nil {
			desired, selector = ds.Status.DesiredNumberScheduled, ds.Spec.Selector
		}
	default:
		return 0, nil, fmt.Errorf("unsupported workload kind %q", ref.Kind)
	}
	if apierrors.IsNotFound(err) {
		return 0, nil, ErrGone
	}
	if err != nil {
		return 0, nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || sel.Empty() {
		return 0, nil, fmt.Errorf("%s has no usable selector", ref)
	}
	return desired, sel, nil
}

func count(pods []corev1.Pod, desired int32, exclude sets.Set[types.UID], sel labels.Selector) Readiness {
	out := Readiness{Desired: desired}
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || exclude.Has(p.UID) || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				out.Ready++
				if c.LastTransitionTime.After(out.ReadySince) {
					out.ReadySince = c.LastTransitionTime.Time
				}
			}
		}
	}
	return out
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// Package podkill is the PodKill fault: it deletes the selected pods, with a grace period, once or
// every interval while the experiment lasts. The owning workload replacing them is the recovery.
package podkill

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
)

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;delete

// PodKill deletes pods.
type PodKill struct {
	// Client deletes pods; Reader reads them on the resume path (uncached: pods are never
	// cached cluster-wide).
	Client client.Client
	Reader client.Reader
}

var _ experiments.Fault = PodKill{}

// Preflight has nothing to check beyond the common selection and safety limits.
func (PodKill) Preflight(context.Context, *chaosv1alpha1.Experiment, []corev1.Pod) error { return nil }

// Inject deletes the target pod. The deletion carries the pod's UID as a precondition, so a pod
// recreated under the same name (a StatefulSet's) is never killed in its predecessor's place.
// On the resume path a pod that is already terminating was killed before the restart and is not
// deleted again (AlreadyInjected, with when).
func (p PodKill) Inject(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error {
	if resumed {
		var pod corev1.Pod
		err := p.Reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Name}, &pod)
		switch {
		case apierrors.IsNotFound(err):
			return experiments.ErrTargetGone
		case err != nil:
			return fmt.Errorf("reading pod %s/%s: %w", t.Namespace, t.Name, err)
		case pod.UID != t.UID:
			return experiments.ErrTargetGone
		case pod.DeletionTimestamp != nil:
			// Killed before the restart: deletionTimestamp is the kill plus the grace period.
			at := pod.DeletionTimestamp.Time
			if g := pod.DeletionGracePeriodSeconds; g != nil {
				at = at.Add(-time.Duration(*g) * time.Second)
			}
			return &experiments.AlreadyInjected{At: at}
		}
	}
	opts := []client.DeleteOption{client.Preconditions{UID: &t.UID}}
	if exp.Spec.PodKill != nil && exp.Spec.PodKill.GracePeriodSeconds != nil {
		opts = append(opts, client.GracePeriodSeconds(*exp.Spec.PodKill.GracePeriodSeconds))
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name}}
	err := p.Client.Delete(ctx, pod, opts...)
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Conflict: the UID precondition failed, the name now belongs to another pod.
		return experiments.ErrTargetGone
	default:
		return fmt.Errorf("deleting pod %s/%s: %w", t.Namespace, t.Name, err)
	}
}

// Recover has nothing to remove: the workload's controller replaces the pod.
func (PodKill) Recover(context.Context, *chaosv1alpha1.Experiment, chaosv1alpha1.TargetStatus) error {
	return nil
}

// Lasting is false: a kill is over once done.
func (PodKill) Lasting(*chaosv1alpha1.Experiment) bool { return false }

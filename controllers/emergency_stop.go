package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

// emergencyStop returns an EmergencyStop if one exists (from c's cache where the kind is watched).
func emergencyStop(ctx context.Context, c client.Reader) (*chaosv1alpha1.EmergencyStop, error) {
	var stops chaosv1alpha1.EmergencyStopList
	if err := c.List(ctx, &stops); err != nil {
		return nil, fmt.Errorf("listing emergency stops: %w", err)
	}
	if len(stops.Items) == 0 {
		return nil, nil
	}
	return &stops.Items[0], nil
}

// indexActive indexes the objects of a kind that are not finished, so that an emergency stop
// enqueues only those.
const indexActive = "status.active"

// indexUnfinished registers indexActive for obj's kind; finished says whether one is over.
func indexUnfinished(ctx context.Context, mgr ctrl.Manager, obj client.Object, finished func(client.Object) bool) error {
	return mgr.GetFieldIndexer().IndexField(ctx, obj, indexActive, func(o client.Object) []string {
		if finished(o) {
			return nil
		}
		return []string{"true"}
	})
}

// enqueueUnfinished maps an EmergencyStop change to every unfinished object of list's kind
// (from indexActive).
func enqueueUnfinished(c client.Reader, list client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.MatchingFields{indexActive: "true"}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing what is not finished for an emergency stop", "list", fmt.Sprintf("%T", list))
			return nil
		}
		var reqs []reconcile.Request
		_ = meta.EachListItem(l, func(o runtime.Object) error { // the func never fails
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o.(client.Object))})
			return nil
		})
		return reqs
	}
}

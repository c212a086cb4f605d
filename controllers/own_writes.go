package controllers

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ownWrites holds, per object, the resourceVersion of a controller's last write to it, so that its
// next pass never acts on a cached copy from before that write. A pass woken right after the
// write (an object it changed reporting back) would otherwise see the state before it and act
// on it again, or lose its own write to a conflict.
type ownWrites struct{ rv sync.Map }

// wrote records the resourceVersion o has after this controller's write.
func (w *ownWrites) wrote(o client.Object) {
	w.rv.Store(client.ObjectKeyFromObject(o), o.GetResourceVersion())
}

// forget drops what was recorded for key (the object is gone).
func (w *ownWrites) forget(key types.NamespacedName) { w.rv.Delete(key) }

// get reads key into obj from cached unless cached is behind this controller's last write to
// it; then from the API server (api). found is false when the object is gone.
func (w *ownWrites) get(ctx context.Context, cached, api client.Reader, key types.NamespacedName, obj client.Object) (found bool, err error) {
	err = cached.Get(ctx, key, obj)
	if rv, ok := w.rv.Load(key); err == nil && ok && rv != obj.GetResourceVersion() {
		err = api.Get(ctx, key, obj)
	}
	if apierrors.IsNotFound(err) {
		w.forget(key)
		return false, nil
	}
	return err == nil, err
}

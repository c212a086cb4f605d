// Package livewatch tells whether the watch behind an informer is open now, and whether one has
// ended since a moment. client-go reports no error for a watch stream that ended (the API server
// restarted, the connection was reset): its reflector watches or lists again after a backoff of
// up to 30 s, and meanwhile the informer's store is as it was when the stream ended. A reader
// that must not act on such a store (a kept selection, a recovery being timed) asks here.
package livewatch

import (
	"context"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// numbers number the watches Wrap passes on, across States.
var numbers atomic.Uint64

// State follows the watches of one informer. The zero value is ready: no watch open, none ended.
type State struct {
	// open holds the open watch's number (0: none), so that the end of a watch the reflector has
	// already replaced does not close its successor.
	open  atomic.Uint64
	ended atomic.Uint64
}

// Open reports whether a watch is open now.
func (s *State) Open() bool { return s.open.Load() != 0 }

// Ended is how many watches have ended so far. Events that arrive after it changed may be late:
// the next watch replays what happened while none was open.
func (s *State) Ended() uint64 { return s.ended.Load() }

// Wrap passes w's events on, and keeps s open from now until w's stream ends, it delivers an
// error (the reflector ends the watch on one), or it is stopped. Each watch ends once.
func (s *State) Wrap(w watch.Interface) watch.Interface {
	n := numbers.Add(1)
	s.open.Store(n)
	end := sync.OnceFunc(func() {
		s.open.CompareAndSwap(n, 0)
		s.ended.Add(1)
	})
	t := &wrapped{inner: w, out: make(chan watch.Event), done: make(chan struct{})}
	go func() {
		defer close(t.out)
		defer end()
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				end()
			}
			select {
			case t.out <- ev:
			case <-t.done:
				return
			}
		}
	}()
	return t
}

// Watching returns open with every watch it opens wrapped (Wrap): an informer's watch function.
func (s *State) Watching(open func(context.Context, metav1.ListOptions) (watch.Interface, error)) func(context.Context, metav1.ListOptions) (watch.Interface, error) {
	return func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		w, err := open(ctx, o)
		if err != nil {
			return nil, err
		}
		return s.Wrap(w), nil
	}
}

type wrapped struct {
	inner watch.Interface
	out   chan watch.Event
	done  chan struct{}
	once  sync.Once
}

func (t *wrapped) Stop() {
	t.once.Do(func() {
		close(t.done)
		t.inner.Stop()
	})
}

func (t *wrapped) ResultChan() <-chan watch.Event { return t.out }

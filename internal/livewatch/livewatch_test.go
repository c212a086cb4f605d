package livewatch

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// until waits for cond, which the wrapping goroutine makes true a moment after the event.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal(what)
		}
	}
}

func TestStateFollowsEachWatchToItsEnd(t *testing.T) {
	var s State
	if s.Open() || s.Ended() != 0 {
		t.Fatalf("zero State: open %v, ended %d; want closed, 0", s.Open(), s.Ended())
	}

	// The stream ends: closed, one ended.
	first := watch.NewFake()
	w := s.Wrap(first)
	if !s.Open() {
		t.Fatal("not open after Wrap")
	}
	first.Stop() // the server closed the stream
	until(t, "open after its stream ended", func() bool { return !s.Open() })
	if _, ok := <-w.ResultChan(); ok {
		t.Fatal("the wrapped watch's channel is not closed with the stream")
	}
	if got := s.Ended(); got != 1 {
		t.Fatalf("ended %d after one stream ended, want 1", got)
	}

	// An error event closes it at once; the stream's end after it counts no second end.
	second := watch.NewFake()
	w = s.Wrap(second)
	go second.Error(nil)
	if ev := <-w.ResultChan(); ev.Type != watch.Error {
		t.Fatalf("event %s passed on, want the error", ev.Type)
	}
	if s.Open() {
		t.Fatal("open after an error event")
	}
	second.Stop()
	until(t, "the wrapped channel not closed", func() bool { _, ok := <-w.ResultChan(); return !ok })
	if got := s.Ended(); got != 2 {
		t.Fatalf("ended %d after an error and its stream's end, want 2", got)
	}

	// A watch the reflector replaced ends after its successor opened: the successor stays open.
	old, next := watch.NewFake(), watch.NewFake()
	wOld := s.Wrap(old)
	wNext := s.Wrap(next)
	wOld.Stop()
	until(t, "the replaced watch's end not counted", func() bool { return s.Ended() == 3 })
	if !s.Open() {
		t.Fatal("the end of a replaced watch closed its successor")
	}
	wNext.Stop()
	until(t, "open after its last watch was stopped", func() bool { return !s.Open() })
	if got := s.Ended(); got != 4 {
		t.Fatalf("ended %d, want 4", got)
	}
}

// Watching wraps the watches an informer's watch function opens, and leaves a failed open alone.
func TestWatchingWrapsWhatItOpens(t *testing.T) {
	var s State
	fail := s.Watching(func(context.Context, metav1.ListOptions) (watch.Interface, error) {
		return nil, errors.New("refused")
	})
	if w, err := fail(t.Context(), metav1.ListOptions{}); err == nil || w != nil || s.Open() || s.Ended() != 0 {
		t.Fatalf("failed open: watch %v, error %v, open %v, ended %d; want the error and the state untouched", w, err, s.Open(), s.Ended())
	}
	inner := watch.NewFake()
	open := s.Watching(func(context.Context, metav1.ListOptions) (watch.Interface, error) { return inner, nil })
	w, err := open(t.Context(), metav1.ListOptions{})
	if err != nil || !s.Open() {
		t.Fatalf("open: error %v, open %v; want a watch, open", err, s.Open())
	}
	w.Stop()
	until(t, "open after the wrapped watch was stopped", func() bool { return !s.Open() && s.Ended() == 1 })
}
